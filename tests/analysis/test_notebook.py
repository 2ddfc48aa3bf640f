"""The writing-patterns notebook on the demo warehouse: it runs headless without errors, its filters
reach every chart's data, and `ai-me analyze` serves it on 127.0.0.1, where headless Chromium renders
every plot without a request leaving the machine. AI_ME_SCREENSHOTS=DIR keeps the screenshot."""

import datetime as dt
import re
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import duckdb
import pytest

from tests.support.browser import chromium, free_port, keep_screenshots, needs_chromium, screenshot

pytestmark = pytest.mark.slow
FRAMES = ["monthly", "activity", "latency", "habits", "top_words", "top_emoji", "partners", "filters"]
PLOTS = """(() => { const found = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
  if (el.matches('canvas.marks, svg.marks') && el.getBoundingClientRect().width > 100) found.push(el);
  if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return found.length; })()"""


@pytest.fixture
def run_notebook(demo_warehouse, monkeypatch):
    """Runs the notebook's cells headless (defs override cells) and returns its definitions; its
    connection is closed after, as the other tests open the file with their own settings."""
    monkeypatch.setenv("AI_ME_DATABASE", str(demo_warehouse / "ai_me.duckdb"))
    monkeypatch.setenv("AI_ME_TIMEZONE", "Europe/London")
    from ingest.analysis.notebook import app

    opened = []

    def run(defs=None):
        _, found = app.run(defs=defs)
        opened.append(found["con"])
        return found

    yield run
    for con in opened:
        con.close()


def _mine(demo_warehouse, where="true"):
    # the notebook's own settings: one process opens a file with one configuration
    settings = {"autoinstall_known_extensions": False}
    with duckdb.connect(str(demo_warehouse / "ai_me.duckdb"), read_only=True, config=settings) as con:
        return con.execute(f"select count(*) from messages where turn_role = 'assistant' and {where}").fetchall()[0][0]


def test_the_notebook_runs_headless_and_counts_what_the_marts_hold(run_notebook, demo_warehouse):
    defs = run_notebook()
    assert all(len(defs[name]) for name in FRAMES)
    assert defs["monthly"]["messages"].sum() == defs["activity"]["messages"].sum() == _mine(demo_warehouse)
    assert set(defs["top_emoji"]["emoji"]) == {"😅", "✨", "🙌"}
    assert all(re.fullmatch(r"[PG][0-9a-f]{12}", p) for p in defs["partners"]["partner"])
    assert set(defs["activity"]["hour"]) <= set(range(24)) and set(defs["activity"]["weekday"]) <= set(range(1, 8))


def test_the_platform_and_date_filters_reach_every_chart(run_notebook, demo_warehouse):
    start, end = dt.date(2023, 1, 1), dt.date(2023, 1, 31)
    chosen = {"platforms": SimpleNamespace(value=["gmail"]), "dates": SimpleNamespace(value=(start, end))}
    defs = run_notebook(chosen)
    local_day = "timezone('Europe/London', to_timestamp(timestamp_ms / 1000))::date"
    where = f"platform = 'gmail' and {local_day} between '2023-01-01' and '2023-01-31'"
    assert 0 < defs["monthly"]["messages"].sum() == _mine(demo_warehouse, where) < _mine(demo_warehouse)
    for name in ("monthly", "latency", "partners", "filters"):
        assert set(defs[name]["platform"]) == {"gmail"}, name
    assert {m.date() if hasattr(m, "date") else m for m in defs["monthly"]["month"]} == {dt.date(2023, 1, 1)}


@needs_chromium
def test_ai_me_analyze_serves_every_plot_on_loopback_only(demo_warehouse, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest.cli",
            "analyze",
            "--no-browser",
            "--port",
            str(port),
            "--warehouse",
            str(demo_warehouse),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode(errors="replace")
                time.sleep(0.2)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert listening and all(" 127.0.0.1:" in line for line in listening.splitlines()), listening
        with chromium("about:blank", tmp_path / "profile", ("--window-size=1200,6000",)) as tab:
            tab.call("Network.enable")
            tab.call("Page.navigate", url=url)
            tab.wait_for(f"{PLOTS} >= 7")  # seven charts, the first two side by side in one
            shot = screenshot(tab, tmp_path / "analysis_notebook.png")
            requests = {e["params"]["request"]["url"] for e in tab.events if e["method"] == "Network.requestWillBeSent"}
        foreign = {
            u
            for u in requests
            if not u.startswith((f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", "data:", "blob:"))
        }
        assert requests and not foreign, foreign
        keep_screenshots([shot])
    finally:
        server.terminate()
        server.wait(20)
