"""The 4-bit (QLoRA) base: NF4 weights with double quantization, bf16 compute (bitsandbytes, CUDA)."""

from __future__ import annotations

import torch


def four_bit_config():
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
