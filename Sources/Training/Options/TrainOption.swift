// The one table of training options: each row names an option (snake_case, as TRL and run.json spell it;
// `--lora-r` on the command line), its TRL/PEFT/HF aliases, help, how it reads and writes a value of
// TrainArguments, and whether a resumed run may change it. Adding an option: a field with its default in
// TrainArguments (and its check in `validate()`), and a row here.

import JSON
import Kernels
import Model

public struct TrainOption: Sendable {
    public enum Group: String, Sendable, CaseIterable {
        case inputs = "inputs and outputs", lora = "LoRA", loss, data, optimizer, schedule, reporting = "reporting and saving"
    }

    /// What a resumed run may do with the option.
    public enum OnResume: Sendable {
        /// Must equal the checkpoint's: a change would make the resumed numbers differ from an unbroken run.
        case mustMatch
        /// May grow: the run is extended and the learning-rate schedule recomputed over the new total.
        case mayExtend
        /// Free to change (cadence, threads, paths compared by content elsewhere).
        case free
    }

    /// The key in `--config`, run.json and checkpoints; the command line writes it `--lora-r`.
    public let name: String
    /// Other spellings accepted in `--config` and on the command line (TRL, PEFT, HF Trainer).
    public let aliases: [String]
    public let group: Group
    public let help: String
    /// Placeholder in help (`INT`, `PATH`); nil for a flag that takes no value.
    public let valueName: String?
    public let onResume: OnResume
    /// Where the default differs from TRL's, what TRL's is and why ours suits CPU LoRA.
    public let trlDifference: String?
    let assign: @Sendable (inout TrainArguments, OptionValue, inout [String]) throws(OptionMessage) -> Void
    /// The value as run.json writes it; nil when unset (an optional with no value).
    let value: @Sendable (TrainArguments) -> JSONText?

    public var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
    /// The default, as written in help and the README.
    public var defaultText: String? { value(TrainArguments()).map { $0.rendered(indent: nil) } }
}

// MARK: - The table

extension TrainOption {
    public static let all: [TrainOption] = [
        // Inputs and outputs
        path("model", aliases: ["model_name_or_path"], .inputs, "Base model (an MTF file; `leandpo convert` makes one).", \.model),
        path("data", aliases: ["dataset_path", "train_file"], .inputs, "Preference data (JSONL or a JSON array).", \.data),
        path("output", aliases: ["output_dir"], .inputs, "Output directory (checkpoints, metrics.jsonl, adapter/).", \.output),
        optionalPath("eval_data", aliases: ["eval_file"], .inputs, "Held-out preference data.", \.evalData),
        optionalDouble("eval_split", .inputs, "Fraction of --data held out for evaluation (seeded).", \.evalSplit, resume: .mustMatch),
        optionalPath(
            "init_adapter", .inputs, "Start from a PEFT adapter directory (also the reference, unless --reference base).", \.initAdapter,
            resume: .mustMatch),
        TrainOption(
            name: "reference", aliases: [], group: .inputs,
            help:
                "The reference model: initial (the model training starts from: base + --init-adapter, frozen, as TRL does for a loaded PeftModel; the base for a new adapter) or base (adapters off).",
            valueName: "MODEL", onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.reference = try v.choice(ReferenceModel.self) },
            value: { .string($0.reference.rawValue) }),

