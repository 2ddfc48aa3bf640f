"""`make dev` (`python -m dagster_defs.webserver dev`: `dagster dev` behind the guard) in a real
browser: every asset of the Definitions is a node of the global lineage graph, the new_exports sensor
is on, a materialization of raw/whatsapp launched through the webserver's GraphQL API succeeds and
lands Parquet, and its run page streams the logs over the UI's websocket. A page on another origin
cannot launch a run (cross-origin text/plain POST, GET mutation by <img>, websocket) and a
DNS-rebound name gets nothing. Sample exports, a temporary warehouse and DAGSTER_HOME; nothing but
loopback is used. Set AI_ME_SCREENSHOTS=DIR to keep the screenshots.
"""

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.samples import generate
from tests.support.browser import chromium, free_port, keep_screenshots, needs_chromium, screenshot
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, needs_chromium, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
LOCATION = "dagster_defs.definitions"


@contextlib.contextmanager
def dagster_dev(tmp_path: Path, config: Path):
    """What `make dev` runs, on a free loopback port; yields (url, log path). Its whole process group
    is killed on the way out, so no webserver, daemon, code server or run worker outlives the test."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # telemetry off
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "AI_ME_CONFIG": str(config),
        "AI_ME_WAREHOUSE": str(tmp_path / "warehouse"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    port, log = free_port(), tmp_path / "dagster_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_defs.webserver", "dev", "-h", "127.0.0.1", "-p", str(port), "-m", LOCATION],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not serving(url):
            assert proc.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"dagster dev never served:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield url, log
    finally:
        proc.send_signal(signal.SIGINT)  # dagster dev shuts its services down as on Ctrl-C
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers: daemon, code servers, run workers
        proc.wait(10)


def serving(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/server_info", timeout=2).close()
        return True
    except OSError:
        return False


def graphql(url: str, query: str, **variables) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = json.load(answer)
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


LOCATION_LOADED = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
SENSORS = """query($repo: RepositorySelector!) { sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name sensorState { id status } } } } }"""
STOP_SENSOR = """mutation($id: String!) { stopSensor(id: $id) {
    __typename ... on StopSensorMutationResult { instigationState { status } } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


def loaded(url: str) -> bool:
    [entry] = graphql(url, LOCATION_LOADED)["workspaceOrError"]["locationEntries"]
    if entry["loadStatus"] != "LOADED":
        return False
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]
    return True


def node_matches(label: str, key) -> bool:
    """A graph node shows the key's last path part, middle-elided ("int_mess…__deduped") when long."""
    name = key.path[-1]
    head, ellipsis, tail = label.partition("…")
    return label in (name, key.to_user_string()) or bool(ellipsis) and name.startswith(head) and name.endswith(tail)


REPO_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
LAUNCH_PARAMS = {
    "selector": {**REPO_SELECTOR, "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": ["raw", "whatsapp"]}]},
    "mode": "default",
    "executionMetadata": {"tags": []},
}
RUN_COUNT = """{ runsOrError { ... on Runs { count } } }"""


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """One `make dev` for the module's tests, its code location loaded and the sensor stopped;
    yields (url, log path, tmp dir, the WhatsApp export folder, the sample exports)."""
    tmp_path = tmp_path_factory.mktemp("dagster_ui")
    samples = generate(tmp_path / "samples", messages=300, seed=5)
    # The config names one WhatsApp export that is not there yet, so the sensor's first tick (at
    # daemon start) skips instead of starting a full ingest + dbt run beside the one under test.
    export = tmp_path / "exports" / "whatsapp"
    config = tmp_path / "ai_me.toml"
    config.write_text(f'[me]\nnames = ["Robin Vale", "Robin"]\n[exports]\nwhatsapp = ["{export}"]\n', encoding="utf-8")
    with dagster_dev(tmp_path, config) as (url, log):
        wait_until(lambda: loaded(url), 120, "the code location to load")
        # The sensor watches from the start; stopped before the export appears, so the runs under
        # test are the only ones.
        [sensor] = graphql(url, SENSORS, repo=REPO_SELECTOR)["sensorsOrError"]["results"]
        assert sensor["name"] == "new_exports" and sensor["sensorState"]["status"] == "RUNNING"
        stopped = graphql(url, STOP_SENSOR, id=sensor["sensorState"]["id"])["stopSensor"]
        assert stopped["instigationState"]["status"] == "STOPPED", stopped
        shutil.copytree(samples.config_path.parent / "whatsapp", export)
        yield url, log, tmp_path


