# Fixture for ModelFilesTests: what transformers dequantizes from the SmolLM2 Q4_1 GGUF, per tensor:
# shape, sum, sum of squares (both float64) and 16 values at fixed flat indices.
# Pinned: torch 2.13 (cpu), transformers 5.24, gguf 0.19, numpy (the environment tools/reference/setup-env creates).
# Usage: "$(tools/reference/setup-env)" tools/reference/gen_smollm2_gguf_fixture.py GGUF OUT.json
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def sample_indices(numel):
    # Same formula as SmolLM2GGUFTests.swift: (k * 2654435761 + 97) mod numel, k = 0..15.
    return [(k * 2654435761 + 97) % numel for k in range(16)]


def main():
    path, out = sys.argv[1], sys.argv[2]
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), dtype=torch.float32)
    cfg = model.config
    tensors = []
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        a = t.detach().to(torch.float32).numpy().astype(np.float64).reshape(-1)
        tensors.append({
            "name": name,
            "shape": list(t.shape),
            "sum": float(a.sum()),
            "sum_sq": float((a * a).sum()),
            "indices": sample_indices(a.size),
            "values": [float(np.float32(a[i])) for i in sample_indices(a.size)],
        })
    config = {k: getattr(cfg, k) for k in [
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings", "vocab_size",
        "tie_word_embeddings"]}
    rp = getattr(cfg, "rope_parameters", None) or {}
    config["rope_theta"] = rp.get("rope_theta", getattr(cfg, "rope_theta", None))
    with open(out, "w") as f:
        # One tensor per line keeps the committed file small and diffable.
        f.write('{"source": %s,\n"config": %s,\n"tensors": [\n' % (json.dumps(os.path.basename(path)), json.dumps(config)))
        f.write(",\n".join(json.dumps(t) for t in tensors))
        f.write("\n]}\n")


if __name__ == "__main__":
    main()
