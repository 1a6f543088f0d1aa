"""Generate Tests/TrainingTests/Fixtures/gemma{2,3}_dpo.json and gemma{2,3}_adapter_r2/: TRL 1.16's DPOTrainer run for 2
optimizer steps on the tiny Gemma 2 and Gemma 3 of gen_tiny_gemma_models.py (Tests/ModelFilesTests/Fixtures/
tiny_gemma{2,3}_spm: the Gemma-style SentencePiece tokenizer and the family's chat template) from a shared, seeded PEFT
init, with every logged value per step and the prompt/chosen/rejected ids TRL's dataset holds (conversational records:
BOS from the template's {{ bos_token }}).
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
from fixture_common import REPO, TRAINING_FIXTURES, save_adapter, versions, write_json  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANK, ALPHA, ADAPTER_SEED, ADAPTER_STD = 2, 4, 11, 0.1
BETA, MAX_LENGTH, BATCH, STEPS, LR = 0.1, 1024, 2, 2, 1e-2
# Conversational records only (one dataset cannot mix plain strings and message lists); the template's
# {{ bos_token }} is the only BOS. Gemma 2's template raises on a system message: user/assistant turns only.
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
# Gemma 3's template folds a system message into the first user turn: the second record has one.
GEMMA3_RECORDS = [RECORDS[0], dict(RECORDS[1], prompt=[{"role": "system", "content": "Answer briefly."}] + RECORDS[1]["prompt"]),
                  *RECORDS[2:]]
FAMILIES = {"gemma2": RECORDS, "gemma3": GEMMA3_RECORDS}


def lora_config():
    return LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none", task_type="CAUSAL_LM")


def load_base(model_dir):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")


def write_adapter(model_dir, adapter_dir):
    """Seeded N(0, 0.1²) for every lora_A and lora_B (B nonzero, so the policy differs from the reference)."""
    model = get_peft_model(load_base(model_dir), lora_config())
    g = torch.Generator().manual_seed(ADAPTER_SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * ADAPTER_STD)
    save_adapter(model, adapter_dir)
    return get_peft_model_state_dict(model)


def run(family, records):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model_dir = os.path.join(REPO, "Tests", "ModelFilesTests", "Fixtures", f"tiny_{family}_spm")
    state = write_adapter(model_dir, os.path.join(TRAINING_FIXTURES, f"{family}_adapter_r2"))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    out_dir = tempfile.mkdtemp(prefix="leandpo-trl-dpo-")
    cfg = DPOConfig(output_dir=out_dir, beta=BETA, max_length=MAX_LENGTH, per_device_train_batch_size=BATCH,
                    gradient_accumulation_steps=1, max_steps=STEPS, learning_rate=LR, lr_scheduler_type="linear",
                    warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, use_cpu=True, bf16=False,
                    gradient_checkpointing=False, report_to=[], save_strategy="no", dataloader_num_workers=0, seed=0)
    trainer = DPOTrainer(model=load_base(model_dir), args=cfg, train_dataset=Dataset.from_list(records), processing_class=tok,
                         peft_config=lora_config())
    res = set_peft_model_state_dict(trainer.model, state)
    assert not [k for k in res.missing_keys if "lora_" in k] and not res.unexpected_keys
    ds = trainer.train_dataset
    pairs = [{k: ds[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for i in range(len(ds))]
    # The batches the steps see, by dataset index (LeanDPO's test reads the file in order).
    order = list(trainer.get_train_dataloader().sampler)
    assert order == list(range(len(records))), order
    trainer.train()
    steps = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    assert len(steps) == STEPS, steps
    shutil.rmtree(out_dir, ignore_errors=True)
    out = {
        "about": f"TRL DPOTrainer on tiny_{family}_spm + {family}_adapter_r2 copied into its PEFT model; per-step logs with "
                 "logging_steps=1. Generated by tools/reference/gen_gemma_dpo_fixtures.py.",
        "versions": versions(),
        "config": {"beta": BETA, "max_length": MAX_LENGTH, "batch_size": BATCH, "max_steps": STEPS, "lr": LR,
                   "max_grad_norm": 1.0, "rank": RANK, "alpha": ALPHA},
        "records": records,
        "sampler_order": [int(i) for i in order],
        "pairs": pairs,
        "steps": steps,
    }
    write_json(os.path.join(TRAINING_FIXTURES, f"{family}_dpo.json"), out)
    print(f"{family}: order {order}; steps: {steps}")


def main():
    torch.set_num_threads(2)
    for family, records in FAMILIES.items():
        run(family, records)


if __name__ == "__main__":
    main()
