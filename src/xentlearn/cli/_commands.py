"""The four commands: train, predict, evaluate, info.

Each takes the parsed arguments and a text stream for its report, and raises
``UsageError`` or a ``ValueError`` for bad usage or input; ``main`` turns
those into one line on stderr and exit status 2. Only public ``xentlearn``
names are used here (``xentlearn.LogisticRegression``, ``MLPClassifier``,
``load``, ``xentlearn.data``, ``xentlearn.exceptions``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import xentlearn
from xentlearn.cli import _report
from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError
from xentlearn.cli._outputs import StagedOutputs, naming
from xentlearn.data import TableFiles, list_data_files, scan_target
from xentlearn.exceptions import XentlearnInputError

DEFAULT_MODEL = Path("model.xent")
DIGITS_TARGET = "digit"
PREDICTION_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


# ================================================================= train
def train(args, out: TextIO) -> None:
    """Fit a model on files (or the bundled digits), save it, its history, and report."""
    model_path = args.out or DEFAULT_MODEL
    _check_writable_file(model_path, "--out")
    history_path = args.history or _report.default_history_path(model_path)
    _check_writable_file(history_path, "--history")
    if args.plot is not None:
        _check_writable_file(args.plot, "--plot")
        _report.check_plot_path(args.plot)
    _check_distinct({"--out": model_path, "--history": history_path, "--plot": args.plot})
    quiet = bool(args.quiet)

    if not args.data:
        for name in ("target", "validation", "features", "sample_weight"):
            if getattr(args, name) is not None and not (name == "target"
                                                        and args.target == DIGITS_TARGET):
                raise UsageError(
                    f"train: --{name.replace('_', '-')} needs DATA; without DATA, train uses "
                    "the bundled digits")
        data, validation = _write_digits(model_path, out if not quiet else None)
        target = DIGITS_TARGET
    else:
        if args.target is None:
            raise UsageError("train: --target COL is required with DATA (the label column)")
        data, validation, target = args.data, args.validation, args.target

    if args.early_stopping and not validation:
        # The estimator's own message speaks Python (validation_data=TableFiles(...)).
        raise UsageError("train: --early-stopping needs held-out files: --validation DATA")
    table_options = _table_options(args)
    train_table = TableFiles(_one_or_many(data), target=target, features=args.features,
                             sample_weight=args.sample_weight, **table_options)
    validation_table = None if not validation else TableFiles(
        _one_or_many(validation), target=target, sample_weight=args.sample_weight,
        **table_options)
    estimator = _make_estimator(args, train_table, verbose=not quiet)

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        estimator.fit(train_table, validation_data=validation_table)
    seconds = time.perf_counter() - start
    _print_warnings(caught)

    # Nothing of the user's is replaced unless every output could be written:
    # a full disk while writing the history leaves the old model in place.
    with StagedOutputs() as outputs:
        with outputs.writing(model_path) as tmp:
            estimator.save(tmp)
        with outputs.writing(history_path) as tmp:
            _report.write_history(estimator.history_, tmp)
        if args.plot is not None:
            with outputs.writing(args.plot) as tmp:
                _report.plot_history(estimator.history_, tmp, file_format=args.plot.suffix[1:],
                                     title=f"{type(estimator).__name__} on {_describe(data)}")

    if not quiet:
        scores = [("train", _score(estimator, train_table))]
        if validation_table is not None:
            scores.append(("validation", _score(estimator, validation_table)))
        name, detail = scores[-1]
        print(f"\n{type(estimator).__name__}: {len(estimator.classes_)} classes, "
              f"{estimator.n_features_in_} features, {estimator.n_iter_} epochs in "
              f"{seconds:.1f} s\n", file=out)
        print(_report.summary_table(scores), file=out)
        print("\n" + _report.metrics_report(detail, name) + "\n", file=out)
    print(f"model:   {model_path}", file=out)
    print(f"history: {history_path}", file=out)
    if args.plot is not None:
        print(f"plot:    {args.plot}", file=out)
    if not args.data and not quiet:
        print(f"\nNext: xentlearn evaluate {_quote(model_path)} {_quote(validation[0])} "
              f"--target {DIGITS_TARGET}", file=out)


def _make_estimator(args, table: TableFiles, *, verbose: bool):
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
                          csv_block_bytes=table.csv_block_bytes)
    by_text = {str(c.item() if isinstance(c, np.generic) else c): c for c in classes}
    unknown = [k for k in weights if k not in by_text]
    if unknown:
        raise UsageError(
            f"train: --class-weight names {unknown[0]!r}, which is not a label of column "
            f"{table.target!r}; labels are {', '.join(by_text)}")
    return {by_text[k]: w for k, w in weights.items()}


def _table_options(args) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.standardize is not None:
        options["standardize"] = args.standardize
    if args.impute is not None:
        options["impute"] = None if args.impute == "none" else args.impute
    for name in ("max_categories", "batch_rows", "shuffle_buffer_rows", "csv_block_bytes"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def _write_digits(model_path: Path, out: TextIO | None) -> tuple[list[str], list[str]]:
    """Write scikit-learn's digits as train/validation CSV files next to the model.

    Training then goes through the same streamed-file path as a user's data,
    so the first command of the README exercises the real thing.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.int64)   # 0..16 grey levels: integers read back exactly
    rows = np.arange(len(y))
    train_rows, valid_rows = train_test_split(rows, test_size=0.25, stratify=y, random_state=0)
    folder = model_path.with_name(model_path.stem + "-digits")
    folder.mkdir(exist_ok=True)
    paths = {"train": folder / "train.csv", "valid": folder / "valid.csv"}
    for name, index in (("train", np.sort(train_rows)), ("valid", np.sort(valid_rows))):
        columns = {f"pixel_{j}": X[index, j] for j in range(X.shape[1])}
        columns[DIGITS_TARGET] = y[index]
        pa_csv.write_csv(pa.table(columns), paths[name])
    if out is not None:
        print(f"No DATA given: training on scikit-learn's digits (8x8 images, 10 classes), "
              f"written to {paths['train']} ({len(train_rows)} rows) and {paths['valid']} "
              f"({len(valid_rows)} rows), target column {DIGITS_TARGET!r}.\n", file=out)
    return [str(paths["train"])], [str(paths["valid"])]


