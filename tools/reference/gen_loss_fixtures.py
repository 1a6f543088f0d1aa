#!/usr/bin/env python3
"""Fixtures for the Training target's tests (losses, metrics, AdamW, LR schedules, TRL data handling).

Pinned: torch 2.13.0+cpu, transformers 5.24.0, trl 1.16.0, numpy 2.4.6, datasets (as installed with trl), run with
"$(tools/reference/setup-env)" tools/reference/gen_loss_fixtures.py  (writes Tests/TrainingTests/Fixtures/{loss,data}_*.json).

Where each number comes from (TRL's own code wherever TRL has code for it):
- DPO losses, every TRL loss_type incl. combinations and ld_alpha: TRL's own `DPOTrainer._compute_loss`, called
  unbound with a stub `self` (config attributes, an identity accelerator) and stub policy / reference models that return
  given per-token log-probs as `outputs.log_probs` (zero outside the completion, as the fused head returns them) and given
  vocabulary-mean logits as `outputs.mean_logits`. Batches are built by TRL's `DataCollatorForPreference`. Gradients are
  torch autograd w.r.t. the per-token log-probs; metrics are what `_compute_loss` appended to `self._metrics`.
  The stubs also return given per-token `entropy`, `is_top1` and `log_sum_sq_probs` (TRL's fused-head outputs), so the
  `entropy` and `mean_token_accuracy` metrics and WPO's weights (`use_weighting`) come from TRL's own lines too; the
  f-divergence cases (`f_divergence_type`, `f_alpha_divergence_coef`) go through the same `_compute_loss`.
- simpo: TRL's `CPOTrainer.cpo_loss` (unbound, stub self) on length-averaged logps. The averaging line of
  `CPOTrainer.get_batch_logps(average_log_prob=True)`, `(per_token_logps * loss_mask).sum(-1) / loss_mask.sum(-1)`, is
  transliterated (it needs vocabulary logits otherwise). The CPO NLL term (cpo_alpha) is transliterated from its
  `cross_entropy_loss` over the chosen completion tokens.
- orpo: TRL's `ORPOTrainer.odds_ratio_loss` (unbound) and its total `policy_nll_loss - losses.mean()`; the NLL is a
  transliteration of its `cross_entropy_loss` over the whole chosen sequence (prompt included), the averaged logps as
  for simpo.
- AdamW: torch.optim.AdamW (foreach=False: `_single_tensor_adam`, HF's CPU path) + torch.nn.utils.clip_grad_norm_.
- LR schedules: transformers.get_scheduler (LambdaLR) and TrainingArguments.get_warmup_steps.
- data: trl.data_utils.extract_prompt; TRL's own `DPOTrainer._prepare_dataset` (unbound, stub self) with a toy
  tokenizer and chat template that the Swift tests copy exactly (see ToyTokenizer); TRL's DataCollatorForPreference
  for keep_start / keep_end truncation.
Everything numeric is float64 except AdamW (float32, like training).
"""

import json
import math
import os
import tempfile
from collections import defaultdict
from types import SimpleNamespace

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from datasets import Dataset  # noqa: E402
from trl.data_utils import extract_prompt  # noqa: E402
from trl.experimental.cpo.cpo_trainer import CPOTrainer  # noqa: E402
from trl.experimental.orpo.orpo_trainer import ORPOTrainer  # noqa: E402
from trl.trainer.dpo_trainer import DataCollatorForPreference, DPOTrainer  # noqa: E402

datasets.disable_progress_bars()

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrainingTests", "Fixtures")


def r(x, digits=15):
    """Round for compact JSON (float64 values keep ~15 significant digits)."""
    if isinstance(x, (list, tuple)):
        return [r(v, digits) for v in x]
    return float(f"{float(x):.{digits}g}")


# MARK: - Stubs for TRL trainer methods


class Accelerator:
    device = torch.device("cpu")

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def unwrap_model(self, m):
        return m


class StubModel(torch.nn.Module):
    """Returns fixed fused-head outputs, each (2B, L-1): log_probs, mean_logits, entropy, is_top1, log_sum_sq_probs."""

    def __init__(self, log_probs, mean_logits, extras=None):
        super().__init__()
        self.is_gradient_checkpointing = False
        self.log_probs = log_probs
        self.mean_logits = mean_logits
        self.extras = extras

    def forward(self, **kwargs):
        assert kwargs.get("fused_lm_head")
        e = self.extras
        return SimpleNamespace(
            log_probs=self.log_probs,
            entropy=e["entropy"] if e else torch.zeros_like(self.log_probs),
            mean_logits=self.mean_logits,
            is_top1=e["is_top1"] if e else torch.zeros(self.log_probs.shape, dtype=torch.bool),
            log_sum_sq_probs=e["log_sum_sq"] if e else None,
        )


