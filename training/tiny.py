"""The tiny base model: a small Llama and a byte-level BPE tokenizer trained on the user's own
train split, saved as an ordinary checkpoint directory so that it loads through the same
`from_pretrained` path as any hub model. Built once per (data, config) under
warehouse/models/base/tiny-cpu-<hash>/.

With `tiny.pretrain_steps` the random model first gets a short full fine-tune on the whole
conversations of the train split (both roles, loss on every token), so that LoRA adapts a base
that already writes instead of one that emits noise.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    set_seed,
)
from trl import SFTConfig, SFTTrainer

from training.config import TrainConfig
from training.templates import TEMPLATES, TINY_ROLE_TOKENS, TINY_TOKENS

COMPLETE = "tiny-base.json"  # written last: a folder without it is an interrupted build
_VERSION = 2  # bump when the build below changes, so old bases are not reused


def tiny_base(cfg: TrainConfig, train_file: Path, train: Dataset, state) -> Path:
    """The checkpoint folder of the tiny base for this train split and config, built if missing.

    `state` is accelerate's PartialState: under `accelerate launch` the main process builds the
    tokenizer and random model, and every process takes part in the pretraining.
    """
    out = cfg.warehouse_root / "models" / "base" / f"tiny-cpu-{_fingerprint(cfg, train_file)}"
    if (out / COMPLETE).exists():
        return out
    partial = out.with_name(out.name + ".partial")
    if state.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        tokenizer = train_tokenizer(train, cfg.tiny.vocab_size)
        tokenizer.model_max_length = cfg.train.max_length
        tokenizer.save_pretrained(partial)
        random_model(cfg, tokenizer).save_pretrained(partial)
    state.wait_for_everyone()
    if cfg.tiny.pretrain_steps:
        _pretrain(cfg, partial, train)
    if state.is_main_process:
        (partial / COMPLETE).write_text(
            json.dumps({"pretrain_steps": cfg.tiny.pretrain_steps, "train_examples": len(train)})
        )
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    state.wait_for_everyone()
    return out


def _fingerprint(cfg: TrainConfig, train_file: Path) -> str:
    h = hashlib.sha256()
    with open(train_file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    settings = {
        "tiny": vars(cfg.tiny),
        "max_length": cfg.train.max_length,
        "seed": cfg.train.seed,
        "max_train_examples": cfg.train.max_train_examples,
        "template": TEMPLATES["tiny"],
        "version": _VERSION,
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:12]


def train_tokenizer(train: Dataset, vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE (any text encodes, no unknown token) with the tiny chat template's tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = [TINY_TOKENS["pad"], TINY_TOKENS["bos"], TINY_TOKENS["end"], *TINY_ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_texts(train), trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=TINY_TOKENS["bos"],
        eos_token=TINY_TOKENS["end"],
        pad_token=TINY_TOKENS["pad"],
        additional_special_tokens=list(TINY_ROLE_TOKENS),
    )
    wrapped.chat_template = TEMPLATES["tiny"]
    return wrapped


def _texts(train: Dataset):
    for batch in train.select_columns(["messages"]).iter(batch_size=1000):
        for messages in batch["messages"]:
            for message in messages:
                yield message["content"]


def random_model(cfg: TrainConfig, tokenizer) -> LlamaForCausalLM:
    t = cfg.tiny
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=t.hidden_size,
        intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_layers,
        num_attention_heads=t.num_heads,
        num_key_value_heads=t.num_heads,
        max_position_embeddings=cfg.train.max_length,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    set_seed(cfg.train.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _pretrain(cfg: TrainConfig, folder: Path, train: Dataset) -> None:
    """Full fine-tune of the random model on whole conversations; every process runs it."""
    t = cfg.tiny
    args = SFTConfig(
        output_dir=str(folder / "pretrain"),
        max_steps=t.pretrain_steps,
        learning_rate=t.pretrain_learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        per_device_train_batch_size=t.pretrain_batch_size,
        max_length=cfg.train.max_length,
        assistant_only_loss=False,
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=max(1, t.pretrain_steps // 5),
        report_to="none",
        disable_tqdm=not sys.stderr.isatty(),
        bf16=False,
        fp16=False,
        activation_checkpointing=False,
        use_cpu=cfg.train.use_cpu,
        ddp_find_unused_parameters=False,
    )
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train.select_columns(["messages"]), processing_class=tokenizer
    )
    trainer.train()
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(folder)
        shutil.rmtree(folder / "pretrain", ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
