// The option table: TRL/PEFT/HF spellings in --config, every problem of a file in one sorted message
// with suggestions, type errors in the user's words, run.json round trips, and what a resume may change.

import Foundation
import JSON
import Model
import TestSupport
import Testing
import Training

@Suite struct OptionTests {
    func write(_ text: String, _ name: String) throws -> String {
        let path = TestPaths.temporaryDirectory("options") + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func load(_ text: String, _ name: String = "run.yaml") throws -> (TrainArguments, [String]) {
        var a = TrainArguments()
        let notes = try TrainOptions.apply(try TrainOptions.loadConfig(path: try write(text, name)), to: &a, source: name)
        return (a, notes)
    }

    /// A DPOConfig-style YAML as a TRL user writes it trains with our meaning of every key.
    @Test func aTRLConfigIsUnderstood() throws {
        let (a, notes) = try load(
            """
            model_name_or_path: base.mtf
            output_dir: out
            learning_rate: 5.0e-6
            per_device_train_batch_size: 2
            gradient_accumulation_steps: 8
            num_train_epochs: 2
            loss_type: [sigmoid, sft]
            loss_weights: [1.0, 0.2]
            beta: 0.05
            max_length: 512
            use_rslora: true
            lora_target_modules: all-linear
            lora_dropout: 0.05
            r: 8
            lora_alpha: 16
            warmup_ratio: 0.1
            lr_scheduler_type: cosine
            logging_steps: 5
            save_total_limit: null
            gradient_checkpointing: true
            bf16: true
            report_to: [wandb]
            seed: 7
            """)
        #expect(a.model == "base.mtf" && a.output == "out")
        #expect(a.lr == 5e-6 && a.batchSize == 2 && a.gradAccum == 8 && a.epochs == 2)
        #expect(a.loss == [.sigmoid, .sft] && a.lossWeights == [1, 0.2] && a.beta == 0.05 && a.maxLength == 512)
        #expect(a.lora == LoRAConfig(r: 8, alpha: 16, rslora: true, dropout: 0.05, targets: LoRATarget.allCases))
        #expect(a.warmupRatio == 0.1 && a.lrSchedulerType == .cosine && a.loggingSteps == 5 && a.seed == 7)
        #expect(a.saveTotalLimit == TrainArguments().saveTotalLimit, "null leaves the default")
        #expect(notes.count == 3, "\(notes)")
        #expect(notes.contains { $0.hasPrefix("gradient_checkpointing is ignored: LeanDPO keeps layer activations") })
        #expect(notes.contains { $0.hasPrefix("bf16 is ignored") })
        #expect(notes.contains { $0.contains("report_to: 'wandb' is not available") })
    }

    /// PEFT's module names are LoRA targets too.
    @Test func peftTargetNames() throws {
        let (a, _) = try load("target_modules: [q_proj, v_proj, down_proj]\n")
        #expect(a.lora.targets == [.q, .v, .down])
    }

    /// Every problem at once, sorted, each with the nearest known name; type errors name the key as written.
    @Test func allProblemsInOneMessage() throws {
        let text = """
            lerning_rate: 1e-5
            beat: 0.2
            lora_r: "16"
            num_train_epoch: 3
            max_length: 512
            warmup_steps: [1]
            """
        for _ in 0..<3 {
            #expect {
                _ = try load(text)
            } throws: { e in
                let m = "\(e)"
                return m.hasPrefix("run.yaml: 5 problems: ")
                    && m.contains("beat: unknown option (did you mean 'beta'?)")
                    && m.contains("lerning_rate: unknown option (did you mean 'learning_rate'?)")
                    && m.contains("lora_r: expected an integer, got a string")
                    && m.contains("num_train_epoch: unknown option (did you mean 'num_train_epochs'?)")
                    && m.contains("warmup_steps: expected an integer, got a list")
                    && m.range(of: "beat")!.lowerBound < m.range(of: "lerning_rate")!.lowerBound
            }
        }
    }

