"""The five commands: train, predict, evaluate, info, cv.

Each takes the parsed arguments and a text stream for its report, and raises
``UsageError`` or a ``ValueError`` for bad usage or input; ``main`` turns
those into one line on stderr and exit status 2. Only public ``xentlearn``
names are used here (``xentlearn.LogisticRegression``, ``MLPClassifier``,
``load``, ``xentlearn.data``, ``xentlearn.exceptions``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import xentlearn
from xentlearn.cli import _report
from xentlearn.cli._metrics import METRIC_KEYS, metrics_json, score_batches
from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError
from xentlearn.cli._outputs import StagedOutputs, naming
from xentlearn.data import RowSplit, TableFiles, list_data_files, scan_target
from xentlearn.exceptions import XentlearnInputError

DEFAULT_MODEL = Path("model.xent")
DIGITS_TARGET = "digit"
PREDICTION_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Cross-validation folds hash rows with --random-state mixed with this, so the
# folds are independent of a --validation-fraction split inside them.
_CV_SALT = 0xC5_F01D


# ================================================================= train
def train(args, out: TextIO) -> None:
    """Fit a model on files (or the bundled digits), save it, its history, and report.

    With ``--json`` the report goes to `out` as one JSON object and every
    other line (the digits notice) to stderr.
    """
    model_path = args.out or DEFAULT_MODEL
    _check_writable_file(model_path, "--out")
    history_path = args.history or _report.default_history_path(model_path)
    _check_writable_file(history_path, "--history")
    if args.plot is not None:
        _check_writable_file(args.plot, "--plot")
        _report.check_plot_path(args.plot)
    _check_distinct({"--out": model_path, "--history": history_path, "--plot": args.plot})
    quiet = bool(args.quiet)
    text = sys.stderr if args.json else out

    if not args.data:
        for name in ("target", "validation", "features", "sample_weight", "drop", "id",
                     "validation_fraction"):
            if getattr(args, name) is not None and not (name == "target"
                                                        and args.target == DIGITS_TARGET):
                raise UsageError(
                    f"train: --{name.replace('_', '-')} needs DATA; without DATA, train uses "
                    "the bundled digits")
        data, validation = _write_digits(model_path, text if not quiet else None)
        target = DIGITS_TARGET
    else:
        if args.target is None:
            raise UsageError("train: --target COL is required with DATA (the label column)")
        data, validation, target = args.data, args.validation, args.target
    _check_validation(args, validation, "train")

    table_options = _table_options(args)
    train_table = TableFiles(_one_or_many(data), target=target, features=args.features,
                             sample_weight=args.sample_weight,
                             validation_fraction=args.validation_fraction, **table_options)
    validation_table = None if not validation else TableFiles(
        _one_or_many(validation), target=target, sample_weight=args.sample_weight,
        **table_options)
    estimator = _make_estimator(args, train_table, verbose=not quiet)

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, \
            _dask_client(getattr(args, "scheduler", None)):
        warnings.simplefilter("default")
        estimator.fit(train_table, validation_data=validation_table)
    seconds = time.perf_counter() - start
    _print_warnings(caught, args)

    # The rows scored: with --validation-fraction, the two sides of the split.
    if args.validation_fraction is not None:
        train_rows, validation_rows = train_table.split_validation()
    else:
        train_rows, validation_rows = train_table, validation_table
    scores: list[tuple[str, _report.Metrics]] = []
    if not quiet or args.json:
        scores.append(("train", _score(estimator, train_rows)))
    if validation_rows is not None and (not quiet or args.json or args.plot is not None):
        scores.append(("validation", _score(estimator, validation_rows)))
    if args.plot is not None and not scores:
        scores.append(("train", _score(estimator, train_rows)))

    # Nothing of the user's is replaced unless every output could be written:
    # a full disk while writing the history leaves the old model in place.
    with StagedOutputs() as outputs:
        with outputs.writing(model_path) as tmp:
            estimator.save(tmp)
        with outputs.writing(history_path) as tmp:
            _report.write_history(estimator.history_, tmp)
        if args.plot is not None:
            name, shown = scores[-1]
            with outputs.writing(args.plot) as tmp:
                _report.plot_history(
                    estimator.history_, tmp, file_format=args.plot.suffix[1:],
                    title=f"{type(estimator).__name__} on {_describe(data)}",
                    reliability=shown, reliability_name=name,
                    restored_epoch=_restored_epoch(estimator),
                    final_accuracy={n: m.accuracy for n, m in scores})

    if args.json:
        report = {
            "estimator": type(estimator).__name__,
            "classes": [_plain(c) for c in estimator.classes_],
            "n_features": int(estimator.n_features_in_),
            "epochs": int(estimator.n_iter_), "seconds": seconds,
            "restored_epoch": _restored_epoch(estimator),
            "temperature": _temperature(estimator),
            "model": str(model_path), "history": str(history_path),
            "plot": None if args.plot is None else str(args.plot),
            "train": None, "validation": None}
        report.update({name: metrics_json(m) for name, m in scores})
        print(json.dumps(report, indent=2), file=out)
        return
    if not quiet:
        name, detail = scores[-1]
        print(f"\n{type(estimator).__name__}: {len(estimator.classes_)} classes, "
              f"{estimator.n_features_in_} features, {estimator.n_iter_} epochs in "
              f"{seconds:.1f} s" + _restored_note(estimator) + "\n", file=out)
        print(_report.summary_table(scores), file=out)
        print("\n" + _report.metrics_report(detail, name) + "\n", file=out)
    print(f"model:   {model_path}", file=out)
    print(f"history: {history_path}", file=out)
    if args.plot is not None:
        print(f"plot:    {args.plot}", file=out)
    if not args.data and not quiet:
        print(f"\nNext: xentlearn evaluate {_quote(model_path)} {_quote(validation[0])} "
              f"--target {DIGITS_TARGET}", file=out)


# How long ``--scheduler`` waits to connect (distributed's timeout syntax).
SCHEDULER_TIMEOUT = "30s"


@contextlib.contextmanager
def _dask_client(address: str | None):
    """A ``distributed.Client`` connected to `address` for the fit, closed after; nothing
    (and no import of dask) without an address.

    While the client is current, the estimator's fit on TableFiles runs on its
    workers (``xentlearn.data.TableFiles`` on a cluster: each worker reads and
    keeps its run of files; only parameters and sums travel).
    """
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--scheduler needs the Dask extra: pip install 'xentlearn[dask]'") from None
    try:
        client = distributed.Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    with client:
        yield client


def _check_validation(args, validation, command: str) -> None:
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


def _restored_epoch(estimator) -> int | None:
    """The epoch whose weights early stopping restored, or None."""
    params = estimator.get_params()
    if not (params.get("early_stopping") and params.get("restore_best_weights")):
        return None
    best = _report.best_epoch(estimator.history_, params.get("validation_metric", "log_loss"))
    return None if best is None or best == estimator.n_iter_ else best


def _restored_note(estimator) -> str:
    epoch = _restored_epoch(estimator)
    note = "" if epoch is None else f"; weights of the best epoch, {epoch}, restored"
    temperature = _temperature(estimator)
    if temperature is not None:
        note += f"; probabilities calibrated with temperature {temperature:.3g}"
    return note


def _temperature(estimator) -> float | None:
    value = getattr(estimator, "temperature_", None)
    return None if value is None else float(value)


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
    by_text = {str(c.item() if isinstance(c, np.generic) else c): c for c in classes}
    unknown = [k for k in weights if k not in by_text]
    if unknown:
        raise UsageError(
            f"train: --class-weight names {unknown[0]!r}, which is not a label of column "
            f"{table.target!r}; labels are {', '.join(by_text)}")
    return {by_text[k]: w for k, w in weights.items()}


def _table_options(args) -> dict[str, Any]:
    """TableFiles options of train and cv (all but path, target, features, weights)."""
    options: dict[str, Any] = {}
    if args.standardize is not None:
        options["standardize"] = args.standardize
    if args.impute is not None:
        options["impute"] = None if args.impute == "none" else args.impute
    for name in ("max_categories", "batch_rows", "shuffle_buffer_rows", "csv_block_bytes",
                 "memory_budget", "dates", "max_classes", "na_values"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    # An --id column is never a feature.
    drop = list(args.drop or []) + ([args.id] if args.id is not None else [])
    if drop:
        options["drop"] = list(dict.fromkeys(drop))
    options["split_seed"] = args.random_state or 0
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


def _score(estimator, table: TableFiles, threshold: float | None = None) -> _report.Metrics:
    return score_batches(estimator.iter_predictions(table, proba=True), estimator.classes_,
                         target=table.target, threshold=threshold)


# ================================================================= predict
def predict(args, out: TextIO) -> None:
    """Stream predictions for DATA into a CSV or Parquet file (or CSV on stdout).

    Columns: the ``--id`` column (as it is in DATA) if given, ``prediction``,
    and with ``--proba`` one ``proba_<class>`` per class.
    """
    import pyarrow as pa

    to_stdout = args.out in (None, "-")
    out_path = None if to_stdout else Path(args.out)
    if out_path is not None:
        file_format = _prediction_format(out_path)
        _check_writable_file(out_path, "--out")
    else:
        file_format = "csv"
    estimator = _load_file_model(args.model)
    _check_threshold(estimator, args.threshold, "predict")
    table = TableFiles(_one_or_many(args.data), **_reading_options(args))
    classes = estimator.classes_
    float_type = pa.from_numpy_dtype(np.dtype(estimator.get_params()["dtype"]))
    fields = [pa.field("prediction", pa.array(classes).type)]
    if args.proba:
        fields += [pa.field(f"proba_{_plain(c)}", float_type) for c in classes]
    ids = None
    if args.id is not None:
        columns = table.schema()
        if args.id not in columns.names:
            raise XentlearnInputError(
                f"--id column {args.id!r} is not in {str(table.files()[0])!r}; it has "
                f"{', '.join(columns.names)}")
        id_type = columns.field(args.id).type
        if pa.types.is_null(id_type):       # empty in the first CSV block
            id_type = pa.string()
        if args.id in [f.name for f in fields]:
            raise UsageError(f"predict: --id {args.id!r} clashes with an output column name")
        fields.insert(0, pa.field(args.id, id_type))
        ids = _RowAligned(table.iter_column(args.id), id_type, args.id)
    schema = pa.schema(fields)
    label_type = schema.field("prediction").type

    n_rows = 0
    with _PredictionWriter(out_path, file_format, schema) as writer:
        for labels, proba, _ in estimator.iter_predictions(
                table, proba=args.proba or args.threshold is not None):
            if args.threshold is not None:
                labels = classes[(proba[:, 1] >= args.threshold).astype(np.intp)]
            columns = [] if ids is None else [ids.take(len(labels))]
            columns.append(pa.array(labels, type=label_type))
            if args.proba:
                columns += [pa.array(proba[:, j], type=float_type) for j in range(len(classes))]
            writer.write(pa.record_batch(columns, schema=schema))
            n_rows += len(labels)
    if out_path is not None:
        print(f"wrote {n_rows} predictions to {out_path}", file=out)


class _RowAligned:
    """The values of one column, handed out n rows at a time whatever its batch sizes.

    The id column is read in its own stream (``TableFiles.iter_column``); its
    record batches need not match the prediction batches, so rows are queued
    and cut to the sizes asked for.
    """

    def __init__(self, chunks, arrow_type, name: str) -> None:
        self.chunks, self.type, self.name = iter(chunks), arrow_type, name
        self.pending: list = []
        self.n_pending = 0

    def take(self, n: int):
        import pyarrow as pa

        while self.n_pending < n:
            chunk = next(self.chunks, None)
            if chunk is None:   # cannot happen with the same files: a bug if it does
                raise RuntimeError(f"column {self.name!r} ended before the predictions")
            try:
                chunk = chunk.cast(self.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise XentlearnInputError(
                    f"--id column {self.name!r} holds {chunk.type} values that are not "
                    f"{self.type} as in the first file; expected one type in every file"
                ) from None
            self.pending.append(chunk)
            self.n_pending += len(chunk)
        joined = pa.concat_arrays(self.pending) if len(self.pending) > 1 else self.pending[0]
        head, rest = joined.slice(0, n), joined.slice(n)
        self.pending, self.n_pending = ([rest] if len(rest) else []), len(rest)
        return head


def _check_threshold(estimator, threshold, command: str) -> None:
    if threshold is not None and len(estimator.classes_) != 2:
        raise UsageError(f"{command}: --threshold applies to binary models; this one has "
                         f"{len(estimator.classes_)} classes")


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
    """Log-loss, accuracy, calibration, AUCs, per-class metrics and the confusion matrix."""
    estimator = _load_file_model(args.model)
    _check_threshold(estimator, args.threshold, "evaluate")
    args.target = args.target or getattr(estimator, "target_column_", None)
    if args.target is None:
        raise UsageError("evaluate: --target COL is required (the label column)")
    if args.target in (getattr(estimator, "feature_columns_", None) or ()):
        # TableFiles would read the column twice (a pyarrow KeyError), and a
        # model scored on one of its own inputs is a mistake anyway.
        raise UsageError(f"evaluate: --target {args.target!r} is one of the model's feature "
                         "columns; give the label column")
    table = TableFiles(_one_or_many(args.data), target=args.target, **_reading_options(args))
    metrics = _score(estimator, table, args.threshold)
    if args.json:
        report = {"model": str(args.model), "estimator": type(estimator).__name__,
                  "data": [str(d) for d in args.data], "target": args.target}
        report.update(metrics_json(metrics))
        print(json.dumps(report, indent=2), file=out)
        return
    print(f"{args.model} ({type(estimator).__name__}, {len(estimator.classes_)} classes) "
          f"on {_describe(args.data)}\n", file=out)
    print(_report.summary_table([("data", metrics)]), file=out)
    print("\n" + _report.metrics_report(metrics, "data"), file=out)


# ================================================================= info
def info(args, out: TextIO) -> None:
    """What a model file holds: estimator, classes, preprocessing in words, coefficients by
    feature name (linear models, largest |coef| first), parameters, training."""
    description = xentlearn.describe(args.model)
    if args.json:
        print(json.dumps(description, indent=2, default=_plain), file=out)
        return
    d = description
    print(f"{args.model}: {d['estimator']}, {len(d['classes'])} classes, "
          f"{d['n_features_in']} inputs", file=out)
    print(f"classes: {', '.join(str(c) for c in d['classes'])}", file=out)
    if d["features"] is not None:
        missing = ("missing values are an error" if d["impute"] is None else
                   "missing values imputed (numbers: the mean; text: a '<missing>' category)")
        tokens = d["na_values"]
        print(f"\npreprocessing of {len(d['features'])} columns ({missing}"
              + (f"; also missing: {', '.join(map(repr, tokens))}" if tokens else "")
              + "):", file=out)
        rows = [(c["name"], c["kind"], c["description"]) for c in d["features"]]
        print(_report.format_table(["column", "kind", "preprocessing"], rows, align="lll"),
              file=out)
    else:
        print("features: trained on arrays (no column preprocessing stored)", file=out)
    if d["coefficients"] is not None:
        _print_coefficients(d, args.top, out)
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
    if t["temperature"] is not None:
        print(f"  calibrated: probabilities are softmax(logits / {t['temperature']:.4g})",
              file=out)


def _print_coefficients(d: dict, top: int, out: TextIO) -> None:
    coefficients = d["coefficients"]
    scale = (" (per standard deviation of each standardised column; one-hot and boolean "
             "features per unit)" if d["standardize"] else "")
    shown = coefficients[:top]
    more = f", the {len(shown)} largest of {len(coefficients)}" if len(coefficients) > top else ""
    print(f"\ncoefficients by feature, largest |coef| first{more}{scale}:", file=out)
    if isinstance(shown[0]["coef"], dict):
        classes = list(shown[0]["coef"])
        rows = [(c["feature"], *c["coef"].values()) for c in shown]
        print(_report.format_table(["feature", *classes], rows), file=out)
    else:
        rows = [(c["feature"], c["coef"]) for c in shown]
        print(_report.format_table(["feature", f"coef ({d['positive_class']})"], rows),
              file=out)
    intercept = d["intercept"]
    if intercept is not None:
        values = (", ".join(f"{k} {v:.4f}" for k, v in intercept.items())
                  if isinstance(intercept, dict) else f"{intercept:.4f}")
        print(f"intercept: {values}", file=out)


# ================================================================= cv
def cv(args, out: TextIO) -> None:
    """K-fold cross-validation: train on K-1 folds, score the held-out fold, K times.

    Folds are a hash of each row (``RowSplit``): fold k holds the rows whose
    u(seed, file, row) lies in [k/K, (k+1)/K), so the split streams in bounded
    memory and is the same for the same ``--random-state``. Not stratified:
    with rare classes a fold may lack one (its recall is then 0 of 0).
    """
    if args.target is None:
        raise UsageError("cv: --target COL is required (the label column)")
    if args.checkpoint is not None:
        raise UsageError("cv: --checkpoint applies to train, not to cross-validation")
    _check_validation(args, None, "cv")
    options = _table_options(args)
    seed = options["split_seed"] ^ _CV_SALT
    base = TableFiles(_one_or_many(args.data), target=args.target, features=args.features,
                      sample_weight=args.sample_weight, **options)
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
            estimator = _make_estimator(args, train_rows, verbose=False)
            start = time.perf_counter()
            estimator.fit(train_rows)
            seconds.append(time.perf_counter() - start)
            folds.append(_score(estimator, test_rows, args.threshold))
            if not args.quiet:
                m = folds[-1]
                print(f"fold {k + 1}/{args.folds}: {m.n_rows} rows, log-loss {m.log_loss:.4f}, "
                      f"accuracy {m.accuracy:.4f} ({seconds[-1]:.1f} s)", file=text)
    _print_warnings(caught, args)
    keys = [k for k in METRIC_KEYS if any(getattr(m, k) is not None for m in folds)]
    values = {k: [getattr(m, k) for m in folds] for k in keys}
    summary = {k: _spread(v) for k, v in values.items()}
    if args.json:
        report = {"folds": args.folds, "rows": [m.n_rows for m in folds],
                  "seconds": seconds, "estimator": type(estimator).__name__,
                  "metrics": {k: dict(summary[k], folds=[_json_number(x) for x in values[k]])
                              for k in keys},
                  "per_fold": [metrics_json(m) for m in folds]}
        print(json.dumps(report, indent=2), file=out)
        return
    n_rows = sum(m.n_rows for m in folds)
    print(f"\n{type(estimator).__name__}, {args.folds}-fold cross-validation on "
          f"{_describe(args.data)} ({n_rows} rows; each fold scored by a model trained on the "
          f"other {args.folds - 1})\n", file=out)
    header = ["metric", "mean", "std", *[f"fold{k + 1}" for k in range(args.folds)]]
    rows = [(k, summary[k]["mean"], summary[k]["std"], *values[k]) for k in keys]
    print(_report.format_table(header, rows), file=out)
    print("\n(std: the standard deviation of the fold scores, numpy's default ddof=0; "
          "undefined fold scores are left out)", file=out)


def _spread(values) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite))}


def _json_number(value):
    return None if value is None or not math.isfinite(value) else float(value)


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
    """TableFiles options of predict and evaluate (the model adds its own na_values)."""
    options: dict[str, Any] = {"batch_rows": args.batch_rows or 65536}
    if args.csv_block_bytes is not None:
        options["csv_block_bytes"] = args.csv_block_bytes
    if args.na_values is not None:
        options["na_values"] = args.na_values
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


def _print_warnings(caught, args=None) -> None:
    """Each distinct warning once, on one line, in command-line words."""
    seen = set()
    for w in caught:
        message = " ".join(cli_warning(w.message, args).split())
        if message not in seen:
            seen.add(message)
            print(f"xentlearn: warning: {message}", file=sys.stderr)


def cli_warning(warning: Warning, args=None) -> str:
    """A library warning reworded for the command line.

    ColumnWarning's ``drop=[...]`` becomes the ``--drop`` flag with its
    columns. ConvergenceWarning's advice to scale the features is wrong here
    (train standardises them unless --no-standardize): it becomes advice the
    command line can follow.
    """
    message = str(warning)
    columns = getattr(warning, "columns", None)
    if columns is not None:
        message = message.replace("drop=[...]", "--drop " + " ".join(map(shlex.quote, columns)))
    if type(warning).__name__ == "ConvergenceWarning":
        standardized = args is None or getattr(args, "standardize", None) is not False
        message = re.sub(r"max_iter=(\d+)", r"--max-iter \1", message)
        message = re.sub(r"tol=([\w.+-]+)", r"--tol \1", message)
        advice = ("increase --max-iter (the features are already standardised; for a "
                  "mini-batch solver a larger --learning-rate-init may help too)"
                  if standardized else
                  "increase --max-iter, or standardise the features (drop --no-standardize)")
        message = re.sub(r"; increase max_iter.*$", "; " + advice, message)
    return message


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
