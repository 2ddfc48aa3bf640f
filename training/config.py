"""Training configuration: dataclasses filled from a YAML preset, then from `key=value` overrides.

A preset (training/configs/<name>.yaml, or any YAML path) names only what differs from the
defaults below, in the same sections. Overrides use dotted keys (`train.learning_rate=1e-4`,
`lora.target_modules=q_proj,v_proj`) from the CLI's `--set` or a Dagster run config's dict.
Unknown keys and wrong values raise ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.core.config import ConfigError, resolve_types
from training.prompt import DEFAULT_TEMPLATE, PLACEHOLDERS
from training.runs import check_run_name, run_folder

PRESET_DIR = Path(__file__).resolve().parent / "configs"
TINY_BASE = "tiny"
ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class ModelSettings:
    base: str = TINY_BASE  # hub id, checkpoint dir, .gguf file or package:<pkg>/<file>.gguf;
    # "tiny" builds one from [tiny]
    chat_template: str = "tiny"  # training template with generation markers (see templates.py)
    dtype: str = "float32"  # weights of the base: auto (bf16 where native) | float32 | bfloat16 | float16
    load_in_4bit: bool = False  # QLoRA: 4-bit NF4 base through bitsandbytes (CUDA only)
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2


@dataclass
class TinySettings:
    """The from-scratch Llama used when model.base is "tiny" (demo and tests)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 256
    pretrain_steps: int = 200  # full fine-tune on every message of the train split first; 0 skips
    pretrain_learning_rate: float = 2e-3
    pretrain_batch_size: int = 16


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_PROJECTIONS


@dataclass
class TrainSettings:
    epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup: float = 0.03  # below 1: fraction of the steps; from 1: a number of steps
    weight_decay: float = 0.0
    batch_size: int = 4  # per device
    gradient_accumulation_steps: int = 4
    max_length: int = 2048  # tokens; older context turns are dropped to fit
    packing: bool = False  # pack examples into max_length rows (wants attn flash_attention_2)
    group_by_length: bool = False  # batch examples of similar length: less padding, less random order
    eval_steps: int = 50
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    early_stopping_patience: int = 0  # evaluations without a better eval loss before stopping; 0: off
    seed: int = 42
    bf16: bool = False
    gradient_checkpointing: bool = False
    compile: bool = False  # torch.compile each decoder layer (costs a first-step compile)
    use_cpu: bool = False
    cpu_threads: int = 0  # torch threads on CPU; 0: torch's default (1 wins on busy machines)
    max_train_examples: int = 0  # 0: all; a cap for quick runs
    max_eval_examples: int = 0


