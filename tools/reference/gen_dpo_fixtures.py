"""Generate Tests/TrainingTests/Fixtures/: a fixed PEFT LoRA adapter for SmolLM2 (smollm2_adapter_r2/, F16) and the
DPO reference numbers for one batch of 2 preference pairs (smollm2_dpo.json, smollm2_dpo_grads.safetensors).
The fixture is computed by this script's own float32 PyTorch code (transformers + PEFT, eval mode, eager attention,
one unpadded forward per sequence), then cross-checked against TRL's DPOTrainer loss path on the same batch.
Pinned: torch==2.13.0+cpu transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 peft==0.21.2 trl==1.16.0
Needs the HF directory written by gguf_to_hf.py. Usage: python tools/reference/gen_dpo_fixtures.py [--no-trl]"""
import json
import math
import os
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    GGUF_PATH, HF_DIR, TRAINING_FIXTURES, common_prefix_length, f32, sha256_file, versions, write_json)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Seed 5 gives one pair with a positive and one with a negative reward margin (rewards/accuracies 0.5), so a
# per-batch instead of per-pair accuracy, or a sign slip in the margins, shows up.
RANK, ALPHA, ADAPTER_SEED, ADAPTER_STD = 2, 4, 5, 0.02
BETA, MAX_LENGTH = 0.1, 1024
GRAD_LAYERS = [0, 29]
ADAPTER_DIR = os.path.join(TRAINING_FIXTURES, "smollm2_adapter_r2")

# Standard (non-conversational) format: plain strings. Pair 1's prompt is a ChatML string rendered by the chat template.
PAIRS = [
    {"prompt": "Question: What is the capital of Australia?\nAnswer:",
     "chosen": " The capital of Australia is Canberra, a planned city chosen in 1908 as a compromise between Sydney "
               "and Melbourne.",
     "rejected": " Sydney."},
    {"prompt_messages": [{"role": "user", "content": "Write a short haiku about autumn leaves."}],
     "chosen": "Crimson leaves drift down,\nwhispering to the cold earth:\nletting go is grace.",
     "rejected": "Autumn leaves are leaves that fall in autumn. They are red and yellow. I hope this helps!"},
]


def lora_config():
    return LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                      task_type="CAUSAL_LM")


def load_base(hf_dir, dtype=torch.float32):
    return AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype, attn_implementation="eager")


# MARK: - adapter

