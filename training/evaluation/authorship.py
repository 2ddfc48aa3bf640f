"""Authorship discrimination: can a character n-gram classifier tell two sets of texts apart?

A TF-IDF character n-gram logistic regression, cross-validated, scored by ROC AUC on the
held-out folds: about 0.5 means the sets are indistinguishable, 1.0 perfectly separable.
Copies of one text share a fold: a model that memorised some replies would otherwise look
*more* distinguishable than chance, the classifier learning each copy's label from the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_PER_CLASS = 5


@dataclass
class Discrimination:
    auc: float | None  # None: too few texts to cross-validate
    fpr: list[float]
    tpr: list[float]
    n_positive: int
    n_negative: int
    scores: list[float] = field(default_factory=list)  # held-out fold scores, the positives' then the negatives'


def discriminate(positive: list[str], negative: list[str], seed: int = 0, folds: int = 5) -> Discrimination:
    """Cross-validated AUC of telling `positive` (e.g. the real replies) from `negative`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score, roc_curve
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    texts = list(positive) + list(negative)
    labels = np.array([1] * len(positive) + [0] * len(negative))
    text_ids = {text: i for i, text in enumerate(dict.fromkeys(texts))}
    groups = np.array([text_ids[t] for t in texts])
    folds = min(folds, len(positive), len(negative), len(text_ids))
    if folds < 2 or min(len(positive), len(negative)) < MIN_PER_CLASS:
        return Discrimination(None, [], [], len(positive), len(negative))
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, lowercase=False),
        LogisticRegression(C=1.0, max_iter=1000),
    )
    split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    try:
        scores = cross_val_predict(model, texts, labels, groups=groups, cv=split, method="predict_proba")[:, 1]
    except ValueError:  # a training fold left with one class: too few distinct texts
        return Discrimination(None, [], [], len(positive), len(negative))
    fpr, tpr, _ = roc_curve(labels, scores)
    return Discrimination(
        float(roc_auc_score(labels, scores)), fpr.tolist(), tpr.tolist(), len(positive), len(negative), scores.tolist()
    )
