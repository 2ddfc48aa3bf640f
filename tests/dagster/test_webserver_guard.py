"""The guard in front of the Dagster webserver (dagster_defs/webserver.py), against the real
dagster-webserver app served by uvicorn on loopback: a page on another origin, a DNS-rebinding
page (foreign Host) and a GET mutation reach nothing; the UI's own requests and websockets do.

The mutation under test is setAutoMaterializePaused: it writes the instance and is read back with
a query, so "refused" means the instance did not change, not only a status code. An unguarded
server next to it shows the attack these requests make (issue #25) is real.
"""

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from dagster_defs.webserver import LocalOnly
from tests.support.browser import free_port
from tests.support.paths import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PAUSED = "{ instance { autoMaterializePaused } }"
TOGGLE = "mutation($paused: Boolean!) { setAutoMaterializePaused(paused: $paused) }"
WS_HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol": "graphql-ws",
}


@contextlib.contextmanager
def served(app):
    """`app` on a free loopback port, by uvicorn in a thread; yields the port."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def dagster_app(tmp_path_factory):
    """dagster-webserver's ASGI app on a temporary instance (telemetry off) with no code location."""
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster_webserver.app import create_app_from_workspace_process_context

    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    with (
        DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, EmptyWorkspaceTarget(), version="test") as context,
    ):
        yield create_app_from_workspace_process_context(context)


@pytest.fixture(scope="module")
def guarded(dagster_app):
    with served(LocalOnly(dagster_app)) as port:
        yield port


@pytest.fixture(scope="module")
def unguarded(dagster_app):
    with served(dagster_app) as port:
        yield port


def request(port, method, path, body=None, **headers):
    """(status, headers, body) of one request to 127.0.0.1:port; Host defaults to 127.0.0.1:port."""
    headers = {"Host": f"127.0.0.1:{port}"} | {k.replace("_", "-"): v for k, v in headers.items()}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode(errors="replace")
    finally:
        conn.close()


def graphql(port, query, **variables):
    """What the UI sends: a same-origin JSON POST."""
    status, _, body = request(
        port,
        "POST",
        "/graphql",
        json.dumps({"query": query, "variables": variables}),
        Content_Type="application/json",
        Origin=f"http://127.0.0.1:{port}",
        Sec_Fetch_Site="same-origin",
        Sec_Fetch_Mode="cors",
        Sec_Fetch_Dest="empty",
    )
    assert status == 200, body
    return json.loads(body)["data"]


def paused(port) -> bool:
    return graphql(port, PAUSED)["instance"]["autoMaterializePaused"]


def text_plain_attack(port, paused_value: bool, host=None, content_type="text/plain"):
    """What a foreign page's fetch(..., {mode: "no-cors"}) or <form enctype=text/plain> sends: a simple
    request, so no CORS preflight. Dagster reads the query from the URL when the body is not JSON."""
    query = urllib.parse.urlencode({"query": TOGGLE, "variables": json.dumps({"paused": paused_value})})
    return request(
        port,
        "POST",
        f"/graphql?{query}",
        json.dumps({"query": TOGGLE, "variables": {"paused": paused_value}}),
        Content_Type=content_type,
        Origin="http://evil.example",
        Sec_Fetch_Site="cross-site",
        Sec_Fetch_Mode="no-cors",
        Sec_Fetch_Dest="empty",
        **({"Host": host} if host else {}),
    )


def get_mutation(port, paused_value: bool, **headers):
    query = urllib.parse.urlencode({"query": TOGGLE, "variables": json.dumps({"paused": paused_value})})
    return request(port, "GET", f"/graphql?{query}", **headers)


def test_unguarded_webserver_runs_a_cross_origin_text_plain_mutation_and_a_get_mutation(unguarded):
    """The attack, on dagster-webserver as it ships: both requests change the instance."""
    before = paused(unguarded)
    status, _, _ = text_plain_attack(unguarded, not before)
    assert status == 200 and paused(unguarded) is (not before)
    status, _, _ = get_mutation(
        unguarded, before, Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="no-cors", Sec_Fetch_Dest="image"
    )  # an <img src=...>
    assert status == 200 and paused(unguarded) is before
    status, _, _ = request(unguarded, "GET", "/server_info", Host="rebound.evil.example:80")
    assert status == 200  # any Host


def test_cross_origin_text_plain_post_is_refused(guarded):
    before = paused(guarded)
    status, _, body = text_plain_attack(guarded, not before)
    assert status == 403 and "foreign Origin http://evil.example" in body
    # "text/plain;charset=application/json" is still a simple request; Dagster would parse it as JSON
    status, _, _ = text_plain_attack(guarded, not before, content_type="text/plain; charset=application/json")
    assert status == 403
    assert paused(guarded) is before


