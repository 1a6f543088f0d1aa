# Dequantization fixtures for ModelFilesTests: for each GGML type LeanDPO reads, a few random blocks and
# what the `gguf` package (llama.cpp's gguf-py) dequantizes them to.
# Pinned: gguf 0.19.0, numpy 2.4 (the environment tools/reference/setup-env creates).
# Usage: "$(tools/reference/setup-env)" tools/reference/gen_gguf_fixtures.py Tests/ModelFilesTests/Fixtures/gguf_dequant.json
#
# Blocks come from gguf.quants.quantize where gguf-py has a quantizer (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
# Q5_1), followed by blocks of random raw bytes (every bit pattern of the quants); the K-quants have no
# Python quantizer, so all their blocks are random bytes. The f16 scale fields of random blocks are
# overwritten with finite values so the expected output has no NaN. Expected floats are stored as u32 bit
# patterns so the comparison can be exact.
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

rng = np.random.default_rng(20260821)

# Byte offsets of f16 scale fields inside one block (ggml-common.h).
SCALE_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(qtype, n_blocks):
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        scale = (rng.uniform(0.001, 0.1, size=n_blocks) * rng.choice([-1, 1], size=n_blocks)).astype(np.float16)
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def entry(qtype, raw):
    block, size = GGML_QUANT_SIZES[qtype]
    assert raw.size % size == 0
    expected = dequantize(raw, qtype).astype(np.float32).reshape(-1)
    assert expected.size == raw.size // size * block
    return {
        "type": qtype.name, "id": int(qtype.value), "count": int(expected.size),
        "raw_hex": raw.tobytes().hex(), "expected_bits": [int(b) for b in expected.view(np.uint32)],
    }


def main():
    out = sys.argv[1]
    entries = []
    # Plain floats: normal values plus edge cases (zeros, subnormals, the largest half, infinities).
    x = rng.normal(0, 1, 60).astype(np.float32)
    edges = np.array([0.0, -0.0, 6.0e-8, -6.0e-8, 65504.0, -65504.0, np.inf, -np.inf], dtype=np.float32)
    floats = np.concatenate([x, edges[:4]])
    entries.append(entry(T.F32, floats.view(np.uint8)))
    entries.append(entry(T.F16, quantize(np.concatenate([x, edges]), T.F16).view(np.uint8).reshape(-1)))
    entries.append(entry(T.BF16, quantize(np.concatenate([x, edges[:4], np.array([3.0e38, -1.0e-40], np.float32)]),
                                          T.BF16).reshape(-1)))
    for qtype in [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]:
        data = (rng.normal(0, 0.05, 32 * 4)).astype(np.float32).reshape(4, 32)
        quantized = quantize(data, qtype).reshape(-1)
        entries.append(entry(qtype, np.concatenate([quantized, random_blocks(qtype, 4)])))
    for qtype in [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        entries.append(entry(qtype, random_blocks(qtype, 3)))
    with open(out, "w") as f:
        f.write('{"generator": "tools/reference/gen_gguf_fixtures.py (gguf 0.19.0)",\n"types": [\n')
        f.write(",\n".join(json.dumps(e) for e in entries))
        f.write("\n]}\n")


if __name__ == "__main__":
    main()