def _score(estimator, table: TableFiles) -> _report.Metrics:
    return _report.score_batches(estimator.iter_predictions(table, proba=True),
                                 estimator.classes_, target=table.target)


# ================================================================= predict
def predict(args, out: TextIO) -> None:
    """Stream predictions for DATA into a CSV or Parquet file (or CSV on stdout)."""
    import pyarrow as pa

    to_stdout = args.out in (None, "-")
    out_path = None if to_stdout else Path(args.out)
    if out_path is not None:
        file_format = _prediction_format(out_path)
        _check_writable_file(out_path, "--out")
    else:
        file_format = "csv"
    estimator = _load_file_model(args.model)
    table = TableFiles(_one_or_many(args.data), **_reading_options(args))
    classes = estimator.classes_
    float_type = pa.from_numpy_dtype(np.dtype(estimator.get_params()["dtype"]))
    fields = [pa.field("prediction", pa.array(classes).type)]
    if args.proba:
        fields += [pa.field(f"proba_{_plain(c)}", float_type) for c in classes]
    schema = pa.schema(fields)

    n_rows = 0
    with _PredictionWriter(out_path, file_format, schema) as writer:
        for labels, proba, _ in estimator.iter_predictions(table, proba=args.proba):
            columns = [pa.array(labels, type=schema.field(0).type)]
            if args.proba:
                columns += [pa.array(proba[:, j], type=float_type) for j in range(len(classes))]
            writer.write(pa.record_batch(columns, schema=schema))
            n_rows += len(labels)
    if out_path is not None:
        print(f"wrote {n_rows} predictions to {out_path}", file=out)


def _prediction_format(path: Path) -> str:
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".gz" and not suffixes.endswith(".csv.gz"):
        raise UsageError(f"predict: --out {str(path)!r}: only .csv.gz is supported compressed")
    fmt = PREDICTION_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"predict: --out {str(path)!r}: expected a .csv, .csv.gz, .parquet "
                         "or .pq file")
    return fmt


