"""`ai-me export --run R --merge`: fold the adapter into the base for deployment (merged/ in the run)."""

from __future__ import annotations

from pathlib import Path

from ingest.core.files import atomic_path
from training.inference import load_run
from training.runs import EXPORT_MARKER, check_export_folder


def export_merged(run_dir: Path, out: Path | None = None, overwrite: bool = False) -> Path:
    """Write a full model (safetensors), its tokenizer and generation config that stops at end of turn.

    A 4-bit (QLoRA) run is merged into a bfloat16 copy of its base: quantized weights cannot absorb
    the adapter exactly. The run's own merged/ is always replaced; another `out` only when it is
    empty, holds an earlier export or `overwrite` is set.
    """
    if out is None:
        out = run_dir / "merged"
    else:
        check_export_folder(out, overwrite)
    model, tokenizer, info = load_run(run_dir, device="cpu", quantized=False)
    merged = model.merge_and_unload()
    merged.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(info.end_of_turn)
    with atomic_path(out) as partial:
        merged.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / EXPORT_MARKER).touch()
    return out
