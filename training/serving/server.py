"""`ai-me serve`: a trained run behind an OpenAI-compatible API, with a chat page at `/`.

Loopback by default. Anywhere else an API key is required, sent as `Authorization: Bearer KEY`
on every /v1 request. Without a key, requests must name a loopback host, so that a web page
cannot reach the model through DNS rebinding. Nothing here logs message text.

Before any of a request's body is read, in this order: the Host header (without a key), then the
key (401), then the body's size: a Content-Length over MAX_BODY_BYTES (1 MiB) is answered 413 at
once, and a chunked body is read only until it passes that size (413 too). What the client still
sends after such an answer is discarded by the server, never kept. The messages' characters and
max_tokens have limits of their own (serve_models.py, serve_api.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from training.inference import load_run
from training.serving.api import Memory, Serving, router
from training.serving.engine import Engine
from training.serving.schemas import APIError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 1 << 20  # a chat request of MAX_PROMPT_CHARS characters, even all \uXXXX-escaped, fits
PUBLIC_PATHS = ("/", "/chat.js", "/health")  # served without the key; everything else wants it
# The page's script comes from this server only, never inline nor from elsewhere (inline CSS is harmless).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

log = logging.getLogger("ai_me.serve")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _answer(error: APIError, scope, receive, send) -> None:
    """`error` as the response, from a middleware (before the app, and its handlers, see the request)."""
    await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)


class LoopbackHostOnly:
    """Answers only requests addressed to a loopback name (Host header): a web page that points its
    own DNS name at 127.0.0.1 (DNS rebinding) must not read the model's replies."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not _loopback_host(Headers(scope=scope).get("host", "")):
            return await _answer(APIError(400, "Invalid host header"), scope, receive, send)
        await self.app(scope, receive, send)


class RequireKey:
    """Wants `Authorization: Bearer <key>` on every path but PUBLIC_PATHS, checked from the headers
    alone, so that no one without the key gets the server to read a body."""

    def __init__(self, app, api_key: str):
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            sent = Headers(scope=scope).get("authorization", "")
            if not hmac.compare_digest(sent.encode(), self.expected):
                return await _answer(
                    APIError(
                        401, "Incorrect or missing API key; send Authorization: Bearer <key>", code="invalid_api_key"
                    ),
                    scope,
                    receive,
                    send,
                )
        await self.app(scope, receive, send)


class BodyLimit:
    """Reads a request's body, at most `max_bytes` of it, before the app sees the request: a larger
    Content-Length is refused unread, and a chunked body as soon as it passes the limit (413)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def too_large(self) -> APIError:
        return APIError(
            413, f"Request body too large: this server reads at most {self.max_bytes} bytes", code="request_too_large"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _answer(self.too_large(), scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was whole: no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _answer(self.too_large(), scope, receive, send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay():  # the body once, then the server's own messages (a disconnect)
            nonlocal whole
            if whole is None:
                return await receive()
            message, whole = whole, None
            return message

        await self.app(scope, replay, send)


def _loopback_host(header: str) -> bool:
    try:
        return is_loopback(urlsplit("//" + header).hostname or "")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def load_serving(run_dir: Path, memory: Memory) -> Serving:
    model, tokenizer, info = load_run(run_dir)
    created = int((run_dir / "run.json").stat().st_mtime)
    return Serving(Engine(model, tokenizer, info.end_of_turn), info, run_dir.name, created, memory)


def create_app(serving: Serving, api_key: str | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The app for `serving`; with `api_key`, /v1 wants it, without, only loopback Host headers are served.
    Bodies over `max_body_bytes` are refused before they are read."""
    app = FastAPI(title="ai-me", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serving = serving
    # The last added runs first: host, then key, then the body's size; only then the app.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if api_key:
        app.add_middleware(RequireKey, api_key=api_key)
    else:
        app.add_middleware(LoopbackHostOnly)

    app.include_router(router)
    _add_error_handlers(app)

    @app.get("/health")
    async def health() -> dict:
        engine = serving.engine
        return {"status": "ok", "model": serving.model_id, "pending": engine.pending, "finished": dict(engine.finished)}

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "chat.html", headers=PAGE_HEADERS)

    @app.get("/chat.js")
    async def script():
        return FileResponse(STATIC / "chat.js", media_type="text/javascript", headers=PAGE_HEADERS)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as OpenAI's {"error": {...}} body; validation errors are 400s, as OpenAI answers them."""

    @app.exception_handler(APIError)
    async def api_error(request, e: APIError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        first = e.errors()[0]  # its "input" may be message text: only location and reason are echoed
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return await api_error(request, APIError(400, f"{where or 'body'}: {first['msg']}", param=where or None))

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        return await api_error(request, APIError(e.status_code, str(e.detail)))

    @app.exception_handler(Exception)
    async def crashed(request, e: Exception):
        log.error("request failed: %s", type(e).__name__)
        return await api_error(request, APIError(500, "internal error", type="server_error"))