class _PredictionWriter:
    """CSV/Parquet writer that replaces `path` only once every row is written.

    Writing to a temporary file in the same folder and renaming it at the end
    means an error half-way (a bad row in the 10th file, a full disk) never
    leaves a truncated predictions file that looks complete, nor a
    temporary. The sink opens on the first batch, so an error in the first
    batch (a missing column) writes nothing, not even a CSV header on stdout.
    """

    def __init__(self, path: Path | None, file_format: str, schema) -> None:
        self.path, self.format, self.schema = path, file_format, schema
        self.writer = self.sink = None
        self.outputs = StagedOutputs()

    def __enter__(self):
        return self

    def _open(self) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        if self.path is None:
            self.sink = sys.stdout.buffer
        else:
            tmp = self.outputs.temporary(self.path)
            self.sink = (pa.CompressedOutputStream(str(tmp), "gzip")
                         if self.path.suffix.lower() == ".gz" else pa.OSFile(str(tmp), "wb"))
        if self.format == "parquet":
            self.writer = pq.ParquetWriter(self.sink, self.schema)
        else:
            self.writer = pa_csv.CSVWriter(self.sink, self.schema)

    def write(self, batch) -> None:
        with self._naming():
            if self.writer is None:
                self._open()
            self.writer.write(batch) if self.format == "csv" else self.writer.write_batch(batch)

    def _naming(self):
        # Write errors on stdout (a closed pipe) keep their own type for main.
        return contextlib.nullcontext() if self.path is None else naming(self.path)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            # Already failing: close quietly, remove the temporary, and let
            # the first error be the one reported.
            for closable in (self.writer, None if self.path is None else self.sink):
                with contextlib.suppress(Exception):
                    if closable is not None:
                        closable.close()
            if self.path is None and self.writer is not None:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
            self.outputs.discard()
            return
        try:
            with self._naming():
                if self.writer is None:
                    self._open()        # no rows: still write the header / the schema
                self.writer.close()
                if self.path is None:
                    sys.stdout.flush()
                else:
                    self.sink.close()
        except BaseException:
            if self.path is not None:
                with contextlib.suppress(Exception):
                    self.sink.close()
            self.outputs.discard()
            raise
        self.outputs.commit()


# ================================================================= evaluate
def evaluate(args, out: TextIO) -> None:
    """Log-loss, accuracy, per-class metrics and the confusion matrix on labelled files."""
    estimator = _load_file_model(args.model)
    args.target = args.target or getattr(estimator, "target_column_", None)
    if args.target is None:
        raise UsageError("evaluate: --target COL is required (the label column)")
    if args.target in (getattr(estimator, "feature_columns_", None) or ()):
        # TableFiles would read the column twice (a pyarrow KeyError), and a
        # model scored on one of its own inputs is a mistake anyway.
        raise UsageError(f"evaluate: --target {args.target!r} is one of the model's feature "
                         "columns; give the label column")
    table = TableFiles(_one_or_many(args.data), target=args.target, **_reading_options(args))
    metrics = _score(estimator, table)
    print(f"{args.model} ({type(estimator).__name__}, {len(estimator.classes_)} classes) "
          f"on {_describe(args.data)}\n", file=out)
    print(_report.summary_table([("data", metrics)]), file=out)
    print("\n" + _report.metrics_report(metrics, "data"), file=out)


# ================================================================= info
def info(args, out: TextIO) -> None:
    """What a model file holds: estimator, classes, features, parameters, training."""
    estimator = xentlearn.load(args.model)
    description = _describe_model(estimator)
    if args.json:
        print(json.dumps(description, indent=2, default=_plain), file=out)
        return
    d = description
    print(f"{args.model}: {d['estimator']}, {len(d['classes'])} classes, "
          f"{d['n_features_in']} inputs", file=out)
    print(f"classes: {', '.join(str(c) for c in d['classes'])}", file=out)
    if d["features"] is not None:
        print(f"\nfeatures ({len(d['features'])} columns; standardize="
              f"{d['standardize']}, impute={d['impute']}):", file=out)
        rows = []
        for column in d["features"]:
            if column["kind"] == "categorical":
                detail = (f"{len(column['categories'])} categories: "
                          f"{_report._short_list(column['categories'], limit=6)}")
            else:
                detail = f"mean {column['mean']:.6g}, std {column['std']:.6g}"
            rows.append((column["name"], column["kind"], detail))
        print(_report.format_table(["column", "kind", "preprocessing"], rows, align="lll"),
              file=out)
    else:
        print("features: trained on arrays (no column preprocessing stored)", file=out)
    print(f"\nparameters ({d['n_parameters']} numbers, {d['params']['dtype']}):", file=out)
    for name, shape in d["parameter_shapes"].items():
        print(f"  {name} {tuple(shape)}", file=out)
    print("\nhyperparameters:", file=out)
    for key, value in d["params"].items():
        print(f"  {key} = {value!r}", file=out)
    t = d["training"]
    print(f"\ntraining: {t['epochs']} epochs in {t['seconds']:.2f} s", file=out)
    if t["epochs"]:
        print(f"  final train loss {t['final_train_loss']:.4f}", file=out)
        if t["final_val_loss"] is not None:
            print(f"  final validation loss {t['final_val_loss']:.4f}, accuracy "
                  f"{t['final_val_accuracy']:.4f}", file=out)
            print(f"  best validation loss {t['best_val_loss']:.4f} at epoch "
                  f"{t['best_val_epoch']}", file=out)


