"""Interop check of `leandpo export` (not run by CI): the exports load in the Python stack and agree.
Pinned: torch==2.13.0+cpu transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 gguf==0.19.0 peft==0.21.2
(tools/reference/requirements.txt; run with the python tools/reference/setup-env prints)

Usage:
  leandpo export --model BASE.mtf --to OUT/base-hf                                # the base alone, hf
  leandpo export --model BASE.mtf --adapter RUN --to OUT/merged-hf                # merged, hf
  leandpo export --model BASE.mtf --adapter RUN --to OUT/adapter --format peft    # the adapter, PEFT
  leandpo export --model BASE.mtf --adapter RUN --to OUT/merged.gguf              # merged, GGUF (f32)
  python check_exports.py --base-hf OUT/base-hf --merged-hf OUT/merged-hf --peft OUT/adapter --gguf OUT/merged.gguf \
      [--reference-hf .cache/hf/SmolLM2-135M-Instruct]   # what gguf_to_hf.py writes

Checks, each printed on one line:
  1. transformers loads the merged export (AutoModelForCausalLM, no missing/unexpected weights) and its tokenizer
     (AutoTokenizer); with --reference-hf the tokenizer gives the same ids and chat-template text as the reference
     tokenizer, and the base export's weights equal the reference's.
  2. logits of the merged export == logits of base export + PEFT adapter (PeftModel.from_pretrained), and PEFT's
     merge_and_unload weights == the merged export's weights.
  3. the gguf package reads the GGUF export: keys, vocabulary and chat template match the hf export, and every tensor
     (llama Q/K rows un-permuted) equals the merged hf export's; transformers loading the GGUF (gguf_file=) gives the
     merged export's logits.
Exit status 1 if any check fails.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

FAILED = []


def chat_text(tok, messages):
    """The rendered prompt, or the template's error (Mistral's refuses a system role): both must agree."""
    import jinja2
    try:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except jinja2.exceptions.TemplateError as e:
        return f"TemplateError: {e}"


def report(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        FAILED.append(name)


def load_weights(directory):
    """Every tensor of an hf export (single file or shards)."""
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        out.update(load_file(os.path.join(directory, name)))
    return out


def load_model(directory):
    model, info = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, output_loading_info=True)
    model.eval()
    return model, info


PROMPTS = [
    [{"role": "user", "content": "What is the capital of Switzerland?"}],
    [{"role": "user", "content": "What is 39 plus 3?"}, {"role": "assistant", "content": "39 plus 3 equals 42."}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name three colours, 1 2 3."}],
]
TEXTS = ["Hello world", "abc 2024 x", "  leading spaces\n\ttabs and <|im_start|>special<|im_end|> tokens", "Zürich, 1291 — café"]


def batch_logits(model, tokenizer):
    out = []
    with torch.no_grad():
        for messages in PROMPTS:
            if chat_text(tokenizer, messages).startswith("TemplateError: "):
                # a template that refuses a system message (Gemma's, Mistral's): fold it into the first user turn
                messages = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}] + messages[2:]
                if chat_text(tokenizer, messages).startswith("TemplateError: "):
                    continue
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            out.append(model(torch.tensor([ids])).logits[0])
    return out


def max_diff(a, b):
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def unpermute(w, heads):
    """GGUF (llama.cpp's interleaved rotary halves) → HF row order, per head."""
    rest = w.shape[1:]
    hd = w.shape[0] // heads
    return w.reshape(heads, hd // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


def hf_name(gguf_name, gemma=False, phi3=False):
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    if gguf_name in fixed:
        return fixed[gguf_name]
    _, n, part, kind = gguf_name.split(".")
    if phi3 and part in ("attn_qkv", "ffn_up"):  # Phi-3's fused weights, kept fused by llama.cpp
        return f"model.layers.{n}.{ {'attn_qkv': 'self_attn.qkv_proj', 'ffn_up': 'mlp.gate_up_proj'}[part] }.{kind}"
    module = {
        "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
        "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm", "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    }[part] if not gemma or part not in ("ffn_norm", "post_attention_norm", "post_ffw_norm") else {
        "ffn_norm": "pre_feedforward_layernorm", "post_attention_norm": "post_attention_layernorm",
        "post_ffw_norm": "post_feedforward_layernorm"}[part]
    return f"model.layers.{n}.{module}.{kind}"


def check_gguf(path, merged_dir, merged_logits, tokenizer):
    from gguf import GGUFReader
    from gguf.quants import dequantize

    r = GGUFReader(path)
    fields = {k: v for k, v in r.fields.items()}

    def value(key):
        f = fields[key]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    arch = value("general.architecture")
    with open(os.path.join(merged_dir, "config.json")) as f:
        config = json.load(f)
    # llama.cpp writes Mistral as a llama model, its window (when any) in llama.attention.sliding_window; Gemma 3's
    # text model_type gemma3_text as gemma3.
    window = fields.get(f"{arch}.attention.sliding_window")
    keys_ok = (
        arch == {"mistral": "llama", "gemma3_text": "gemma3"}.get(config["model_type"], config["model_type"])
        and (window.contents() if window else None) == config.get("sliding_window")
        and value(f"{arch}.block_count") == config["num_hidden_layers"]
        and value(f"{arch}.embedding_length") == config["hidden_size"]
        and value(f"{arch}.attention.head_count_kv") == config["num_key_value_heads"]
        and value(f"{arch}.context_length") == config["max_position_embeddings"]
    )
    report("gguf keys", keys_ok, f"architecture {arch}, {len(fields)} keys, {len(r.tensors)} tensors, version {value('GGUF.version')}")
    tokens = value("tokenizer.ggml.tokens")
    vocab_ok = len(tokens) == len(tokenizer) and all(tokenizer.convert_ids_to_tokens(i) == t for i, t in enumerate(tokens[:2000]))
    with open(os.path.join(merged_dir, "chat_template.jinja")) as f:
        template_ok = value("tokenizer.chat_template") == f.read()
    report(
        "gguf tokenizer", vocab_ok and template_ok,
        f"model {value('tokenizer.ggml.model')}, pre {value('tokenizer.ggml.pre')}, {len(tokens)} tokens, "
        + (f"{len(value('tokenizer.ggml.merges'))} merges, " if "tokenizer.ggml.merges" in fields else "scores, ") +
        f"bos {value('tokenizer.ggml.bos_token_id')} eos {value('tokenizer.ggml.eos_token_id')}, chat template equal: {template_ok}")

    hf = load_weights(merged_dir)
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    worst, names, types, lossy = 0.0, set(), set(), 0.0
    for t in r.tensors:
        data = np.array(t.data)
        if t.tensor_type.name not in ("F32", "F16", "BF16"):
            data = dequantize(t.data, t.tensor_type)
        data = data.astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        types.add(t.tensor_type.name)
        if t.name in ("rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"):
            continue  # made from the config's rope scaling (llama3; Phi-3's LongRoPE)
        gemma = arch in ("gemma2", "gemma3")
        name = hf_name(t.name, gemma, phi3=arch == "phi3")
        if gemma and t.name.endswith("norm.weight"):
            data = data - 1  # llama.cpp stores Gemma's (1 + w) norm weights with the + 1 added
        if arch == "llama" and (".attn_q." in t.name or ".attn_k." in t.name):
            data = unpermute(data, heads if ".attn_q." in t.name else kv)
        names.add(name)
        ref = hf[name].float().numpy()
        diff = float(np.abs(data - ref).max())
        if gemma and t.name.endswith("norm.weight"):
            diff = 0.0 if diff <= 1e-6 else diff  # (w + 1) − 1 in f32 rounds w's low bits (|w| < 1: ≤ 6e-8)
        if t.tensor_type.name == "F32":
            worst = max(worst, diff)
        else:  # f16 / bf16 / q8_0 round: compare relative to the tensor's largest value
            lossy = max(lossy, diff / max(float(np.abs(ref).max()), 1e-30))
    same_set = names == set(hf)
    report("gguf tensors == merged hf tensors", same_set and worst == 0.0 and lossy <= 1e-2,
           f"{len(names)} tensors ({', '.join(sorted(types))}), same names {same_set}, max |diff| {worst:.3g} (F32 tensors, exact) "
           f"and {lossy:.3g} relative (others) after un-permuting Q/K")

    extra = {}
    if arch == "gemma2":
        # transformers' GGUF loader reads neither soft cap and assumes query_pre_attn_scalar 256; llama.cpp reads the
        # caps and derives the scale from head_dim (hidden/heads for the 46-layer 27B): give transformers the same.
        layers, hidden, heads = value("gemma2.block_count"), value("gemma2.embedding_length"), value("gemma2.attention.head_count")
        extra = dict(attn_logit_softcapping=float(value("gemma2.attn_logit_softcapping")),
                     final_logit_softcapping=float(value("gemma2.final_logit_softcapping")),
                     query_pre_attn_scalar=int(hidden // heads if layers == 46 else value("gemma2.attention.key_length")))
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path) or ".", gguf_file=os.path.basename(path), dtype=torch.float32, **extra)
    model.eval()
    how = ""
    if config.get("sliding_window") is not None:
        # transformers' GGUF loader builds a LlamaForCausalLM and has no sliding window: run the weights it read
        # in the exported config's class (MistralForCausalLM with the window) instead.
        windowed = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(merged_dir), dtype=torch.float32).eval()
        windowed.load_state_dict(model.state_dict())
        model, how = windowed, f" ({type(windowed).__name__} with the weights transformers read from the GGUF)"
    d = max_diff(batch_logits(model, tokenizer), merged_logits)
    exact = types == {"F32"}
    report("transformers(gguf) logits == merged hf logits", d <= 1e-4 if exact else True,
           f"max |diff| {d:.3g}{how}" + ("" if exact else " (quantized or half-precision GGUF: informative only)"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-hf", required=True)
    p.add_argument("--merged-hf", required=True)
    p.add_argument("--peft", required=True)
    p.add_argument("--gguf")
    p.add_argument("--reference-hf")
    a = p.parse_args()
    torch.manual_seed(0)

    merged, info = load_model(a.merged_hf)
    missing = [k for k in info["missing_keys"] if k != "lm_head.weight"]  # tied: lm_head is the embedding
    report("transformers loads merged hf", not missing and not info["unexpected_keys"],
           f"{type(merged).__name__}, missing {missing}, unexpected {info['unexpected_keys']}, tied {merged.config.tie_word_embeddings}")
    tok = AutoTokenizer.from_pretrained(a.merged_hf)
    report("tokenizer loads", True, f"{type(tok).__name__}, {len(tok)} tokens, bos {tok.bos_token} eos {tok.eos_token} pad {tok.pad_token}")

    if a.reference_hf:
        ref = AutoTokenizer.from_pretrained(a.reference_hf)
        ids_ok = all(tok(t)["input_ids"] == ref(t)["input_ids"] for t in TEXTS)
        chat_ok = all(chat_text(tok, m) == chat_text(ref, m) for m in PROMPTS)
        report("tokenizer == reference tokenizer", ids_ok and chat_ok, f"ids equal on {len(TEXTS)} texts: {ids_ok}, chat template text equal: {chat_ok}")
        ours, theirs = load_weights(a.base_hf), load_weights(a.reference_hf)
        common = set(ours) & set(theirs)
        worst = max(float((ours[k] - theirs[k]).abs().max()) for k in common)
        # a tied reference may also store lm_head.weight; the export leaves it out
        report("base hf weights == reference weights", set(ours) - {"lm_head.weight"} == set(theirs) - {"lm_head.weight"}
               and ("lm_head.weight" in ours) == (not merged.config.tie_word_embeddings) and worst == 0.0,
               f"{len(common)} tensors, max |diff| {worst:.3g}")

    from peft import PeftModel

    with open(os.path.join(a.peft, "adapter_config.json")) as f:
        peft_config = json.load(f)
    base, _ = load_model(a.base_hf)
    with torch.no_grad():
        base_logits = batch_logits(base, tok)
    peft_model = PeftModel.from_pretrained(base, a.peft)
    peft_model.eval()
    merged_logits = batch_logits(merged, tok)
    peft_logits = batch_logits(peft_model, tok)
    d = max_diff(merged_logits, peft_logits)
    moved = max_diff(base_logits, peft_logits)
    attn = peft_model.base_model.model.model.layers[0].self_attn
    scale = (attn.q_proj if hasattr(attn, "q_proj") else attn.qkv_proj).scaling["default"]  # Phi-3: fused qkv_proj
    report("merged hf logits == base hf + PEFT adapter logits", d <= 5e-4,
           f"max |diff| {d:.3g} over {sum(x.numel() for x in merged_logits)} logits; the adapter moves them by {moved:.3g} "
           f"(r {peft_config['r']}, alpha {peft_config['lora_alpha']}, rslora {peft_config['use_rslora']}, scaling {scale:.4g})")

    unloaded = peft_model.merge_and_unload().state_dict()
    ours = load_weights(a.merged_hf)
    worst = max(float((ours[k] - unloaded[k]).abs().max()) for k in ours)
    report("PEFT merge_and_unload weights == merged hf weights", worst <= 1e-6, f"{len(ours)} tensors, max |diff| {worst:.3g}")

    if a.gguf:
        check_gguf(a.gguf, a.merged_hf, merged_logits, tok)

    print("ALL CHECKS PASSED" if not FAILED else f"{len(FAILED)} CHECK(S) FAILED: {', '.join(FAILED)}")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
