// `leandpo train` as a user runs it: interrupted by SIGINT and resumed to the same adapter bit for bit,
// a second SIGINT that leaves at once without corrupting anything, a disk that fills while saving, an
// output directory holding another run, refused resumes, and --config files (YAML and JSON).

import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLITests {
    /// Waits until `output`'s metrics.jsonl has at least `lines` lines (the run is mid-training).
    static func waitForMetrics(_ f: CLIFixture, _ output: String, lines: Int, while running: CLI.Running) throws {
        let deadline = Date().addingTimeInterval(60)
        while f.metrics(output).count < lines {
            try #require(running.process.isRunning, "the run ended before it was interrupted")
            try #require(Date() < deadline, "no progress in 60 s")
            usleep(2_000)
        }
    }

    @Test func interruptedRunsResumeToTheSameAdapterBitForBit() throws {
        let f = try CLIFixture()
        // ~1 ms a step: long enough to be interrupted mid-run, short enough to run twice.
        let options = ["--max-steps", "2500", "--logging-steps", "1", "--save-steps", "500", "--lora-r", "4", "--lora-dropout", "0.1"]
        let whole = try f.train("whole", options)
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stderr.contains("memory: base ") && whole.stderr.contains("kept activations up to "), "the memory plan line")
        let reference = try #require(try f.loraChecksum(f.path("whole/checkpoint-2500")))
        let referenceAdapter = FileManager.default.contents(atPath: f.path("whole/adapter/adapter_model.safetensors"))
        #expect(referenceAdapter != nil)
        let referenceLosses = f.metrics("whole").map { $0["loss"] as? Double }
        #expect(referenceLosses.count == 2500)

        // One SIGINT: the step finishes, a checkpoint is saved, exit code 130.
        let run = try f.start("parts", options)
        try Self.waitForMetrics(f, "parts", lines: 700, while: run)
        run.signal(SIGINT)
        let stopped = run.wait()
        #expect(stopped.status == 130, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("interrupted: saved"), "\(stopped.stderr)")
        let saved = try #require(f.checkpoints("parts").last)
        #expect(saved > 500 && saved < 2500, "interrupted at step \(saved)")
        #expect(f.checkpoints("parts").count == 2, "--save-total-limit 2")
        #expect(try f.loraChecksum(f.path("parts/checkpoint-\(saved)")) != nil)

        let resumed = try f.train("parts", options + ["--resume", f.path("parts")])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming from"))
        #expect(try f.loraChecksum(f.path("parts/checkpoint-2500")) == reference)
        #expect(FileManager.default.contents(atPath: f.path("parts/adapter/adapter_model.safetensors")) == referenceAdapter)
        #expect(f.metrics("parts").map { $0["loss"] as? Double } == referenceLosses, "identical logged losses")
        // train_loss is the mean over the whole run, the interrupted part included (its sum is in the checkpoint).
        let trainLoss = try #require(f.summary("whole")?["train_loss"] as? Double)
        #expect(abs(trainLoss - referenceLosses.reduce(0) { $0 + $1! } / 2500) < 1e-6)
        #expect(f.summary("parts")?["train_loss"] as? Double == trainLoss)
        #expect(
            f.summary("parts")?["num_tokens"] == nil
                && f.metrics("parts").last?["num_tokens"] as? Double == f.metrics("whole").last?["num_tokens"] as? Double)

        // Two SIGINTs: the second exits at once; whatever is on disk stays readable and the run resumes.
        let twice = try f.start("twice", options)
        try Self.waitForMetrics(f, "twice", lines: 700, while: twice)
        twice.signal(SIGINT)
        usleep(1_000)
        twice.signal(SIGINT)
        let t0 = Date()
        let quit = twice.wait()
        #expect(Date().timeIntervalSince(t0) < 5)
        #expect(quit.status == 130, "\(quit.stderr)")
        let left = f.checkpoints("twice")
        #expect(!left.isEmpty, "checkpoint-500 was saved before the interruption")
        for step in left { #expect(try f.loraChecksum(f.path("twice/checkpoint-\(step)")) != nil, "checkpoint-\(step) reads") }
        let again = try f.train("twice", options + ["--resume", f.path("twice")])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try f.loraChecksum(f.path("twice/checkpoint-2500")) == reference)
        #expect(f.metrics("twice").map { $0["loss"] as? Double } == referenceLosses)
    }

    @Test func diskFullWhileSavingKeepsEveryEarlierCheckpoint() throws {
        let f = try CLIFixture()
        let options = ["--max-steps", "4", "--save-steps", "2", "--save-total-limit", "5"]
        let first = try f.train("out", options)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(f.checkpoints("out") == [2, 4])
        let before2 = try #require(FileManager.default.contents(atPath: f.path("out/checkpoint-2")))
        let before4 = try #require(FileManager.default.contents(atPath: f.path("out/checkpoint-4")))

        // Resume from step 2: the run redoes steps 3–4 and rewrites checkpoint-4 on a disk that holds only
        // half a checkpoint per file (run.json and metrics.jsonl are far smaller).
        let limit = before2.count / 2
        let runJSON = try #require(FileManager.default.contents(atPath: f.path("out/run.json")))
        #expect(runJSON.count < limit)
        let full = try f.train(
            "out", options + ["--resume", f.path("out/checkpoint-2")], environment: ["LEANDPO_FAULT_WRITE_AFTER_BYTES": "\(limit)"])
        #expect(full.status == 1, "\(full.stderr)")
        let line = errorLine(full)
        #expect(line.contains("checkpoint-4") && line.contains("No space left on device"), "\(line)")
        #expect(FileManager.default.contents(atPath: f.path("out/checkpoint-2")) == before2)
        #expect(FileManager.default.contents(atPath: f.path("out/checkpoint-4")) == before4)
        let names = try FileManager.default.contentsOfDirectory(atPath: f.path("out"))
        #expect(!names.contains { $0.contains(".tmp-") }, "no temporary file left: \(names)")
        #expect(try f.loraChecksum(f.path("out/checkpoint-4")) != nil)
    }

    /// The commands that declare train's options themselves (eval, generate) print each default once: the option
    /// table's help line, and ArgumentParser's default from TrainArguments.
    @Test func helpStatesEachDefaultOnce() throws {
        for command in ["eval", "generate"] {
            let r = try CLI.run([command, "--help"], directory: TestPaths.temporaryDirectory("help"))
            #expect(r.status == 0, "\(r.stderr)")
            let text = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("--threads <INT>") && text.contains("(default: 0)"), "\(command): \(text)")
            #expect(!text.contains("(default 0)") && !text.contains("(default \"f32\")"), "\(command) repeats a default: \(text)")
        }
    }

    @Test func refusals() throws {
        let f = try CLIFixture()
        let options = ["--max-steps", "3", "--save-steps", "1"]
        #expect(try f.train("out", options).status == 0)

        // An output directory that holds another run: refused without --overwrite, replaced with it.
        let other = try f.train("out", options + ["--beta", "0.2"])
        #expect(other.status == 1)
        #expect(errorLine(other).contains("already holds a training run"))
        let same = try f.train("out", options)
        #expect(same.status == 1, "the same run with checkpoints is refused too: resume it or overwrite it")
        let replaced = try f.train("out", options + ["--beta", "0.2", "--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(f.checkpoints("out") == [2, 3])
        #expect(f.metrics("out").count == 1, "one log line (step 3) from the new run only")

        // Resumes that could not continue exactly.
        let changed = try f.train("out", options + ["--beta", "0.3", "--lr", "0.5", "--resume", f.path("out")])
        #expect(changed.status == 1)
        let line = errorLine(changed)
        #expect(line.contains("--beta") && line.contains("--lr"), "\(line)")

        let otherModel = f.path("other.mtf")
        try CLIFixture.writeModel(otherModel, seed: 9)
        let base = try CLI.run(
            [
                "train", "--model", otherModel, "--data", f.data, "--output", f.path("out"), "--threads", "1", "--batch-size", "2", "--lr", "1e-2",
                "--beta", "0.2", "--resume", f.path("out"),
            ] + options, environment: f.environment, directory: f.directory)
        #expect(base.status == 1)
        #expect(errorLine(base).contains("trained on base"))

        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: f.path("out/checkpoint-3"))))
        bytes[bytes.count / 2] ^= 0x01
        _ = FileManager.default.createFile(atPath: f.path("out/checkpoint-3"), contents: Data(bytes))
        let corrupt = try f.train("out", options + ["--beta", "0.2", "--resume", f.path("out")])
        #expect(corrupt.status == 1)
        #expect(errorLine(corrupt).contains("corrupted checkpoint"))
        let inspect = try CLI.run(["inspect", f.path("out/checkpoint-3")], directory: f.directory)
        #expect(inspect.status == 1)
        #expect(errorLine(inspect).contains("corrupted checkpoint"))
    }

    @Test(arguments: ["yaml", "json"])
    func configFileFillsOptionsAndTheCommandLineWins(format: String) throws {
        let f = try CLIFixture()
        let config = f.path("run.\(format)")
        let text =
            format == "yaml"
            ? "max-steps: 2\nbeta: 0.25\nlora_r: 4\nloss: [sigmoid, sft]\nloss-weights: [1, 0.5]\nlr-scheduler-type: cosine\n"
            : #"{"max_steps": 2, "beta": 0.25, "lora-r": 4, "loss": "sigmoid,sft", "loss_weights": [1, 0.5], "lr_scheduler_type": "cosine"}"#
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let r = try f.train("out", ["--config", config, "--beta", "0.3"])
        #expect(r.status == 0, "\(r.stderr)")
        let runFile = try Data(contentsOf: URL(fileURLWithPath: f.path("out/run.json")))
        let a = try #require(try JSONSerialization.jsonObject(with: runFile) as? [String: Any])
        #expect(a["max_steps"] as? Int == 2)
        #expect(a["beta"] as? Double == 0.3, "the command line wins")
        #expect(a["lora_r"] as? Int == 4)
        #expect(a["loss"] as? [String] == ["sigmoid", "sft"])
        #expect(a["loss_weights"] as? [Double] == [1, 0.5])
        #expect(a["lr_scheduler_type"] as? String == "cosine")
        #expect(a["lr"] as? Double == 1e-2, "command-line options the file does not name")
        #expect((a["leandpo_run"] as? [String: Any])?["base_fingerprint"] as? String != nil)

        // run.json is a config file as it stands: fed back, it trains the same run.
        let again = try f.train("again", ["--config", f.path("out/run.json")])
        #expect(again.status == 0, "\(again.stderr)")
        let againRun = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.path("again/run.json")))) as? [String: Any])
        for key in ["lora_r", "loss", "loss_weights", "beta", "lr", "max_steps", "lr_scheduler_type"] {
            #expect("\(againRun[key] ?? "nil")" == "\(a[key] ?? "nil")", "\(key)")
        }

        try Data((format == "yaml" ? "max-steps: 2\nbeat: 0.2\n" : #"{"beat": 0.2}"#).utf8).write(to: URL(fileURLWithPath: config))
        let bad = try f.train("bad", ["--config", config])
        #expect(bad.status == 1)
        #expect(errorLine(bad).contains("beat: unknown option (did you mean 'beta'?)"), "\(errorLine(bad))")
    }
}
