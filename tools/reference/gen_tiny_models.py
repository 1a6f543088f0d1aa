"""Generate the tiny random models in Tests/ModelTests/Fixtures/{tiny_qwen2,tiny_qwen3,tiny_llama3,tiny_mistral}/:
config.json + model.safetensors (f32, written by transformers save_pretrained) and expected_logits.json
(full logits for two sequences, transformers float32 eager attention).
Pinned: torch==2.13.0+cpu transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
Usage: python tools/reference/gen_tiny_models.py"""
import os
import sys

import torch
from transformers import LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import MODEL_FIXTURES, randomize_small, tiny_logits_fixture  # noqa: E402

COMMON = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
              vocab_size=512, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=None)

MODELS = {
    # Qwen2: q/k/v always have a bias (o_proj none); tied embeddings like the small Qwen2.5 models.
    "tiny_qwen2": (Qwen2Config, dict(COMMON, rms_norm_eps=1e-6, tie_word_embeddings=True,
                                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    # Qwen3: q_norm/k_norm over head_dim before RoPE; head_dim 32 != 64/4; no attention bias; tied.
    "tiny_qwen3": (Qwen3Config, dict(COMMON, head_dim=32, rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=False,
                                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    # Llama with llama3 rope scaling and an untied lm_head. theta 10000 and original_max_position_embeddings 64 put the
    # 8 frequency pairs (head_dim 16) in all three llama3 regimes: pair 0 kept (wavelen 6.3 < 16), pairs 1-2 smoothed
    # (16 <= wavelen <= 64), pairs 3-7 divided by factor (wavelen > 64).
    "tiny_llama3": (LlamaConfig, dict(COMMON, rms_norm_eps=1e-5, tie_word_embeddings=False,
                                      rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                       "original_max_position_embeddings": 64})),
    # Mistral: Llama's layout with a sliding window of 4 keys (a query at i sees i-3..i), shorter than both
    # sequences (7 and 13), so the window changes every logit from position 4 on; untied lm_head.
    "tiny_mistral": (MistralConfig, dict(COMMON, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=4,
                                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
}
SEQ_LENGTHS = [7, 13]
SEED = 1234


def main():
    torch.set_num_threads(2)
    for i, (name, (cls, kwargs)) in enumerate(MODELS.items()):
        out = os.path.join(MODEL_FIXTURES, name)
        model, noise, _, size = tiny_logits_fixture(
            out, cls, kwargs, SEED + i, SEED + 100 + i, SEQ_LENGTHS, randomize_small, "tools/reference/gen_tiny_models.py")
        files = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
        print(f"{name}: {type(model).__name__} files={files} f32-vs-f64={noise:.2e} json={size}")


if __name__ == "__main__":
    main()