def test_asset_graph_renders_and_a_launched_run_succeeds(dev):
    from dagster_defs.definitions import defs

    url, log, tmp_path = dev
    expected = defs.resolve_asset_graph().materializable_asset_keys  # stubs (the language cache source) stay hidden
    assert (tmp_path / "dagster_home").stat().st_mode & 0o077 == 0  # owner-only (dagster_defs/instance.py)
    launched = graphql(url, LAUNCH, params=LAUNCH_PARAMS)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    profile = tmp_path / "chromium"
    profile.mkdir()
    with chromium(f"{url}/asset-groups", profile) as tab:
        tab.call("Network.enable")
        tab.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        tab.wait_for("document.querySelectorAll('foreignObject').length > 0")  # the graph has loaded
        dismiss_community_dialog(tab)
        expand_all_groups(tab)
        tab.wait_for(f"document.querySelectorAll('{NODE_NAMES}').length >= {len(expected)}")
        labels = tab.eval(f"[...document.querySelectorAll('{NODE_NAMES}')].map(n => n.textContent.trim())")
        unmatched = [label for label in labels if sum(node_matches(label, k) for k in expected) != 1]
        missing = [k.to_user_string() for k in expected if not any(node_matches(label, k) for label in labels)]
        assert not unmatched and not missing and len(labels) == len(expected), (unmatched, missing, labels)

        status = wait_until(lambda: terminal(url, run_id), 120, f"run {run_id} to finish")
        assert status == "SUCCESS", f"run {run_id}: {status}\n{log.read_text()[-3000:]}"
        time.sleep(2.5)  # the graph polls live data every 2 s: let raw/whatsapp show as materialized
        shots = [screenshot(tab, tmp_path / "dagster_ui.png")]

        # The asset's page shows what the run recorded: counts, never message text.
        tab.call("Page.navigate", url=f"{url}/assets/raw/whatsapp?view=events")
        tab.wait_for("!!document.body && document.body.innerText.includes('records_in')")
        text = tab.eval("document.body.innerText")
        assert "landed" in text and "rejected" in text
        bodies = {
            b
            for f in (tmp_path / "warehouse" / "raw" / "whatsapp").glob("*.parquet")
            for b in pq.read_table(f, columns=["body_text"]).column("body_text").to_pylist()
            if b and len(b) >= 12
        }
        assert bodies and not [b for b in bodies if b in text]
        shots.append(screenshot(tab, tmp_path / "dagster_ui_raw_whatsapp.png"))

        # The run's page streams its event log over the UI's websocket, which the guard lets through.
        tab.call("Page.navigate", url=f"{url}/runs/{run_id}")
        tab.wait_for("!!document.body && document.body.innerText.includes('RUN_SUCCESS')")
        handshakes = [
            e["params"]["response"]["status"]
            for e in tab.events
            if e["method"] == "Network.webSocketHandshakeResponseReceived"
        ]
        assert 101 in handshakes and not [s for s in handshakes if s != 101], handshakes
        shots.append(screenshot(tab, tmp_path / "dagster_ui_run.png"))
        page_errors = [r for r in tab.responses(url) if r["status"] in (403, 405, 415)]
        assert not page_errors, [(r["url"], r["status"]) for r in page_errors]  # the UI asked nothing the guard refuses
    keep_screenshots(shots)