        // LoRA
        TrainOption(
            name: "lora_targets", aliases: ["lora_target_modules", "target_modules"], group: .lora,
            help: "Projections that get an adapter: a list of q,k,v,o,gate,up,down (or q_proj…, all, all-linear; Phi-3: qkv_proj, gate_up_proj).",
            valueName: "LIST",
            onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in
                do { a.lora.targets = try LoRATarget.parseList(try v.strings().joined(separator: ",")) } catch let e as LoRAConfigError {
                    throw OptionMessage(e.description)
                } catch let e as OptionMessage { throw e } catch { throw OptionMessage("\(error)") }
            },
            value: { .array($0.lora.targets.map { .string($0.rawValue) }) }),
        int("lora_r", aliases: ["r", "lora_rank"], .lora, "LoRA rank.", \.lora.r, resume: .mustMatch),
        double(
            "lora_alpha", aliases: ["alpha"], .lora, "LoRA alpha: the adapter is scaled by alpha/r (alpha/√r with rslora).", \.lora.alpha,
            resume: .mustMatch),
        flag("rslora", aliases: ["use_rslora"], .lora, "Scale by alpha/√r (rsLoRA).", \.lora.rslora, resume: .mustMatch),
        double(
            "lora_dropout", .lora, "Dropout on the adapter input.", \.lora.dropout, resume: .mustMatch,
            trl: "TRL's scripts default to 0.05; 0 keeps a step deterministic without a dropout mask per projection"),
        TrainOption(
            name: "seed", aliases: ["data_seed"], group: .lora, help: "Seed for adapter init, shuffling, the eval split and dropout.",
            valueName: "INT", onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.seed = try v.uint64() }, value: { .int(Int(truncatingIfNeeded: $0.seed)) }),

        // Loss
        TrainOption(
            name: "loss", aliases: ["loss_type"], group: .loss,
            help: "Loss, or a list of losses summed with loss_weights: " + LossKind.allCases.map(\.rawValue).joined(separator: "|") + ".",
            valueName: "LIST", onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in
                var kinds: [LossKind] = []
                for name in try v.strings() {
                    guard let k = LossKind(rawValue: name) else {
                        let near = Suggestion.nearest(name, in: LossKind.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""
                        throw OptionMessage(
                            "unknown loss '\(name)'\(near); the losses are " + LossKind.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    kinds.append(k)
                }
                guard !kinds.isEmpty else { throw OptionMessage("name at least one loss") }
                a.loss = kinds
            },
            value: { .array($0.loss.map { .string($0.rawValue) }) }),
        TrainOption(
            name: "loss_weights", aliases: [], group: .loss, help: "Weights of a list of losses (default 1 each).", valueName: "LIST",
            onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.lossWeights = try v.doubles() },
            value: { a in a.lossWeights.map { .array($0.map { .double($0) }) } }),
        double("beta", .loss, "DPO beta (the KL weight); ORPO's lambda is orpo_lambda.", \.beta, resume: .mustMatch),
        double("label_smoothing", .loss, "Label smoothing for robust, exo_pair, aot and simpo.", \.labelSmoothing, resume: .mustMatch),
        optionalDouble("ld_alpha", .loss, "LD-DPO alpha: weight of the completion tail beyond the shorter one.", \.ldAlpha, resume: .mustMatch),
        double("simpo_gamma", .loss, "SimPO target margin gamma.", \.simpoGamma, resume: .mustMatch),
        double("orpo_lambda", .loss, "ORPO lambda (ORPOConfig's beta).", \.orpoLambda, resume: .mustMatch),
        double("discopop_tau", .loss, "DiscoPOP tau.", \.discopopTau, resume: .mustMatch),
        double("desirable_weight", .loss, "kto, apo_zero_unpaired: weight of the desirable examples' losses.", \.desirableWeight, resume: .mustMatch),
        double(
            "undesirable_weight", .loss, "kto, apo_zero_unpaired: weight of the undesirable examples' losses.", \.undesirableWeight,
            resume: .mustMatch),
        TrainOption(
            name: "f_divergence_type", aliases: [], group: .loss,
            help: "f-DPO divergence scoring the log-ratios: " + FDivergence.allCases.map(\.rawValue).joined(separator: "|") + ".",
            valueName: "KIND", onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.fDivergence = try v.choice(FDivergence.self) },
            value: { .string($0.fDivergence.rawValue) }),
        double(
            "f_alpha_divergence_coef", .loss, "Alpha of f_divergence_type alpha_divergence.", \.alphaDivergenceCoef, resume: .mustMatch),
        flag(
            "use_weighting", .loss, "WPO: weigh each pair's loss by its completions' length-normalized probability.", \.useWeighting,
            resume: .mustMatch),

        // Data
        int("max_length", .data, "Max tokens of prompt+completion, per sequence.", \.maxLength, resume: .mustMatch),
        TrainOption(
            name: "truncation_mode", aliases: [], group: .data, help: "keep_start or keep_end.", valueName: "MODE", onResume: .mustMatch,
            trlDifference: nil, assign: { a, v, _ throws(OptionMessage) in a.truncationMode = try v.choice(TruncationMode.self) },
            value: { .string($0.truncationMode.rawValue) }),
        flag("skip_invalid", .data, "Skip and count invalid records instead of stopping.", \.skipInvalid, resume: .mustMatch),
        TrainOption(
            name: "no_shuffle", aliases: [], group: .data, help: "Keep file order (no shuffling).", valueName: nil, onResume: .mustMatch,
            trlDifference: nil, assign: { a, v, _ throws(OptionMessage) in a.shuffle = !(try v.bool()) }, value: { .bool(!$0.shuffle) }),

        // Optimizer
        double(
            "lr", aliases: ["learning_rate"], .optimizer, "Learning rate.", \.lr, resume: .mustMatch,
            trl: "TRL's DPOConfig defaults to 1e-6, a full fine-tuning rate; LoRA needs a larger one"),
        TrainOption(
            name: "lr_scheduler_type", aliases: [], group: .optimizer, help: "constant, linear or cosine.", valueName: "KIND",
            onResume: .mustMatch, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.lrSchedulerType = try v.choice(LRSchedule.Kind.self) },
            value: { .string($0.lrSchedulerType.rawValue) }),
        int("warmup_steps", .optimizer, "Warmup steps (wins over warmup_ratio).", \.warmupSteps, resume: .mustMatch),
        double("warmup_ratio", .optimizer, "Warmup as a fraction of the total steps.", \.warmupRatio, resume: .mustMatch),
        double("adam_beta1", .optimizer, "AdamW beta1.", \.adamBeta1, resume: .mustMatch),
        double("adam_beta2", .optimizer, "AdamW beta2.", \.adamBeta2, resume: .mustMatch),
        double("adam_epsilon", .optimizer, "AdamW epsilon.", \.adamEpsilon, resume: .mustMatch),
        double("weight_decay", .optimizer, "AdamW weight decay.", \.weightDecay, resume: .mustMatch),
        double("max_grad_norm", .optimizer, "Gradient clipping norm (0 turns it off).", \.maxGradNorm, resume: .mustMatch),

        // Schedule
        int(
            "batch_size", aliases: ["per_device_train_batch_size"], .schedule, "Pairs per micro-batch.", \.batchSize, resume: .mustMatch,
            trl: "the HF Trainer's default is 8; 4 pairs of 1,024 tokens keep a step's activations small on a CPU"),
        int("grad_accum", aliases: ["gradient_accumulation_steps"], .schedule, "Micro-batches per optimizer step.", \.gradAccum, resume: .mustMatch),
        double(
            "epochs", aliases: ["num_train_epochs"], .schedule, "Epochs over --data.", \.epochs, resume: .mayExtend,
            trl: "the HF Trainer's default is 3; one epoch is the usual LoRA DPO run, and a CPU epoch is long"),
        int("max_steps", .schedule, "Optimizer steps (wins over epochs; -1: use epochs).", \.maxSteps, resume: .mayExtend),
        int("threads", .schedule, "Threads (0: all cores).", \.threads, resume: .free),
        TrainOption(
            name: "memory_budget", aliases: [], group: .schedule,
            help: "Memory the training pass may spend keeping layers' activations from its forward, so the backward "
                + "skips recomputing them (e.g. 2G, 512M; 0 recomputes every layer; auto: half of what MemAvailable and "
                + "the memory cgroup leave beyond the first GiB). It bounds the kept activations only, not the process: "
                + "the mapped base, each layer's input and the optimizer state come on top. Same results either way.",
            valueName: "SIZE", onResume: .free, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.memoryBudget = try v.size() },
            value: { .string($0.memoryBudget.map(OptionValue.sizeText) ?? "auto") }),
        TrainOption(
            name: "compute_dtype", aliases: [], group: .schedule,
            help:
                "Element type of the base-weight products: f32, or bf16 through oneDNN (f32 accumulation; LoRA, norms, attention, the LM head, the loss and the optimizer stay f32; falls back to f32 with a note on CPUs without AVX-512 BF16 or AMX).",
            valueName: "DTYPE", onResume: .free, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a.computeDType = try v.choice(ComputeDType.self) },
            value: { .string($0.computeDType.rawValue) }),

        // Reporting and saving
        int("logging_steps", .reporting, "Log every N steps.", \.loggingSteps, resume: .free),
        int(
            "collapse_windows", .reporting,
            "Warn when logps/chosen has fallen for N logging windows in a row while rewards/margins grew (0: never).",
            \.collapseWindows, resume: .free),
        flag(
            "kl_estimate", .reporting,
            "Log kl, the per-token KL(policy ‖ reference) over completion tokens (costs a reference forward per micro-batch).",
            \.klEstimate, resume: .free),
        int("eval_steps", .reporting, "Evaluate every N steps (0: at the end only).", \.evalSteps, resume: .free),
        int("save_steps", .reporting, "Save a checkpoint every N steps (0: at the end only).", \.saveSteps, resume: .free),
        int(
            "save_total_limit", .reporting, "Checkpoints to keep.", \.saveTotalLimit, resume: .free,
            trl: "the HF Trainer keeps every checkpoint; each is tens of MB here"),
        TrainOption(
            name: "report_to", aliases: [], group: .reporting,
            help: "Also log to: tensorboard (event files in the output directory), or none. metrics.jsonl is always written.",
            valueName: "LIST", onResume: .free, trlDifference: nil,
            assign: { a, v, notes throws(OptionMessage) in
                var targets: [ReportTarget] = []
                for name in try v.strings() where !name.isEmpty {
                    if name == "none" { continue }
                    if name == "all" {
                        targets = ReportTarget.allCases
                        continue
                    }
                    guard let t = ReportTarget(rawValue: name) else {
                        notes.append("report_to: '\(name)' is not available; LeanDPO writes metrics.jsonl (and tensorboard event files if asked)")
                        continue
                    }
                    if !targets.contains(t) { targets.append(t) }
                }
                a.reportTo = targets
            },
            value: { .array($0.reportTo.map { .string($0.rawValue) }) }),
    ]

    /// Keys that TRL's DPOConfig, PEFT's LoraConfig or the HF Trainer know and LeanDPO has no knob for:
    /// the value is ignored and a note says what LeanDPO does instead.
    public static let notes: [String: String] = {
        var n: [String: String] = [:]
        func add(_ keys: [String], _ text: String) { for k in keys { n[k] = text } }
        add(
            ["gradient_checkpointing", "gradient_checkpointing_kwargs"],
            "LeanDPO keeps layer activations as far as memory_budget allows and recomputes the other layers in the backward")
        add(
            ["bf16", "fp16", "tf32", "bf16_full_eval", "fp16_full_eval", "torch_dtype", "dtype", "half_precision_backend"],
            "LeanDPO computes in f32 on the CPU unless `compute_dtype: bf16` (the base-weight products in bf16 through oneDNN); for a smaller base file use `leandpo convert --dtype bf16`"
        )
        add(["use_cpu", "no_cuda", "device", "use_mps_device"], "LeanDPO always runs on the CPU")
        add(["use_peft", "peft_type", "task_type", "bias", "inference_mode"], "LeanDPO always trains LoRA adapters (PEFT-compatible, bias none)")
        add(
            ["precompute_ref_log_probs", "precompute_ref_batch_size", "ref_adapter_name", "model_adapter_name", "force_use_ref_model"],
            "LeanDPO always computes the reference log-probs once (the model training starts from, or the base with --reference base) and caches them on disk"
        )
        add(
            ["padding_free", "padding_value", "pad_to_multiple_of", "use_logits_to_keep", "use_liger_kernel", "group_by_length"],
            "LeanDPO always packs sequences without padding")
        add(
            ["dataset_num_proc", "dataloader_num_workers", "dataloader_pin_memory", "dataloader_drop_last", "dataloader_persistent_workers"],
            "LeanDPO reads and tokenizes data in-process")
        add(
            [
                "model_init_kwargs", "ref_model_init_kwargs", "attn_implementation", "trust_remote_code", "model_revision", "load_in_4bit",
                "load_in_8bit",
            ],
            "the base is the MTF file given as model; `leandpo convert` reads HF directories and GGUF files")
        add(
            ["logging_dir", "run_name", "logging_first_step", "logging_strategy", "disable_tqdm", "log_level", "logging_nan_inf_filter"],
            "LeanDPO logs to metrics.jsonl in the output directory every logging_steps")
        add(["save_strategy", "save_safetensors", "save_only_model"], "LeanDPO saves a resumable checkpoint every save_steps and at the end")
        add(
            [
                "eval_strategy", "evaluation_strategy", "do_eval", "do_train", "eval_on_start", "per_device_eval_batch_size",
                "eval_accumulation_steps",
            ],
            "LeanDPO evaluates eval_data (or eval_split) every eval_steps and at the end")
        add(
            ["load_best_model_at_end", "metric_for_best_model", "greater_is_better"],
            "LeanDPO keeps the last checkpoints (save_total_limit); pick one with `leandpo eval`")
        add(
            ["push_to_hub", "hub_model_id", "hub_strategy", "hub_token", "hub_private_repo"],
            "LeanDPO does not upload; adapter/ is ready for `push_to_hub` from PEFT")
        add(["overwrite_output_dir"], "give --overwrite on the command line")
        add(["resume_from_checkpoint"], "give --resume DIR on the command line")
        add(["optim"], "LeanDPO uses AdamW (torch's adamw_torch semantics)")
        add(["lr_scheduler_kwargs"], "LeanDPO's schedules take no extra arguments")
        add(
            ["remove_unused_columns", "dataset_text_field", "dataset_name", "dataset_config", "dataset_train_split", "dataset_test_split"],
            "give a local JSONL/JSON file as data (see formats/data.md)")
        add(
            ["max_prompt_length", "max_completion_length"],
            "LeanDPO truncates each prompt+completion to max_length (TRL ≥ 0.29 semantics)")
        add(["rpo_alpha"], "use loss: [sigmoid, sft] with loss_weights: [1, ALPHA] (TRL's current spelling of RPO)")
        add(["reference_free"], "use a reference-free loss (simpo, orpo, sft) instead")
        add(["sync_ref_model", "ref_model_mixup_alpha", "ref_model_sync_steps"], "the reference is always the frozen base")
        add(["disable_dropout"], "the base has no dropout; lora_dropout is the only dropout (0 by default)")
        add(["generate_during_eval"], "use `leandpo generate --adapter OUTPUT` after training")
        add(
            ["torch_compile", "torch_compile_backend", "local_rank", "ddp_backend", "ddp_find_unused_parameters", "fsdp", "deepspeed"],
            "not applicable to LeanDPO's CPU engine")
        add(
            ["use_dora", "lora_bias", "modules_to_save", "layers_to_transform", "init_lora_weights", "fan_in_fan_out"],
            "not supported: LeanDPO trains plain LoRA on the linear projections")
        add(["lora_task_type", "lora_modules_to_save"], "not supported: LeanDPO trains plain LoRA on the linear projections")
        return n
    }()

    /// The option a key names (`--lora-r`, `lora_r`, an alias such as `learning_rate`), if any.
    public static func lookup(_ key: String) -> TrainOption? { index[normalized(key)] }

    /// `--lora-r`, `lora-r` and `lora_r` are one key.
    public static func normalized(_ key: String) -> String {
        var k = key
        while k.hasPrefix("-") { k.removeFirst() }
        return k.replacingOccurrences(of: "-", with: "_")
    }

    private static let index: [String: TrainOption] = {
        var d: [String: TrainOption] = [:]
        for o in all {
            for k in [o.name] + o.aliases {
                precondition(d[k] == nil, "option key \(k) is used twice")
                d[k] = o
            }
        }
        return d
    }()

    /// Every spelling a user may write, for suggestions.
    static var knownKeys: [String] { all.flatMap { [$0.name] + $0.aliases } }
}

