"""Shared helpers for the LeanDPO fixture generators: paths, pinned-version record, compact float formatting.
Pinned: see tools/reference/requirements.txt (torch==2.13.0+cpu transformers==5.24.0 peft==0.21.2 trl==1.16.0)."""
import hashlib
import json
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The cache tools/fetch-model fills: $LEANDPO_CACHE, else .cache in this repository (found from this file).
CACHE = os.environ.get("LEANDPO_CACHE") or os.path.join(REPO, ".cache")
HF_DIR = os.environ.get("LEANDPO_HF_DIR", os.path.join(CACHE, "hf", "SmolLM2-135M-Instruct"))
GGUF_PATH = os.environ.get("LEANDPO_GGUF", os.path.join(CACHE, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
MODEL_FIXTURES = os.path.join(REPO, "Tests", "ModelTests", "Fixtures")
TRAINING_FIXTURES = os.path.join(REPO, "Tests", "TrainingTests", "Fixtures")


def versions():
    """The package versions that produced a fixture (written into every JSON file)."""
    import safetensors
    import tokenizers
    import torch
    import transformers

    out = {"torch": torch.__version__, "transformers": transformers.__version__,
           "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__}
    try:
        import peft
        import trl

        out["peft"] = peft.__version__
        out["trl"] = trl.__version__
    except ImportError:
        pass
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32(x):
    """A float32 value as the shortest decimal that reads back to the same float32 (keeps JSON small, loses nothing)."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def f64(x):
    """A float64 value, full precision (Python repr round-trips)."""
    return float(x)


def f32_list(xs):
    return [f32(x) for x in np.asarray(xs, dtype=np.float32).reshape(-1)]


def write_json(path, obj):
    """Compact UTF-8 JSON (no whitespace) ending in a newline; returns the file size in bytes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return os.path.getsize(path)


# MARK: - Tiny random models and their logits (gen_tiny_models.py, gen_tiny_gemma_models.py)


def logits_for(model, seqs):
    import torch

    with torch.no_grad():
        return [model(input_ids=torch.tensor([s])).logits[0] for s in seqs]  # each (T, V)


def randomize_small(model, seed):
    """Every parameter ~ N(0, 0.05²); norm weights 1 + N(0, 0.05²); biases too (so they are nonzero)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * 0.05
            p.copy_(1.0 + noise if "norm" in name else noise)


def tiny_logits_fixture(out, cls, kwargs, seed, seq_seed, seq_lengths, randomize, generator, extra=None):
    """A tiny random model (config cls(**kwargs), weights by randomize(model, seed)) saved to `out` (config.json +
    model.safetensors, no generation_config.json) with expected_logits.json: full f32 eager logits of random sequences
    of seq_lengths, checked to reload to the same logits. extra(out, seqs, logits) adds keys before "sequences".
    Returns (model, f32-vs-f64 noise, extra keys, JSON size)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(seed)
    config = cls(**kwargs)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager").eval()
    randomize(model, seed)
    model.save_pretrained(out)
    os.remove(os.path.join(out, "generation_config.json"))  # not part of the fixture: config + weights only
    g = torch.Generator().manual_seed(seq_seed)
    seqs = [torch.randint(0, config.vocab_size, (n,), generator=g).tolist() for n in seq_lengths]
    logits = logits_for(model, seqs)
    more = extra(out, seqs, logits) if extra else {}

    # The committed files must reproduce the same logits when reloaded.
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    for a, b in zip(logits, logits_for(reloaded, seqs)):
        assert torch.equal(a, b), out
    model64 = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float64, attn_implementation="eager").eval()
    noise = max(float((a.double() - b).abs().max()) for a, b in zip(logits, logits_for(model64, seqs)))

    fixture = logits_json(model, generator, noise, seqs, logits, more)
    size = write_json(os.path.join(out, "expected_logits.json"), fixture)
    return model, noise, more, size


def logits_json(model, generator, noise, seqs, logits, more=None):
    """The leandpo-tiny-logits-v1 object: the model's class and parameter names, the f32-vs-f64 noise, `more`, then
    each sequence's ids and full f32 logits."""
    return {
        "format": "leandpo-tiny-logits-v1",
        "generator": generator,
        "versions": versions(),
        "model_class": type(model).__name__,
        "dtype": "float32",
        "attn_implementation": "eager",
        "parameter_names": sorted(n for n, _ in model.named_parameters()),
        "f32_vs_f64_max_abs_logit": f32(noise),
        **(more or {}),
        "sequences": [{"token_ids": s, "logits": [f32_list(row) for row in lg]} for s, lg in zip(seqs, logits)],
    }


# MARK: - GGUF files as llama.cpp's convert_hf_to_gguf.py writes them


def permute_qk(w, heads):
    """llama.cpp's Q/K row permutation for the `llama` architecture (its interleaved rotary halves)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


LLAMA_GGUF_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
# llama.cpp's Phi3MiniModel keeps the fused attn_qkv and ffn_up (gate then up rows), unpermuted.
PHI3_GGUF_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.qkv_proj": "attn_qkv",
    "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def llama_gguf_tensors(model, cfg, lm_head, names=LLAMA_GGUF_NAMES):
    """A Llama/Mistral state dict as (GGUF name, f32 array) in llama.cpp's order, q/k rows permuted; output.weight
    only with lm_head (an untied model). `names` maps each layer's HF module to its GGUF name, in the file's order
    (PHI3_GGUF_NAMES: fused, nothing to permute)."""
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    tensors = [("token_embd.weight", sd["model.embed_tokens.weight"]), ("output_norm.weight", sd["model.norm.weight"])]
    if lm_head:
        tensors.append(("output.weight", sd["lm_head.weight"]))
    for layer in range(cfg.num_hidden_layers):
        for hf, gg in names.items():
            w = sd[f"model.layers.{layer}.{hf}.weight"]
            if hf == "self_attn.q_proj":
                w = permute_qk(w, cfg.num_attention_heads)
            elif hf == "self_attn.k_proj":
                w = permute_qk(w, cfg.num_key_value_heads)
            tensors.append((f"blk.{layer}.{gg}.weight", np.ascontiguousarray(w, dtype=np.float32)))
    return tensors


def add_llama_keys(w, name, cfg):
    """The llama hyper-parameter keys, from general.name to rope.freq_base (10000)."""
    w.add_name(name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)


def gguf_spm_vocab(path):
    """tokenizer.ggml.tokens (bytes), scores and token types of a committed SentencePiece GGUF."""
    import gguf

    fields = gguf.GGUFReader(path).fields
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]) for i in fields["tokenizer.ggml.tokens"].data]
    scores = [float(fields["tokenizer.ggml.scores"].parts[i][0]) for i in fields["tokenizer.ggml.scores"].data]
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    return tokens, scores, types


def add_spm_vocab(w, tokens, scores, types, bos, eos, unk, add_bos, add_space_prefix, pad=None):
    """tokenizer.ggml.* as llama.cpp's _create_vocab_sentencepiece + SpecialVocab write them (add_space_prefix None:
    no such key, as Phi3MiniModel writes)."""
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)
    w.add_unk_token_id(unk)
    if pad is not None:
        w.add_pad_token_id(pad)
    w.add_add_bos_token(add_bos)
    w.add_add_eos_token(False)
    if add_space_prefix is not None:
        w.add_add_space_prefix(add_space_prefix)


def finish_gguf(w, tensors):
    """Adds (name, array) tensors and writes the file."""
    for name, array in tensors:
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# MARK: - TRL 1.16 (DPO tokenization, adapters)


def common_prefix_length(a, b):
    """How many leading ids two lists share (TRL 1.16 splits prompt and completion there)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tokenizer_dir(out, model_type):
    """A fresh `out` with a config.json naming only model_type: transformers 5 picks the tokenizer class from it."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": model_type}, f)
    return out


# Plain and conversational DPO records whose TRL tokenization the SentencePiece fixtures record (leading spaces, tabs,
# byte-fallback characters, a system message, several turns).
DPO_RECORDS = [
    dict(prompt="What is the capital of France?", chosen=" Paris.", rejected=" Lyon, I think."),
    dict(prompt="Translate to German: good morning", chosen="Guten Morgen", rejected="Gute Nacht</s>"),
    dict(prompt=" leading space prompt\n", chosen="\tanswer with tab", rejected="日本語 answer 🙂"),
    dict(prompt=[{"role": "user", "content": "Hi there! 2+2?"}],
         chosen=[{"role": "assistant", "content": "It is 4."}],
         rejected=[{"role": "assistant", "content": "Five, surely."}]),
    dict(prompt=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a color."}],
         chosen=[{"role": "assistant", "content": " Blue "}],
         rejected=[{"role": "assistant", "content": "Ünïcödé grün"}]),
    dict(prompt=[{"role": "user", "content": "First?"}, {"role": "assistant", "content": "Yes."},
                 {"role": "user", "content": "Second?"}],
         chosen=[{"role": "assistant", "content": "No."}],
         rejected=[{"role": "assistant", "content": "Maybe\nlater."}]),
]
# Leading spaces on every part (Mistral's and Phi-3's DPO records add it to DPO_RECORDS' plain ones).
TWO_SPACES_RECORD = dict(prompt="  two leading spaces", chosen="  two more", rejected=" one")


def trl_dpo_rows(tok, records):
    """What TRL 1.16's DPOTrainer tokenizes: plain records get an EOS appended and BOS from the tokenizer,
    conversational ones BOS from the template's {{ bos_token }}."""
    from trl.data_utils import _tokenize, common_prefix_length, is_conversational

    rows = []
    for r in records:
        ex = dict(r)
        if not is_conversational(ex):  # dpo_trainer add_eos
            for k in ("chosen", "rejected"):
                if not ex[k].endswith(tok.eos_token):
                    ex[k] = ex[k] + tok.eos_token
            p = _tokenize(tok, ex["prompt"])["input_ids"]
            pc = _tokenize(tok, ex["prompt"] + ex["chosen"])["input_ids"]
            pr = _tokenize(tok, ex["prompt"] + ex["rejected"])["input_ids"]
        else:
            p = _tokenize(tok, ex["prompt"], add_generation_prompt=True, tools=None)["input_ids"]
            pc = _tokenize(tok, ex["prompt"] + ex["chosen"], tools=None)["input_ids"]
            pr = _tokenize(tok, ex["prompt"] + ex["rejected"], tools=None)["input_ids"]
        n = min(common_prefix_length(p, pc), common_prefix_length(p, pr))
        rows.append(dict(record=r, prompt_ids=p[:n], chosen_ids=pc[n:], rejected_ids=pr[n:]))
    return rows


def save_adapter(model, directory):
    """model.save_pretrained(directory) without what differs between machines and runs: no README.md (it names the
    base model's path), base_model_name_or_path null, target_modules sorted (PEFT writes a set)."""
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    model.save_pretrained(directory)
    os.remove(os.path.join(directory, "README.md"))
    with open(os.path.join(directory, "adapter_config.json")) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = None
    cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def write_trl_json(path, **fields):
    """A TRL fixture as the SentencePiece-family generators write it: {"trl": version, **fields}, indent 1, no final
    newline."""
    import trl

    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(trl=trl.__version__, **fields), f, ensure_ascii=False, indent=1)


