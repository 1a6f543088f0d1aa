// Exact resume and its refusals, through the Trainer API on a tiny model: train(4) equals train(k) → save
// → load → train(4−k) bit for bit, and every resume that could not continue exactly (another base, other
// data, changed arguments, a damaged or newer checkpoint) is refused with one line; a NaN loss stops the
// run without touching the last good checkpoint.

import Adapters
import Foundation
import Model
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite struct Resume {
        /// k = 2 resumes inside a logging window (logging every 3 steps), k = 3 right at a logging step.
        @Test(arguments: [2, 3])
        func resumedRunEqualsUninterruptedRunBitForBit(stopAfter k: Int) throws {
            let f = try TrainerFixture()
            let whole = f.arguments(output: "whole")
            let a = try f.trainer(whole).record()
            #expect(a.steps.count == 4 && a.saved == ["checkpoint-4"])

            let parts = f.arguments(output: "parts")
            let first = try f.trainer(parts)
            let b1 = try first.record(stopAfter: k)
            #expect(b1.steps.count == k && b1.finished == nil)
            let event = try #require(try first.saveIfNeeded())
            guard case .saved(let path, _, _) = event else { Issue.record("expected a save"); return }
            #expect(path.hasSuffix("/checkpoint-\(k)"))
            #expect(try first.saveIfNeeded() == nil, "the same step is not saved twice")

            let checkpoint = try TrainingCheckpoint.read(path: TrainingCheckpoint.resolve(parts.output))
            #expect(checkpoint.state.step == k)
            let second = try f.trainer(parts, resume: checkpoint)
            #expect(second.step == k)
            let b2 = try second.record()
            #expect(b2.steps.first?.step == k + 1 && b2.finished == 4)

            // Identical per-step reports and logged windows (every value, bit for bit).
            #expect((b1.losses + b2.losses).map(\.bitPattern) == a.losses.map(\.bitPattern))
            #expect((b1.steps + b2.steps).map(\.gradNorm.bitPattern) == a.steps.map(\.gradNorm.bitPattern))
            #expect(b1.logs + b2.logs == a.logs, "logs: \(b1.logs + b2.logs) vs \(a.logs)")

            // The final checkpoints agree bit for bit: adapter weights and AdamW moments.
            let x = try TrainingCheckpoint.read(path: whole.output + "/checkpoint-4")
            let y = try TrainingCheckpoint.read(path: parts.output + "/checkpoint-4")
            #expect(x.parameters.map(\.bitPattern) == y.parameters.map(\.bitPattern))
            #expect(x.optimizerState.m.map(\.bitPattern) == y.optimizerState.m.map(\.bitPattern))
            #expect(x.optimizerState.v.map(\.bitPattern) == y.optimizerState.v.map(\.bitPattern))
            #expect(x.parameters.contains { $0 != 0 })
            let peftA = FileManager.default.contents(atPath: whole.output + "/adapter/" + PEFTAdapter.weightsFileName)
            let peftB = FileManager.default.contents(atPath: parts.output + "/adapter/" + PEFTAdapter.weightsFileName)
            #expect(peftA != nil && peftA == peftB)
        }

        @Test func resumingAFinishedRunChangesNothing() throws {
            let f = try TrainerFixture()
            let a = f.arguments(maxSteps: 2)
            try f.trainer(a).record()
            let before = FileManager.default.contents(atPath: a.output + "/checkpoint-2")
            let r = try f.trainer(a, resume: try TrainingCheckpoint.read(path: a.output + "/checkpoint-2")).record()
            #expect(r.steps.isEmpty && r.saved.isEmpty && r.finished == 2)
            #expect(FileManager.default.contents(atPath: a.output + "/checkpoint-2") == before)
        }

        // MARK: - Refusals

        /// A 2-step run's checkpoint, and the fixture it came from.
        static func trainedCheckpoint() throws -> (TrainerFixture, TrainArguments, String) {
            let f = try TrainerFixture()
            let a = f.arguments(maxSteps: 4)
            let t = try f.trainer(a)
            try t.record(stopAfter: 2)
            _ = try t.saveIfNeeded()
            return (f, a, a.output + "/checkpoint-2")
        }

        static func expectOneLine(_ text: String?, contains parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            guard let text else {
                Issue.record("expected an error containing \(parts)", sourceLocation: sourceLocation)
                return
            }
            #expect(!text.contains("\n"), "one line: \(text)", sourceLocation: sourceLocation)
            for p in parts { #expect(text.contains(p), "'\(p)' in: \(text)", sourceLocation: sourceLocation) }
        }

        @Test func refusesAnotherBase() throws {
            let (f, a, path) = try Self.trainedCheckpoint()
            let otherPath = try TinyModel.write(directory: f.directory, seed: 2)
            let other = try LlamaModel(path: otherPath, threads: 1)
            #expect(other.file.fingerprint != f.model.file.fingerprint)
            let checkpoint = try TrainingCheckpoint.read(path: path)
            Self.expectOneLine(
                errorText { _ = try Trainer(arguments: a, model: other, context: ByteToy.context, resume: checkpoint) },
                contains: [path, "trained on base", f.model.file.fingerprint, other.file.fingerprint])
        }

        @Test func refusesOtherData() throws {
            let (f, a, path) = try Self.trainedCheckpoint()
            var b = a
            b.data = try TinyData.write(TinyData.letterTask(count: 6, seed: 99), directory: f.directory, name: "other.jsonl")
            Self.expectOneLine(
                errorText { _ = try f.trainer(b, resume: try TrainingCheckpoint.read(path: path)) },
                contains: [path, "training data"])
        }

        @Test func refusesChangedArgumentsNamingThem() throws {
            let (f, a, path) = try Self.trainedCheckpoint()
            var b = a
            b.lr *= 2
            b.beta = 0.2
            b.gradAccum = 1
            let text = errorText { _ = try f.trainer(b, resume: try TrainingCheckpoint.read(path: path)) }
            Self.expectOneLine(text, contains: [path, "--lr", "--beta", "--grad-accum"])
            // Options that cannot change the result may change.
            var c = a
            c.saveSteps = 1
            c.saveTotalLimit = 5
            c.evalSteps = 3
            c.output = a.output
            #expect(errorText { _ = try f.trainer(c, resume: try TrainingCheckpoint.read(path: path)) } == nil)
        }

        enum Damage: String, CaseIterable, Sendable {
            case truncated, truncatedPrefix, flippedPayloadBit, newerVersion, olderVersion, versionZero, notACheckpoint, reservedPrefixByte
            case wrongPayloadLength
        }

        @Test(arguments: Damage.allCases)
        func refusesDamagedCheckpoints(_ damage: Damage) throws {
            let (_, _, path) = try Self.trainedCheckpoint()
            var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            let expected: String
            switch damage {
            case .truncated:
                bytes.removeLast(bytes.count / 3)
                expected = "truncated"
            case .truncatedPrefix:
                bytes = Array(bytes.prefix(40))
                expected = "truncated"
            case .flippedPayloadBit:
                bytes[64 + (bytes.count - 64) / 2] ^= 0x04
                expected = "corrupted"
            case .newerVersion:
                bytes[8] = UInt8(CheckpointFile.version + 1)
                expected = "newer"
            case .olderVersion:
                // Format 1 recorded its options in a nested layout; it is named, not misread.
                bytes[8] = 1
                expected = "format version 1 was written by an older leandpo"
            case .versionZero:
                bytes[8] = 0
                expected = "unknown version 0 at byte 8"
            case .reservedPrefixByte:
                bytes[50] = 1
                expected = "reserved prefix bytes"
            case .wrongPayloadLength:
                // The prefix now claims one payload byte more than the file holds.
                let claimed = bytes[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } + 1
                for k in 0..<8 { bytes[16 + k] = UInt8(truncatingIfNeeded: claimed >> (8 * UInt64(k))) }
                expected = "truncated"
            case .notACheckpoint:
                bytes[0...7] = ArraySlice(Array("NOTACKPT".utf8))
                expected = "not a LeanDPO checkpoint"
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            Self.expectOneLine(errorText { _ = try TrainingCheckpoint.read(path: path) }, contains: [path, expected])
        }

        @Test func refusesAMissingCheckpointOrAnEmptyDirectory() throws {
            let dir = TestPaths.temporaryDirectory("trainer-empty")
            Self.expectOneLine(errorText { _ = try TrainingCheckpoint.resolve(dir) }, contains: [dir, "no checkpoint"])
            Self.expectOneLine(errorText { _ = try TrainingCheckpoint.resolve(dir + "/nope") }, contains: ["no such"])
        }

        // MARK: - Non-finite values

        @Test func nonFiniteLossStopsWithoutTouchingTheLastCheckpoint() throws {
            // Token 'h' (id 3 + 104 % 61 = 46) has a NaN embedding; only the fifth pair contains it, so steps
            // 1 and 2 (pairs 0–3, unshuffled) are finite and step 3 is not.
            let data = [
                (prompt: "abc=", chosen: " aa", rejected: " bb"), (prompt: "bca=", chosen: " bb", rejected: " cc"),
                (prompt: "cab=", chosen: " cc", rejected: " dd"), (prompt: "dab=", chosen: " dd", rejected: " ee"),
                (prompt: "abch=", chosen: " aa", rejected: " bb"), (prompt: "bcd=", chosen: " bb", rejected: " cc"),
            ]
            let f = try TrainerFixture(poisonToken: 46, data: data)
            var a = f.arguments(maxSteps: 3)
            a.shuffle = false
            a.gradAccum = 1
            a.saveSteps = 1
            a.saveTotalLimit = 5
            let t = try f.trainer(a)
            var savedBytes: [String: Data] = [:]
            let text = errorText {
                try t.run { event in
                    if case .saved(let path, _, _) = event { savedBytes[path] = FileManager.default.contents(atPath: path) }
                    return .more
                }
            }
            Self.expectOneLine(text, contains: ["loss is", "nan at step 3", "line 5", "stopping without saving"])
            #expect(TrainingCheckpoint.list(directory: a.output).map(\.step) == [1, 2])
            #expect(savedBytes.count == 2)
            for (path, bytes) in savedBytes { #expect(FileManager.default.contents(atPath: path) == bytes, "\(path) untouched") }
            #expect(try TrainingCheckpoint.read(path: a.output + "/checkpoint-2").parameters.allSatisfy(\.isFinite))
            #expect(!FileManager.default.fileExists(atPath: a.output + "/adapter"))
            #expect(t.step == 2)
        }

        @Test func hugeLearningRateStopsOnNonFiniteValues() throws {
            let f = try TrainerFixture()
            var a = f.arguments(maxSteps: 40)
            a.lr = 1e30
            a.maxGradNorm = 0
            a.saveSteps = 1
            a.saveTotalLimit = 100
            let t = try f.trainer(a)
            let text = errorText { try t.record() }
            Self.expectOneLine(text, contains: ["stopping without saving"])
            #expect(text?.contains("loss is") == true || text?.contains("gradient norm is") == true)
            let kept = TrainingCheckpoint.list(directory: a.output)
            #expect(kept.last?.step == t.step, "every finished step was saved, the failed one was not")
            if let last = kept.last { #expect(try TrainingCheckpoint.read(path: last.path).state.step == t.step) }
        }
    }
}
