"""The user's config file: who "me" is, where the exports are, and pipeline settings.

Looked up as --config PATH, else $AI_ME_CONFIG, else ./ai_me.toml; with none, defaults apply.
$AI_ME_WAREHOUSE overrides the warehouse root. Unknown keys and wrong values are errors that
name the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_origin, get_type_hints

from ingest.core.identity import Me, norm_phone
from ingest.core.platforms import PLATFORMS

DEFAULT_FILE = "ai_me.toml"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class MeConfig:
    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


# [exports]: a list of paths per platform of the platform table.
ExportsConfig = dataclasses.make_dataclass(
    "ExportsConfig", [(name, tuple[str, ...], field(default=())) for name in PLATFORMS], frozen=True
)


@dataclass(frozen=True)
class WarehouseConfig:
    root: str = "warehouse"


@dataclass(frozen=True)
class IngestConfig:
    timezone: str = "UTC"  # zone of exports that carry local times (WhatsApp)
    date_order: str = "auto"  # auto | dmy | mdy | ymd


@dataclass(frozen=True)
class FiltersConfig:
    languages: tuple[str, ...] = ()  # ISO 639-1 codes to keep; empty keeps all
    min_chars: int = 2
    dedup_tolerance_seconds: int = 60  # same conversation, sender and text this close: one message


@dataclass(frozen=True)
class SplitConfig:
    strategy: str = "time"  # time | conversation
    val_fraction: float = 0.1
    test_fraction: float = 0.1


@dataclass(frozen=True)
class DatasetConfig:
    context_turns: int = 6  # previous turns of the session before each reply of mine
    session_gap_hours: float = 6.0  # silence that starts a new session
    turn_gap_minutes: float = 30.0  # one sender's messages closer than this merge into one turn
    token_budget: int = 1024  # per example (about 4 characters a token); context is cut, never the reply
    # Placeholders: {me}, {chat} (e.g. "a WhatsApp chat"), {partner}, {size} ("1:1" or "group of N").
    system_prompt: str = "You are {me}. Reply as {me} would in {chat} with {partner} ({size})."
    min_train_examples: int = 100  # fewer replies of mine in the train split: dbt warns (too few to learn a style)


@dataclass(frozen=True)
class TrainingConfig:
    preset: str = "smollm2-135m"


MAX_MEMORY = 16  # past exchanges one prompt may hold


@dataclass(frozen=True)
class MemoryConfig:
    k: int = 0  # past exchanges of mine put into each prompt (0: none); --memory overrides
    max_tokens: int = 384  # the most prompt tokens those exchanges may take


@dataclass(frozen=True)
class Config:
    me: MeConfig = field(default_factory=MeConfig)
    exports: ExportsConfig = field(default_factory=ExportsConfig)
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    path: Path | None = None  # the file it came from; relative paths resolve against its folder

    @property
    def warehouse_root(self) -> Path:
        env = os.environ.get("AI_ME_WAREHOUSE")
        if env:
            return Path(env).expanduser().resolve()
        return self.resolve(self.warehouse.root)

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path.resolve()

    def export_paths(self, platform: str) -> list[Path]:
        return [self.resolve(p) for p in getattr(self.exports, platform)]

    def identity(self, extra: tuple[str, ...] = ()) -> Me:
        """Me from [me] plus --me values, each sorted into email, phone or name by its look."""
        emails = tuple(x for x in extra if "@" in x)
        phones = tuple(x for x in extra if "@" not in x and norm_phone(x))
        names = tuple(x for x in extra if x not in emails and x not in phones)
        return Me(names=self.me.names + names, emails=self.me.emails + emails, phones=self.me.phones + phones)


_CHOICES = {
    ("ingest", "date_order"): ("auto", "dmy", "mdy", "ymd"),
    ("split", "strategy"): ("time", "conversation"),
}


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"[{where}] must be a table, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {where + '.' if where else ''}{unknown[0]} (known: {', '.join(known)})")
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(f.type if isinstance(f.type, type) else None):
            kwargs[name] = _build(f.type, value, key)
        else:
            kwargs[name] = _value(f, value, key)
    return cls(**kwargs)


def _value(f: dataclasses.Field, value: Any, key: str):
    typ = f.type
    if get_origin(typ) is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return tuple(value)
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if typ in (int, float, str) and (type(value) is not typ):
        raise ConfigError(f"{key} must be a {typ.__name__}, got {value!r}")
    section, _, name = key.partition(".")
    choices = _CHOICES.get((section, name))
    if choices and value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


# dataclass field types are strings under `from __future__ import annotations`; resolve them once.
def resolve_types(cls) -> None:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        f.type = hints[f.name]
        if dataclasses.is_dataclass(f.type):
            resolve_types(f.type)


resolve_types(Config)


def check_timezone(zone: str, key: str = "ingest.timezone") -> str:
    """An IANA zone name or a fixed offset such as +02:00 or UTC+2."""
    if re.fullmatch(r"(UTC|GMT)?[+-]\d{1,2}(:?\d{2})?", zone):
        return zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown time zone {zone!r}") from None
    return zone


def _validate(cfg: Config) -> Config:
    check_timezone(cfg.ingest.timezone)
    for name in ("val_fraction", "test_fraction"):
        v = getattr(cfg.split, name)
        if not 0 <= v < 0.5:
            raise ConfigError(f"split.{name} must be between 0 and 0.5, got {v}")
    if cfg.filters.min_chars < 0:
        raise ConfigError("filters.min_chars must be >= 0")
    if cfg.filters.dedup_tolerance_seconds < 0:
        raise ConfigError("filters.dedup_tolerance_seconds must be >= 0")
    for name in ("context_turns", "session_gap_hours", "turn_gap_minutes", "token_budget"):
        if getattr(cfg.dataset, name) <= 0:
            raise ConfigError(f"dataset.{name} must be > 0")
    if cfg.dataset.min_train_examples < 0:
        raise ConfigError("dataset.min_train_examples must be >= 0")
    if not 0 <= cfg.memory.k <= MAX_MEMORY:
        raise ConfigError(f"memory.k must be between 0 and {MAX_MEMORY}, got {cfg.memory.k}")
    if cfg.memory.max_tokens < 1:
        raise ConfigError("memory.max_tokens must be >= 1")
    try:
        cfg.dataset.system_prompt.format(me="", chat="", partner="", size="")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"dataset.system_prompt: placeholders are {{me}}, {{chat}}, {{partner}}, {{size}} ({e!r})"
        ) from None
    return cfg


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load and validate the config; errors name the file and the offending key."""
    explicit = path or os.environ.get("AI_ME_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_FILE)
    if not file.exists():
        if explicit:
            raise ConfigError(f"{file}: config file not found")
        return Config()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: {e}") from None
    try:
        cfg = _validate(_build(Config, data, ""))
    except ConfigError as e:
        raise ConfigError(f"{file}: {e}") from None
    return dataclasses.replace(cfg, path=file.resolve())


def config_and_warehouse(config_path: str | None = None, warehouse: str | None = None) -> tuple[Config, Path]:
    """The config and the warehouse root: an explicit path beats $AI_ME_WAREHOUSE beats the config."""
    cfg = load_config(config_path)
    return cfg, (Path(warehouse).expanduser().resolve() if warehouse else cfg.warehouse_root)
