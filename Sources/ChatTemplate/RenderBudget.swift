// The resource budget of one render: a chat template comes from a downloaded file, so it is untrusted code
// and may only spend bounded time (evaluation steps) and memory (string, list and output sizes) on a render.

/// Limits on one render. The defaults are far above what real chat templates need (the 13 committed real
/// templates and a 1000-turn, 1 MB conversation render unchanged: RenderBudgetTests) and far below what
/// would hurt the machine: a runaway template fails within seconds and a few hundred MB (`leandpo generate`,
/// release, loaded 2-core machine: two nested range(100000) loops 3.5 s and 37 MB peak, doubling 0.7 s and 128 MB).
public struct RenderLimits: Sendable, Equatable {
    /// Bytes of rendered text, counting the output and every captured block or macro body.
    public var maxOutputBytes: Int
    /// UTF-8 bytes of any single string value a template builds.
    public var maxStringBytes: Int
    /// Items in any single list, tuple or dict a template builds.
    public var maxListItems: Int
    /// Bytes of all strings and lists the template creates, together (a memory ceiling over the whole render).
    public var maxCreatedBytes: Int
    /// Evaluation steps: one per expression evaluated, statement rendered and loop iteration.
    public var maxSteps: Int
    /// Macro calls nested inside each other (recursion depth).
    public var maxMacroDepth: Int

    public init(
        maxOutputBytes: Int = 64 << 20, maxStringBytes: Int = 64 << 20, maxListItems: Int = 1 << 20,
        maxCreatedBytes: Int = 512 << 20, maxSteps: Int = 1_000_000, maxMacroDepth: Int = 64
    ) {
        self.maxOutputBytes = maxOutputBytes
        self.maxStringBytes = maxStringBytes
        self.maxListItems = maxListItems
        self.maxCreatedBytes = maxCreatedBytes
        self.maxSteps = maxSteps
        self.maxMacroDepth = maxMacroDepth
    }

    public static let standard = RenderLimits()
}

/// What one render has spent so far. Builtins reach it through `RenderBudget.current`, a task-local set for
/// the duration of a render, so the many string helpers can check a size before they allocate it.
final class RenderBudget: @unchecked Sendable {
    let limits: RenderLimits
    var steps = 0
    var createdBytes = 0

    init(_ limits: RenderLimits) { self.limits = limits }

    @TaskLocal static var current: RenderBudget?

    private static var active: RenderBudget { current ?? RenderBudget(.standard) }

    static func exceeded(_ what: String) -> TemplateFailure {
        TemplateFailure(.limit, "render budget exceeded: \(what)")
    }

    /// Counts one evaluation step.
    func step() throws(TemplateFailure) {
        steps += 1
        if steps > limits.maxSteps {
            throw RenderBudget.exceeded("more than \(limits.maxSteps) evaluation steps (runaway loop or recursion?)")
        }
    }

    /// Counts one step of work done inside a builtin (an item printed or serialized), on the current render.
    static func tick() throws(TemplateFailure) {
        try current?.step()
    }

    /// Charges a value the template just created against the memory ceiling.
    func charge(_ v: Value) throws(TemplateFailure) {
        switch v {
        case .string(let s): try charge(bytes: s.utf8.count)
        case .list(let items), .tuple(let items), .generator(let items):
            try RenderBudget.items(items.count)
            try charge(bytes: items.count * MemoryLayout<Value>.stride)
        default: break
        }
    }

    func charge(bytes: Int) throws(TemplateFailure) {
        try RenderBudget.string(bytes)
        createdBytes += bytes
        if createdBytes > limits.maxCreatedBytes {
            throw RenderBudget.exceeded("the template created more than \(limits.maxCreatedBytes) bytes of values")
        }
    }

    // MARK: - Checks before allocating

    /// Refuses a string of `bytes` UTF-8 bytes (computed with `product`/`sum`, so it may be saturated) before
    /// it is built.
    static func string(_ bytes: Int) throws(TemplateFailure) {
        let limit = active.limits.maxStringBytes
        if bytes > limit { throw exceeded("a string of \(describe(bytes)) bytes (the limit is \(limit))") }
    }

    /// Refuses a list of `count` items before it is built.
    static func items(_ count: Int) throws(TemplateFailure) {
        let limit = active.limits.maxListItems
        if count > limit { throw exceeded("a list of \(describe(count)) items (the limit is \(limit))") }
    }

    /// Refuses rendered text longer than the output limit.
    static func output(_ bytes: Int) throws(TemplateFailure) {
        let limit = active.limits.maxOutputBytes
        if bytes > limit { throw exceeded("more than \(limit) bytes of output") }
    }

    /// A width or precision written in a format string ('{:>10}', '%.3f'), refused when over the string limit
    /// (a number too long for Int included) before any padding is built.
    static func width(_ digits: String) throws(TemplateFailure) -> Int {
        let w = Int(digits) ?? .max
        try string(w)
        return w
    }

    /// a × b, saturating at Int.max instead of trapping (sizes from a template can be anything).
    static func product(_ a: Int, _ b: Int) -> Int {
        let (r, o) = max(0, a).multipliedReportingOverflow(by: max(0, b))
        return o ? .max : r
    }

    /// a + b + …, saturating at Int.max.
    static func sum(_ parts: Int...) -> Int {
        var total = 0
        for p in parts {
            let (r, o) = total.addingReportingOverflow(max(0, p))
            if o { return .max }
            total = r
        }
        return total
    }

    private static func describe(_ n: Int) -> String { n == .max ? "more than \(Int.max)" : "\(n)" }
}
