"""Synthetic chat datasets in the exact shape of warehouse/datasets/{train,val,test}.parquet.

For the tests, the training benchmark and trying `ai-me train` before any export is ingested.
The user ("Robin") has a distinctive voice (lowercase, "haha", "!!", no final period) and the
partners write plainly, so a model trained on Robin's turns has a style signal to pick up.
"""

from __future__ import annotations

import json
from pathlib import Path
from random import Random

import pyarrow as pa
import pyarrow.parquet as pq

from training.prompt import system_prompt

ME = "Robin"
SPLITS = ("train", "val", "test")

MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMA = pa.schema(
    [
        ("example_id", pa.string()),
        ("platform", pa.string()),
        ("conversation_id", pa.string()),
        ("session_id", pa.string()),
        ("split", pa.string()),
        ("partner", pa.string()),
        ("messages", MESSAGE_TYPE),
    ]
)

_PARTNER_LINES = (
    "Are you coming to the {place} {when}?",
    "Did you see the {thing} I sent?",
    "How was {place}?",
    "Can you bring {food} {when}?",
    "I am running late, sorry.",
    "What time works for you {when}?",
    "Have you talked to {person} yet?",
    "Shall we book {place} for {when}?",
    "Thanks for the {thing}!",
)
_MY_LINES = (
    "haha yes!! see you at {place} {when}",
    "omg the {thing} is so good haha",
    "ngl {place} was a lot",
    "yess bringing {food} {when}!!",
    "no worries take ur time haha",
    "{when} works for me tbh",
    "not yet... will text {person} {when}",
    "ooh yes lets do {place} {when}!!",
    "anytime!! loved the {thing}",
    "wait what haha",
    "lol same",
    "on my way!!",
)
_SLOTS = {
    "place": ("pub", "gym", "market", "station", "ramen place", "park", "cinema", "beach"),
    "when": ("tonight", "tomorrow", "on saturday", "later", "next week", "after work"),
    "thing": ("playlist", "photos", "recipe", "tickets", "video", "plan"),
    "food": ("pizza", "snacks", "cake", "dumplings", "crisps", "tacos"),
    "person": ("sam", "priya", "alex", "jamie"),
}
_PLATFORMS = ("whatsapp", "instagram", "messenger")


def _fill(template: str, rng: Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in _SLOTS.items()})


def toy_example(rng: Random, index: int, split: str) -> dict:
    """One example: system prompt, 0-4 context turns ending on the partner, then Robin's reply."""
    platform = rng.choice(_PLATFORMS)
    partner = f"P{rng.randrange(16**4):04x}"
    group_size = rng.choice((2, 2, 2, 4))
    n_context = rng.choice((1, 1, 3, 3, 5))
    messages = [{"role": "system", "content": system_prompt(ME, platform, partner, group_size)}]
    for turn in range(n_context):
        mine = (n_context - turn) % 2 == 0
        lines = _MY_LINES if mine else _PARTNER_LINES
        messages.append({"role": "assistant" if mine else "user", "content": _fill(rng.choice(lines), rng)})
    messages.append({"role": "assistant", "content": _fill(rng.choice(_MY_LINES), rng)})
    conversation = f"{platform}:{partner}"
    return {
        "example_id": f"{split}-{index:06d}",
        "platform": platform,
        "conversation_id": conversation,
        "session_id": f"{conversation}:{index // 7}",
        "split": split,
        "partner": partner,
        "messages": messages,
    }


def write_toy_datasets(warehouse: Path, n_train: int, n_val: int = 0, n_test: int = 0, seed: int = 7) -> Path:
    """Write warehouse/datasets/{train,val,test}.parquet and counts.json; returns the datasets folder."""
    out = Path(warehouse) / "datasets"
    out.mkdir(parents=True, exist_ok=True)
    rng = Random(seed)
    counts = {}
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        rows = [toy_example(rng, i, split) for i in range(n)]
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        pq.write_table(table, out / f"{split}.parquet")
        counts[split] = n
    (out / "counts.json").write_text(json.dumps(counts))
    return out
