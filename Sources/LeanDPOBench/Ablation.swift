// Switches that turn one kept optimization off at a time, so `tools/bench --ablate` can measure what
// each is worth on the same job, same build, same machine, in interleaved runs. The defaults are the
// shipped configuration; every switch gives the same losses up to rounding (bit-identical for the
// memory ones).

import ArgumentParser
@_spi(Benchmarks) import Model

struct Ablation: ParsableArguments {
    @Flag(help: "Pack chosen and rejected whole instead of sharing one pass over their prompt.")
    var noSharedPrompts = false
    @Flag(help: "Keep every weight page mapped after its layer (no MADV_DONTNEED per layer).")
    var keepWeightPages = false
    @Option(help: "MiB a training pass may keep of layer activations (default: --memory-budget, or MemoryRoom's; 0 recomputes every layer).")
    var keptActivationMib: Int?
    @Flag(help: "Hand each large product to OpenBLAS's own threads instead of splitting it over our workers.")
    var openblasThreading = false

    /// "baseline", or the switches that are on, joined by "+".
    var name: String {
        var parts: [String] = []
        if noSharedPrompts { parts.append("no-shared-prompts") }
        if keepWeightPages { parts.append("keep-weight-pages") }
        if let m = keptActivationMib { parts.append("kept-activation-mib-\(m)") }
        if openblasThreading { parts.append("openblas-threading") }
        return parts.isEmpty ? "baseline" : parts.joined(separator: "+")
    }

    func validate() throws {
        if let m = keptActivationMib, m < 0 { throw ValidationError("--kept-activation-mib must be ≥ 0") }
    }

    /// The model's switches (prompt sharing included: the trainer reads it from the model). No flag given:
    /// the shipped configuration.
    var switches: BenchmarkSwitches {
        BenchmarkSwitches(
            sharesPrompts: !noSharedPrompts, releasesWeightPages: !keepWeightPages, keptActivationBytes: keptActivationMib.map { $0 << 20 },
            splitsProducts: !openblasThreading)
    }
}
