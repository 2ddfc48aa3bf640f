"""The evaluation report: one self-contained HTML page (plots embedded as base64 PNG, no external
resource) with the metrics, plots and example generations. Every piece of message text is
escaped; the page stays on the user's machine next to the run."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from training.evaluation.arms import LABELS, arms_in
from training.evaluation.stylometry import words
from training.logs import plot_losses, read_log
from training.numbers import decimals

SECTIONS = (
    "summary",
    "comparison",
    "warnings",
    "likelihood",
    "stylometry",
    "delta",
    "authorship",
    "memorization",
    "training",
    "examples",
    "method",
)
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


def render(metrics: dict, scored: list, run_dir: Path, extractions: list = (), canaries: list = ()) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>ai-me evaluation: {escape(metrics['run'])}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>Style evaluation of run {escape(metrics['run'])}</h1>",
        _summary(metrics),
        _comparison(metrics),
        _warnings(metrics),
        _likelihood(metrics),
        _stylometry(metrics, scored),
        _delta(metrics),
        _authorship(metrics),
        _memorization(metrics.get("memorization"), extractions, canaries),
        _training(run_dir),
        _examples(scored),
        _method(metrics),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary(m: dict) -> str:
    rows = [
        ("NLL per reply token (lower is better)", "nll", "nll_ci"),
        ("Perplexity", "perplexity", "perplexity_ci"),
        ("Burrows' Delta to your replies (lower is closer)", "burrows_delta", "burrows_delta_ci"),
        ("AUC real vs generated (0.5 = indistinguishable)", "auc_real_vs_generated", "auc_real_vs_generated_ci"),
        ("chrF to your real reply, 0-100 (higher shares more wording)", "chrf", "chrf_ci"),
    ]
    arms = arms_in(m)
    body = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{decimals(m[k][key])}{_ci(m[k].get(ci))}</td>" for k in arms) + "</tr>"
        for label, key, ci in rows
    )
    memory = m.get("memory")
    held = (
        f" Memory arms: up to k={memory['k']} of your {memory['index_exchanges']} training-split exchanges most like "
        f"each test message, {decimals(memory['mean_exchanges'], 1)} per prompt on average "
        f"({decimals(memory['mean_tokens'], 0)} tokens, budget {memory['budget_tokens']}), before the conversation."
        if memory
        else ""
    )
    return (
        f"<h2 id='summary'>Summary</h2><p>{m['n_examples']} held-out test examples "
        f"({m['n_skipped_too_long']} too long to score), generation up to {m['max_new_tokens']} tokens, "
        f"seed {m['seed']}; 95% bootstrap intervals in brackets (see <a href='#method'>method</a>).{held}</p>"
        f"<table><tr><th>metric</th>{_heads(arms)}</tr>{body}</table>"
    )


_PAIRED_LABELS = {
    "nll_diff": "NLL per reply token",
    "delta_diff": "Burrows' Delta",
    "auc_diff": "AUC real vs generated",
    "chrf_diff": "chrF",
}


def _comparison(m: dict) -> str:
    tables = [("tuned − base", m["paired"], m["verdicts"])] + [
        (f"{LABELS[arm]} − tuned", m["paired_vs_tuned"][arm], m["verdicts_vs_tuned"][arm])
        for arm in m.get("paired_vs_tuned", {})
    ]
    title = "Tuned against base" + (", memory against tuned" if len(tables) > 1 else "")
    html = (
        f"<h2 id='comparison'>{title}</h2><p>Differences on the same test examples (below 0, the "
        "first is better on NLL, Delta and AUC; above 0 on chrF); a direction is stated only where the 95% "
        "interval excludes 0. Memory arms are compared with tuned alone.</p>"
    )
    for title, paired, verdicts in tables:
        rows = "".join(
            f"<tr><td>{_PAIRED_LABELS[key]}</td><td>{decimals(p['estimate'])}{_ci(p['ci'])}</td>"
            f"<td>{escape(verdicts[key])}</td></tr>"
            for key, p in paired.items()
        )
        html += f"<table><tr><th>difference</th><th>{escape(title)}</th><th>verdict</th></tr>{rows}</table>"
    return html


def _heads(arms: list[str]) -> str:
    return "".join(f"<th>{escape(LABELS[arm])}</th>" for arm in arms)


def _warnings(m: dict) -> str:
    items = "".join(f"<p class='warn'>{escape(w)}</p>" for w in m["warnings"]) or "<p>None.</p>"
    return f"<h2 id='warnings'>Warnings</h2>{items}"


def _likelihood(m: dict) -> str:
    arms = arms_in(m)
    rows = "".join(
        f"<tr><td>{escape(p)}</td><td>{info['n_examples']}</td>"
        + "".join(
            f"<td>{decimals(m[k]['per_platform'][p]['nll'])}</td>"
            f"<td>{decimals(m[k]['per_platform'][p]['perplexity'])}</td>"
            for k in arms
        )
        + "</tr>"
        for p, info in m["per_platform"].items()
    )
    heads = "".join(f"<th>{escape(LABELS[k])} NLL</th><th>{escape(LABELS[k])} perplexity</th>" for k in arms)
    return (
        "<h2 id='likelihood'>Likelihood of your real replies</h2>"
        f"<table><tr><th>platform</th><th>examples</th>{heads}</tr>{rows}</table>"
    )


def _stylometry(m: dict, scored: list) -> str:
    sets = {"real": m["real"], **{k: m[k] for k in arms_in(m)}}
    rows = "".join(
        f"<tr><td>{key.replace('_', ' ')}</td>"
        + "".join(f"<td>{decimals(s['stylometry'][key])}</td>" for s in sets.values())
        + "</tr>"
        for key in _STYLE_ROWS
    )
    return (
        "<h2 id='stylometry'>Stylometry</h2><p>Rates are shares of replies; distances are total variation "
        "between frequency profiles and the real replies' (0 = the same).</p>"
        f"<table><tr><th>measure</th><th>real</th>{_heads(arms_in(m))}</tr>{rows}</table>"
        + _img(_length_plot(scored))
        + _img(_habit_plot(m))
    )


def _delta(m: dict) -> str:
    per_platform = "".join(
        f"<tr><td>{escape(p)}</td>"
        + "".join(f"<td>{decimals(m[k]['per_platform'][p]['burrows_delta'])}</td>" for k in arms_in(m))
        + "</tr>"
        for p in m["per_platform"]
    )
    return (
        "<h2 id='delta'>Burrows' Delta</h2><p>Mean absolute difference of z-scored frequencies of the "
        "most frequent words and punctuation, generated replies against your real ones.</p>"
        f"<table><tr><th>platform</th>{_heads(arms_in(m))}</tr>{per_platform}</table>" + _img(delta_plot(m))
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


def _memorization(audit: dict | None, extractions: list, canaries: list) -> str:
    head = "<h2 id='memorization'>What the model remembers</h2>"
    if not audit:
        return head + "<p>Not audited (<code>--memorization 0</code>).</p>"
    rows = "".join(
        f"<tr><td>{label}</td><td>{_percent(audit['verbatim_rate'][key])}{_percent_ci(audit['verbatim_rate_ci'][key])}"
        f"</td><td>{decimals(audit['longest_common_run_chars'][key], 1)}</td>"
        f"<td>{_percent(audit['longest_common_run_share'][key])}</td></tr>"
        for label, key in (
            (f"base, {audit['n_train']} training replies", "base"),
            (f"tuned, {audit['n_train']} training replies", "tuned"),
            (f"tuned, {audit['n_test']} test replies (never seen)", "test_reference"),
        )
    )
    text = (
        f"{head}<p>Each model was prompted with the context of training examples and decoded greedily "
        f"(its most likely reply, up to {audit['max_new_tokens']} tokens). A reply repeated word for word, "
        "or a long run of characters shared with the real one, is memorised text. The tuned model's "
        "figures on test replies, which it never saw, are the floor: short common replies come out the "
        "same by chance. A tuned rate well above both the base's and that floor means the adapter "
        "repeats its training messages.</p><table><tr><th>model, prompts</th><th>repeated exactly</th>"
        f"<th>longest shared run (characters)</th><th>share of the reply</th></tr>{rows}</table>"
    )
    text += _canaries(audit["canary_exposure"], canaries)
    shown = [e for e in extractions if e.split == "train"][: N_EXAMPLES_SHOWN // 2]
    blocks = "".join(
        f"<div class='ex'><p><span class='role'>real:</span> {escape(e.real)}</p>"
        + "".join(f"<p><span class='role'>{k}:</span> {escape(v)}</p>" for k, v in e.generated.items())
        + "</div>"
        for e in shown
    )
    return text + (
        f"<p>Some of the audited training replies and the models' greedy replies:</p>{blocks}" if blocks else ""
    )


def _canaries(found: list[dict], canaries: list) -> str:
    if not found:
        return (
            "<p>No canary was given. To measure exposure, plant a made-up word in a message of an export, "
            "ingest, transform and train again, then run <code>ai-me evaluate --canary WORD</code>.</p>"
        )
    rows = ""
    for c, canary in zip(found, canaries):
        exposure, extrapolated, emitted = c["exposure"] or {}, c["extrapolated_exposure"] or {}, c["emitted"] or {}
        rows += (
            f"<tr><td>{escape(canary.text)}</td><td>{c['training_replies']}</td>"
            + "".join(
                f"<td>{decimals(exposure.get(k), 1)} ({decimals(extrapolated.get(k), 1)})"
                f"{' emitted' if emitted.get(k) else ''}</td>"
                for k in ("base", "tuned")
            )
            + "</tr>"
        )
    return (
        "<p>Canaries: the exposure of each planted string (Carlini et al., <i>The Secret Sharer</i>): its "
        f"likelihood after the reply's text up to it, ranked among {found[0]['candidates'] - 1} random strings of "
        f"the same shape; exposure = log2({found[0]['candidates']}) − log2(rank), up to "
        f"{decimals(found[0]['max_exposure'], 1)} bits, about 1 bit for a string the model never saw. In "
        "brackets the exposure extrapolated from a normal fit to the random strings' log-likelihoods. The base "
        "never saw the canary: tuned far above base is memorisation. A canary in no training reply was "
        "redacted before training or never there; 'emitted' marks a greedy reply to its context that holds it.</p>"
        f"<table><tr><th>canary</th><th>training replies</th><th>base exposure, bits</th>"
        f"<th>tuned exposure, bits</th></tr>{rows}</table>"
    )


def _method(m: dict) -> str:
    methods = sorted(set(m["intervals"]["method"].values()))
    return (
        "<h2 id='method'>Method</h2><p>Intervals are 95% bootstrap intervals over the test examples: "
        f"{m['intervals']['rounds']} resamples of whole examples, each scoring both models on the same resample "
        "(a real reply, its likelihood under both models and both models' generated replies stay together), so "
        "the differences tuned − base are paired. NLL is the token-weighted mean over the resample; Burrows' "
        "Delta is recomputed on it (features, z-scores and profiles); the AUC is recomputed from the "
        "classifier's held-out scores of the resampled replies (the classifier is not refitted). Each interval "
        "is bias-corrected and accelerated (BCa, Efron 1987; the acceleration from the leave-one-out "
        "jackknife). Delta on a resample with duplicates runs higher than on the sample itself; where that "
        "bias exceeds the spread, so that the whole bootstrap distribution lies on one side of the estimate and "
        "no percentile interval can contain it, the interval is the estimate ± 1.96 bootstrap standard errors "
        f"(normal). Methods used here: {escape(', '.join(methods))}. A verdict names a direction only when the "
        "difference's interval excludes 0; otherwise the examples needed are the current number scaled by "
        "(interval half-width ÷ difference)², the size at which a difference this large would be resolved. "
        "Repeated-exactly rates carry 95% Wilson intervals.</p>"
    )


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _percent_ci(interval) -> str:
    return f" [{interval[0]:.0%}, {interval[1]:.0%}]" if interval and interval[0] is not None else ""


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
            for label, text in (("real", item.real), *((LABELS[k], v) for k, v in item.generated.items()))
        )
        blocks.append(f"<div class='ex'><p class='role'>{escape(item.platform)}</p>{context}<hr>{replies}</div>")
    return (
        f"<h2 id='examples'>Example generations</h2><p>The first {len(blocks)} test contexts (last turns), "
        f"your real reply and each model's.</p>{''.join(blocks)}"
    )


def _length_plot(scored: list) -> bytes:
    fig, ax = _figure()
    sets = {"real": [s.real for s in scored], **{k: [s.generated[k] for s in scored] for k in scored[0].generated}}
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
    names = ["real", *arms_in(m)]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar(x + offset, [m[name]["stylometry"][h] for h in _HABITS], width=width, label=LABELS.get(name, name))
    ax.set_xticks(x, [h.replace("_", " ") for h in _HABITS], rotation=25, ha="right")
    ax.set(ylabel="share of replies", title="Emoji and punctuation habits")
    ax.legend()
    return _png(fig)


def delta_plot(m: dict) -> bytes:
    fig, ax = _figure()
    arms = arms_in(m)
    values = [m[k]["burrows_delta"] for k in arms]
    errors = [
        [max(0.0, v - m[k]["burrows_delta_ci"][0]) for k, v in zip(arms, values)],
        [max(0.0, m[k]["burrows_delta_ci"][1] - v) for k, v in zip(arms, values)],
    ]
    colors = ["#999", "#3a7", "#bbb", "#6c9"][: len(arms)]
    ax.bar([LABELS[k] for k in arms], values, yerr=errors, capsize=6, color=colors)
    ax.set(ylabel="Burrows' Delta", title="Distance to your real replies")
    return _png(fig)


def _roc_plot(m: dict) -> bytes:
    fig, ax = _figure(size=(5, 5))
    for name in arms_in(m):
        roc = m[name]["roc"]
        if roc["fpr"]:
            ax.plot(roc["fpr"], roc["tpr"], label=f"{LABELS[name]} (AUC {decimals(m[name]['auc_real_vs_generated'])})")
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
