"""``xentlearn evaluate``: the scores of a model on labelled files."""

from __future__ import annotations

import json
from typing import TextIO

from xentlearn.cli import _report
from xentlearn.cli._estimator import check_threshold, load_file_model, score_table
from xentlearn.cli._metrics import metrics_json
from xentlearn.cli._options import UsageError
from xentlearn.cli._tables import describe_data, one_or_many, reading_options
from xentlearn.data import TableFiles


def evaluate(args, out: TextIO) -> None:
    """Log-loss, accuracy, calibration, AUCs, per-class metrics and the confusion matrix."""
    estimator = load_file_model(args.model)
    check_threshold(estimator, args.threshold, "evaluate")
    args.target = args.target or getattr(estimator, "target_column_", None)
    if args.target is None:
        raise UsageError("evaluate: --target COL is required (the label column)")
    if args.target in (getattr(estimator, "feature_columns_", None) or ()):
        # TableFiles would read the column twice (a pyarrow KeyError), and a
        # model scored on one of its own inputs is a mistake anyway.
        raise UsageError(f"evaluate: --target {args.target!r} is one of the model's feature "
                         "columns; give the label column")
    table = TableFiles(one_or_many(args.data), target=args.target, **reading_options(args))
    metrics = score_table(estimator, table, args.threshold)
    if args.json:
        report = {"model": str(args.model), "estimator": type(estimator).__name__,
                  "data": [str(d) for d in args.data], "target": args.target}
        report.update(metrics_json(metrics))
        print(json.dumps(report, indent=2), file=out)
        return
    print(f"{args.model} ({type(estimator).__name__}, {len(estimator.classes_)} classes) "
          f"on {describe_data(args.data)}\n", file=out)
    print(_report.summary_table([("data", metrics)]), file=out)
    print("\n" + _report.metrics_report(metrics, "data"), file=out)
