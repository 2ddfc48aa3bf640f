"""The human check: a self-contained page pairing the user's real reply with a generated one to the
same context, in random order; the rater picks the real one in each pair and saves the choices
as JSON, which `score` turns into accuracy with a confidence interval (0.5 = can't tell).

The answer key stays in a separate file next to the page, so the page itself gives nothing away.
"""

from __future__ import annotations

import json
import math
import secrets
from html import escape
from pathlib import Path
from random import SystemRandom

PAGE = "blind.html"
KEY = "blind_key.json"

_SCRIPT = """<script>
function save(){const choices={};document.querySelectorAll('input:checked').forEach(i=>{choices[i.name]=i.value});
const data=JSON.stringify({blind_id:document.body.dataset.blind,choices:choices},null,1);
const a=document.createElement('a');a.href=URL.createObjectURL(new Blob([data],{type:'application/json'}));
a.download='blind_choices.json';a.click();}
</script>"""


def write_blind(out_dir: Path, pairs: list[tuple[list[dict], str, str]]) -> tuple[Path, Path]:
    """Write the page and its answer key for (context, real, generated) pairs; returns their paths.

    The real reply is first in half the pairs, which ones drawn from the OS's randomness, never
    from the evaluation's seed: a rater who knows the seed could otherwise rebuild the key."""
    order = [True, False] * (len(pairs) // 2) + [secrets.randbelow(2) == 0] * (len(pairs) % 2)
    SystemRandom().shuffle(order)
    blind_id = secrets.token_hex(8)
    key, blocks = {}, []
    for number, ((context, real, generated), real_first) in enumerate(zip(pairs, order), start=1):
        options = (real, generated) if real_first else (generated, real)
        key[str(number)] = "A" if real_first else "B"
        turns = "".join(
            f"<p><b>{escape(m['role'])}:</b> {escape(m['content'])}</p>" for m in context[-3:] if m["role"] != "system"
        )
        choices = "".join(
            f"<label><input type='radio' name='{number}' value='{letter}'> {letter}: {escape(text)}</label><br>"
            for letter, text in zip("AB", options)
        )
        blocks.append(f"<div><h3>Pair {number}</h3>{turns}<p>Which reply is the real one?</p>{choices}</div>")
    out_dir.mkdir(parents=True, exist_ok=True)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ai-me blind test</title>{_SCRIPT}</head>"
        f"<body data-blind='{blind_id}'><h1>Blind test</h1><p>For each context, pick the reply you think "
        "was really written. Then save your choices and run <code>ai-me evaluate --score FILE</code>.</p>"
        f"{''.join(blocks)}<button onclick='save()'>Save choices</button></body></html>"
    )
    (out_dir / PAGE).write_text(page, encoding="utf-8")
    (out_dir / KEY).write_text(json.dumps({"blind_id": blind_id, "real": key}, indent=1))
    return out_dir / PAGE, out_dir / KEY


class BlindScoreError(ValueError):
    """The choices file does not belong to the answer key or is malformed."""


def score(choices_file: Path, key_file: Path) -> dict:
    """Share of pairs where the rater found the real reply, with a 95% Wilson interval."""
    try:
        choices = json.loads(Path(choices_file).read_text())
        key = json.loads(Path(key_file).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BlindScoreError(f"cannot read the blind test files: {e}") from None
    if not isinstance(choices, dict) or choices.get("blind_id") != key["blind_id"]:
        raise BlindScoreError(f"{choices_file} does not answer the blind test in {key_file} (blind_id differs)")
    answered = {k: v for k, v in choices.get("choices", {}).items() if k in key["real"]}
    correct = sum(v == key["real"][k] for k, v in answered.items())
    n = len(answered)
    low, high = wilson(correct, n)
    return {
        "pairs": len(key["real"]),
        "answered": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "ci": [low, high],
    }


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # The interval contains p in exact arithmetic; at k = 0 or n rounding can leave p a hair outside.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
