"""Dask arrays and DataFrames: the Dask branch of the input adapter (``_inputs``).

Fitting
-------
``prepare_dask`` turns (X, y, sample_weight) dask collections into a
``DaskSource`` whose packed partitions live on the workers, and reads
everything the fit's prologue needs in one pass over them (one task per
worker, small results): rows and weight sums, the labels with their
(weighted) counts, or for 2-D y its kind and column sums, and, for lbfgs,
the column moments of its standardising preconditioner. The classes and
class weights are decided here from those summaries; the labels are then
encoded on the workers, part by part, where the parts are. Nothing of the
size of X, y or the weights comes to this process.

Predicting
----------
``per_partition`` wraps ``predict``, ``predict_proba``, ``predict_log_proba``
and ``decision_function``: on dask input they return a dask array, one task
per partition applying the in-memory method to that partition (the estimator,
without its training state, is one key of the graph, shared by every task).
``score_dask`` sums (weighted) correct predictions per partition. Predictions
for TableFiles with a client current (``file_logits_on_workers``, with the
same estimator copy, ``predictor``) are tasks that return at most
``PREDICTION_PIECE_BYTES`` of logits and target values each: a file whose
predictions take more is predicted in pieces of whole record batches, a chain
of tasks on one worker that keeps the file open between them, so neither a
worker nor this process ever holds a whole large file's predictions.

Dask itself is imported only in ``xentlearn.data._dask`` (and the training
backend), and only when a dask collection is passed.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.exceptions import DataConversionWarning

from xentlearn import objective
from xentlearn._checks import shown
from xentlearn._types import Batch
from xentlearn.data import _dask
from xentlearn.data._arrays import ArraySource
from xentlearn.data._table import FileRowSplit
from xentlearn.data._column_values import ColumnValuesError
from xentlearn.data._readers import feature_columns
from xentlearn.estimators._labels import (_missing_mask, _unsortable_message,
                                          EncodedTargets, check_classes_match, class_counts,
                                          class_weight_from_counts, encode_targets,
                                          score_targets)
from xentlearn.estimators._solvers import SOLVERS
from xentlearn.exceptions import XentlearnInputError


DaskSource = _dask.DaskSource


def is_dask(X) -> bool:
    return _dask.is_dask_collection(X)


# ---------------------------------------------------------------------------- fit
def prepare_dask(estimator, X, y, sample_weight, *, dtype, partial: bool, continuing: bool,
                 classes, rng: np.random.Generator):
    """(source, validation, encoded targets, class weights, backend) for dask input."""
    from xentlearn.training._distributed import DaskBackend

    if y is None:
        raise XentlearnInputError("y is required to fit on a dask collection: labels aligned "
                                  "with X (a dask Series or array partitioned like X)")
    if partial and not continuing and classes is None and _ndim(y) == 1:
        raise XentlearnInputError(
            "classes must be given on the first call to partial_fit: every label that "
            "will ever appear, e.g. partial_fit(X, y, classes=[...])")
    if continuing and hasattr(estimator, "_preprocessor"):
        raise XentlearnInputError(
            "this model was trained on files; continue it on files (TableFiles), not on a "
            "dask collection")
    meta = getattr(X, "_meta", None)
    if meta is not None and getattr(meta, "ndim", 0) == 2 and hasattr(meta, "columns"):
        from xentlearn.estimators._inputs import _check_numeric_frame

        _check_numeric_frame(meta)
    two_d = _ndim(y) == 2 and _n_columns(y) != 1
    if _ndim(y) == 2 and not two_d:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning, stacklevel=5)
    source = _dask.DaskSource.from_collections(X, y, sample_weight, dtype=dtype)
    if source.n_samples == 0:
        raise XentlearnInputError("X is empty; a classifier needs at least one sample")
    _set_features(estimator, source, continuing)

    with_moments = SOLVERS[estimator.solver].preconditioned and not partial
    summaries = source.map_parts(_part_summary, two_d, with_moments)
    for first_row, summary in zip(np.cumsum([0] + source.rows[:-1]).tolist(), summaries):
        if "missing" in summary:
            row, value = summary["missing"]
            raise XentlearnInputError(
                f"y has a missing label ({value}) in row {first_row + row}; every sample "
                "needs a label")
    if sample_weight is not None and not any(s["weight"] > 0 for s in summaries):
        raise XentlearnInputError("sample_weight is zero for every row; nothing to fit")
    known = estimator.classes_ if continuing else classes
    if two_d:
        kind, labels, counts = _matrix_kind(summaries, known)
    else:
        kind, labels, counts = _label_kind(summaries, known, dtype)
    if continuing and kind != estimator._task:
        raise XentlearnInputError(
            f"y is {kind} but earlier partial_fit calls were {estimator._task}")
    if continuing:
        class_weight = estimator._class_weight
    else:
        class_weight = class_weight_from_counts(estimator.class_weight, labels, kind, counts,
                                                weighted=sample_weight is not None, dtype=dtype)
    source = source.replace_parts(_encode_part, kind, labels, np.dtype(dtype).str)
    if with_moments:
        source.moments = _dask.merge_moments([s["moments"] for s in summaries])
    validation = None
    if (estimator.early_stopping or estimator.calibration is not None) and not partial:
        source, validation = _split_validation(source, estimator.validation_fraction, rng)
    return (source, validation, EncodedTargets(kind, labels, None), class_weight,
            DaskBackend(estimator.sync_every))


def _ndim(y) -> int:
    return int(getattr(y, "ndim", None) or np.ndim(y))


def _n_columns(y) -> int | None:
    shape = getattr(y, "shape", None)
    if shape is not None and len(shape) == 2 and isinstance(shape[1], (int, np.integer)):
        return int(shape[1])
    columns = getattr(y, "columns", None)
    return None if columns is None else len(columns)


def _set_features(estimator, source, continuing: bool) -> None:
    """n_features_in_ and feature_names_in_, as scikit-learn's validate_data sets them."""
    names = source.feature_names
    if continuing:
        if source.n_features != estimator.n_features_in_:
            raise XentlearnInputError(
                f"X has {source.n_features} features, but {type(estimator).__name__} is "
                f"expecting {estimator.n_features_in_} features as input.")
        return
    estimator.n_features_in_ = source.n_features
    if names is not None and all(isinstance(name, str) for name in names):
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    else:
        estimator.__dict__.pop("feature_names_in_", None)