# MARK: - Loss batches


def make_batch(seed, pairs=8):
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(pairs):
        p = int(rng.integers(1, 5))
        examples.append(
            {
                "prompt_ids": rng.integers(3, 100, p).tolist(),
                "chosen_ids": rng.integers(3, 100, int(rng.integers(2, 9))).tolist(),
                "rejected_ids": rng.integers(3, 100, int(rng.integers(2, 9))).tolist(),
            }
        )
    batch = DataCollatorForPreference(pad_token_id=0)(examples)
    rows, length = batch["input_ids"].shape
    attn = batch["attention_mask"][:, 1:].double()  # predicted positions that exist
    ref = -torch.tensor(rng.uniform(0.02, 3.0, (rows, length - 1))) * attn
    policy = (ref + torch.tensor(rng.normal(0, 0.4, (rows, length - 1)))).clamp(max=-1e-3) * attn
    mean_logits = torch.tensor(rng.normal(0, 2.0, (rows, length - 1))) * attn
    # The head's other outputs, from a second generator so the arrays above stay as they were.
    rng2 = np.random.default_rng(seed + 100)
    extras = {
        "entropy": torch.tensor(rng2.uniform(0.0, 5.0, (rows, length - 1))) * attn,
        "is_top1": torch.tensor(rng2.uniform(0, 1, (rows, length - 1)) < 0.4) & attn.bool(),
        "log_sum_sq": torch.tensor(rng2.uniform(-4.0, -0.05, (rows, length - 1))) * attn,
    }
    return batch, policy, ref, mean_logits, extras


def dpo_case(batch, policy, ref, mean_logits, extras, cfg):
    # TRL's alpha-divergence branch knows only float16/bfloat16/float32 (its clamp table has no float64): those cases
    # run in float32 and say so (`precision`), the tests loosen their tolerance for them.
    if cfg["f_divergence_type"] == "alpha_divergence" and abs(cfg["f_alpha_divergence_coef"] - 1.0) >= 1e-6:
        policy, ref, mean_logits = policy.float(), ref.float(), mean_logits.float()
        extras = {k: (v.float() if v.is_floating_point() else v) for k, v in extras.items()}
    raw = policy.clone().requires_grad_(True)
    shift = batch["completion_mask"][:, 1:].to(policy.dtype)
    model = StubModel(raw * shift, mean_logits, extras)
    ref_model = StubModel(ref * shift, mean_logits)
    stub = SimpleNamespace(
        model=model,
        ref_model=ref_model,
        accelerator=Accelerator(),
        aux_loss_enabled=False,
        ld_alpha=cfg["ld_alpha"],
        precompute_ref_logps=False,
        f_divergence_type=cfg["f_divergence_type"],
        f_alpha_divergence_coef=cfg["f_alpha_divergence_coef"],
        loss_types=cfg["losses"],
        loss_weights=cfg["weights"],
        beta=cfg["beta"],
        label_smoothing=cfg["label_smoothing"],
        args=SimpleNamespace(discopop_tau=cfg["discopop_tau"], gradient_checkpointing_kwargs=None),
        use_weighting=cfg["use_weighting"],
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "completion_mask")}
    loss = DPOTrainer._compute_loss(stub, model, inputs, False)
    loss.backward()
    keep = [
        "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
        "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected", "entropy", "mean_token_accuracy",
    ]
    metrics = {k: stub._metrics["train"][k][0] for k in keep}
    return loss.item(), raw.grad, metrics


def averaged(raw, mask):
    # CPOTrainer/ORPOTrainer.get_batch_logps(average_log_prob=True): (per_token_logps * loss_mask).sum(-1) / loss_mask.sum(-1)
    return (raw * mask).sum(-1) / mask.sum(-1)


def chosen_nll(raw, mask):
    # nn.CrossEntropyLoss() mean over the non-ignored labels of the chosen half
    return -(raw * mask).sum() / mask.sum()