def test_non_json_post_is_refused_even_from_the_same_origin(guarded):
    before = paused(guarded)
    for content_type in (
        "text/plain",
        "text/plain; charset=application/json",
        "application/graphql",
        "application/x-www-form-urlencoded",
        None,
    ):
        query = urllib.parse.urlencode({"query": TOGGLE, "variables": json.dumps({"paused": not before})})
        headers = {"Origin": f"http://127.0.0.1:{guarded}"} | ({"Content-Type": content_type} if content_type else {})
        status, _, body = request(guarded, "POST", f"/graphql?{query}", "{}", **headers)
        assert status == 415 and "application/json" in body, (content_type, status)
    assert paused(guarded) is before


def test_get_mutation_is_refused(guarded):
    before = paused(guarded)
    status, _, _ = get_mutation(
        guarded, not before, Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="no-cors", Sec_Fetch_Dest="image"
    )
    assert status == 403
    # a top-level cross-site navigation to the URL, and a request with no browser headers at all
    status, _, _ = get_mutation(
        guarded, not before, Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="navigate", Sec_Fetch_Dest="document"
    )
    assert status == 405
    status, _, body = get_mutation(guarded, not before)
    assert status == 405 and "GraphQL over GET" in body
    assert paused(guarded) is before


def test_unknown_host_is_refused(guarded):
    """DNS rebinding: the page's name now resolves to 127.0.0.1, its requests are same-origin to it,
    and only the Host header tells them apart."""
    before = paused(guarded)
    for host in (
        f"rebound.evil.example:{guarded}",
        "rebound.evil.example",
        f"127.0.0.1:{guarded + 1}",
        f"127.0.0.2:{guarded}",
        f"0.0.0.0:{guarded}",
    ):
        status, _, body = request(guarded, "GET", "/server_info", Host=host)
        assert status == 403 and "unknown Host" in body, host
        status, _, _ = request(
            guarded,
            "POST",
            "/graphql",
            json.dumps({"query": TOGGLE, "variables": {"paused": not before}}),
            Host=host,
            Content_Type="application/json",
            Origin=f"http://{host}",
        )
        assert status == 403, host
    assert paused(guarded) is before


def test_loopback_hosts_and_the_same_origin_are_served(guarded):
    for host in (f"127.0.0.1:{guarded}", f"localhost:{guarded}", f"LOCALHOST:{guarded}", f"[::1]:{guarded}"):
        status, headers, body = request(guarded, "GET", "/server_info", Host=host)
        assert status == 200 and "dagster_webserver_version" in body, (host, body)
        assert headers["x-frame-options"] == "SAMEORIGIN"
        status, _, body = request(
            guarded,
            "POST",
            "/graphql",
            json.dumps({"query": PAUSED}),
            Host=host,
            Content_Type="application/json; charset=utf-8",
            Origin=f"http://{host}",
            Sec_Fetch_Site="same-origin",
        )
        assert status == 200 and "autoMaterializePaused" in body, (host, body)
    # the UI's pages, a top-level visit from a link on another site, and GraphiQL's page
    status, _, body = request(
        guarded, "GET", "/asset-groups", Sec_Fetch_Site="none", Sec_Fetch_Mode="navigate", Sec_Fetch_Dest="document"
    )
    assert status == 200 and "<html" in body.lower()
    status, _, _ = request(
        guarded, "GET", "/runs", Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="navigate", Sec_Fetch_Dest="document"
    )
    assert status == 200
    status, _, body = request(guarded, "GET", "/graphql", Accept="text/html")
    assert status == 200 and "graphiql" in body.lower()
    # a mutation the UI sends (same-origin JSON) goes through
    before = paused(guarded)
    assert graphql(guarded, TOGGLE, paused=not before)["setAutoMaterializePaused"] is (not before)
    assert paused(guarded) is (not before)


def test_framing_and_same_site_requests_are_refused(guarded):
    """Another site framing the UI (clickjacking) and another local server's pages (same-site:
    127.0.0.1 on another port) are refused."""
    status, _, _ = request(
        guarded, "GET", "/asset-groups", Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="navigate", Sec_Fetch_Dest="iframe"
    )
    assert status == 403
    status, _, _ = request(
        guarded,
        "GET",
        "/server_info",
        Sec_Fetch_Site="same-site",
        Sec_Fetch_Mode="cors",
        Sec_Fetch_Dest="empty",
        Origin=f"http://127.0.0.1:{guarded + 1}",
    )
    assert status == 403
    status, _, _ = request(
        guarded, "POST", "/graphql", json.dumps({"query": PAUSED}), Content_Type="application/json", Origin="null"
    )  # a sandboxed frame or a data: URL
    assert status == 403


