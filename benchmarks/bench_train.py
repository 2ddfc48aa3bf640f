"""Training benchmark: the tiny-cpu preset end to end (tokenizer, base, pretraining, LoRA) on n
synthetic training examples plus 10% for validation; reports LoRA training tokens/s on CPU."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_train(workdir: Path, n: int) -> dict:
    from tests.support.toy_data import write_toy_datasets
    from training.config import load_preset
    from training.train import main

    warehouse = Path(workdir) / "warehouse"
    write_toy_datasets(warehouse, n_train=n, n_val=max(1, n // 10))
    cfg = load_preset("tiny-cpu", {"warehouse": str(warehouse), "run": "bench"})
    start = time.perf_counter()
    metrics = main(cfg).metrics
    seconds = time.perf_counter() - start
    return {
        "stage": "train_tiny",
        "messages": metrics["data"]["splits"]["train"]["kept"],
        "seconds": round(seconds, 2),
        "lora_seconds": metrics["train_seconds"],
        "tokens_per_s": metrics["train_tokens_per_s"],
        "steps": metrics["global_step"],
        "initial_eval_loss": round(metrics["initial_eval_loss"], 4),
        "final_eval_loss": round(metrics["final_eval_loss"], 4),
    }


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(bench_train(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
