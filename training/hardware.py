"""What the machine computes fast: `model.dtype: auto` is bfloat16 where the hardware has native
bf16 matrix units (CUDA GPUs that support it; x86 CPUs with AVX-512 BF16 or AMX; Arm CPUs with the
BF16 extension), else float32. Elsewhere bf16 is emulated and slower than float32."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

_CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 flags; "bf16" is Arm's Features entry


@lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:  # not Linux: no cheap way to tell, and float32 is never wrong
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return bool(_CPU_BF16_FLAGS & set(value.split()))
    return False


def training_device(use_cpu: bool) -> str:
    """Where the Trainer will run: a CUDA GPU unless told to use the CPU (or none is there)."""
    return "cuda" if torch.cuda.is_available() and not use_cpu else "cpu"


def resolve_dtype(name: str, device: str) -> str:
    """A concrete dtype name for model.dtype, resolving "auto" for `device`."""
    if name != "auto":
        return name
    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if device == "cpu" and cpu_has_native_bf16() else "float32"


def compile_layers(model, cache_dir: Path) -> int:
    """torch.compile each decoder layer in place: inductor fuses the norms, rotary embedding,
    activation and dtype casts between the matmuls. Layers of one class share one compiled graph;
    dynamic shapes spare a recompilation per batch length. Where compiling fails (no C++ compiler),
    the layers run uncompiled. The compile cache stays inside the warehouse."""
    import os

    import torch._dynamo
    from transformers.modeling_layers import GradientCheckpointingLayer

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir))
    torch._dynamo.config.suppress_errors = True
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)
