// Parity with transformers: tiny random Qwen2 / Qwen3 / Llama 3 / Mistral (sliding window 4) models (fixtures from
// tools/reference/gen_tiny_models.py) and SmolLM2-135M (fixture from gen_model_fixtures.py; the model
// itself is found with TestPaths.smolLM2 and the tests skip when it is absent).

import Foundation
import Model
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Parity {
        // MARK: - Tiny transformers models

        /// Full logits at every position within 1e-4 abs: the fixtures are f32 eager runs whose own f32-vs-f64
        /// noise is ≈ 6e-7, and our summation order differs (sgemm, online softmax), so 1e-4 has wide margin.
        @Test(arguments: ["tiny_qwen2", "tiny_qwen3", "tiny_llama3", "tiny_mistral", "tiny_gemma2", "tiny_gemma3", "tiny_phi3"])
        func tinyModelLogitsMatchTransformers(name: String) throws {
            let dir = try fixturesDirectory().appendingPathComponent(name)
            let model = try LlamaModel(path: try convertFixture(dir), threads: 2)
            let expected = try readJSON(dir.appendingPathComponent("expected_logits.json"))
            guard let sequences = expected["sequences"] as? [[String: Any]] else { throw TestFailure("no sequences") }
            let v = model.vocabSize
            var all: [[Int32]] = []
            var want: [[Float]] = []
            for s in sequences {
                guard let ids = s["token_ids"] as? [Int], let logits = s["logits"] as? [[Double]] else { throw TestFailure("bad sequence") }
                all.append(ids.map(Int32.init))
                want.append(logits.flatMap { $0.map(Float.init) })
                #expect(logits.count == ids.count && logits[0].count == v)
                let got = try model.logits(batch: PackedBatch(sequences: [ids.map(Int32.init)]), rows: Array(0..<ids.count))
                #expect(maxAbsDiff(got, want.last!) <= 1e-4, "\(name): max |Δlogit| \(maxAbsDiff(got, want.last!))")
            }
            // The same sequences packed into one stream.
            let batch = PackedBatch(sequences: all)
            let packed = try model.logits(batch: batch, rows: Array(0..<batch.tokenCount))
            #expect(maxAbsDiff(packed, want.flatMap { $0 }) <= 1e-4)
            print("\(name): max |Δlogit| vs transformers \(maxAbsDiff(packed, want.flatMap { $0 }))")
        }

        /// The tiny Mistral's window (4) is shorter than its sequences (7, 13): attending over the whole
        /// sequence instead must miss the fixture by far more than the 1e-4 tolerance, and generation's KV-cache
        /// path (prefill, then one-token steps) must see the same window as the packed pass.
        @Test func tinyMistralWindowMatters() throws {
            let dir = try fixturesDirectory().appendingPathComponent("tiny_mistral")
            let path = try convertFixture(dir)
            let model = try LlamaModel(path: path, threads: 2)
            #expect(model.config.slidingWindow == 4)
            let expected = try readJSON(dir.appendingPathComponent("expected_logits.json"))
            let s = (expected["sequences"] as! [[String: Any]])[1]
            let ids = (s["token_ids"] as! [Int]).map(Int32.init)
            let want = (s["logits"] as! [[Double]]).flatMap { $0.map(Float.init) }
            var config = model.config
            config.slidingWindow = nil
            let fullPath = TestPaths.temporaryDirectory("leandpo-fixture") + "/tiny_mistral_full.mtf"
            let tensors = try readSafetensors(dir.appendingPathComponent("model.safetensors")).mapValues(\.values)
            try writeMTF(path: fullPath, config: config, tensors: tensors, source: "tiny_mistral")
            let full = try LlamaModel(path: fullPath, threads: 2)
            let wide = try full.logits(batch: PackedBatch(sequences: [ids]), rows: Array(0..<ids.count))
            #expect(maxAbsDiff(wide, want) > 1e-2, "full attention \(maxAbsDiff(wide, want))")

            let v = model.vocabSize, n = ids.count
            let session = try model.makeGenerationSession(capacity: n)
            var cached = try session.prefill(Array(ids[0..<5]))
            #expect(maxAbsDiff(cached, Array(want[(4 * v)..<(5 * v)])) <= 1e-4)
            for i in 5..<n {
                cached = try session.step(ids[i])
                #expect(maxAbsDiff(cached, Array(want[(i * v)..<((i + 1) * v)])) <= 1e-4, "step at \(i)")
            }
        }

        // MARK: - SmolLM2-135M

        struct SmolFixture {
            let vocabIds: [Int]
            let texts: [(name: String, ids: [Int32], argmax: [Int], logsumexp: [Float], logits: [[Float]])]
            let completions: [(name: String, ids: [Int32], start: Int, perToken: [Float], sum: Float)]

            init() throws {
                let j = try readJSON(try fixturesDirectory().appendingPathComponent("smollm2_logits.json"))
                vocabIds = j["vocab_ids"] as! [Int]
                texts = (j["texts"] as! [[String: Any]]).map { t in
                    (
                        t["name"] as! String, (t["token_ids"] as! [Int]).map(Int32.init), t["argmax"] as! [Int],
                        (t["logsumexp"] as! [Double]).map(Float.init), (t["logits"] as! [[Double]]).map { $0.map(Float.init) }
                    )
                }
                completions = (j["completion_logprobs"] as! [[String: Any]]).map { c in
                    (
                        c["name"] as! String, (c["prompt_completion_ids"] as! [Int]).map(Int32.init), c["completion_start"] as! Int,
                        (c["per_token_logps"] as! [Double]).map(Float.init), Float(c["sum_logp"] as! Double)
                    )
                }
            }
        }

        /// Logits at the fixture's 64 vocab ids at every position within 1e-3 abs, the same argmax over the
        /// whole vocabulary and logsumexp within 1e-3. The reference's own f32-vs-f64 noise is ≈ 9e-5 on
        /// logits of magnitude ≈ 30 over 30 layers; 1e-3 leaves room for our different summation order.
        @Test(.enabled(if: TestPaths.smolLM2 != nil))
        func smolLM2LogitsMatchTransformers() throws {
            let model = try LlamaModel(path: TestPaths.smolLM2!, threads: 2)
            let fx = try SmolFixture()
            let v = model.vocabSize
            for text in fx.texts {
                let n = text.ids.count
                let logits = try model.logits(batch: PackedBatch(sequences: [text.ids]), rows: Array(0..<n))
                var worst: Float = 0, worstLse: Float = 0
                var argmaxMismatch = 0
                for t in 0..<n {
                    let row = logits[(t * v)..<((t + 1) * v)]
                    for (j, id) in fx.vocabIds.enumerated() { worst = max(worst, abs(row[row.startIndex + id] - text.logits[t][j])) }
                    if Sampler.argmax(Array(row)) != text.argmax[t] { argmaxMismatch += 1 }
                    let mx = row.max()!
                    let lse = Double(mx) + Foundation.log(row.reduce(0.0) { $0 + Foundation.exp(Double($1 - mx)) })
                    worstLse = max(worstLse, abs(Float(lse) - text.logsumexp[t]))
                }
                #expect(worst <= 1e-3, "\(text.name): max |Δlogit| \(worst)")
                #expect(worstLse <= 1e-3, "\(text.name): max |Δlogsumexp| \(worstLse)")
                #expect(argmaxMismatch == 0, "\(text.name): \(argmaxMismatch) argmax mismatches")
            }
        }

        /// TRL-style completion log-probs, all three pairs packed into one batch: per token within 1e-3 abs,
        /// sums within 1e-3 relative.
        @Test(.enabled(if: TestPaths.smolLM2 != nil))
        func smolLM2CompletionLogProbsMatchTRL() throws {
            let model = try LlamaModel(path: TestPaths.smolLM2!, threads: 2)
            let fx = try SmolFixture()
            let batch = PackedBatch(sequences: fx.completions.map(\.ids))
            let r = try model.sequenceLogProbs(batch: batch, completionRanges: fx.completions.map { $0.start..<$0.ids.count })
            for (i, c) in fx.completions.enumerated() {
                #expect(maxAbsDiff(Array(r.tokens(i)), c.perToken) <= 1e-3, "\(c.name)")
                #expect(abs(r.sums[i] - c.sum) <= 1e-3 * abs(c.sum), "\(c.name): \(r.sums[i]) vs \(c.sum)")
            }
        }

        /// Greedy continuation of "The capital of France is" (ids from the fixture) contains " Paris" (7042).
        @Test(.enabled(if: TestPaths.smolLM2 != nil))
        func smolLM2KnowsTheCapitalOfFrance() throws {
            let model = try LlamaModel(path: TestPaths.smolLM2!, threads: 2)
            let fx = try SmolFixture()
            let plain = fx.completions.first { $0.name == "plain" }!
            let prompt = Array(plain.ids.prefix(plain.start))
            #expect(prompt == [504, 3575, 282, 4649, 314])
            let out = try model.generate(prompt: prompt, maxTokens: 8, stopTokens: [2])
            #expect(out.tokens.contains(7042), "generated \(out.tokens)")
        }
    }
}
