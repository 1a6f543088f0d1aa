#!/usr/bin/env python3
"""Phi-3 fixtures, offline, from files already committed (no SentencePiece training, no download):
the Llama-2-style SentencePiece tokenizer of gen_spm_tokenizer_fixtures.py (llama_hub, 1200 pieces) with Phi-3's
added tokens (<|endoftext|>, <|assistant|>, placeholders, <|system|>, <|end|>, <|user|>, laid out as in
Phi-3-mini-4k-instruct, rstrip on the chat markers) and tokenizer_config (add_bos_token false, eos <|endoftext|>),
Phi-3's chat template (Tests/ChatTemplateTests/Fixtures/templates/phi3.jinja), a tiny random Phi3ForCausalLM
(hidden 64, 2 layers, 4 heads / 2 kv heads, fused qkv_proj and gate_up_proj, sliding_window 4, untied), the same
model as a GGUF laid out as llama.cpp's converter writes Phi-3 (architecture phi3, attn_qkv, fused ffn_up,
phi3.attention.sliding_window, phi3.rope.scaling.original_context_length), its logits, and the same weights under
a LongRoPE config (short and long factors, original length 8) with logits below and above the original length.
Pinned: tools/reference/requirements.txt (transformers 5.24.0, trl 1.16.0, peft 0.21.2, gguf 0.19.0, torch 2.13.0+cpu).

    py=$(tools/reference/setup-env); "$py" tools/reference/gen_phi3_fixtures.py

Writes
  Tests/TokenizerTests/Fixtures/spm/phi3/{tokenizer.json,tokenizer_config.json,config.json (model_type only)}
  Tests/TokenizerTests/Fixtures/spm/phi3_dpo.json      TRL 1.16's DPO tokenization of plain and conversational records
  Tests/TokenizerTests/Fixtures/spm/phi3_encodings.json ids and decodes of step 5's 465 strings plus 12 with Phi-3's markers
  Tests/ModelTests/Fixtures/tiny_phi3/                  config.json, model.safetensors, tokenizer files, expected_logits.json
  Tests/ModelTests/Fixtures/tiny_phi3.gguf
  Tests/ModelTests/Fixtures/tiny_phi3_longrope.json     LongRoPE config.json contents and logits (tiny_phi3's weights)
  Tests/TrainingTests/Fixtures/phi3_adapter_r2/         a fixed nonzero PEFT adapter (r 2, alpha 4, qkv_proj, o_proj,
                                                        gate_up_proj, down_proj)
  Tests/TrainingTests/Fixtures/phi3_dpo_2steps.json     TRL's logged loss and metrics for 2 DPO steps from it
"""
import json
import os
import shutil
import sys

import gguf
import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    DPO_RECORDS, MODEL_FIXTURES, PHI3_GGUF_NAMES, REPO, TWO_SPACES_RECORD, TWO_STEP_RECORDS, add_spm_vocab, finish_gguf, gguf_spm_vocab,
    llama_gguf_tensors, logits_for, logits_json, randomize_small, tiny_logits_fixture, tokenizer_dir, trl_dpo_rows,
    trl_two_steps, write_json, write_trl_json)

GENERATOR = "tools/reference/gen_phi3_fixtures.py"
SPM = os.path.join(REPO, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_DIR = os.path.join(MODEL_FIXTURES, "tiny_phi3")
TEMPLATE = os.path.join(REPO, "Tests", "ChatTemplateTests", "Fixtures", "templates", "phi3.jinja")
WINDOW = 4
SEQ_LENGTHS = [7, 13]
# Phi-3-mini's added tokens after its 32000 pieces, here after the 1200 of llama_hub; rstrip as Phi-3 has them.
ADDED = [("<|endoftext|>", False), ("<|assistant|>", True), ("<|placeholder1|>", True), ("<|placeholder2|>", True),
         ("<|placeholder3|>", True), ("<|placeholder4|>", True), ("<|system|>", True), ("<|end|>", True),
         ("<|placeholder5|>", True), ("<|placeholder6|>", True), ("<|user|>", True)]


def phi3_tokenizer_dir():
    from tokenizers import AddedToken, Tokenizer

    # model_type phi3 is one whose hub class (LlamaTokenizer) transformers 5 overrides, loading tokenizer.json as
    # written (TokenizersBackend).
    out = tokenizer_dir(os.path.join(SPM, "phi3"), "phi3")
    tok = Tokenizer.from_file(os.path.join(SPM, "llama_hub", "tokenizer.json"))
    tok.add_special_tokens([AddedToken(t, rstrip=r, lstrip=False, normalized=False, special=True) for t, r in ADDED])
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(TEMPLATE) as f:
        template = f.read()
    cfg = {
        "add_bos_token": False, "add_eos_token": False, "bos_token": "<s>", "chat_template": template,
        "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "legacy": False, "model_max_length": 4096,
        "pad_token": "<|endoftext|>", "padding_side": "left", "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return out


# Plain and conversational records for TRL 1.16's DPO tokenization: plain ones get an EOS appended (and BOS only if
# the tokenizer adds one, Phi-3's does not), conversational ones whatever the template renders (Phi-3's has no BOS).
PHI3_DPO_RECORDS = [
    DPO_RECORDS[0], DPO_RECORDS[2], TWO_SPACES_RECORD, DPO_RECORDS[3],
    dict(prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "First?"},
                 {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "  Second?\n"}],
         chosen=[{"role": "assistant", "content": "No."}],
         rejected=[{"role": "assistant", "content": " Maybe\nlater."}]),
]


