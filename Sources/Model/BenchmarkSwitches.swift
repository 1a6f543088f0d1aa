// Switches that turn one kept optimization off, so `tools/bench --ablate` can measure what each is worth
// on the same job and build. Given once, when the model is built; the defaults are the shipped behaviour.

@_spi(Benchmarks) import Kernels

/// Each switch off gives the same losses up to rounding (bit for bit for the memory ones). Only the
/// benchmark driver and tests change them; production code builds models with the defaults.
@_spi(Benchmarks) public struct BenchmarkSwitches: Sendable, Equatable {
    /// Each pair's chosen and rejected share one pass over their common prompt (PairBatch, read by the
    /// trainer). Off packs every sequence whole: about a third more tokens on the benchmark data.
    public var sharesPrompts = true
    /// Batch passes unmap each layer's weight pages once done with it (WeightPages).
    public var releasesWeightPages = true
    /// Bytes a training pass may keep of layer activations (`LlamaModel.keptActivationBytes`); nil:
    /// MemoryRoom's default for this machine. 0: every layer but the last is recomputed in the backward.
    public var keptActivationBytes: Int?
    /// Large products are split over our own workers (`BLAS.parallelSgemm`); off hands each whole
    /// product to OpenBLAS's own thread pool, the design this replaced.
    public var splitsProducts = true

    public init(
        sharesPrompts: Bool = true, releasesWeightPages: Bool = true, keptActivationBytes: Int? = nil, splitsProducts: Bool = true
    ) {
        self.sharesPrompts = sharesPrompts
        self.releasesWeightPages = releasesWeightPages
        self.keptActivationBytes = keptActivationBytes
        self.splitsProducts = splitsProducts
    }

    /// The shipped configuration.
    public static let shipped = BenchmarkSwitches()
}

extension LlamaModel {
    /// Runs one pass with the kernels' product threading the switches ask for. The shipped setting binds
    /// nothing, so the kernels read the task-local default.
    func withSwitches<R>(_ body: () throws -> R) rethrows -> R {
        guard !switches.splitsProducts else { return try body() }
        return try BLAS.$splitsProducts.withValue(false, operation: body)
    }
}
