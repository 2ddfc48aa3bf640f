"""`ai-me export --run R --gguf`: the tuned model as one GGUF file for Ollama, llama.cpp and LM Studio.

A run on a GGUF base already has everything a GGUF file needs besides the tuned weights: the
architecture metadata and the tokenizer come from the base file, the chat template is the run's
training template. The weights stream tensor by tensor: each base tensor is dequantized, gets its
LoRA update (scaling * B @ A) and is encoded as f16 or q8_0, so memory holds one tensor, never
the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.core.config import ConfigError
from ingest.core.files import atomic_path, write_atomic
from training.base_models import base_folder, gguf_architecture, gguf_path, is_gguf
from training.inference import RunInfo, run_info
from training.prompt import system_prompt
from training.runs import EXPORT_MARKER, check_export_folder

QUANTS = ("f16", "q8_0")
ARCHITECTURES = ("llama",)  # tested end to end (tests/training/test_smollm2.py); others are refused by name
# Keys the export rewrites; every other key of the base file is copied as it is.
_REWRITTEN = {"general.file_type", "general.name", "tokenizer.chat_template", "general.alignment"}
_GENERATION_TAGS = re.compile(r"\{%-?\s*(?:generation|endgeneration)\s*-?%\}")


@dataclass
class Exported:
    gguf: Path
    modelfile: Path
    tensors: int
    bytes: int


def export_gguf(run_dir: Path, out: Path | None = None, quant: str = "f16", overwrite: bool = False) -> Exported:
    """Write `<out>/<run>.gguf` and an Ollama Modelfile beside it (default out: <run>/export/).

    Another `out` than the default is written into only when it is empty, holds an earlier export
    or `overwrite` is set."""
    import gguf

    if quant not in QUANTS:
        raise ConfigError(f"--quant {quant!r}: choose one of {', '.join(QUANTS)}")
    info = run_info(run_dir)
    base = _base_file(run_dir, info)
    reader = gguf.GGUFReader(base)
    architecture = gguf_architecture(base)
    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"export --gguf: {architecture!r} GGUF bases cannot be exported yet (supported: {', '.join(ARCHITECTURES)})"
        )
    lora = _Lora(run_dir, reader, architecture)
    if out is None:
        out = run_dir / "export"
    else:
        check_export_folder(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    (out / EXPORT_MARKER).touch()
    target = out / f"{run_dir.name}.gguf"
    with atomic_path(target) as partial:
        tensors = _write_gguf(partial, architecture, reader, lora, run_dir, info, quant)
    modelfile = write_modelfile(out / "Modelfile", target.name, info)
    return Exported(target, modelfile, tensors, target.stat().st_size)


def _write_gguf(path: Path, architecture: str, reader, lora, run_dir: Path, info: RunInfo, quant: str) -> int:
    """The merged model as one GGUF file at `path`, tensor by tensor; the number of tensors."""
    import gguf

    writer = gguf.GGUFWriter(path, architecture)
    try:
        _copy_metadata(writer, reader, run_dir, info, quant)
        encoded = [(t, _encoding(t, quant)) for t in reader.tensors]
        for tensor, (qtype, shape, nbytes) in encoded:
            writer.add_tensor_info(tensor.name, shape, np.float32, nbytes, raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor, (qtype, _, _) in encoded:
            weights = lora.merged(tensor.name, gguf.quants.dequantize(tensor.data, tensor.tensor_type))
            writer.write_tensor_data(_encode(weights, qtype))
    finally:
        writer.close()
    return len(encoded)


def training_template(run_dir: Path) -> str:
    """The run's chat template without trl's `{% generation %}` markers: the same text, and
    llama.cpp's template engine does not know the tag."""
    from transformers import AutoTokenizer

    return _GENERATION_TAGS.sub("", AutoTokenizer.from_pretrained(run_dir).chat_template)


def _base_file(run_dir: Path, info: RunInfo) -> Path:
    if not is_gguf(info.base_source):
        raise ConfigError(
            f"export --gguf: run {run_dir.name} was trained on {info.base_model!r}, not a GGUF "
            f"base; only runs on a GGUF base (model.base = *.gguf or package:...) can be exported "
            f"(use export --merge and llama.cpp's convert_hf_to_gguf.py)"
        )
    path = gguf_path(info.base_source)
    if Path(info.base_model).name != base_folder(path, run_dir.parent.parent).name:
        raise ConfigError(
            f"export --gguf: {path} is not the file run {run_dir.name} was trained on "
            f"(it changed since); retrain the run"
        )
    return path


def _copy_metadata(writer, reader, run_dir: Path, info: RunInfo, quant: str) -> None:
    import gguf

    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _REWRITTEN or key == "general.architecture":
            continue
        value = field.contents()
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub_type)
    writer.add_name(f"ai-me {run_dir.name}")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_chat_template(training_template(run_dir))
    if "tokenizer.ggml.eot_token_id" not in reader.fields:
        tokens = reader.fields["tokenizer.ggml.tokens"].contents()
        if info.end_of_turn in tokens:
            writer.add_eot_token_id(tokens.index(info.end_of_turn))


