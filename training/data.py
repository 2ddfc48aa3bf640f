"""The training data: warehouse/datasets/{train,val}.parquet in the chat `messages` format.

Each example is a system prompt, context turns, and last the user's real reply (`assistant`).
Examples longer than `max_length` lose their oldest context turns until they fit, down to the
message being answered; one whose prompt then still fills `max_length` would leave no reply
token to learn from, so it is dropped and counted. Nothing here reads or reports message text beyond tokenizing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, load_dataset

SPLITS = {"train": "train.parquet", "val": "val.parquet"}
_FITS, _TRIMMED, _TOO_LONG = 0, 1, 2


class TrainingDataError(Exception):
    """The warehouse holds no usable training data."""


@dataclass
class SplitCounts:
    examples: int = 0  # rows in the Parquet file (after max_*_examples)
    context_trimmed: int = 0  # examples that lost old context turns to fit max_length
    dropped_too_long: int = 0  # examples whose prompt alone fills max_length: nothing left to learn
    kept: int = 0


@dataclass
class DataReport:
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    warehouse_counts: dict = field(default_factory=dict)  # datasets/counts.json from the dbt export, if any

    def as_dict(self) -> dict:
        return {"splits": {k: vars(v) for k, v in self.splits.items()}, "warehouse_counts": self.warehouse_counts}


def dataset_files(warehouse: Path) -> dict[str, Path]:
    folder = warehouse / "datasets"
    files = {split: folder / name for split, name in SPLITS.items() if (folder / name).is_file()}
    if "train" not in files:
        raise TrainingDataError(f"{folder / SPLITS['train']} not found: build the datasets first (ai-me transform)")
    return files


def load_splits(warehouse: Path, max_train: int = 0, max_eval: int = 0, seed: int = 0) -> dict[str, Dataset]:
    """The train split and, when present and non-empty, the val split; capped at max_* rows when > 0."""
    files = dataset_files(warehouse)
    loaded = load_dataset(
        "parquet", data_files={k: str(v) for k, v in files.items()}, cache_dir=str(warehouse / ".cache" / "datasets")
    )
    splits = {name: loaded[name] for name in files if len(loaded[name])}
    if "train" not in splits:
        raise TrainingDataError(f"{files['train']} has no examples")
    if "messages" not in splits["train"].column_names:
        raise TrainingDataError(f"{files['train']} has no `messages` column")
    for name, cap in (("train", max_train), ("val", max_eval)):
        if cap and name in splits and len(splits[name]) > cap:
            splits[name] = splits[name].shuffle(seed=seed).select(range(cap))
    return splits


def warehouse_counts(warehouse: Path) -> dict:
    path = warehouse / "datasets" / "counts.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def fit_to_length(dataset: Dataset, tokenizer, max_length: int) -> tuple[Dataset, SplitCounts]:
    """Drop the oldest context turns of examples longer than max_length; drop examples that cannot fit."""
    marked = dataset.map(
        _fit_example,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        desc="Fitting examples to max_length",
    )
    fit = marked["_fit"]
    kept = marked.filter(lambda status: status != _TOO_LONG, input_columns="_fit").remove_columns("_fit")
    counts = SplitCounts(
        examples=len(dataset),
        context_trimmed=fit.count(_TRIMMED),
        dropped_too_long=fit.count(_TOO_LONG),
        kept=len(kept),
    )
    return kept, counts


def _fit_example(example: dict, tokenizer, max_length: int) -> dict:
    messages = example["messages"]
    head = 1 if messages and messages[0]["role"] == "system" else 0
    last_start = max(head, len(messages) - 2)  # always keep the reply and the message it answers
    start = head
    too_long = _length(tokenizer, messages) > max_length
    while too_long and start < last_start:
        start += 1
        too_long = _length(tokenizer, messages[:head] + messages[start:]) > max_length
    kept = messages[:head] + messages[start:]
    status = _TRIMMED if start > head else _FITS
    if too_long and len(kept) > 1 and _length(tokenizer, kept[:-1], prompt=True) >= max_length:
        status = _TOO_LONG
    return {"messages": kept, "_fit": status}


def _length(tokenizer, messages: list[dict], prompt: bool = False) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, add_generation_prompt=prompt))
