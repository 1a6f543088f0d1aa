// WeightPages: unmapping each layer's weight pages after a batch pass uses them changes no number, and
// on SmolLM2 (when present) leaves almost none of the 514 MiB mapping resident.

import Foundation
@_spi(Benchmarks) import Model
import TestSupport
import Testing

extension ModelTests {
    /// Unmapping each layer's weight pages after a batch pass uses them (WeightPages) changes no number
    /// and leaves little of the model resident.
    @Suite struct WeightPageRelease {
        /// Resident kilobytes of the mapping that contains `address` (its /proc/self/smaps entry).
        static func residentKB(mappingOf address: UnsafeRawPointer) -> Int? {
            // procfs files report size 0: read to the end rather than by their size.
            guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() else { return nil }
            let smaps = String(decoding: data, as: UTF8.self)
            let a = UInt(bitPattern: address)
            var inside = false
            for line in smaps.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                    let ends = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                    inside = ends.count == 2 && ends[0] <= a && a < ends[1]
                } else if inside, fields.first == "Rss:", fields.count >= 2 {
                    return Int(fields[1])
                }
            }
            return nil
        }

        @Test func releasingPagesChangesNothing() throws {
            let (_, path) = try makeTinyModel(.qwen2)
            let (plain, ranges) = SharedPrefix.unshared()
            var results: [(SequenceLogProbs, [Float])] = []
            for release in [false, true] {
                let model = try LlamaModel(path: path, threads: 2, switches: BenchmarkSwitches(releasesWeightPages: release))
                let adapter = try makeAdapter(model)
                adapter.zeroGradients()
                let lp = try model.forwardBackward(batch: plain, completionRanges: ranges, adapter: adapter) { _ in SharedPrefix.weights }
                let eval = try model.sequenceLogProbs(batch: plain, completionRanges: ranges, adapter: adapter)
                #expect(eval.tokenLogProbs == lp.tokenLogProbs)
                results.append((lp, Array(adapter.gradients)))
            }
            #expect(results[0].0 == results[1].0)
            #expect(results[0].1 == results[1].1)
        }

        /// SmolLM2 (514 MiB of f32 weights): after a scoring pass with release on, well under a quarter of
        /// the mapping is resident; with it off, all of it.
        @Test(.enabled(if: TestPaths.smolLM2 != nil))
        func smolLM2ResidentWeights() throws {
            // Two models, two mappings of the same file: one keeps its pages, one releases them.
            let keeping = try LlamaModel(path: TestPaths.smolLM2!, switches: BenchmarkSwitches(releasesWeightPages: false))
            let releasing = try LlamaModel(path: TestPaths.smolLM2!)
            let batch = PackedBatch(sequences: [(0..<64).map { Int32($0 * 37 + 5) }])
            let kept = try keeping.sequenceLogProbs(batch: batch, completionRanges: [1..<64])
            let all = try #require(Self.residentKB(mappingOf: keeping.file.view("model.embed_tokens.weight").bytes.baseAddress!))
            let released = try releasing.sequenceLogProbs(batch: batch, completionRanges: [1..<64])
            let some = try #require(Self.residentKB(mappingOf: releasing.file.view("model.embed_tokens.weight").bytes.baseAddress!))
            print("SmolLM2 mapping resident after a pass: \(all >> 10) MiB kept, \(some >> 10) MiB with release")
            #expect(kept == released)
            #expect(all > 480 << 10)
            #expect(some < 128 << 10)
        }
    }
}