def test_websocket_from_the_same_origin_is_served(guarded):
    from websockets.sync.client import connect

    with connect(
        f"ws://127.0.0.1:{guarded}/graphql",
        origin=f"http://127.0.0.1:{guarded}",
        subprotocols=["graphql-ws"],
        open_timeout=30,
    ) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "connection_ack"}
    status, _, _ = request(
        guarded, "GET", "/graphql", **WS_HANDSHAKE, Origin=f"http://localhost:{guarded}", Host=f"localhost:{guarded}"
    )
    assert status == 101


def test_websocket_from_a_foreign_origin_or_host_is_refused(guarded, unguarded):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    # the unguarded webserver accepts any Origin
    assert request(unguarded, "GET", "/graphql", **WS_HANDSHAKE, Origin="http://evil.example")[0] == 101
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"ws://127.0.0.1:{guarded}/graphql",
            origin="http://evil.example",
            subprotocols=["graphql-ws"],
            open_timeout=30,
        )
    assert refused.value.response.status_code == 403
    for headers in (
        {"Origin": f"http://127.0.0.1:{guarded + 1}"},
        {"Origin": "null"},
        {"Host": f"rebound.evil.example:{guarded}", "Origin": f"http://rebound.evil.example:{guarded}"},
        {"Origin": f"http://127.0.0.1:{guarded}", "Sec-Fetch-Site": "cross-site"},
    ):
        status, _, _ = request(guarded, "GET", "/graphql", **WS_HANDSHAKE, **headers)
        assert status == 403, headers


def test_clients_off_loopback_are_refused():
    """Bound to another interface by mistake, the guard still serves this machine only."""
    guard = LocalOnly(app=None, port=3000)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/server_info",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:3000")],
        "server": ("0.0.0.0", 3000),
    }
    assert guard.refusal(scope | {"client": ("127.0.0.1", 5000)}) is None
    assert guard.refusal(scope | {"client": ("::1", 5000)}) is None
    assert guard.refusal(scope | {"client": ("192.168.1.20", 5000)})[0] == 403
    assert guard.refusal(scope | {"client": None})[0] == 403


def test_dev_swaps_in_the_guarded_webserver_and_refuses_to_start_without_it(monkeypatch, tmp_path):
    """`python -m dagster_defs.webserver dev` is `dagster dev` whose webserver process is ours."""
    from dagster._cli import dev as dagster_dev

    from dagster_defs import webserver

    started = []
    monkeypatch.setattr(dagster_dev, "open_ipc_subprocess", lambda parts, **kwargs: started.append(parts))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))

    class FakeDev:  # what dagster dev does: its webserver first, then the daemon
        def __init__(self, commands):
            self.commands = commands

        def main(self, args, prog_name):
            for command in self.commands:
                dagster_dev.open_ipc_subprocess([sys.executable, *command, *args])

    webserver_cmd, daemon_cmd = ["-m", "dagster_webserver", "--port", "3000"], ["-m", "dagster._daemon", "run"]
    monkeypatch.setattr(dagster_dev, "dev_command", FakeDev([webserver_cmd, daemon_cmd]))
    webserver.main(["dev", "-m", "dagster_defs.definitions"])
    assert [p[1:3] for p in started] == [["-m", "dagster_defs.webserver"], ["-m", "dagster._daemon"]]
    assert started[0][3:] == ["--port", "3000", "-m", "dagster_defs.definitions"]
    home = tmp_path / "home"
    assert (home.stat().st_mode & 0o777) == 0o700 and (home / "dagster.yaml").is_file()

    started.clear()
    monkeypatch.setattr(dagster_dev, "open_ipc_subprocess", lambda parts, **kwargs: started.append(parts))
    monkeypatch.setattr(dagster_dev, "dev_command", FakeDev([["-m", "some_new_webserver"], daemon_cmd]))
    with pytest.raises(RuntimeError, match="refusing to run without the guard"):
        webserver.main(["dev"])
    assert started == []


def test_dagster_started_without_make_keeps_its_run_history_owner_only(tmp_path):
    """A Dagster process started by hand (umask 022, DAGSTER_HOME made by a plain mkdir) that loads
    the project's dagster.yaml makes the home owner-only and creates its databases 0600."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (home / "dagster.yaml").chmod(0o644)
    script = (
        "from dagster import DagsterInstance\n"
        "instance = DagsterInstance.get()\n"
        "assert instance.get_runs_count() == 0  # the run and event log storages exist\n"
        "print(type(instance).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ | {"DAGSTER_HOME": str(home)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OwnerOnlyInstance"
    assert home.stat().st_mode & 0o777 == 0o700
    created = [p for p in home.rglob("*") if p.name != "dagster.yaml"]
    assert any(p.name == "runs.db" for p in created)
    assert not [p for p in created if p.stat().st_mode & 0o077], [(p, oct(p.stat().st_mode)) for p in created]
