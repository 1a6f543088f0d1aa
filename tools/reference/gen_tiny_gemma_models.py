"""Generate the tiny random Gemma models in Tests/ModelTests/Fixtures/tiny_gemma2/ (and their expected logits), the
same layout as gen_tiny_models.py: config.json + model.safetensors (f32, save_pretrained) and expected_logits.json
(full logits for two sequences, transformers float32 eager attention).
The soft caps are small on purpose: with random weights the raw scores and logits are O(1), and caps of that
order make tanh clearly non-linear, so a missing or misplaced cap shows in the logits.
Pinned: torch==2.13.0+cpu transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
Usage: python tools/reference/gen_tiny_gemma_models.py"""
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM, Gemma2Config

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import MODEL_FIXTURES, f32, f32_list, versions, write_json  # noqa: E402
from gen_tiny_models import logits_for  # noqa: E402

# head_dim 32 != 64/4, query_pre_attn_scalar 24 != head_dim; 3 layers: sliding, full, sliding. sliding_window 512
# is longer than the sequences (LeanDPO attends globally until the window lands).
MODELS = {
    "tiny_gemma2": (Gemma2Config, dict(
        hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        intermediate_size=128, vocab_size=512, max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
        rms_norm_eps=1e-6, query_pre_attn_scalar=24, attn_logit_softcapping=3.0, final_logit_softcapping=2.0,
        sliding_window=512, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
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


def main():
    torch.set_num_threads(2)
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
