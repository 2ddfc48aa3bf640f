"""Load a trained run (base + adapter) and write replies in the user's style.

The prompt is built exactly as the training examples were: `prompt.system_prompt` with the
run's template and the user's name as the training prompts spell it (both in run.json), then
the incoming message as `user`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ingest.config import ConfigError

from .prompt import system_prompt
from .quantization import four_bit_config


@dataclass
class RunInfo:
    """run.json: what a finished run needs to be loaded again."""
    base_model: str
    chat_template: str
    end_of_turn: str
    me_name: str | None
    system_prompt: str
    dtype: str
    load_in_4bit: bool


def run_info(run_dir: Path) -> RunInfo:
    path = run_dir / "run.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a finished training run (no run.json); train it first")
    return RunInfo(**json.loads(path.read_text()))


def base_model_path(run_dir: Path, info: RunInfo) -> str:
    """A base inside the warehouse is stored relative to it (models/base/...); hub ids stay as they are."""
    inside = run_dir.parent.parent / info.base_model
    return str(inside) if inside.exists() else info.base_model


def load_run(run_dir: Path, device: str | None = None, quantized: bool | None = None):
    """The base with the run's adapter applied, and the run's tokenizer.

    A QLoRA run's base loads in 4 bits on a GPU (as trained) unless `quantized` is False, e.g. to
    merge; elsewhere in bfloat16.
    """
    from peft import PeftModel

    info = run_info(run_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    quantized = info.load_in_4bit and device == "cuda" if quantized is None else quantized
    kwargs = {"dtype": torch.bfloat16 if info.load_in_4bit else getattr(torch, info.dtype)}
    if quantized:
        kwargs.update(quantization_config=four_bit_config(), device_map={"": device})
    base = AutoModelForCausalLM.from_pretrained(base_model_path(run_dir, info), **kwargs)
    model = PeftModel.from_pretrained(base, str(run_dir))
    if not quantized:
        model = model.to(device)
    return model.eval(), AutoTokenizer.from_pretrained(run_dir), info


def reply(model, tokenizer, info: RunInfo, incoming: str, platform: str, partner: str = "someone",
          group_size: int = 2, me_name: str | None = None, max_new_tokens: int = 60,
          temperature: float = 0.8, top_p: float = 0.95, seed: int = 0) -> str:
    """One reply to `incoming`; temperature 0 decodes greedily."""
    name = me_name or info.me_name
    if not name:
        raise ConfigError("the run does not record the user's name; pass it (--me NAME)")
    prompt = system_prompt(name, platform, partner, group_size, info.system_prompt)
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": incoming}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    end = tokenizer.convert_tokens_to_ids(info.end_of_turn)
    sampling = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
    torch.manual_seed(seed)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, eos_token_id=end,
                                pad_token_id=end if tokenizer.pad_token_id is None else tokenizer.pad_token_id,
                                **sampling)
    new_tokens = output[0, inputs["input_ids"].shape[1]:]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
