"""The language step: every distinct message text gets a language code, cached in the warehouse.

Runs before dbt. It reads the distinct texts of the raw Parquet, skips those already in the cache
(warehouse/enrich/text_lang/*.parquet, keyed by md5 of the text, the same md5 DuckDB computes in
the dbt model that joins it back), detects the rest and adds them as a new cache part.

Detection, cheapest first:
1. Unicode script: a text written mostly in a script of one language (Georgian, Armenian, Greek,
   Hebrew, Thai, Hangul, kana, Han, most Indic scripts) gets that language without more work.
2. Latin, Cyrillic and Arabic text is scored with langdetect's own n-gram profiles, but as one
   deterministic naive Bayes sum over all of the text's 1-3-grams, vectorised with numpy, instead
   of langdetect's randomised sampling (about 5 ms a text: hours for a million distinct texts).
   Only the languages of the text's script compete.
3. Latin text with fewer than MIN_LETTERS letters is `und`: too short for any detector to call.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.core.files import atomic_path
from ingest.core.warehouse import Warehouse

DETECTOR = "script-ngram-nb-1"  # cache entries of another detector version are re-detected
UNDETERMINED = "und"
MIN_LETTERS = 10  # Latin texts shorter than this stay `und`
MAX_CHARS = 600  # the start of a long text decides, as langdetect's own cut-off does
BATCH = 2000
MAX_CACHE_PARTS = 16  # more parts than this are compacted into one
CACHE_SCHEMA = pa.schema([("text_hash", pa.string()), ("lang", pa.string()), ("method", pa.string())])

_ALPHA = 0.5 / 10_000  # langdetect's smoothing: alpha / BASE_FREQ
_URL_OR_MAIL = re.compile(r"https?://\S+|www\.\S+|[-_.0-9A-Za-z]+@[-_.0-9A-Za-z]+")

# script -> (the language it decides, or None when n-grams choose among SCRIPT_LANGUAGES), ranges
_SCRIPTS: dict[str, tuple[str | None, tuple[tuple[int, int], ...]]] = {
    "latin": (None, ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF))),
    "cyrillic": (None, ((0x400, 0x52F),)),
    "arabic": (None, ((0x600, 0x6FF), (0x750, 0x77F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),
    "georgian": ("ka", ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F))),
    "armenian": ("hy", ((0x530, 0x58F),)),
    "greek": ("el", ((0x370, 0x3FF), (0x1F00, 0x1FFF))),
    "hebrew": ("he", ((0x590, 0x5FF),)),
    "thai": ("th", ((0xE00, 0xE7F),)),
    "hangul": ("ko", ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F))),
    "kana": ("ja", ((0x3040, 0x30FF),)),
    "han": ("zh", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF))),
    "devanagari": (None, ((0x900, 0x97F),)),
    "bengali": ("bn", ((0x980, 0x9FF),)),
    "gurmukhi": ("pa", ((0xA00, 0xA7F),)),
    "gujarati": ("gu", ((0xA80, 0xAFF),)),
    "tamil": ("ta", ((0xB80, 0xBFF),)),
    "telugu": ("te", ((0xC00, 0xC7F),)),
    "kannada": ("kn", ((0xC80, 0xCFF),)),
    "malayalam": ("ml", ((0xD00, 0xD7F),)),
}
SCRIPT_LANGUAGES = {
    "latin": (
        "af",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "en",
        "es",
        "et",
        "fi",
        "fr",
        "hr",
        "hu",
        "id",
        "it",
        "lt",
        "lv",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "sk",
        "sl",
        "so",
        "sq",
        "sv",
        "sw",
        "tl",
        "tr",
        "vi",
    ),
    "cyrillic": ("bg", "mk", "ru", "uk"),
    "arabic": ("ar", "fa", "ur"),
    "devanagari": ("hi", "mr", "ne"),
}
_CODES = {name: chr(0xE000 + i) for i, name in enumerate(_SCRIPTS)}  # private-use stand-ins
_SCRIPT_OF_CODE = {code: name for name, code in _CODES.items()}
# bytes.translate tables for ASCII text, the common case: letters kept, the rest a space / dropped
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())
_ASCII_LETTERS_ONLY = bytes(b if chr(b).isalpha() else 32 for b in range(256))


@dataclass
class LanguageReport:
    texts: int = 0  # distinct texts in the raw Parquet
    cached: int = 0  # of which already in the cache
    detected: int = 0  # newly detected this run
    seconds: float = 0.0
    by_method: dict[str, int] | None = None

    def summary(self) -> str:
        methods = ", ".join(f"{k} {v}" for k, v in sorted((self.by_method or {}).items()))
        return (
            f"language: {self.texts} distinct texts, {self.cached} cached, {self.detected} detected"
            f"{f' ({methods})' if methods else ''} in {self.seconds:.1f}s"
        )


@lru_cache(maxsize=1)
def _script_table() -> dict[int, str | None]:
    """str.translate table: every BMP character to its script's stand-in, or dropped."""
    table: dict[int, str | None] = dict.fromkeys(range(0x10000))
    for name, (_, ranges) in _SCRIPTS.items():
        for lo, hi in ranges:
            for cp in range(lo, hi + 1):
                if unicodedata.category(chr(cp))[0] == "L":
                    table[cp] = _CODES[name]
    return table


