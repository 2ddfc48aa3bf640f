"""Training verbs for the `ai-me` command line (added as the training issues land)."""
from __future__ import annotations


def register(verbs, add_common) -> None:
    """Add the training verbs to the `ai-me` subparsers; each sets `func(args) -> exit code`."""
