"""Generate the tiny random Gemma models in Tests/ModelTests/Fixtures/tiny_gemma2/ (and their expected logits), the
same layout as gen_tiny_models.py: config.json + model.safetensors (f32, save_pretrained) and expected_logits.json
(full logits for two sequences, transformers float32 eager attention).
Also Tests/ModelFilesTests/Fixtures/tiny_gemma2_spm/ and tiny_gemma3_spm/ (a tiny Gemma 2 / Gemma 3 with the small
Gemma-style SentencePiece tokenizer of gen_spm_tokenizer_fixtures.py and the family's chat template, HF directory) and
tiny_gemma{2,3}_spm.gguf (the same model as llama.cpp's converter writes it: gemma2/gemma3 keys, norm weights + 1, no
output.weight; the tokenizer keys copied from Tests/TokenizerTests/Fixtures/spm/gemma.gguf plus the <mask> token
transformers adds).
The soft caps are small on purpose: with random weights the raw scores and logits are O(1), and caps of that
order make tanh clearly non-linear, so a missing or misplaced cap shows in the logits.
Pinned: torch==2.13.0+cpu transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
Usage: python tools/reference/gen_tiny_gemma_models.py"""
import json
import os
import shutil
import sys

import gguf
import numpy as np
import torch
from transformers import AutoModelForCausalLM, Gemma2Config, Gemma3TextConfig

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    MODEL_FIXTURES, REPO, add_spm_vocab, f32, finish_gguf, gguf_spm_vocab, logits_for, tiny_logits_fixture)