@dataclass
class TrainConfig:
    preset: str = ""
    run: str = ""  # warehouse/models/<run>; empty: the preset's name
    warehouse: str = "warehouse"
    resume: bool = False  # continue from the run's last checkpoint
    overwrite: bool = False  # replace a finished run of the same name
    system_prompt: str = DEFAULT_TEMPLATE  # the dataset's template (ai-me config dataset.system_prompt)
    model: ModelSettings = field(default_factory=ModelSettings)
    tiny: TinySettings = field(default_factory=TinySettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    @property
    def run_name(self) -> str:
        return self.run or self.preset or "run"

    @property
    def warehouse_root(self) -> Path:
        return Path(self.warehouse).expanduser().resolve()

    @property
    def run_dir(self) -> Path:
        return run_folder(self.warehouse_root, self.run_name)


CHOICES = {
    "model.chat_template": ("tiny", "chatml", "llama3", "mistral", "native"),
    "model.dtype": ("auto", "float32", "bfloat16", "float16"),
    "model.attn_implementation": ("sdpa", "eager", "flash_attention_2"),
    "train.lr_scheduler": ("linear", "cosine", "constant", "constant_with_warmup"),
}
_POSITIVE = (
    "tiny.vocab_size",
    "tiny.hidden_size",
    "tiny.num_layers",
    "tiny.num_heads",
    "tiny.intermediate_size",
    "tiny.pretrain_learning_rate",
    "tiny.pretrain_batch_size",
    "lora.r",
    "lora.alpha",
    "train.epochs",
    "train.learning_rate",
    "train.batch_size",
    "train.gradient_accumulation_steps",
    "train.eval_steps",
    "train.save_steps",
    "train.logging_steps",
)
_NON_NEGATIVE = (
    "tiny.pretrain_steps",
    "train.warmup",
    "train.weight_decay",
    "train.save_total_limit",
    "train.early_stopping_patience",
    "train.seed",
    "train.cpu_threads",
    "train.max_train_examples",
    "train.max_eval_examples",
)


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(preset: str, overrides: Iterable[str] | Mapping[str, Any] = ()) -> TrainConfig:
    """A preset's name (training/configs/) or YAML path, then overrides: "key=value" strings or a dict."""
    data = _read_preset(preset)
    cfg = _build(TrainConfig, data, "")
    if not cfg.preset:
        cfg.preset = Path(preset).stem if preset.endswith((".yaml", ".yml")) else preset
    items = overrides.items() if isinstance(overrides, Mapping) else (_split_override(o) for o in overrides)
    for key, value in items:
        set_value(cfg, key, value)
    return validate(cfg)


def for_user(user_cfg, warehouse: Path, preset: str | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """The training config the CLI and Dagster both use: the user's preset and warehouse, and the
    system prompt template the datasets were written with; overrides come last and win."""
    base = [f"warehouse={warehouse}", f"system_prompt={user_cfg.dataset.system_prompt}"]
    return load_preset(preset or user_cfg.training.preset, [*base, *overrides])


def _read_preset(preset: str) -> dict:
    path = Path(preset) if preset.endswith((".yaml", ".yml")) else PRESET_DIR / f"{preset}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(available_presets())}, or a .yaml path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of sections")
    return data


def _split_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value, e.g. train.learning_rate=1e-4")
    return key.strip(), value.strip()


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    obj = cls()
    for key, value in data.items():
        full = f"{where}.{key}" if where else str(key)
        f = _field(cls, str(key), full)
        if dataclasses.is_dataclass(f.type):
            setattr(obj, f.name, _build(f.type, value, full))
        else:
            setattr(obj, f.name, coerce(value, f.type, full))
    return obj


def _field(cls, name: str, full: str) -> dataclasses.Field:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ConfigError(f"unknown key {full} (known: {', '.join(sorted(_keys(TrainConfig)))})")
    return fields[name]


def _keys(cls, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type):
            out += _keys(f.type, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def set_value(cfg: TrainConfig, key: str, value: Any) -> None:
    """Set a dotted key, parsing a string value to the field's type."""
    *sections, name = key.split(".")
    target = cfg
    for i, section in enumerate(sections):
        f = _field(type(target), section, ".".join(sections[: i + 1]))
        if not dataclasses.is_dataclass(f.type):
            raise ConfigError(f"unknown key {key} ({section} is not a section)")
        target = getattr(target, section)
    f = _field(type(target), name, key)
    if dataclasses.is_dataclass(f.type):
        raise ConfigError(f"{key} is a section; set one of its keys, e.g. {key}.{dataclasses.fields(f.type)[0].name}")
    setattr(target, name, coerce(value, f.type, key))


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_KINDS = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}


def coerce(value: Any, typ, key: str):
    """`value` (native from YAML/dict, or a string from the command line) as `typ`, or ConfigError."""
    try:
        return _parse(value, typ)
    except (TypeError, ValueError):
        kind = _KINDS.get(typ, "a list of strings (comma-separated)")
        raise ConfigError(f"{key} must be {kind}, got {value!r}") from None


def _parse(value: Any, typ):
    if isinstance(value, bool) and typ is not bool:
        raise ValueError
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ValueError
    if typ is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if typ is float:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return number
    if typ is str:
        if not isinstance(value, (str, int, float)):
            raise ValueError
        return str(value)
    # tuple[str, ...]
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError
    return tuple(v.strip() for v in items if v.strip())


def validate(cfg: TrainConfig) -> TrainConfig:
    for key, choices in CHOICES.items():
        if _get(cfg, key) not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {_get(cfg, key)!r}")
    for key in _POSITIVE:
        if _get(cfg, key) <= 0:
            raise ConfigError(f"{key} must be > 0, got {_get(cfg, key)}")
    for key in _NON_NEGATIVE:
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {_get(cfg, key)}")
    _check(0 <= cfg.lora.dropout < 1, "lora.dropout must be in [0, 1)")
    _check(bool(cfg.lora.target_modules), "lora.target_modules must name at least one module")
    _check(cfg.train.max_length >= 32, "train.max_length must be >= 32")
    _check(cfg.train.max_steps == -1 or cfg.train.max_steps > 0, "train.max_steps must be -1 (use epochs) or > 0")
    _check(cfg.tiny.hidden_size % cfg.tiny.num_heads == 0, "tiny.hidden_size must be a multiple of tiny.num_heads")
    check_run_name(cfg.run_name)  # the preset's name when no run is set: `--set preset=` reaches here too
    unknown = sorted(set(re.findall(r"\{([^{}]*)\}", cfg.system_prompt)) - set(PLACEHOLDERS))
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise ConfigError(f"system_prompt: unknown placeholder {{{unknown[0]}}} (known: {known})")
    tiny = cfg.model.base == TINY_BASE
    _check(
        tiny == (cfg.model.chat_template == "tiny"),
        'model.chat_template "tiny" goes with model.base "tiny", and only with it',
    )
    _check(
        not (cfg.model.load_in_4bit and cfg.train.use_cpu), "model.load_in_4bit needs a CUDA GPU (train.use_cpu is set)"
    )
    _check(not (cfg.model.load_in_4bit and tiny), "model.load_in_4bit is for real base models, not the tiny one")
    _check(
        not (cfg.train.early_stopping_patience and cfg.train.save_steps % cfg.train.eval_steps),
        "train.early_stopping_patience needs train.save_steps to be a multiple of train.eval_steps",
    )
    return cfg


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _get(cfg: TrainConfig, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def to_dict(cfg: TrainConfig) -> dict:
    data = dataclasses.asdict(cfg)
    data["lora"]["target_modules"] = list(cfg.lora.target_modules)
    return data


def to_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


resolve_types(TrainConfig)