def dominant_script(text: str) -> tuple[str | None, int]:
    """(the script most of the letters are in, how many letters it has); (None, 0) without letters."""
    counts = Counter(text.translate(_script_table()))
    best = max(((n, _SCRIPT_OF_CODE[c]) for c, n in counts.items() if c in _SCRIPT_OF_CODE), default=None)
    return (best[1], best[0]) if best else (None, 0)


class NgramModel:
    """langdetect's profiles as a matrix of log(P(n-gram | language) + alpha): one row per n-gram."""

    def __init__(self):
        from langdetect.utils.ngram import NGram

        folder = Path(__import__("langdetect").__file__).parent / "profiles"
        profiles = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(folder.iterdir())]
        self.languages = [p["name"].split("-")[0] for p in profiles]  # zh-cn, zh-tw -> zh
        vocab: dict[str, int] = {}
        for p in profiles:
            for gram in p["freq"]:
                if 1 <= len(gram) <= 3:
                    vocab.setdefault(gram, len(vocab))
        probs = np.zeros((len(vocab), len(profiles)), dtype=np.float64)
        for j, p in enumerate(profiles):
            for gram, count in p["freq"].items():
                if 1 <= len(gram) <= 3:
                    probs[vocab[gram], j] = count / p["n_words"][len(gram) - 1]
        self.log_probs = np.log(probs + _ALPHA).astype(np.float32)
        self.vocab = vocab
        normalized = ((cp, NGram.normalize(chr(cp))) for cp in range(0x10000))
        self.normalize = {cp: ch for cp, ch in normalized if ch != chr(cp)}
        self._zero = np.zeros(len(profiles), dtype=np.float32)
        self._word_rows: dict[str, int] = {}  # words seen so far and their scores
        self._word_matrix = np.empty((4096, len(profiles)), dtype=np.float32)
        # per script, 0 for its languages and -inf for the others: added to the scores
        self._script_index = {script: i for i, script in enumerate(SCRIPT_LANGUAGES)}
        self._masks = np.array(
            [[0.0 if lang in langs else -np.inf for lang in self.languages] for langs in SCRIPT_LANGUAGES.values()],
            dtype=np.float32,
        )

    def words(self, text: str) -> list[str]:
        """The words langdetect would see: URLs and addresses removed, characters normalised;
        words in capitals (acronyms, shouting) are skipped, as langdetect skips them."""
        text = _URL_OR_MAIL.sub(" ", text[:MAX_CHARS])
        if text.isascii():
            text = text.encode("ascii").translate(_ASCII_LETTERS_ONLY).decode("ascii")
        else:
            text = text.translate(self.normalize)
        return [w for w in text.split() if len(w) == 1 or not w.isupper()]

    def word_scores(self, word: str) -> np.ndarray:
        """Sum of the log-probabilities of the word's 1-3-grams, padded with a space each side
        (langdetect's n-grams never cross a space, so a text's score is the sum of its words')."""
        padded = f" {word} "
        get = self.vocab.get
        ids = [get(padded[i : i + n]) for n in (1, 2, 3) for i in range(len(padded) - n + 1)]
        ids = [i for i in ids if i is not None]
        return self.log_probs[ids].sum(axis=0) if ids else self._zero

    def detect(self, texts: list[str], scripts: list[str]) -> list[str]:
        """The most likely language of each text among those of its script."""
        word_ids = [[self._word_id(w) for w in self.words(t)] for t in texts]
        out = [UNDETERMINED] * len(texts)
        scored = [i for i, ids in enumerate(word_ids) if ids]
        if scored:
            flat = np.fromiter((w for i in scored for w in word_ids[i]), dtype=np.int64)
            starts = np.cumsum([0] + [len(word_ids[i]) for i in scored[:-1]])
            scores = np.add.reduceat(self._word_matrix[flat], starts, axis=0)
            scores += self._masks[[self._script_index[scripts[i]] for i in scored]]
            for i, best in zip(scored, scores.argmax(axis=1).tolist()):
                out[i] = self.languages[best]
        return out

    def _word_id(self, word: str) -> int:
        row = self._word_rows.get(word)
        if row is None:
            row = self._word_rows[word] = len(self._word_rows)
            if row == len(self._word_matrix):
                self._word_matrix = np.concatenate([self._word_matrix, np.empty_like(self._word_matrix)])
            self._word_matrix[row] = self.word_scores(word)
        return row