def simpo_case(batch, policy, cfg, cpo_alpha=0.0):
    raw = policy.clone().requires_grad_(True)
    shift = batch["completion_mask"][:, 1:].double()
    avg = averaged(raw, shift)
    c, rj = avg.chunk(2)
    stub = SimpleNamespace(
        alpha=0.0, loss_type="simpo", simpo_gamma=cfg["simpo_gamma"], beta=cfg["beta"],
        label_smoothing=cfg["label_smoothing"], accelerator=Accelerator(),
    )
    losses, chosen_rewards, rejected_rewards = CPOTrainer.cpo_loss(stub, c, rj)
    nll = chosen_nll(raw.chunk(2)[0], shift.chunk(2)[0]) if cpo_alpha else torch.tensor(0.0)
    loss = losses.mean() + cpo_alpha * nll  # CPOTrainer.get_batch_loss_metrics
    loss.backward()
    metrics = reward_metrics(chosen_rewards, rejected_rewards, c, rj)
    if cpo_alpha:
        metrics["nll_loss"] = nll.item()
    return loss.item(), raw.grad, metrics


def orpo_case(batch, policy, cfg):
    raw = policy.clone().requires_grad_(True)
    shift = batch["completion_mask"][:, 1:].double()
    attn = batch["attention_mask"][:, 1:].double()
    avg = averaged(raw, shift)
    c, rj = avg.chunk(2)
    nll = chosen_nll(raw.chunk(2)[0], attn.chunk(2)[0])  # ORPO: whole chosen sequence, prompt included
    stub = SimpleNamespace(beta=cfg["orpo_lambda"], accelerator=Accelerator())
    losses, chosen_rewards, rejected_rewards, ratio, log_odds = ORPOTrainer.odds_ratio_loss(stub, c, rj)
    loss = nll - losses.mean()  # ORPOTrainer.get_batch_loss_metrics
    loss.backward()
    metrics = reward_metrics(chosen_rewards, rejected_rewards, c, rj)
    metrics.update({"nll_loss": nll.item(), "log_odds_ratio": ratio.item(), "log_odds_chosen": log_odds.item()})
    return loss.item(), raw.grad, metrics


def reward_metrics(cr, rr, c, rj):
    return {
        "rewards/chosen": cr.mean().item(),
        "rewards/rejected": rr.mean().item(),
        "rewards/accuracies": (cr > rr).double().mean().item(),
        "rewards/margins": (cr - rr).mean().item(),
        "logps/chosen": c.detach().mean().item(),
        "logps/rejected": rj.detach().mean().item(),
    }


def config(losses, weights=None, beta=0.1, label_smoothing=0.0, ld_alpha=None, discopop_tau=0.05,
           simpo_gamma=0.5, orpo_lambda=0.1, f_divergence_type="reverse_kl", f_alpha_divergence_coef=0.5,
           use_weighting=False):
    return {
        "losses": losses, "weights": weights or [1.0] * len(losses), "beta": beta,
        "label_smoothing": label_smoothing, "ld_alpha": ld_alpha, "discopop_tau": discopop_tau,
        "simpo_gamma": simpo_gamma, "orpo_lambda": orpo_lambda, "f_divergence_type": f_divergence_type,
        "f_alpha_divergence_coef": f_alpha_divergence_coef, "use_weighting": use_weighting,
    }


