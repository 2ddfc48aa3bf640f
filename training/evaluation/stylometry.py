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
    return DeltaSets(reference, candidates, n_features).delta()


class DeltaSets:
    """Burrows' Delta as a function of how often each reply is drawn, for the paired bootstrap:
    the sets are tokenized once, and `delta(w)` is burrows_delta of the sets with reply i of every
    set drawn w[i] times (the sets are paired by example, so they have one length)."""

    VOCABULARY = 1000  # a resample's features are picked among the whole sample's most frequent tokens

    def __init__(self, reference: list[str], candidates: dict[str, list[str]], n_features: int = 100):
        sets = {"reference": reference, **candidates}
        tokenized = {name: [tokens(t) for t in texts] for name, texts in sets.items()}
        counts = Counter(tok for replies in tokenized.values() for reply in replies for tok in reply)
        index = {tok: i for i, (tok, _) in enumerate(counts.most_common(self.VOCABULARY))}
        self.names, self.n_features = list(candidates), n_features
        self.counts = {name: _count_matrix(replies, index) for name, replies in tokenized.items()}
        self.lengths = {name: np.array([len(r) for r in replies], dtype=float) for name, replies in tokenized.items()}

    def delta(self, w: np.ndarray | None = None) -> dict[str, float]:
        sets = list(self.counts)
        weight = {name: np.ones(len(self.lengths[name])) if w is None else w for name in sets}
        total = sum(weight[name] @ self.counts[name] for name in sets)
        features = np.argsort(-total, kind="stable")[: self.n_features]
        features = features[total[features] > 0]
        if not len(features):
            return {name: 0.0 for name in self.names}
        rows, row_weights, profiles = [], [], {}
        for name in sets:
            counts, lengths = self.counts[name][:, features], self.lengths[name]
            spoken = lengths > 0  # a reply without tokens has no relative frequencies
            rows.append(counts[spoken] / lengths[spoken, None])
            row_weights.append(weight[name][spoken])
            pooled = weight[name] @ lengths
            profiles[name] = weight[name] @ counts / pooled if pooled else np.zeros(len(features))
        per_reply, row_weight = np.concatenate(rows), np.concatenate(row_weights)
        mean = row_weight @ per_reply / row_weight.sum()
        std = np.sqrt(row_weight @ (per_reply - mean) ** 2 / row_weight.sum())
        keep = std > 1e-12  # a constant feature; float noise would otherwise make it infinitely informative
        if not keep.any():
            return {name: 0.0 for name in self.names}
        z = {name: (profile - mean)[keep] / std[keep] for name, profile in profiles.items()}
        return {name: float(np.abs(z[name] - z["reference"]).mean()) for name in self.names}


def _count_matrix(replies: list[list[str]], index: dict[str, int]) -> np.ndarray:
    matrix = np.zeros((len(replies), len(index)))
    for row, reply in enumerate(replies):
        for tok in reply:
            if tok in index:
                matrix[row, index[tok]] += 1
    return matrix
