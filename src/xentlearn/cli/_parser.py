"""Command-line grammar: the argparse parsers of the five commands, and ``parse_args``.

Usage errors raise ``UsageError`` instead of argparse's print-usage-and-exit,
so ``main`` prints one line. For ``train``, values of a ``--config`` file fill
what the flags leave unset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xentlearn.cli import _values
from xentlearn.cli._config import read_config
from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage block and exiting."""

    def error(self, message: str):  # noqa: D102 (argparse hook)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The ``xentlearn`` parser with its five subcommands.

    The ``train`` subparser is kept as ``parser.train_parser``: its actions
    describe the keys of a ``--config`` file.
    """
    from xentlearn import __version__

    parser = _Parser(
        prog="xentlearn",
        description="Train, apply and inspect cross-entropy classifiers on CSV and Parquet files.",
        epilog="Run 'xentlearn COMMAND --help' for the options of a command. "
               "Exit status: 0 success, 2 bad usage or bad input, 1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"xentlearn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.train_parser = _add_train(commands)
    _add_predict(commands)
    _add_evaluate(commands)
    _add_info(commands)
    parser.cv_parser = _add_cv(commands)
    return parser


def _add_data_reading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-rows", type=_values.positive_int, metavar="N",
                        help="rows read per record batch (default 65536)")
    parser.add_argument("--csv-block-bytes", type=_values.byte_size, metavar="BYTES",
                        help="bytes of CSV text parsed at a time, such as 64M (default 4M); "
                             "every row must fit in one block, so raise it for rows with "
                             "long text")


def _add_table_options(d, *, command: str) -> None:
    """How columns become features: the same flags for train and cv."""
    d.add_argument("--target", metavar="COL",
                   help="label column" + (" (required with DATA)" if command == "train" else ""))
    d.add_argument("--features", action="append", metavar="A,B,...",
                   help="feature columns, A,B or the flag repeated (default: all but target, "
                        "weights, --drop and --id); a value that is exactly a column name is "
                        "taken whole, so --features 'height, cm' names one column")
    d.add_argument("--drop", nargs="+", action="extend", metavar="COL",
                   help="columns that are not features (identifiers, leaks, free text): "
                        "several names, A,B, or the flag repeated; a value that is exactly a "
                        "column name is taken whole, commas included")
    d.add_argument("--id", metavar="COL",
                   help="an identifier column: not a feature (the model does not keep its "
                        "name: give predict --id COL to copy it into each prediction row)"
                   if command == "train" else "an identifier column: not a feature")
    d.add_argument("--sample-weight", metavar="COL", help="column of non-negative row weights")
    d.add_argument("--na-values", type=_values.tokens, metavar="'?,NA,-'",
                   help="extra text that means a missing value (besides empty, NA, N/A, NaN, "
                        "null); the model keeps them for predict. Undeclared, a '?' in a "
                        "column of numbers makes it text: an error, or for a few values in "
                        "a column of few distinct numbers a warning naming them, and the "
                        "column is one-hot encoded; in a column of true/false, a warning too. "
                        "Declared, the column is numeric, as is a Parquet text column of "
                        "numbers (undeclared, it stays categories), and a CSV column of "
                        "true/false is boolean (a Parquet text one: categories true, false)")
    d.add_argument("--impute", choices=("none", "mean"),
                   help="missing values: none (an error) or mean (numeric mean, "
                        "'<missing>' category)")
    d.add_argument("--dates", choices=("refuse", "expand"),
                   help="date columns: refuse (default: an error naming them) or expand into "
                        "year, month, day of week, day of year")
    d.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                   help="standardise numeric features (default: yes)")
    d.add_argument("--max-categories", type=_values.positive_int, metavar="N",
                   help="refuse string columns with more distinct values (default 1000)")
    d.add_argument("--max-classes", type=_values.max_classes, metavar="N",
                   help="most distinct target values (default 1000; a numeric target with "
                        "more than 100 is refused as a regression target unless this is given)")
    d.add_argument("--validation-fraction", type=_values.fraction, metavar="F",
                   help="hold out this fraction of the rows (a seeded hash of each row: the "
                        "same rows every epoch and run) as validation data"
                        + (" inside each fold" if command == "cv" else ""))
    _add_data_reading(d)
    d.add_argument("--shuffle-buffer-rows", type=_values.positive_int, metavar="N",
                   help="rows held in the per-epoch shuffle buffer (default 65536)")
    d.add_argument("--memory-budget", type=_values.byte_size, metavar="BYTES",
                   help="memory for the decoded training rows, such as 2G: data that fits is "
                        "decoded once and trained on from memory, larger data streams from "
                        "the files every pass (default a quarter of RAM; 0 always streams)")


def _add_estimator_options(p, command: str) -> None:
    m = p.add_argument_group("estimator")
    m.add_argument("--model", type=_values.choice("linear", "mlp"), metavar="{linear,mlp}",
                   help="LogisticRegression (default) or MLPClassifier")
    for option in ESTIMATOR_OPTIONS:
        # Another command's option is parsed but not shown, so that it is refused by name.
        shown = option.help if command in option.commands else argparse.SUPPRESS
        if option.convert is None:
            m.add_argument(option.flag, dest=option.param, action=argparse.BooleanOptionalAction,
                           help=shown)
        else:
            m.add_argument(option.flag, dest=option.param, type=option.convert,
                           metavar=option.metavar, help=shown)
    m.add_argument("--calibrate", action=argparse.BooleanOptionalAction,
                   help="fit a temperature T on the validation data after training "
                        "(calibration='temperature'): probabilities softmax(z / T), the same "
                        "predicted labels")


def _add_train(commands) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "train", help="train a model on CSV/Parquet files (or the bundled digits)",
        description="Train a classifier on CSV or Parquet files (or folders of them), streamed "
                    "in batches. Without DATA it trains on scikit-learn's digits, written as "
                    "CSV next to the model. Estimator options default to the estimator's "
                    "defaults (see the LogisticRegression / MLPClassifier docstrings). Columns "
                    "that look like identifiers, constants or dates are named in a warning or "
                    "an error before training.")
    p.add_argument("data", nargs="*", metavar="DATA", default=None,
                   help="CSV or Parquet files or folders (default: the bundled digits)")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="TOML file whose keys are these options (max_iter = 50, "
                        "hidden_layer_sizes = [64, 32], ...); command-line flags override it")
    d = p.add_argument_group("data")
    d.add_argument("--validation", action="append", metavar="DATA",
                   help="held-out files scored every epoch (repeat for several)")
    d.add_argument("--scheduler", metavar="ADDRESS",
                   help="train on a running Dask cluster, such as tcp://host:8786: its "
                        "workers read the files (at the same paths) and compute the sums; "
                        "needs pip install 'xentlearn[dask]'")
    _add_table_options(d, command="train")
    _add_estimator_options(p, "train")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, metavar="MODEL", help="model file (default model.xent)")
    o.add_argument("--history", type=Path, metavar="FILE.csv",
                   help="per-epoch history CSV (default: MODEL with .history.csv)")
    o.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="draw loss and accuracy curves, the learning rate when it changes, "
                        "and a reliability diagram (needs matplotlib)")
    o.add_argument("--json", action=argparse.BooleanOptionalAction,
                   help="print the report as JSON on stdout (the rest goes to stderr)")
    o.add_argument("--quiet", action=argparse.BooleanOptionalAction,
                   help="no progress bar and no report")
    return p


def _add_cv(commands) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "cv", help="K-fold cross-validation on CSV/Parquet files",
        description="Split the rows of DATA into K folds (a seeded hash of each row, so any "
                    "number of rows in bounded memory), train on K-1 folds and score the "
                    "held-out one, K times; print the mean and spread of each metric. Takes "
                    "the data and estimator options of train.")
    p.add_argument("data", nargs="*", metavar="DATA",
                   help="CSV or Parquet files or folders (or data in --config)")
    p.add_argument("--folds", type=_values.folds, default=5, metavar="K",
                   help="number of folds (default 5)")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="train's TOML file: its keys fill the options cv takes (train's "
                        "outputs, validation files and scheduler are left out); "
                        "command-line flags override it")
    d = p.add_argument_group("data")
    _add_table_options(d, command="cv")
    _add_estimator_options(p, "cv")
    o = p.add_argument_group("output")
    o.add_argument("--threshold", type=_values.fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T")
    o.add_argument("--json", action=argparse.BooleanOptionalAction,
                   help="print the results as JSON on stdout")
    o.add_argument("--quiet", action=argparse.BooleanOptionalAction,
                   help="no line per fold")
    return p


def _add_predict(commands) -> None:
    p = commands.add_parser(
        "predict", help="write predictions for CSV/Parquet files",
        description="Predict one row per input row, in order: a column 'prediction' and, "
                    "with --proba, one column proba_<class> per class.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a model file that train wrote")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="CSV or Parquet files or folders, with the model's feature columns")
    p.add_argument("--out", metavar="FILE",
                   help="output .csv, .csv.gz, .parquet or .pq (default: CSV on stdout)")
    p.add_argument("--proba", action="store_true", help="add the class probabilities")
    p.add_argument("--id", metavar="COL",
                   help="copy this column (e.g. a customer id) into each prediction row, first")
    p.add_argument("--threshold", type=_values.fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T "
                        "(default: the model's 0.5)")
    p.add_argument("--na-values", type=_values.tokens, metavar="'?,NA,-'",
                   help="extra missing-value tokens (those given at training always apply)")
    _add_data_reading(p)


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate", help="log-loss, accuracy, calibration, AUCs, per-class metrics, "
                         "confusion matrix",
        description="Score a model on labelled files.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a model file that train wrote")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="CSV or Parquet files or folders, with the feature and label columns")
    p.add_argument("--target", metavar="COL",
                   help="label column (default: the one the model was trained on)")
    p.add_argument("--threshold", type=_values.fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T")
    p.add_argument("--na-values", type=_values.tokens, metavar="'?,NA,-'",
                   help="extra missing-value tokens (those given at training always apply)")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON on stdout")
    _add_data_reading(p)


def _add_info(commands) -> None:
    p = commands.add_parser("info", help="what a model file holds",
                            description="Print the model, its classes, the preprocessing of "
                                        "each column in words, the coefficients by feature "
                                        "name (linear models, largest first), parameters and "
                                        "training summary.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a model file that train wrote")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=_values.positive_int, default=20, metavar="N",
                   help="coefficients shown (default 20; --json lists all)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; for ``train`` and ``cv``, values of ``--config`` fill what the flags
    leave unset."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        raise UsageError("xentlearn: a command is required: train, predict, evaluate, info "
                         "or cv (see xentlearn --help)")
    if args.command in ("train", "cv") and args.config is not None:
        config = read_config(args.config, getattr(parser, f"{args.command}_parser"))
        for option in ESTIMATOR_OPTIONS:       # train's checkpoint and the like
            if args.command not in option.commands:
                config.pop(option.param, None)
        for key, value in config.items():
            current = getattr(args, key, None)
            # A flag given on the command line wins; argparse leaves the rest None
            # (nargs="*" DATA gives [] when absent).
            if current is None or (key == "data" and current == []):
                setattr(args, key, value)
    return args
