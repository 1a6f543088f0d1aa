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
    DPO_RECORDS, add_llama_keys, add_spm_vocab, finish_gguf, gguf_spm_vocab, llama_gguf_tensors, save_adapter, trl_dpo_rows)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPM = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "spm")
MODEL_OUT = os.path.join(ROOT, "Tests", "ModelFilesTests", "Fixtures")
TEMPLATE = os.path.join(ROOT, "Tests", "ChatTemplateTests", "Fixtures", "templates", "mistral_v0_1.jinja")
WINDOW = 4


def tokenizer_dir():
    out = os.path.join(SPM, "mistral")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    # config.json decides which tokenizer class transformers 5 builds: for model_type mistral it loads
    # tokenizer.json as written (TokenizersBackend), not the LlamaTokenizer rebuild tokenizer_config.json names.
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "mistral"}, f)
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
    DPO_RECORDS[0], DPO_RECORDS[2], dict(prompt="  two leading spaces", chosen="  two more", rejected=" one"), DPO_RECORDS[3],
    DPO_RECORDS[5]]


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


TRAIN_RECORDS = [
    dict(prompt=[{"role": "user", "content": "Hi there! 2+2?"}], chosen=[{"role": "assistant", "content": "It is 4."}],
         rejected=[{"role": "assistant", "content": "Five, surely."}]),
    dict(prompt=[{"role": "user", "content": "Name a color."}], chosen=[{"role": "assistant", "content": "Blue."}],
         rejected=[{"role": "assistant", "content": "Ünïcödé grün, 日本語"}]),
    dict(prompt=[{"role": "user", "content": "First?"}, {"role": "assistant", "content": "Yes."},
                 {"role": "user", "content": "Second question, a longer one than the window?"}],
         chosen=[{"role": "assistant", "content": "No."}], rejected=[{"role": "assistant", "content": "Maybe\nlater."}]),
    dict(prompt=[{"role": "user", "content": "  Spaces first"}], chosen=[{"role": "assistant", "content": "ok"}],
         rejected=[{"role": "assistant", "content": "\tnot ok at all"}]),
]
TRAIN = dict(r=2, lora_alpha=4, lr=5e-3, beta=0.1, batch=4, steps=2, max_grad_norm=1.0)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def trl_two_steps(model_dir):
    """2 steps of TRL 1.16's DPOTrainer (sigmoid loss, AdamW, constant rate, clipping 1.0) from a fixed nonzero
    PEFT adapter, one batch of all 4 conversational pairs per step (so the Trainer's shuffling cannot matter);
    the reference is the base (PEFT's adapter switched off, as TRL does for a PeftModel)."""
    import tempfile

    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(2)
    adapter_dir = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "mistral_adapter_r2")
    tok = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=TRAIN["batch"], max_steps=TRAIN["steps"],
                     learning_rate=TRAIN["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                     max_grad_norm=TRAIN["max_grad_norm"], beta=TRAIN["beta"], logging_steps=1, save_strategy="no",
                     report_to=[], use_cpu=True, bf16=False, dataloader_num_workers=0, seed=0, max_length=1024)
    # A new adapter through peft_config, so TRL's reference is the base (adapters off), as LeanDPO's with
    # --init-adapter; TRL would make a PeftModel's loaded adapter its reference instead. Then the adapter is set
    # to fixed nonzero values (written out for LeanDPO) before the first step.
    peft_config = LoraConfig(r=TRAIN["r"], lora_alpha=TRAIN["lora_alpha"], lora_dropout=0.0, target_modules=TARGETS,
                             task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=base, args=args, train_dataset=Dataset.from_list(TRAIN_RECORDS), processing_class=tok,
                         peft_config=peft_config)
    g = torch.Generator().manual_seed(77)
    with torch.no_grad():
        for name, p in sorted(trainer.model.named_parameters()):
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    save_adapter(trainer.model, adapter_dir)  # no machine path, a stable module order: reruns give the same bytes
    trainer.train()
    keys = ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
            "logps/rejected", "grad_norm"]
    steps = [{k: h[k] for k in keys if k in h} | {"step": h["step"]} for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == TRAIN["steps"], steps
    return steps


def main():
    import trl
    from transformers import AutoTokenizer

    tok_dir = tokenizer_dir()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert type(tok).__name__ == "TokenizersBackend", type(tok)  # tokenizer.json's pipeline, as for a Mistral directory
    rows = trl_dpo_rows(tok, MISTRAL_DPO_RECORDS)
    with open(os.path.join(SPM, "mistral_dpo.json"), "w", encoding="utf-8") as f:
        json.dump(dict(trl=trl.__version__, variants={"mistral": rows}), f, ensure_ascii=False, indent=1)
    tiny_model(tok_dir, len(tok))
    steps = trl_two_steps(os.path.join(MODEL_OUT, "tiny_mistral_spm"))
    with open(os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "mistral_dpo_2steps.json"), "w") as f:
        json.dump(dict(trl=trl.__version__, train=TRAIN, targets=TARGETS, adapter="mistral_adapter_r2",
                       records=TRAIN_RECORDS, steps=steps), f, ensure_ascii=False, indent=1)
    print(json.dumps(steps))
    print(f"{len(rows)} DPO records; wrote {tok_dir}, tiny_mistral_spm and tiny_mistral_spm.gguf")


if __name__ == "__main__":
    main()
