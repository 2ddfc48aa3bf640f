"""`make dev`: `dagster dev` with a guard in front of its webserver, so the UI is safe to leave open.

dagster-webserver (1.13) has no Host or Origin check and no CSRF protection: it runs GraphQL
mutations from a cross-origin text/plain POST (a "simple" request, sent without a CORS preflight)
and from a GET (an <img> tag is enough), and it answers any Host header, so a page on a name that
re-resolves to 127.0.0.1 (DNS rebinding) can read asset metadata. `LocalOnly` is an ASGI layer in
front of the webserver's app that refuses, before Dagster sees them:

- a Host other than 127.0.0.1:PORT, localhost:PORT or [::1]:PORT, and clients off loopback;
- an Origin other than the page's own (http://<Host>), for HTTP and websockets alike;
- cross-site requests (Sec-Fetch-Site other than same-origin or none) except top-level page loads,
  so the UI cannot be framed by another site either;
- POSTs that are not Content-Type application/json (the UI's GraphQL client sends JSON);
- GraphQL over GET (/graphql?query=...): GET /graphql only shows GraphiQL.

Run as `python -m dagster_defs.webserver dev [dagster dev options]` (what `make dev` does), it is
`dagster dev` with its webserver process swapped for `python -m dagster_defs.webserver
[dagster-webserver options]`: dagster-webserver's own CLI, whose app is wrapped in LocalOnly.
DAGSTER_HOME defaults to <warehouse>/.dagster, created owner-only with dagster_home/dagster.yaml.
"""

import ipaddress
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qs

import ingest  # noqa: F401  (umask 077 for this process and every Dagster process it starts)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_FETCH_SITES = ("same-origin", "none")  # "none": typed in the address bar, a bookmark, a terminal link
REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml"


class LocalOnly:
    """ASGI middleware: only same-origin browser requests to a loopback Host name reach `app`."""

    def __init__(self, app, port: int | None = None):
        self.app, self.port = app, port  # port None: the port the server listens on (scope["server"])

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):  # lifespan
            return await self.app(scope, receive, send)
        status, reason = self.refusal(scope) or (None, None)
        if status is None:
            return await self.app(scope, receive, _no_framing(send) if scope["type"] == "http" else send)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting makes the server answer 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        body = f"refused by dagster_defs.webserver: {reason}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def allowed_hosts(self, scope) -> set[str]:
        port = self.port or (scope.get("server") or (None, None))[1]
        if not port:
            return set()
        return {f"{name}:{port}" for name in LOOPBACK_NAMES} | (set(LOOPBACK_NAMES) if port == 80 else set())

    def refusal(self, scope) -> tuple[int, str] | None:
        """(HTTP status, why) for a request that must not reach the webserver; None lets it through."""
        headers: dict[str, list[str]] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        client = (scope.get("client") or ("", 0))[0]
        if not _loopback(client):
            return 403, f"client {client or '(unknown)'} is not on this machine"
        hosts = headers.get("host", [])
        allowed = self.allowed_hosts(scope)
        if len(hosts) != 1 or hosts[0].lower() not in allowed:
            return 403, (
                f"unknown Host {', '.join(hosts) or '(none)'}; open the UI at "
                f"{' or '.join('http://' + h for h in sorted(allowed)) or 'its loopback address'}"
            )
        own_origin = "http://" + hosts[0].lower()
        for origin in headers.get("origin", []):
            if origin.lower() != own_origin:
                return 403, f"foreign Origin {origin}"
        method = scope.get("method", "GET")
        for site in headers.get("sec-fetch-site", []):
            page_load = (
                scope["type"] == "http"
                and method in ("GET", "HEAD")
                and headers.get("sec-fetch-mode") == ["navigate"]
                and headers.get("sec-fetch-dest") == ["document"]
            )
            if site.lower() not in SAFE_FETCH_SITES and not page_load:
                return 403, f"{site} request"
        if scope["type"] == "websocket":
            return None
        if method == "POST":
            types = headers.get("content-type", [])
            if len(types) != 1 or types[0].split(";")[0].strip().lower() != "application/json":
                return 415, "a POST must be Content-Type: application/json"
        elif scope.get("path", "").rstrip("/").endswith("/graphql") and "query" in parse_qs(
            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        ):
            return 405, "GraphQL over GET is refused; POST application/json"
        return None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _no_framing(send):
    """Adds X-Frame-Options: SAMEORIGIN to every response (Dagster's CSP has no frame-ancestors)."""

    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-frame-options"]
            message = {**message, "headers": [*headers, (b"x-frame-options", b"SAMEORIGIN")]}
        await send(message)

    return wrapped


def serve(argv: list[str]) -> None:
    """dagster-webserver's CLI (same options), serving its app behind LocalOnly."""
    from dagster_webserver import cli

    create_app = cli.create_app_from_workspace_process_context
    cli.create_app_from_workspace_process_context = lambda *args, **kwargs: LocalOnly(create_app(*args, **kwargs))
    sys.argv = [sys.argv[0], *argv]
    cli.main()


def dev(argv: list[str]) -> None:
    """`dagster dev` (same options) whose webserver process is `python -m dagster_defs.webserver`."""
    from dagster._cli import dev as dagster_dev

    if not os.environ.get("DAGSTER_HOME"):
        from ingest.core.config import config_and_warehouse

        os.environ["DAGSTER_HOME"] = str(config_and_warehouse()[1] / ".dagster")
    prepare_home(Path(os.environ["DAGSTER_HOME"]))
    launch, started = dagster_dev.open_ipc_subprocess, []

    def launch_guarded(parts, **kwargs):
        parts = list(parts)
        if not started:  # dagster dev starts its webserver first: never let an unguarded one start
            if parts[1:3] != ["-m", "dagster_webserver"]:
                raise RuntimeError(
                    f"dagster dev started {parts[:3]} where its webserver was expected; "
                    "refusing to run without the guard (dagster_defs/webserver.py)"
                )
            parts[1:3] = ["-m", "dagster_defs.webserver"]
        started.append(parts)
        return launch(parts, **kwargs)

    dagster_dev.open_ipc_subprocess = launch_guarded
    dagster_dev.dev_command.main(args=argv, prog_name="python -m dagster_defs.webserver dev")


def prepare_home(home: Path) -> None:
    """DAGSTER_HOME owner-only, with the project's dagster.yaml when it has none."""
    from dagster_defs.instance import owner_only_home

    owner_only_home(home)
    if not (home / "dagster.yaml").exists() and REPO_DAGSTER_YAML.is_file():
        shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dev"]:
        dev(argv[1:])
    else:
        serve(argv)


if __name__ == "__main__":
    main()
