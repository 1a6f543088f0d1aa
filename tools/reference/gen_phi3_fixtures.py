#!/usr/bin/env python3
"""Phi-3 fixtures, offline, from files already committed (no SentencePiece training, no download):
the Llama-2-style SentencePiece tokenizer of gen_spm_tokenizer_fixtures.py (llama_hub, 1200 pieces) with Phi-3's
added tokens (<|endoftext|>, <|assistant|>, placeholders, <|system|>, <|end|>, <|user|>, laid out as in
Phi-3-mini-4k-instruct, rstrip on the chat markers) and tokenizer_config (add_bos_token false, eos <|endoftext|>),
Phi-3's chat template (Tests/ChatTemplateTests/Fixtures/templates/phi3.jinja), a tiny random Phi3ForCausalLM
(hidden 64, 2 layers, 4 heads / 2 kv heads, fused qkv_proj and gate_up_proj, sliding_window 4, untied), the same
model as a GGUF laid out as llama.cpp's converter writes Phi-3 (architecture phi3, attn_qkv, fused ffn_up,
phi3.attention.sliding_window, phi3.rope.scaling.original_context_length), its logits, and the same weights under
a LongRoPE config (short and long factors, original length 8) with logits below and above the original length.
Pinned: tools/reference/requirements.txt (transformers 5.24.0, trl 1.16.0, peft 0.21.2, gguf 0.19.0, torch 2.13.0+cpu).

    py=$(tools/reference/setup-env); "$py" tools/reference/gen_phi3_fixtures.py

Writes
  Tests/TokenizerTests/Fixtures/spm/phi3/{tokenizer.json,tokenizer_config.json,config.json (model_type only)}
  Tests/TokenizerTests/Fixtures/spm/phi3_dpo.json      TRL 1.16's DPO tokenization of plain and conversational records
  Tests/TokenizerTests/Fixtures/spm/phi3_encodings.json ids and decodes of step 5's 465 strings plus 12 with Phi-3's markers
  Tests/ModelTests/Fixtures/tiny_phi3/                  config.json, model.safetensors, tokenizer files, expected_logits.json
  Tests/ModelTests/Fixtures/tiny_phi3.gguf
  Tests/ModelTests/Fixtures/tiny_phi3_longrope.json     LongRoPE config.json contents and logits (tiny_phi3's weights)
  Tests/TrainingTests/Fixtures/phi3_adapter_r2/         a fixed nonzero PEFT adapter (r 2, alpha 4, qkv_proj, o_proj,
                                                        gate_up_proj, down_proj)
  Tests/TrainingTests/Fixtures/phi3_dpo_2steps.json     TRL's logged loss and metrics for 2 DPO steps from it
"""
import json
import os
import shutil
import sys

import gguf
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import f32, f32_list, versions, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPM = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_FIXTURES = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures")
MODEL_DIR = os.path.join(MODEL_FIXTURES, "tiny_phi3")
TEMPLATE = os.path.join(ROOT, "Tests", "ChatTemplateTests", "Fixtures", "templates", "phi3.jinja")
WINDOW = 4
SEQ_LENGTHS = [7, 13]
# Phi-3-mini's added tokens after its 32000 pieces, here after the 1200 of llama_hub; rstrip as Phi-3 has them.
ADDED = [("<|endoftext|>", False), ("<|assistant|>", True), ("<|placeholder1|>", True), ("<|placeholder2|>", True),
         ("<|placeholder3|>", True), ("<|placeholder4|>", True), ("<|system|>", True), ("<|end|>", True),
         ("<|placeholder5|>", True), ("<|placeholder6|>", True), ("<|user|>", True)]


