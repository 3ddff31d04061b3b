"""Command-line grammar: argparse parsers and the TOML config of ``train``.

Every estimator option defaults to None ("not given"), so the estimator's own
defaults stay the single source of truth; the CLI passes on only what the user
set, on the command line or in ``--config``. Usage errors raise ``UsageError``
instead of argparse's print-usage-and-exit, so ``main`` prints one line.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from xentlearn.estimators import LEARNING_RATES, SOLVERS

ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


class UsageError(Exception):
    """Bad command line or config file; ``main`` prints it as one line and exits 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage block and exiting."""

    def error(self, message: str):  # noqa: D102 (argparse hook)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ----------------------------------------------------------------- value types
# Each converter takes the string a user typed and raises ArgumentTypeError
# with a message that names the accepted values; argparse adds the flag name.

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


# Binary multiples, as a user reads sizes: 64K is 65536 bytes.
_SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
                  "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}


def _bytes(text: str) -> int:
    """'65536', '64K', '16M' or '1G' (binary multiples; 'MiB' and 'MB' also read) -> bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if match is None or match[2].upper() not in _SIZE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"expected a size in bytes such as 16777216, 16M or 1G, got {text!r}")
    return int(match[1]) * _SIZE_SUFFIXES[match[2].upper()]


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _float_or_auto(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        return _float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _batch_size(text: str) -> str | int:
    if text in ("auto", "full"):
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', 'full' or a positive integer, got {text!r}") from None


def _penalty(text: str) -> str:
    if text not in ("l2", "l1", "elasticnet", "none"):
        raise argparse.ArgumentTypeError(
            f"expected one of l2, l1, elasticnet, none, got {text!r}")
    return text


def _class_weight(text: str) -> str | dict[str, float]:
    """'balanced' or 'label=weight,label=weight' (labels kept as text until the classes are known)."""
    if text == "balanced":
        return text
    weights: dict[str, float] = {}
    for item in text.split(","):
        label, sep, weight = item.partition("=")
        if not sep or not label.strip():
            raise argparse.ArgumentTypeError(
                f"expected 'balanced' or LABEL=WEIGHT pairs such as 'a=2,b=1', got {text!r}")
        try:
            value = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"weight of class {label.strip()!r} is not a number: {weight!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(
                f"weight of class {label.strip()!r} must be a finite number >= 0, got {weight!r}")
        weights[label.strip()] = value
    return weights


