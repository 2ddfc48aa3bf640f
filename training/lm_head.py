"""The LM head only where the loss looks, for trl's fused forward (`model(..., fused_lm_head=True)`).

trl's own fused head projects only the labelled positions when Triton runs (GPUs); elsewhere it
projects every position, prompt and padding included, through the whole vocabulary (49k rows for
SmolLM2), and that projection with its softmax is the largest cost of a CPU step after the layers.
Here the hidden states of labelled positions are gathered first, then projected; the returned
output is the one trl's compute_loss reads (loss, per-token log-probs, entropy, top-1).
"""

from __future__ import annotations

import functools
import types

import torch
import torch.nn.functional as F
from trl.trainer.utils import FusedCausalLMOutput


def score_labelled_positions_only(model) -> None:
    """Replace the fused forward trl installed on `model` (the causal LM under any PEFT wrapper)."""
    plain_forward = type(model).forward

    @functools.wraps(plain_forward)  # generate validates its kwargs against the signature
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head:
            extra = {"labels": labels, "shift_labels": shift_labels, "num_items_in_batch": num_items_in_batch}
            return plain_forward(self, *args, **kwargs, **{k: v for k, v in extra.items() if v is not None})
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden, shift_labels = hidden[:, :-1], labels[:, 1:]
        mask = shift_labels != -100
        targets = shift_labels[mask]
        log_p = F.log_softmax(self.get_output_embeddings()(hidden[mask]).float(), dim=-1)
        picked = log_p.gather(1, targets.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            entropy = -(log_p.exp() * log_p).sum(-1)
            is_top1 = log_p.argmax(-1) == targets
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-picked.sum() / denominator,
            log_probs=picked.new_zeros(mask.shape).masked_scatter(mask, picked),
            entropy=entropy.new_zeros(mask.shape).masked_scatter(mask, entropy),
            is_top1=is_top1.new_zeros(mask.shape).masked_scatter(mask, is_top1),
            label_mask=mask,
        )

    model.forward = types.MethodType(forward, model)
