"""Platform name → ingester, imported lazily so one broken parser never blocks the others."""
from __future__ import annotations

import importlib

from .base import Ingester
from .schema import PLATFORMS

_WHERE = {
    "whatsapp": ("ingest.whatsapp", "INGESTER"),
    "instagram": ("ingest.meta", "INSTAGRAM"),
    "messenger": ("ingest.meta", "MESSENGER"),
    "gmail": ("ingest.gmail", "INGESTER"),
}
assert set(_WHERE) == set(PLATFORMS)


def get_ingester(platform: str) -> Ingester:
    if platform not in _WHERE:
        raise KeyError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    module, attr = _WHERE[platform]
    return getattr(importlib.import_module(module), attr)