MARKER_STRINGS = [
    "<|user|>\nHi there<|end|>\n<|assistant|>\n", "<|system|>  spaces after<|end|>", "text<|end|>\n\n\nmore",
    "a <|assistant|>   b", "<|endoftext|> after eot", "<|endoftext|>\n", "x<|placeholder3|> y", "<|user|><|user|>\t",
    " <|end|> ", "no markers at all", "<|user|>\n日本語 🙂<|end|>\n", "<|assistant|>\n\t\tcode()<|end|>",
]


def encodings(tok):
    """tokenizers' ids (the post-processor's BOS included) and decodes of the SentencePiece corpus of step 5 plus
    strings with Phi-3's markers inside text (rstrip eats the whitespace after them)."""
    with open(os.path.join(SPM, "spm_encodings.json")) as f:
        strings = json.load(f)["strings"] + MARKER_STRINGS
    ids = [tok(s)["input_ids"] for s in strings]
    return dict(generator=GENERATOR, strings=strings, ids=ids,
                decoded=[tok.decode(i) for i in ids])


def phi3_kwargs(vocab_size, eos, **extra):
    return dict(dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
        vocab_size=vocab_size, max_position_embeddings=256, original_max_position_embeddings=256, bos_token_id=1,
        eos_token_id=eos, pad_token_id=eos, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=WINDOW,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), **extra)


def tiny_model(tok_dir, tok):
    from transformers import AutoModelForCausalLM, Phi3Config

    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    seqs = []

    def keep_sequences(out, s, logits):  # the LongRoPE fixture below reuses them
        seqs.extend(s)
        return {}

    # Logits for two sequences longer than the window, checked to reload bit for bit.
    model, _, _, _ = tiny_logits_fixture(MODEL_DIR, Phi3Config, phi3_kwargs(len(tok), eos), 4321, 99, SEQ_LENGTHS,
                                         randomize_small, GENERATOR, extra=keep_sequences)
    cfg = model.config
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tok_dir, f), os.path.join(MODEL_DIR, f))

    # LongRoPE on the same weights: original length 8, so 6 tokens use the short factors and 13 the long ones;
    # the attention factor comes from max_position_embeddings / original (256 / 8).
    half = cfg.hidden_size // cfg.num_attention_heads // 2
    rope = {"rope_type": "longrope", "rope_theta": 10000.0,
            "short_factor": [round(1.0 + 0.25 * i, 2) for i in range(half)],
            "long_factor": [round(1.5 + 1.75 * i, 2) for i in range(half)]}
    long_cfg = Phi3Config(**phi3_kwargs(len(tok), eos, original_max_position_embeddings=8, rope_parameters=rope))
    long_model = AutoModelForCausalLM.from_config(long_cfg, dtype=torch.float32, attn_implementation="eager").eval()
    long_model.load_state_dict(model.state_dict())
    long_seqs = [seqs[0][:6], seqs[1]]
    long_logits = logits_for(long_model, long_seqs)
    short_only = logits_for(model, long_seqs)
    assert float((long_logits[1] - short_only[1]).abs().max()) > 1e-2  # LongRoPE changes the logits
    fixture = logits_json(long_model, GENERATOR, 0.0, long_seqs, long_logits)
    fixture["config"] = json.loads(long_cfg.to_json_string(use_diff=False))
    write_json(os.path.join(MODEL_FIXTURES, "tiny_phi3_longrope.json"), fixture)

    # llama.cpp's converter (Phi3MiniModel): architecture phi3, fused attn_qkv and ffn_up kept, no q/k permutation.
    # Its hyper-parameter keys come in another order than add_llama_keys' (the file's bytes follow it).
    w = gguf.GGUFWriter(os.path.join(MODEL_FIXTURES, "tiny_phi3.gguf"), "phi3")
    w.add_name("tiny_phi3")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_rope_scaling_orig_ctx_len(cfg.original_max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0)
    w.add_sliding_window(WINDOW)
    # Phi3MiniModel.set_vocab: the SentencePiece pieces, then the added tokens as CONTROL (special) with score -1000;
    # no add_space_prefix key.
    tokens, scores, types = gguf_spm_vocab(os.path.join(SPM, "llama.gguf"))
    assert len(tokens) == 1200
    add_spm_vocab(w, tokens + [t.encode("utf-8") for t, _ in ADDED], scores + [-1000.0] * len(ADDED),
                  types + [int(gguf.TokenType.CONTROL)] * len(ADDED), bos=1, eos=eos, unk=0, add_bos=False,
                  add_space_prefix=None, pad=eos)
    with open(TEMPLATE) as f:
        w.add_chat_template(f.read())
    finish_gguf(w, llama_gguf_tensors(model, cfg, lm_head=True, names=PHI3_GGUF_NAMES))
    return model


# Mistral's 2-step records with a system message in the second (Phi-3's template takes one).
TRAIN_RECORDS = [
    TWO_STEP_RECORDS[0],
    dict(TWO_STEP_RECORDS[1], prompt=[{"role": "system", "content": "Be brief."}] + TWO_STEP_RECORDS[1]["prompt"]),
    *TWO_STEP_RECORDS[2:]]
TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]


def main():
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    tok_dir = phi3_tokenizer_dir()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert type(tok).__name__ == "TokenizersBackend", type(tok)
    write_json(os.path.join(SPM, "phi3_encodings.json"), encodings(tok))
    rows = trl_dpo_rows(tok, PHI3_DPO_RECORDS)
    write_trl_json(os.path.join(SPM, "phi3_dpo.json"), variants={"phi3": rows})
    tiny_model(tok_dir, tok)
    steps = trl_two_steps(MODEL_DIR, TRAIN_RECORDS, TARGETS, "phi3")
    print(json.dumps(steps))
    print(f"{len(rows)} DPO records; first ids {rows[3]['prompt_ids'][:6]}; wrote {tok_dir}, tiny_phi3, tiny_phi3.gguf")


if __name__ == "__main__":
    main()
