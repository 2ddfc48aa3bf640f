"""Metrics as text: a fixed number of decimals, or n/a where a metric could not be computed
(null in metrics.json: too few examples; NaN: no finite value)."""

from __future__ import annotations


def decimals(value: float | None, places: int = 3) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{places}f}"
