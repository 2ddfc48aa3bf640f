"""The arms an evaluation compares: the base and the tuned model and, with memory, each of them with
the user's past exchanges in the prompt (training/memory/). Every arm gets the same metrics."""

from __future__ import annotations

MODELS = ("base", "tuned")
MEMORY_ARMS = ("base_memory", "tuned_memory")
ARMS = (*MODELS, *MEMORY_ARMS)
LABELS = {"base": "base", "tuned": "tuned", "base_memory": "base + memory", "tuned_memory": "tuned + memory"}


def arms_in(metrics: dict) -> list[str]:
    """The arms a metrics.json holds, in order."""
    return [arm for arm in ARMS if arm in metrics]


def model_of(arm: str) -> str:
    """The model an arm prompts: base (the adapter off) or tuned."""
    return arm.removesuffix("_memory")