def loss_fixtures():
    dpo_kinds = {
        "sigmoid": {}, "hinge": {}, "ipo": {}, "exo_pair": {"label_smoothing": 0.1}, "nca_pair": {},
        "robust": {"label_smoothing": 0.2}, "bco_pair": {}, "sppo_hard": {}, "aot": {"label_smoothing": 0.1},
        "aot_unpaired": {"label_smoothing": 0.1}, "apo_zero": {}, "apo_down": {}, "discopop": {}, "sft": {},
        "sigmoid_norm": {},
    }
    batches, cases = [], []
    for b, (seed, beta) in enumerate([(0, 0.1), (1, 0.5), (2, 2.0)]):
        batch, policy, ref, mean_logits, extras = make_batch(seed)
        batches.append({
            "seed": seed,
            "lengths": batch["attention_mask"].sum(1).tolist(),
            "completion_start": [int(row.tolist().index(1)) for row in batch["completion_mask"]],
            "policy": [r(row) for row in policy.tolist()],
            "reference": [r(row) for row in ref.tolist()],
            "mean_logits": [r(row) for row in mean_logits.tolist()],
            "entropy": [r(row) for row in extras["entropy"].tolist()],
            "is_top1": extras["is_top1"].tolist(),
            "log_sum_sq": [r(row) for row in extras["log_sum_sq"].tolist()],
        })
        cfgs = [config([k], beta=beta, **extra) for k, extra in dpo_kinds.items()]
        cfgs += [
            config(["sigmoid", "sft"], [1.0, 0.5], beta=beta),
            config(["sigmoid"], beta=beta, ld_alpha=0.5),
            config(["apo_down", "sft", "ipo"], [1.0, 0.2, 0.3], beta=beta, ld_alpha=0.3),
            config(["discopop"], beta=beta, discopop_tau=0.5),
        ]
        # f-DPO: every divergence on the delta-score losses (alpha 1.0 is TRL's fall-back to reverse KL).
        for fdiv, alpha in [("forward_kl", 0.5), ("js_divergence", 0.5), ("alpha_divergence", 0.5),
                            ("alpha_divergence", 1.5), ("alpha_divergence", 1.0)]:
            cfgs.append(config(["sigmoid"], beta=beta, f_divergence_type=fdiv, f_alpha_divergence_coef=alpha))
            cfgs.append(config(["sigmoid_norm", "ipo", "hinge", "sft"], [1.0, 0.3, 0.2, 0.5], beta=beta,
                               f_divergence_type=fdiv, f_alpha_divergence_coef=alpha))
            cfgs.append(config(["exo_pair", "robust", "discopop"], beta=beta, label_smoothing=0.1,
                               f_divergence_type=fdiv, f_alpha_divergence_coef=alpha))
        # WPO weights on every per-pair loss (not aot), with ld_alpha and an f-divergence. Not with sft or hinge: TRL 1.16
        # raises there (its in-place `per_sequence_loss *=` hits sft's expanded scalar and relu's saved output);
        # LossGradientTests checks those combinations.
        cfgs += [
            config(["sigmoid"], beta=beta, use_weighting=True),
            config(["ipo", "nca_pair", "bco_pair", "sppo_hard"], beta=beta, use_weighting=True),
            config(["apo_zero", "apo_down", "sigmoid_norm"], beta=beta, use_weighting=True, ld_alpha=0.5),
            config(["exo_pair", "robust", "discopop"], beta=beta, label_smoothing=0.1, use_weighting=True,
                   f_divergence_type="js_divergence"),
        ]
        for cfg in cfgs:
            loss, grad, metrics = dpo_case(batch, policy, ref, mean_logits, extras, cfg)
            cases.append({"batch": b, "config": cfg, "reference_free": False, "loss": loss,
                          "grad": [r(row) for row in grad.tolist()], "metrics": metrics,
                          "precision": 32 if grad.dtype == torch.float32 else 64})
        for cfg, alpha in [(config(["simpo"], beta=beta), 0.0),
                           (config(["simpo"], beta=beta, label_smoothing=0.1, simpo_gamma=1.0), 0.0),
                           (config(["simpo", "sft"], [1.0, 1.0], beta=beta), 1.0)]:
            loss, grad, metrics = simpo_case(batch, policy, cfg, cpo_alpha=alpha)
            cases.append({"batch": b, "config": cfg, "reference_free": True, "loss": loss,
                          "grad": [r(row) for row in grad.tolist()], "metrics": metrics})
        for lam in (0.1, 0.5):
            cfg = config(["orpo"], beta=beta, orpo_lambda=lam)
            loss, grad, metrics = orpo_case(batch, policy, cfg)
            cases.append({"batch": b, "config": cfg, "reference_free": True, "loss": loss,
                          "grad": [r(row) for row in grad.tolist()], "metrics": metrics})
    return {"batches": batches, "cases": cases}


# MARK: - AdamW and clipping


