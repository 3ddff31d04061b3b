"""One adapter from what a user passes (arrays, sparse matrices, DataFrames, TableFiles)
to what the training loop reads (data sources), and to features for prediction.

The estimator facade calls ``prepare`` to fit and ``logits`` / ``score`` to
predict, and never looks at the type of X itself. Labels and class weights are
encoded here, once, for every kind of input. Dask collections are one more
branch (``_dask_inputs``), recognised without importing dask.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import validate_data

from xentlearn import _checks
from xentlearn._types import Batch
from xentlearn.data import (ArraySource, ColumnMoments, TableFiles, column_moments,
                            column_moments_and)
from xentlearn.data._arrays import block_rows, csr_rows
from xentlearn.estimators import _dask_inputs, _files
from xentlearn.estimators._labels import (EncodedTargets, check_labels_present,
                                          compute_class_weight, encode_targets)
from xentlearn.estimators._preprocessing import table_features
from xentlearn.exceptions import XentlearnInputError
from xentlearn.objective import add_terms
from xentlearn.objective import loss_weight_sum as objective_weight_sum
from xentlearn.training import parallel_map, quiet_floating_point


class Prepared(NamedTuple):
    """Training data, ready for the loop."""

    source: object                   # DataSource of the training rows
    validation: object | None        # DataSource scored after each epoch, or None
    encoded: EncodedTargets          # kind (task), classes, targets
    class_weight: np.ndarray | None  # per class, in the fitted dtype
    backend: object | None = None    # where the loop computes (None: the default, threads)
    moments: object = None           # ColumnMoments or UncheckedMoments (see training_moments)


def prepare(estimator, X, y, sample_weight, validation_data, *, dtype, partial: bool,
            continuing: bool, classes, rng: np.random.Generator,
            moments: bool = False) -> Prepared:
    """Data sources, encoded targets and class weights for ``fit`` / ``partial_fit``.

    TableFiles stream through the table preprocessing (fitted on the first
    call, recorded on `estimator`), read by the workers when a Dask client is
    current; arrays and DataFrames are validated as scikit-learn does, and split
    by ``validation_fraction`` for early stopping; dask collections stay on the
    cluster (``_dask_inputs``). With `moments` (a solver that standardises its
    inputs), dense training arrays are checked for NaN and infinity in the
    solver's first pass, which computes their column moments
    (``Prepared.moments`` is an ``UncheckedMoments``: the caller must call
    ``training_moments``); held-out validation rows are checked here.
    """
    if isinstance(X, TableFiles):
        if not continuing:   # a fresh fit on files forgets the names of an earlier array fit
            estimator.__dict__.pop("feature_names_in_", None)
        elif not hasattr(estimator, "_preprocessor"):
            raise XentlearnInputError(
                "this model was trained on arrays, not files: partial_fit continues on arrays "
                "(or DataFrames); fit it afresh to train on TableFiles")
        if _dask_inputs.cluster_current():    # a Dask client is current: workers read files
            return Prepared(*_dask_inputs.prepare_files_on_cluster(
                estimator, X, y, sample_weight, validation_data, dtype=dtype,
                continuing=continuing, classes=classes))
        return Prepared(*_files.prepare_files(estimator, X, y, sample_weight, validation_data,
                                              dtype=dtype, continuing=continuing,
                                              classes=classes))
    if validation_data is not None:
        raise XentlearnInputError(
            "validation_data is for TableFiles; with arrays, early_stopping holds out "
            "validation_fraction of the rows")
    if not continuing:   # a fresh fit on arrays forgets an earlier table preprocessing
        for name in _files.TABLE_ATTRIBUTES:
            estimator.__dict__.pop(name, None)
    if _dask_inputs.is_dask(X):
        return Prepared(*_dask_inputs.prepare_dask(
            estimator, X, y, sample_weight, dtype=dtype, partial=partial, continuing=continuing,
            classes=classes, rng=rng))
    return _prepare_arrays(estimator, X, y, sample_weight, dtype=dtype, partial=partial,
                           continuing=continuing, classes=classes, rng=rng, moments=moments)


def logits(estimator, X) -> np.ndarray:
    """Logits (n, n_outputs) for X: TableFiles streamed, DataFrames through a file model's
    preprocessing, arrays validated against the fitted shape."""
    dtype = estimator._resolved_dtype()
    if isinstance(X, TableFiles):
        parts = [z for z, _ in _files.iter_file_logits(estimator, X, with_target=False)]
        return np.concatenate(parts) if parts else np.empty((0, estimator._model.n_outputs),
                                                            dtype=dtype)
    if hasattr(estimator, "_preprocessor"):
        X = table_features(estimator, X, dtype)
    else:
        # float32 or float64 X is kept as it is and cast block by block.
        X = validate_data(estimator, X, accept_sparse=("csr", "csc"),
                          dtype=[dtype, np.float64, np.float32], reset=False)
    return _logits_in_row_blocks(estimator._model, estimator._attributes_to_params(), X,
                                 dtype)


def _logits_in_row_blocks(model, params, X, dtype) -> np.ndarray:
    """``model.predict_logits`` of X, (n, n_outputs) of `dtype`: a row block at a time
    where X must be cast to `dtype` (a copy of all of X otherwise) or the model has hidden
    layers (those of all rows at once took several times the memory of X).

    Raises
    ------
    ValueError
        float64 X holds a value beyond the range of float32 `dtype` (scikit-learn's
        message), found block by block after the cast.
    """
    cast = X.dtype != dtype
    widths = [shape[1] for shape in model.parameter_shapes().values() if len(shape) == 2]
    if len(widths) == 1 and (not cast or sp.issparse(X)):
        # No hidden layer, and no dense copy to avoid (sparse X casts its non-zeros).
        with np.errstate(over="ignore"):      # a value beyond float32 is refused below
            X = X.astype(dtype, copy=False)
        if cast:
            assert_all_finite(X.data, input_name="X")
        return model.predict_logits(params, X)
    if sp.issparse(X) and X.format != "csr":
        X = X.tocsr()
    # A block's rows: its copy (cast) of X and its widest layer.
    step = block_rows(max(X.shape[1], *widths), np.dtype(dtype).itemsize)
    out = np.empty((X.shape[0], model.n_outputs), dtype=dtype)
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        block = csr_rows(X, start, stop) if sp.issparse(X) else X[start:stop]
        with np.errstate(over="ignore"):
            block = block.astype(dtype, copy=False)
        if cast:
            assert_all_finite(block.data if sp.issparse(block) else block, input_name="X")
        out[start:stop] = model.predict_logits(params, block)
    return out


# Predict-like methods of the facade take dask input through this decorator.
per_partition = _dask_inputs.per_partition
score_dask = _dask_inputs.score_dask


def loss_weight_sum(source, task: str, class_weight) -> float:
    """sum_i w_i, the normaliser of the task's mean loss with `class_weight`, over
    `source`'s rows (``alpha="auto"``; ``objective.loss_weight_sum``, no loss
    evaluated); on the workers for data on a Dask cluster."""
    if isinstance(source, _dask_inputs.DaskSource):
        return _dask_inputs.loss_weight_sum(source, task, class_weight)
    weight_sum = 0.0
    for batch in source.batches(None):
        weight_sum += objective_weight_sum(task, batch.targets, batch.sample_weight,
                                           class_weight=class_weight, dtype=batch.X.dtype)
    return weight_sum


def scored_logits(model, params, source) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(logits, targets, sample weights or None) of every row of `source`, in order: for
    data on a Dask cluster, the logits computed on the workers (only they come here)."""
    if isinstance(source, _dask_inputs.DaskSource):
        pieces = source.map_parts(_part_logits, model, params)
    else:
        pieces = [_part_logits(batch, model, params) for batch in source.batches(None)]
    logits, targets, weights = zip(*pieces)
    return (np.concatenate(logits), np.concatenate(targets),
            None if weights[0] is None else np.concatenate(weights))


