#!/usr/bin/env python3
"""Mistral end-to-end fixtures, offline, from files already committed (no SentencePiece training, no download):
the Llama-2-style SentencePiece tokenizer of gen_spm_tokenizer_fixtures.py (llama_hub, 1200 pieces) with
Mistral-7B-Instruct-v0.1's chat template (Tests/ChatTemplateTests/Fixtures/templates/mistral_v0_1.jinja:
{{ bos_token }}, role alternation and raise_exception), a tiny random MistralForCausalLM with sliding_window 4,
and the same model as a GGUF laid out as llama.cpp writes Mistral (architecture "llama", q/k rows permuted)
with llama.attention.sliding_window.
Pinned: tools/reference/requirements.txt (transformers 5.24.0, trl 1.16.0, gguf 0.19.0, torch 2.13.0+cpu).

    py=$(tools/reference/setup-env); "$py" tools/reference/gen_mistral_fixtures.py

Writes
  Tests/TokenizerTests/Fixtures/spm/mistral/{tokenizer.json,tokenizer_config.json,config.json (model_type only)}
  Tests/TokenizerTests/Fixtures/spm/mistral_dpo.json   TRL 1.16's DPO tokenization (prompt/chosen/rejected ids) of
                                                        plain and conversational records with that tokenizer
  Tests/ModelFilesTests/Fixtures/tiny_mistral_spm/      config.json, model.safetensors, tokenizer files
  Tests/ModelFilesTests/Fixtures/tiny_mistral_spm.gguf
  Tests/TrainingTests/Fixtures/mistral_adapter_r2/     a fixed nonzero PEFT adapter (r 2, alpha 4, all 7 projections)
  Tests/TrainingTests/Fixtures/mistral_dpo_2steps.json TRL's logged loss and metrics for 2 DPO steps from it
"""
import json
import os
import shutil
import sys

import gguf
import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    DPO_RECORDS, REPO, TWO_SPACES_RECORD, TWO_STEP_RECORDS, add_llama_keys, add_spm_vocab, finish_gguf, gguf_spm_vocab, llama_gguf_tensors,
    tokenizer_dir, trl_dpo_rows, trl_two_steps, write_trl_json)

SPM = os.path.join(REPO, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_OUT = os.path.join(REPO, "Tests", "ModelFilesTests", "Fixtures")
TEMPLATE = os.path.join(REPO, "Tests", "ChatTemplateTests", "Fixtures", "templates", "mistral_v0_1.jinja")
WINDOW = 4


def mistral_tokenizer_dir():
    # For model_type mistral transformers 5 loads tokenizer.json as written (TokenizersBackend), not the
    # LlamaTokenizer rebuild tokenizer_config.json names.
    out = tokenizer_dir(os.path.join(SPM, "mistral"), "mistral")
    shutil.copy(os.path.join(SPM, "llama_hub", "tokenizer.json"), out)
    with open(os.path.join(SPM, "llama_hub", "tokenizer_config.json")) as f:
        cfg = json.load(f)
    with open(TEMPLATE) as f:
        cfg["chat_template"] = f.read().rstrip("\n")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return out


# Plain and conversational records (user/assistant only: Mistral's template refuses a system role).
MISTRAL_DPO_RECORDS = [
    DPO_RECORDS[0], DPO_RECORDS[2], TWO_SPACES_RECORD, DPO_RECORDS[3], DPO_RECORDS[5]]


def tiny_model(tok_dir, vocab_size):
    from transformers import AutoModelForCausalLM, MistralConfig

    cfg = MistralConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=64, vocab_size=vocab_size, max_position_embeddings=256, bos_token_id=1,
                        eos_token_id=2, pad_token_id=None, rms_norm_eps=1e-5, tie_word_embeddings=False,
                        sliding_window=WINDOW, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(4321)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    g = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + (1.0 if p.dim() == 1 else 0.0))
    out = os.path.join(MODEL_OUT, "tiny_mistral_spm")
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    os.remove(os.path.join(out, "generation_config.json"))
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tok_dir, f), os.path.join(out, f))

    # llama.cpp's converter writes Mistral as a llama model (GGUF names, q/k rows permuted), with the tokenizer keys
    # of the committed llama.gguf (llama.cpp's _create_vocab_sentencepiece layout).
    w = gguf.GGUFWriter(os.path.join(MODEL_OUT, "tiny_mistral_spm.gguf"), "llama")
    add_llama_keys(w, "tiny_mistral_spm", cfg)
    w.add_sliding_window(WINDOW)
    w.add_vocab_size(vocab_size)
    w.add_file_type(0)
    add_spm_vocab(w, *gguf_spm_vocab(os.path.join(SPM, "llama.gguf")), bos=1, eos=2, unk=0, add_bos=True, add_space_prefix=True)
    with open(os.path.join(tok_dir, "tokenizer_config.json")) as f:
        w.add_chat_template(json.load(f)["chat_template"])
    finish_gguf(w, llama_gguf_tensors(model, cfg, lm_head=True))
    return model


TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    from transformers import AutoTokenizer

    tok_dir = mistral_tokenizer_dir()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert type(tok).__name__ == "TokenizersBackend", type(tok)  # tokenizer.json's pipeline, as for a Mistral directory
    rows = trl_dpo_rows(tok, MISTRAL_DPO_RECORDS)
    write_trl_json(os.path.join(SPM, "mistral_dpo.json"), variants={"mistral": rows})
    tiny_model(tok_dir, len(tok))
    steps = trl_two_steps(os.path.join(MODEL_OUT, "tiny_mistral_spm"), TWO_STEP_RECORDS, TARGETS, "mistral")
    print(json.dumps(steps))
    # The same adapter handed to TRL as a loaded PeftModel: the reference is the model training starts from.
    steps = trl_two_steps(os.path.join(MODEL_OUT, "tiny_mistral_spm"), TWO_STEP_RECORDS, TARGETS, "mistral",
                          reference="initial")
    print(json.dumps(steps))
    print(f"{len(rows)} DPO records; wrote {tok_dir}, tiny_mistral_spm and tiny_mistral_spm.gguf")


if __name__ == "__main__":
    main()