def tokenizer_dir():
    from tokenizers import AddedToken, Tokenizer

    out = os.path.join(SPM, "phi3")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    # config.json decides which tokenizer class transformers 5 builds: model_type phi3 is one whose hub class
    # (LlamaTokenizer) it overrides, loading tokenizer.json as written (TokenizersBackend).
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "phi3"}, f)
    tok = Tokenizer.from_file(os.path.join(SPM, "llama_hub", "tokenizer.json"))
    tok.add_special_tokens([AddedToken(t, rstrip=r, lstrip=False, normalized=False, special=True) for t, r in ADDED])
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(TEMPLATE) as f:
        template = f.read()
    cfg = {
        "add_bos_token": False, "add_eos_token": False, "bos_token": "<s>", "chat_template": template,
        "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "legacy": False, "model_max_length": 4096,
        "pad_token": "<|endoftext|>", "padding_side": "left", "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return out


def trl_dpo_rows(tok):
    """What TRL 1.16's DPOTrainer tokenizes: plain records get an EOS appended (and BOS only if the tokenizer adds
    one), conversational ones whatever the template renders (Phi-3's has no BOS)."""
    from trl.data_utils import _tokenize, common_prefix_length, is_conversational

    records = [
        dict(prompt="What is the capital of France?", chosen=" Paris.", rejected=" Lyon, I think."),
        dict(prompt=" leading space prompt\n", chosen="\tanswer with tab", rejected="日本語 answer 🙂"),
        dict(prompt="  two leading spaces", chosen="  two more", rejected=" one"),
        dict(prompt=[{"role": "user", "content": "Hi there! 2+2?"}],
             chosen=[{"role": "assistant", "content": "It is 4."}],
             rejected=[{"role": "assistant", "content": "Five, surely."}]),
        dict(prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "First?"},
                     {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "  Second?\n"}],
             chosen=[{"role": "assistant", "content": "No."}],
             rejected=[{"role": "assistant", "content": " Maybe\nlater."}]),
    ]
    rows = []
    for r in records:
        ex = dict(r)
        if not is_conversational(ex):
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


MARKER_STRINGS = [
    "<|user|>\nHi there<|end|>\n<|assistant|>\n", "<|system|>  spaces after<|end|>", "text<|end|>\n\n\nmore",
    "a <|assistant|>   b", "<|endoftext|> after eot", "<|endoftext|>\n", "x<|placeholder3|> y", "<|user|><|user|>\t",
    " <|end|> ", "no markers at all", "<|user|>\n日本語 🙂<|end|>\n", "<|assistant|>\n\t\tcode()<|end|>",
]


def encodings(tok):
    """tokenizers' ids (the post-processor's BOS included) and decodes of the SentencePiece corpus of step 5 plus
    strings with Phi-3's markers inside text (rstrip eats the whitespace after them)."""
    with open(os.path.join(SPM, "spm_encodings.json")) as f:
        strings = json.load(f)["strings"] + MARKER_STRINGS
    ids = [tok(s)["input_ids"] for s in strings]
    return dict(generator="tools/reference/gen_phi3_fixtures.py", strings=strings, ids=ids,
                decoded=[tok.decode(i) for i in ids])


def phi3_config(vocab_size, eos, **extra):
    from transformers import Phi3Config

    kw = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
              vocab_size=vocab_size, max_position_embeddings=256, original_max_position_embeddings=256, bos_token_id=1,
              eos_token_id=eos, pad_token_id=eos, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=WINDOW,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    kw.update(extra)
    return Phi3Config(**kw)


def logits_for(model, seqs):
    with torch.no_grad():
        return [model(input_ids=torch.tensor([s])).logits[0] for s in seqs]  # each (T, V)


def logits_fixture(model, seqs, logits, noise):
    return {
        "format": "leandpo-tiny-logits-v1", "generator": "tools/reference/gen_phi3_fixtures.py", "versions": versions(),
        "model_class": type(model).__name__, "dtype": "float32", "attn_implementation": "eager",
        "parameter_names": sorted(n for n, _ in model.named_parameters()), "f32_vs_f64_max_abs_logit": f32(noise),
        "sequences": [{"token_ids": s, "logits": [f32_list(row) for row in lg]} for s, lg in zip(seqs, logits)],
    }


