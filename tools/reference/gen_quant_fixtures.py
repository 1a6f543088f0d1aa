"""Blocks quantized by gguf-py (numpy ports of ggml's reference quantizers) for LeanDPO's encoders.

Writes Tests/ModelFilesTests/Fixtures/quant_blocks.json: seeded f32 rows (with zeros, ties and one
constant block) and their Q8_0, Q4_0 and Q4_1 bytes in hex. Run with the pinned environment:
    "$(tools/reference/setup-env)" tools/reference/gen_quant_fixtures.py
"""
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType, quants

root = pathlib.Path(__file__).resolve().parents[2]
rng = np.random.default_rng(20261205)
rows = [
    rng.normal(0, 0.05, 256).astype(np.float32),
    rng.uniform(-3, 3, 256).astype(np.float32),
    np.concatenate([np.zeros(32), np.full(32, 0.25), np.linspace(-1, 1, 64), rng.normal(0, 1, 128)]).astype(np.float32),
    (np.round(rng.normal(0, 4, 256)) / 2).astype(np.float32),  # many exact halves: rounding ties
]
out = {"generator": "tools/reference/gen_quant_fixtures.py", "rows": []}
for row in rows:
    entry = {"values": [float(v) for v in row]}
    for name in ["Q8_0", "Q4_0", "Q4_1"]:
        entry[name.lower()] = quants.quantize(row.reshape(1, -1), GGMLQuantizationType[name]).tobytes().hex()
    out["rows"].append(entry)
path = root / "Tests/ModelFilesTests/Fixtures/quant_blocks.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print(path)
