"""Request bodies of the OpenAI-compatible API, and its error body.

Fields that only tune or label a request (user, presence_penalty, ...) are accepted and ignored,
so that clients sending them by default keep working; those whose answer this server cannot give
(stop sequences, tools, logprobs, n > 1, ...) are refused rather than silently dropped.

Size limits (checked before anything is tokenised; a request over one gets a 400, never a cut):
at most MAX_MESSAGES messages and MAX_PROMPT_CHARS characters of message content in all. The body
itself is limited before it is read (serve.py) and max_tokens is capped (serve_api.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.core.config import MAX_MEMORY

UNSUPPORTED = (
    "stop",
    "tools",
    "functions",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    "response_format",
    "logit_bias",
    "audio",
    "modalities",
)
HARMLESS_VALUES = (None, False, [], {}, "none", "auto", {"type": "text"})  # what clients send by default
MAX_PROMPT_CHARS = 32_000  # ~8k tokens: four times the 2,048-token examples a run is trained on
MAX_MESSAGES = 1000


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content", mode="before")
    @classmethod
    def join_text_parts(cls, value):
        """Clients may send content as [{"type": "text", "text": ...}, ...]; only text is understood."""
        if not isinstance(value, list):
            return value
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value):
            raise ValueError("only text content parts are supported")
        return "".join(p["text"] for p in value)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.8, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    n: Literal[1] = 1
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Extensions: the default system prompt's slots, as in `ai-me generate`.
    platform: str = "whatsapp"
    partner: str = Field("someone", min_length=1, max_length=100)
    group_size: int = Field(2, ge=2, le=10_000)
    # Extension: past exchanges put into the prompt (None: the server's --memory), see serving/api.py.
    memory: int | None = Field(None, ge=0, le=MAX_MEMORY)

    @model_validator(mode="before")
    @classmethod
    def refuse_unsupported(cls, data):
        if isinstance(data, dict):
            asked = [key for key in UNSUPPORTED if data.get(key) not in HARMLESS_VALUES]
            if asked:
                raise ValueError(f"not supported by this server: {', '.join(asked)}")
        return data


def check_prompt_size(request: ChatRequest) -> None:
    """Refuses (400) a conversation over the limits; the error gives counts only, never text."""
    if len(request.messages) > MAX_MESSAGES:
        raise APIError(
            400,
            f"messages: {len(request.messages)} messages; this server accepts at most {MAX_MESSAGES}",
            param="messages",
            code="array_above_max_length",
        )
    chars = sum(len(m.content) for m in request.messages)
    if chars > MAX_PROMPT_CHARS:
        raise APIError(
            400,
            f"messages: {chars} characters in all; this server accepts at most {MAX_PROMPT_CHARS}",
            param="messages",
            code="string_above_max_length",
        )


class APIError(Exception):
    """Answered as {"error": {...}} with `status`, as OpenAI does."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