// MARK: - Row builders

extension TrainOption {
    private static func int(
        _ name: String, aliases: [String] = [], _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, Int> & Sendable,
        resume: OnResume, trl: String? = nil
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: aliases, group: group, help: help, valueName: "INT", onResume: resume, trlDifference: trl,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.int() }, value: { .int($0[keyPath: path]) })
    }

    private static func double(
        _ name: String, aliases: [String] = [], _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, Double> & Sendable,
        resume: OnResume, trl: String? = nil
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: aliases, group: group, help: help, valueName: "FLOAT", onResume: resume, trlDifference: trl,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.double() }, value: { .double($0[keyPath: path]) })
    }

    private static func optionalDouble(
        _ name: String, _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, Double?> & Sendable, resume: OnResume
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: [], group: group, help: help, valueName: "FLOAT", onResume: resume, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.double() }, value: { $0[keyPath: path].map { .double($0) } })
    }

    private static func flag(
        _ name: String, aliases: [String] = [], _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, Bool> & Sendable,
        resume: OnResume
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: aliases, group: group, help: help, valueName: nil, onResume: resume, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.bool() }, value: { .bool($0[keyPath: path]) })
    }

    private static func path(
        _ name: String, aliases: [String] = [], _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, String> & Sendable
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: aliases, group: group, help: help, valueName: "PATH", onResume: .free, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.string() },
            value: { $0[keyPath: path].isEmpty ? nil : .string($0[keyPath: path]) })
    }

    private static func optionalPath(
        _ name: String, aliases: [String] = [], _ group: Group, _ help: String, _ path: WritableKeyPath<TrainArguments, String?> & Sendable,
        resume: OnResume = .free
    ) -> TrainOption {
        TrainOption(
            name: name, aliases: aliases, group: group, help: help, valueName: "PATH", onResume: resume, trlDifference: nil,
            assign: { a, v, _ throws(OptionMessage) in a[keyPath: path] = try v.string() }, value: { $0[keyPath: path].map { .string($0) } })
    }
}
