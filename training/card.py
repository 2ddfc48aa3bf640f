"""The model card (README.md) of a run: what it was trained from, on how much, and how well.

Counts and metrics only; never message text, names or conversation ids."""

from __future__ import annotations

from training.config import TrainConfig
from training.numbers import decimals


def model_card(cfg: TrainConfig, metrics: dict) -> str:
    data = metrics["data"]
    rows = [
        f"| {name} | {c['examples']} | {c['context_trimmed']} | {c['dropped_too_long']} | {c['kept']} |"
        for name, c in data["splits"].items()
    ]
    exported = _describe(data["warehouse_counts"]) or "counts.json not present"
    modules = ", ".join(cfg.lora.target_modules)
    return f"""---
library_name: peft
base_model: {metrics["base_model"]}
tags: [lora, sft, trl, ai-me]
---
# ai-me adapter `{cfg.run_name}`

A LoRA adapter that writes like its owner, fine-tuned on the owner's own replies from their
message exports (loss only on the owner's turns). Trained privately; the training data never
left the owner's machine and this card holds no message text.

## Training

| setting | value |
| --- | --- |
| preset | `{cfg.preset}` |
| base model | `{metrics["base_model"]}` |
| chat template | `{cfg.model.chat_template}` |
| LoRA | r={cfg.lora.r}, alpha={cfg.lora.alpha}, dropout={cfg.lora.dropout}, modules={modules} |
| 4-bit base (QLoRA) | {cfg.model.load_in_4bit} |
| learning rate | {cfg.train.learning_rate} ({cfg.train.lr_scheduler}) |
| batch | {cfg.train.batch_size} x {cfg.train.gradient_accumulation_steps} accumulated \
x {metrics["processes"]} processes |
| max length | {cfg.train.max_length} tokens |
| steps / epochs | {metrics["global_step"]} / {metrics["epochs"]} |
| trainable parameters | {metrics["trainable_parameters"]:,} of {metrics["total_parameters"]:,} |

## Data

Exported dataset counts: {exported}.

| split | examples | context trimmed | dropped (too long) | used |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

## Metrics

| metric | value |
| --- | --- |
| first / final train loss | {decimals(metrics["first_train_loss"], 4)} / {decimals(metrics["final_train_loss"], 4)} |
| initial / final eval loss | {decimals(metrics["initial_eval_loss"], 4)} / {decimals(metrics["final_eval_loss"], 4)} |
| best eval loss | {decimals(metrics["best_eval_loss"], 4)} |
| training time | {metrics["train_seconds"]} s |
| throughput | {metrics["train_tokens_per_s"]} tokens/s |

Loss curve: `loss_curve.png`; per-step log: `train_log.jsonl`; full config: `config.yaml`.

## Use

```sh
ai-me generate --run {cfg.run_name} "incoming message" --platform whatsapp
ai-me export --run {cfg.run_name} --merge      # full model in merged/ for deployment
```

```python
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer
model = AutoPeftModelForCausalLM.from_pretrained("warehouse/models/{cfg.run_name}")
tokenizer = AutoTokenizer.from_pretrained("warehouse/models/{cfg.run_name}")
```
"""


def _describe(counts: dict) -> str:
    """counts.json as one line, nested counts in brackets: "train 90, by_platform (whatsapp (train 60))"."""
    return ", ".join(f"{k} ({_describe(v)})" if isinstance(v, dict) else f"{k} {v}" for k, v in counts.items())
