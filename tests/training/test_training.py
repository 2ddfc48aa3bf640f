"""LoRA training end to end on the tiny CPU model: what is trained, what is saved, resume,
generation, export and the two-process path. A few steps each; HF_HUB_OFFLINE is set in conftest."""

import hashlib
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from tests.support.paths import REPO
from tests.support.toy_data import SCHEMA, write_toy_datasets
from training.config import load_preset
from training.export.merge import export_merged
from training.inference import load_run, reply
from training.prompt import system_prompt
from training.train import RunExistsError, main, prepare

FAST = {
    "tiny.vocab_size": 400,
    "tiny.hidden_size": 64,
    "tiny.num_heads": 2,
    "tiny.intermediate_size": 128,
    "tiny.pretrain_steps": 4,
    "tiny.pretrain_batch_size": 8,
    "train.max_length": 96,
    "train.batch_size": 8,
    "train.max_steps": 4,
    "train.eval_steps": 2,
    "train.save_steps": 2,
    "train.logging_steps": 1,
    "train.cpu_threads": 1,
    "train.learning_rate": 5e-3,
}
# An example whose prompt alone is longer than max_length: nothing of the reply would be left.
TOO_LONG = "blah " * 200


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse")
    datasets = write_toy_datasets(root, n_train=60, n_val=16)
    train = pq.read_table(datasets / "train.parquet").to_pylist()
    system = train[0]["messages"][0]
    train.append(
        {
            **train[0],
            "example_id": "train-long",
            "messages": [system, {"role": "user", "content": TOO_LONG}, {"role": "assistant", "content": "fine by me"}],
        }
    )
    pq.write_table(pa.Table.from_pylist(train, schema=SCHEMA), datasets / "train.parquet")
    return root


def tiny_config(warehouse, run, **extra):
    return load_preset("tiny-cpu", {**FAST, "warehouse": str(warehouse), "run": run, **extra})