def _labels_as_numpy(y) -> np.ndarray:
    """A partition of y (pandas or numpy) as a numpy array; nullable integers kept integral."""
    from xentlearn.estimators._inputs import _nullable_labels_as_numpy

    y = _nullable_labels_as_numpy(y)
    return np.asarray(y)


def _part_summary(part: Batch, two_d: bool, with_moments: bool) -> dict:
    """Runs on a worker: what the fit's prologue needs from one part, small.

    1-D y: the distinct labels and their weighted counts (or the first missing one's
    row in the part and value, for the caller to name). 2-D y: its kind
    (``encode_targets`` on the part), its column count, whether every row is
    one-hot, and the weighted column sums. Always the weight sum; with
    `with_moments`, the column moments of X.
    """
    w = part.sample_weight
    y_input = part.targets
    y = _labels_as_numpy(y_input)
    summary = {"weight": float(part.X.shape[0]) if w is None else float(np.sum(w, dtype=np.float64))}
    if two_d:
        encoded = encode_targets(y)
        t = encoded.targets.astype(np.float64)
        summary.update(kind=encoded.kind, columns=t.shape[1],
                       one_hot=bool(np.all(t.sum(axis=1) == 1.0)),
                       counts=t.sum(axis=0) if w is None else w.astype(np.float64) @ t)
    else:
        if y.ndim == 2:
            y = y.ravel()
        missing = _missing_mask(y_input, y)
        if missing is not None and missing.any():
            # Named here, by its row in y: the part does not know where it starts.
            row = int(np.flatnonzero(missing)[0])
            summary["missing"] = (row, shown(y[row]))
            return summary
        try:
            labels, inverse = np.unique(y, return_inverse=True)
        except TypeError:
            raise XentlearnInputError(_unsortable_message(y)) from None
        summary.update(labels=labels,
                       counts=np.bincount(inverse.reshape(-1), weights=w, minlength=len(labels))
                       .astype(np.float64))
    if with_moments:
        summary["moments"] = _dask.part_moments(part)
    return summary