def _describe_model(estimator) -> dict[str, Any]:
    params = estimator.get_params()
    params["dtype"] = np.dtype(params["dtype"]).name
    params.pop("callbacks", None)
    params.pop("verbose", None)
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = {str(_plain(k)): v for k, v in params["class_weight"].items()}
    if hasattr(estimator, "coefs_"):
        shapes = {f"coefs_[{i}]": w.shape for i, w in enumerate(estimator.coefs_)}
        shapes.update({f"intercepts_[{i}]": b.shape for i, b in enumerate(estimator.intercepts_)})
    else:
        shapes = {"coef_": estimator.coef_.shape, "intercept_": estimator.intercept_.shape}
    preprocessing = getattr(estimator, "preprocessing_", None)
    history = estimator.history_
    val = [(r["val_loss"], r["epoch"]) for r in history if r.get("val_loss") is not None]
    last = history[-1] if history else {}
    return {
        "estimator": type(estimator).__name__,
        "classes": [_plain(c) for c in estimator.classes_],
        "n_features_in": int(estimator.n_features_in_),
        "features": None if preprocessing is None else preprocessing["columns"],
        "standardize": None if preprocessing is None else preprocessing["standardize"],
        "impute": None if preprocessing is None else preprocessing["impute"],
        "parameter_shapes": {k: list(v) for k, v in shapes.items()},
        "n_parameters": int(sum(np.prod(s) for s in shapes.values())),
        "params": params,
        "training": {
            "epochs": int(estimator.n_iter_),
            "seconds": float(sum(r.get("seconds") or 0.0 for r in history)),
            "final_train_loss": last.get("train_loss"),
            "final_val_loss": last.get("val_loss"),
            "final_val_accuracy": last.get("val_accuracy"),
            "best_val_loss": min(val)[0] if val else None,
            "best_val_epoch": min(val)[1] if val else None,
        },
    }


# ================================================================= helpers
def _load_file_model(path: Path):
    """A model that can read tables: trained on files, so it knows its feature columns."""
    estimator = xentlearn.load(path)
    if getattr(estimator, "feature_columns_", None) is None:
        raise UsageError(
            f"{str(path)!r} was trained in Python on arrays, so it has no column "
            "preprocessing; the command line applies models trained on files "
            "(xentlearn train, or fit(TableFiles(...)))")
    return estimator


def _reading_options(args) -> dict[str, Any]:
    """TableFiles options of predict and evaluate."""
    options: dict[str, Any] = {"batch_rows": args.batch_rows or 65536}
    if args.csv_block_bytes is not None:
        options["csv_block_bytes"] = args.csv_block_bytes
    return options


def _check_distinct(paths: dict[str, Path | None]) -> None:
    """Refuse two outputs with one name: the second would silently replace the first."""
    seen: dict[Path, str] = {}
    for flag, path in paths.items():
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        if key in seen:
            raise UsageError(f"train: {seen[key]} and {flag} name the same file "
                             f"{str(path)!r}; give them different names")
        seen[key] = flag


def _check_writable_file(path: Path, flag: str) -> None:
    """Refuse early (before minutes of training) an output path that cannot be written."""
    if path.is_dir():
        raise XentlearnInputError(f"{flag} {str(path)!r} is a folder; expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise XentlearnInputError(f"{flag} {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise XentlearnInputError(f"{flag} {str(path)!r}: folder {str(parent)!r} is not writable")


def _print_warnings(caught) -> None:
    seen = set()
    for w in caught:
        message = " ".join(str(w.message).split())
        if message not in seen:
            seen.add(message)
            print(f"xentlearn: warning: {message}", file=sys.stderr)


def _one_or_many(paths):
    return paths[0] if len(paths) == 1 else list(paths)


def _describe(paths) -> str:
    return ", ".join(str(p) for p in paths[:3]) + (f" (+{len(paths) - 3} more)"
                                                   if len(paths) > 3 else "")


def _quote(path) -> str:
    import shlex

    return shlex.quote(str(path))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
