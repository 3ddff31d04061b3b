"""``xentlearn cv``: K-fold cross-validation on files, folds hashed from the rows."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import warnings
from typing import TextIO

import numpy as np

from xentlearn.cli import _report
from xentlearn.cli._estimator import check_validation, make_estimator, score_table
from xentlearn.cli._messages import print_warnings
from xentlearn.cli._metrics import METRIC_KEYS, NoRows, json_number, metrics_json
from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError
from xentlearn.cli._tables import describe_data, feature_columns, one_or_many, table_options
from xentlearn.data import RowSplit, TableFiles, scan_target
from xentlearn.exceptions import XentlearnInputError

# Cross-validation folds hash rows with --random-state mixed with this, so the
# folds are independent of a --validation-fraction split inside them.
_CV_SALT = 0xC5_F01D


def _check_classes_trained(base: TableFiles, estimator, k: int) -> None:
    """A fold whose test rows hold a class that no training row of the fold has: all the
    class's rows fell into that fold, and the fold's model cannot score them."""
    labels = scan_target(base.files(), base.target, csv_block_bytes=base.csv_block_bytes,
                         na_values=base.na_values)
    known = set(estimator.classes_)
    unseen = [label for label in labels  # a missing label (None, NaN) has its own error
              if label is not None and label == label and label not in known]
    if unseen:
        raise UsageError(
            f"cv: fold {k + 1} holds every row of the class(es) "
            f"{', '.join(map(repr, map(str, unseen[:5])))}, so the model trained on the other "
            f"folds never saw them and cannot score them: use fewer --folds, or leave such "
            "rare classes out of DATA")


def cv(args, out: TextIO) -> None:
    """K-fold cross-validation: train on K-1 folds, score the held-out fold, K times.

    Folds are a hash of each row (``RowSplit``): fold k holds the rows whose
    u(seed, file, row) lies in [k/K, (k+1)/K), so the split streams in bounded
    memory and is the same for the same ``--random-state``. Not stratified:
    with rare classes a fold may lack one (its recall is then 0 of 0).
    """
    if not args.data:
        raise UsageError("cv: DATA is required (CSV or Parquet files or folders, on the "
                         "command line or as data in --config)")
    if args.target is None:
        raise UsageError("cv: --target COL is required (the label column)")
    for option in ESTIMATOR_OPTIONS:
        if "cv" not in option.commands and getattr(args, option.param) is not None:
            raise UsageError(f"cv: {option.flag} applies to train, not to cross-validation")
    check_validation(args, None, "cv")
    options = table_options(args)
    seed = options["split_seed"] ^ _CV_SALT
    base = TableFiles(one_or_many(args.data), target=args.target,
                      sample_weight=args.sample_weight,
                      **feature_columns(args, args.data, options), **options)
    text = sys.stderr if args.json else out
    folds: list[_report.Metrics] = []
    seconds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for k in range(args.folds):
            held_out = RowSplit(seed, k / args.folds, (k + 1) / args.folds)
            train_rows = dataclasses.replace(base, row_filters=(held_out._replace(inside=False),),
                                             validation_fraction=args.validation_fraction)
            test_rows = dataclasses.replace(base, row_filters=(held_out,))
            estimator = make_estimator(args, train_rows, verbose=False)
            start = time.perf_counter()
            estimator.fit(train_rows)
            seconds.append(time.perf_counter() - start)
            try:
                folds.append(score_table(estimator, test_rows, args.threshold))
            except NoRows:
                raise _empty_fold(base, k, args) from None
            except XentlearnInputError:
                _check_classes_trained(base, estimator, k)
                raise
            if not args.quiet:
                m = folds[-1]
                print(f"fold {k + 1}/{args.folds}: {m.n_rows} rows, log-loss {m.log_loss:.4f}, "
                      f"accuracy {m.accuracy:.4f} ({seconds[-1]:.1f} s)", file=text)
    print_warnings(caught, args)
    keys = [k for k in METRIC_KEYS if any(getattr(m, k) is not None for m in folds)]
    values = {k: [getattr(m, k) for m in folds] for k in keys}
    summary = {k: _spread(v) for k, v in values.items()}
    if args.json:
        report = {"folds": args.folds, "rows": [m.n_rows for m in folds],
                  "seconds": seconds, "estimator": type(estimator).__name__,
                  "metrics": {k: dict(summary[k], folds=[json_number(x) for x in values[k]])
                              for k in keys},
                  "per_fold": [metrics_json(m) for m in folds]}
        print(json.dumps(report, indent=2), file=out)
        return
    n_rows = sum(m.n_rows for m in folds)
    print(f"\n{type(estimator).__name__}, {args.folds}-fold cross-validation on "
          f"{describe_data(args.data)} ({n_rows} rows; each fold scored by a model trained on the "
          f"other {args.folds - 1})\n", file=out)
    header = ["metric", "mean", "std", *[f"fold{k + 1}" for k in range(args.folds)]]
    rows = [(k, summary[k]["mean"], summary[k]["std"], *values[k]) for k in keys]
    print(_report.format_table(header, rows), file=out)
    print("\n(std: the standard deviation of the fold scores, numpy's default ddof=0; "
          "undefined fold scores are left out)", file=out)


def _empty_fold(table: TableFiles, k: int, args) -> UsageError:
    """The error for fold k that no row fell into, with the number of rows (one more pass
    over the target column: only on this error)."""
    n_rows = sum(len(chunk) for chunk in table.iter_column(args.target))
    per_fold = n_rows / args.folds
    outnumber = " (the folds outnumber the rows)" if args.folds > n_rows else ""
    return UsageError(
        f"cv: fold {k + 1} of {args.folds} holds no rows: "
        f"{describe_data([repr(str(path)) for path in args.data])} has "
        f"{n_rows} row(s), {per_fold:.3g} per fold on average{outnumber}, and each row goes to "
        f"a fold by a hash of the row, not in turn, so some folds get none; give fewer --folds")


def _spread(values) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite))}


