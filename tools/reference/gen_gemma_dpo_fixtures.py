"""Generate Tests/TrainingTests/Fixtures/gemma2_dpo.json and gemma2_adapter_r2/: TRL 1.16's DPOTrainer run for 2
optimizer steps on the tiny Gemma 2 of gen_tiny_gemma_models.py (Tests/ModelFilesTests/Fixtures/tiny_gemma2_spm: the
Gemma-style SentencePiece tokenizer and Gemma's chat template) from a shared, seeded PEFT init, with every logged
value per step and the prompt/chosen/rejected ids TRL's dataset holds (plain records get BOS from the tokenizer,
conversational ones from the template's {{ bos_token }}).
Pinned: torch==2.13.0+cpu transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 peft==0.21.2 trl==1.16.0
Usage: python tools/reference/gen_gemma_dpo_fixtures.py (after gen_tiny_gemma_models.py)"""
import os
import shutil
import sys
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import REPO, TRAINING_FIXTURES, versions, write_json  # noqa: E402

MODEL_DIR = os.path.join(REPO, "Tests", "ModelFilesTests", "Fixtures", "tiny_gemma2_spm")
ADAPTER_DIR = os.path.join(TRAINING_FIXTURES, "gemma2_adapter_r2")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANK, ALPHA, ADAPTER_SEED, ADAPTER_STD = 2, 4, 11, 0.1
BETA, MAX_LENGTH, BATCH, STEPS, LR = 0.1, 1024, 2, 2, 1e-2
# Gemma's template raises on a system message: user/assistant turns only. Conversational records only (one
# dataset cannot mix plain strings and message lists); the template's {{ bos_token }} is the only BOS.
RECORDS = [
    {"prompt": [{"role": "user", "content": "What is the capital of France?"}],
     "chosen": [{"role": "assistant", "content": "Paris."}], "rejected": [{"role": "assistant", "content": "Lyon, I think."}]},
    {"prompt": [{"role": "user", "content": "Hi there! 2+2?"}], "chosen": [{"role": "assistant", "content": "It is 4."}],
     "rejected": [{"role": "assistant", "content": "Five, surely."}]},
    {"prompt": [{"role": "user", "content": " leading space prompt\n"}],
     "chosen": [{"role": "assistant", "content": "\tanswer with tab"}],
     "rejected": [{"role": "assistant", "content": "日本語 answer 🙂"}]},
    {"prompt": [{"role": "user", "content": "First?"}, {"role": "assistant", "content": "Yes."},
                {"role": "user", "content": "Second?"}],
     "chosen": [{"role": "assistant", "content": "No."}], "rejected": [{"role": "assistant", "content": "Maybe\nlater."}]},
]


def lora_config():
    return LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none", task_type="CAUSAL_LM")


def load_base():
    return AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32, attn_implementation="eager")


def write_adapter():
    """Seeded N(0, 0.1²) for every lora_A and lora_B (B nonzero, so the policy differs from the reference)."""
    model = get_peft_model(load_base(), lora_config())
    g = torch.Generator().manual_seed(ADAPTER_SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * ADAPTER_STD)
    shutil.rmtree(ADAPTER_DIR, ignore_errors=True)
    model.save_pretrained(ADAPTER_DIR)
    return get_peft_model_state_dict(model)


def main():
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(2)
    state = write_adapter()
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR)
    out_dir = tempfile.mkdtemp(prefix="leandpo-trl-dpo-")
    cfg = DPOConfig(output_dir=out_dir, beta=BETA, max_length=MAX_LENGTH, per_device_train_batch_size=BATCH,
                    gradient_accumulation_steps=1, max_steps=STEPS, learning_rate=LR, lr_scheduler_type="linear",
                    warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, use_cpu=True, bf16=False,
                    gradient_checkpointing=False, report_to=[], save_strategy="no", dataloader_num_workers=0, seed=0)
    trainer = DPOTrainer(model=load_base(), args=cfg, train_dataset=Dataset.from_list(RECORDS), processing_class=tok,
                         peft_config=lora_config())
    res = set_peft_model_state_dict(trainer.model, state)
    assert not [k for k in res.missing_keys if "lora_" in k] and not res.unexpected_keys
    ds = trainer.train_dataset
    print(ds.column_names)
    pairs = []
    for i in range(len(ds)):
        row = ds[i]
        if "prompt_ids" in row:
            pairs.append({k: row[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")})
        else:  # prompt+completion layout
            pairs.append({k: row[k] for k in row if k.endswith("_ids")})
    # Sequential order (TRL shuffles by default): the batches the steps see, by dataset index.
    order = list(trainer.get_train_dataloader().sampler)
    trainer.train()
    steps = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    assert len(steps) == STEPS, steps
    shutil.rmtree(out_dir, ignore_errors=True)
    out = {
        "about": "TRL DPOTrainer on tiny_gemma2_spm + gemma2_adapter_r2 copied into its PEFT model; per-step logs with "
                 "logging_steps=1. Generated by tools/reference/gen_gemma_dpo_fixtures.py.",
        "versions": versions(),
        "config": {"beta": BETA, "max_length": MAX_LENGTH, "batch_size": BATCH, "max_steps": STEPS, "lr": LR,
                   "max_grad_norm": 1.0, "rank": RANK, "alpha": ALPHA},
        "records": RECORDS,
        "sampler_order": [int(i) for i in order],
        "pairs": pairs,
        "steps": steps,
    }
    write_json(os.path.join(TRAINING_FIXTURES, "gemma2_dpo.json"), out)
    print(f"order {order}; steps: {steps}")


if __name__ == "__main__":
    main()
