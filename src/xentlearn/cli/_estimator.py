"""Estimators as the commands use them: built from the options (train, cv), loaded
from a model file (predict, evaluate), and scored on a table.

Only public ``xentlearn`` names are used (``xentlearn.LogisticRegression``,
``MLPClassifier``, ``load``, ``xentlearn.data``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import xentlearn
from xentlearn.cli._metrics import Metrics, plain, score_batches
from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError
from xentlearn.data import TableFiles, list_data_files, scan_target


def check_validation(args, validation, command: str) -> None:
    """--validation and --validation-fraction exclude each other; early stopping and
    calibration need one of them."""
    if validation and args.validation_fraction is not None:
        raise UsageError(f"{command}: give --validation DATA or --validation-fraction F, "
                         "not both")
    held_out = bool(validation) or args.validation_fraction is not None
    for flag, wanted in (("--early-stopping", args.early_stopping),
                         ("--calibrate", args.calibrate)):
        if wanted and not held_out:
            # The estimator's own message speaks Python (validation_data=TableFiles(...)).
            raise UsageError(f"{command}: {flag} needs held-out rows: --validation-fraction "
                             "0.1 (or --validation DATA)")


def make_estimator(args, table: TableFiles, *, verbose: bool):
    model = args.model or "linear"
    params: dict[str, Any] = {}
    for option in ESTIMATOR_OPTIONS:
        value = getattr(args, option.param)
        if value is None:
            continue
        if model not in option.models:
            raise UsageError(f"train: {option.flag} applies to --model "
                             f"{' or '.join(option.models)} only, not --model {model}")
        params[option.param] = value
    if params.get("penalty") == "none":
        params["penalty"] = None
    if "dtype" in params:
        params["dtype"] = np.dtype(params["dtype"]).type
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = _class_weight_by_label(params["class_weight"], table)
    if getattr(args, "calibrate", None):
        params["calibration"] = "temperature"
    cls = xentlearn.MLPClassifier if model == "mlp" else xentlearn.LogisticRegression
    return cls(verbose=verbose, **params)


def _class_weight_by_label(weights: dict[str, float], table: TableFiles) -> dict:
    """{'a': 2.0} -> {label: 2.0}, with labels of the target column's own type.

    A command line only has text, but the labels of a CSV column may be
    integers; matching on the printed label keeps ``--class-weight 0=2``
    meaning class 0 whatever the column's type. Costs one pass over the
    target column.
    """
    classes = scan_target(list_data_files(table.path), table.target, batch_rows=table.batch_rows,
                          csv_block_bytes=table.csv_block_bytes, na_values=table.na_values)
    by_text = {str(plain(c)): c for c in classes}
    unknown = [k for k in weights if k not in by_text]
    if unknown:
        raise UsageError(
            f"train: --class-weight names {unknown[0]!r}, which is not a label of column "
            f"{table.target!r}; labels are {', '.join(by_text)}")
    return {by_text[k]: w for k, w in weights.items()}


def load_file_model(path: Path):
    """A model that can read tables: trained on files, so it knows its feature columns."""
    estimator = xentlearn.load(path)
    if getattr(estimator, "feature_columns_", None) is None:
        raise UsageError(
            f"{str(path)!r} was trained in Python on arrays, so it has no column "
            "preprocessing; the command line applies models trained on files "
            "(xentlearn train, or fit(TableFiles(...)))")
    return estimator


def check_threshold(estimator, threshold, command: str) -> None:
    if threshold is not None and len(estimator.classes_) != 2:
        raise UsageError(f"{command}: --threshold applies to binary models; this one has "
                         f"{len(estimator.classes_)} classes")


def score_table(estimator, table: TableFiles, threshold: float | None = None) -> Metrics:
    """The metrics of `estimator` on `table`; a label the model does not know (or a missing
    one) is named with its file and row."""
    from xentlearn.data import ColumnValuesError

    try:
        return score_batches(estimator.iter_predictions(table, proba=True), estimator.classes_,
                             target=table.target, threshold=threshold)
    except ColumnValuesError as exc:
        raise table.located(exc) from None
