"""The LoRA adapter and the memory index as assets downstream of the training datasets, and the
adapter's style evaluation.

It calls training.train.main, the same entry point as `ai-me train`. Training is manual by
default and skipped when neither the datasets nor the resolved config changed since the last run
(set `retrain: true` in the run config to force it).
"""

import base64
import hashlib
import json
import math
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, Config, Failure, MaterializeResult, MetadataValue, asset

from dagster_defs.dbt_assets import DATASET_ASSET
from dagster_defs.resources import UserConfig
from ingest.core.warehouse import Warehouse
from training.config import for_user, to_yaml
from training.evaluation.arms import LABELS, arms_in
from training.numbers import decimals

FINGERPRINT_FILE = "inputs.fingerprint"


class TrainRunConfig(Config):
    preset: str = ""  # empty: the config's [training] preset
    overrides: list[str] = []  # "key=value", as `ai-me train --set`
    retrain: bool = False


def _fingerprint(datasets, train_yaml: str) -> str:
    h = hashlib.blake2b(train_yaml.encode(), digest_size=16)
    for split in ("train", "val"):
        path = datasets / f"{split}.parquet"
        if path.exists():
            with open(path, "rb") as f:
                h.update(hashlib.file_digest(f, "blake2b").digest())
    return h.hexdigest()


@asset(
    key=AssetKey("lora_adapter"),
    deps=[DATASET_ASSET],
    group_name="training",
    description="LoRA adapter fine-tuned on your own replies (warehouse/models/<run>/).",
)
def lora_adapter(context: AssetExecutionContext, config: TrainRunConfig, user_config: UserConfig) -> MaterializeResult:
    from training.train import main

    user_cfg = user_config.load()
    warehouse = user_config.warehouse()
    train_cfg = for_user(user_cfg, warehouse, config.preset or None, [*config.overrides, "overwrite=true"])
    run_dir = train_cfg.run_dir
    fingerprint = _fingerprint(Warehouse(warehouse).datasets, to_yaml(train_cfg))
    stamp = run_dir / FINGERPRINT_FILE
    if not config.retrain and stamp.exists() and stamp.read_text() == fingerprint:
        context.log.info(f"datasets and config unchanged since {run_dir.name} was trained: not retraining")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return MaterializeResult(metadata=_metadata(run_dir, metrics) | {"retrained": False})
    result = main(train_cfg)
    stamp.write_text(fingerprint)
    return MaterializeResult(metadata=_metadata(result.run_dir, result.metrics) | {"retrained": True})


def _metadata(run_dir, m: dict) -> dict:
    """Numbers only: never message text."""
    metadata = {
        "run_dir": MetadataValue.path(str(run_dir)),
        "steps": m.get("global_step"),
        "train_seconds": m.get("train_seconds"),
        "tokens_per_s": m.get("train_tokens_per_s"),
        "train_loss": f"{m.get('first_train_loss')} -> {m.get('final_train_loss')}",
        "eval_loss": f"{m.get('initial_eval_loss')} -> {m.get('final_eval_loss')}",
        "examples": MetadataValue.json(m.get("data") or {}),
    }
    curve = run_dir / "loss_curve.png"
    if curve.exists():
        metadata["loss_curve"] = png_markdown(curve.read_bytes(), "train and eval loss by step")
    return {k: v for k, v in metadata.items() if v is not None}


def png_markdown(png: bytes, alt: str) -> MetadataValue:
    """A plot inline, as a data URI: the Dagster UI shows it on the asset page without serving
    files from the warehouse."""
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


@asset(
    key=AssetKey("memory_index"),
    deps=[DATASET_ASSET, AssetKey("memory_exchanges")],
    group_name="training",
    description="BM25 index of your past exchanges, train split only (warehouse/memory/): "
    "retrieved into prompts by --memory K.",
)
def memory_index(user_config: UserConfig) -> MaterializeResult:
    from training.memory.index import build_index

    report = build_index(user_config.warehouse())
    return MaterializeResult(
        metadata={"exchanges": report.exchanges, "memory_dir": MetadataValue.path(str(report.folder))}
    )