def _encoding(tensor, quant: str):
    """(type, numpy shape, bytes) of a base tensor in the export: vectors stay f32 as llama.cpp keeps
    them; matrices become `quant`, or f16 where rows do not split into q8_0 blocks."""
    import gguf

    shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists the fastest dimension first
    if len(shape) == 1:
        qtype = gguf.GGMLQuantizationType.F32
    elif quant == "q8_0" and shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        qtype = gguf.GGMLQuantizationType.Q8_0
    else:
        qtype = gguf.GGMLQuantizationType.F16
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return qtype, shape, math.prod(shape) // block * size


def _encode(weights: np.ndarray, qtype) -> np.ndarray:
    import gguf

    if qtype == gguf.GGMLQuantizationType.F32:
        return weights.astype(np.float32, copy=False)
    if qtype == gguf.GGMLQuantizationType.F16:
        return weights.astype(np.float16)
    return gguf.quants.quantize(weights.astype(np.float32, copy=False), qtype)


class _Lora:
    """The run's adapter as updates to GGUF tensors, by GGUF tensor name."""

    def __init__(self, run_dir: Path, reader, architecture: str):
        import gguf
        from safetensors.torch import load_file

        config = json.loads((run_dir / "adapter_config.json").read_text())
        unsupported = [
            k
            for k in ("use_dora", "modules_to_save", "rank_pattern", "alpha_pattern", "fan_in_fan_out")
            if config.get(k)
        ]
        if unsupported:
            raise ConfigError(
                f"export --gguf: the run's adapter uses {', '.join(unsupported)}, which the export does not merge"
            )
        r, alpha = config["r"], config["lora_alpha"]
        self.scaling = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
        blocks = int(reader.fields[f"{architecture}.block_count"].contents())
        names = gguf.get_tensor_name_map({v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[architecture], blocks)
        self.heads = int(reader.fields[f"{architecture}.attention.head_count"].contents())
        kv = reader.fields.get(f"{architecture}.attention.head_count_kv")
        self.kv_heads = int(kv.contents()) if kv else self.heads
        self.pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        weights = {k: v.float().numpy() for k, v in load_file(run_dir / "adapter_model.safetensors").items()}
        for key in weights:
            if not key.endswith(".lora_A.weight"):
                continue
            module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            name = names.get_name(module + ".weight", try_suffixes=(".weight",))
            if name is None:
                raise ConfigError(f"export --gguf: the adapter trains {module}, which has no GGUF tensor")
            b = weights[key.replace(".lora_A.", ".lora_B.")]
            self.pairs[name] = (weights[key], self._rotary_order(name, b))
        known = {t.name for t in reader.tensors}
        missing = sorted(set(self.pairs) - known)
        if missing:
            raise ConfigError(f"export --gguf: the base file has no tensor {missing[0]} for the adapter")

    def merged(self, name: str, weights: np.ndarray) -> np.ndarray:
        pair = self.pairs.get(name)
        if pair is None:
            return weights
        a, b = pair
        return weights + self.scaling * (b @ a)

    def _rotary_order(self, name: str, b: np.ndarray) -> np.ndarray:
        """llama.cpp stores a Llama's query and key rows with each head's rotary halves interleaved;
        transformers undoes that on load, so the adapter's output rows are in the undone order."""
        heads = self.heads if ".attn_q." in name else self.kv_heads if ".attn_k." in name else None
        if heads is None:
            return b
        rows = b.shape[0]
        return b.reshape(heads, 2, rows // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


# Ollama's Go template per training family, rendering what the training template renders.
_OLLAMA_TEMPLATES = {
    "chatml": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n",
    "llama3": "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
    "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
}


def write_modelfile(path: Path, gguf_name: str, info: RunInfo) -> Path:
    """An Ollama Modelfile: the run's template, its end of turn as the stop, the default system prompt
    of `ai-me generate` (a WhatsApp chat with "someone"), and generate's sampling defaults."""
    lines = [f"# ollama create {Path(gguf_name).stem} -f Modelfile", f"FROM ./{gguf_name}"]
    template = _OLLAMA_TEMPLATES.get(info.chat_template)
    if template is None:  # Ollama then reads the chat template embedded in the GGUF file
        lines.append(f"# no TEMPLATE: Ollama has no built-in equivalent of the {info.chat_template!r} template")
    else:
        lines.append(f'TEMPLATE """{template}"""')
    lines += [f'PARAMETER stop "{info.end_of_turn}"', "PARAMETER temperature 0.8", "PARAMETER top_p 0.95"]
    if info.me_name:
        prompt = system_prompt(info.me_name, "whatsapp", "someone", 2, info.system_prompt)
        if '"""' in prompt:
            raise ConfigError('export: the run\'s system prompt contains """, which a Modelfile cannot quote')
        lines.append(f'SYSTEM """{prompt}"""')
    return write_atomic(path, "\n".join(lines) + "\n")
