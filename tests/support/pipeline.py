"""Sample exports through the pipeline as a user runs it: `ai-me sample-data` (tiny-cpu preset),
`ai-me ingest` for every platform, `ai-me transform`."""

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.cli import main as ai_me
from ingest.core.platforms import PLATFORMS


def sample_warehouse(
    root: Path, mp: pytest.MonkeyPatch, messages: int | None = None, edit: Callable[[Path], None] | None = None
) -> tuple[Path, Path]:
    """root/warehouse built from root/samples; `edit(samples)` runs before the ingest (plant data,
    change the config). AI_ME_WAREHOUSE and AI_ME_CONFIG stay set on `mp`. Returns the warehouse
    and the config file."""
    warehouse, samples = root / "warehouse", root / "samples"
    mp.setenv("AI_ME_WAREHOUSE", str(warehouse))
    size = ["--messages", str(messages)] if messages else []  # default: 5000, as make demo
    assert ai_me(["sample-data", str(samples), *size, "--preset", "tiny-cpu"]) == 0
    if edit:
        edit(samples)
    mp.setenv("AI_ME_CONFIG", str(samples / "ai_me.toml"))
    for platform in PLATFORMS:
        assert ai_me(["ingest", platform]) == 0
    assert ai_me(["transform"]) == 0
    return warehouse, samples / "ai_me.toml"
