"""Retrieved exchanges in a prompt: after the run's system prompt (unchanged: the one training
used), as earlier turns of the chat (the message, then my reply), the best match nearest the real
conversation. They take at most `budget` tokens, and the whole prompt at most `limit`; the worst
matches are left out first until both hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.memory.index import Exchange, MemoryIndex


@dataclass(frozen=True)
class Recall:
    """k past exchanges per prompt from `index`, within `budget` tokens."""

    index: MemoryIndex
    k: int
    budget: int

    @classmethod
    def open(cls, warehouse: Path, k: int, budget: int) -> Recall | None:
        """The warehouse's memory (rebuilt when the train split changed), or None when k is 0."""
        return cls(MemoryIndex.open(warehouse), k, budget) if k > 0 else None

    def into(
        self,
        messages: list[dict],
        tokenizer,
        platform: str | None = None,
        partner: str | None = None,
        limit: int | None = None,
        prompt: bool = True,
    ) -> list[dict]:
        """`messages` with the past exchanges most like its last incoming message.

        `prompt`: the messages end with the incoming message (a generation prompt follows); False
        when they end with the reply being scored, as in the evaluation."""
        last = len(messages) - (1 if prompt else 2)
        if last < 0 or messages[last]["role"] != "user":
            return messages
        found = self.index.search(messages[last]["content"], platform, partner, self.k)
        return with_memory(messages, found, tokenizer, self.budget, limit, prompt=prompt)


def with_memory(
    messages: list[dict],
    exchanges: list[Exchange],
    tokenizer,
    budget: int,
    limit: int | None = None,
    *,
    prompt: bool = True,
) -> list[dict]:
    """`messages` (system first, if any) with as many of `exchanges` (best first) as fit."""
    if not exchanges:
        return messages
    head = 1 if messages and messages[0]["role"] == "system" else 0
    without = _length(tokenizer, messages, prompt)
    for n in range(len(exchanges), 0, -1):
        turns = [
            turn
            for ex in reversed(exchanges[:n])
            for turn in ({"role": "user", "content": ex.incoming}, {"role": "assistant", "content": ex.reply})
        ]
        candidate = messages[:head] + turns + messages[head:]
        length = _length(tokenizer, candidate, prompt)
        if length - without <= budget and (limit is None or length <= limit):
            return candidate
    return messages


def _length(tokenizer, messages: list[dict], prompt: bool) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, add_generation_prompt=prompt))
