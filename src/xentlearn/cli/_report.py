"""What the CLI prints and writes besides models: text tables, history CSV, plots.

The metrics themselves are accumulated in ``_metrics`` (bounded memory, any
number of rows); this module lays them out for a terminal and draws them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xentlearn.cli._metrics import Metrics, plain, score_batches, short_list
from xentlearn.exceptions import XentlearnInputError

__all__ = ["Metrics", "score_batches", "format_table", "summary_table", "metrics_report",
           "write_history", "plot_history", "check_plot_path", "default_history_path"]

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "learning_rate", "seconds")
# Wider confusion matrices wrap on a terminal and stop being readable.
MAX_CONFUSION_CLASSES = 20
_plain, _short_list = plain, short_list


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
    """One row of scores per named data set (train, validation, ...).

    Columns: log-loss, accuracy, balanced accuracy, Brier score, expected
    calibration error (ECE), for binary targets ROC AUC and PR AUC (average
    precision), and rows. Headers are single words, so the table splits on
    whitespace. A note follows when an AUC comes from the score histogram.
    """
    binary = any(m.roc_auc is not None for _, m in scores)
    header = ["data", "log-loss", "accuracy", "balanced-acc", "brier", "ECE"]
    header += ["roc-auc", "pr-auc"] if binary else []
    rows = []
    for name, m in scores:
        row = [name, m.log_loss, m.accuracy, m.balanced_accuracy, m.brier, m.calibration_error]
        row += [m.roc_auc, m.pr_auc] if binary else []
        rows.append(row + [m.n_rows])
    text = format_table(header + ["rows"], rows)
    bounds = [m.auc_error for _, m in scores if m.auc_error]
    if bounds:
        text += (f"\n(too many rows to keep every score: the AUCs come from a histogram of "
                 f"scores and are within {max(bounds):.2g} of the exact values)")
    thresholds = {m.threshold for _, m in scores if m.threshold is not None}
    if thresholds:
        text += (f"\n(labels: {_plain(scores[0][1].classes[1])!r} when its probability is >= "
                 f"{thresholds.pop():g})")
    return text


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


def best_epoch(history: Sequence[dict], metric: str = "log_loss") -> int | None:
    """The epoch whose validation score was best (lowest loss, or highest accuracy)."""
    key = "val_accuracy" if metric == "accuracy" else "val_loss"
    scored = [(r[key], r["epoch"]) for r in history if r.get(key) is not None]
    if not scored:
        return None
    if metric == "accuracy":
        return max(scored, key=lambda pair: (pair[0], -pair[1]))[1]
    return min(scored)[1]


def plot_history(history: Sequence[dict], path: Path, *, title: str,
                 file_format: str | None = None, reliability: Metrics | None = None,
                 reliability_name: str = "validation", restored_epoch: int | None = None,
                 final_accuracy: dict[str, float] | None = None) -> None:
    """Loss, accuracy and calibration of a training run, in one figure.

    Panels: the train and validation loss per epoch (a log axis when the loss
    spans more than a decade); the validation accuracy per epoch, with the
    final model's accuracy on each data set as dashed lines; a reliability
    diagram of `reliability` (accuracy against mean top-class probability in
    10 bins, the share of rows per bin as grey bars; a calibrated model lies
    on the diagonal); and, only when the learning rate changes, the learning
    rate per epoch. `restored_epoch` (early stopping that restored the best
    weights) is marked on the loss and accuracy panels.

    `file_format` ("png", "svg" or "pdf") overrides the one of `path`'s
    extension, for a temporary file that is renamed afterwards.
    """
    import matplotlib

    matplotlib.use("Agg")   # no display needed; also safe on a headless server
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    train = np.array([r["train_loss"] for r in history], dtype=float)
    val = np.array([np.nan if r.get("val_loss") is None else r["val_loss"] for r in history])
    accuracy = np.array([np.nan if r.get("val_accuracy") is None else r["val_accuracy"]
                         for r in history])
    lr = np.array([r["learning_rate"] for r in history], dtype=float)
    lr_changes = lr.size > 1 and not np.allclose(lr, lr[0], rtol=1e-12, atol=0)
    marker = "." if len(epochs) < 30 else None

    fig = plt.figure(figsize=(15, 6.5 if lr_changes else 5))
    grid = fig.add_gridspec(2 if lr_changes else 1, 3,
                            height_ratios=[3, 1] if lr_changes else [1])
    ax_loss = fig.add_subplot(grid[0, 0])
    ax_acc = fig.add_subplot(grid[0, 1], sharex=ax_loss)
    ax_rel = fig.add_subplot(grid[:, 2])
    try:
        fig.suptitle(title)
        ax_loss.plot(epochs, train, color="tab:blue", marker=marker, label="train loss")
        if not np.all(np.isnan(val)):
            ax_loss.plot(epochs, val, color="tab:orange", marker=marker, label="validation loss")
        losses = np.concatenate([train, val])
        losses = losses[np.isfinite(losses) & (losses > 0)]
        if losses.size and losses.max() > 10 * losses.min():
            ax_loss.set_yscale("log")
        ax_loss.set_ylabel("cross-entropy" + (" (log scale)" if ax_loss.get_yscale() == "log"
                                              else ""))
        ax_loss.set_title("loss")

        if not np.all(np.isnan(accuracy)):
            ax_acc.plot(epochs, accuracy, color="tab:orange", marker=marker,
                        label="validation accuracy")
        else:
            ax_acc.text(0.5, 0.5, "no validation data\n(--validation or --validation-fraction)",
                        ha="center", va="center", transform=ax_acc.transAxes, color="0.4")
        for (name, value), color in zip((final_accuracy or {}).items(),
                                        ("tab:blue", "tab:orange")):
            ax_acc.axhline(value, color=color, linestyle="--", linewidth=1,
                           label=f"{name} accuracy, final model: {value:.3f}")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title("accuracy")
        for ax in (ax_loss, ax_acc):
            if restored_epoch is not None:
                ax.axvline(restored_epoch, color="0.3", linestyle=":", linewidth=1.5,
                           label=f"restored best epoch ({restored_epoch})")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")

        _reliability_panel(ax_rel, reliability, reliability_name)

        if lr_changes:
            ax_lr = fig.add_subplot(grid[1, 0:2], sharex=ax_loss)
            ax_lr.plot(epochs, lr, color="tab:green")
            if lr.min() > 0 and lr.max() > 10 * lr.min():
                ax_lr.set_yscale("log")
            ax_lr.set_ylabel("learning rate")
            ax_lr.set_xlabel("epoch")
            ax_lr.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100, format=file_format and file_format.lower())
    finally:
        plt.close(fig)


def _reliability_panel(ax, m: Metrics | None, name: str) -> None:
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability of the top class")
    ax.set_ylabel("share of rows whose top class is right")
    if m is None:
        ax.set_title("reliability")
        ax.text(0.5, 0.5, "not computed", ha="center", va="center", color="0.4")
        return
    width = 1.0 / len(m.bin_count)
    centres = (np.arange(len(m.bin_count)) + 0.5) * width
    share = m.bin_count / max(int(m.bin_count.sum()), 1)
    ax.bar(centres, share, width=width * 0.9, color="0.85", label="share of rows")
    seen = m.bin_count > 0
    color = "tab:orange" if name == "validation" else "tab:blue"
    ax.plot(m.bin_confidence[seen], m.bin_accuracy[seen], color=color, marker="o",
            label=f"{name} data")
    ax.set_title(f"reliability ({name}, {m.n_rows} rows; ECE {m.calibration_error:.3f})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
