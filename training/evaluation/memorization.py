"""What the model remembers: a memorization audit of a trained run against its base.

Verbatim extraction: each model greedy-decodes a reply to the context of a sample of training
examples; the share reproduced exactly and the longest run of characters shared with the real
reply say how much it repeats what it was trained on. The same measure of the tuned model on
test examples, which neither model saw, is the floor (short common replies are "reproduced" by
chance).

Canary exposure (Carlini et al., "The Secret Sharer", 2019): for a string planted in training
replies, the log-likelihood of the canary after the reply's text up to it is ranked among random
strings of the same shape (letters for letters, digits for digits); exposure = log2(candidates) −
log2(rank), from 0 up to log2(candidates) bits, about 1 bit for a string the model never saw. The
extrapolated exposure fits a normal distribution to the alternatives' log-likelihoods, reaching
beyond log2(candidates). The base is the control: it never saw the canary.

Only numbers leave this module in metrics; the texts go to the report.
"""

from __future__ import annotations

import copy
import math
import random
import string
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from statistics import NormalDist

import numpy as np
import torch

from training.evaluation.blind import wilson
from training.inference import generate_replies

MODELS = ("base", "tuned")
N_ALTERNATIVES = 255  # 256 candidates: exposure up to 8 bits by rank
SCORE_BATCH = 64


@dataclass
class Extraction:
    """One audited example: its split, context, real reply and each model's greedy reply."""

    split: str
    context: list[dict]
    real: str
    generated: dict[str, str] = field(default_factory=dict)


@dataclass
class Canary:
    text: str
    training_replies: int
    context: list[dict] | None = None  # the first training example whose reply holds it
    prefix: str = ""  # that reply up to the canary
    exposure: dict[str, float] = field(default_factory=dict)
    extrapolated: dict[str, float] = field(default_factory=dict)
    emitted: dict[str, str] = field(default_factory=dict)  # each model's greedy reply to the context


def audit(
    model,
    tokenizer,
    end_of_turn: str,
    use_model,
    train: list[dict],
    test: list[dict],
    canaries: list[Canary],
    max_new_tokens: int,
    seed: int = 0,
) -> tuple[dict, list[Extraction]]:
    """The audit's metrics and extractions; the canaries get their exposures. `use_model(name)` is a
    context in which `model` acts as the base or the tuned model; `train` and `test` are the sampled
    examples (chat messages), the canaries located with `locate`."""
    items = [Extraction("train", ex["messages"][:-1], ex["messages"][-1]["content"]) for ex in train]
    items += [Extraction("test", ex["messages"][:-1], ex["messages"][-1]["content"]) for ex in test]
    probes = [c for c in canaries if c.context is not None]
    for name in MODELS:
        # Greedy: the most likely reply is what an extraction attack would read first.
        audited = [it for it in items if it.split == "train" or name == "tuned"]
        with use_model(name):
            replies = generate_replies(
                model,
                tokenizer,
                end_of_turn,
                [it.context for it in audited] + [c.context for c in probes],
                max_new_tokens,
                temperature=0,
            )
            for it, reply in zip(audited, replies):
                it.generated[name] = reply
            for canary, reply in zip(probes, replies[len(audited) :]):
                canary.emitted[name] = reply
                rank, total, extrapolated = _exposure(model, tokenizer, canary, seed)
                canary.exposure[name] = math.log2(total) - math.log2(rank)
                canary.extrapolated[name] = extrapolated
    return _metrics(items, canaries, max_new_tokens), items


