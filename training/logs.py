"""Training logs: one JSON line per logging step (loss, eval loss, learning rate, tokens/s) and a
PNG loss curve drawn from them. Numbers only, never text."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback


class TrainingLog(TrainerCallback):
    """Appends to `path`; on resume, first drops the lines logged after the resumed checkpoint.

    Throughput counts only the time inside optimizer steps (no evaluation, checkpointing or
    data preparation), in tokens of all processes together.
    """

    def __init__(self, path: Path):
        self.path = path
        self.step_seconds = 0.0  # this session's time inside steps
        self.session_tokens = 0  # this session's tokens
        self._step_start = 0.0
        self._start_tokens = 0
        self._mark = (0.0, 0)  # (step_seconds, tokens seen) at the previous train log

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            kept = [r for r in read_log(self.path) if r["step"] <= state.global_step]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._start_tokens = state.num_input_tokens_seen
        self._mark = (0.0, state.num_input_tokens_seen)

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_seconds += time.perf_counter() - self._step_start
        self.session_tokens = state.num_input_tokens_seen - self._start_tokens

    @property
    def tokens_per_s(self) -> float | None:
        return round(self.session_tokens / self.step_seconds, 1) if self.step_seconds else None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            seconds, tokens = self.step_seconds - self._mark[0], state.num_input_tokens_seen - self._mark[1]
            self._mark = (self.step_seconds, state.num_input_tokens_seen)
            record.update(
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate"),
                tokens_per_s=round(tokens / seconds, 1) if seconds else None,
            )
        elif "eval_loss" in logs:
            record["eval_loss"] = logs["eval_loss"]
        else:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(records: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, label in (("loss", "train loss"), ("eval_loss", "eval loss")):
        points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o" if key == "eval_loss" else None, markersize=3, label=label)
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
