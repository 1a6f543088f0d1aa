"""Generate the tiny random Gemma models in Tests/ModelTests/Fixtures/tiny_gemma2/ (and their expected logits), the
same layout as gen_tiny_models.py: config.json + model.safetensors (f32, save_pretrained) and expected_logits.json
(full logits for two sequences, transformers float32 eager attention).
Also Tests/ModelFilesTests/Fixtures/tiny_gemma2_spm/ (a tiny Gemma 2 with the small Gemma-style SentencePiece
tokenizer of gen_spm_tokenizer_fixtures.py and Gemma's chat template, HF directory) and tiny_gemma2_spm.gguf (the same
model as llama.cpp's converter writes it: gemma2 keys, norm weights + 1, no output.weight; the tokenizer keys copied
from Tests/TokenizerTests/Fixtures/spm/gemma.gguf plus the <mask> token transformers adds).
The soft caps are small on purpose: with random weights the raw scores and logits are O(1), and caps of that
order make tanh clearly non-linear, so a missing or misplaced cap shows in the logits.
Pinned: torch==2.13.0+cpu transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
Usage: python tools/reference/gen_tiny_gemma_models.py"""
import json
import os
import shutil
import sys

import torch
import gguf
import numpy as np
from transformers import AutoModelForCausalLM, Gemma2Config, Gemma3TextConfig

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import MODEL_FIXTURES, REPO, f32, f32_list, versions, write_json  # noqa: E402
from gen_tiny_models import logits_for  # noqa: E402

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
TEMPLATE = os.path.join(REPO, "Tests", "ChatTemplateTests", "Fixtures", "templates", "gemma.jinja")


def spm_model():
    """tiny_gemma2_spm: query_pre_attn_scalar = head_dim, the scale llama.cpp derives, so the GGUF is the same model."""
    config = Gemma2Config(
        hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        intermediate_size=128, vocab_size=901, max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
        rms_norm_eps=1e-6, query_pre_attn_scalar=32, attn_logit_softcapping=3.0, final_logit_softcapping=2.0,
        sliding_window=512, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(SEED + 50)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager").eval()
    randomize(model, SEED + 50)
    out = os.path.join(MODEL_FILES, "tiny_gemma2_spm")
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    os.remove(os.path.join(out, "generation_config.json"))
    shutil.copy(os.path.join(SPM_DIR, "gemma", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    with open(os.path.join(SPM_DIR, "gemma", "tokenizer_config.json")) as f:
        tok_cfg = json.load(f)
    with open(TEMPLATE) as f:
        template = f.read()
    tok_cfg["chat_template"] = template
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    # The GGUF llama.cpp's Gemma2Model writes (convert_hf_to_gguf.py): no lm_head, every *norm.weight + 1.
    reader = gguf.GGUFReader(os.path.join(SPM_DIR, "gemma.gguf"))
    field = lambda k: reader.fields[k]
    tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]) for i in field("tokenizer.ggml.tokens").data] + [b"<mask>"]
    scores = [float(field("tokenizer.ggml.scores").parts[i][0]) for i in field("tokenizer.ggml.scores").data] + [0.0]
    types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    types.append(int(gguf.TokenType.CONTROL))
    assert len(tokens) == config.vocab_size
    w = gguf.GGUFWriter(out + ".gguf", "gemma2")
    w.add_name("tiny_gemma2_spm")
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_key_length(config.head_dim)
    w.add_value_length(config.head_dim)
    w.add_file_type(0)
    w.add_attn_logit_softcapping(config.attn_logit_softcapping)
    w.add_final_logit_softcapping(config.final_logit_softcapping)
    w.add_sliding_window(config.sliding_window)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    w.add_unk_token_id(3)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    w.add_chat_template(template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA2, config.num_hidden_layers)
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        data = t.numpy().astype(np.float32)
        if name.endswith("norm.weight"):
            data = data + 1
        w.add_tensor(names.get_name(name, try_suffixes=(".weight",)), np.ascontiguousarray(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"tiny_gemma2_spm: {sorted(os.listdir(out))} + tiny_gemma2_spm.gguf ({os.path.getsize(out + '.gguf')} bytes)")


def main():
    torch.set_num_threads(2)
    spm_model()
    for i, (name, (cls, kwargs)) in enumerate(MODELS.items()):
        out = os.path.join(MODEL_FIXTURES, name)
        shutil.rmtree(out, ignore_errors=True)
        torch.manual_seed(SEED + i)
        config = cls(**kwargs)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager").eval()
        randomize(model, SEED + i)
        model.save_pretrained(out)
        os.remove(os.path.join(out, "generation_config.json"))
        g = torch.Generator().manual_seed(SEED + 100 + i)
        seqs = [torch.randint(0, config.vocab_size, (n,), generator=g).tolist() for n in SEQ_LENGTHS]
        logits = logits_for(model, seqs)

        # How non-linear the caps are: the largest |logit| relative to its cap (1 = saturated).
        uncapped = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
        uncapped.config.final_logit_softcapping = None
        uncapped.model.config.final_logit_softcapping = None
        raw = max(float(lg.abs().max()) for lg in logits_for(uncapped, seqs))

        reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
        for a, b in zip(logits, logits_for(reloaded, seqs)):
            assert torch.equal(a, b), name
        model64 = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float64, attn_implementation="eager").eval()
        noise = max(float((a.double() - b).abs().max()) for a, b in zip(logits, logits_for(model64, seqs)))

        fixture = {
            "format": "leandpo-tiny-logits-v1",
            "generator": "tools/reference/gen_tiny_gemma_models.py",
            "versions": versions(),
            "model_class": type(model).__name__,
            "dtype": "float32",
            "attn_implementation": "eager",
            "parameter_names": sorted(n for n, _ in model.named_parameters()),
            "f32_vs_f64_max_abs_logit": f32(noise),
            "max_abs_uncapped_logit": f32(raw),
            "sequences": [{"token_ids": s, "logits": [f32_list(row) for row in lg]} for s, lg in zip(seqs, logits)],
        }
        size = write_json(os.path.join(out, "expected_logits.json"), fixture)
        files = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
        print(f"{name}: {type(model).__name__} files={files} f32-vs-f64={noise:.2e} max|raw logit|={raw:.3f} json={size}")


if __name__ == "__main__":
    main()
