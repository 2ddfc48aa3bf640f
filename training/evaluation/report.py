"""The evaluation report: one self-contained HTML page (plots embedded as base64 PNG, no external
resource) with the metrics, plots and example generations. Every piece of message text is
escaped; the page stays on the user's machine next to the run."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from training.evaluation.stylometry import words
from training.logs import plot_losses, read_log
from training.numbers import decimals

SECTIONS = ("summary", "warnings", "likelihood", "stylometry", "delta", "authorship", "training", "examples")
N_EXAMPLES_SHOWN = 12
_HABITS = (
    "with_emoji",
    "with_exclamation",
    "with_question",
    "with_ellipsis",
    "without_punctuation",
    "lowercase_start",
    "with_contraction",
)
_STYLE_ROWS = (
    "chars",
    "words",
    "emoji_per_reply",
    *_HABITS,
    "type_token_ratio",
    "yules_k",
    "function_word_distance",
    "char_trigram_distance",
)
_CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}.warn{background:#fff4d6;padding:.5em 1em;border-left:4px solid #e0a800}
.ex{border:1px solid #ddd;margin:.8em 0;padding:.5em 1em}.ex p{margin:.2em 0;white-space:pre-wrap}
.role{color:#777;font-size:.85em}img{max-width:100%}"""


def render(metrics: dict, scored: list, run_dir: Path) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>ai-me evaluation: {escape(metrics['run'])}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>Style evaluation of run {escape(metrics['run'])}</h1>",
        _summary(metrics),
        _warnings(metrics),
        _likelihood(metrics),
        _stylometry(metrics, scored),
        _delta(metrics),
        _authorship(metrics),
        _training(run_dir),
        _examples(scored),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary(m: dict) -> str:
    rows = [
        ("NLL per reply token (lower is better)", "nll", "nll_ci"),
        ("Perplexity", "perplexity", "perplexity_ci"),
        ("Burrows' Delta to your replies (lower is closer)", "burrows_delta", "burrows_delta_ci"),
        ("AUC real vs generated (0.5 = indistinguishable)", "auc_real_vs_generated", None),
    ]
    body = "".join(
        f"<tr><td>{label}</td>"
        + "".join(f"<td>{decimals(m[k][key])}{_ci(m[k].get(ci))}</td>" for k in ("base", "tuned"))
        + "</tr>"
        for label, key, ci in rows
    )
    return (
        f"<h2 id='summary'>Summary</h2><p>{m['n_examples']} held-out test examples "
        f"({m['n_skipped_too_long']} too long to score), generation up to {m['max_new_tokens']} tokens, "
        f"seed {m['seed']}; 95% bootstrap intervals in brackets.</p>"
        f"<table><tr><th>metric</th><th>base</th><th>tuned</th></tr>{body}</table>"
    )


def _warnings(m: dict) -> str:
    items = "".join(f"<p class='warn'>{escape(w)}</p>" for w in m["warnings"]) or "<p>None.</p>"
    return f"<h2 id='warnings'>Warnings</h2>{items}"


def _likelihood(m: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(p)}</td><td>{info['n_examples']}</td>"
        + "".join(
            f"<td>{decimals(m[k]['per_platform'][p]['nll'])}</td>"
            f"<td>{decimals(m[k]['per_platform'][p]['perplexity'])}</td>"
            for k in ("base", "tuned")
        )
        + "</tr>"
        for p, info in m["per_platform"].items()
    )
    return (
        "<h2 id='likelihood'>Likelihood of your real replies</h2>"
        "<table><tr><th>platform</th><th>examples</th><th>base NLL</th><th>base perplexity</th>"
        f"<th>tuned NLL</th><th>tuned perplexity</th></tr>{rows}</table>"
    )


def _stylometry(m: dict, scored: list) -> str:
    sets = {"real": m["real"], "base": m["base"], "tuned": m["tuned"]}
    rows = "".join(
        f"<tr><td>{key.replace('_', ' ')}</td>"
        + "".join(f"<td>{decimals(s['stylometry'][key])}</td>" for s in sets.values())
        + "</tr>"
        for key in _STYLE_ROWS
    )
    return (
        "<h2 id='stylometry'>Stylometry</h2><p>Rates are shares of replies; distances are total variation "
        "between frequency profiles and the real replies' (0 = the same).</p>"
        f"<table><tr><th>measure</th><th>real</th><th>base</th><th>tuned</th></tr>{rows}</table>"
        + _img(_length_plot(scored))
        + _img(_habit_plot(m))
    )


