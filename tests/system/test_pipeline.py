"""The whole graph, headless, on sample exports: ingest → dbt → datasets → LoRA adapter → evaluation.

One run in a temporary warehouse (the same path `make demo` takes), then a second materialization
of the adapter that must not retrain because nothing changed; as a run of its own, a new run,
the same again (no retraining), `retrain: true` and a changed training config; then an adapter
trained as another run, which style_evaluation must evaluate. Last, `ai-me transform`'s build on the same warehouse
must give the datasets the Dagster run gave.
"""

import json

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetSelection, RunConfig, materialize

from ingest.samples import generate

pytestmark = pytest.mark.slow
FAST = ["tiny.pretrain_steps=4", "train.max_steps=3", "train.eval_steps=2", "train.logging_steps=1"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    summary = generate(root / "samples", messages=1500, seed=11, preset="tiny-cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AI_ME_CONFIG", str(summary.config_path))
        mp.setenv("AI_ME_WAREHOUSE", str(root / "wh"))
        mp.setenv("DAGSTER_HOME", str(root / "dagster"))
        (root / "dagster").mkdir()
        from dagster_defs.definitions import defs, pipeline_resources

        resources = pipeline_resources()
        assets = list(defs.assets)
        config = RunConfig(
            ops={
                "lora_adapter": {"config": {"overrides": FAST}},
                "style_evaluation": {"config": {"max_examples": 12, "max_new_tokens": 8, "memory": 2}},
            }
        )
        first = materialize(assets, resources=resources, run_config=config)

        def adapter(overrides=FAST, **config):
            return materialize(
                assets,
                resources=resources,
                run_config=RunConfig(ops={"lora_adapter": {"config": {"overrides": overrides, **config}}}),
                selection=AssetSelection.assets(AssetKey("lora_adapter")),
            )

        again = adapter()
        run = [*FAST, "run=retrain-run"]  # a run of its own: the first run keeps its evaluation
        retrains = {
            "new run": adapter(run),
            "unchanged": adapter(run),
            "forced": adapter(run, retrain=True),
            "config changed": adapter([*run, "train.max_steps=2"]),
        }
        other = materialize(
            assets,
            resources=resources,
            selection=AssetSelection.assets(AssetKey("lora_adapter"), AssetKey("style_evaluation")),
            run_config=RunConfig(
                ops={
                    "lora_adapter": {"config": {"overrides": [*FAST, "run=other-run"]}},
                    "style_evaluation": {"config": {"max_examples": 4, "max_new_tokens": 4}},
                }
            ),
        )
        yield root / "wh", first, again, retrains, other, summary.config_path


def test_every_stage_lands_its_output(pipeline):
    wh, first, *_ = pipeline
    assert first.success
    for platform in ("whatsapp", "instagram", "messenger", "gmail"):
        assert list((wh / "raw" / platform).glob("*.parquet")), platform
    train = pq.read_table(wh / "datasets" / "train.parquet")
    assert train.num_rows > 0 and train.schema.field("messages").type.value_type.names == ["role", "content"]
    run_dir = wh / "models" / "tiny-cpu"
    assert (run_dir / "adapter_model.safetensors").exists() or list(run_dir.rglob("adapter_model.safetensors"))
    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 3
    evaluation = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert evaluation["n_examples"] == 12 and {"nll", "burrows_delta"} <= set(evaluation["tuned"])
    assert (run_dir / "eval" / "report.html").exists()


def test_adapter_is_not_retrained_when_inputs_are_unchanged(pipeline):
    _, first, again, *_ = pipeline
    assert retrained(first) is True
    assert again.success and retrained(again) is False


def test_adapter_retrains_when_forced_or_its_config_changed(pipeline):
    _, _, _, retrains, *_ = pipeline
    assert {why: retrained(result) for why, result in retrains.items()} == {
        "new run": True,
        "unchanged": False,
        "forced": True,
        "config changed": True,
    }


def retrained(result) -> bool:
    [materialization] = result.asset_materializations_for_node("lora_adapter")
    return materialization.metadata["retrained"].value


def test_metadata_shows_counts_curves_and_metrics_never_text(pipeline):
    wh, first, *_ = pipeline
    meta = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in first.get_asset_materialization_events()
    }
    for platform in ("whatsapp", "instagram", "messenger", "gmail"):
        assert meta[f"raw/{platform}"]["landed"].value > 0 and "rejected" in meta[f"raw/{platform}"]
    counts = json.loads((wh / "datasets" / "counts.json").read_text())
    examples = meta["training_examples"]
    assert {s: examples[f"{s}_examples"].value for s in ("train", "val", "test")} == {
        s: counts[s] for s in ("train", "val", "test")
    }
    assert examples["dagster/row_count"].value == sum(counts[s] for s in ("train", "val", "test"))
    curve = meta["lora_adapter"]["loss_curve"]
    assert curve.value.startswith("![train and eval loss by step](data:image/png;base64,iVBORw0KGgo")  # PNG magic
    table = meta["style_evaluation"]["metrics"].value
    assert all(f"| {arm} |" in table for arm in ("base", "tuned", "base + memory", "tuned + memory"))
    memory = pq.read_table(wh / "memory" / "exchanges.parquet")
    assert meta["memory_index"]["exchanges"].value == memory.num_rows > 0
    assert set(memory["example_id"].to_pylist()) <= set(
        pq.read_table(wh / "datasets" / "train.parquet")["example_id"].to_pylist()
    )
    assert meta["style_evaluation"]["delta_plot"].value.startswith(
        "![Burrows' Delta to your real replies, base and tuned](data:image/png;base64,iVBORw0KGgo"
    )

    # No message text anywhere: no reply or context turn of any split shows up in any metadata.
    shown = repr(meta)
    texts = {
        m["content"]
        for split in ("train", "val", "test")
        for row in pq.read_table(wh / "datasets" / f"{split}.parquet").column("messages").to_pylist()
        for m in row
        if m["role"] != "system" and len(m["content"]) >= 12
    }
    assert texts and not [t for t in texts if t in shown]


