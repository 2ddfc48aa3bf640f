"""LoRA fine-tuning on the user's own turns: `main(cfg)` trains one run end to end.

The same entry point runs in one process (`ai-me train`, the Dagster asset) or many
(`accelerate launch ... -m ingest.cli train`): accelerate's state decides who writes files.
Output, in warehouse/models/<run>/: the adapter (adapter_model.safetensors + adapter_config.json),
the tokenizer with the training chat template, config.yaml (the resolved config), run.json (what
generate/export need), metrics.json, train_log.jsonl, loss_curve.png, README.md (model card) and
checkpoints/ for --resume.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import transformers
from accelerate import PartialState
from datasets import Dataset
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint
from trl import SFTConfig, SFTTrainer

from ingest.core.config import ConfigError
from training import card
from training.base_models import resolve_base
from training.config import TINY_BASE, TrainConfig, to_yaml
from training.data import DataReport, dataset_files, fit_to_length, load_splits, warehouse_counts
from training.hardware import compile_layers, resolve_dtype, training_device
from training.lm_head import score_labelled_positions_only
from training.logs import TrainingLog, plot_losses, read_log
from training.prompt import me_name_from_prompt
from training.quantization import four_bit_config
from training.runs import RUN_MARKER, is_run, replace_folder
from training.templates import end_of_turn_token, install_template
from training.tiny import tiny_base

ADAPTER_FILE = "adapter_model.safetensors"


class RunExistsError(ConfigError):
    """The run folder holds a finished or unfinished run, and the config says neither resume nor overwrite."""


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict


@dataclass
class TrainingJob:
    """Everything `main` sets up before the first step; the tests inspect it."""

    cfg: TrainConfig
    trainer: object  # trl.SFTTrainer
    tokenizer: object
    base_model: str  # hub id or checkpoint folder the adapter applies to
    report: DataReport
    log: TrainingLog
    resume_from: str | None
    me_name: str | None  # the user's name as the training prompts spell it


def main(cfg: TrainConfig, callbacks: Sequence[TrainerCallback] = ()) -> RunResult:
    """Train the run `cfg` describes; returns its folder and metrics. Extra `callbacks` go to the trainer."""
    job = prepare(cfg, callbacks)
    started = time.perf_counter()
    result = job.trainer.train(resume_from_checkpoint=job.resume_from)
    seconds = time.perf_counter() - started
    final_eval = _final_eval(job.trainer)
    job.trainer.save_model(str(cfg.run_dir))  # adapter + tokenizer, main process only
    metrics = _metrics(job, result, final_eval, seconds)
    if job.trainer.is_world_process_zero():
        _write_outputs(job, metrics)
    job.trainer.accelerator.wait_for_everyone()
    return RunResult(cfg.run_dir, metrics)


def prepare(cfg: TrainConfig, callbacks: Sequence[TrainerCallback] = ()) -> TrainingJob:
    """Data, base model, tokenizer and trainer, ready to train; claims the run folder."""
    if not sys.stderr.isatty():  # per-map progress bars would flood log files (Dagster, CI)
        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    files = dataset_files(cfg.warehouse_root)
    splits = load_splits(cfg.warehouse_root, cfg.train.max_train_examples, cfg.train.max_eval_examples, cfg.train.seed)
    args = _sft_args(cfg, has_eval="val" in splits)  # also sets up the (distributed) state
    state = PartialState()
    resume_from = _claim_run_dir(cfg, state)
    set_seed(cfg.train.seed)
    if cfg.train.cpu_threads:
        torch.set_num_threads(cfg.train.cpu_threads)

    tiny = cfg.model.base == TINY_BASE
    if tiny:
        base = str(tiny_base(cfg, files["train"], splits["train"], state))
    else:
        base = resolve_base(cfg.model.base, cfg.warehouse_root, state)
    tokenizer = AutoTokenizer.from_pretrained(base)
    try:
        install_template(tokenizer, cfg.model.chat_template)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    report = DataReport(warehouse_counts=warehouse_counts(cfg.warehouse_root))
    fitted = {}
    for name, split in splits.items():
        fitted[name], report.splits[name] = fit_to_length(split, tokenizer, cfg.train.max_length)
    if not len(fitted["train"]):
        raise ConfigError(f"no training example fits train.max_length={cfg.train.max_length}")

    device = training_device(cfg.train.use_cpu)
    dtype = resolve_dtype(cfg.model.dtype, device)
    model = _load_base_model(base, cfg, dtype, state)
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    # Adapters in a bf16 base's dtype, as trl does for QLoRA: float32 adapters cast every layer's
    # input to float32 and back, a quarter of a CPU step.
    model = get_peft_model(model, lora, autocast_adapter_dtype=dtype != "bfloat16")
    log = TrainingLog(cfg.run_dir / "train_log.jsonl")
    extra = [EarlyStoppingCallback(cfg.train.early_stopping_patience)] if cfg.train.early_stopping_patience else []
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=fitted["train"],
        eval_dataset=fitted.get("val"),
        processing_class=tokenizer,
        callbacks=[log, *extra, *callbacks],
    )
    if device == "cpu":
        score_labelled_positions_only(trainer.model.get_base_model())
    if cfg.train.compile:
        compile_layers(trainer.model, cfg.warehouse_root / ".cache" / "torchinductor")
    _count_trl_drops(report, fitted, trainer, cfg.train.packing)
    first = splits["train"][0]["messages"][0]
    me_name = me_name_from_prompt(first["content"], cfg.system_prompt) if first["role"] == "system" else None
    return TrainingJob(cfg, trainer, tokenizer, base, report, log, resume_from, me_name)


def _sft_args(cfg: TrainConfig, has_eval: bool) -> SFTConfig:
    t = cfg.train
    if t.early_stopping_patience and not has_eval:
        raise ConfigError("train.early_stopping_patience needs a validation split (warehouse/datasets/val.parquet)")
    return SFTConfig(
        output_dir=str(cfg.run_dir / "checkpoints"),
        seed=t.seed,
        data_seed=t.seed,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup if t.warmup < 1 else int(t.warmup),
        weight_decay=t.weight_decay,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        max_length=t.max_length,
        packing=t.packing,
        assistant_only_loss=True,
        pad_to_multiple_of=64 if t.compile and not t.packing else None,  # few shapes: few compilations
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=t.eval_steps,
        eval_on_start=has_eval and not cfg.resume,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=bool(t.early_stopping_patience),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        bf16=t.bf16,
        fp16=False,
        use_cpu=t.use_cpu,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        ddp_find_unused_parameters=False,
        report_to="none",
        dataloader_pin_memory=training_device(t.use_cpu) == "cuda",
        disable_tqdm=not sys.stderr.isatty(),
    )


def _claim_run_dir(cfg: TrainConfig, state) -> str | None:
    """The checkpoint to resume from, after making sure not to clobber a run by accident."""
    run_dir, checkpoints = cfg.run_dir, cfg.run_dir / "checkpoints"
    if cfg.resume:
        last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
        if last is None:
            raise RunExistsError(f"run {cfg.run_name!r} has no checkpoint to resume from in {checkpoints}")
        return last
    if run_dir.exists() and any(run_dir.iterdir()):  # checked by every process, so all refuse together
        if not is_run(run_dir):
            raise RunExistsError(
                f"{run_dir} holds files that are not a training run; refusing to delete them: pick another --run"
            )
        if not cfg.overwrite:
            what = "a finished run" if (run_dir / ADAPTER_FILE).exists() else "an unfinished run (use --resume)"
            raise RunExistsError(
                f"{run_dir} already holds {what}; pass --overwrite to replace it or pick another --run"
            )
    state.wait_for_everyone()  # every process checks before the main one writes its marker
    if state.is_main_process:
        replace_folder(run_dir, is_run, "a training run")
        run_dir.mkdir(parents=True)
        (run_dir / RUN_MARKER).touch()
    state.wait_for_everyone()
    return None


def _load_base_model(base: str, cfg: TrainConfig, dtype: str, state):
    kwargs = {"dtype": getattr(torch, dtype), "attn_implementation": cfg.model.attn_implementation}
    if cfg.model.load_in_4bit:
        kwargs["quantization_config"] = four_bit_config()
        kwargs["device_map"] = {"": state.local_process_index}  # each process holds a whole quantized copy
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if cfg.model.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.gradient_checkpointing)
    return model


def _final_eval(trainer) -> dict:
    """Eval metrics of the model as saved: the best one under early stopping, else the last, evaluated if stale."""
    if trainer.eval_dataset is None:
        return {}
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        return {"eval_loss": trainer.state.best_metric}
    last = next((h for h in reversed(trainer.state.log_history) if "eval_loss" in h), None)
    if last and last["step"] == trainer.state.global_step:
        return last
    return trainer.evaluate()


def _count_trl_drops(report: DataReport, fitted: dict[str, Dataset], trainer, packing: bool) -> None:
    """trl drops examples left fully masked by its own truncation; add them to the counts (not when packing)."""
    if packing:
        return
    prepared = {"train": trainer.train_dataset, "val": trainer.eval_dataset}
    for name, counts in report.splits.items():
        dropped = len(fitted[name]) - len(prepared[name])
        counts.dropped_too_long += dropped
        counts.kept -= dropped


def _metrics(job: TrainingJob, result, final_eval: dict, seconds: float) -> dict:
    trainer = job.trainer
    history = trainer.state.log_history
    losses = [h["loss"] for h in history if "loss" in h]
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    trainable, total = trainer.model.get_nb_trainable_parameters()
    return {
        "run": job.cfg.run_name,
        "base_model": _base_display(job),
        "global_step": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "resumed_from_step": int(Path(job.resume_from).name.split("-")[-1]) if job.resume_from else None,
        "train_seconds": round(seconds, 2),
        "train_tokens": job.log.session_tokens,
        "train_step_seconds": round(job.log.step_seconds, 2),
        "train_tokens_per_s": job.log.tokens_per_s,
        "first_train_loss": losses[0] if losses else None,
        "final_train_loss": losses[-1] if losses else None,
        "mean_train_loss": round(result.training_loss, 4),
        "initial_eval_loss": evals[0] if evals and not job.resume_from else None,
        "final_eval_loss": final_eval.get("eval_loss"),
        "best_eval_loss": min(evals + [final_eval["eval_loss"]]) if final_eval else None,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "processes": trainer.args.world_size,
        "data": job.report.as_dict(),
    }


def _base_display(job: TrainingJob) -> str:
    """The base as a hub id, or relative to the warehouse when inside it (the warehouse may move)."""
    base = Path(job.base_model)
    if base.is_absolute() and base.is_relative_to(job.cfg.warehouse_root):
        return str(base.relative_to(job.cfg.warehouse_root))
    return job.base_model


def _write_outputs(job: TrainingJob, metrics: dict) -> None:
    cfg, run_dir = job.cfg, job.cfg.run_dir
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    # peft records the absolute folder it loaded; the warehouse may move, so record where it is inside.
    adapter_config = run_dir / "adapter_config.json"
    adapter_config.write_text(
        json.dumps({**json.loads(adapter_config.read_text()), "base_model_name_or_path": _base_display(job)}, indent=2)
    )
    run_info = {
        "base_model": _base_display(job),
        "base_source": cfg.model.base,
        "chat_template": cfg.model.chat_template,
        "end_of_turn": end_of_turn_token(cfg.model.chat_template, job.tokenizer),
        "me_name": job.me_name,
        "system_prompt": cfg.system_prompt,
        "dtype": cfg.model.dtype,
        "load_in_4bit": cfg.model.load_in_4bit,
    }
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=2))
    plot_losses(read_log(run_dir / "train_log.jsonl"), run_dir / "loss_curve.png", f"ai-me {cfg.run_name}")
    (run_dir / "README.md").write_text(card.model_card(cfg, metrics))
