"""Content, beside style: how much of the real reply's wording a generated reply has. chrF (Popović
2015; sacrebleu's implementation): the F-score of character n-grams (1-6) and word n-grams
(1-2, chrF++), 0-100, per reply; the evaluation averages it with a paired bootstrap interval."""

from __future__ import annotations


def chrf_scores(generated: list[str], real: list[str]) -> list[float]:
    """chrF++ of each generated reply against the real one (0 where either is empty)."""
    from sacrebleu.metrics import CHRF

    metric = CHRF(word_order=2)
    return [metric.sentence_score(g, [r]).score if g.strip() and r.strip() else 0.0 for g, r in zip(generated, real)]