def test_style_evaluation_evaluates_the_run_lora_adapter_trained(pipeline):
    """lora_adapter run with another run name than the config's preset: style_evaluation follows it."""
    wh, *_, other, _ = pipeline
    assert other.success
    [trained] = other.asset_materializations_for_node("lora_adapter")
    assert trained.metadata["run_dir"].value == str(wh / "models" / "other-run")
    [evaluated] = other.asset_materializations_for_node("style_evaluation")
    assert evaluated.metadata["report"].value == str(wh / "models" / "other-run" / "eval" / "report.html")
    assert json.loads((wh / "models" / "other-run" / "eval" / "metrics.json").read_text())["n_examples"] == 4
    assert json.loads((wh / "models" / "tiny-cpu" / "eval" / "metrics.json").read_text())["n_examples"] == 12


def test_the_cli_builds_the_same_datasets_as_dagster(pipeline):
    """One build sequence (ingest/transform/build.py): `ai-me transform` on the warehouse Dagster built
    writes the same examples, split for split, and the same counts."""
    from ingest.core.config import load_config
    from ingest.transform.build import build

    wh, *_, config_path = pipeline
    splits = ("train", "val", "test")
    by_dagster = {s: pq.read_table(wh / "datasets" / f"{s}.parquet") for s in splits}
    counts = json.loads((wh / "datasets" / "counts.json").read_text())
    report = build(load_config(config_path), wh)
    assert report.ok and report.datasets is not None, report.line
    for s in splits:
        assert pq.read_table(wh / "datasets" / f"{s}.parquet").equals(by_dagster[s]), s
    assert json.loads((wh / "datasets" / "counts.json").read_text()) == counts and counts["train"] > 0
