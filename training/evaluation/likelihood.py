"""Likelihood of the user's real replies: negative log-likelihood over the final reply's tokens
(the assistant tokens the training loss covers: the reply and its end-of-turn token), computed in
the same pass that generates the model's own reply. Intervals are in statistics.py."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from training.inference import GENERATION_BATCH, generate


@dataclass
class Scored:
    nll: float  # summed over the real reply's tokens (nats)
    tokens: int  # the real reply's tokens: the reply and its end-of-turn token
    reply: str  # the model's own reply to the same context


def likelihood_and_replies(
    model,
    tokenizer,
    end_of_turn: str,
    conversations: list[list[dict]],
    max_new_tokens: int,
    seed: int = 0,
    temperature: float = 0.8,
    top_p: float = 0.95,
    batch_size: int = GENERATION_BATCH,
) -> list[Scored]:
    """For each conversation (context turns, then the real reply): the real reply's NLL and the
    model's own reply, from one forward pass over the context.

    Contexts are batched by length and left-padded. The context's key/value cache, up to its last
    token, serves twice: a copy continues with the real reply (teacher-forced, for the NLL; the LM
    head runs only on the reply's positions), and `generate` continues it with a sampled reply
    (seeded per batch as generation.generate_replies is, so two models draw alike).
    """
    rows = [_tokens(tokenizer, messages) for messages in conversations]
    order = sorted(range(len(rows)), key=lambda i: rows[i][1])
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    end = tokenizer.convert_tokens_to_ids(end_of_turn)
    pad = end if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    results: list[Scored | None] = [None] * len(rows)
    for number, start in enumerate(range(0, len(order), batch_size)):
        batch = [rows[i] for i in order[start : start + batch_size]]
        width = max(prompt_len for _, prompt_len, _ in batch)
        prompts = torch.tensor([[pad] * (width - n) + ids[:n] for ids, n, _ in batch], device=model.device)
        mask = torch.tensor([[0] * (width - n) + [1] * n for _, n, _ in batch], device=model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate numbers left-padded rows
        tails = [ids[n - 1 :] for ids, n, _ in batch]  # the context's last token, then the real reply
        tail_width = max(len(t) for t in tails)
        tail_ids = torch.tensor([t + [pad] * (tail_width - len(t)) for t in tails], device=model.device)
        tail_mask = torch.tensor([[1] * len(t) + [0] * (tail_width - len(t)) for t in tails], device=model.device)
        with torch.no_grad():
            cache = causal_lm.base_model(
                input_ids=prompts[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1], use_cache=True
            ).cache
            hidden = causal_lm.base_model(
                input_ids=tail_ids,
                attention_mask=torch.cat([mask[:, :-1], tail_mask], dim=1),
                position_ids=positions[:, -1:] + torch.arange(tail_width, device=model.device),
                cache=copy.deepcopy(cache),
                use_cache=True,
            ).last_hidden_state
            nlls = [_reply_nll(causal_lm, hidden[row], ids, n, scored) for row, (ids, n, scored) in enumerate(batch)]
        output = generate(
            model,
            prompts,
            mask,
            end_id=end,
            pad_id=pad,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed + number,
            cache=cache,
        )
        for row, i in enumerate(order[start : start + batch_size]):
            reply = tokenizer.decode(output[row, width:], skip_special_tokens=True).strip()
            results[i] = Scored(nlls[row], len(batch[row][2]), reply)
    return results


def _tokens(tokenizer, messages: list[dict]) -> tuple[list[int], int, list[int]]:
    """Token ids of the whole conversation, the length of its prompt (the context with the
    assistant header) and the positions of the final reply's tokens the training loss covers."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, return_dict=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = full["input_ids"], full["assistant_masks"]
    if ids[: len(prompt)] != prompt:
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    return ids, len(prompt), [i for i in range(len(prompt), len(ids)) if mask[i]]


def _reply_nll(causal_lm, tail_hidden, ids: list[int], prompt_len: int, scored: list[int]) -> float:
    """The tail's output at index j predicts token prompt_len + j."""
    if not scored:
        return 0.0
    at = torch.tensor([p - prompt_len for p in scored], device=tail_hidden.device)
    log_probs = torch.log_softmax(causal_lm.get_output_embeddings()(tail_hidden[at]).float(), dim=-1)
    targets = torch.tensor([ids[p] for p in scored], device=tail_hidden.device).unsqueeze(1)
    return float(-log_probs.gather(1, targets).sum())


def mean_nll(nll_sums: list[float], token_counts: list[int]) -> float:
    total = sum(token_counts)
    return sum(nll_sums) / total if total else math.nan
