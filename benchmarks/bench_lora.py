"""CPU LoRA benchmark of the smollm2-135m preset, against the machine's own limit measured in the
same run: the bf16 (or float32, where bf16 is not native) matmul peak of a layer-shaped product,
then `training.train.main` on batches of 8 examples fitted to 256 tokens. Reports steady-state
tokens/s (the first step, which compiles the layers, is reported apart), peak RSS, and
MFU = tokens/s x 4 x 134.5 M FLOPs / peak (a frozen base costs forward + input gradients, 4N a token).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from random import Random

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PARAMETERS = 134.5e6
BATCH, LENGTH = 8, 256


def matmul_peak_gflops(dtype_name: str, seconds: float = 3.0) -> float:
    """Best GFLOPS of a 2048x576 by 576x1536 product (SmolLM2's MLP shape at 8 x 256 tokens)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(2048, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(10):
        a @ b
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, (time.perf_counter() - start) / 10)
    return 2 * 2048 * 576 * 1536 / best / 1e9


def _long_examples(warehouse: Path, n: int) -> None:
    """Toy examples with enough context turns that fitting to 256 tokens leaves them near 256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.support.toy_data import SCHEMA, toy_example

    rng = Random(7)
    rows = []
    for i in range(n):
        example = toy_example(rng, i, "train")
        extra = [toy_example(rng, i, "train")["messages"][1:] for _ in range(12)]
        example["messages"] = example["messages"][:1] + [m for turns in extra for m in turns] + example["messages"][1:]
        rows.append(example)
    folder = warehouse / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "train.parquet")


def bench_lora(workdir: Path, steps: int) -> dict:
    import torch
    from transformers import TrainerCallback

    from training.config import load_preset
    from training.hardware import resolve_dtype
    from training.train import main

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.steps: list[tuple[float, int]] = []  # (seconds, tokens) per optimizer step

        def on_step_begin(self, args, state, control, **kwargs):
            self.start, self.tokens = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append((time.perf_counter() - self.start, state.num_input_tokens_seen - self.tokens))

    warehouse = Path(workdir) / "warehouse"
    _long_examples(warehouse, BATCH * steps)
    cfg = load_preset(
        "smollm2-135m",
        {
            "warehouse": str(warehouse),
            "run": "bench",
            "train.max_steps": steps,
            "train.max_length": LENGTH,
            "train.batch_size": BATCH,
            "train.group_by_length": False,
            "train.save_steps": 10_000,
        },
    )
    dtype = resolve_dtype(cfg.model.dtype, "cpu")
    peak = matmul_peak_gflops(dtype)
    times = StepTimes()
    start = time.perf_counter()
    metrics = main(cfg, callbacks=[times]).metrics
    seconds = time.perf_counter() - start
    steady = times.steps[1:]
    tokens_per_s = sum(t for _, t in steady) / sum(s for s, _ in steady)
    return {
        "stage": "train_smollm2",
        "messages": metrics["data"]["splits"]["train"]["kept"],
        "seconds": round(seconds, 2),
        "dtype": dtype,
        "torch_threads": torch.get_num_threads(),
        "steps": metrics["global_step"],
        "tokens_per_step": round(sum(t for _, t in times.steps) / len(times.steps)),
        "first_step_seconds": round(times.steps[0][0], 2),
        "tokens_per_s": round(tokens_per_s, 1),
        "matmul_peak_gflops": round(peak, 1),
        "mfu": round(tokens_per_s * 4 * PARAMETERS / (peak * 1e9), 3),
        "first_train_loss": metrics["first_train_loss"],
        "final_train_loss": metrics["final_train_loss"],
    }


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(bench_lora(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 30)))
