"""One home for the tests that need a tool from outside Python: Debian's chromium (the browser tests) and
`unshare -rn` (the offline proof, tests/system/test_offline.py).

Without the tool such a test skips, saying which tool is missing and how to get it. In CI (the CI
variable set to anything but "", 0, false, no or off, as CI services and .ci/run do) it fails instead,
with the same message: a privacy or browser proof cannot quietly drop out of a green CI run.

    needs_chromium = needs_tool("chromium", CHROMIUM.exists, "apt-get install chromium")   # a mark
    require_tool("chromium", CHROMIUM.exists(), "apt-get install chromium")             # in a fixture
"""

import os
from collections.abc import Callable

import pytest

FALSE_VALUES = ("", "0", "false", "no", "off")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in FALSE_VALUES


def missing(tool: str, how_to_install: str) -> str:
    return f"{tool} is missing: {how_to_install}"


def _fail(tool: str, how_to_install: str):
    pytest.fail(
        f"{missing(tool, how_to_install)} (CI={os.environ.get('CI')}: fails in CI instead of skipping)", pytrace=False
    )


def require_tool(tool: str, available: bool, how_to_install: str) -> None:
    """Skip the running test (fail it in CI) unless the tool is available."""
    if available:
        return
    if in_ci():
        _fail(tool, how_to_install)
    pytest.skip(missing(tool, how_to_install))


class _Missing:
    """A skipif condition that pytest evaluates as each test is set up (skipping.py bool()s it, before any
    fixture): True (skip) when the tool is missing, a pytest.fail (an error naming the tool) in CI."""

    def __init__(self, tool: str, available: Callable[[], bool], how_to_install: str):
        self.tool, self.available, self.how_to_install = tool, available, how_to_install

    def __bool__(self) -> bool:
        if self.available():
            return False
        if in_ci():
            _fail(self.tool, self.how_to_install)
        return True

    def __repr__(self) -> str:
        return f"<{self.tool} missing>"


def needs_tool(tool: str, available: Callable[[], bool], how_to_install: str) -> pytest.MarkDecorator:
    """A mark (for a test, a class or a module's pytestmark): the test skips, or fails in CI, without the tool.

    `available` is called when a marked test is set up (cache it if it is slow), not at import."""
    return pytest.mark.skipif(_Missing(tool, available, how_to_install), reason=missing(tool, how_to_install))