def _label_kind(summaries, known, dtype):
    """(kind, classes, weighted count per class) of 1-D labels from the parts' summaries."""
    union = np.concatenate([s["labels"] for s in summaries])
    counts = np.concatenate([s["counts"] for s in summaries])
    # encode_targets on the distinct labels alone runs every check of the in-memory path
    # (label types, continuous floats, one class, labels outside `classes`).
    encoded = encode_targets(union, classes=known, dtype=dtype)
    index = check_classes_match(union, encoded.classes)
    return (encoded.kind, encoded.classes,
            np.bincount(index, weights=counts, minlength=len(encoded.classes)))


def _matrix_kind(summaries, known):
    """(kind, classes, weighted column sums) of a 2-D y from the parts' summaries."""
    columns = {s["columns"] for s in summaries}
    if len(columns) > 1:
        raise XentlearnInputError(f"the partitions of y have different numbers of columns "
                                  f"{sorted(columns)}")
    k = columns.pop()
    kinds = {s["kind"] for s in summaries}
    if "soft" in kinds:
        # A part of one-hot rows looks multilabel on its own; in soft labels it is fine.
        if not all(s["kind"] == "soft" or s["one_hot"] for s in summaries):
            raise XentlearnInputError(
                "y is neither a 0/1 indicator matrix (multilabel) nor probability rows "
                "(soft labels): some partitions hold probability rows and others 0/1 rows "
                "that do not sum to 1")
        kind = "soft"
    else:
        kind = "multilabel"
    if known is not None:
        given = np.asarray(known)
        if given.shape != (k,) or not np.array_equal(given, np.arange(k)):
            raise XentlearnInputError(
                f"classes for a 2-D y with {k} columns must be range({k}); got {list(given)}")
    return kind, np.arange(k), sum(s["counts"] for s in summaries)


def _encode_part(part: Batch, kind: str, classes, dtype) -> Batch:
    """Runs on a worker: the part with its labels encoded as the loss's targets."""
    y = _labels_as_numpy(part.targets)
    if kind in ("soft", "multilabel"):
        targets = np.array(y, dtype=dtype, order="C")      # a new, aligned array
    else:
        index = check_classes_match(y.ravel(), classes)
        targets = (index == 1).astype(dtype) if kind == "binary" else index
    return Batch(part.X, targets, part.sample_weight)


def _split_validation(source, fraction: float, rng: np.random.Generator):
    """(train, validation) sources: each part's rows split by seeded uniforms, on its worker.

    Rows are held out with probability `fraction` each (not stratified, and the
    count is `fraction` of the rows on average: drawing an exact count would need
    the rows of every part at once).
    """
    seed = int(rng.integers(2**31 - 1))
    train = source.replace_parts(_split_part, seed, fraction, False, drop_empty=True,
                                 with_index=True)
    validation = source.replace_parts(_split_part, seed, fraction, True, drop_empty=True,
                                      with_index=True)
    # The preconditioner standardises the training rows only, as in memory.
    train.moments = validation.moments = None
    if train.n_samples < 1 or validation.n_samples < 1:
        raise XentlearnInputError(
            f"validation_fraction={fraction} leaves no rows for training or validation "
            f"with {source.n_samples} samples")
    return train, validation


def _split_part(part: Batch, index: int, seed: int, fraction: float, held_out: bool) -> Batch:
    """Runs on a worker: the part's held-out rows (or the others); both calls draw the
    same uniforms, from the fit's seed and the part's index."""
    uniforms = np.random.default_rng([seed, index]).random(part.X.shape[0])
    rows = np.flatnonzero((uniforms < fraction) == held_out)
    sw = None if part.sample_weight is None else part.sample_weight[rows]
    return Batch(part.X[rows], part.targets[rows], sw)


def loss_weight_sum(source, task: str, class_weight) -> float:
    """sum_i w_i, the loss's normaliser, over a DaskSource (on its workers, in part order)."""
    return float(sum(source.map_parts(_part_loss_weight, task, class_weight)))


def _part_loss_weight(part: Batch, task: str, class_weight) -> float:
    total = 0.0
    for batch in ArraySource(*part).batches(None):
        total += objective.loss_weight_sum(task, batch.targets, batch.sample_weight,
                                           class_weight=class_weight, dtype=batch.X.dtype)
    return total


