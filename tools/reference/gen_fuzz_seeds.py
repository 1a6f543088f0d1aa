"""Write the raw inputs tools/fuzz-seeds turns into the fuzzers' seed corpora (Tests/Fuzz/corpus/): a tiny
Llama (hidden 16, one layer, a byte-level BPE vocabulary of 256 bytes + merges + ChatML tokens) as a Hugging
Face directory and as a GGUF file, small safetensors files, tokenizer.json variants, preference records in
every accepted form and train configs. Real formats from real writers (safetensors, gguf-py); small on purpose.
Pinned: gguf==0.19.0 safetensors==0.8.0 numpy==2.4.6
Usage: python tools/reference/gen_fuzz_seeds.py OUT_DIR"""
import json
import os
import sys

import numpy as np
from gguf import GGUFWriter
from safetensors.numpy import save_file

out = sys.argv[1]
rng = np.random.default_rng(20261205)
D, F, H, HK, L = 16, 32, 2, 1, 1


def byte_chars():
    """GPT-2's bytes_to_unicode: every byte gets a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


tokens = byte_chars()
merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s")]
for a, b in merges:
    tokens.append(a + b)
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
tokens += specials
V = len(tokens)
BOS, EOS = V - 2, V - 1
TEMPLATE = open(os.path.join(os.path.dirname(__file__), "../../Tests/ChatTemplateTests/Fixtures/templates/smollm2.jinja")).read()


def w(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def tensor(*shape):
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


# MARK: - Hugging Face directory (config, tokenizer, weights)
hf = os.path.join(out, "hf")
weights = {"model.embed_tokens.weight": tensor(V, D), "model.norm.weight": np.ones(D, np.float32), "lm_head.weight": tensor(V, D)}
for i in range(L):
    p = f"model.layers.{i}."
    weights.update({
        p + "input_layernorm.weight": np.ones(D, np.float32), p + "post_attention_layernorm.weight": np.ones(D, np.float32),
        p + "self_attn.q_proj.weight": tensor(D, D), p + "self_attn.k_proj.weight": tensor(D * HK // H, D),
        p + "self_attn.v_proj.weight": tensor(D * HK // H, D), p + "self_attn.o_proj.weight": tensor(D, D),
        p + "mlp.gate_proj.weight": tensor(F, D), p + "mlp.up_proj.weight": tensor(F, D), p + "mlp.down_proj.weight": tensor(D, F),
    })
os.makedirs(hf, exist_ok=True)
save_file(weights, os.path.join(hf, "model.safetensors"), metadata={"format": "pt"})
w(os.path.join(hf, "config.json"), json.dumps({
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": D, "intermediate_size": F,
    "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": HK, "rms_norm_eps": 1e-5, "vocab_size": V,
    "max_position_embeddings": 256, "hidden_act": "silu", "bos_token_id": BOS, "eos_token_id": EOS,
    "tie_word_embeddings": False, "rope_theta": 10000.0, "torch_dtype": "float32"}, indent=1))
added = [{"id": tokens.index(s), "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
          "special": True} for s in specials]
tokenizer = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
              "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": {t: i for i, t in enumerate(tokens) if t not in specials}, "merges": [[a, b] for a, b in merges]},
}
w(os.path.join(hf, "tokenizer.json"), json.dumps(tokenizer, ensure_ascii=False))
w(os.path.join(hf, "tokenizer_config.json"), json.dumps({
    "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "add_bos_token": False, "chat_template": TEMPLATE}))

# tokenizer.json variants: string merges, a Split pre-tokenizer with a regex, a Metaspace one
t2 = json.loads(json.dumps(tokenizer))
t2["model"]["merges"] = [f"{a} {b}" for a, b in merges]
t2["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
                       "behavior": "Isolated", "invert": False}
w(os.path.join(out, "tokenizer", "string-merges-split-regex.json"), json.dumps(t2, ensure_ascii=False))
w(os.path.join(out, "tokenizer", "byte-level.json"), json.dumps(tokenizer, ensure_ascii=False))

# MARK: - GGUF
os.makedirs(os.path.join(out, "gguf"), exist_ok=True)
g = GGUFWriter(os.path.join(out, "gguf", "tiny-llama.gguf"), "llama")
g.add_name("tiny fuzz seed")
g.add_context_length(256)
g.add_embedding_length(D)
g.add_block_count(L)
g.add_feed_forward_length(F)
g.add_head_count(H)
g.add_head_count_kv(HK)
g.add_rope_freq_base(10000.0)
g.add_layer_norm_rms_eps(1e-5)
g.add_vocab_size(V)
g.add_tokenizer_model("gpt2")
g.add_tokenizer_pre("smollm")
g.add_token_list(tokens)
g.add_token_types([1] * (V - len(specials)) + [3] * len(specials))
g.add_token_merges([f"{a} {b}" for a, b in merges])
g.add_bos_token_id(BOS)
g.add_eos_token_id(EOS)
g.add_add_bos_token(False)
g.add_chat_template(TEMPLATE)
names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
for i in range(L):
    for hf_name, gg in [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"), ("self_attn.q_proj", "attn_q"),
                        ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
                        ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down")]:
        names[f"model.layers.{i}.{hf_name}.weight"] = f"blk.{i}.{gg}.weight"
for hf_name, gg in names.items():
    t = weights[hf_name]
    g.add_tensor(gg, t.astype(np.float16) if t.ndim == 2 and "embd" not in gg else t)
g.write_header_to_file()
g.write_kv_data_to_file()
g.write_tensors_to_file()
g.close()

# MARK: - safetensors: f32, f16 and bf16 (as raw u16), an empty file, metadata only
st = os.path.join(out, "safetensors")
os.makedirs(st, exist_ok=True)
save_file({"a": tensor(3, 4), "b": tensor(5)}, os.path.join(st, "f32.safetensors"))
save_file({"w": tensor(2, 3).astype(np.float16), "scalar": np.array(1.5, np.float16)}, os.path.join(st, "f16.safetensors"),
          metadata={"format": "pt"})
save_file({"x": np.zeros((0, 4), np.float32)}, os.path.join(st, "empty-tensor.safetensors"))
hdr = json.dumps({"__metadata__": {"format": "pt"}, "b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
with open(os.path.join(st, "bf16.safetensors"), "wb") as f:
    f.write(len(hdr).to_bytes(8, "little") + hdr + bytes([0x80, 0x3F, 0x00, 0x40, 0x40, 0x40, 0x80, 0xBF]))

# MARK: - preference data: JSONL and JSON array, standard and conversational, explicit and implicit prompt
pref = os.path.join(out, "preferences")
conv = lambda role, text: {"role": role, "content": text}
w(os.path.join(pref, "standard.jsonl"), "\n".join(json.dumps(r) for r in [
    {"prompt": "What is 2+2?", "chosen": " 4", "rejected": " 5"},
    {"prompt": "Say hi", "chosen": " Hi!", "rejected": " No.", "extra": [1, 2]},
]) + "\n")
w(os.path.join(pref, "conversational.jsonl"), json.dumps({
    "prompt": [conv("system", "Be brief."), conv("user", "Capital of France?")],
    "chosen": [conv("assistant", "Paris.")], "rejected": [conv("assistant", "Lyon.")]}) + "\n")
w(os.path.join(pref, "implicit-prompt.jsonl"), json.dumps({
    "chosen": [conv("user", "Hi"), conv("assistant", "Hello!")], "rejected": [conv("user", "Hi"), conv("assistant", "Go away.")]}) + "\n"
  + json.dumps({"chosen": "Q: one? A: 1", "rejected": "Q: one? A: 2"}) + "\n")
w(os.path.join(pref, "array.json"), json.dumps([{"prompt": "ünïcödé 🙂", "chosen": "yes\n", "rejected": "no\t"}], ensure_ascii=False))

# MARK: - train configs (YAML), with the option names the README documents
cfg = os.path.join(out, "yaml-config")
w(os.path.join(cfg, "basic.yaml"), "model: base.mtf\ndata: prefs.jsonl\noutput: runs/a\nbeta: 0.1\nlr: 5.0e-5\n"
  "lora_r: 8\nlora_alpha: 16\nlora_targets: [q_proj, v_proj]\nmax_steps: 100\nsave_steps: 10\nseed: 42\n")
w(os.path.join(cfg, "dashes-and-types.yaml"), "---\nlr: 1e-4\nbatch-size: 2\ngrad-accum: 4\n"
  "max-length: 512\nloss: sigmoid\nlr-scheduler-type: cosine\nwarmup-ratio: 0.1\nlabel-smoothing: 0.0\n"
  "no-shuffle: true\nrslora: false\n# comment\n")
w(os.path.join(cfg, "anchors.yaml"), "beta: &b 0.2\nlora_r: &r 4\nlora_alpha: *r\nmodel: \"quoted: value\"\ndata: 'single'\n"
  "output: |\n  literal\n")