# The 2-step DPO runs of gen_mistral_fixtures.py and gen_phi3_fixtures.py (CLI tests repeat these options), on
# user/assistant conversations (Mistral's template refuses a system role), one longer than the sliding window.
TWO_STEPS = dict(r=2, lora_alpha=4, lr=5e-3, beta=0.1, batch=4, steps=2, max_grad_norm=1.0)
TWO_STEP_RECORDS = [
    dict(prompt=[{"role": "user", "content": "Hi there! 2+2?"}], chosen=[{"role": "assistant", "content": "It is 4."}],
         rejected=[{"role": "assistant", "content": "Five, surely."}]),
    dict(prompt=[{"role": "user", "content": "Name a color."}], chosen=[{"role": "assistant", "content": "Blue."}],
         rejected=[{"role": "assistant", "content": "Ünïcödé grün, 日本語"}]),
    dict(prompt=[{"role": "user", "content": "First?"}, {"role": "assistant", "content": "Yes."},
                 {"role": "user", "content": "Second question, a longer one than the window?"}],
         chosen=[{"role": "assistant", "content": "No."}],
         rejected=[{"role": "assistant", "content": "Maybe\nlater."}]),
    dict(prompt=[{"role": "user", "content": "  Spaces first"}], chosen=[{"role": "assistant", "content": "ok"}],
         rejected=[{"role": "assistant", "content": "\tnot ok at all"}]),
]