def tiny_model(tok_dir, tok):
    from transformers import AutoModelForCausalLM

    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = phi3_config(len(tok), eos)
    torch.manual_seed(4321)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * 0.05
            p.copy_(1.0 + noise if "norm" in name else noise)
    shutil.rmtree(MODEL_DIR, ignore_errors=True)
    model.save_pretrained(MODEL_DIR)
    os.remove(os.path.join(MODEL_DIR, "generation_config.json"))
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tok_dir, f), os.path.join(MODEL_DIR, f))

    # Logits for two sequences longer than the window, checked to reload bit for bit.
    g = torch.Generator().manual_seed(99)
    seqs = [torch.randint(0, cfg.vocab_size, (n,), generator=g).tolist() for n in SEQ_LENGTHS]
    logits = logits_for(model, seqs)
    reloaded = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    for a, b in zip(logits, logits_for(reloaded, seqs)):
        assert torch.equal(a, b)
    model64 = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float64, attn_implementation="eager").eval()
    noise = max(float((a.double() - b).abs().max()) for a, b in zip(logits, logits_for(model64, seqs)))
    write_json(os.path.join(MODEL_DIR, "expected_logits.json"), logits_fixture(model, seqs, logits, noise))

    # LongRoPE on the same weights: original length 8, so 6 tokens use the short factors and 13 the long ones;
    # the attention factor comes from max_position_embeddings / original (256 / 8).
    half = cfg.hidden_size // cfg.num_attention_heads // 2
    rope = {"rope_type": "longrope", "rope_theta": 10000.0,
            "short_factor": [round(1.0 + 0.25 * i, 2) for i in range(half)],
            "long_factor": [round(1.5 + 1.75 * i, 2) for i in range(half)]}
    long_cfg = phi3_config(len(tok), eos, original_max_position_embeddings=8, rope_parameters=rope)
    long_model = AutoModelForCausalLM.from_config(long_cfg, dtype=torch.float32, attn_implementation="eager").eval()
    long_model.load_state_dict(model.state_dict())
    long_seqs = [seqs[0][:6], seqs[1]]
    long_logits = logits_for(long_model, long_seqs)
    short_only = logits_for(model, long_seqs)
    assert float((long_logits[1] - short_only[1]).abs().max()) > 1e-2  # LongRoPE changes the logits
    config_json = json.loads(long_cfg.to_json_string(use_diff=False))
    fixture = logits_fixture(long_model, long_seqs, long_logits, 0.0)
    fixture["config"] = config_json
    write_json(os.path.join(MODEL_FIXTURES, "tiny_phi3_longrope.json"), fixture)

    # llama.cpp's converter (Phi3MiniModel): architecture phi3, fused attn_qkv and ffn_up kept, no q/k permutation.
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    tensors = [("token_embd.weight", sd["model.embed_tokens.weight"]), ("output_norm.weight", sd["model.norm.weight"]),
               ("output.weight", sd["lm_head.weight"])]
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.qkv_proj": "attn_qkv",
             "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for layer in range(cfg.num_hidden_layers):
        for hf, gg in names.items():
            tensors.append((f"blk.{layer}.{gg}.weight", np.ascontiguousarray(sd[f"model.layers.{layer}.{hf}.weight"])))
    src = gguf.GGUFReader(os.path.join(SPM, "llama.gguf"))
    base_tokens = [bytes(t.encode("utf-8")) for t in src.fields["tokenizer.ggml.tokens"].contents()]
    assert len(base_tokens) == 1200
    w = gguf.GGUFWriter(os.path.join(MODEL_FIXTURES, "tiny_phi3.gguf"), "phi3")
    w.add_name("tiny_phi3")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_rope_scaling_orig_ctx_len(cfg.original_max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0)
    w.add_sliding_window(WINDOW)
    # Phi3MiniModel.set_vocab: the SentencePiece pieces, then the added tokens as CONTROL (special) with score -1000.
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(base_tokens + [t.encode("utf-8") for t, _ in ADDED])
    w.add_token_scores(list(src.fields["tokenizer.ggml.scores"].contents()) + [-1000.0] * len(ADDED))
    w.add_token_types(list(src.fields["tokenizer.ggml.token_type"].contents()) + [3] * len(ADDED))
    w.add_bos_token_id(1)
    w.add_eos_token_id(eos)
    w.add_unk_token_id(0)
    w.add_pad_token_id(eos)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    with open(TEMPLATE) as f:
        w.add_chat_template(f.read())
    for name, array in tensors:
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model