class EvaluateRunConfig(Config):
    max_examples: int = 200  # test examples to generate for (likelihood uses the same ones)
    max_new_tokens: int = 48
    memory: int | None = None  # memory arms with K past exchanges; None: the config's [memory] k


@asset(
    key=AssetKey("style_evaluation"),
    deps=[AssetKey("lora_adapter"), AssetKey("memory_index")],
    group_name="training",
    description="How close the tuned model writes to you vs its base, and with memory (warehouse/models/<run>/eval/).",
)
def style_evaluation(
    context: AssetExecutionContext, config: EvaluateRunConfig, user_config: UserConfig
) -> MaterializeResult:
    from training.evaluation.evaluate import evaluate_run
    from training.evaluation.report import delta_plot

    run_dir = trained_run(context)
    memory = user_config.load().memory
    m = evaluate_run(
        run_dir,
        user_config.warehouse(),
        max_examples=config.max_examples,
        max_new_tokens=config.max_new_tokens,
        memory=memory.k if config.memory is None else config.memory,
        memory_budget=memory.max_tokens,
    )
    rows = [
        "| arm | NLL | perplexity | Burrows' Delta | AUC real vs generated | chrF |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in arms_in(m):
        r = m[name]
        cells = (r["nll"], r["perplexity"], r["burrows_delta"], r["auc_real_vs_generated"], r["chrf"])
        rows.append(f"| {LABELS[name]} | " + " | ".join(decimals(v) for v in cells) + " |")
    verdicts = [*m["verdicts"].values(), *(v for arm in m.get("verdicts_vs_tuned", {}).values() for v in arm.values())]
    rows += ["", *(f"- {line}" for line in verdicts)]
    return MaterializeResult(
        metadata={  # numbers only: examples stay in the HTML report
            "metrics": MetadataValue.md("\n".join(rows)),
            **headline_metadata(m),
            "delta_plot": png_markdown(delta_plot(m), "Burrows' Delta to your real replies, base and tuned"),
            "n_examples": m["n_examples"],
            "report": MetadataValue.path(str(run_dir / "eval" / "report.html")),
            "warnings": MetadataValue.json(m.get("warnings") or []),
        }
    )


def headline_metadata(m: dict) -> dict:
    """The headline metrics as float metadata, which the asset page plots across materializations.
    A metric that could not be computed is left out (Dagster's float metadata takes no null)."""
    values = {f"{name}_{key}": m[name][key] for name in arms_in(m) for key in ("nll", "burrows_delta", "chrf")}
    values["tuned_auc_real_vs_generated"] = m["tuned"]["auc_real_vs_generated"]
    values.update({f"{key}_tuned_minus_base": m["paired"][key]["estimate"] for key in ("nll_diff", "delta_diff")})
    for arm, paired in m.get("paired_vs_tuned", {}).items():
        values.update({f"{key}_{arm}_minus_tuned": paired[key]["estimate"] for key in ("nll_diff", "delta_diff")})
    audit = m.get("memorization")
    if audit:
        values["tuned_verbatim_rate"] = audit["verbatim_rate"]["tuned"]
    return {k: MetadataValue.float(float(v)) for k, v in values.items() if v is not None and math.isfinite(v)}


def trained_run(context: AssetExecutionContext) -> Path:
    """The run lora_adapter last materialized (its preset may be another than the config's)."""
    event = context.instance.get_latest_materialization_event(AssetKey("lora_adapter"))
    run_dir = event and event.asset_materialization and event.asset_materialization.metadata.get("run_dir")
    if run_dir is None:
        raise Failure("lora_adapter has not been materialized yet: train a run first")
    return Path(run_dir.value)