def trl_two_steps(model_dir, records, targets, family, reference="base"):
    """2 steps of TRL 1.16's DPOTrainer (sigmoid loss, AdamW, constant rate, clipping 1.0) from a fixed nonzero PEFT
    adapter on `targets`, one batch of all 4 conversational pairs per step (so the Trainer's shuffling cannot matter).
    reference "base": a new adapter through peft_config, set to seeded values, so TRL's reference is the base (the
    adapter switched off; LeanDPO's --reference base); writes the adapter to TRAINING_FIXTURES/<family>_adapter_r2
    and the logged steps to <family>_dpo_2steps.json beside it. reference "initial": that adapter loaded as a
    PeftModel, which TRL copies into a frozen "ref" adapter, so the reference is the model training starts from
    (LeanDPO's default with --init-adapter); writes <family>_dpo_2steps_initial_reference.json. Returns the steps."""
    import tempfile

    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    t = TWO_STEPS
    args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=t["batch"], max_steps=t["steps"],
                     learning_rate=t["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                     max_grad_norm=t["max_grad_norm"], beta=t["beta"], logging_steps=1, save_strategy="no",
                     report_to=[], use_cpu=True, bf16=False, dataloader_num_workers=0, seed=0, max_length=1024)
    adapter = f"{family}_adapter_r2"
    if reference == "initial":
        model = PeftModel.from_pretrained(base, os.path.join(TRAINING_FIXTURES, adapter), is_trainable=True)
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(records), processing_class=tok)
        assert "ref" in trainer.model.peft_config, sorted(trainer.model.peft_config)  # TRL's frozen copy
        name = f"{family}_dpo_2steps_initial_reference.json"
    else:
        assert reference == "base", reference
        # A new adapter through peft_config, so TRL's reference is the base (adapters off). Then the adapter is set
        # to fixed nonzero values (written out for LeanDPO) before the first step.
        peft_config = LoraConfig(r=t["r"], lora_alpha=t["lora_alpha"], lora_dropout=0.0, target_modules=targets,
                                 task_type="CAUSAL_LM")
        trainer = DPOTrainer(model=base, args=args, train_dataset=Dataset.from_list(records), processing_class=tok,
                             peft_config=peft_config)
        g = torch.Generator().manual_seed(77)
        with torch.no_grad():
            for name, p in sorted(trainer.model.named_parameters()):
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.05)
        save_adapter(trainer.model, os.path.join(TRAINING_FIXTURES, adapter))  # reruns give the same bytes
        name = f"{family}_dpo_2steps.json"
    trainer.train()
    keys = ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
            "logps/rejected", "grad_norm"]
    steps = [{k: h[k] for k in keys if k in h} | {"step": h["step"]} for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == t["steps"], steps
    extra = dict(reference="initial") if reference == "initial" else {}
    write_trl_json(os.path.join(TRAINING_FIXTURES, name), train=t, targets=targets, adapter=adapter, records=records,
                   steps=steps, **extra)
    return steps