def _part_logits(batch: Batch, model, params) -> tuple:
    return model.predict_logits(params, batch.X), batch.targets, batch.sample_weight


def score_files(estimator, X) -> float | None:
    """Accuracy on TableFiles with a target column, streamed; None if X is not TableFiles."""
    if not isinstance(X, TableFiles):
        return None
    correct = total = 0
    for labels, _, truth in estimator.iter_predictions(X):
        correct += int(np.count_nonzero(labels == truth))
        total += len(truth)
    return correct / total


def _prepare_arrays(estimator, X, y, sample_weight, *, dtype, partial, continuing, classes, rng,
                    moments: bool) -> Prepared:
    """The array branch of ``prepare``: numpy, scipy.sparse, pandas and polars."""
    if partial and not continuing and classes is None and np.ndim(y) == 1:
        raise XentlearnInputError(
            "classes must be given on the first call to partial_fit: every label that "
            "will ever appear, e.g. partial_fit(X, y, classes=np.unique(y_all))")
    if continuing and hasattr(estimator, "_preprocessor"):
        X = table_features(estimator, X, dtype)   # a model trained on files, continued
    _check_numeric_frame(X)
    # Before scikit-learn's validation, whose "Input contains NaN" names no row (and
    # which fails on pd.NA in a string Series with a TypeError).
    check_labels_present(y)
    y = _nullable_labels_as_numpy(y)
    X, y = validate_data(estimator, X, y, accept_sparse=("csr", "csc"), dtype=dtype,
                         multi_output=True, reset=not continuing, y_numeric=False,
                         ensure_all_finite=not moments)
    if moments and _checks.issparse(X):
        _check_finite(estimator, X)
    n_samples = X.shape[0]
    encoded = encode_targets(y, classes=estimator.classes_ if continuing else classes, dtype=dtype)
    if continuing and encoded.kind != estimator._task:
        raise XentlearnInputError(
            f"y is {encoded.kind} but earlier partial_fit calls were {estimator._task}")
    if sample_weight is not None:
        sample_weight = _checks.check_sample_weight("sample_weight", sample_weight,
                                                    n_samples, dtype)
        if not sample_weight.any():
            raise XentlearnInputError("sample_weight is zero for every row; nothing to fit")
    if continuing:
        class_weight = estimator._class_weight
    else:
        class_weight = compute_class_weight(estimator.class_weight, encoded.classes,
                                            encoded.targets, encoded.kind,
                                            sample_weight=sample_weight, dtype=dtype)
    source = ArraySource(X, encoded.targets, sample_weight)
    validation = None
    if (estimator.early_stopping or estimator.calibration is not None) and not partial:
        source, validation = _split_validation(source, estimator.validation_fraction, rng,
                                               encoded)
    column_stats = None
    if moments and not _checks.issparse(X):
        if validation is not None:
            _check_finite(estimator, validation.X)
        column_stats = UncheckedMoments(estimator, source)
    return Prepared(source, validation, encoded, class_weight, moments=column_stats)


