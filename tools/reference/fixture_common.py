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
