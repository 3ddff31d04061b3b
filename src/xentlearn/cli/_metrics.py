"""Scores of a classifier on labelled data, accumulated batch by batch in bounded memory.

``score_batches`` consumes ``est.iter_predictions(table, proba=True)`` and keeps
only sums across batches: the log-loss, the Brier score, a k x k confusion
matrix, 10 calibration bins, and for binary targets a fixed histogram of
scores (plus the scores themselves while they fit, for exact AUCs). Any number
of rows is scored in the memory of one batch; every metric equals
scikit-learn's on the same rows (the AUCs to within a bound that is computed
and reported when there are too many rows to keep).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from xentlearn.exceptions import XentlearnInputError

class NoRows(XentlearnInputError):
    """The data scored holds no rows (an empty file, or a cross-validation fold that no
    row fell into)."""


# Calibration: equal-width bins of the top-class probability (Guo et al., 2017).
CALIBRATION_BINS = 10
# Binary targets keep every (score, label) pair up to this many rows (9 bytes
# each, 36 MiB) for exact ROC and PR AUCs; past it the AUCs come from the
# score histogram below, with a computed error bound.
EXACT_AUC_ROWS = 1 << 22
# Histogram of the positive class's logit, log(p / (1 - p)), in equal bins
# over [-LOGIT_RANGE, LOGIT_RANGE] (beyond: the end bins). Logits spread the
# scores that probabilities crowd near 0 and 1; 2**16 bins are 0.0012 wide.
AUC_BINS = 1 << 16
LOGIT_RANGE = 40.0


@dataclass
class Metrics:
    """Scores of a model on one labelled data set.

    The Brier score is scikit-learn's ``brier_score_loss`` with its default
    ``scale_by_half="auto"``: binary, mean (p - y)^2 of the positive class's
    probability (in [0, 1]); multiclass, the mean over rows of the sum over
    classes of (p_c - onehot_c)^2 (in [0, 2]).
    """

    classes: np.ndarray
    n_rows: int
    log_loss: float
    accuracy: float
    balanced_accuracy: float
    brier: float
    calibration_error: float
    roc_auc: float | None         # binary targets with both classes present, else None
    pr_auc: float | None
    auc_error: float | None       # bound on |AUC - exact| (histogram), 0.0 when exact
    precision: np.ndarray         # (n_classes,)
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray           # (n_classes,) int: true rows per class
    confusion: np.ndarray         # (n_classes, n_classes): rows true, columns predicted
    bin_count: np.ndarray         # (CALIBRATION_BINS,) rows per confidence bin
    bin_confidence: np.ndarray    # mean top-class probability per bin (nan when empty)
    bin_accuracy: np.ndarray      # share of rows whose top class is right, per bin
    threshold: float | None = None


def score_batches(batches: Iterable, classes: np.ndarray, *, target: str,
                  threshold: float | None = None) -> Metrics:
    """Metrics from ``est.iter_predictions(table, proba=True)`` output.

    Parameters
    ----------
    batches : iterable of (labels, proba, truth)
        labels and truth of shape (n_b,), proba of shape (n_b, n_classes).
    classes : ndarray of shape (n_classes,)
        The model's ``classes_`` (sorted, as scikit-learn keeps them).
    target : str
        Column name, for the error on a label the model never saw.
    threshold : float, optional
        Binary only: predict ``classes[1]`` when its probability is >= threshold
        (instead of the model's labels, which use 0.5). Every label-based
        metric (accuracy, precision, ..., confusion matrix) follows it; the
        probability metrics do not depend on it.

    Returns
    -------
    Metrics

    Notes
    -----
    With p the probabilities, y the true class index, n rows, k classes:

    - log-loss = -(1/n) sum_i log p_i[y_i], p clipped to [eps, 1] with eps the
      float64 machine epsilon (``sklearn.metrics.log_loss``).
    - precision, recall, F1 per class from the confusion matrix C (rows:
      truth), 0 where a denominator is 0 (``zero_division=0``); balanced
      accuracy is the mean recall over the classes present in the truth
      (``balanced_accuracy_score``).
    - Brier: see ``Metrics``.
    - expected calibration error: rows binned by their top-class
      probability into 10 equal-width bins; ECE = sum_b (n_b / n) |acc_b -
      conf_b|, acc_b the share of rows of bin b whose top class is right and
      conf_b their mean top-class probability.
    - ROC AUC = P(score of a positive > score of a negative) + half the ties
      (``roc_auc_score``); PR AUC is average precision, sum over thresholds
      of (R_t - R_{t-1}) P_t (``average_precision_score``), positives being
      ``classes[1]``. Exact up to ``EXACT_AUC_ROWS`` rows. Beyond, scores are
      binned (``AUC_BINS`` bins of the logit) and each bin is one tie group;
      only pairs inside one bin are then uncertain, which bounds the error:
      |ROC AUC - exact| <= sum_b pos_b neg_b / (2 P N), and for average
      precision each bin's positives have precisions between those at its
      two ends, |AP - exact| <= sum_b (pos_b / P) (hi_b - lo_b).
      ``auc_error`` holds the larger of the two bounds (0 when exact).
    """
    eps = np.finfo(np.float64).eps
    k = len(classes)
    if threshold is not None and k != 2:
        raise XentlearnInputError(
            f"a decision threshold applies to binary models; this one has {k} classes")
    confusion = np.zeros((k, k), dtype=np.int64)
    loss_sum = brier_sum = 0.0
    bin_count = np.zeros(CALIBRATION_BINS, dtype=np.int64)
    confidence_sum = np.zeros(CALIBRATION_BINS)
    correct_sum = np.zeros(CALIBRATION_BINS)
    ranks = _RankSums() if k == 2 else None
    for labels, proba, truth in batches:
        true_index = _class_index(truth, classes, target)
        p = np.asarray(proba, dtype=np.float64)
        rows = np.arange(len(true_index))
        p_true = p[rows, true_index]
        loss_sum -= float(np.log(np.clip(p_true, eps, 1.0)).sum())
        if k == 2:
            brier_sum += float(np.square(p[:, 1] - true_index).sum())
            ranks.add(p[:, 1], true_index == 1)
        else:
            # sum_c (p_c - t_c)^2 = sum_c p_c^2 - 2 p_y + 1 for a one-hot t.
            brier_sum += float((np.square(p).sum(axis=1) - 2.0 * p_true + 1.0).sum())
        top = p.argmax(axis=1)
        confidence = p[rows, top]
        bins = np.minimum((confidence * CALIBRATION_BINS).astype(np.intp), CALIBRATION_BINS - 1)
        bin_count += np.bincount(bins, minlength=CALIBRATION_BINS)
        confidence_sum += np.bincount(bins, weights=confidence, minlength=CALIBRATION_BINS)
        correct_sum += np.bincount(bins, weights=(top == true_index).astype(np.float64),
                                   minlength=CALIBRATION_BINS)
        if threshold is not None:
            predicted = (p[:, 1] >= threshold).astype(np.intp)
        else:
            predicted = _class_index(labels, classes, "prediction")
        confusion += np.bincount(true_index * k + predicted, minlength=k * k).reshape(k, k)
    n = int(confusion.sum())
    if n == 0:
        raise NoRows("no rows to evaluate")
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(hits, confusion.sum(axis=0))
    recall = _ratio(hits, support)
    f1 = _ratio(2.0 * precision * recall, precision + recall)
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_confidence = confidence_sum / bin_count
        bin_accuracy = correct_sum / bin_count
    ece = float(np.sum(np.abs(correct_sum - confidence_sum)) / n)
    roc_auc = pr_auc = auc_error = None
    if ranks is not None:
        roc_auc, pr_auc, auc_error = ranks.finish()
    return Metrics(classes=classes, n_rows=n, log_loss=loss_sum / n,
                   accuracy=float(hits.sum()) / n,
                   balanced_accuracy=float(recall[support > 0].mean()),
                   brier=brier_sum / n, calibration_error=ece, roc_auc=roc_auc, pr_auc=pr_auc,
                   auc_error=auc_error, precision=precision, recall=recall, f1=f1,
                   support=support, confusion=confusion, bin_count=bin_count,
                   bin_confidence=bin_confidence, bin_accuracy=bin_accuracy, threshold=threshold)


class _RankSums:
    """What ROC and PR AUCs need of a stream of (score, is positive) pairs.

    Every pair is kept while there are at most ``EXACT_AUC_ROWS`` (the AUCs are
    then exact); a fixed histogram of scores per class is kept always, and
    used once the pairs are dropped.
    """

    def __init__(self) -> None:
        self.scores: list[np.ndarray] | None = []
        self.positives: list[np.ndarray] = []
        self.n_rows = 0
        self.pos_hist = np.zeros(AUC_BINS, dtype=np.int64)
        self.neg_hist = np.zeros(AUC_BINS, dtype=np.int64)

    def add(self, scores: np.ndarray, positive: np.ndarray) -> None:
        self.n_rows += scores.size
        if self.scores is not None:
            if self.n_rows <= EXACT_AUC_ROWS:
                self.scores.append(scores.copy())
                self.positives.append(positive.copy())
            else:
                self.scores, self.positives = None, []
        with np.errstate(divide="ignore"):
            logit = np.log(scores) - np.log1p(-scores)          # +-inf at p = 1 and 0
        logit = np.clip(np.nan_to_num(logit, nan=0.0), -LOGIT_RANGE, LOGIT_RANGE)
        scaled = (logit + LOGIT_RANGE) * (AUC_BINS / (2 * LOGIT_RANGE))
        bins = np.minimum(scaled.astype(np.intp), AUC_BINS - 1)
        self.pos_hist += np.bincount(bins[positive], minlength=AUC_BINS)
        self.neg_hist += np.bincount(bins[~positive], minlength=AUC_BINS)

    def finish(self) -> tuple[float | None, float | None, float | None]:
        """(ROC AUC, average precision, error bound); None where a class is absent."""
        if self.scores is not None:
            scores = np.concatenate(self.scores) if self.scores else np.empty(0)
            positive = np.concatenate(self.positives) if self.positives else np.empty(0, bool)
            # Tie groups of equal scores, highest score first.
            distinct, group = np.unique(-scores, return_inverse=True)
            pos = np.bincount(group, weights=positive, minlength=distinct.size)
            neg = np.bincount(group, weights=~positive, minlength=distinct.size)
            exact = True
        else:
            keep = (self.pos_hist + self.neg_hist) > 0
            pos = self.pos_hist[keep][::-1].astype(np.float64)
            neg = self.neg_hist[keep][::-1].astype(np.float64)
            exact = False
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return None, None, None
        pos_before = np.cumsum(pos) - pos
        roc_auc = float(np.sum(neg * (pos_before + 0.5 * pos)) / (n_pos * n_neg))
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        precision = tp / (tp + fp)
        average_precision = float(np.sum(pos / n_pos * precision))
        if exact:
            return roc_auc, average_precision, 0.0
        roc_bound = float(np.sum(pos * neg) / (2.0 * n_pos * n_neg))
        tp_before, fp_before = tp - pos, fp - neg
        with np.errstate(invalid="ignore"):
            low = (tp_before + 1) / (tp_before + fp_before + 1 + neg)
            high = (tp_before + pos) / (tp_before + fp_before + pos)
        ap_bound = float(np.sum(np.where(pos > 0, pos / n_pos * (high - low), 0.0)))
        return roc_auc, average_precision, max(roc_bound, ap_bound)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(denominator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _class_index(values: np.ndarray, classes: np.ndarray, column: str) -> np.ndarray:
    """Index of each value in the sorted `classes`; an unknown label is an input error."""
    values = np.asarray(values)
    try:
        index = np.minimum(np.searchsorted(classes, values), len(classes) - 1)
        unknown = np.flatnonzero(classes[index] != values)
    except TypeError:       # e.g. string labels in the file, integer classes in the model
        raise XentlearnInputError(
            f"column {column!r} holds labels of another type than the model's classes "
            f"{short_list(classes)}") from None
    if unknown.size:
        from xentlearn.data import UnknownLabelsError

        # The table that was read names the file and row of the first one (score_table).
        raise UnknownLabelsError(
            column, f"column {column!r} holds the label {plain(values[unknown[0]])!r}, which is "
            f"not among the model's classes {short_list(classes)}", "", classes)
    return index


def plain(value):
    """A numpy scalar as the Python value it holds (for printing and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def short_list(classes: Sequence, limit: int = 12) -> str:
    items = [str(plain(c)) for c in classes]
    if len(items) > limit:
        items = items[:limit] + [f"... ({len(classes)} in all)"]
    return "[" + ", ".join(items) + "]"


# ----------------------------------------------------------------- JSON
METRIC_KEYS = ("log_loss", "accuracy", "balanced_accuracy", "brier", "calibration_error",
               "roc_auc", "pr_auc")


def metrics_json(m: Metrics) -> dict:
    """The stable JSON form of `m`.

    Keys: rows, the METRIC_KEYS (roc_auc and pr_auc null unless the target
    is binary with both classes present), auc_error_bound (0 when exact),
    threshold (null unless given), per_class ({label: {precision, recall, f1,
    support}}, labels as text), classes (labels as their own type) and
    confusion_matrix (rows: true class, columns: predicted, in `classes`
    order). NaN never appears: undefined values are null.
    """
    per_class = {str(plain(c)): {"precision": float(p), "recall": float(r), "f1": float(f),
                                 "support": int(s)}
                 for c, p, r, f, s in zip(m.classes, m.precision, m.recall, m.f1, m.support)}
    out = {"rows": m.n_rows}
    out.update({key: json_number(getattr(m, key)) for key in METRIC_KEYS})
    out["auc_error_bound"] = json_number(m.auc_error)
    out["threshold"] = m.threshold
    out["per_class"] = per_class
    out["classes"] = [plain(c) for c in m.classes]
    out["confusion_matrix"] = m.confusion.tolist()
    return out


def json_number(value):
    """A metric for JSON: a float, or None for a missing or non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
