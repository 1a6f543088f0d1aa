"""Generate Tests/ModelTests/Fixtures/smollm2_logits.json: SmolLM2-135M-Instruct reference logits and TRL-style
completion log-probs, computed by transformers LlamaForCausalLM in float32 with eager attention.
Pinned: torch==2.13.0+cpu transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 numpy==2.4.6
Needs the HF directory written by gguf_to_hf.py. Usage: python tools/reference/gen_model_fixtures.py [HF_DIR]"""
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture_common import (  # noqa: E402
    GGUF_PATH, HF_DIR, MODEL_FIXTURES, common_prefix_length, f32, f32_list, sha256_file, versions, write_json)

N_VOCAB_IDS = 64

PLAIN_ENGLISH = (
    "The old lighthouse stood at the edge of the cliff, its white paint peeling after decades of salt wind. "
    "Every evening the keeper climbed the spiral stairs, trimmed the wick, and watched the beam sweep across "
    "the dark water. Ships that passed in the night never knew his name, but they trusted his light."
)
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the boiling point of water at sea level?"},
    {"role": "assistant", "content": "Water boils at 100 degrees Celsius (212 °F) at sea level."},
    {"role": "user", "content": "And on top of Mount Everest?"},
]
CODE_NUMBERS_UNICODE = (
    "def mean(xs: list[float]) -> float:\n"
    '    """Average of 3.5, 2.25 and 10 → 5.25"""\n'
    "    return sum(xs) / len(xs)  # naïve café ☕, 日本語, 🚀, x² ≤ 1e-6, π≈3.14159\n"
    "\n"
    "print(mean([1, 22,  333]))\t# 118.666…\n"
    "width  =   42  # runs of spaces before digits tell Digits+ByteLevel from ByteLevel alone\n"
)

# (name, prompt, completion). TRL 1.16 appends the EOS text to plain (non-conversational) completions.
COMPLETION_PAIRS = [
    ("plain", "The capital of France is", " Paris. It is famous for the Eiffel Tower."),
    ("chatml", None, "Blue, red and yellow are the three primary colors."),  # prompt filled from the chat template
    ("merged_boundary", "My favourite fruit is the straw", "berry, eaten with cream."),
]
CHATML_PROMPT_MESSAGES = [{"role": "user", "content": "Name the three primary colors."}]


def forward_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)


