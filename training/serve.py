"""`ai-me serve`: a trained run behind an OpenAI-compatible API, with a chat page at `/`.

Loopback by default. Anywhere else an API key is required, sent as `Authorization: Bearer KEY`
on every /v1 request. Without a key, requests must name a loopback host, so that a web page
cannot reach the model through DNS rebinding. Nothing here logs message text.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from .generate import load_run
from .serve_api import Serving, router
from .serve_engine import Engine
from .serve_models import APIError

STATIC = Path(__file__).resolve().parent / "static"
# The page's script comes from this server only, never inline nor from elsewhere (inline CSS is harmless).
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff"}

log = logging.getLogger("ai_me.serve")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LoopbackHostOnly:
    """Answers only requests addressed to a loopback name (Host header): a web page that points its
    own DNS name at 127.0.0.1 (DNS rebinding) must not read the model's replies."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not _loopback_host(Headers(scope=scope).get("host", "")):
            response = JSONResponse(APIError(400, "Invalid host header").body(), status_code=400)
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _loopback_host(header: str) -> bool:
    try:
        return is_loopback(urlsplit("//" + header).hostname or "")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def load_serving(run_dir: Path) -> Serving:
    model, tokenizer, info = load_run(run_dir)
    created = int((run_dir / "run.json").stat().st_mtime)
    return Serving(Engine(model, tokenizer, info.end_of_turn), info, run_dir.name, created)


def create_app(serving: Serving, api_key: str | None = None) -> FastAPI:
    """The app for `serving`; with `api_key`, /v1 wants it, without, only loopback Host headers are served."""
    app = FastAPI(title="ai-me", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serving = serving
    if not api_key:
        app.add_middleware(LoopbackHostOnly)

    async def require_key(request: Request) -> None:
        if not api_key:
            return
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {api_key}".encode()):
            raise APIError(401, "Incorrect or missing API key; send Authorization: Bearer <key>",
                           code="invalid_api_key")

    app.include_router(router, dependencies=[Depends(require_key)])
    _add_error_handlers(app)

    @app.get("/health")
    async def health() -> dict:
        engine = serving.engine
        return {"status": "ok", "model": serving.model_id, "pending": engine.pending,
                "finished": dict(engine.finished)}

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