# head_dim 32 != 64/4, query_pre_attn_scalar 24 != head_dim; 3 layers: sliding, full, sliding, with sliding_window 4
# shorter than the sequences (7, 13), so the sliding layers' mask matters.
MODELS = {
    "tiny_gemma2": (Gemma2Config, dict(
        hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        intermediate_size=128, vocab_size=512, max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
        rms_norm_eps=1e-6, query_pre_attn_scalar=24, attn_logit_softcapping=3.0, final_logit_softcapping=2.0,
        sliding_window=4, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    # Gemma 3 text: q_norm/k_norm, no caps, two RoPEs: the sliding layers at 10000 unscaled, the full layer at 1e6 with
    # linear scaling ×8 (as the 4B+ models).
    "tiny_gemma3": (Gemma3TextConfig, dict(
        hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        intermediate_size=128, vocab_size=512, max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
        rms_norm_eps=1e-6, query_pre_attn_scalar=24, sliding_window=4, tie_word_embeddings=True,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})),
}
SEQ_LENGTHS = [7, 13]
SEED = 4321


def randomize(model, seed):
    """Projections and embeddings ~ N(0, 0.1²) (0.3 for q/k, so attention scores reach the cap); Gemma norm
    weights w ~ N(0, 0.2²) (the norm scales by 1 + w)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            std = 0.2 if "norm" in name else 0.3 if ("q_proj" in name or "k_proj" in name) else 0.1
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std)


SPM_DIR = os.path.join(REPO, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_FILES = os.path.join(REPO, "Tests", "ModelFilesTests", "Fixtures")
TEMPLATES = os.path.join(REPO, "Tests", "ChatTemplateTests", "Fixtures", "templates")
SPM_COMMON = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=32, intermediate_size=128,
                  vocab_size=901, max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
                  rms_norm_eps=1e-6, query_pre_attn_scalar=32, tie_word_embeddings=True)
# The SentencePiece models: query_pre_attn_scalar = head_dim, the scale llama.cpp derives, and layer kinds as
# llama.cpp fixes them (Gemma 2: even layers slide; Gemma 3: all but every 6th), so each GGUF is the same model.
SPM_MODELS = {
    "tiny_gemma2_spm": (Gemma2Config, "gemma.jinja", 50, dict(
        SPM_COMMON, num_hidden_layers=3, attn_logit_softcapping=3.0, final_logit_softcapping=2.0, sliding_window=512,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    # 6 layers, so one is global (RoPE base 1e6, linear ×8, as the 4B+ models) and five slide (base 10000) with a
    # window of 8, shorter than the DPO records. No soft caps (Gemma 3 has none).
    "tiny_gemma3_spm": (Gemma3TextConfig, "gemma3.jinja", 60, dict(
        SPM_COMMON, num_hidden_layers=6, sliding_window=8, layer_types=["sliding_attention"] * 5 + ["full_attention"],
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})),
}


def spm_model(name):
    """An HF directory (the Gemma-style SentencePiece tokenizer of gen_spm_tokenizer_fixtures.py and the family's chat
    template) and the GGUF llama.cpp's Gemma2Model / Gemma3Model write from it (convert_hf_to_gguf.py): no lm_head,
    every *norm.weight + 1 (q/k norms too), the tokenizer keys of spm/gemma.gguf plus the <mask> token transformers
    adds."""
    cls, template_file, offset, kwargs = SPM_MODELS[name]
    config = cls(**kwargs)
    gemma3 = cls is Gemma3TextConfig
    torch.manual_seed(SEED + offset)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager").eval()
    randomize(model, SEED + offset)
    if gemma3:
        # Norm weights on a 2^-20 grid: w + 1 and (w + 1) - 1 are exact in f32, so the GGUF holds exactly the HF
        # model (a GGUF import, and every export from it, has the HF directory's weights bit for bit).
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("norm.weight"):
                    p.copy_(torch.round(p * 2**20) / 2**20)
    out = os.path.join(MODEL_FILES, name)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    os.remove(os.path.join(out, "generation_config.json"))
    shutil.copy(os.path.join(SPM_DIR, "gemma", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    with open(os.path.join(SPM_DIR, "gemma", "tokenizer_config.json")) as f:
        tok_cfg = json.load(f)
    with open(os.path.join(TEMPLATES, template_file)) as f:
        template = f.read()
    tok_cfg["chat_template"] = template
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    tokens, scores, types = gguf_spm_vocab(os.path.join(SPM_DIR, "gemma.gguf"))
    tokens, scores, types = tokens + [b"<mask>"], scores + [0.0], types + [int(gguf.TokenType.CONTROL)]
    assert len(tokens) == config.vocab_size
    w = gguf.GGUFWriter(out + ".gguf", "gemma3" if gemma3 else "gemma2")
    w.add_name(name)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    if gemma3:  # the global layers' base; llama.cpp's sliding layers use 10000
        w.add_rope_freq_base(config.rope_parameters["full_attention"]["rope_theta"])
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_key_length(config.head_dim)
    w.add_value_length(config.head_dim)
    w.add_file_type(0)
    if gemma3:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(config.rope_parameters["full_attention"]["factor"])
    else:
        w.add_attn_logit_softcapping(config.attn_logit_softcapping)
        w.add_final_logit_softcapping(config.final_logit_softcapping)
    w.add_sliding_window(config.sliding_window)
    add_spm_vocab(w, tokens, scores, types, bos=2, eos=1, unk=3, add_bos=True, add_space_prefix=False, pad=0)
    w.add_chat_template(template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3 if gemma3 else gguf.MODEL_ARCH.GEMMA2, config.num_hidden_layers)
    tensors = []
    for n, t in model.state_dict().items():
        if n == "lm_head.weight":
            continue
        data = t.numpy().astype(np.float32)
        if n.endswith("norm.weight"):
            data = data + 1
            assert not gemma3 or np.array_equal(data - 1, t.numpy()), n
        tensors.append((names.get_name(n, try_suffixes=(".weight",)), np.ascontiguousarray(data)))
    finish_gguf(w, tensors)
    print(f"{name}: {sorted(os.listdir(out))} + {name}.gguf ({os.path.getsize(out + '.gguf')} bytes)")


def uncapped_logit(out, seqs, logits):
    """How non-linear the caps are: the largest |logit| without the final cap (relative to it: 1 = saturated)."""
    uncapped = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    uncapped.config.final_logit_softcapping = None
    uncapped.model.config.final_logit_softcapping = None
    return {"max_abs_uncapped_logit": f32(max(float(lg.abs().max()) for lg in logits_for(uncapped, seqs)))}


def main():
    torch.set_num_threads(2)
    for name in SPM_MODELS:
        spm_model(name)
    for i, (name, (cls, kwargs)) in enumerate(MODELS.items()):
        out = os.path.join(MODEL_FIXTURES, name)
        model, noise, more, size = tiny_logits_fixture(
            out, cls, kwargs, SEED + i, SEED + 100 + i, SEQ_LENGTHS, randomize, "tools/reference/gen_tiny_gemma_models.py",
            extra=uncapped_logit)
        files = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
        print(f"{name}: {type(model).__name__} files={files} f32-vs-f64={noise:.2e} "
              f"max|raw logit|={more['max_abs_uncapped_logit']:.3f} json={size}")


if __name__ == "__main__":
    main()
