"""What the CLI prints and writes besides models: metrics, text tables, history CSV, plots.

Metrics are accumulated batch by batch from ``iter_predictions`` so that a
data set larger than memory is scored in bounded memory: the log-loss is a
running sum, and only the (n,) class indices of truth and prediction are kept
for the confusion matrix.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xentlearn.exceptions import XentlearnInputError

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "learning_rate", "seconds")
# Wider confusion matrices wrap on a terminal and stop being readable.
MAX_CONFUSION_CLASSES = 20


# ----------------------------------------------------------------- metrics
@dataclass
class Metrics:
    """Scores of a model on one labelled data set."""

    classes: np.ndarray
    n_rows: int
    log_loss: float
    accuracy: float
    precision: np.ndarray      # (n_classes,)
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray        # (n_classes,) int: true rows per class
    confusion: np.ndarray      # (n_classes, n_classes): rows true, columns predicted


def score_batches(batches, classes: np.ndarray, *, target: str) -> Metrics:
    """Metrics from ``est.iter_predictions(table, proba=True)`` output.

    Parameters
    ----------
    batches : iterable of (labels, proba, truth)
        labels and truth of shape (n_b,), proba of shape (n_b, n_classes).
    classes : ndarray of shape (n_classes,)
        The model's ``classes_`` (sorted, as scikit-learn keeps them).
    target : str
        Column name, for the error on a label the model never saw.

    Notes
    -----
    log-loss = -(1/n) sum_i log p_i[y_i], with p clipped to [eps, 1] where eps
    is the float64 machine epsilon, as ``sklearn.metrics.log_loss`` does.
    Only sums are kept across batches (the loss and the k x k confusion
    matrix), so any number of rows is scored in memory of one batch.
    Precision, recall and F1 come from the confusion matrix C (rows: truth):
    precision_c = C_cc / sum_i C_ic, recall_c = C_cc / sum_j C_cj, F1 their
    harmonic mean, each 0 where its denominator is (scikit-learn's
    ``zero_division=0``).
    """
    eps = np.finfo(np.float64).eps
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    loss_sum = 0.0
    for labels, proba, truth in batches:
        true_index = _class_index(truth, classes, target)
        rows = np.arange(len(true_index))
        p_true = np.clip(np.asarray(proba, dtype=np.float64)[rows, true_index], eps, 1.0)
        loss_sum -= float(np.log(p_true).sum())
        predicted = _class_index(labels, classes, "prediction")
        confusion += np.bincount(true_index * k + predicted, minlength=k * k).reshape(k, k)
    n = int(confusion.sum())
    if n == 0:
        raise XentlearnInputError("no rows to evaluate")
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(hits, confusion.sum(axis=0))
    recall = _ratio(hits, support)
    f1 = _ratio(2.0 * precision * recall, precision + recall)
    return Metrics(classes=classes, n_rows=n, log_loss=loss_sum / n,
                   accuracy=float(hits.sum()) / n, precision=precision,
                   recall=recall, f1=f1, support=support, confusion=confusion)


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
            f"{_short_list(classes)}") from None
    if unknown.size:
        raise XentlearnInputError(
            f"column {column!r} holds the label {_plain(values[unknown[0]])!r}, which is not "
            f"among the model's classes {_short_list(classes)}")
    return index


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _short_list(classes: Sequence, limit: int = 12) -> str:
    items = [str(_plain(c)) for c in classes]
    if len(items) > limit:
        items = items[:limit] + [f"... ({len(classes)} in all)"]
    return "[" + ", ".join(items) + "]"


# ----------------------------------------------------------------- text tables
def format_table(header: Sequence[str], rows: Sequence[Sequence[object]],
                 align: str | None = None) -> str:
    """A plain-text table: one header line, a rule, one line per row.

    `align` holds one character per column, "l" or "r" (default: first column
    left, the others right, as numbers read best right-aligned).
    """
    cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)
    lines = []
    for i, row in enumerate(cells):
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(_plain(value))


def summary_table(scores: Sequence[tuple[str, Metrics]]) -> str:
    """log-loss, accuracy and rows for each named data set (train, validation, ...)."""
    return format_table(["data", "log-loss", "accuracy", "rows"],
                        [(name, m.log_loss, m.accuracy, m.n_rows) for name, m in scores])


def class_table(m: Metrics) -> str:
    """Per-class precision, recall, F1 and support, then macro and weighted averages."""
    rows: list[tuple] = [(c, p, r, f, s) for c, p, r, f, s
                         in zip(m.classes, m.precision, m.recall, m.f1, m.support)]
    weights = m.support / max(m.support.sum(), 1)
    rows.append(("macro avg", m.precision.mean(), m.recall.mean(), m.f1.mean(),
                 int(m.support.sum())))
    rows.append(("weighted avg", float(weights @ m.precision), float(weights @ m.recall),
                 float(weights @ m.f1), int(m.support.sum())))
    return format_table(["class", "precision", "recall", "f1", "support"], rows)


def confusion_table(m: Metrics) -> str:
    """The confusion matrix with class names: rows are true classes, columns predictions."""
    if len(m.classes) > MAX_CONFUSION_CLASSES:
        return (f"(not shown: {len(m.classes)} classes; more than {MAX_CONFUSION_CLASSES} "
                "do not fit a terminal)")
    header = ["true \\ predicted"] + [str(_plain(c)) for c in m.classes]
    rows = [[c, *counts] for c, counts in zip(m.classes, m.confusion.tolist())]
    return format_table(header, rows)


def metrics_report(m: Metrics, name: str) -> str:
    """Per-class table and confusion matrix of one data set, with headings."""
    return (f"Per class ({name}):\n{class_table(m)}\n\n"
            f"Confusion matrix ({name}; rows: true class, columns: predicted):\n"
            f"{confusion_table(m)}")


# ----------------------------------------------------------------- history
def default_history_path(model_path: Path) -> Path:
    """model.xent -> model.history.csv, next to the model."""
    return model_path.with_name(model_path.stem + ".history.csv")


def write_history(history: Sequence[dict], path: Path) -> None:
    """One CSV row per epoch (columns HISTORY_COLUMNS); an empty cell where a value is None."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HISTORY_COLUMNS)
        for record in history:
            writer.writerow(["" if record.get(c) is None else record[c] for c in HISTORY_COLUMNS])