def _layer_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 64,32, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 64,32, got {text!r}")
    return sizes


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _folds(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return value


def _max_classes(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return value


def _tokens(text: str) -> list[str]:
    """'?,NA,-' -> ['?', 'NA', '-'] (spaces around each token are dropped)."""
    tokens = [t.strip() for t in text.split(",")]
    if not all(tokens):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated tokens such as '?,NA,-', got {text!r}")
    return tokens


def _columns(text: str) -> list[str]:
    columns = [c.strip() for c in text.split(",")]
    if not all(columns):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return columns


def _dtype(text: str) -> str:
    if text not in ("float32", "float64"):
        raise argparse.ArgumentTypeError(f"expected float32 or float64, got {text!r}")
    return text


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(choices)}, got {text!r}")
        return text
    return convert


# ----------------------------------------------------------------- estimator options
@dataclass(frozen=True)
class EstimatorOption:
    """One ``train`` flag that maps onto an estimator parameter."""

    param: str
    convert: Callable[[str], Any] | None    # None: a --flag/--no-flag boolean
    help: str
    models: tuple[str, ...] = ("linear", "mlp")
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.param.replace("_", "-")


ESTIMATOR_OPTIONS = (
    EstimatorOption("solver", _choice(*SOLVERS), "optimizer (linear default lbfgs, mlp adam)",
                    metavar="{" + ",".join(SOLVERS) + "}"),
    EstimatorOption("batch_size", _batch_size, "'full', 'auto' (256; full for lbfgs) or rows per step",
                    metavar="N|auto|full"),
    EstimatorOption("learning_rate", _choice(*LEARNING_RATES), "step-size schedule over epochs",
                    metavar="{" + ",".join(LEARNING_RATES) + "}"),
    EstimatorOption("learning_rate_init", _float, "initial step size (default: the solver's)",
                    metavar="LR"),
    EstimatorOption("power_t", _float, "invscaling exponent", metavar="P"),
    EstimatorOption("warmup_epochs", _non_negative_int, "epochs of linear warm-up", metavar="N"),
    EstimatorOption("decay_rate", _float, "step/exponential decay factor", metavar="R"),
    EstimatorOption("decay_epochs", _positive_int, "epochs per step/exponential decay",
                    metavar="N"),
    EstimatorOption("momentum", _float, "sgd momentum (0: plain gradient steps)", metavar="M"),
    EstimatorOption("nesterov", None, "Nesterov momentum for sgd"),
    EstimatorOption("beta_1", _float, "Adam first-moment decay", metavar="B"),
    EstimatorOption("beta_2", _float, "Adam second-moment decay", metavar="B"),
    EstimatorOption("epsilon", _float, "Adam/RMSprop denominator epsilon", metavar="EPS"),
    EstimatorOption("max_grad_norm", _float, "clip each gradient to this global norm",
                    metavar="NORM"),
    EstimatorOption("penalty", _penalty, "regulariser: l2, l1, elasticnet or none",
                    metavar="{l2,l1,elasticnet,none}"),
    EstimatorOption("alpha", _float_or_auto, "regularisation strength; auto (the linear "
                    "default) is 1 / (sum of row weights), scikit-learn's C=1", metavar="A|auto"),
    EstimatorOption("l1_ratio", _float, "L1 share of elasticnet", metavar="R"),
    EstimatorOption("fit_intercept", None, "learn an intercept (linear only)", models=("linear",)),
    EstimatorOption("class_weight", _class_weight, "'balanced' or LABEL=WEIGHT pairs: a=2,b=1",
                    metavar="balanced|A=W,..."),
    EstimatorOption("label_smoothing", _float, "label smoothing in [0, 1)", metavar="EPS"),
    EstimatorOption("focal_gamma", _float, "focal-loss exponent (0: cross-entropy)",
                    metavar="G"),
    EstimatorOption("max_iter", _positive_int, "epochs (iterations for lbfgs)", metavar="N"),
    EstimatorOption("tol", _float, "improvement (lbfgs: gradient) tolerance to stop",
                    metavar="TOL"),
    EstimatorOption("n_iter_no_change", _positive_int, "epochs without improvement before stopping",
                    metavar="N"),
    EstimatorOption("early_stopping", None, "stop when the validation metric stops improving "
                    "(needs --validation or --validation-fraction)"),
    EstimatorOption("validation_metric", _choice("log_loss", "accuracy"),
                    "metric for early stopping", metavar="{log_loss,accuracy}"),
    EstimatorOption("restore_best_weights", None, "keep the best validation epoch's weights"),
    EstimatorOption("shuffle", None, "shuffle rows every epoch"),
    EstimatorOption("random_state", _non_negative_int, "seed for initialisation and shuffling",
                    metavar="SEED"),
    EstimatorOption("dtype", _dtype, "precision of the computation", metavar="{float32,float64}"),
    EstimatorOption("checkpoint", str, "save the training state to PATH after every epoch; "
                    "if PATH exists, resume from it (bit-identical), delete it when done",
                    metavar="PATH"),
    EstimatorOption("checkpoint_interval", _float, "also save the checkpoint every S seconds "
                    "inside an epoch", metavar="S"),
    EstimatorOption("hidden_layer_sizes", _layer_sizes, "hidden layer widths, e.g. 64,32 (mlp only)",
                    models=("mlp",), metavar="N,N,..."),
    EstimatorOption("activation", _choice(*ACTIVATIONS), "hidden activation (mlp only)",
                    models=("mlp",), metavar="{" + ",".join(ACTIVATIONS) + "}"),
)

# Options of ``train`` that are not estimator parameters; with the estimator
# options they are the keys a --config file may hold.
_DATA_OPTIONS = {
    "data": "DATA", "target": "--target", "validation": "--validation",
    "validation_fraction": "--validation-fraction",
    "features": "--features", "drop": "--drop", "id": "--id",
    "sample_weight": "--sample-weight", "impute": "--impute", "na_values": "--na-values",
    "dates": "--dates", "standardize": "--standardize", "max_categories": "--max-categories",
    "max_classes": "--max-classes",
    "batch_rows": "--batch-rows", "shuffle_buffer_rows": "--shuffle-buffer-rows",
    "csv_block_bytes": "--csv-block-bytes", "memory_budget": "--memory-budget",
    "calibrate": "--calibrate",
    "model": "--model", "out": "--out", "history": "--history", "plot": "--plot",
    "quiet": "--quiet", "json": "--json",
    "scheduler": "--scheduler",
}


# ----------------------------------------------------------------- parsers
def build_parser() -> argparse.ArgumentParser:
    """The ``xentlearn`` parser with its four subcommands.

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
    _add_cv(commands)
    return parser


def _add_data_reading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-rows", type=_positive_int, metavar="N",
                        help="rows read per record batch (default 65536)")
    parser.add_argument("--csv-block-bytes", type=_bytes, metavar="BYTES",
                        help="bytes of CSV text parsed at a time, such as 64M (default 4M); "
                             "every row must fit in one block, so raise it for rows with "
                             "long text")


def _add_table_options(d, *, command: str) -> None:
    """How columns become features: the same flags for train and cv."""
    d.add_argument("--target", metavar="COL",
                   help="label column" + (" (required with DATA)" if command == "train" else ""))
    d.add_argument("--features", type=_columns, metavar="A,B,...",
                   help="feature columns (default: all but target, weights, --drop and --id)")
    d.add_argument("--drop", nargs="+", action="extend", metavar="COL",
                   help="columns that are not features (identifiers, leaks, free text); "
                        "several names, or A,B")
    d.add_argument("--id", metavar="COL",
                   help="an identifier column: not a feature (predict copies it into "
                        "each prediction row)")
    d.add_argument("--sample-weight", metavar="COL", help="column of non-negative row weights")
    d.add_argument("--na-values", type=_tokens, metavar="'?,NA,-'",
                   help="extra text that means a missing value (besides empty, NA, N/A, NaN, "
                        "null); the model keeps them for predict")
    d.add_argument("--impute", choices=("none", "mean"),
                   help="missing values: none (an error) or mean (numeric mean, "
                        "'<missing>' category)")
    d.add_argument("--dates", choices=("refuse", "expand"),
                   help="date columns: refuse (default: an error naming them) or expand into "
                        "year, month, day of week, day of year")
    d.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                   help="standardise numeric features (default: yes)")
    d.add_argument("--max-categories", type=_positive_int, metavar="N",
                   help="refuse string columns with more distinct values (default 1000)")
    d.add_argument("--max-classes", type=_max_classes, metavar="N",
                   help="most distinct target values (default 1000; a numeric target with "
                        "more than 100 is refused as a regression target unless this is given)")
    d.add_argument("--validation-fraction", type=_fraction, metavar="F",
                   help="hold out this fraction of the rows (a seeded hash of each row: the "
                        "same rows every epoch and run) as validation data"
                        + (" inside each fold" if command == "cv" else ""))
    _add_data_reading(d)
    d.add_argument("--shuffle-buffer-rows", type=_positive_int, metavar="N",
                   help="rows held in the per-epoch shuffle buffer (default 65536)")
    d.add_argument("--memory-budget", type=_bytes, metavar="BYTES",
                   help="memory for the decoded training rows, such as 2G: data that fits is "
                        "decoded once and trained on from memory, larger data streams from "
                        "the files every pass (default a quarter of RAM; 0 always streams)")


def _add_estimator_options(p) -> None:
    m = p.add_argument_group("estimator")
    m.add_argument("--model", type=_choice("linear", "mlp"), metavar="{linear,mlp}",
                   help="LogisticRegression (default) or MLPClassifier")
    for option in ESTIMATOR_OPTIONS:
        if option.convert is None:
            m.add_argument(option.flag, dest=option.param, action=argparse.BooleanOptionalAction,
                           help=option.help)
        else:
            m.add_argument(option.flag, dest=option.param, type=option.convert,
                           metavar=option.metavar, help=option.help)
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
    _add_estimator_options(p)
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


def _add_cv(commands) -> None:
    p = commands.add_parser(
        "cv", help="K-fold cross-validation on CSV/Parquet files",
        description="Split the rows of DATA into K folds (a seeded hash of each row, so any "
                    "number of rows in bounded memory), train on K-1 folds and score the "
                    "held-out one, K times; print the mean and spread of each metric. Takes "
                    "the data and estimator options of train.")
    p.add_argument("data", nargs="+", metavar="DATA", help="CSV or Parquet files or folders")
    p.add_argument("--folds", type=_folds, default=5, metavar="K",
                   help="number of folds (default 5)")
    d = p.add_argument_group("data")
    _add_table_options(d, command="cv")
    _add_estimator_options(p)
    o = p.add_argument_group("output")
    o.add_argument("--threshold", type=_fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T")
    o.add_argument("--json", action=argparse.BooleanOptionalAction,
                   help="print the results as JSON on stdout")
    o.add_argument("--quiet", action=argparse.BooleanOptionalAction,
                   help="no line per fold")


def _add_predict(commands) -> None:
    p = commands.add_parser(
        "predict", help="write predictions for CSV/Parquet files",
        description="Predict one row per input row, in order: a column 'prediction' and, "
                    "with --proba, one column proba_<class> per class.")
    p.add_argument("model", type=Path, metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--out", metavar="FILE",
                   help="output .csv, .csv.gz, .parquet or .pq (default: CSV on stdout)")
    p.add_argument("--proba", action="store_true", help="add the class probabilities")
    p.add_argument("--id", metavar="COL",
                   help="copy this column (e.g. a customer id) into each prediction row, first")
    p.add_argument("--threshold", type=_fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T "
                        "(default: the model's 0.5)")
    p.add_argument("--na-values", type=_tokens, metavar="'?,NA,-'",
                   help="extra missing-value tokens (those given at training always apply)")
    _add_data_reading(p)


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate", help="log-loss, accuracy, calibration, AUCs, per-class metrics, "
                         "confusion matrix",
        description="Score a model on labelled files.")
    p.add_argument("model", type=Path, metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--target", metavar="COL",
                   help="label column (default: the one the model was trained on)")
    p.add_argument("--threshold", type=_fraction, metavar="T",
                   help="binary models: predict the second class when its probability >= T")
    p.add_argument("--na-values", type=_tokens, metavar="'?,NA,-'",
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
    p.add_argument("model", type=Path, metavar="MODEL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=_positive_int, default=20, metavar="N",
                   help="coefficients shown (default 20; --json lists all)")


# ----------------------------------------------------------------- config file
def config_keys() -> dict[str, str]:
    """Config key -> the flag it stands for."""
    keys = dict(_DATA_OPTIONS)
    keys.update({o.param: o.flag for o in ESTIMATOR_OPTIONS})
    return keys


def read_config(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Values of a ``train --config`` TOML file, converted as their flags would be.

    Keys are option names with ``_`` or ``-`` (``max_iter`` or ``max-iter``);
    a ``[train]`` table may hold them instead of the top level. Values are TOML
    types: ``max_iter = 50``, ``hidden_layer_sizes = [64, 32]``,
    ``class_weight = {a = 2, b = 1}``, ``early_stopping = true``,
    ``data = ["train.csv"]``. Relative paths are relative to the config file.
    """
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as error:
        # TOML is UTF-8 by definition; tomllib's own message names neither file nor line.
        raise UsageError(f"config file {str(path)!r} is not UTF-8 text "
                         f"({_bad_byte(error)}); re-save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"cannot read config file {str(path)!r}: {error}") from None
    if isinstance(table.get("train"), dict):
        table = table["train"]
    known = config_keys()
    actions = {a.dest: a for a in parser._actions}
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in known:
            raise UsageError(
                f"config file {str(path)!r}: unknown key {raw_key!r}; keys are the train "
                f"options: {', '.join(sorted(known))}")
        where = f"config file {str(path)!r}, key {raw_key!r}"
        values[key] = _config_value(key, value, actions[key], where, path.parent)
    return values


def _bad_byte(error: UnicodeDecodeError) -> str:
    """Where decoding failed: 'byte 0xe9 at offset 12, line 2'."""
    data = error.object
    line = data.count(b"\n", 0, error.start) + 1
    return f"byte 0x{data[error.start]:02x} at offset {error.start}, line {line}"


def _config_value(key: str, value: Any, action: argparse.Action, where: str, base: Path) -> Any:
    if key in ("data", "validation"):
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) for v in items):
            raise UsageError(f"{where}: expected a path or a list of paths")
        return [str(base / v) for v in items]
    if key in ("out", "history", "plot", "checkpoint"):
        if not isinstance(value, str):
            raise UsageError(f"{where}: expected a path (a string)")
        return base / value
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false")
        return value
    if key == "class_weight" and isinstance(value, dict):
        text = ",".join(f"{k}={v}" for k, v in value.items())
    elif key in ("hidden_layer_sizes", "features", "na_values", "drop") \
            and isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{where}: expected {action.metavar or 'a string or number'}, "
                         f"got {value!r}")
    else:
        text = str(value)
    if key == "drop":
        return [text]          # split on commas with the command line's --drop
    if action.type is None:
        if action.choices is not None and text not in action.choices:
            raise UsageError(f"{where}: expected one of {', '.join(action.choices)}, got {text!r}")
        return text
    try:
        return action.type(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{where}: {error}") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; for ``train``, values of ``--config`` fill what the flags leave unset."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        raise UsageError("xentlearn: a command is required: train, predict, evaluate or info "
                         "(see xentlearn --help)")
    if args.command == "train" and args.config is not None:
        config = read_config(args.config, parser.train_parser)
        for key, value in config.items():
            current = getattr(args, key, None)
            # A flag given on the command line wins; argparse leaves the rest None
            # (nargs="*" DATA gives [] when absent).
            if current is None or (key == "data" and current == []):
                setattr(args, key, value)
    if getattr(args, "drop", None) is not None:
        args.drop = [c.strip() for item in args.drop for c in item.split(",") if c.strip()]
    return args