def adamw_fixtures():
    cases = []
    settings = [
        dict(lr=[1e-3] * 5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, max_norm=1.0),
        dict(lr=[5e-2, 4e-2, 3e-2, 2e-2, 1e-2], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, max_norm=None),
        dict(lr=[0.0, 2.5e-3, 5e-3, 5e-3, 2.5e-3], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, max_norm=0.5),
    ]
    for seed, s in enumerate(settings):
        g = torch.Generator().manual_seed(100 + seed)
        p = torch.nn.Parameter(torch.randn(37, generator=g, dtype=torch.float32))
        opt = torch.optim.AdamW([p], lr=s["lr"][0], betas=s["betas"], eps=s["eps"],
                                weight_decay=s["weight_decay"], foreach=False)
        initial = p.detach().clone().tolist()
        steps = []
        for lr in s["lr"]:
            grad = (torch.randn(37, generator=g, dtype=torch.float32) * 0.6).contiguous()
            p.grad = grad.clone()
            norm = None
            if s["max_norm"] is not None:
                norm = torch.nn.utils.clip_grad_norm_([p], s["max_norm"]).item()
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            steps.append({"lr": lr, "grad": grad.tolist(), "grad_norm": norm, "params": p.detach().tolist()})
        st = opt.state[p]
        cases.append({
            "beta1": s["betas"][0], "beta2": s["betas"][1], "eps": s["eps"], "weight_decay": s["weight_decay"],
            "max_norm": s["max_norm"], "initial": initial, "steps": steps,
            "m": st["exp_avg"].tolist(), "v": st["exp_avg_sq"].tolist(), "step": int(st["step"].item()),
        })
    return {"cases": cases}


# MARK: - LR schedules


def lr_fixtures():
    base = 5e-5
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, total, warmup in [
            ("constant", 12, 0), ("constant_with_warmup", 12, 4), ("linear", 20, 0), ("linear", 20, 3),
            ("linear", 25, 0.1), ("cosine", 20, 0), ("cosine", 25, 4), ("cosine", 30, 0.15),
        ]:
            args = transformers.TrainingArguments(output_dir=tmp, warmup_steps=warmup, report_to=[])
            warmup_steps = args.get_warmup_steps(total)
            opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
            sched = transformers.get_scheduler(name, opt, num_warmup_steps=warmup_steps, num_training_steps=total)
            lrs = []
            for _ in range(total + 2):
                lrs.append(sched.get_last_lr()[0])
                opt.step()
                sched.step()
            kind = {"constant_with_warmup": "constant"}.get(name, name)
            cases.append({"scheduler": name, "kind": kind, "total": total,
                          "warmup_steps": warmup if isinstance(warmup, int) else None,
                          "warmup_ratio": warmup if isinstance(warmup, float) else None,
                          "resolved_warmup": warmup_steps, "base_lr": base, "lrs": lrs})
    return {"cases": cases}


# MARK: - Data: extract_prompt and TRL tokenization with a toy tokenizer


class ToyTokenizer:
    """Copied exactly by the Swift tests (ToyTokenizer.swift): special tokens "<s>" = 1 and "</s>" = 2 are matched in
    the text; the rest is split by greedy longest match over VOCAB, else single bytes (id 3 + byte).
    add_special_tokens prepends BOS (1). The chat template renders
    "<s>" + for each message "<|role|>\\n" + content + "</s>\\n", and the generation prompt "<|assistant|>\\n"."""

    SPECIAL = {"<s>": 1, "</s>": 2}
    VOCAB = {"The": 300, "Then": 301, " I": 302, "Human": 303, "Assistant": 304, "\n\n": 305, ": ": 306,
             "<|user|>": 307, "<|assistant|>": 308, "<|system|>": 309}
    eos_token = "</s>"
    bos_token = "<s>"

    def encode_plain(self, text):
        data = text.encode("utf-8")
        vocab = {k.encode(): v for k, v in self.VOCAB.items()}
        longest = max(len(k) for k in vocab)
        ids, i = [], 0
        while i < len(data):
            for n in range(min(longest, len(data) - i), 0, -1):
                piece = data[i:i + n]
                if piece in vocab:
                    ids.append(vocab[piece])
                    i += n
                    break
            else:
                ids.append(3 + data[i])
                i += 1
        return ids

    def encode(self, text, add_special_tokens=True):
        ids = [1] if add_special_tokens else []
        i = 0
        while i < len(text):
            nxt = [(text.find(s, i), s) for s in self.SPECIAL if text.find(s, i) >= 0]
            if not nxt:
                ids += self.encode_plain(text[i:])
                break
            pos, s = min(nxt)
            ids += self.encode_plain(text[i:pos]) + [self.SPECIAL[s]]
            i = pos + len(s)
        return ids

    def __call__(self, text):
        return {"input_ids": self.encode(text, True)}

    @staticmethod
    def render(messages, add_generation_prompt=False):
        s = "<s>" + "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages)
        return s + ("<|assistant|>\n" if add_generation_prompt else "")

    def apply_chat_template(self, messages, tokenize=True, return_dict=True, add_generation_prompt=False, tools=None):
        assert tokenize and return_dict and tools is None
        return {"input_ids": self.encode(self.render(messages, add_generation_prompt), add_special_tokens=False)}

    def decode(self, ids):
        return repr(ids)