def _delta(m: dict) -> str:
    per_platform = "".join(
        f"<tr><td>{escape(p)}</td>"
        + "".join(f"<td>{decimals(m[k]['per_platform'][p]['burrows_delta'])}</td>" for k in ("base", "tuned"))
        + "</tr>"
        for p in m["per_platform"]
    )
    return (
        "<h2 id='delta'>Burrows' Delta</h2><p>Mean absolute difference of z-scored frequencies of the "
        "most frequent words and punctuation, generated replies against your real ones.</p>"
        f"<table><tr><th>platform</th><th>base</th><th>tuned</th></tr>{per_platform}</table>" + _img(delta_plot(m))
    )


def _authorship(m: dict) -> str:
    signal = m["style_signal"]
    return (
        "<h2 id='authorship'>Authorship classifier</h2><p>A character n-gram logistic regression, "
        "cross-validated, tries to tell your real replies from generated ones: an AUC near 0.5 means it "
        f"cannot. Sanity check, your replies vs the messages they answer: AUC "
        f"{decimals(signal['auc_me_vs_others'])} ({signal['n_me']} vs {signal['n_others']} messages)"
        f"{'' if signal['sufficient'] else ': too little style signal'}.</p>" + _img(_roc_plot(m))
    )


def _training(run_dir: Path) -> str:
    records = read_log(run_dir / "train_log.jsonl")
    if not records:
        return "<h2 id='training'>Training loss</h2><p>No training log.</p>"
    buffer = io.BytesIO()
    plot_losses(records, buffer, f"ai-me {run_dir.name}")
    return f"<h2 id='training'>Training loss</h2>{_img(buffer.getvalue())}"


def _examples(scored: list) -> str:
    blocks = []
    for item in scored[:N_EXAMPLES_SHOWN]:
        context = "".join(
            f"<p><span class='role'>{escape(msg['role'])}:</span> {escape(msg['content'])}</p>"
            for msg in item.context[-3:]
            if msg["role"] != "system"
        )
        replies = "".join(
            f"<p><span class='role'>{label}:</span> {escape(text)}</p>"
            for label, text in (
                ("real", item.real),
                ("base", item.generated["base"]),
                ("tuned", item.generated["tuned"]),
            )
        )
        blocks.append(f"<div class='ex'><p class='role'>{escape(item.platform)}</p>{context}<hr>{replies}</div>")
    return (
        f"<h2 id='examples'>Example generations</h2><p>The first {len(blocks)} test contexts (last turns), "
        f"your real reply and each model's.</p>{''.join(blocks)}"
    )


def _length_plot(scored: list) -> bytes:
    fig, ax = _figure()
    sets = {"real": [s.real for s in scored], **{k: [s.generated[k] for s in scored] for k in ("base", "tuned")}}
    lengths = {k: [len(words(t)) for t in v] for k, v in sets.items()}
    top = max([max(v, default=0) for v in lengths.values()] + [1])
    ax.hist(list(lengths.values()), bins=range(0, top + 2), label=list(lengths), alpha=0.8)
    ax.set(xlabel="words per reply", ylabel="replies", title="Reply length")
    ax.legend()
    return _png(fig)


def _habit_plot(m: dict) -> bytes:
    import numpy as np

    fig, ax = _figure()
    x = np.arange(len(_HABITS))
    for i, name in enumerate(("real", "base", "tuned")):
        ax.bar(x + (i - 1) * 0.27, [m[name]["stylometry"][h] for h in _HABITS], width=0.27, label=name)
    ax.set_xticks(x, [h.replace("_", " ") for h in _HABITS], rotation=25, ha="right")
    ax.set(ylabel="share of replies", title="Emoji and punctuation habits")
    ax.legend()
    return _png(fig)


def delta_plot(m: dict) -> bytes:
    fig, ax = _figure()
    values = [m[k]["burrows_delta"] for k in ("base", "tuned")]
    errors = [
        [max(0.0, v - m[k]["burrows_delta_ci"][0]) for k, v in zip(("base", "tuned"), values)],
        [max(0.0, m[k]["burrows_delta_ci"][1] - v) for k, v in zip(("base", "tuned"), values)],
    ]
    ax.bar(["base", "tuned"], values, yerr=errors, capsize=6, color=["#999", "#3a7"])
    ax.set(ylabel="Burrows' Delta", title="Distance to your real replies")
    return _png(fig)


def _roc_plot(m: dict) -> bytes:
    fig, ax = _figure(size=(5, 5))
    for name in ("base", "tuned"):
        roc = m[name]["roc"]
        if roc["fpr"]:
            ax.plot(roc["fpr"], roc["tpr"], label=f"{name} (AUC {decimals(m[name]['auc_real_vs_generated'])})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="#aaa", label="indistinguishable")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Real vs generated ROC")
    ax.legend()
    return _png(fig)


def _figure(size=(7, 4)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, dpi=90)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _img(png: bytes) -> str:
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _ci(interval) -> str:
    return f" [{decimals(interval[0])}, {decimals(interval[1])}]" if interval else ""
