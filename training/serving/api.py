"""The OpenAI-compatible routes: chat completions (JSON or server-sent events) and models.

max_tokens (or max_completion_tokens) is capped at the server's `max_tokens` (MAX_COMPLETION_TOKENS,
2,048 by default; `ai-me serve --max-tokens`), whatever the model's context: a request asking for
more is refused with a 400 (code invalid_value), as OpenAI refuses one over a model's output limit,
rather than silently clamped, so that a client never takes a cut-off reply for a whole one. Without
max_tokens a reply gets DEFAULT_MAX_TOKENS. Everything is checked before the prompt is tokenised,
except what needs its length in tokens (the context).

Memory (extension field `memory`, 0 to MAX_MEMORY; absent: the server's `--memory`, else the
config's [memory] k): the k past exchanges most like the last user message, preferring the
request's `platform` and `partner`, go in after the system message (the run's, as in training,
or the client's own) as earlier turns, within the [memory] max_tokens budget. They also leave
room for the whole reply the request will get, so a request that succeeds without memory never
fails with it: what does not fit is left out. Retrieval runs on the tokenizing thread, and the
exchanges appear in no log and no error; only `usage.prompt_tokens` counts them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ingest.core.config import ConfigError
from training.inference import RunInfo
from training.memory.index import MemoryIndex
from training.memory.prompt import Recall
from training.prompt import CHAT_NOUNS, system_prompt
from training.serving.engine import Done, Engine, Job, QueueFull
from training.serving.schemas import APIError, ChatRequest, check_prompt_size

DEFAULT_MAX_TOKENS = 128  # replies are chat messages; a client may ask for more, up to the cap
MAX_COMPLETION_TOKENS = 2048

router = APIRouter(prefix="/v1")


@dataclass
class Memory:
    """The warehouse's memory: `k` exchanges per prompt unless a request asks for another number,
    within `budget` tokens. The index opens on first use (it may need rebuilding) when the server
    started with k = 0; on the tokenizing thread, so that two requests never open it at once."""

    warehouse: Path
    k: int
    budget: int
    index: MemoryIndex | None = None

    def open(self) -> MemoryIndex:
        if self.index is None:
            self.index = MemoryIndex.open(self.warehouse)
        return self.index


@dataclass
class Serving:
    engine: Engine
    info: RunInfo
    model_id: str
    created: int
    memory: Memory
    max_tokens: int = MAX_COMPLETION_TOKENS  # the most a request may ask for


@router.get("/models")
async def list_models(request: Request) -> dict:
    s: Serving = request.app.state.serving
    return {
        "object": "list",
        "data": [{"id": s.model_id, "object": "model", "created": s.created, "owned_by": "ai-me"}],
    }


@router.post("/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    s: Serving = request.app.state.serving
    if body.model != s.model_id:
        raise APIError(
            404,
            f"The model {body.model!r} does not exist; this server has {s.model_id!r}",
            param="model",
            code="model_not_found",
        )
    check_prompt_size(body)
    check_max_tokens(body, s.max_tokens)
    messages = prompt_messages(body, s.info)
    k = s.memory.k if body.memory is None else body.memory
    if k:
        prompt_ids = await s.engine.off_loop(_encode_with_memory, s, body, messages, k)
    else:
        prompt_ids = await s.engine.encode_off_loop(messages)
    job = Job(
        prompt_ids,
        completion_budget(body, len(prompt_ids), s.engine.context_length, s.max_tokens),
        body.temperature,
        body.top_p,
        body.seed,
    )
    try:
        s.engine.submit(job)
    except QueueFull:
        raise APIError(
            429, "Too many requests are waiting; retry shortly", code="queue_full", type="server_busy"
        ) from None
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": s.model_id}
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _stream(job, head, usage), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    return await _complete(job, head)


def prompt_messages(body: ChatRequest, info: RunInfo) -> list[dict]:
    """The conversation as the model saw it in training: the run's system prompt unless the client sends one."""
    messages = [m.model_dump() for m in body.messages]
    if any(m["role"] == "system" for m in messages[1:]):
        raise APIError(400, "only the first message may be a system message", param="messages")
    if messages[-1]["role"] != "user":
        raise APIError(400, "the last message must be the incoming one (role user)", param="messages")
    if messages[0]["role"] == "system":
        return messages
    if body.platform not in CHAT_NOUNS:
        raise APIError(400, f"unknown platform {body.platform!r} (known: {', '.join(CHAT_NOUNS)})", param="platform")
    if not info.me_name:
        raise APIError(400, "the run does not record the user's name; send a system message", param="messages")
    system = system_prompt(info.me_name, body.platform, body.partner, body.group_size, info.system_prompt)
    return [{"role": "system", "content": system}, *messages]