# ---------------------------------------------------------------------------- files
def cluster_current() -> bool:
    """True when a ``dask.distributed`` client is current. A client exists only if
    ``distributed`` was imported, so nothing is imported to answer no."""
    import sys

    if "distributed" not in sys.modules:
        return False
    return _dask.current_client() is not None


def prepare_files_on_cluster(estimator, table, y, sample_weight, validation_data, *, dtype,
                             continuing, classes):
    """TableFiles read by the workers of the current Dask client, one part per file.

    What one machine learns from the files in streaming passes
    (``_files.prepare_files``) is learned here on the workers, and this process
    reads no rows, only the files' schema:

    1. a metadata pass, one task per file (``_file_metadata``): the worker
       runs ``TabularPreprocessor.partial_fit`` on the file's feature columns
       and collects its distinct labels; here the partial preprocessors are
       merged in file order (``TabularPreprocessor.merge``: the same moments as
       one pass, to rounding; the same categories) and finalized, and the
       classes are checked as ``TableFiles.scan_classes`` checks them;
    2. each worker then reads its run of files through
       ``xentlearn.data.FileSource`` with that fitted preprocessing and keeps
       the rows, preprocessed, for the fit (``files_on_workers``);
    3. balanced class weights count the encoded labels where the parts are.

    A continued fit (partial_fit, warm start on files) keeps its preprocessing
    and classes and skips step 1. Validation rows (``validation_fraction`` or
    ``validation_data``) are read as in step 2; row splits keep their file
    numbering, so the same rows are held out as on one machine.
    """
    from xentlearn.estimators import _files
    from xentlearn.training._distributed import DaskBackend

    table, validation_data = _files.training_tables(table, y, sample_weight, validation_data)
    _files.check_held_out_rows(estimator, validation_data, continuing)
    if continuing:
        labels, preprocessor = estimator.classes_, estimator._preprocessor
        features = _files.continued_features(estimator, table)
    else:
        schema = table.schema()        # the first block of each file: no rows are kept
        features = feature_columns(table.files()[0], schema.names, table.target,
                                   table.sample_weight, table.features, table.drop)
        preprocessor, labels = _fit_on_workers(table, schema, features, classes)
    kind, encode = _files.label_encoding(labels, table.target, dtype)
    train = files_on_workers(table, features, preprocessor, encode, dtype)
    validation = None
    if validation_data is not None:
        validation = files_on_workers(validation_data, features, preprocessor, encode, dtype)
    if continuing:
        class_weight = estimator._class_weight
    else:
        counts = None
        if isinstance(estimator.class_weight, str) and estimator.class_weight == "balanced":
            counts = sum(train.map_parts(_part_class_counts, kind, len(labels)))
        class_weight = class_weight_from_counts(estimator.class_weight, labels, kind, counts,
                                                weighted=table.sample_weight is not None,
                                                dtype=dtype,
                                                labels_in=f"target column {table.target!r}")
    _files.record_table_fit(estimator, preprocessor, features, table.target, train.n_features)
    return (train, validation, EncodedTargets(kind, labels, None), class_weight,
            DaskBackend(estimator.sync_every))