class UncheckedMoments(NamedTuple):
    """Dense training rows not yet checked for NaN and infinity: the solver's first pass
    (``training_moments``) checks them while it computes their column moments."""

    estimator: object
    source: ArraySource


def training_moments(data: Prepared, objective=None, params=None
                     ) -> tuple[ColumnMoments, tuple | None]:
    """The training rows' column moments (for lbfgs's preconditioner) and, given an
    `objective` and `params`, its value and gradient at `params`, in one pass.

    That pass is the fit's first over the data: the objective's first evaluation
    runs on each block right after the block's moments, while the block is in
    cache (``data.column_moments_and``), and the training loop starts from it
    (``fit_loop(start_evaluation=...)``) instead of reading the data once more.
    Its blocks, their order and the single-threaded BLAS are those of the
    loop's full-batch passes, so the numbers are the same bits. Dense arrays are
    checked for NaN and infinity in the same pass (scikit-learn's error); a
    source that knows its moments (a Dask source, from its metadata pass) is not
    read here, and the loop evaluates the objective itself.

    Returns
    -------
    (ColumnMoments, (float, grads) or None)
    """
    moments, source = data.moments, data.source
    if isinstance(moments, ColumnMoments):
        return moments, None
    if hasattr(source, "column_moments"):
        return source.column_moments(), None
    with parallel_map() as map_fn, np.errstate(over="ignore", invalid="ignore"):
        if objective is None:
            stats, terms = column_moments(source.batches(None), map_fn=map_fn), None
        else:
            stats, terms = column_moments_and(functools.partial(objective.batch_terms, params),
                                              add_terms, source.batches(None), map_fn=map_fn)
    if isinstance(moments, UncheckedMoments):
        _check_moments_finite(moments.estimator, source, stats)
    if terms is None:
        return stats, None
    with quiet_floating_point():
        return stats, objective.finish(terms, params)