def data_fixtures():
    extract_cases = [
        ("\n\nHuman: Hi\n\nAssistant: Hello there", "\n\nHuman: Hi\n\nAssistant: Go away"),
        ("\n\nHuman: Hi\n\nAssistant: I can help.", "\n\nHuman: Hi\n\nAssistant: I cannot."),  # mid-word
        ("\n\nHuman: Q\n\nAssistant: The cat", "\n\nHuman: Q\n\nAssistant: Then"),  # mid-word, token merge
        ("Say yes", "Say no"),  # space before the split moves to the completions
        ("abc", "abcd"),  # no difference within the shorter: prompt stops one short
        ("Yes ", "No"),  # first char differs and chosen ends with a space: Python's idx = -1
        ("café au lait", "cafe\u0301 noir"),  # code points, not grapheme clusters
        ("x", "y"),
    ]
    extract = [{"chosen": c, "rejected": rj, "expected": extract_prompt({"chosen": c, "rejected": rj})}
               for c, rj in extract_cases]

    datasets = {
        "standard": [
            {"prompt": "\n\nHuman: Name a color.\n\nAssistant:", "chosen": " Blue.", "rejected": " Table."},
            {"prompt": "The sky is", "chosen": " blue</s>", "rejected": " green", "extra": 7},
            {"prompt": "Q: 2+2?\nA: ", "chosen": "I think 4", "rejected": "I think 5"},  # prompt ends with a space
            {"prompt": "x" * 30, "chosen": " long prompt", "rejected": " dropped"},
        ],
        "implicit": [
            {"chosen": "\n\nHuman: Q\n\nAssistant: The cat sat.", "rejected": "\n\nHuman: Q\n\nAssistant: Then no."},
            {"chosen": "\n\nHuman: Hi\n\nAssistant: I can help.", "rejected": "\n\nHuman: Hi\n\nAssistant: I cannot."},
            {"chosen": "Say yes", "rejected": "Say no"},
        ],
        "conversational": [
            {"prompt": [{"role": "user", "content": "Hi"}],
             "chosen": [{"role": "assistant", "content": "Hello!"}],
             "rejected": [{"role": "assistant", "content": "Go away."}]},
            {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
             "chosen": [{"role": "assistant", "content": "4"}],
             "rejected": [{"role": "assistant", "content": "It is a long story that starts with counting."}]},
        ],
        "implicit_conversational": [
            {"chosen": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}],
             "rejected": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Car."}]},
        ],
    }
    tok = ToyTokenizer()
    out = {"extract_prompt": extract, "datasets": []}
    for name, examples in datasets.items():
        for max_length, mode in [(None, "keep_start"), (24, "keep_start"), (24, "keep_end"), (40, "keep_start")]:
            stub = SimpleNamespace(_tokenizer=tok)
            args = SimpleNamespace(dataset_num_proc=None, max_length=max_length, truncation_mode=mode)
            ds = DPOTrainer._prepare_dataset(stub, Dataset.from_list(examples), tok, args, name)
            rows = [{"prompt_ids": e["prompt_ids"], "chosen_ids": e["chosen_ids"], "rejected_ids": e["rejected_ids"]}
                    for e in ds]
            collated = DataCollatorForPreference(pad_token_id=0, max_length=max_length, truncation_mode=mode)(rows)
            n = len(rows)
            seqs = []
            for k in range(2 * n):
                length = int(collated["attention_mask"][k].sum())
                ids = collated["input_ids"][k][:length].tolist()
                mask = collated["completion_mask"][k][:length].tolist()
                seqs.append({"ids": ids, "completion_start": mask.index(1) if 1 in mask else length})
            out["datasets"].append({
                "name": name, "max_length": max_length, "truncation": mode, "examples": examples,
                "pairs": [dict(rows[i], chosen=seqs[i], rejected=seqs[n + i]) for i in range(n)],
            })
    return out


def main():
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    outputs = {
        "loss_dpo_family.json": loss_fixtures(),
        "loss_adamw.json": adamw_fixtures(),
        "loss_lr_schedules.json": lr_fixtures(),
        "data_trl_tokenization.json": data_fixtures(),
    }
    for name, value in outputs.items():
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(value, f, separators=(",", ":"), ensure_ascii=False)
            f.write("\n")
        print(f"{name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