TRAIN_RECORDS = [
    dict(prompt=[{"role": "user", "content": "Hi there! 2+2?"}], chosen=[{"role": "assistant", "content": "It is 4."}],
         rejected=[{"role": "assistant", "content": "Five, surely."}]),
    dict(prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."}],
         chosen=[{"role": "assistant", "content": "Blue."}],
         rejected=[{"role": "assistant", "content": "Ünïcödé grün, 日本語"}]),
    dict(prompt=[{"role": "user", "content": "First?"}, {"role": "assistant", "content": "Yes."},
                 {"role": "user", "content": "Second question, a longer one than the window?"}],
         chosen=[{"role": "assistant", "content": "No."}], rejected=[{"role": "assistant", "content": "Maybe\nlater."}]),
    dict(prompt=[{"role": "user", "content": "  Spaces first"}], chosen=[{"role": "assistant", "content": "ok"}],
         rejected=[{"role": "assistant", "content": "\tnot ok at all"}]),
]
TRAIN = dict(r=2, lora_alpha=4, lr=5e-3, beta=0.1, batch=4, steps=2, max_grad_norm=1.0)
TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]


def trl_two_steps(model_dir):
    """2 steps of TRL 1.16's DPOTrainer (sigmoid loss, AdamW, constant rate, clipping 1.0) from a fixed nonzero
    PEFT adapter on Phi-3's fused modules, one batch of all 4 conversational pairs per step; the reference is the
    base (a new adapter through peft_config, then set), as LeanDPO's with --init-adapter."""
    import tempfile

    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(2)
    adapter_dir = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "phi3_adapter_r2")
    shutil.rmtree(adapter_dir, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=TRAIN["batch"], max_steps=TRAIN["steps"],
                     learning_rate=TRAIN["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                     max_grad_norm=TRAIN["max_grad_norm"], beta=TRAIN["beta"], logging_steps=1, save_strategy="no",
                     report_to=[], use_cpu=True, bf16=False, dataloader_num_workers=0, seed=0, max_length=1024)
    peft_config = LoraConfig(r=TRAIN["r"], lora_alpha=TRAIN["lora_alpha"], lora_dropout=0.0, target_modules=TARGETS,
                             task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=base, args=args, train_dataset=Dataset.from_list(TRAIN_RECORDS), processing_class=tok,
                         peft_config=peft_config)
    g = torch.Generator().manual_seed(77)
    with torch.no_grad():
        for name, p in sorted(trainer.model.named_parameters()):
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    trainer.model.save_pretrained(adapter_dir)
    os.remove(os.path.join(adapter_dir, "README.md"))
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = None
    cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    trainer.train()
    keys = ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
            "logps/rejected", "grad_norm"]
    steps = [{k: h[k] for k in keys if k in h} | {"step": h["step"]} for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == TRAIN["steps"], steps
    return steps


def main():
    import trl
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    tok_dir = tokenizer_dir()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert type(tok).__name__ == "TokenizersBackend", type(tok)
    with open(os.path.join(SPM, "phi3_encodings.json"), "w", encoding="utf-8") as f:
        json.dump(encodings(tok), f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    rows = trl_dpo_rows(tok)
    with open(os.path.join(SPM, "phi3_dpo.json"), "w", encoding="utf-8") as f:
        json.dump(dict(trl=trl.__version__, variants={"phi3": rows}), f, ensure_ascii=False, indent=1)
    tiny_model(tok_dir, tok)
    steps = trl_two_steps(MODEL_DIR)
    with open(os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "phi3_dpo_2steps.json"), "w") as f:
        json.dump(dict(trl=trl.__version__, train=TRAIN, targets=TARGETS, adapter="phi3_adapter_r2",
                       records=TRAIN_RECORDS, steps=steps), f, ensure_ascii=False, indent=1)
    print(json.dumps(steps))
    print(f"{len(rows)} DPO records; first ids {rows[3]['prompt_ids'][:6]}; wrote {tok_dir}, tiny_phi3, tiny_phi3.gguf")


if __name__ == "__main__":
    main()
