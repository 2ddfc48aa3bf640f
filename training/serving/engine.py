"""One model, one generation at a time: requests queue for a single worker thread.

A CPU (or one GPU) runs one `generate` well; running several at once only slows each down and
multiplies memory. The worker relays each new piece of text to the request's asyncio queue and
stops early when the request is cancelled (a client that went away), which frees the slot.
Prompts are tokenised on a thread of their own too, so that the event loop (and /health) never
waits for a tokenizer or a model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from training.inference import generate

log = logging.getLogger("ai_me.serve")


class QueueFull(Exception):
    """More requests wait than the server accepts."""


@dataclass
class Job:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class Done:
    finish_reason: str  # stop | length | cancelled
    completion_tokens: int


class _Relay(StoppingCriteria):
    """Called after every new token: sends the new text on, and stops generation when cancelled."""

    def __init__(self, job: Job, tokenizer, emit):
        self.job, self.tokenizer, self.emit = job, tokenizer, emit
        self.start, self.sent = len(job.prompt_ids), ""

    def __call__(self, input_ids, scores, **kwargs):
        self.flush(input_ids[0, self.start :].tolist(), final=False)
        return torch.full((input_ids.shape[0],), self.job.cancelled.is_set(), dtype=torch.bool, device=input_ids.device)

    def flush(self, new_ids: list[int], final: bool) -> None:
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        # A character split across tokens decodes as U+FFFD until its last byte arrives.
        if text.startswith(self.sent) and (final or not text.endswith("\ufffd")) and len(text) > len(self.sent):
            self.emit(text[len(self.sent) :])
            self.sent = text


class Engine:
    def __init__(self, model, tokenizer, end_of_turn: str, max_pending: int = 64):
        self.model, self.tokenizer, self.max_pending = model, tokenizer, max_pending
        self.end_id = tokenizer.convert_tokens_to_ids(end_of_turn)
        self.pad_id = self.end_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id
        self.context_length = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
        self.pending = 0
        self.finished: Counter[str] = Counter()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-me-generate")
        # One thread: a tokenizer is not guaranteed to be safe to call from several at once.
        self._tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-me-tokenize")

    def encode(self, messages: list[dict]) -> list[int]:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]

    async def encode_off_loop(self, messages: list[dict]) -> list[int]:
        """`encode` on the tokenizing thread, awaited without blocking the event loop."""
        return await self.off_loop(self.encode, messages)

    async def off_loop(self, fn, *args):
        """`fn(*args)` on the tokenizing thread (the tokenizer's only user), awaited off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._tokenizing, fn, *args)

    def submit(self, job: Job) -> None:
        """Queue `job`; its events (str pieces, then Done or an Exception) arrive on job.events."""
        if self.pending >= self.max_pending:
            raise QueueFull
        self.pending += 1
        loop = asyncio.get_running_loop()

        def post(item):
            loop.call_soon_threadsafe(job.events.put_nowait, item)

        def finish(item):  # frees the slot before the request can see its end
            loop.call_soon_threadsafe(self._finish, job, item)

        self._worker.submit(self._run, job, post, finish)

    def _finish(self, job: Job, item) -> None:
        self.pending -= 1
        job.events.put_nowait(item)

    def _run(self, job: Job, post, finish) -> None:
        try:
            done = Done("cancelled", 0) if job.cancelled.is_set() else self._generate(job, post)
        except Exception as e:  # the message may quote the input: log its type only
            log.error("generation failed: %s", type(e).__name__)
            finish(e)
            return
        self.finished[done.finish_reason] += 1
        finish(done)

    def _generate(self, job: Job, post) -> Done:
        relay = _Relay(job, self.tokenizer, post)
        ids = torch.tensor([job.prompt_ids], device=self.model.device)
        output = generate(
            self.model,
            ids,
            torch.ones_like(ids),
            end_id=self.end_id,
            pad_id=self.pad_id,
            max_new_tokens=job.max_tokens,
            temperature=job.temperature,
            top_p=job.top_p,
            seed=job.seed,
            stopping_criteria=StoppingCriteriaList([relay]),
        )
        new_ids = output[0, len(job.prompt_ids) :].tolist()
        relay.flush(new_ids, final=True)
        if job.cancelled.is_set():
            reason = "cancelled"
        else:
            reason = "stop" if new_ids and new_ids[-1] == self.end_id else "length"
        return Done(reason, len(new_ids))
