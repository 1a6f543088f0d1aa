// Learning-rate schedules as transformers' get_scheduler builds them (LambdaLR multipliers of the base rate):
// constant (with warmup when warmup > 0), linear (the default) and cosine, indexed by 0-based optimizer step.

import Foundation

// MARK: - Schedule

public struct LRSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// transformers "constant", or "constant_with_warmup" when there is warmup.
        case constant
        /// transformers "linear": warmup, then linear decay to 0 at `totalSteps`.
        case linear
        /// transformers "cosine" (num_cycles 0.5): warmup, then half a cosine down to 0.
        case cosine
    }

    public enum Warmup: Sendable, Equatable {
        case steps(Int)
        /// transformers `get_warmup_steps`: ceil(ratio · total steps).
        case ratio(Double)
    }

    public var kind: Kind
    public var baseLR: Double
    public var totalSteps: Int
    public var warmupSteps: Int

    public init(kind: Kind = .linear, baseLR: Double, totalSteps: Int, warmup: Warmup = .steps(0)) {
        precondition(totalSteps >= 0)
        self.kind = kind
        self.baseLR = baseLR
        self.totalSteps = totalSteps
        switch warmup {
        case .steps(let n):
            precondition(n >= 0)
            warmupSteps = n
        case .ratio(let r):
            precondition(r >= 0 && r.isFinite)
            warmupSteps = Int((Double(totalSteps) * r).rounded(.up))
        }
    }

    /// The multiplier of `baseLR` at a 0-based optimizer step (the LambdaLR lambda).
    public func multiplier(at step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
        }
    }

    /// The learning rate used by the optimizer step with this 0-based index.
    public func lr(at step: Int) -> Double { baseLR * multiplier(at: step) }
}
