// The collapse warning: DPO's known failure where the chosen log-prob falls along with the rejected one
// while the margin still grows. Watches logged windows; not a metric, a one-line hint to the user.

public struct CollapseWatch: Codable, Sendable, Equatable {
    /// Consecutive falling windows that trigger the warning (0: never).
    public var windows: Int
    var lastLogps: Double?
    var lastMargin: Double?
    /// Windows in a row whose logps/chosen fell, the values before the first of them, and whether this
    /// streak has warned already.
    var streak = 0
    var startLogps = 0.0
    var startMargin = 0.0
    var warned = false

    public init(windows: Int) { self.windows = windows }

    /// Feeds one logged window (TRL's names); returns the warning once per streak, when logps/chosen has
    /// fallen for at least `windows` windows in a row and rewards/margins is above where the streak began
    /// (the margin itself is noisy from window to window; its growth over the streak is what matters).
    public mutating func observe(_ values: [(key: String, value: Double)]) -> String? {
        guard let logps = values.first(where: { $0.key == MetricKey.logpsChosen })?.value,
            let margin = values.first(where: { $0.key == MetricKey.rewardsMargins })?.value
        else { return nil }
        defer {
            lastLogps = logps
            lastMargin = margin
        }
        guard let l0 = lastLogps, let m0 = lastMargin, logps < l0 else {
            streak = 0
            warned = false
            return nil
        }
        if streak == 0 {
            startLogps = l0
            startMargin = m0
        }
        streak += 1
        guard windows > 0, streak >= windows, !warned, margin > startMargin else { return nil }
        warned = true
        return Self.message(windows: streak, logps: (startLogps, logps), margins: (startMargin, margin))
    }

    static func message(windows: Int, logps: (Double, Double), margins: (Double, Double)) -> String {
        "warning: logps/chosen has fallen for \(windows) logging windows in a row (\(fmt(logps.0)) → \(fmt(logps.1))) "
            + "while rewards/margins grew (\(fmt(margins.0)) → \(fmt(margins.1))): the chosen completions are losing probability "
            + "(DPO collapse); try a lower beta or lr, or add an SFT term as RPO (--loss sigmoid,sft)"
    }

    static func fmt(_ x: Double) -> String {
        let r = (x * 1000).rounded() / 1000
        return "\(r)"
    }
}