def main():
    hf_dir = sys.argv[1] if len(sys.argv) > 1 else HF_DIR
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager").eval()

    chat_text = tok.apply_chat_template(CHAT_MESSAGES, tokenize=False, add_generation_prompt=True)
    texts = [("plain_english", PLAIN_ENGLISH), ("chatml_conversation", chat_text), ("code_numbers_unicode", CODE_NUMBERS_UNICODE)]

    # MARK: - forward every text (f32 eager; an f64 run only measures the f32 rounding noise)
    runs = []
    model64 = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float64, attn_implementation="eager").eval()
    noise = {"max_abs_logit": 0.0, "max_abs_logsumexp": 0.0}
    for name, text in texts:
        ids = tok(text)["input_ids"]
        assert 40 <= len(ids) <= 150, (name, len(ids))
        logits = forward_logits(model, ids)
        logits64 = forward_logits(model64, ids)
        noise["max_abs_logit"] = max(noise["max_abs_logit"], float((logits.double() - logits64).abs().max()))
        noise["max_abs_logsumexp"] = max(noise["max_abs_logsumexp"], float(
            (torch.logsumexp(logits.double(), -1) - torch.logsumexp(logits64, -1)).abs().max()))
        runs.append((name, text, ids, logits))
    del model64

    # MARK: - the fixed vocab ids: specials, the most frequent argmax ids, then evenly spread ids
    argmax_all = np.concatenate([r[3].argmax(-1).numpy() for r in runs])
    vals, counts = np.unique(argmax_all, return_counts=True)
    frequent = [int(v) for v in vals[np.argsort(-counts, kind="stable")]][:20]
    base = set([0, 1, 2] + frequent)
    V = runs[0][3].shape[1]
    n_spread = N_VOCAB_IDS - len(base)
    while len(base | set(np.linspace(3, V - 1, n_spread).round().astype(int).tolist())) < N_VOCAB_IDS:
        n_spread += 1  # a spread id collided with a frequent one: spread one more
    vocab_ids = sorted(base | set(np.linspace(3, V - 1, n_spread).round().astype(int).tolist()))
    assert len(vocab_ids) == N_VOCAB_IDS and (V - 1) in vocab_ids
    idx = torch.tensor(vocab_ids)

    out_texts = []
    for name, text, ids, logits in runs:
        top2 = logits.topk(2, dim=-1).values
        out_texts.append({
            "name": name,
            "text": text,
            "token_ids": ids,
            "tokens": tok.convert_ids_to_tokens(ids),
            "argmax": logits.argmax(-1).tolist(),
            "top2_gap": f32_list(top2[:, 0] - top2[:, 1]),  # largest minus second-largest logit: skip argmax near ties
            "logsumexp": f32_list(torch.logsumexp(logits, -1)),
            "logits": [f32_list(row) for row in logits[:, idx]],  # (T, 64): logits[t, vocab_ids[j]]
        })

    # MARK: - TRL-style completion log-probs
    chatml_prompt = tok.apply_chat_template(CHATML_PROMPT_MESSAGES, tokenize=False, add_generation_prompt=True)
    completions = []
    for name, prompt, completion in COMPLETION_PAIRS:
        prompt = chatml_prompt if prompt is None else prompt
        completion_text = completion if completion.endswith(tok.eos_token) else completion + tok.eos_token
        prompt_ids = tok(prompt)["input_ids"]
        full_ids = tok(prompt + completion_text)["input_ids"]
        start = common_prefix_length(prompt_ids, full_ids)  # TRL 1.16: completion starts where they diverge
        logits = forward_logits(model, full_ids)
        logp = torch.log_softmax(logits.double(), -1)  # selective log-softmax, done in f64 from the f32 logits
        completion_ids = full_ids[start:]
        per_tok = [float(logp[t - 1, full_ids[t]]) for t in range(start, len(full_ids))]
        completions.append({
            "name": name,
            "prompt": prompt,
            "completion": completion,
            "completion_text": completion_text,
            "prompt_ids": prompt_ids,
            "prompt_completion_ids": full_ids,
            "prompt_is_prefix": full_ids[: len(prompt_ids)] == prompt_ids,
            "completion_start": start,
            "completion_ids": completion_ids,
            "completion_tokens": tok.convert_ids_to_tokens(completion_ids),
            "per_token_logps": [f32(x) for x in per_tok],
            "sum_logp": f32(sum(per_tok)),
        })

    fixture = {
        "format": "leandpo-smollm2-logits-v1",
        "generator": "tools/reference/gen_model_fixtures.py",
        "versions": versions(),
        "model": {
            "gguf": os.path.basename(GGUF_PATH),
            "gguf_sha256": sha256_file(GGUF_PATH) if os.path.exists(GGUF_PATH) else None,
            "hf_dir_from": "tools/reference/gguf_to_hf.py (Q4_1/Q8_0 dequantized to f32)",
            "class": type(model).__name__, "dtype": "float32", "attn_implementation": "eager",
        },
        "tokenizer": {"add_bos": False, "eos_token": tok.eos_token, "eos_token_id": tok.eos_token_id,
                      "pre_tokenizer": "Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false)]"},
        "f32_vs_f64_max_abs": {k: f32(v) for k, v in noise.items()},
        "vocab_ids": vocab_ids,
        "texts": out_texts,
        "completion_logprobs": completions,
    }
    path = os.path.join(MODEL_FIXTURES, "smollm2_logits.json")
    size = write_json(path, fixture)
    print(f"wrote {path} ({size} bytes)")
    for t in out_texts:
        print(f"  {t['name']}: {len(t['token_ids'])} tokens, argmax[:8]={t['argmax'][:8]}")
    for c in completions:
        print(f"  {c['name']}: prefix={c['prompt_is_prefix']} start={c['completion_start']} "
              f"completion={c['completion_tokens']} sum_logp={c['sum_logp']}")
    print("  f32 vs f64:", fixture["f32_vs_f64_max_abs"])
    assert size < 1_500_000


if __name__ == "__main__":
    main()