# A page on another site, as a user might visit while `make dev` is open: it fires a run launch at
# the webserver as a text/plain POST (no CORS preflight) and as a GET (an <img>), opens a websocket,
# and tries to read the GraphQL API. Chromium resolves *.test to 127.0.0.1 (--host-resolver-rules),
# so the same browser also plays a DNS-rebinding page: its own name, now pointing at the UI's port.
ATTACK = """(async () => {
  const target = TARGET, query = QUERY, variables = VARIABLES, out = {};
  const inUrl = new URLSearchParams({query, variables: JSON.stringify(variables)});
  try {
    await fetch(`${target}/graphql?${inUrl}`, {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain;charset=application/json"}, body: JSON.stringify({query, variables})});
    out.post = "sent";
  } catch (e) { out.post = String(e); }
  out.img = await new Promise(done => {
    const img = new Image(); img.onload = () => done("load"); img.onerror = () => done("error");
    img.src = `${target}/graphql?${inUrl}`;
  });
  out.ws = await new Promise(done => {
    const ws = new WebSocket(target.replace("http:", "ws:") + "/graphql", "graphql-ws");
    ws.onopen = () => { ws.close(); done("open"); }; ws.onerror = () => done("error");
  });
  try {
    const answer = await fetch(`${target}/graphql`, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({query: "{ assetsOrError { __typename } }"})});
    out.read = [answer.status, await answer.text()];
  } catch (e) { out.read = "blocked"; }
  return out;
})()"""


@contextlib.contextmanager
def attacker_site(root: Path):
    """A plain web server on another loopback port: the foreign page's origin."""
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>another site</title><p>nothing to see", encoding="utf-8")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_foreign_page_cannot_launch_runs_or_read_the_ui(dev):
    url, log, tmp_path = dev
    port = int(urllib.parse.urlsplit(url).port)
    runs_before = graphql(url, RUN_COUNT)["runsOrError"]["count"]
    attack = ATTACK.replace("QUERY", json.dumps(LAUNCH)).replace("VARIABLES", json.dumps({"params": LAUNCH_PARAMS}))
    profile = tmp_path / "chromium-attacked"
    profile.mkdir()
    flags = ("--host-resolver-rules=MAP *.test 127.0.0.1", "--disable-features=HttpsUpgrades")
    with attacker_site(tmp_path / "site") as site_port, chromium("about:blank", profile, flags) as tab:
        tab.call("Network.enable")
        # 1. a page on another site (another origin and site: attacker.test)
        tab.call("Page.navigate", url=f"http://attacker.test:{site_port}/")
        tab.wait_for("document.title == 'another site'")
        out = tab.eval(attack.replace("TARGET", json.dumps(url)))
        assert out["img"] == "error" and out["ws"] == "error" and out["read"] == "blocked", out
        statuses = {(r["url"].split("?")[0], r["status"]) for r in tab.responses(f"{url}/graphql")}
        assert statuses == {(f"{url}/graphql", 403)}, statuses  # the POST, the <img> and the CORS preflight
        # 2. the same page, rebound: attacker.test now resolves to the UI's address and port, so its
        # requests are same-origin to it and the browser would let it read the answers
        rebound = f"http://attacker.test:{port}"
        tab.call("Page.navigate", url=f"{rebound}/asset-groups")
        tab.wait_for("!!document.body && document.body.innerText.includes('refused')")
        assert "unknown Host attacker.test" in tab.eval("document.body.innerText")
        out = tab.eval(attack.replace("TARGET", json.dumps(rebound)))
        status, text = out["read"]
        assert status == 403 and "unknown Host" in text and "assetsOrError" not in text, out
        assert out["ws"] == "error" and out["img"] == "error", out
    time.sleep(1)  # a launch would be recorded at once; give it a moment anyway
    assert graphql(url, RUN_COUNT)["runsOrError"]["count"] == runs_before
    assert "LaunchRunSuccess" not in log.read_text(errors="replace")


# CSS-module class names carry a build hash; their stable prefix names the part.
NODE_NAMES = '[class*="AssetNode_assetName"]'


def dismiss_community_dialog(tab):
    """The "Join the Dagster community" dialog opens on an instance's first visit: Skip it."""
    skip = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() == 'Skip')"
    for _ in range(50):
        if tab.eval(f"!!{skip}"):
            tab.eval(f"{skip}.click()")
            tab.wait_for(f"!{skip}")
            return
        time.sleep(0.1)


def expand_all_groups(tab):
    """Groups start collapsed on a graph this size; the graph's own shortcut (Alt+E) expands them."""
    for kind in ("keyDown", "keyUp"):
        tab.call("Input.dispatchKeyEvent", type=kind, key="e", code="KeyE", modifiers=1, windowsVirtualKeyCode=69)


def terminal(url: str, run_id: str) -> str | None:
    status = graphql(url, RUN_STATUS, id=run_id)["runOrError"]["status"]
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None
