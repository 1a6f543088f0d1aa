#!/usr/bin/env python3
"""SentencePiece tokenizer fixtures, offline: trains two small SentencePiece BPE models (byte fallback on) on a
mixed-text corpus this script writes, converts them to tokenizer.json with transformers, writes GGUF tokenizer
metadata with gguf-py, and records the ids `tokenizers` gives on a corpus of a few hundred strings.
Pinned: tools/reference/requirements.txt (tokenizers 0.23.3, transformers 5.24.0, sentencepiece 0.2.1, gguf 0.19.0,
trl 1.16.0, torch 2.13.0+cpu).

    py=$(tools/reference/setup-env); "$py" tools/reference/gen_spm_tokenizer_fixtures.py

Writes Tests/TokenizerTests/Fixtures/spm/:
  <variant>/tokenizer.json, tokenizer_config.json   one directory per tokenizer.json variant:
      llama_hub        Llama 2 / Mistral files on the Hub: normalizer Prepend("▁") + Replace(" ", "▁") (transformers 4)
      llama_legacy     transformers 5, legacy=True: Metaspace(prepend_scheme="always", split=False)
      llama_nonlegacy  transformers 5, legacy=False: Metaspace(prepend_scheme="first", split=False)
      gemma            GemmaTokenizer: Replace(" ", "▁") only, no dummy prefix, unk token, no Strip decoder
  llama.gguf, gemma.gguf   tokenizer.ggml.* only (model "llama": tokens, scores, token types, add_space_prefix)
  spm_encodings.json       the strings, and per variant the `tokenizers` ids and decodes; which variant each GGUF
                           must match (llama.cpp's SentencePiece rules are the Hub-style normalizer's)
  spm_dpo.json             TRL 1.16 DPO tokenization (prompt/chosen/rejected ids) of plain and conversational
                           records with the llama_hub tokenizer and a Llama 2 chat template writing {{ bos_token }}
and Tests/ModelFilesTests/Fixtures/tiny_llama_spm/ (a tiny random Llama with the llama_hub tokenizer, HF directory)
plus tiny_llama_spm.gguf (the same weights and tokenizer as llama.cpp's converter lays them out).
"""
import json
import os
import random
import shutil
import sys
import tempfile

import gguf
import sentencepiece as spm
import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    DPO_RECORDS, add_llama_keys, add_spm_vocab, finish_gguf, llama_gguf_tensors, trl_dpo_rows)
from gen_tokenizer_fixtures import FRAGMENTS, HAND, LONG, random_scalars, random_strings  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_OUT = os.path.join(ROOT, "Tests", "ModelFilesTests", "Fixtures")

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# MARK: - Corpora


def training_text(seed):
    """Mixed text: English-ish fragment soup, code, numbers, a little of many scripts, whitespace runs."""
    rng = random.Random(seed)
    lines = random_strings(4000, seed)
    prose = ("The quick brown fox jumps over the lazy dog. A tokenizer splits text into pieces; "
             "SentencePiece treats the space as a symbol and falls back to bytes for rare characters. ")
    lines += [prose * 3, "def main():\n    return 42\n", "for i in range(10):\n\tprint(i)\n"] * 50
    lines += ["日本語のテキストと中文文本。", "Привет, мир! Как дела?", "नमस्ते दुनिया", "مرحبا بالعالم"] * 40
    lines += [" ".join(str(rng.randint(0, 10 ** rng.randint(1, 6))) for _ in range(12)) for _ in range(200)]
    return "\n".join(lines)


SPM_STRINGS = [
    "<s>", "</s>", "<unk>", "<s>Hello", "Hello</s>", "<s> Hello", "Hello </s> world", "a<s>b</s>c",
    "</s></s>", "<s><s>", " <s>", "<s> ", "x <unk> y", "<bos>text<eos>", "<start_of_turn>user\nHi<end_of_turn>\n",
    "[INST] What is 2+2? [/INST] 4", "<<SYS>>\nBe brief.\n<</SYS>>\n\nHi",
    "\u0000", "\u001b[31mred\u001b[0m", "\u007f", "tab\there", "\u2581already\u2581marked", "▁", "▁▁", " ▁ ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱𠝹", "🦄🦄", "🧑‍💻", "ǅ", "ﬁ", "Ａｂｃ", "\ufeffBOM", "\u00ad", "\u2028", "\u0301",
    " ", "  ", "   ", "\n", "\n\n", " \n ", "\t", "\r\n", "0", "007", "3.14159", "1e-10", "  leading", "trailing  ",
]