def check_plot_path(path: Path) -> None:
    """Refuse, before training, a --plot path that could not be written."""
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise XentlearnInputError(f"--plot {str(path)!r}: expected a .png, .svg or .pdf file")
    try:
        import matplotlib  # noqa: F401  (optional dependency: only --plot needs it)
    except ImportError:
        raise XentlearnInputError(
            "--plot needs matplotlib, which is not installed: pip install 'xentlearn[plot]'"
        ) from None


def plot_history(history: Sequence[dict], path: Path, *, title: str,
                 file_format: str | None = None) -> None:
    """Train and validation loss per epoch (top) and the learning rate (bottom).

    `file_format` ("png", "svg" or "pdf") overrides the one of `path`'s
    extension, for a temporary file that is renamed afterwards.
    """
    import matplotlib

    matplotlib.use("Agg")   # no display needed; also safe on a headless server
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    train = [r["train_loss"] for r in history]
    val = [np.nan if r.get("val_loss") is None else r["val_loss"] for r in history]
    lr = [r["learning_rate"] for r in history]
    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    try:
        ax_loss.plot(epochs, train, color="tab:blue", marker="." if len(epochs) < 30 else None,
                     label="train loss")
        if not np.all(np.isnan(val)):
            ax_loss.plot(epochs, val, color="tab:orange",
                         marker="." if len(epochs) < 30 else None, label="validation loss")
        ax_loss.set_ylabel("cross-entropy")
        ax_loss.set_title(title)
        ax_loss.grid(alpha=0.3)
        ax_loss.legend()
        ax_lr.plot(epochs, lr, color="tab:green")
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("epoch")
        ax_lr.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100, format=file_format and file_format.lower())
    finally:
        plt.close(fig)