def _fit_on_workers(table, schema, features: list[str], classes):
    """(fitted TabularPreprocessor, classes): the metadata pass, one task per file."""
    import dask
    import pyarrow as pa

    from xentlearn.data import TabularPreprocessor

    make = functools.partial(TabularPreprocessor, features, standardize=table.standardize,
                             impute=table.impute, max_categories=table.max_categories,
                             na_values=table.na_values, dates=table.dates)
    # CSV integers are read as float64, as FileSource reads them: the type is inferred
    # from a file's first block, and a later "2.5" would fail to convert.
    csv_types = {n: pa.float64() if pa.types.is_integer(schema.field(n).type)
                 else schema.field(n).type
                 for n in features if not pa.types.is_null(schema.field(n).type)}
    spec = {"make": make, "features": features, "target": table.target,
            "labels": classes is None, "csv_types": csv_types, "read_batch_rows": table.batch_rows,
            "csv_block_bytes": table.csv_block_bytes, "na_values": tuple(table.na_values),
            "row_filters": tuple(table.row_filters),
            # The files as messages name them (the workers read absolute paths).
            "names": [str(path) for path in table.files()]}
    files = table.files()
    call = dask.delayed(_file_metadata, pure=True)
    results = dask.compute(*[call(os.path.abspath(path), index, spec)
                             for index, path in enumerate(files)])
    where = ", ".join(str(f) for f in files)
    if sum(r["rows"] for r in results) == 0:
        raise XentlearnInputError(
            f"no rows to train on in {where}" + (
                ": the row split keeps no row on one side: too few rows for the validation "
                "fraction or the number of folds" if table.row_filters else ""))
    preprocessor = make()
    for path, result in zip(files, results):
        try:
            preprocessor.merge(result["preprocessor"])
        except XentlearnInputError as exc:     # such as dates in other formats: the file
            raise XentlearnInputError(f"{exc} (met merging {str(path)!r})") from None
    try:
        preprocessor.finalize()
    except ColumnValuesError as exc:
        # Missing values: the first file whose part counted one is read again by a
        # worker for the row, on this error only.
        index = next((i for i, r in enumerate(results)
                      if r["preprocessor"].missing_count(exc.column)), None)
        first = None if index is None else dask.compute(dask.delayed(_first_row_in_file)(
            exc, os.path.abspath(files[index]), index, spec))[0]
        raise (exc.located(first) if first
               else XentlearnInputError(f"{exc} (in {where})")) from None
    except XentlearnInputError as exc:
        raise XentlearnInputError(f"{exc} (in {where})") from None
    if classes is not None:
        labels = np.asarray(classes)
    else:
        labels = table.scan_classes([(path, pa.record_batch([r["labels"]], [table.target]))
                                     for path, r in zip(files, results) if r["labels"] is not None])
    if len(labels) < 2:
        raise XentlearnInputError(
            f"target column {table.target!r} has only one class ({shown(labels[0])}); "
            "a classifier needs at least 2")
    return preprocessor, labels


