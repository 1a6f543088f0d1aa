"""Turn the SmolLM2 GGUF into an f32 Hugging Face directory (config.json, model.safetensors, tokenizer files)
so transformers / PEFT / TRL can run the same model as LeanDPO. The output is a cache, never committed.
Pinned: torch==2.13.0+cpu transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 gguf==0.19.0 (tools/reference/requirements.txt)

Usage: "$(tools/reference/setup-env)" tools/reference/gguf_to_hf.py [GGUF] [OUT_DIR]
  defaults: CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf -> CACHE/hf/SmolLM2-135M-Instruct, CACHE being
  $LEANDPO_CACHE or the repository's .cache (LEANDPO_GGUF and LEANDPO_HF_DIR override each)

The tokenizer transformers rebuilds from a GGUF uses a plain ByteLevel pre-tokenizer; SmolLM2's real one (and
llama.cpp's `smollm` pre-type) first splits every digit on its own. tokenizer.json is patched to
Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)].
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import GGUF_PATH as DEFAULT_GGUF, HF_DIR as DEFAULT_OUT  # noqa: E402

SMOLLM2_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}


def patch_pre_tokenizer(out_dir):
    """Replace the rebuilt ByteLevel-only pre-tokenizer with SmolLM2's Digits+ByteLevel sequence."""
    path = os.path.join(out_dir, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    before = data.get("pre_tokenizer")
    data["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
    return before


def main():
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GGUF
    out = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    src, name = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    model.config.quantization_config = None  # weights are already dequantized to f32
    model.hf_quantizer = None
    model.is_quantized = False
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    before = patch_pre_tokenizer(out)
    print("pre_tokenizer was:", json.dumps(before))
    print("pre_tokenizer now:", json.dumps(SMOLLM2_PRE_TOKENIZER))

    # Self-check: the reloaded tokenizer splits digits individually, and the model reloads.
    tok2 = AutoTokenizer.from_pretrained(out)
    ids = tok2("abc 2024 x", add_special_tokens=False)["input_ids"]
    pieces = tok2.convert_ids_to_tokens(ids)
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["2", "0", "2", "4"], pieces
    print("digits check ok:", pieces)
    print("wrote", out)


if __name__ == "__main__":
    main()