def write_adapter(hf_dir):
    """Seeded N(0, 0.02²) for every lora_A and lora_B, rounded to float16; saved as PEFT files with F16 tensors."""
    model = get_peft_model(load_base(hf_dir), lora_config())
    g = torch.Generator().manual_seed(ADAPTER_SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():  # module order: layer 0 q,k,v,o,gate,up,down, ..., A before B
            if "lora_" in name:
                p.copy_((torch.randn(p.shape, generator=g) * ADAPTER_STD).half().float())
    shutil.rmtree(ADAPTER_DIR, ignore_errors=True)
    os.makedirs(ADAPTER_DIR)
    config = model.peft_config["default"]
    config.base_model_name_or_path = None  # not a machine path: the base is SmolLM2-135M-Instruct.Q4_1.gguf, dequantized
    config.save_pretrained(ADAPTER_DIR)
    path = os.path.join(ADAPTER_DIR, "adapter_config.json")
    with open(path) as f:
        saved = json.load(f)
    saved["target_modules"] = sorted(saved["target_modules"])  # PEFT keeps a set: sort so reruns are byte-identical
    with open(path, "w") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
    state = {k: v.detach().half().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(state, os.path.join(ADAPTER_DIR, "adapter_model.safetensors"), metadata={"format": "pt"})
    return len(state)


def load_adapter_state():
    """The adapter tensors as float32 (exact: they are float16 values), PEFT file names."""
    return {k: v.float() for k, v in load_file(os.path.join(ADAPTER_DIR, "adapter_model.safetensors")).items()}


def policy_model(hf_dir, dtype=torch.float32):
    """Base + our adapter through PEFT's own loader, eval mode, everything in `dtype`."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(load_base(hf_dir, dtype), ADAPTER_DIR, is_trainable=True).to(dtype).eval()
    state = load_adapter_state()
    for k, v in get_peft_model_state_dict(model).items():
        assert v.dtype == dtype and torch.equal(v.float(), state[k]), k
    return model


# MARK: - TRL 1.16 tokenization (dpo_trainer.py _prepare_dataset, non-conversational branch)


def tokenize_pair(tok, prompt, chosen, rejected):
    eos = tok.eos_token
    chosen_text = chosen if chosen.endswith(eos) else chosen + eos
    rejected_text = rejected if rejected.endswith(eos) else rejected + eos
    prompt_ids = tok(text=prompt)["input_ids"]
    pc = tok(text=prompt + chosen_text)["input_ids"]
    pr = tok(text=prompt + rejected_text)["input_ids"]
    n = min(common_prefix_length(prompt_ids, pc), common_prefix_length(prompt_ids, pr))
    assert n == len(prompt_ids), "the fixture pairs are chosen so the prompt tokens are a prefix"
    assert len(prompt_ids) < MAX_LENGTH and len(pc) <= MAX_LENGTH and len(pr) <= MAX_LENGTH  # nothing truncated
    return chosen_text, rejected_text, prompt_ids[:n], pc[n:], pr[n:]


# MARK: - log-probs, losses, metrics (TRL 1.16 definitions, dpo_trainer.py _compute_loss)

def completion_stats(model, prompt_ids, completion_ids, extra=None):
    """Summed completion log-prob (f32), per-token log-probs, and the sum over completion tokens of the vocab-mean
    logit at the position that scores each token (TRL's `mean_logits`). `extra` (a dict) receives the sums over
    the completion tokens of the entropy (TRL's `entropy_from_logits`) and of the argmax-equals-label count."""
    ids = torch.tensor([prompt_ids + completion_ids])
    logits = model(input_ids=ids).logits[0, :-1]  # (T-1, V): row t scores token t+1
    labels = ids[0, 1:]
    start = len(prompt_ids) - 1
    logp = torch.log_softmax(logits[start:], dim=-1).gather(-1, labels[start:, None])[:, 0]  # (C,)
    mean_logit_sum = logits[start:].detach().mean(dim=-1).sum()
    if extra is not None:
        lsm = torch.log_softmax(logits[start:].detach(), dim=-1)
        extra["entropy_sum"] = float(-(lsm.exp() * lsm).sum())
        extra["top1"] = int((logits[start:].detach().argmax(dim=-1) == labels[start:]).sum())
    return logp.sum(), logp.detach(), mean_logit_sum


def losses_from(pol_c, pol_r, ref_c, ref_r, len_c, len_r):
    """Per-pair losses for sigmoid, ipo, hinge (beta = BETA); all tensors (P,)."""
    dc, dr = pol_c - ref_c, pol_r - ref_r
    delta = dc - dr
    return {
        "sigmoid": -F.logsigmoid(BETA * delta),
        "ipo": (dc / len_c - dr / len_r - 1 / (2 * BETA)) ** 2,
        "hinge": torch.relu(1 - BETA * delta),
    }


def compute_fixture(hf_dir, tok, pairs, dtype=torch.float32):
    model = policy_model(hf_dir, dtype)
    pol, ref, mean_logits = {"c": [], "r": []}, {"c": [], "r": []}, {"c": [], "r": []}
    per_tok = {"pc": [], "pr": [], "rc": [], "rr": []}
    entropy_sum, top1, num_tokens = 0.0, 0, 0
    for p in pairs:
        for side, ids in (("c", p["chosen_ids"]), ("r", p["rejected_ids"])):
            extra = {}
            s, toks, ml = completion_stats(model, p["prompt_ids"], ids, extra)
            entropy_sum += extra["entropy_sum"]
            top1 += extra["top1"] if side == "c" else 0
            num_tokens += len(p["prompt_ids"]) + len(ids)  # TRL's attention_mask: prompt + completion
            pol[side].append(s)
            mean_logits[side].append(float(ml))
            per_tok["p" + side].append(toks)
            with torch.no_grad(), model.disable_adapter():
                s, toks, _ = completion_stats(model, p["prompt_ids"], ids)
            ref[side].append(s)
            per_tok["r" + side].append(toks)
    pol_c, pol_r = torch.stack(pol["c"]), torch.stack(pol["r"])
    ref_c, ref_r = torch.stack(ref["c"]), torch.stack(ref["r"])
    len_c = torch.tensor([float(len(p["chosen_ids"])) for p in pairs], dtype=dtype)
    len_r = torch.tensor([float(len(p["rejected_ids"])) for p in pairs], dtype=dtype)
    per_pair = losses_from(pol_c, pol_r, ref_c, ref_r, len_c, len_r)
    loss = per_pair["sigmoid"].mean()
    loss.backward()

    grads = {}
    names = get_peft_model_state_dict(model).keys()  # PEFT file names, without the adapter name
    by_param = {n.replace(".default.weight", ".weight"): p for n, p in model.named_parameters() if "lora_" in n}
    for name in names:
        grads[name] = by_param[name].grad.detach().clone()
    assert len(grads) == 30 * 7 * 2

    rc, rr = BETA * (pol_c - ref_c).detach(), BETA * (pol_r - ref_r).detach()
    metrics = {
        "rewards/chosen": rc.mean(), "rewards/rejected": rr.mean(),
        "rewards/accuracies": (rc > rr).float().mean(), "rewards/margins": (rc - rr).mean(),
        "logps/chosen": pol_c.detach().mean(), "logps/rejected": pol_r.detach().mean(),
        "logits/chosen": sum(mean_logits["c"]) / float(len_c.sum()),
        "logits/rejected": sum(mean_logits["r"]) / float(len_r.sum()),
        "entropy": entropy_sum / float(len_c.sum() + len_r.sum()),
        "mean_token_accuracy": top1 / float(len_c.sum()),
        "num_tokens": num_tokens,
    }
    return {
        "pol_c": pol_c.detach(), "pol_r": pol_r.detach(), "ref_c": ref_c, "ref_r": ref_r,
        "per_tok": per_tok, "mean_logit_sums": mean_logits,
        "per_pair": {k: v.detach() for k, v in per_pair.items()},
        "losses": {k: v.detach().mean() for k, v in per_pair.items()},
        "metrics": {k: float(v) for k, v in metrics.items()}, "grads": grads,
    }


def max_rel_norm_diff(a, b):
    """max over the LoRA gradient tensors of ||a - b|| / ||b||."""
    return max(float((a[k].double() - b[k].double()).norm() / b[k].double().norm()) for k in b)


def f32_vs_f64(ours, ref64):
    """How far the f32 fixture is from the same computation in float64: the noise floor a consumer must allow."""
    pick = ("pol_c", "pol_r", "ref_c", "ref_r")
    return {
        "logps_max_abs": max(float((ours[k].double() - ref64[k]).abs().max()) for k in pick),
        "loss_abs": {k: abs(float(ours["losses"][k]) - float(ref64["losses"][k])) for k in ours["losses"]},
        "metrics_max_abs": max(abs(ours["metrics"][k] - ref64["metrics"][k]) for k in ours["metrics"]),
        "grad_max_rel_norm_diff": max_rel_norm_diff(ours["grads"], ref64["grads"]),
        "grad_total_norm_f64": math.sqrt(sum(float(v.pow(2).sum()) for v in ref64["grads"].values())),
    }


# MARK: - cross-check with TRL's DPOTrainer

def trl_check(hf_dir, tok, pairs, ours):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    out_dir = tempfile.mkdtemp(prefix="leandpo-trl-")
    cfg = DPOConfig(output_dir=out_dir, beta=BETA, max_length=MAX_LENGTH, loss_type=["sigmoid"],
                    per_device_train_batch_size=len(pairs), use_cpu=True, bf16=False, gradient_checkpointing=False,
                    report_to=[], save_strategy="no", dataloader_num_workers=0, seed=0)
    trainer = DPOTrainer(model=load_base(hf_dir), args=cfg, train_dataset=Dataset.from_list(rows),
                         processing_class=tok, peft_config=lora_config())
    res = set_peft_model_state_dict(trainer.model, load_adapter_state())
    assert not [k for k in res.missing_keys if "lora_" in k] and not res.unexpected_keys
    model = trainer.model.eval()
    examples = [trainer.train_dataset[i] for i in range(len(pairs))]
    for ex, p in zip(examples, pairs):
        for key in ("prompt_ids", "chosen_ids", "rejected_ids"):
            assert ex[key] == p[key], (key, ex[key], p[key])
    batch = trainer.data_collator(examples)
    model.zero_grad()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    grads = {n.replace(".default.weight", ".weight"): p.grad for n, p in model.named_parameters() if "lora_" in n}
    metric_keys = ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                   "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected", "entropy",
                   "mean_token_accuracy"]
    trl_metrics = {k: trainer._metrics["eval"][k][-1] for k in metric_keys}
    # num_tokens counts only in train mode (model.eval() here): TRL's own expression on the same batch.
    trl_metrics["num_tokens"] = int(batch["attention_mask"].sum())
    metric_keys.append("num_tokens")
    other = {}
    with torch.no_grad():
        for lt in ("ipo", "hinge"):
            trainer.loss_types, trainer.loss_weights = [lt], [1.0]
            other[lt] = float(trainer.compute_loss(model, batch))
    shutil.rmtree(out_dir, ignore_errors=True)

    return {
        "code": "trl.DPOTrainer(peft_config=LoraConfig(r=2, alpha=4, 7 targets)); adapter weights copied in; "
                "model.eval(); trainer.compute_loss on trainer.data_collator(2 tokenized examples); .backward()",
        "token_ids_equal": True,
        "loss": {"sigmoid": float(loss.detach()), **other},
        "metrics": trl_metrics,
        "abs_diff": {
            "loss_sigmoid": abs(float(loss.detach()) - float(ours["losses"]["sigmoid"])),
            "loss_ipo": abs(other["ipo"] - float(ours["losses"]["ipo"])),
            "loss_hinge": abs(other["hinge"] - float(ours["losses"]["hinge"])),
            "metrics_max": max(abs(trl_metrics[k] - ours["metrics"][k]) for k in metric_keys),
        },
        "grad_max_rel_norm_diff": max_rel_norm_diff(grads, ours["grads"]),
    }


# MARK: - main

def main():
    hf_dir = HF_DIR
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(hf_dir)
    n_tensors = write_adapter(hf_dir)

    pairs = []
    for spec in PAIRS:
        prompt = spec.get("prompt") or tok.apply_chat_template(spec["prompt_messages"], tokenize=False,
                                                               add_generation_prompt=True)
        chosen_text, rejected_text, prompt_ids, chosen_ids, rejected_ids = tokenize_pair(
            tok, prompt, spec["chosen"], spec["rejected"])
        pairs.append({"prompt": prompt, "chosen": spec["chosen"], "rejected": spec["rejected"],
                      "chosen_text": chosen_text, "rejected_text": rejected_text, "prompt_ids": prompt_ids,
                      "chosen_ids": chosen_ids, "rejected_ids": rejected_ids})

    ours = compute_fixture(hf_dir, tok, pairs)
    noise = f32_vs_f64(ours, compute_fixture(hf_dir, tok, pairs, torch.float64))
    check = None if "--no-trl" in sys.argv else trl_check(hf_dir, tok, pairs, ours)

    grads = ours["grads"]
    layer_grads = {k: v.contiguous() for k, v in grads.items()
                   if any(f".layers.{i}." in k for i in GRAD_LAYERS)}
    grads_path = os.path.join(TRAINING_FIXTURES, "smollm2_dpo_grads.safetensors")
    save_file(layer_grads, grads_path, metadata={"format": "pt"})  # one key: safetensors orders metadata arbitrarily

    out_pairs = []
    for i, p in enumerate(pairs):
        out_pairs.append({
            **p,
            "chosen_tokens": tok.convert_ids_to_tokens(p["chosen_ids"]),
            "rejected_tokens": tok.convert_ids_to_tokens(p["rejected_ids"]),
            "policy_chosen_logps": f32(ours["pol_c"][i]), "policy_rejected_logps": f32(ours["pol_r"][i]),
            "reference_chosen_logps": f32(ours["ref_c"][i]), "reference_rejected_logps": f32(ours["ref_r"][i]),
            "policy_chosen_per_token_logps": [f32(x) for x in ours["per_tok"]["pc"][i]],
            "policy_rejected_per_token_logps": [f32(x) for x in ours["per_tok"]["pr"][i]],
            "reference_chosen_per_token_logps": [f32(x) for x in ours["per_tok"]["rc"][i]],
            "reference_rejected_per_token_logps": [f32(x) for x in ours["per_tok"]["rr"][i]],
            "policy_chosen_mean_logit_sum": f32(ours["mean_logit_sums"]["c"][i]),
            "policy_rejected_mean_logit_sum": f32(ours["mean_logit_sums"]["r"][i]),
            "losses": {k: f32(v[i]) for k, v in ours["per_pair"].items()},
        })
    norms = {k: f32(v.norm()) for k, v in grads.items()}
    total = math.sqrt(sum(float(v.double().pow(2).sum()) for v in grads.values()))
    fixture = {
        "format": "leandpo-smollm2-dpo-v1",
        "generator": "tools/reference/gen_dpo_fixtures.py",
        "computed_by": "own float32 PyTorch (transformers LlamaForCausalLM eager + PEFT LoRA, eval mode, one "
                       "unpadded forward per sequence), TRL 1.16 definitions; cross-checked with trl.DPOTrainer",
        "versions": versions(),
        "model": {"gguf": os.path.basename(GGUF_PATH),
                  "gguf_sha256": sha256_file(GGUF_PATH) if os.path.exists(GGUF_PATH) else None,
                  "dtype": "float32", "attn_implementation": "eager"},
        "adapter": {"dir": "smollm2_adapter_r2", "r": RANK, "lora_alpha": ALPHA, "scaling": ALPHA / RANK,
                    "target_modules": TARGETS, "lora_dropout": 0.0, "tensors": n_tensors,
                    "init": f"torch.Generator().manual_seed({ADAPTER_SEED}); every lora_A/lora_B in "
                            f"model.named_parameters() order = randn*{ADAPTER_STD}, rounded to float16"},
        "config": {"beta": BETA, "max_length": MAX_LENGTH, "truncation_mode": "keep_start", "loss_type": "sigmoid",
                   "format": "standard (strings); EOS text appended to chosen/rejected; prompt and prompt+completion "
                             "tokenized jointly; completion = ids after the common prefix (== len(prompt_ids) here)",
                   "reference": "same model with the adapter disabled"},
        "pairs": out_pairs,
        "loss": {k: f32(v) for k, v in ours["losses"].items()},
        "metrics": {k: f32(v) for k, v in ours["metrics"].items()},
        "grad_norms": norms,
        "grad_total_norm": f32(total),
        "grads_file": os.path.basename(grads_path),
        "grads_file_layers": GRAD_LAYERS,
        "f32_vs_f64": noise,
        "trl_check": check,
    }
    size = write_json(os.path.join(TRAINING_FIXTURES, "smollm2_dpo.json"), fixture)
    print(f"wrote smollm2_dpo.json ({size} B), {os.path.basename(grads_path)} ({os.path.getsize(grads_path)} B), "
          f"adapter ({os.path.getsize(os.path.join(ADAPTER_DIR, 'adapter_model.safetensors'))} B)")
    print(json.dumps({"loss": fixture["loss"], "metrics": fixture["metrics"], "grad_total_norm": fixture["grad_total_norm"]},
                     indent=1))
    for p in out_pairs:
        print(len(p["prompt_ids"]), len(p["chosen_ids"]), len(p["rejected_ids"]), p["policy_chosen_logps"],
              p["reference_chosen_logps"], p["policy_rejected_logps"], p["reference_rejected_logps"])
    print(json.dumps({"f32_vs_f64": noise, "trl_check": check}, indent=1))


if __name__ == "__main__":
    main()