def _file_metadata(path: str, file_index: int, spec: dict) -> dict:
    """Runs on a worker: one file's share of the metadata pass.

    Returns the file's partial preprocessor (``partial_fit`` on every record
    batch of its kept rows, not finalized), its row count, and, when asked,
    its distinct labels as a pyarrow array followed by one null per missing
    label (so that the classes' check counts them).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from xentlearn.data import iter_record_batches
    from xentlearn.data._readers import check_label_type

    preprocessor = spec["make"]()
    columns = list(spec["features"]) + ([spec["target"]] if spec["labels"] else [])
    rows, missing, distinct = 0, 0, []
    for batch in iter_record_batches(
            [path], list(dict.fromkeys(columns)), batch_rows=spec["read_batch_rows"],
            csv_column_types=spec["csv_types"], csv_block_bytes=spec["csv_block_bytes"],
            na_values=spec["na_values"],
            row_filters=[FileRowSplit(split, file_index) for split in spec["row_filters"]]):
        try:
            preprocessor.partial_fit(batch)
        except ColumnValuesError as exc:        # an infinite value: its row, read here
            first = _first_row_in_file(exc, path, file_index, spec)
            raise (exc.located(first) if first else XentlearnInputError(
                f"{exc} (in {spec['names'][file_index]!r})")) from None
        rows += batch.num_rows
        if spec["labels"]:
            column = batch.column(spec["target"])
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            check_label_type(column.type, spec["target"], path)
            present = pc.is_valid(column)
            if pa.types.is_floating(column.type):
                present = pc.and_(present, pc.invert(pc.is_nan(column)))
            missing += len(column) - (pc.sum(present).as_py() or 0)
            distinct.append(pc.unique(pc.filter(column, present)))
    labels = None
    if distinct:
        values = pc.unique(pa.chunked_array(distinct))
        labels = pa.concat_arrays([values, pa.nulls(missing, values.type)])
    return {"preprocessor": preprocessor, "rows": rows, "labels": labels}


def _first_row_in_file(error, path: str, file_index: int, spec: dict) -> str | None:
    """Runs on a worker, on `error` only: ``first_row_holding`` in one file of the
    metadata pass (its rows, types and missing-value tokens)."""
    from xentlearn.data._readers import first_row_holding

    return first_row_holding(
        error, [path], row_filters=[FileRowSplit(s, file_index) for s in spec["row_filters"]],
        batch_rows=spec["read_batch_rows"], csv_block_bytes=spec["csv_block_bytes"],
        na_values=spec["na_values"], tokens=spec["na_values"],
        column_types=[spec["csv_types"].get(error.column)], names=[spec["names"][file_index]])


def _part_class_counts(part: Batch, kind: str, n_classes: int) -> np.ndarray:
    """Runs on a worker: the (weighted) rows of each class in a part of encoded targets."""
    return class_counts(part.targets, kind, n_classes, part.sample_weight)


def files_on_workers(table, features: list[str], preprocessor, encode_target, dtype
                     ) -> "_dask.DaskSource":
    """A DaskSource of the rows of `table` through the fitted `preprocessor`, each file
    read and preprocessed by the worker that keeps it (``_read_file_part``)."""
    dtype = np.dtype(dtype)
    n_features = preprocessor.n_features_out
    # The missing-value tokens the preprocessing was fitted with apply to every table.
    na_values = tuple(dict.fromkeys((*preprocessor.na_values, *table.na_values)))
    spec = {"target": table.target, "features": list(features), "preprocessor": preprocessor,
            "dtype": dtype.str, "encode_target": encode_target,
            "sample_weight_column": table.sample_weight, "read_batch_rows": table.batch_rows,
            "csv_block_bytes": table.csv_block_bytes, "na_values": na_values,
            "row_filters": tuple(table.row_filters), "n_features": n_features}
    files = table.files()
    sizes = [float(os.path.getsize(path)) for path in files]
    source = _dask.DaskSource.from_calls(
        # Absolute paths: a worker's working directory is not this process's.
        _read_file_part, [(os.path.abspath(path), index, spec) for index, path in enumerate(files)],
        sizes, n_features, dtype, list(preprocessor.feature_names_out))
    if source.n_samples == 0:
        raise XentlearnInputError(
            f"no rows in {', '.join(str(f) for f in files)}" + (
                ": the row split keeps no row on one side: too few rows for the validation "
                "fraction or the number of folds" if table.row_filters else ""))
    return source


def _read_file_part(path: str, file_index: int, spec: dict) -> Batch:
    """Runs on a worker: one file's rows, preprocessed and encoded, as one Batch."""
    from xentlearn.data import FileSource

    source = FileSource(
        path, target=spec["target"], features=spec["features"],
        preprocessor=spec["preprocessor"], dtype=spec["dtype"],
        encode_target=spec["encode_target"], sample_weight_column=spec["sample_weight_column"],
        read_batch_rows=spec["read_batch_rows"], csv_block_bytes=spec["csv_block_bytes"],
        na_values=spec["na_values"],
        row_filters=[FileRowSplit(split, file_index) for split in spec["row_filters"]])
    batches = list(source.batches(None))
    if not batches:
        dtype = np.dtype(spec["dtype"])
        return Batch(np.empty((0, spec["n_features"]), dtype), np.empty(0, dtype), None)
    X = np.concatenate([b.X for b in batches]) if len(batches) > 1 else batches[0].X
    targets = np.concatenate([b.targets for b in batches])
    weights = (None if batches[0].sample_weight is None
               else np.concatenate([b.sample_weight for b in batches]))
    return Batch(np.ascontiguousarray(X), targets, weights)


# ---------------------------------------------------------------------------- predict
def predictor(estimator):
    """A copy of the fitted estimator without its training state, for the workers."""
    slim = copy.copy(estimator)
    for name in ("_state", "history_", "loss_curve_", "validation_scores_"):
        slim.__dict__.pop(name, None)
    return slim


# The most bytes of predictions (logits, and the target values for a score) one
# task returns for TableFiles: about 64 MiB, the size of a Parquet row group read
# whole (data._readers), 800 000 rows of 10 float64 logits. A file whose
# predictions take more is predicted in pieces of whole record batches (the
# batches of reading it here: the same bits), each at most this size, or one
# batch where a batch alone is larger (at most TableFiles.batch_rows rows).
PREDICTION_PIECE_BYTES = 64 << 20
# Files a worker keeps open between the pieces of a chain: a reader whose next
# piece never comes (a generator closed early) is closed when newer ones push it out.
_KEPT_READERS = 4
_kept_readers: OrderedDict = OrderedDict()
_kept_readers_lock = threading.Lock()


