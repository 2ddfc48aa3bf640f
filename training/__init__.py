"""ai-me training: LoRA fine-tuning, evaluation, generation and serving; runs without Dagster."""

import warnings  # noqa: E402

import ingest  # noqa: F401  first: its privacy defaults (no telemetry, owner-only files) precede transformers

# peft 0.21 reads a property transformers 5 deprecated, warning on every adapter it sets up.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