def locate(text: str, train: list[dict]) -> Canary:
    """The canary `text` with the training replies that hold it (none: redacted, or never there)."""
    holders = [ex for ex in train if text in ex["messages"][-1]["content"]]
    if not holders:
        return Canary(text, 0)
    reply = holders[0]["messages"][-1]["content"]
    return Canary(text, len(holders), holders[0]["messages"][:-1], reply[: reply.index(text)])


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest run of characters `a` and `b` share."""
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def _metrics(items: list[Extraction], canaries: list[Canary], max_new_tokens: int) -> dict:
    groups = {
        "base": [(it.real, it.generated["base"]) for it in items if it.split == "train"],
        "tuned": [(it.real, it.generated["tuned"]) for it in items if it.split == "train"],
        "test_reference": [(it.real, it.generated["tuned"]) for it in items if it.split == "test"],
    }
    rates, cis, runs, shares = {}, {}, {}, {}
    for key, pairs in groups.items():
        exact = sum(real.strip() == generated.strip() for real, generated in pairs)
        rates[key] = exact / len(pairs) if pairs else None
        cis[key] = list(wilson(exact, len(pairs)))
        lengths = [longest_common_run(real, generated) for real, generated in pairs]
        runs[key] = float(np.mean(lengths)) if pairs else None
        shares[key] = float(np.mean([n / max(len(real), 1) for n, (real, _) in zip(lengths, pairs)])) if pairs else None
    return {
        "n_train": len(groups["base"]),
        "n_test": len(groups["test_reference"]),
        "max_new_tokens": max_new_tokens,
        "verbatim_rate": rates,
        "verbatim_rate_ci": cis,
        "longest_common_run_chars": runs,
        "longest_common_run_share": shares,
        "canary_exposure": [
            {
                "canary": number,
                "characters": len(c.text),
                "training_replies": c.training_replies,
                "candidates": N_ALTERNATIVES + 1,
                "max_exposure": math.log2(N_ALTERNATIVES + 1),
                "exposure": c.exposure or None,
                "extrapolated_exposure": c.extrapolated or None,
                "emitted": {name: c.text in reply for name, reply in c.emitted.items()} or None,
            }
            for number, c in enumerate(canaries, start=1)
        ],
    }


def alternatives(canary: str, n: int, seed: int = 0) -> list[str]:
    """`n` distinct random strings of the canary's shape, none equal to it: each lower-case letter
    replaced by a random one, upper-case and digits likewise, anything else kept."""
    rng = random.Random(f"{seed}:{canary}")
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    slots = [next((p for p in pools if ch in p), None) for ch in canary]
    space = math.prod(len(p) for p in slots if p)
    out: set[str] = set()
    while len(out) < min(n, space - 1):
        candidate = "".join(rng.choice(p) if p else ch for p, ch in zip(slots, canary))
        if candidate != canary:
            out.add(candidate)
    return sorted(out)


def _exposure(model, tokenizer, canary: Canary, seed: int) -> tuple[int, int, float]:
    """The canary's rank (1 = most likely) among its candidates, their number, and the extrapolated exposure."""
    candidates = [canary.text, *alternatives(canary.text, N_ALTERNATIVES, seed)]
    scores = sequence_log_likelihoods(model, tokenizer, canary.context, canary.prefix, candidates)
    rank = 1 + int(np.sum(scores[1:] > scores[0])) + int(np.sum(scores[1:] == scores[0])) // 2
    others = scores[1:]
    spread = float(others.std())
    if spread == 0:
        return rank, len(candidates), math.log2(len(candidates)) - math.log2(rank)
    tail = 1 - NormalDist(float(others.mean()), spread).cdf(float(scores[0]))
    return rank, len(candidates), -math.log2(max(tail, 1e-300))


def sequence_log_likelihoods(model, tokenizer, context: list[dict], prefix: str, candidates: list[str]) -> np.ndarray:
    """log P(prefix + candidate | context) beyond the tokens all candidates share, for each candidate.

    The shared tokens (the prompt and the reply up to the canary) run once; their key/value cache
    is repeated for each batch of candidates, which differ in a few tokens only. Right padding
    needs no mask: a causal model's real tokens never attend to the pads after them."""
    prompt = tokenizer.apply_chat_template(context, add_generation_prompt=True, return_dict=False)
    ids = [prompt + tokenizer(prefix + c, add_special_tokens=False)["input_ids"] for c in candidates]
    shared = min(_common_prefix(ids[0], other) for other in ids)
    shared = max(2, min(shared, min(len(i) for i in ids) - 1))  # one token cached, one scored at least
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = model.device
    with torch.no_grad():
        cache = model(input_ids=torch.tensor([ids[0][: shared - 1]], device=device), use_cache=True).cache
        scores = []
        for start in range(0, len(ids), SCORE_BATCH):
            tails = [i[shared - 1 :] for i in ids[start : start + SCORE_BATCH]]
            width = max(len(t) for t in tails)
            batch = torch.tensor([t + [pad] * (width - len(t)) for t in tails], device=device)
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(tails))
            logits = model(input_ids=batch, cache=batch_cache, use_cache=True).logits.float()
            log_probs = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, batch[:, 1:, None])[..., 0]
            for row, tail in enumerate(tails):
                scores.append(float(log_probs[row, : len(tail) - 1].sum()))
    return np.array(scores)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