def _encode_with_memory(s: Serving, body: ChatRequest, messages: list[dict], k: int) -> list[int]:
    """The prompt's ids with up to `k` past exchanges, leaving the context room for the reply
    completion_budget will grant, so that memory never makes a request fail."""
    reserved = body.max_completion_tokens or body.max_tokens or min(DEFAULT_MAX_TOKENS, s.max_tokens)
    try:
        index = s.memory.open()
    except ConfigError:  # its message names warehouse paths, none of the client's business
        raise APIError(
            400, "this server has no memory index: run ai-me transform first", param="memory", code="memory_unavailable"
        ) from None
    recall = Recall(index, k, s.memory.budget)
    limit = s.engine.context_length - reserved
    return s.engine.encode(recall.into(messages, s.engine.tokenizer, body.platform, body.partner, limit))


def check_max_tokens(body: ChatRequest, cap: int) -> None:
    """Refuses (400) a max_tokens or max_completion_tokens over `cap`."""
    for field in ("max_completion_tokens", "max_tokens"):
        asked = getattr(body, field)
        if asked is not None and asked > cap:
            raise APIError(
                400,
                f"{field} is too large: {asked}; this server replies with at most {cap} tokens",
                param=field,
                code="invalid_value",
            )


def completion_budget(
    body: ChatRequest, prompt_tokens: int, context_length: int, cap: int = MAX_COMPLETION_TOKENS
) -> int:
    """max_tokens as asked (or the default), refused when over `cap` or when prompt and reply cannot
    fit the context."""
    check_max_tokens(body, cap)
    left = context_length - prompt_tokens
    asked = body.max_completion_tokens or body.max_tokens
    if left < 1 or (asked and asked > left):
        raise APIError(
            400,
            f"This model's maximum context length is {context_length} tokens; the messages take "
            f"{prompt_tokens} and max_tokens asks for {asked or 1} more",
            param="max_tokens" if asked and left >= 1 else "messages",
            code="context_length_exceeded",
        )
    return asked or min(DEFAULT_MAX_TOKENS, left, cap)


async def _events(job: Job) -> AsyncIterator[str | Done]:
    while True:
        item = await job.events.get()
        if isinstance(item, Exception):
            raise APIError(500, "generation failed", type="server_error")
        yield item
        if isinstance(item, Done):
            return


async def _complete(job: Job, head: dict) -> dict:
    pieces = []
    try:
        async for item in _events(job):
            if isinstance(item, str):
                pieces.append(item)
    finally:
        job.cancelled.set()  # a no-op once done; frees the slot if this request is torn down early
    return {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "finish_reason": item.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(job, item),
    }


async def _stream(job: Job, head: dict, include_usage: bool) -> AsyncIterator[str]:
    def chunk(choices: list, **extra) -> str:
        return "data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": choices, **extra}) + "\n\n"

    def delta(content: dict, finish: str | None = None) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish, "logprobs": None}])

    try:  # a client that goes away cancels this generator (Starlette), which stops the generation
        yield delta({"role": "assistant", "content": ""})
        async for item in _events(job):
            if isinstance(item, str):
                yield delta({"content": item})
            else:
                yield delta({}, item.finish_reason)
                if include_usage:
                    yield chunk([], usage=_usage(job, item))
        yield "data: [DONE]\n\n"
    except APIError as e:
        yield "data: " + json.dumps(e.body()) + "\n\n"
    finally:
        job.cancelled.set()


def _usage(job: Job, done: Done) -> dict:
    prompt = len(job.prompt_ids)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": done.completion_tokens,
        "total_tokens": prompt + done.completion_tokens,
    }