# A subsample-first start (``training.subsample_start``) solves on every SUBSAMPLE_STEP-th
# row first. It pays where a tenth of the rows still pins the optimum down: at least
# SUBSAMPLE_MIN_ROWS of them, SUBSAMPLE_ROWS_PER_PARAMETER per parameter, and every class
# (each label's both values, for multilabel) SUBSAMPLE_MIN_PER_CLASS times or more; on
# fewer rows a whole fit is a few milliseconds and the start would not change that.
SUBSAMPLE_STEP = 10
SUBSAMPLE_MIN_ROWS = 10_000
SUBSAMPLE_ROWS_PER_PARAMETER = 20
SUBSAMPLE_MIN_PER_CLASS = 50
# Its solve ends at this gradient tolerance (or the fit's, if looser): the subsample's
# optimum is only an estimate of the whole's, so more digits buy nothing.
SUBSAMPLE_TOL = 1e-4


def subsample_rows(data: Prepared, n_parameters: int):
    """Every SUBSAMPLE_STEP-th training row (a DataSource: views in memory, slices on the
    workers for dask data), for a fit to solve on first, or None: streamed files, or too
    few rows, or of a class, for the subsample's optimum to be near the whole's.

    Parameters
    ----------
    data : Prepared
    n_parameters : int
        The model's parameter count.
    """
    least = max(SUBSAMPLE_MIN_ROWS, SUBSAMPLE_ROWS_PER_PARAMETER * n_parameters)
    if -(-data.source.n_samples // SUBSAMPLE_STEP) < least:
        return None                 # decided before any slicing
    rows = data.source.every(SUBSAMPLE_STEP)
    if rows is None:
        return None
    args = (data.encoded.kind, len(data.encoded.classes))
    if hasattr(rows, "map_parts"):  # on a cluster: counted where the parts are
        counted = np.sum(rows.map_parts(class_rows, *args), axis=0)
    else:
        counted = class_rows(Batch(rows.X, rows.targets, rows.sample_weight), *args)
    n_rows, counts = counted[0], counted[1:]
    return rows if n_rows >= least and counts.min() >= SUBSAMPLE_MIN_PER_CLASS else None


def class_rows(batch: Batch, kind: str, n_classes: int) -> np.ndarray:
    """[rows, rows of each class...] among `batch`'s rows of positive weight (weight 0
    counts for nothing, nor in the column moments): class indices (binary 0/1)
    counted, soft labels' expected rows per class, multilabel's rows of each label's
    value 1 then of its value 0. Float64, shape (1 + n_classes,) or (1 + 2 m,)."""
    targets = (batch.targets if batch.sample_weight is None
               else batch.targets[batch.sample_weight > 0])
    n = targets.shape[0]
    if targets.ndim == 1:
        counts = np.bincount(targets.astype(np.intp, copy=False), minlength=n_classes)
    else:
        counts = targets.sum(axis=0)
        if kind == "multilabel":
            counts = np.concatenate([counts, n - counts])
    return np.concatenate([[n], counts]).astype(np.float64)


def subsample_moments(rows) -> ColumnMoments | None:
    """Column moments of a subsample's rows (``subsample_rows``), for the preconditioner of
    its solve: a tenth of a pass (on the workers for dask data, so that a cluster and
    memory precondition the same rows alike), or None where they are not finite (the
    pass over every row, ``training_moments``, then raises the error that names the row)."""
    if hasattr(rows, "column_moments"):
        stats = rows.column_moments()
    else:
        with parallel_map() as map_fn, np.errstate(over="ignore", invalid="ignore"):
            stats = column_moments(rows.batches(None), map_fn=map_fn)
    finite = np.isfinite(stats.mean).all() and np.isfinite(stats.var).all()
    return stats if finite else None


def _check_moments_finite(estimator, source: ArraySource, stats: ColumnMoments) -> None:
    """Raise scikit-learn's error for NaN or infinity in a dense source whose moments are
    `stats`: one pass where validation and the solver's standardisation took two.

    A NaN or infinity in a row of positive weight makes a weighted sum of squares
    NaN or infinite, so finite moments prove those rows finite; non-finite ones
    are checked value by value (finite values near the float64 limit overflow
    too: the preconditioner names them). Rows of zero weight are checked apart:
    a block of them adds nothing to the moments.
    """
    sample_weight = source.sample_weight
    if not (np.isfinite(stats.mean).all() and np.isfinite(stats.var).all()):
        for batch in source.batches(None):
            _check_finite(estimator, batch.X)
    elif sample_weight is not None and not sample_weight.all():
        _check_finite(estimator, source.X[sample_weight == 0])


def _check_finite(estimator, X) -> None:
    """scikit-learn's NaN / infinity error for X, as ``validate_data`` words it."""
    assert_all_finite(X, allow_nan=False, estimator_name=type(estimator).__name__,
                      input_name="X")


def _split_validation(source: ArraySource, fraction: float, rng: np.random.Generator, encoded):
    """Hold out `fraction` of the rows (stratified for single-label y) for early stopping."""
    n = source.n_samples
    n_val = int(np.ceil(fraction * n))
    if n_val < 1 or n - n_val < 1:
        raise XentlearnInputError(
            f"validation_fraction={fraction} leaves no rows for training or validation "
            f"with {n} samples")
    if encoded.kind in ("binary", "multiclass"):
        from sklearn.model_selection import train_test_split

        labels = encoded.targets.astype(np.intp)
        counts = np.bincount(labels)
        stratify = labels if counts[counts > 0].min() >= 2 and n_val >= len(counts) else None
        train_rows, val_rows = train_test_split(
            np.arange(n), test_size=n_val, random_state=int(rng.integers(2**31 - 1)),
            stratify=stratify)
    else:
        order = rng.permutation(n)
        train_rows, val_rows = order[n_val:], order[:n_val]
    train_rows.sort()
    val_rows.sort()
    return source.take(train_rows), source.take(val_rows)


def _check_numeric_frame(X) -> None:
    """A DataFrame with text or categorical columns: say which, and what to do instead."""
    module = type(X).__module__.split(".")[0]
    if module == "pandas":
        bad = [str(c) for c, column in X.items() if not _numbers_in(column)]
    elif module == "polars":
        bad = [name for name, d in X.schema.items() if not (d.is_numeric() or str(d) == "Boolean")]
    else:
        return
    if bad:
        raise XentlearnInputError(
            f"X has non-numeric column(s) {bad}: encode them first, e.g. "
            "make_pipeline(xentlearn.preprocessing.TablePreprocessor(), LogisticRegression()) "
            "(one-hot text, standardised numbers), or train from files with "
            "xentlearn.data.TableFiles, which does the same")


def _numbers_in(column) -> bool:
    """Whether a pandas column holds numbers scikit-learn's validation converts: a numeric
    or boolean dtype, a categorical of numbers, or objects that are all numbers (Decimal
    included; text such as "0.5" is not: a code read as a number is a silent mistake)."""
    import pandas as pd
    from pandas.api.types import infer_dtype, is_bool_dtype, is_numeric_dtype

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if is_numeric_dtype(dtype) or is_bool_dtype(dtype):
        return True
    if dtype != object:
        return False
    # Missing values (None, NaN) are left to scikit-learn's check, which names them.
    kind = infer_dtype(column, skipna=True)
    if kind in ("mixed", "mixed-integer"):      # such as True beside 1, or 'a' beside 1
        present = column.dropna()
        return not present.map(lambda v: isinstance(v, (str, bytes))).any() and (
            infer_dtype(present.astype(float, errors="ignore"), skipna=True) in _NUMBER_KINDS)
    return kind in _NUMBER_KINDS


# pandas' infer_dtype of an object column that holds numbers only.
_NUMBER_KINDS = ("floating", "integer", "mixed-integer-float", "decimal", "boolean", "empty")


def _nullable_labels_as_numpy(y):
    """pandas' nullable Int64 / boolean labels keep their type (scikit-learn makes them float)."""
    dtype = getattr(y, "dtype", None)
    if type(y).__module__.split(".")[0] != "pandas" or getattr(y, "ndim", 0) != 1:
        return y
    kind = getattr(dtype, "kind", None)
    if getattr(dtype, "na_value", None) is not None and kind in ("i", "u", "b") \
            and not y.isna().any():
        return y.to_numpy(dtype=dtype.numpy_dtype)
    return y
