"""Load a trained run (base + adapter) and write replies in the user's style.

The prompt is built exactly as the training examples were: `prompt.system_prompt` with the
run's template and the user's name as the training prompts spell it (both in run.json), then
the incoming message as `user`.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ingest.core.config import ConfigError
from training.base_models import is_gguf, resolve_base
from training.hardware import resolve_dtype
from training.prompt import system_prompt
from training.quantization import four_bit_config

GENERATION_BATCH = 32  # contexts decoded together; larger batches gained nothing more on 2 cores (docs/benchmarks.md)


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
    base_source: str = ""  # model.base as configured; a GGUF base is converted again from it if missing


def run_info(run_dir: Path) -> RunInfo:
    path = run_dir / "run.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a finished training run (no run.json); train it first")
    return RunInfo(**json.loads(path.read_text()))


def base_model_path(run_dir: Path, info: RunInfo) -> str:
    """A base inside the warehouse is stored relative to it (models/base/...); hub ids stay as they are."""
    warehouse = run_dir.parent.parent
    inside = warehouse / info.base_model
    if inside.exists():
        return str(inside)
    if is_gguf(info.base_source):
        return resolve_base(info.base_source, warehouse)
    return info.base_model


def load_run(run_dir: Path, device: str | None = None, quantized: bool | None = None, dtype: str | None = None):
    """The base with the run's adapter applied, and the run's tokenizer.

    A QLoRA run's base loads in 4 bits on a GPU (as trained) unless `quantized` is False, e.g. to
    merge; elsewhere in bfloat16. Other bases load in the run's dtype for `device` unless `dtype`
    says otherwise; the adapter takes the base's dtype (a float32 adapter on a bf16 base would cast
    every layer's input twice per token).
    """
    from peft import PeftModel

    info = run_info(run_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    quantized = info.load_in_4bit and device == "cuda" if quantized is None else quantized
    dtype = dtype or ("bfloat16" if info.load_in_4bit else resolve_dtype(info.dtype, device))
    kwargs = {"dtype": getattr(torch, dtype)}
    if quantized:
        kwargs.update(quantization_config=four_bit_config(), device_map={"": device})
    with _quiet_loading():
        base = AutoModelForCausalLM.from_pretrained(base_model_path(run_dir, info), **kwargs)
        model = PeftModel.from_pretrained(base, str(run_dir), autocast_adapter_dtype=quantized)
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
    if not quantized:
        model = model.to(device)
    return model.eval(), tokenizer, info


@contextmanager
def _quiet_loading():
    """No "Loading weights" bar or library warnings while a run loads: `ai-me reply` prints the reply only."""
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def generate(
    model,
    input_ids,
    attention_mask,
    *,
    end_id: int,
    pad_id: int,
    max_new_tokens: int,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int | None = 0,
    **options,
):
    """model.generate as every caller (reply, evaluation, the server) runs it: sampling at `temperature`
    with nucleus `top_p` (0: greedy), seeded when `seed` is given, ending at the end-of-turn token."""
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
    )
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        return model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            eos_token_id=end_id,
            pad_token_id=pad_id,
            **sampling,
            **options,
        )


def reply(
    model,
    tokenizer,
    info: RunInfo,
    incoming: str,
    platform: str,
    partner: str = "someone",
    group_size: int = 2,
    me_name: str | None = None,
    max_new_tokens: int = 60,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    recall=None,
) -> str:
    """One reply to `incoming`; temperature 0 decodes greedily. With `recall` (training.memory.prompt.Recall),
    the past exchanges most like `incoming` go into the prompt first."""
    name = me_name or info.me_name
    if not name:
        raise ConfigError("the run does not record the user's name; pass it (--me NAME)")
    prompt = system_prompt(name, platform, partner, group_size, info.system_prompt)
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": incoming}]
    if recall:
        limit = getattr(model.config, "max_position_embeddings", None)
        messages = recall.into(messages, tokenizer, platform, partner, limit and limit - max_new_tokens)
    return generate_replies(model, tokenizer, info.end_of_turn, [messages], max_new_tokens, seed, temperature, top_p)[0]


def generate_replies(
    model,
    tokenizer,
    end_of_turn: str,
    contexts: list[list[dict]],
    max_new_tokens: int,
    seed: int = 0,
    temperature: float = 0.8,
    top_p: float = 0.95,
    batch_size: int = GENERATION_BATCH,
) -> list[str]:
    """The model's reply to each context, decoded in batches of similar length (left-padded).

    Each batch samples with the seed `seed` + its index, so two models given the same contexts draw
    alike; temperature 0 decodes greedily. A reply ends at the end-of-turn token or max_new_tokens.
    """
    end = tokenizer.convert_tokens_to_ids(end_of_turn)
    pad = end if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, return_dict=False) for c in contexts]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[str] = [""] * len(prompts)
    for number, start in enumerate(range(0, len(order), batch_size)):
        batch = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in batch)
        ids = torch.tensor([[pad] * (width - len(prompts[i])) + prompts[i] for i in batch], device=model.device)
        mask = torch.tensor(
            [[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in batch], device=model.device
        )
        output = generate(
            model,
            ids,
            mask,
            end_id=end,
            pad_id=pad,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed + number,
        )
        for row, i in enumerate(batch):
            replies[i] = tokenizer.decode(output[row, width:], skip_special_tokens=True).strip()
    return replies
