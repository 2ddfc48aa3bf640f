"""Training verbs for the `ai-me` command line: train, export, generate."""

from __future__ import annotations

import sys

from training.numbers import decimals
from training.prompt import CHAT_NOUNS


def register(verbs, add_common) -> None:
    """Add the training verbs to the `ai-me` subparsers; each sets `func(args) -> exit code`."""
    p = verbs.add_parser(
        "train",
        help="fine-tune a LoRA adapter on your own replies (warehouse/datasets)",
        description="Train a LoRA adapter on warehouse/datasets/{train,val}.parquet into warehouse/models/<run>/. "
        "Multi-GPU or multi-node: accelerate launch --multi_gpu --num_processes N -m ingest.cli train ...",
    )
    p.add_argument(
        "--preset", help="training/configs/<preset>.yaml or a YAML path (default: the config's [training] preset)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config field, e.g. train.learning_rate=1e-4; repeatable",
    )
    p.add_argument("--run", help="run name, the folder under warehouse/models (default: the preset's name)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run of the same name")
    add_common(p)
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser(
        "export",
        help="write a trained run as a full model: Hugging Face folder or GGUF file",
        description="Fold the run's adapter into its base model: --merge writes a Hugging Face "
        "folder (warehouse/models/<run>/merged/), --gguf one GGUF file and an Ollama "
        "Modelfile (warehouse/models/<run>/export/) for Ollama, llama.cpp, LM Studio.",
    )
    p.add_argument("--run", help="run name (default: the config's [training] preset)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--merge", action="store_true", help="a merged Hugging Face model folder")
    kind.add_argument("--gguf", action="store_true", help="a merged GGUF file with the training chat template")
    p.add_argument(
        "--quant",
        choices=("f16", "q8_0"),
        default="f16",
        help="GGUF weight type: f16 (exact to half precision) or q8_0 (about half the size)",
    )
    p.add_argument("--out", help="output folder (default: warehouse/models/<run>/merged or .../export)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that holds other files")
    add_common(p)
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser(
        "generate",
        help="reply to a message in your style with a trained run",
        description="Print the run's reply to INCOMING, prompted as the training examples were.",
    )
    p.add_argument("incoming", metavar="INCOMING", help="the message to reply to")
    p.add_argument("--run", help="run name (default: the config's [training] preset)")
    p.add_argument("--platform", choices=sorted(CHAT_NOUNS), default="whatsapp")
    p.add_argument("--partner", default="someone", help="who sent INCOMING, as named in the prompt")
    p.add_argument("--group-size", type=int, default=2, help="people in the conversation, you included")
    p.add_argument("--me", help="your name as in the prompt (default: as in the training data)")
    p.add_argument("--max-new-tokens", type=int, default=60)
    p.add_argument("--temperature", type=float, default=0.8, help="0 for greedy decoding")
    p.add_argument("--seed", type=int, default=0)
    add_memory_argument(p)
    add_common(p)
    p.set_defaults(func=cmd_generate)

    from training.evaluation.cli import register as register_evaluate  # evaluate
    from training.serving.cli import register as register_serve  # serve, reply

    register_evaluate(verbs, add_common)
    register_serve(verbs, add_common)


def cmd_train(args) -> int:
    from accelerate import PartialState

    from ingest.core.config import config_and_warehouse
    from training.config import for_user
    from training.data import TrainingDataError
    from training.train import main

    cfg_file, warehouse = config_and_warehouse(args.config, args.warehouse)
    flags = [f"run={args.run}"] * bool(args.run) + ["resume=true"] * args.resume + ["overwrite=true"] * args.overwrite
    cfg = for_user(cfg_file, warehouse, args.preset, [*args.overrides, *flags])
    try:
        result = main(cfg)
    except TrainingDataError as e:
        print(f"ai-me: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"ai-me: interrupted; continue with: ai-me train --preset {cfg.preset} --run {cfg.run_name} --resume",
            file=sys.stderr,
        )
        return 130
    if PartialState().is_main_process:
        m = result.metrics
        evals = f", eval loss {decimals(m['initial_eval_loss'])} -> {decimals(m['final_eval_loss'])}"
        evals = evals if m["final_eval_loss"] is not None else ""
        print(
            f"train: {cfg.run_name}: {m['global_step']} steps in {m['train_seconds']:.0f}s "
            f"({m['train_tokens_per_s']} tokens/s), train loss {decimals(m['first_train_loss'])} -> "
            f"{decimals(m['final_train_loss'])}{evals} -> {result.run_dir}"
        )
    return 0


def add_memory_argument(
    p, text: str = "put your K past replies most like the message into the prompt (default: the config's [memory] k)"
) -> None:
    p.add_argument("--memory", type=int, metavar="K", help=text)


def memory_setting(args):
    """The warehouse, the k a verb's --memory (else the config's [memory] k) asks for, and the
    memory token budget."""
    from ingest.core.config import MAX_MEMORY, ConfigError, config_and_warehouse

    cfg, warehouse = config_and_warehouse(args.config, args.warehouse)
    k = cfg.memory.k if args.memory is None else args.memory
    if not 0 <= k <= MAX_MEMORY:
        raise ConfigError(f"--memory must be between 0 and {MAX_MEMORY}, got {k}")
    return warehouse, k, cfg.memory.max_tokens


def recall(args):
    """The memory a verb's --memory (or the config's [memory] k) asks for, or None."""
    warehouse, k, budget = memory_setting(args)
    if not k:
        return None
    from training.memory.prompt import Recall

    return Recall.open(warehouse, k, budget)


def run_dir(args):
    """The folder of the run a verb names with --run (default: the config's preset), guarded."""
    from ingest.core.config import config_and_warehouse
    from training.runs import run_folder

    cfg_file, warehouse = config_and_warehouse(args.config, args.warehouse)
    return run_folder(warehouse, args.run or cfg_file.training.preset)


def cmd_export(args) -> int:
    import time
    from pathlib import Path

    folder, out = run_dir(args), Path(args.out).expanduser().resolve() if args.out else None
    if args.merge:
        from training.export.merge import export_merged

        print(f"export: merged {folder.name} -> {export_merged(folder, out, args.overwrite)}")
        return 0
    from training.export.gguf import export_gguf

    start = time.perf_counter()
    done = export_gguf(folder, out, args.quant, args.overwrite)
    print(
        f"export: {folder.name} -> {done.gguf} ({args.quant}, {done.tensors} tensors, "
        f"{done.bytes / 2**20:.0f} MiB, {time.perf_counter() - start:.1f}s)"
    )
    print(f"  Ollama:    cd {done.gguf.parent} && ollama create {folder.name} -f Modelfile && ollama run {folder.name}")
    print(f"  llama.cpp: llama-server -m {done.gguf} --jinja")
    return 0


def cmd_generate(args) -> int:
    from training.inference import load_run, reply

    memory = recall(args)  # first: a bad --memory fails before the model loads
    model, tokenizer, info = load_run(run_dir(args))
    print(
        reply(
            model,
            tokenizer,
            info,
            args.incoming,
            args.platform,
            partner=args.partner,
            group_size=args.group_size,
            me_name=args.me,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            seed=args.seed,
            recall=memory,
        )
    )
    return 0