def file_logits_on_workers(estimator, table, *, with_target: bool, names: Sequence[str]
                           ) -> Iterator[tuple[list, dict]]:
    """Predictions for `table` (TableFiles of absolute paths; `names`: each file as
    messages name it) made by the current client's workers: per piece, in file
    order, (list of (logits, raw target or None) per record batch, unseen
    categories as ``TabularPreprocessor.transform`` counts them).

    A piece is at most ``PREDICTION_PIECE_BYTES`` (``file_logits``); a file's
    pieces are a chain of tasks (``_dask.map_chains_in_order``: at most two
    tasks per worker in flight or finished, this process holding one piece).
    The record batches are those ``TableFiles.iter_batches(file_index=...)``
    yields, as when reading here, so the logits are the same bits, and rows
    keep their numbers (row splits, messages).
    """
    token = uuid.uuid4().hex         # names this pass's open readers on the workers
    calls = [(index, 0, with_target, name, token, PREDICTION_PIECE_BYTES)
             for index, name in enumerate(names)]
    return _dask.map_chains_in_order(file_logits, calls, predictor(estimator), table)


def file_logits(file_index: int, first_batch: int, with_target: bool, name: str, token: str,
                max_bytes: int, estimator, table) -> tuple[tuple[list, dict], tuple | None]:
    """Runs on a worker: a piece of the predictions of file `file_index` of `table`, from
    its record batch `first_batch` on, and the call of the next piece (None: the
    file ends here).

    The piece takes whole batches while their logits and target values add up to
    at most `max_bytes` (at least one batch). The file stays open on this worker
    for the next piece (and the first batch past this piece, already predicted,
    waits with it); a next piece that runs on another worker, or finds its
    reader pushed out, reads the file again from the start, predicting the
    batches before its own without returning them.
    """
    with _kept_readers_lock:
        kept = _kept_readers.pop((token, file_index, first_batch), None)
    if kept is None:
        batches = _batch_logits_unseen(estimator, table, with_target, file_index, name)
        for _ in range(first_batch):
            next(batches, None)
        ahead = next(batches, None)
    else:
        batches, ahead = kept
    piece: list = []
    unseen: dict = {}
    size = 0
    while ahead is not None:
        logits, y, batch_unseen = ahead
        nbytes = _result_bytes(logits, y)
        if piece and size + nbytes > max_bytes:
            break
        piece.append((logits, y))
        size += nbytes
        merge_unseen(unseen, batch_unseen)
        ahead = next(batches, None)
    if ahead is None:
        return (piece, unseen), None
    next_batch = first_batch + len(piece)
    with _kept_readers_lock:
        _kept_readers[(token, file_index, next_batch)] = (batches, ahead)
        pushed_out = []
        while len(_kept_readers) > _KEPT_READERS:
            pushed_out.append(_kept_readers.popitem(last=False)[1][0])
    for reader in pushed_out:
        reader.close()
    return (piece, unseen), (file_index, next_batch, with_target, name, token, max_bytes)


def _batch_logits_unseen(estimator, table, with_target: bool, file_index: int, name: str
                         ) -> Iterator[tuple]:
    """(logits, raw target or None, unseen categories of this batch alone) per record batch
    of one file (``_files._batch_logits``)."""
    from xentlearn.estimators._files import _batch_logits

    unseen: dict = {}
    for logits, y in _batch_logits(estimator, table, with_target, unseen, file_index, name):
        batch_unseen = dict(unseen)
        unseen.clear()
        yield logits, y, batch_unseen


def merge_unseen(into: dict, unseen: dict) -> None:
    """Add `unseen` (``TabularPreprocessor.transform``'s counts: column -> [rows, set of
    up to 3 examples]) to `into`, keeping up to 3 examples per column."""
    for column, (count, examples) in unseen.items():
        entry = into.setdefault(column, [0, set()])
        entry[0] += count
        for value in sorted(examples):
            if len(entry[1]) < 3:
                entry[1].add(value)