class Snapshot(TrainerCallback):
    """Every parameter before and after training."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.after = {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture(scope="module")
def trained(warehouse):
    snapshot = Snapshot()
    result = main(tiny_config(warehouse, "main"), callbacks=[snapshot])
    return result, snapshot


def test_only_lora_weights_change(trained):
    _, snapshot = trained
    lora = [n for n in snapshot.before if "lora_" in n]
    base = [n for n in snapshot.before if "lora_" not in n]
    assert len(lora) == 2 * 2 * 7  # two layers, A and B, seven projections
    assert all(not torch.equal(snapshot.before[n], snapshot.after[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(snapshot.before[n], snapshot.after[n]) for n in base)


def test_run_folder_holds_adapter_tokenizer_config_metrics_and_card(trained, warehouse):
    result, _ = trained
    run = result.run_dir
    assert run == warehouse / "models" / "main"
    adapter = load_file(run / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    assert json.loads((run / "adapter_config.json").read_text())["r"] == 16
    assert (run / "tokenizer.json").is_file() and "generation" in (run / "chat_template.jinja").read_text()
    assert load_preset(str(run / "config.yaml")) == tiny_config(warehouse, "main")
    assert (run / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 4 and metrics["train_tokens_per_s"] > 0
    assert metrics["final_eval_loss"] < metrics["initial_eval_loss"]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    assert all(r["learning_rate"] is not None and r["tokens_per_s"] > 0 for r in log if "loss" in r)
    assert [r["step"] for r in log if "eval_loss" in r] == [0, 2, 4]
    train = metrics["data"]["splits"]["train"]
    assert (train["examples"], train["dropped_too_long"], train["kept"]) == (61, 1, 60)
    assert train["context_trimmed"] > 0  # max_length 96 is short for five context turns
    assert f"| train | 61 | {train['context_trimmed']} | 1 | 60 |" in (run / "README.md").read_text()


def test_outputs_hold_no_message_text(trained, warehouse):
    result, _ = trained
    texts = {
        m["content"]
        for row in pq.read_table(warehouse / "datasets" / "train.parquet").to_pylist()
        for m in row["messages"]
        if m["role"] != "system"
    }
    for name in ("README.md", "metrics.json", "train_log.jsonl", "config.yaml", "run.json"):
        written = (result.run_dir / name).read_text()
        assert not [t for t in texts if t in written], name


def test_labels_cover_exactly_the_users_turns_and_end_token(warehouse, trained):
    job = prepare(tiny_config(warehouse, "labels"))
    tokenizer, data = job.tokenizer, job.trainer.train_dataset
    assert job.report.splits["train"].dropped_too_long == 1
    assert len(data) == 60 and "train-long" not in data["example_id"]
    for row in data.select(range(10)):
        runs, current = [], []
        for token, label in zip(row["input_ids"], row["labels"]):
            assert label in (-100, token)
            if label != -100:
                current.append(token)
            elif current:
                runs.append(current)
                current = []
        runs += [current] if current else []
        replies = [m["content"] + "<|end|>" for m in row["messages"] if m["role"] == "assistant"]
        assert [tokenizer.decode(r) for r in runs] == replies


def test_resume_continues_from_the_saved_step(warehouse, trained):
    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    cfg = tiny_config(warehouse, "resumed")
    with pytest.raises(KeyboardInterrupt):
        main(cfg, callbacks=[Interrupt()])
    with pytest.raises(RunExistsError, match="unfinished run"):
        main(cfg)
    result = main(tiny_config(warehouse, "resumed", resume=True))
    assert result.metrics["resumed_from_step"] == 2 and result.metrics["global_step"] == 4
    log = [json.loads(line) for line in (result.run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    with pytest.raises(RunExistsError, match="finished run"):
        main(cfg)


def test_generation_returns_text_prompted_like_training(trained):
    result, _ = trained
    model, tokenizer, info = load_run(result.run_dir, device="cpu")
    assert info.me_name == "Robin" and info.end_of_turn == "<|end|>"
    text = reply(model, tokenizer, info, "Are you coming tonight?", "whatsapp", partner="P1234", temperature=1.0)
    assert isinstance(text, str) and text.strip()
    prompt = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": system_prompt("Robin", "whatsapp", "P1234")},
            {"role": "user", "content": "Are you coming tonight?"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt.endswith("<|assistant|>\n")


def test_merged_export_computes_what_the_adapter_does(trained):
    result, _ = trained
    out = export_merged(result.run_dir)
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(out)
    adapted, tokenizer, _ = load_run(result.run_dir, device="cpu")
    ids = tokenizer("haha see you at the pub", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)
    assert merged.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|end|>")


@pytest.mark.slow
def test_two_process_accelerate_launch_completes(warehouse, trained):
    sets = [f"--set={k}={v}" for k, v in FAST.items()]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "ingest.cli",
        "train",
        "--preset",
        "tiny-cpu",
        "--warehouse",
        str(warehouse),
        "--run",
        "ddp",
        *sets,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((warehouse / "models" / "ddp" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["global_step"] == 4
    assert "train: ddp: 4 steps" in proc.stdout and proc.stdout.count("train: ddp") == 1


def test_base_checkpoint_is_reused_not_rebuilt(warehouse, trained):
    bases = list((warehouse / "models" / "base").iterdir())
    assert len(bases) == 1 and (bases[0] / "tiny-base.json").is_file()
    digest = hashlib.sha256((bases[0] / "model.safetensors").read_bytes()).hexdigest()
    main(tiny_config(warehouse, "again"))
    assert hashlib.sha256((bases[0] / "model.safetensors").read_bytes()).hexdigest() == digest


def test_gpu_benchmark_script_runs_scaled_down():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_lora_8b as bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    args = bench.parse_args(["--scale-down", "--steps", "1", "--warmup", "0", "--seq-len", "32", "--batch-size", "1"])
    result = bench.run(args)
    c = bench.SCALED_DOWN
    head = c["hidden_size"] // c["num_attention_heads"]
    per_layer = (
        2 * c["hidden_size"] ** 2
        + 2 * c["hidden_size"] * c["num_key_value_heads"] * head
        + 3 * c["hidden_size"] * c["intermediate_size"]
    )
    assert result["matmul_parameters"] == c["num_hidden_layers"] * per_layer + c["hidden_size"] * c["vocab_size"]
    assert result["tokens_per_s"] > 0 and result["final_loss"] > 0
    assert result["trainable_parameters"] == c["num_hidden_layers"] * 16 * sum(
        i + o for i, o in [(256, 256), (256, 64), (256, 64), (256, 256), (256, 896), (256, 896), (896, 256)]
    )


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(warehouse):
    folder = warehouse / "models" / "docs"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not a run")
    with pytest.raises(RunExistsError, match="files that are not a training run"):
        main(tiny_config(warehouse, "docs"))
    with pytest.raises(RunExistsError, match="holds files that are not a training run; refusing to delete them"):
        main(tiny_config(warehouse, "docs", overwrite=True))
    assert (folder / "notes.txt").read_text() == "not a run"
