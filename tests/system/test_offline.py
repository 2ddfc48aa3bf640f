"""Nothing leaves the machine: the whole demo (sample data → ingest → dbt → datasets → tiny training →
evaluation, the `make demo` path through Dagster) runs in a network namespace that has only
loopback (`unshare -rn`), with a socket audit hook (tests/netaudit/sitecustomize.py) in every Python
process that logs any attempt to reach something other than loopback or a unix socket.

The namespace alone would hide a library that tries to phone home and quietly gives up, so the
audit log must be empty too. The demo runs without the telemetry variables the Makefile and
conftest export, so the project's own defaults are what is proven. Limits: the hook sees Python's
socket module only (not C/C++ code such as DuckDB's own HTTP client, which the namespace still
blocks), and only processes that start Python with site enabled.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO, TESTS
from tests.support.tools import needs_tool, require_tool

pytestmark = pytest.mark.slow

AUDIT_DIR = TESTS / "support" / "netaudit"
BIN = Path(sys.executable).parent
# Settings that would switch telemetry or hub access off from outside: the demo runs without them.
OUTSIDE_SETTINGS = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "HF_UPDATE_DOWNLOAD_COUNTS",
    "DBT_SEND_ANONYMOUS_USAGE_STATS",
    "HF_HUB_DISABLE_UPDATE_CHECK",
    "CI",
)
RUN_CONFIG = {
    "ops": {
        "lora_adapter": {
            "config": {
                "overrides": [
                    "tiny.pretrain_steps=4",
                    "train.max_steps=3",
                    "train.eval_steps=3",
                    "train.logging_steps=1",
                ]
            }
        },
        "style_evaluation": {"config": {"max_examples": 8, "max_new_tokens": 8}},
    },
    # one process for the asset steps keeps the test short on 2 cores; dbt still runs as its own process
    "execution": {"config": {"in_process": {}}},
}
# Bring loopback up (a new namespace starts with it down), then run the command.
IN_NETNS = ["unshare", "-rn", "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$0" "$@"']


NETNS = "`unshare -rn`"
NETNS_HOW = (
    "the offline proof needs an unprivileged user + network namespace: `unshare` from util-linux, "
    "and namespaces allowed (Docker's default seccomp profile blocks them: run the container with "
    "--security-opt seccomp=unconfined or --privileged; Ubuntu 24.04's AppArmor blocks them: "
    "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"
)


@functools.cache
def _netns_available() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


needs_netns = needs_tool(NETNS, _netns_available, NETNS_HOW)  # skips without it; fails in CI (tests/support/tools.py)


def _env(audit_log: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(AUDIT_DIR), env.get("PYTHONPATH")]))
    env["AI_ME_NET_AUDIT"] = str(audit_log)
    return env | extra


def _entries(audit_log: Path) -> list[dict]:
    return [json.loads(line) for line in audit_log.read_text().splitlines()] if audit_log.exists() else []


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    require_tool(NETNS, _netns_available(), NETNS_HOW)
    root = tmp_path_factory.mktemp("offline")
    audit = root / "audit.jsonl"
    (root / "dagster").mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", root / "dagster" / "dagster.yaml")
    env = _env(
        audit,
        AI_ME_CONFIG=str(root / "samples" / "ai_me.toml"),
        AI_ME_WAREHOUSE=str(root / "wh"),
        DAGSTER_HOME=str(root / "dagster"),
    )
    interfaces = subprocess.run(
        [*IN_NETNS, sys.executable, "-c", "import socket; print(sorted(n for _, n in socket.if_nameindex()))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    steps = [
        [str(BIN / "ai-me"), "sample-data", str(root / "samples"), "--messages", "600", "--preset", "tiny-cpu"],
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "dagster_defs.definitions",
            "--select",
            "*",
            "--config-json",
            json.dumps(RUN_CONFIG),
        ],
    ]
    results = [
        subprocess.run(
            [*IN_NETNS, *cmd], env=env, cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
        )
        for cmd in steps
    ]
    yield root, interfaces, results, _entries(audit)


@needs_netns
def test_the_namespace_has_only_loopback(demo):
    _, interfaces, _, _ = demo
    assert interfaces == "['lo']"


@needs_netns
def test_the_whole_demo_succeeds_without_network(demo):
    root, _, results, _ = demo
    for proc in results:
        assert proc.returncode == 0, (proc.args[3:6], proc.stdout[-3000:], proc.stderr[-3000:])
    assert "RUN_SUCCESS" in results[-1].stderr + results[-1].stdout
    wh = root / "wh"
    assert list((wh / "raw" / "whatsapp").glob("*.parquet")) and (wh / "datasets" / "counts.json").exists()
    run = wh / "models" / "tiny-cpu"
    assert (run / "adapter_model.safetensors").exists() and (run / "eval" / "report.html").exists()


@needs_netns
def test_no_process_of_the_demo_tried_to_reach_the_network(demo):
    _, _, _, entries = demo
    starts = [e for e in entries if e["event"] == "start"]
    # the hook really ran in the CLI, the Dagster run and the dbt subprocess
    assert any("sample-data" in " ".join(e["argv"]) for e in starts)
    assert any("dagster" in " ".join(e["argv"]) for e in starts)
    assert any(e["argv"][0].endswith("/dbt") and "build" in e["argv"] for e in starts), starts
    attempts = [e for e in entries if e["event"] != "start"]
    assert attempts == [], "\n" + "\n".join(json.dumps(e) for e in attempts)


@needs_netns
def test_the_audit_catches_outbound_attempts_and_lets_loopback_pass(tmp_path):
    """So an empty log means something: the hook logs a connect and a lookup, and not loopback."""
    audit = tmp_path / "audit.jsonl"
    code = (
        "import socket\n"
        "for target in [('192.0.2.1', 9), ('example.com', 80), ('127.0.0.1', 9)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=0.5).close()\n"
        "    except OSError:\n"
        "        pass\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n"
        "    s.sendto(b'x', ('198.51.100.7', 53))\n"
        "except OSError:\n"
        "    pass\n"
    )
    subprocess.run([*IN_NETNS, sys.executable, "-c", code], env=_env(audit), check=True, timeout=60)
    seen = {(e["event"], e["target"]) for e in _entries(audit) if e["event"] != "start"}
    assert ("socket.connect", "('192.0.2.1', 9)") in seen
    assert ("socket.getaddrinfo", "'example.com'") in seen
    assert ("socket.sendto", "('198.51.100.7', 53)") in seen
    assert not any("127.0.0.1" in target for _, target in seen)