def corpus():
    strings = list(HAND) + [s[:300] for s in LONG] + random_strings(150, 99) + random_scalars(60, 77) + SPM_STRINGS
    return list(dict.fromkeys(strings))  # first occurrences, in order


# MARK: - Training and conversion


def train(text_path, prefix, **kw):
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, model_type="bpe", byte_fallback=True, character_coverage=0.9995,
        normalization_rule_name="identity", remove_extra_whitespaces=False, split_digits=True,
        allow_whitespace_only_pieces=True, minloglevel=2, num_threads=1, **kw)
    return prefix + ".model"


def convert(model_path, tmp, name, tokenizer_config):
    """transformers' own conversion of a SentencePiece .model (the slow → fast converters), saved to OUT/name."""
    from transformers import AutoTokenizer

    src = os.path.join(tmp, "src_" + name)
    os.makedirs(src, exist_ok=True)
    shutil.copy(model_path, os.path.join(src, "tokenizer.model"))
    with open(os.path.join(src, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f)
    tok = AutoTokenizer.from_pretrained(src)
    out = os.path.join(OUT, name)
    tok.save_pretrained(out)
    for extra in ["tokenizer.model", "special_tokens_map.json"]:
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))
    cfg_path = os.path.join(out, "tokenizer_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg.pop("vocab_file", None)  # a temporary path: would make reruns differ
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    return out


def hub_style(legacy_dir, out_name):
    """The Llama 2 / Mistral tokenizer.json as the Hub has it (transformers 4's LlamaConverter): the dummy
    prefix and the space replacement as a normalizer applied to each piece between added tokens."""
    out = os.path.join(OUT, out_name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(legacy_dir, "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    j["pre_tokenizer"] = None
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, indent=1)
    with open(os.path.join(legacy_dir, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg["chat_template"] = LLAMA2_TEMPLATE
    cfg["legacy"] = True  # Llama 2's own files predate the flag; legacy is the behaviour they were made with
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return out


def write_gguf(model_path, path, add_space_prefix, bos, eos, unk, add_bos, tensors=None, arch="llama", config=None):
    """tokenizer.ggml.* as llama.cpp's convert_hf_to_gguf _create_vocab_sentencepiece writes them."""
    sp = spm.SentencePieceProcessor(model_file=model_path)
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        t = gguf.TokenType.NORMAL
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        elif sp.id_to_piece(i).startswith("<") and sp.id_to_piece(i).endswith(">") and sp.get_score(i) == 0:
            t = gguf.TokenType.USER_DEFINED
        types.append(int(t))
    w = gguf.GGUFWriter(path, arch)
    if config is not None:
        config(w)
    add_spm_vocab(w, tokens, scores, types, bos, eos, unk, add_bos, add_space_prefix)
    finish_gguf(w, tensors or [])


# MARK: - DPO records through TRL's tokenization




# MARK: - Tiny random Llama with the SentencePiece tokenizer


def tiny_model(tok_dir, model_path, vocab_size):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=64, vocab_size=vocab_size, max_position_embeddings=256, bos_token_id=1,
                      eos_token_id=2, pad_token_id=None, rms_norm_eps=1e-5, tie_word_embeddings=True,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(1234)
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + (1.0 if p.dim() == 1 else 0.0))
    out = os.path.join(MODEL_OUT, "tiny_llama_spm")
    if os.path.exists(out):
        shutil.rmtree(out)
    model.save_pretrained(out, safe_serialization=True)
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tok_dir, f), os.path.join(out, f))

    # The same model as llama.cpp's converter writes it: GGUF names, q/k rows permuted for its rope layout.
    def config(w):
        add_llama_keys(w, "tiny_llama_spm", cfg)
        w.add_vocab_size(vocab_size)
        w.add_file_type(0)
        with open(os.path.join(tok_dir, "tokenizer_config.json")) as f:
            w.add_chat_template(json.load(f)["chat_template"])

    tensors = llama_gguf_tensors(model, cfg, lm_head=False)
    write_gguf(model_path, os.path.join(MODEL_OUT, "tiny_llama_spm.gguf"), True, 1, 2, 0, True, tensors, config=config)


# MARK: - Main


def main():
    from transformers import AutoTokenizer

    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    text_path = os.path.join(tmp, "corpus.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(training_text(20261205))

    llama_model = train(text_path, os.path.join(tmp, "llama"), vocab_size=1200, add_dummy_prefix=True,
                        unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    gemma_model = train(text_path, os.path.join(tmp, "gemma"), vocab_size=900, add_dummy_prefix=False,
                        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
                        bos_piece="<bos>", unk_piece="<unk>",
                        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"])

    llama_cfg = dict(tokenizer_class="LlamaTokenizer", add_bos_token=True, add_eos_token=False, bos_token="<s>",
                     eos_token="</s>", unk_token="<unk>")
    legacy = convert(llama_model, tmp, "llama_legacy", dict(llama_cfg, legacy=True))
    nonlegacy = convert(llama_model, tmp, "llama_nonlegacy", dict(llama_cfg, legacy=False, chat_template=LLAMA2_TEMPLATE))
    hub = hub_style(legacy, "llama_hub")
    convert(gemma_model, tmp, "gemma", dict(tokenizer_class="GemmaTokenizer", add_bos_token=True, add_eos_token=False,
                                            bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>"))
    write_gguf(llama_model, os.path.join(OUT, "llama.gguf"), True, 1, 2, 0, True)
    write_gguf(gemma_model, os.path.join(OUT, "gemma.gguf"), False, 2, 1, 3, True)

    strings = corpus()
    variants = {}
    for name in ["llama_hub", "llama_legacy", "llama_nonlegacy", "gemma"]:
        tok = Tokenizer.from_file(os.path.join(OUT, name, "tokenizer.json"))
        enc = [tok.encode(s) for s in strings]
        ids = [e.ids for e in enc]
        # What TRL sees: transformers 5 rebuilds the pipeline of LlamaTokenizer / GemmaTokenizer from
        # tokenizer_config.json (legacy, add_prefix_space) instead of using tokenizer.json's normalizer.
        auto = AutoTokenizer.from_pretrained(os.path.join(OUT, name))
        variants[name] = dict(
            ids=ids,
            decoded=[tok.decode(i, skip_special_tokens=False) for i in ids],
            decoded_skip=[tok.decode(i, skip_special_tokens=True) for i in ids],
            plain_ids=[tok.encode(s, add_special_tokens=False).ids for s in strings[:40]],
            # only where they differ from `ids`, keyed by string index
            transformers_ids={str(k): a for k, (a, b) in enumerate(zip((auto(s).input_ids for s in strings), ids)) if a != b},
            transformers_decoded=[auto.decode(i) for i in ids[:80]],
        )
    fixture = dict(
        generator="tools/reference/gen_spm_tokenizer_fixtures.py", tokenizers=tokenizers.__version__,
        sentencepiece=spm.__version__, strings=strings, variants=variants,
        gguf={"llama.gguf": "llama_hub", "gemma.gguf": "gemma"},
    )
    with open(os.path.join(OUT, "spm_encodings.json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))

    import trl
    dpo = {name: trl_dpo_rows(AutoTokenizer.from_pretrained(d), DPO_RECORDS) for name, d in [("llama_hub", hub), ("llama_nonlegacy", nonlegacy)]}
    with open(os.path.join(OUT, "spm_dpo.json"), "w", encoding="utf-8") as f:
        json.dump(dict(trl=trl.__version__, variants=dpo), f, ensure_ascii=False, indent=1)

    sp = spm.SentencePieceProcessor(model_file=llama_model)
    tiny_model(hub, llama_model, sp.vocab_size())
    shutil.rmtree(tmp)
    print(f"{len(strings)} strings; wrote {OUT}")


if __name__ == "__main__":
    main()
