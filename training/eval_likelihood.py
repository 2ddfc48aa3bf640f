"""Likelihood of the user's real replies: negative log-likelihood over the final reply's tokens
(the assistant tokens the training loss covers: the reply and its end-of-turn token), and
bootstrap confidence intervals for token-weighted means."""
from __future__ import annotations

import math

import numpy as np
import torch


def reply_nll(model, tokenizer, messages: list[dict]) -> tuple[float, int]:
    """Summed NLL (nats) of the last message, an assistant turn, given the ones before; and its token count."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, return_dict=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = full["input_ids"], full["assistant_masks"]
    if ids[:len(prompt)] != prompt:
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    scored = [i for i in range(max(len(prompt), 1), len(ids)) if mask[i]]
    if not scored:
        return 0.0, 0
    input_ids = torch.tensor([ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0].float()
    positions = torch.tensor(scored, device=model.device)
    log_probs = torch.log_softmax(logits[positions - 1], dim=-1)
    picked = log_probs.gather(1, input_ids[0, positions].unsqueeze(1))
    return float(-picked.sum()), len(scored)


def mean_nll(nll_sums: list[float], token_counts: list[int]) -> float:
    total = sum(token_counts)
    return sum(nll_sums) / total if total else math.nan


def bootstrap_nll(nll_sums: list[float], token_counts: list[int], rounds: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the token-weighted mean NLL, resampling whole examples."""
    sums, counts = np.asarray(nll_sums, dtype=float), np.asarray(token_counts, dtype=float)
    if len(sums) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(rounds, len(sums)))
    means = sums[picks].sum(axis=1) / np.maximum(counts[picks].sum(axis=1), 1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
