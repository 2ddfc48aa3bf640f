"""No silent skips (issue #26): a test that needs a missing tool skips on a workstation and fails in CI,
naming the tool (tests/support/tools.py); `make browser` (a step of `make test`) stops in CI when it cannot
install chromium.

The real offline proof and browser tests are run in a pytest subprocess with the tool taken away:
`unshare` by a PATH without it, chromium by pointing tests/support/browser.py's CHROMIUM at nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.tools import in_ci, require_tool


def _pytest(args: list[str], tmp_path: Path, ci: str | None, **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | env_extra
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(tmp_path), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("False", False),
        ("no", False),
        ("true", True),
        ("1", True),
        ("yes", True),
    ],
)
def test_ci_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.delenv("CI", raising=False)
    if value is not None:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_require_tool_skips_outside_ci_and_fails_in_ci_naming_the_tool(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    require_tool("sometool", True, "apt-get install sometool")  # available: nothing happens
    with pytest.raises(pytest.skip.Exception, match="sometool is missing: apt-get install sometool"):
        require_tool("sometool", False, "apt-get install sometool")
    monkeypatch.setenv("CI", "true")
    require_tool("sometool", True, "apt-get install sometool")
    with pytest.raises(pytest.fail.Exception, match="sometool is missing: apt-get install sometool.*CI=true"):
        require_tool("sometool", False, "apt-get install sometool")


GENERATED = """
import pytest
from tests.support.tools import needs_tool, require_tool


@needs_tool("classtool", lambda: False, "install classtool")
class TestMarked:
    def test_marked(self):
        pass


@needs_tool("functool", lambda: False, "install functool")
def test_function_mark():
    pass


@pytest.fixture
def needs_it():
    require_tool("fixturetool", False, "install fixturetool")


def test_fixture(needs_it):
    pass
"""


def test_marks_and_fixtures_skip_outside_ci_and_fail_in_ci(tmp_path):
    (tmp_path / "test_generated.py").write_text(GENERATED)
    args = [str(tmp_path / "test_generated.py"), "--rootdir", str(tmp_path)]
    outside = _pytest(args, tmp_path, ci=None)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "3 skipped" in outside.stdout, outside.stdout
    ci = _pytest(args, tmp_path, ci="true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "3 error" in ci.stdout and "skipped" not in ci.stdout, ci.stdout
    for tool in ("classtool", "functool", "fixturetool"):
        assert f"{tool} is missing: install {tool}" in outside.stdout, outside.stdout
        assert f"{tool} is missing: install {tool} (CI=true" in ci.stdout, ci.stdout


def test_a_present_tool_runs_the_test_in_ci(tmp_path):
    (tmp_path / "test_present.py").write_text(
        "from tests.support.tools import needs_tool\n\n"
        "@needs_tool('presenttool', lambda: True, 'never shown')\n"
        "def test_runs():\n    pass\n"
    )
    result = _pytest([str(tmp_path / "test_present.py"), "--rootdir", str(tmp_path)], tmp_path, ci="true")
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("ci", [None, "true"])
def test_the_offline_proof_fails_in_ci_without_unshare(tmp_path, ci):
    """PATH without `unshare`: the proof skips on a workstation, and fails in CI naming `unshare -rn`, before the
    demo fixture starts anything."""
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _pytest(["tests/system/test_offline.py"], tmp_path, ci=ci, PATH=str(empty))
    out = result.stdout + result.stderr
    if ci is None:
        assert result.returncode == 0 and "4 skipped" in out, out
        assert "`unshare -rn` is missing" in out
    else:
        assert result.returncode == 1 and "4 error" in out and "skipped" not in out, out
        assert out.count("`unshare -rn` is missing: the offline proof needs") >= 4, out


def test_the_browser_tests_fail_in_ci_without_chromium(tmp_path):
    """The chat-page escaping test and the Dagster UI tests, with CHROMIUM pointed at nothing (a plugin loaded
    before collection): in CI each one is an error naming chromium."""
    (tmp_path / "no_chromium.py").write_text(
        "from pathlib import Path\nfrom tests.support import browser\n"
        "browser.CHROMIUM = Path('/nonexistent/chromium')\n"
    )
    selected = [
        "tests/training/test_serve.py::test_chat_page_sends_a_message_and_shows_the_reply",
        "tests/dagster/test_dagster_ui.py",
    ]
    result = _pytest(["-p", "no_chromium", *selected], tmp_path, ci="true")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "skipped" not in out and "passed" not in out, out
    n_ui = out.count("test_dagster_ui.py::")
    assert n_ui >= 1 and "test_chat_page_sends_a_message_and_shows_the_reply" in out, out
    assert out.count("chromium is missing: the browser tests need Debian's chromium") >= 2, out


def test_make_browser_stops_in_ci_when_chromium_cannot_be_installed(tmp_path):
    """`make test` runs `make browser` first: with apt-get failing, it warns on a workstation and stops in CI."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    make = ["make", "-s", "--no-print-directory", "browser", "CHROMIUM=/nonexistent/chromium"]
    outside = subprocess.run(make, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert outside.returncode == 0, outside.stderr
    assert "WARNING: chromium could not be installed" in outside.stderr and "will be skipped" in outside.stderr
    ci = subprocess.run(make, cwd=REPO, env=env | {"CI": "true"}, capture_output=True, text=True, timeout=60)
    assert ci.returncode != 0, ci.stderr
    assert "ERROR: chromium could not be installed" in ci.stderr and "/nonexistent/chromium" in ci.stderr
