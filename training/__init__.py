"""ai-me training: LoRA fine-tuning, evaluation, generation and serving; runs without Dagster."""