    @Test func commandLineFlagsGetSuggestions() throws {
        var a = TrainArguments()
        #expect {
            _ = try TrainOptions.apply(
                try TrainOptions.parseCommandLine(["--lora-rank", "4", "--leraning-rate", "1e-4"]), to: &a, source: "command line")
        } throws: { e in
            "\(e)" == "command line: --leraning-rate: unknown option (did you mean '--learning-rate'?)"
        }
        _ = try TrainOptions.apply(try TrainOptions.parseCommandLine(["--lora-r=8", "--rslora", "--loss", "ipo,sft"]), to: &a, source: "cli")
        #expect(a.lora.r == 8 && a.lora.rslora && a.loss == [.ipo, .sft])
        #expect(throws: ArgumentError.self) { try TrainOptions.parseCommandLine(["--lora-r"]) }
    }

    /// --memory-budget reads sizes in powers of 1024 and auto; run.json writes them back the same way.
    @Test func memoryBudgetReadsSizes() throws {
        func budget(_ word: String) throws -> Int? {
            var a = TrainArguments()
            _ = try TrainOptions.apply(try TrainOptions.parseCommandLine(["--memory-budget", word]), to: &a, source: "cli")
            return a.memoryBudget
        }
        #expect(try budget("2G") == 2 << 30)
        #expect(try budget("512M") == 512 << 20)
        #expect(try budget("1.5GiB") == 3 << 29)
        #expect(try budget("0") == 0)
        #expect(try budget("123456") == 123_456)
        #expect(try budget("auto") == nil)
        #expect(throws: ArgumentError.self) { try budget("2X") }
        #expect(throws: ArgumentError.self) { try budget("-1G") }
        #expect(try load("memory_budget: 1073741824\n").0.memoryBudget == 1 << 30)
        var a = TrainArguments(model: "m.mtf", data: "d.jsonl", output: "o")
        a.memoryBudget = 768 << 20
        let text = TrainOptions.encode(a).rendered()
        #expect(text.contains("\"768M\""))
        #expect(try TrainOptions.decode(JSONValue(JSONReader.parse(Array(text.utf8), rules: .strict)), source: "run.json") == a)
        #expect(TrainOptions.encode(TrainArguments()).rendered().contains("\"auto\""))
    }

    /// A repeated option (an alias and its name) is a problem, not a silent override.
    @Test func aKeyGivenTwiceIsRefused() throws {
        #expect {
            _ = try load("lr: 1e-4\nlearning_rate: 2e-4\n")
        } throws: { e in "\(e)".contains("given twice") }
    }

    /// run.json's encoding decodes to the same arguments; the checkpoint's snake-case key conversion too.
    @Test func encodeDecodeRoundTrip() throws {
        var a = TrainArguments(model: "m.mtf", data: "d.jsonl", output: "o")
        a.lora = LoRAConfig(r: 8, alpha: 3, rslora: true, dropout: 0.1, targets: [.q, .down])
        a.loss = [.robust, .sft]
        a.lossWeights = [1, 0.5]
        a.ldAlpha = 0.3
        a.truncationMode = .keepEnd
        a.lrSchedulerType = .cosine
        a.shuffle = false
        a.evalSplit = 0.1
        a.reportTo = [.tensorboard]
        a.seed = 123
        let text = TrainOptions.encode(a).rendered()
        let back = try TrainOptions.decode(JSONValue(JSONReader.parse(Array(text.utf8), rules: .strict)), source: "run.json")
        #expect(back == a)
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try d.decode(TrainArguments.self, from: e.encode(a)) == a)
    }

    /// One default for each option, shown in help from the same table.
    @Test func helpShowsTheDefaults() {
        let help = TrainOptions.helpText
        #expect(help.contains("--lora-r INT") && help.contains("(default 16)"))
        #expect(help.contains("--max-length INT") && help.contains("(default 1024)"))
        for kind in LossKind.allCases { #expect(help.contains(kind.rawValue)) }
    }

    /// Nested YAML aliases expand past the budget and are refused quickly.
    @Test func billionLaughsIsRefused() throws {
        var text = "a0: [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<10 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text = text.replacingOccurrences(of: "a0: [", with: "a0: &a0 [")
        #expect {
            _ = try load(text)
        } throws: { e in "\(e)".contains("expands to more than") }
    }

    @Test func resumeMayExtendButNotChangeTheMath() {
        let saved = TrainArguments(model: "m", data: "d", output: "o")
        var now = saved
        now.maxSteps = 20
        now.loggingSteps = 2
        now.threads = 1
        var (refused, changed) = TrainOptions.resumeDifferences(saved: saved, now: now)
        #expect(refused.isEmpty)
        #expect(changed == ["max_steps -1 → 20", "threads 0 → 1", "logging_steps 10 → 2"])
        now.lora.r = 8
        now.beta = 0.2
        (refused, changed) = TrainOptions.resumeDifferences(saved: saved, now: now)
        #expect(refused == ["--lora-r", "--beta"])
    }

    /// A value outside an option's choices is one message naming the option, the value and the choices.
    @Test func aChoiceOutsideTheListIsNamed() throws {
        var a = TrainArguments()
        let given = try TrainOptions.parseCommandLine(["--reference", "policy"])
        #expect(throws: ArgumentError("command line: --reference: 'policy' is not one of initial, base")) {
            _ = try TrainOptions.apply(given, to: &a, source: "command line", laterWins: true)
        }
        _ = try TrainOptions.apply(try TrainOptions.parseCommandLine(["--reference", "base"]), to: &a, source: "command line")
        #expect(a.reference == .base)
    }

    @Test func validationNamesTheOption() {
        var a = TrainArguments(model: "m", data: "d", output: "o")
        a.maxLength = 1
        #expect(throws: ArgumentError("max_length must be at least 2, got 1")) { try a.validate() }
        a = TrainArguments(model: "m", data: "d", output: "o")
        a.lora.r = 0
        #expect(throws: ArgumentError.self) { try a.validate() }
    }
}

extension OptionTests {
    /// Fuzzer finding: Yams' constructor traps on an overflowing YAML 1.1 base-60 integer. Our reader
    /// parses scalars itself: an error, not a trap. Other YAML 1.1 spellings still read.
    @Test func overflowingBase60IntegerIsAnError() throws {
        #expect(throws: ArgumentError.self) { _ = try load("lr: 9223372036854775807:1\n") }
        let (a, _) = try load("lora_r: 0x10\nrslora: yes\nmax_steps: 1_000\nbeta: 5e-1\n")
        #expect(a.lora.r == 16 && a.lora.rslora && a.maxSteps == 1000 && a.beta == 0.5)
    }
}