def _result_bytes(logits: np.ndarray, y) -> int:
    """The bytes of a batch's predictions: its logits and target values (text labels:
    the strings too, estimated from up to ``_SIZE_SAMPLE`` of them, evenly spaced: a
    bound needs no exact count, and a Python loop over every row would cost more than
    the prediction)."""
    nbytes = logits.nbytes
    if y is not None:
        y = np.asarray(y)
        nbytes += y.nbytes
        if y.dtype == object and y.size:
            sample = y.ravel()[np.linspace(0, y.size - 1, min(y.size, _SIZE_SAMPLE),
                                           dtype=np.intp)]
            nbytes += int(sum(sys.getsizeof(value) for value in sample) * y.size
                          / sample.size)
    return nbytes


_SIZE_SAMPLE = 256


# scikit-learn's warnings about X's column names: the same for every partition.
_FEATURE_NAMES_WARNING = r"X (does not have valid feature names|has feature names)"


def _warn_feature_names_once(estimator, name: str, X, stacklevel: int) -> None:
    """scikit-learn's column-name warnings for dask `X`, shown once here from a one-row
    probe (the partitions' tasks leave them out: they were one per partition, printed
    by the workers)."""
    probe = (X._meta_nonempty.iloc[:1] if hasattr(X, "_meta_nonempty")
             else np.zeros((1, X.shape[1]), dtype=X.dtype))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            getattr(estimator, name)(probe)
        except Exception:       # noqa: BLE001 - the tasks raise it, naming their rows
            return
    for warning in caught:
        if re.match(_FEATURE_NAMES_WARNING, str(warning.message)):
            warnings.warn(warning.message, stacklevel=stacklevel + 1)


def _call(X, name: str, estimator):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING)
        return _predicted(X, name, estimator)


def _predicted(X, name: str, estimator):
    if X.shape[0] == 0:       # len() of a scipy.sparse chunk raises
        # An empty partition (a filtered DataFrame has them), which scikit-learn's input
        # checks refuse: the method's output for one row of zeros, with no row. Whatever
        # that row would be warned of (a category '0.0') is not the user's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(estimator, name)(_dask.memory_aligned(_one_row_of_zeros(X)))[:0]
    return getattr(estimator, name)(_dask.memory_aligned(X))


def _one_row_of_zeros(X):
    if hasattr(X, "iloc"):
        import pandas as pd

        return pd.DataFrame(np.zeros((1, X.shape[1])), columns=X.columns).astype(X.dtypes)
    return np.zeros((1, X.shape[1]), dtype=X.dtype)


def per_partition(method):
    """Decorate a predict-like method: on dask input, a dask array computed per partition.

    The wrapped method runs unchanged on each partition (numpy or pandas), so
    predictions on dask input equal those on the same rows in memory.
    """
    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not is_dask(X):
            return method(self, X, *args, **kwargs)
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "classes_")
        _warn_feature_names_once(self, method.__name__, X, stacklevel=2)
        return _dask.map_row_blocks(X, _call, method.__name__, predictor(self))
    return wrapper


def score_dask(estimator, X, y, sample_weight) -> float | None:
    """Accuracy on dask input, summed per partition on the workers; None if X is not dask."""
    if not is_dask(X):
        return None
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "classes_")
    _warn_feature_names_once(estimator, "predict", X, stacklevel=3)
    sums = _dask.map_partitions_reduce(X, y, sample_weight, _partition_accuracy,
                                       predictor(estimator))
    correct = sum(c for c, _ in sums)
    total = sum(t for _, t in sums)
    return correct / total


def _partition_accuracy(X, y, sample_weight, estimator) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score

    if hasattr(sample_weight, "to_numpy"):
        sample_weight = sample_weight.to_numpy()
    y = score_targets(np.asarray(y), estimator._task, estimator.classes_)
    if len(y) == 0:
        return 0.0, 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING)
        predicted = estimator.predict(_dask.memory_aligned(X))
    correct = accuracy_score(y, predicted, normalize=False, sample_weight=sample_weight)
    total = len(y) if sample_weight is None else float(np.sum(sample_weight))
    return float(correct), float(total)