@lru_cache(maxsize=1)
def ngram_model() -> NgramModel:
    return NgramModel()


def detect_languages(texts: list[str]) -> list[tuple[str, str]]:
    """(lang, method) per text; method is script, ngram or short."""
    results: list[tuple[str, str] | None] = [None] * len(texts)
    pending, scripts = [], []
    for i, text in enumerate(texts):
        if text.isascii():
            letters = len(text.encode("ascii").translate(None, _ASCII_NON_LETTERS))
            script = "latin" if letters else None
        else:
            script, letters = dominant_script(text)
        if script is None or (script == "latin" and letters < MIN_LETTERS):
            results[i] = (UNDETERMINED, "short")
        elif _SCRIPTS[script][0]:
            results[i] = (_SCRIPTS[script][0], "script")
        else:
            pending.append(i)
            scripts.append(script)
    model = ngram_model() if pending else None
    for start in range(0, len(pending), BATCH):
        chunk = pending[start : start + BATCH]
        langs = model.detect([texts[i] for i in chunk], scripts[start : start + BATCH])
        for i, lang in zip(chunk, langs):
            results[i] = (lang, "ngram")
    return results  # type: ignore[return-value]


def cache_dir(warehouse: Path) -> Path:
    return Warehouse(warehouse).text_lang


def enrich_languages(warehouse: Path) -> LanguageReport:
    """Detect the languages of the raw texts not yet in the warehouse's cache; add them to it."""
    start = time.perf_counter()
    warehouse = Path(warehouse)
    report = LanguageReport(by_method={})
    raw = sorted(str(f) for f in (warehouse / "raw").glob("*/*.parquet"))
    if not raw:
        report.seconds = time.perf_counter() - start
        return report
    folder = cache_dir(warehouse)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in folder.glob("*.parquet"):
        if not stale.name.startswith(f"{DETECTOR}-"):
            stale.unlink()
    parts = sorted(str(f) for f in folder.glob(f"{DETECTOR}-*.parquet"))
    with duckdb.connect() as con:
        con.execute(
            "create temp table texts as select md5(body_text) as text_hash, any_value(body_text) as body_text "
            "from read_parquet($files, union_by_name = true) "
            "where body_text is not null and trim(body_text) <> '' group by 1",
            {"files": raw},
        )
        report.texts = con.execute("select count(*) from texts").fetchall()[0][0]
        if parts:
            con.execute(
                "delete from texts where text_hash in (select text_hash from read_parquet($parts))", {"parts": parts}
            ).fetchall()
        todo = con.sql("select text_hash, body_text from texts").to_arrow_table()
    report.detected = todo.num_rows
    report.cached = report.texts - report.detected
    if todo.num_rows:
        detected = detect_languages(todo.column("body_text").to_pylist())
        report.by_method = dict(Counter(method for _, method in detected))
        table = pa.table(
            [
                todo.column("text_hash"),
                pa.array([lang for lang, _ in detected], pa.string()),
                pa.array([method for _, method in detected], pa.string()),
            ],
            schema=CACHE_SCHEMA,
        )
        _write_part(folder, table)
    if len(list(folder.glob(f"{DETECTOR}-*.parquet"))) > MAX_CACHE_PARTS:
        _compact(folder)
    report.seconds = time.perf_counter() - start
    return report


def _write_part(folder: Path, table: pa.Table) -> Path:
    """A new cache part, written to a hidden temp name and renamed, so readers never see half a file."""
    final = folder / f"{DETECTOR}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return final


def _compact(folder: Path) -> None:
    parts = sorted(folder.glob(f"{DETECTOR}-*.parquet"))
    _write_part(folder, pa.concat_tables([pq.read_table(p, schema=CACHE_SCHEMA) for p in parts]))
    for part in parts:
        part.unlink()
