"""Stylometry of sets of replies: surface habits (length, emoji, punctuation, casing, contractions),
vocabulary richness (type-token ratio, Yule's K), word and character n-gram profiles, and
Burrows' Delta between a set and the user's real replies. Pure functions of lists of strings."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

# Emoji blocks: pictographs, symbols, dingbats, flags, and the joiners and modifiers that build them.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\U0001f1e6-\U0001f1ff]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|[!?.]+|[^\w\s]")  # words, runs of ! ? ., other symbols
_CONTRACTION = re.compile(r"[^\W\d_]+['’](?:s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s]")

FUNCTION_WORDS = (
    "the",
    "a",
    "an",
    "and",
    "but",
    "or",
    "so",
    "if",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "with",
    "from",
    "i",
    "you",
    "u",
    "we",
    "he",
    "she",
    "it",
    "they",
    "me",
    "my",
    "your",
    "is",
    "are",
    "was",
    "be",
    "do",
    "not",
    "no",
    "yes",
    "just",
    "that",
    "this",
    "what",
    "how",
    "too",
    "very",
    "all",
    "can",
    "will",
    "have",
)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def tokens(text: str) -> list[str]:
    """Words in lower case, runs of ! ? . and other symbols (emoji included): Delta's vocabulary."""
    return [t.lower() for t in _TOKEN.findall(text)]


def habits(texts: list[str]) -> dict[str, float]:
    """Mean length and the share of replies with each habit (rates in [0, 1])."""
    n = len(texts) or 1
    stripped = [t.strip() for t in texts]
    return {
        "chars": sum(len(t) for t in stripped) / n,
        "words": sum(len(words(t)) for t in stripped) / n,
        "emoji_per_reply": sum(len(_EMOJI.findall(t)) for t in stripped) / n,
        "with_emoji": sum(bool(_EMOJI.search(t)) for t in stripped) / n,
        "with_exclamation": sum("!" in t for t in stripped) / n,
        "with_question": sum("?" in t for t in stripped) / n,
        "with_ellipsis": sum("..." in t or "…" in t for t in stripped) / n,
        "without_punctuation": sum(not _PUNCTUATION.search(_EMOJI.sub("", t)) for t in stripped) / n,
        "lowercase_start": sum(bool(t) and t[0].islower() for t in stripped) / n,
        "with_contraction": sum(bool(_CONTRACTION.search(t)) for t in stripped) / n,
    }


def type_token_ratio(texts: list[str]) -> float:
    all_words = [w for t in texts for w in words(t)]
    return len(set(all_words)) / len(all_words) if all_words else 0.0


def yules_k(texts: list[str]) -> float:
    """Yule's K = 10^4 (sum_i i^2 V_i - N) / N^2: lower means a richer vocabulary, independent of length."""
    counts = Counter(w for t in texts for w in words(t))
    n = sum(counts.values())
    if n == 0:
        return 0.0
    spectrum = Counter(counts.values())
    return 1e4 * (sum(i * i * v for i, v in spectrum.items()) - n) / (n * n)


def function_word_profile(texts: list[str]) -> dict[str, float]:
    """Relative frequency of each function word among all words."""
    counts = Counter(w for t in texts for w in words(t))
    total = sum(counts.values()) or 1
    return {w: counts[w] / total for w in FUNCTION_WORDS}


def char_ngram_profile(texts: list[str], n: int = 3, top: int = 20) -> dict[str, float]:
    """The `top` most frequent character n-grams and their relative frequencies."""
    counts = Counter(t[i : i + n] for t in texts for i in range(len(t) - n + 1))
    total = sum(counts.values()) or 1
    return {gram: c / total for gram, c in counts.most_common(top)}


def profile_distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Total variation distance between two frequency profiles over the union of their keys (0 = same)."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def describe(texts: list[str], real: list[str]) -> dict:
    """Every stylometric measure of `texts`, with profile distances to the `real` replies."""
    return {
        **habits(texts),
        "type_token_ratio": type_token_ratio(texts),
        "yules_k": yules_k(texts),
        "function_word_distance": profile_distance(function_word_profile(texts), function_word_profile(real)),
        "char_trigram_distance": profile_distance(
            char_ngram_profile(texts, top=200), char_ngram_profile(real, top=200)
        ),
    }


def burrows_delta(reference: list[str], candidates: dict[str, list[str]], n_features: int = 100) -> dict[str, float]:
    """Burrows' Delta of each candidate set against the reference set (0 = the same profile).

    Features are the `n_features` most frequent tokens of all sets together. Each feature is
    z-scored with the mean and spread of its relative frequency over every single reply of
    every set, so all candidates are measured on one scale; a set's profile is its pooled
    relative frequencies, and Delta is the mean absolute difference of z-scores.
    """
    sets = {"reference": reference, **candidates}
    tokenized = {name: [tokens(t) for t in texts] for name, texts in sets.items()}
    counts = Counter(tok for replies in tokenized.values() for reply in replies for tok in reply)
    vocab = [tok for tok, _ in counts.most_common(n_features)]
    if not vocab:
        return {name: 0.0 for name in candidates}
    index = {tok: i for i, tok in enumerate(vocab)}
    per_reply = np.array([_frequencies([r], index) for replies in tokenized.values() for r in replies if r])
    mean, std = per_reply.mean(axis=0), per_reply.std(axis=0)
    keep = std > 0
    z = {name: (_frequencies(replies, index) - mean)[keep] / std[keep] for name, replies in tokenized.items()}
    return {name: float(np.abs(z[name] - z["reference"]).mean()) if keep.any() else 0.0 for name in candidates}


def _frequencies(replies: list[list[str]], index: dict[str, int]) -> np.ndarray:
    vector = np.zeros(len(index))
    total = 0
    for reply in replies:
        total += len(reply)
        for tok in reply:
            if tok in index:
                vector[index[tok]] += 1
    return vector / total if total else vector
