"""ai-me training: LoRA fine-tuning, evaluation, generation and serving; runs without Dagster."""
import ingest  # noqa: F401  first: its privacy defaults (no telemetry, owner-only files) precede transformers
