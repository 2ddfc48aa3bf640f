"""Platform name → ingester, imported lazily so one broken parser never blocks the others."""
from __future__ import annotations

import importlib

from ingest.sources.base import Ingester
from ingest.core.schema import PLATFORMS

_WHERE = {
    "whatsapp": ("ingest.sources.whatsapp.ingester", "INGESTER"),
    "instagram": ("ingest.sources.meta.ingester", "INSTAGRAM"),
    "messenger": ("ingest.sources.meta.ingester", "MESSENGER"),
    "gmail": ("ingest.sources.gmail.ingester", "INGESTER"),
}
assert set(_WHERE) == set(PLATFORMS)


def get_ingester(platform: str) -> Ingester:
    if platform not in _WHERE:
        raise KeyError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    module, attr = _WHERE[platform]
    return getattr(importlib.import_module(module), attr)
