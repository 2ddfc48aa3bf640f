"""The memory index: BM25 (bm25s) over the incoming messages of memory_exchanges, the train split's
(message, my reply) pairs, stored in warehouse/memory/.

The index is rebuilt whenever datasets/train.parquet is not the one it was built from (its size
and modification time, in manifest.json), so it follows every `ai-me transform`. Retrieval ranks
by BM25 of the incoming message, raised for the same partner and the same platform; with no word
in common, the same partner's and platform's most recent exchanges come first. Nothing here logs
or reports message text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.core.config import ConfigError
from ingest.core.files import atomic_path, private_dir, write_atomic
from ingest.core.warehouse import Warehouse

COLUMNS = ("example_id", "platform", "partner", "conversation_id", "target_ms", "incoming", "reply")
PARTNER_BOOST, PLATFORM_BOOST = 0.5, 0.25  # BM25 × (1 + these) for the same partner / platform
_WORD = re.compile(r"\w+")
_EXCHANGES, _BM25, _MANIFEST = "exchanges.parquet", "bm25", "manifest.json"


def words(text: str) -> list[str]:
    """BM25's terms: lowercase words, any script; no stemming or stop words (chats mix languages)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Exchange:
    example_id: str
    platform: str
    partner: str
    incoming: str
    reply: str
    score: float


@dataclass
class MemoryReport:
    exchanges: int
    folder: Path

    def summary(self) -> str:
        return f"memory: {self.exchanges} exchanges -> {self.folder}"


def _source_stamp(warehouse: Path) -> dict:
    path = Warehouse(warehouse).datasets / "train.parquet"
    if not path.is_file():
        raise ConfigError(f"{path} not found: build the datasets first (ai-me transform)")
    stat = path.stat()
    return {"train_parquet": {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}}


def build_index(warehouse: Path) -> MemoryReport:
    """Index memory_exchanges from the warehouse's database into warehouse/memory/, atomically."""
    import bm25s

    stamp = _source_stamp(warehouse)
    folder = Warehouse(warehouse).memory
    private_dir(folder.parent)
    train = Warehouse(warehouse).datasets / "train.parquet"
    with duckdb.connect(str(Warehouse(warehouse).duckdb), read_only=True) as con:
        try:
            table = con.sql(
                f"select {', '.join(COLUMNS)} from memory_exchanges order by target_ms, example_id"
            ).to_arrow_table()
        except duckdb.CatalogException:
            raise ConfigError("the warehouse has no memory_exchanges table: run ai-me transform") from None
        # A mart older than the datasets (dbt run on a selection) could hold what is now val or test.
        [(stale,)] = con.execute(
            "select count(*) from memory_exchanges where example_id not in (select example_id from read_parquet(?))",
            [str(train)],
        ).fetchall()
    if stale:
        raise ConfigError(
            f"memory_exchanges holds {stale} exchanges that are not in {train}: it is older than the datasets; "
            "run ai-me transform"
        )
    with atomic_path(folder) as tmp:
        private_dir(tmp)
        pq.write_table(table, tmp / _EXCHANGES, compression="zstd")
        if table.num_rows:
            retriever = bm25s.BM25()
            retriever.index([words(t) for t in table["incoming"].to_pylist()], show_progress=False)
            retriever.save(str(tmp / _BM25), show_progress=False)
        write_atomic(tmp / _MANIFEST, json.dumps({**stamp, "exchanges": table.num_rows}, indent=2) + "\n")
    return MemoryReport(table.num_rows, folder)


class MemoryIndex:
    """The loaded index; `search` returns the k exchanges that best match an incoming message."""

    def __init__(self, folder: Path):
        import bm25s

        table = pq.read_table(folder / _EXCHANGES)
        self.size = table.num_rows
        self.example_ids = table["example_id"].to_pylist()
        self.incoming = table["incoming"].to_pylist()
        self.replies = table["reply"].to_pylist()
        self.platforms = table["platform"].to_pylist()
        self.partners = table["partner"].to_pylist()
        self._platform_codes = _codes(table["platform"])
        self._partner_codes = _codes(table["partner"])
        ms = table["target_ms"].to_numpy(zero_copy_only=False).astype(float)
        span = ms.max() - ms.min() if self.size else 0.0
        self._recency = (ms - ms.min()) / span if span > 0 else np.zeros(self.size)
        self._bm25 = bm25s.BM25.load(str(folder / _BM25), show_progress=False) if self.size else None

    @classmethod
    def open(cls, warehouse: Path) -> MemoryIndex:
        """The warehouse's index, rebuilt first when the train split changed since it was built."""
        folder = Warehouse(warehouse).memory
        manifest = folder / _MANIFEST
        stamp = _source_stamp(warehouse)
        if not manifest.is_file() or {k: v for k, v in json.loads(manifest.read_text()).items() if k in stamp} != stamp:
            build_index(warehouse)
        return cls(folder)

    def search(
        self, incoming: str, platform: str | None = None, partner: str | None = None, k: int = 4
    ) -> list[Exchange]:
        """The k best exchanges for `incoming`, best first (fewer when the memory holds fewer)."""
        if k <= 0 or not self.size:
            return []
        scores = self._lexical(incoming)
        same_partner = self._same(self._partner_codes, partner)
        same_platform = self._same(self._platform_codes, platform)
        scores *= 1 + PARTNER_BOOST * same_partner + PLATFORM_BOOST * same_platform
        # Ties (above all: no word in common) go to the same partner, the same platform, the newest.
        scores += 1e-6 * (2 * same_partner + same_platform + self._recency)
        top = top_k(scores, min(k, self.size))
        return [
            Exchange(
                self.example_ids[i],
                self.platforms[i],
                self.partners[i],
                self.incoming[i],
                self.replies[i],
                float(scores[i]),
            )
            for i in top
        ]

    def _lexical(self, incoming: str) -> np.ndarray:
        vocab = self._bm25.vocab_dict
        ids = [vocab[w] for w in words(incoming) if w in vocab]
        if not ids:
            return np.zeros(self.size)
        return self._bm25.get_scores_from_ids(ids).astype(float)

    @staticmethod
    def _same(codes: tuple[dict, np.ndarray], value: str | None) -> np.ndarray:
        lookup, array = codes
        code = lookup.get(value)
        return (array == code).astype(float) if code is not None else np.zeros(len(array))


def top_k(scores: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Indices of the k largest scores, largest first. Each of them lies in one of the k blocks with
    the largest maxima, so on a long array only those blocks (and the tail) are partitioned: a
    full argpartition costs most of a search otherwise (docs/benchmarks.md)."""
    full = len(scores) // block * block
    if full < 4 * k * block:
        candidates = np.arange(len(scores))
    else:
        best = np.argpartition(-scores[:full].reshape(-1, block).max(axis=1), k - 1)[:k]
        candidates = np.concatenate([(best[:, None] * block + np.arange(block)).ravel(), np.arange(full, len(scores))])
    top = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    return top[np.argsort(-scores[top], kind="stable")]


def _codes(column: pa.ChunkedArray) -> tuple[dict, np.ndarray]:
    """A column as integer codes (fast equality at reply time) and the value -> code lookup."""
    encoded = column.combine_chunks().fill_null("").dictionary_encode()
    lookup = {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
    return lookup, encoded.indices.to_numpy(zero_copy_only=False)
