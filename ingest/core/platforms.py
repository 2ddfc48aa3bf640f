"""The platforms ai-me reads: the one table every stage takes them from.

A row names the platform (the CLI's word, the raw folder, the dbt source and the Dagster asset
key), its medium (chat or email: how dbt threads, sessions and prompts it), how the system prompt
names one of its conversations, and where its ingester lives. Ingesters are imported lazily, so
one broken parser never blocks the others and the CLI starts without loading any of them.
docs/adding-a-platform.md lists what else a new platform needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.sources.base import Ingester

MEDIA = ("chat", "email")


@dataclass(frozen=True)
class Platform:
    name: str
    medium: str  # chat | email
    chat_noun: str  # {chat} in the system prompt: "a WhatsApp chat"
    ingester: str  # "module:attribute" of its Ingester


TABLE: tuple[Platform, ...] = (
    Platform("whatsapp", "chat", "a WhatsApp chat", "ingest.sources.whatsapp.ingester:INGESTER"),
    Platform("instagram", "chat", "an Instagram chat", "ingest.sources.meta.ingester:INSTAGRAM"),
    Platform("messenger", "chat", "a Messenger chat", "ingest.sources.meta.ingester:MESSENGER"),
    Platform("gmail", "email", "a Gmail thread", "ingest.sources.gmail.ingester:INGESTER"),
)
PLATFORMS: tuple[str, ...] = tuple(p.name for p in TABLE)
_BY_NAME = {p.name: p for p in TABLE}
assert all(p.medium in MEDIA for p in TABLE)


def platform(name: str) -> Platform:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r} (known: {', '.join(PLATFORMS)})") from None


def get_ingester(name: str) -> Ingester:
    module, _, attr = platform(name).ingester.partition(":")
    return getattr(importlib.import_module(module), attr)
