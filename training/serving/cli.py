"""The `serve` and `reply` verbs of the `ai-me` command line."""

from __future__ import annotations

import os
import sys

from training.cli import add_memory_argument, memory_setting, recall, run_dir
from training.prompt import CHAT_NOUNS

API_KEY_ENV = "AI_ME_API_KEY"


def register(verbs, add_common) -> None:
    """Add `serve` and `reply` to the `ai-me` subparsers; each sets `func(args) -> exit code`."""
    p = verbs.add_parser(
        "serve",
        help="serve a trained run: OpenAI-compatible API and a chat page",
        description="Serve warehouse/models/<run> at http://HOST:PORT: POST /v1/chat/completions, GET /v1/models, "
        "GET /health and a chat page at /. Off loopback an API key is required "
        f"(--api-key or ${API_KEY_ENV}), sent by clients as a bearer token.",
    )
    p.add_argument("--run", help="run name (default: the config's [training] preset)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        help=f"key clients must send (better: set ${API_KEY_ENV}, which other users "
        "cannot read in the process list); required off loopback",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="the most tokens a request may ask for in one reply; more is refused (default: 2048)",
    )
    add_memory_argument(
        p,
        "put your K past replies most like each message into the prompt, unless a request's memory field "
        "says otherwise (default: the config's [memory] k)",
    )
    add_common(p)
    p.set_defaults(func=cmd_serve)

    p = verbs.add_parser(
        "reply",
        help="print one reply to a message, without a server",
        description="Print the run's reply to INCOMING, prompted as the training examples were.",
    )
    p.add_argument("incoming", metavar="INCOMING", help="the message to reply to")
    p.add_argument("--platform", choices=sorted(CHAT_NOUNS), default="whatsapp")
    p.add_argument("--run", help="run name (default: the config's [training] preset)")
    add_memory_argument(p)
    add_common(p)
    p.set_defaults(func=cmd_reply)


def cmd_serve(args) -> int:
    from training.serving.server import create_app, is_loopback, load_serving

    api_key = args.api_key or os.environ.get(API_KEY_ENV)
    if not api_key and not is_loopback(args.host):
        print(f"ai-me: serving on {args.host} needs an API key: pass --api-key or set ${API_KEY_ENV}", file=sys.stderr)
        return 2
    if args.max_tokens is not None and args.max_tokens < 1:
        print("ai-me: --max-tokens must be at least 1", file=sys.stderr)
        return 2
    import uvicorn

    from training.serving.api import Memory

    memory = Memory(*memory_setting(args))
    if memory.k:
        memory.open()  # now: a warehouse without memory stops the start, not the first request
    serving = load_serving(run_dir(args), memory)
    if args.max_tokens is not None:
        serving.max_tokens = args.max_tokens
    app = create_app(serving, api_key=api_key)
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


def cmd_reply(args) -> int:
    from training.inference import load_run, reply

    memory = recall(args)  # first: a bad --memory fails before the model loads
    model, tokenizer, info = load_run(run_dir(args))
    print(reply(model, tokenizer, info, args.incoming, args.platform, recall=memory))
    return 0
