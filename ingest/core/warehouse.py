"""The warehouse's layout: every folder and file the stages share, named in one place.

raw/<platform>/<export_id>.parquet   landed messages (ingest)
rejects/<platform>/<export_id>.parquet  what could not be parsed, with the reason
enrich/text_lang/                    the language cache (transform, before dbt)
ai_me.duckdb                         the dbt models
dbt/                                 dbt's target and logs (may quote data)
datasets/{train,val,test}.parquet    training examples, counts.json
memory/                              the memory index of my past replies (train split)
models/<run>/, models/base/          training runs; local base models
secrets/pseudonym.key                the pseudonym key
.dagster/                            Dagster's run history (make dev, make demo)
.cache/                              the Hugging Face datasets cache
exports_seen.json                    the new_exports sensor's fingerprints
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXPORTS_SEEN = "exports_seen.json"


@dataclass(frozen=True)
class Warehouse:
    root: Path

    def raw(self, platform: str) -> Path:
        return self.root / "raw" / platform

    def rejects(self, platform: str) -> Path:
        return self.root / "rejects" / platform

    @property
    def duckdb(self) -> Path:
        return self.root / "ai_me.duckdb"

    @property
    def text_lang(self) -> Path:
        return self.root / "enrich" / "text_lang"

    @property
    def dbt(self) -> Path:
        return self.root / "dbt"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def base_models(self) -> Path:
        return self.models / "base"

    @property
    def pseudonym_key(self) -> Path:
        return self.root / "secrets" / "pseudonym.key"

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster"

    @property
    def hf_cache(self) -> Path:
        return self.root / ".cache"

    @property
    def exports_seen(self) -> Path:
        return self.root / EXPORTS_SEEN
