"""Estimator <-> model file (arrays + JSON), on top of ``xentlearn.io``.

What a file holds: the class name and every hyperparameter (JSON), the fitted
parameters (arrays, bit for bit), ``classes_``, the task, feature names, the
training history, the tabular preprocessing when the model was trained on
files, the calibration temperature, and the training state that ``partial_fit``
continues from (the optimizer state as ``train.*`` arrays, the random
generator's state and counters in the metadata), so that ``partial_fit`` after
``load`` is bit-identical to ``partial_fit`` on the object that was saved. What
it does not hold: user callbacks (code is never saved or run).

Loading is strict and bounded (DESIGN §4). ``xentlearn.io.read`` bounds what a
file may make it decompress and parse; on top of that, ``load`` checks the
metadata section by section (one ``_check_*`` function each) and compares every
shape it implies with the arrays' ``.npy`` headers before a single array byte is
read. Shapes are computed arithmetically from the metadata, never by building a
model, so ``hidden_layer_sizes=[15000, 15000]`` or ``n_features_in=10**12`` in a
small file is refused without allocating anything. Once the arrays are read,
their values are checked too (finite parameters, distinct classes, ...). Every
refusal is a ``ModelFileError`` naming the path and the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from xentlearn import io
from xentlearn.exceptions import ModelFileError, XentlearnInputError
from xentlearn.io import ArrayHeader
from xentlearn.training import EpochRecord, initial_state, state_from_parts, state_to_parts

TASKS = ("binary", "multiclass", "multilabel", "soft")
# TabularPreprocessor's column kinds (its kinds_), as to_dict writes them; a date
# column is written as "date", or as "categorical" with "expand": "date".
_COLUMN_KINDS = ("numeric", "bool", "categorical", "date")
# Arrays besides "param.<key>"; any other array name is refused.
_OTHER_ARRAYS = ("classes", "class_weight", "feature_names_in")
# The training state's arrays are named "train.<path>".
_STATE_PREFIX = "train"
# Hyperparameters whose JSON form is an array or object; every other one is a scalar.
_STRUCTURED_PARAMS = ("class_weight", "hidden_layer_sizes")


# The estimators a file may hold; their classes are imported only to build one
# (scikit-learn's import is slow, and ``describe`` needs none of it).
ESTIMATOR_NAMES = ("LogisticRegression", "MLPClassifier")


def _estimator_class(name: str):
    if name == "LogisticRegression":
        from xentlearn.estimators._logistic import LogisticRegression as cls
    else:
        from xentlearn.estimators._mlp import MLPClassifier as cls
    return cls


def _json_params(estimator) -> dict:
    params = estimator.get_params(deep=False)
    params["dtype"] = np.dtype(params["dtype"]).name
    params["callbacks"] = None
    if isinstance(params.get("random_state"), (np.random.Generator, np.random.RandomState)):
        params["random_state"] = None
    if isinstance(params.get("checkpoint"), (os.PathLike, bytes)):
        params["checkpoint"] = os.fsdecode(params["checkpoint"])
    if isinstance(params.get("class_weight"), dict):
        # JSON keys must be strings; labels keep their type as [label, weight] pairs.
        params["class_weight"] = {"pairs": [[_plain(k), float(v)]
                                            for k, v in params["class_weight"].items()]}
    if "hidden_layer_sizes" in params:
        sizes = params["hidden_layer_sizes"]
        params["hidden_layer_sizes"] = [int(sizes)] if np.isscalar(sizes) else [int(s) for s in sizes]
    return params


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _classes_array(classes: np.ndarray) -> np.ndarray:
    if classes.dtype != object:
        return classes
    if all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise XentlearnInputError(
        "classes_ mixes label types that a model file cannot store without pickle; "
        "use labels that are all strings or all numbers")


def save(estimator, path) -> None:
    """Write a fitted estimator to `path` (atomically: an old file survives a crash).

    Temporaries that earlier saves of `path` left behind when killed are
    removed by this one (see ``xentlearn.io.write``). The metadata, the
    training history included, must stay within what ``load`` accepts
    (``xentlearn.io.MAX_META_BYTES``, about 40,000 epochs of history); beyond
    that ``xentlearn.io.MetadataTooLargeError`` (an ``XentlearnInputError``)
    is raised and nothing is written.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "classes_")
    params = estimator._attributes_to_params()
    arrays = {f"param.{key}": value for key, value in params.items()}
    arrays["classes"] = _classes_array(np.asarray(estimator.classes_))
    if estimator._class_weight is not None:
        arrays["class_weight"] = estimator._class_weight
    if hasattr(estimator, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(estimator.feature_names_in_).astype(str)
    from xentlearn import __version__

    meta = {
        "xentlearn_version": __version__,
        "estimator": type(estimator).__name__,
        "params": _json_params(estimator),
        "task": estimator._task,
        "n_features_in": int(estimator.n_features_in_),
        "param_keys": list(params),
        "history": estimator.history_,
        "preprocessing": getattr(estimator, "preprocessing_", None),
        "feature_columns": getattr(estimator, "feature_columns_", None),
        "target_column": getattr(estimator, "target_column_", None),
        # Strings are stored as fixed-width unicode; this restores object arrays as fitted.
        "classes_object": np.asarray(estimator.classes_).dtype == object,
    }
    if getattr(estimator, "temperature_", None) is not None:   # calibration="temperature"
        meta["temperature"] = float(estimator.temperature_)
    if getattr(estimator, "_alpha", None) is not None:
        meta["alpha_resolved"] = float(estimator._alpha)    # alpha="auto", as the first fit set it
    state = getattr(estimator, "_state", None)
    if state is not None:
        # The parameters and the history are stored above; the stopping rules end with fit.
        state_arrays, meta["train_state"] = state_to_parts(
            state._replace(stoppers=()), _STATE_PREFIX, with_params=False, with_history=False)
        arrays.update(state_arrays)
    try:
        io.write(path, arrays, meta)
    except io.MetadataTooLargeError as error:
        if len(estimator.history_) < 1000:
            raise
        # The history is the only part of the metadata that grows without
        # bound (one record per epoch, partial_fit call included).
        raise io.MetadataTooLargeError(
            f"{error}: most of it is the training history, {len(estimator.history_)} epochs "
            f"(about {io.MAX_META_BYTES // 200} fit in a model file)") from None


# ---------------------------------------------------------------- load


class Layout(NamedTuple):
    """What the metadata and the array headers say without the estimator's class
    (``_check_layout``): enough to describe a file, not yet to build its estimator."""

    estimator: str                      # one of ESTIMATOR_NAMES
    task: str
    n_features: int
    n_classes: int
    history: list[dict]
    temperature: float | None
    preprocessing: dict | None
    feature_columns: list[str] | None
    target_column: str | None
    classes_object: bool
    alpha: float | None                 # alpha="auto" as resolved by the first fit
    train_state: dict | None            # the training state's metadata (arrays: train.*)


class _Plan(NamedTuple):
    """What the metadata and the array headers say, once checked against each other."""

    layout: Layout
    estimator: Any                      # unfitted, hyperparameters set and validated
    n_outputs: int
    param_shapes: dict[str, tuple[int, ...]]
    dtype: np.dtype


def load(path):
    """Read a model file written by ``save``; never unpickles, never runs code.

    Raises
    ------
    ModelFileError
        The file is missing, not a regular file, corrupt, truncated, foreign,
        from a newer format version, larger than its size allows, or
        describes no consistent xentlearn estimator (a hyperparameter, the
        task, the classes, a parameter shape or value, the history or the
        preprocessing is wrong): the message names the path and the field.
        Never another exception.
    """
    path = os.fspath(path)
    plans: list[_Plan] = []

    def check(meta: dict, headers: dict[str, ArrayHeader]) -> None:
        plans.append(_guarded(path, _check_file, meta, headers, path))

    arrays, _ = io.read(path, check=check)
    return _guarded(path, _build, plans[0], arrays, path)


def _guarded(path: str, fn, *args):
    # The checks below are meant to leave nothing for these to catch; if one
    # is missed, the caller still gets the documented exception, not a crash.
    try:
        return fn(*args)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as error:
        raise ModelFileError(
            f"model file '{path}' does not describe a model xentlearn can load "
            f"({type(error).__name__}: {error})") from None


def _refuse(path: str, field: str, problem: str) -> ModelFileError:
    return ModelFileError(
        f"model file '{path}' does not describe a model xentlearn can load: {field} {problem}")


def _wrong(path: str, field: str, value: Any, expected: str) -> ModelFileError:
    return _refuse(path, field, f"is {_show(value)}; expected {expected}")


def _show(value: Any) -> str:
    """A short description of a JSON value for messages (a value may be megabytes).

    A short list of short scalars is shown as it is; longer containers by size.
    """
    if (isinstance(value, list) and len(value) <= 8
            and all(isinstance(item, (str, int, float, type(None))) and len(repr(item)) <= 40
                    for item in value)):
        return repr(value)
    if isinstance(value, dict):
        return f"a JSON object of {len(value)} keys"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:40]) + "..."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_float_of(header: ArrayHeader, dtype: np.dtype) -> bool:
    """A float array of `dtype`'s size, in either byte order (``_build`` converts)."""
    return header.dtype.kind == "f" and header.dtype.itemsize == dtype.itemsize


def _check_file(meta: dict, headers: dict[str, ArrayHeader], path: str) -> _Plan:
    """Every metadata section, then every array header against it; nothing allocated."""
    layout = _check_layout(meta, headers, path)
    estimator = _check_hyperparameters(meta, path)
    n_outputs = 1 if layout.task == "binary" else layout.n_classes
    dtype = np.dtype(estimator._resolved_dtype())
    param_shapes = _check_parameter_headers(meta, headers, estimator, layout.n_features,
                                            n_outputs, dtype, path)
    _check_other_headers(headers, estimator, layout.task, layout.n_features, layout.n_classes,
                         dtype, param_shapes, path)
    if layout.temperature is not None and estimator.calibration != "temperature":
        raise _refuse(path, "meta field 'temperature'",
                      "is set but params.calibration is not 'temperature'")
    return _Plan(layout, estimator, n_outputs, param_shapes, dtype)


def _check_layout(meta: dict, headers: dict[str, ArrayHeader], path: str) -> Layout:
    """The checks that need no estimator class: every section but the hyperparameters'
    constraints and the parameter shapes they imply (``_check_file`` adds those)."""
    _check_required(meta, path)
    name = meta["estimator"]
    if not isinstance(name, str) or name not in ESTIMATOR_NAMES:
        raise _refuse(path, "meta field 'estimator'",
                      f"is {_show(name)}; expected one of {sorted(ESTIMATOR_NAMES)}")
    if not isinstance(meta["params"], dict):
        raise _wrong(path, "meta field 'params'", meta["params"], "a JSON object")
    task = _check_task(meta, path)
    n_features = _check_n_features(meta, path)
    classes_object = _check_flag(meta, "classes_object", path)
    n_classes = _check_classes_header(headers, task, classes_object, path)
    history = _check_history(meta, path)
    temperature = _check_temperature(meta, path)
    preprocessing, feature_columns, target_column = _check_preprocessing(meta, n_features, path)
    alpha = meta.get("alpha_resolved")
    if alpha is not None and (not _is_number(alpha) or not math.isfinite(alpha) or alpha <= 0):
        raise _wrong(path, "meta field 'alpha_resolved'", alpha, "a finite number > 0 or null")
    train_state = meta.get("train_state")
    if train_state is not None and not isinstance(train_state, dict):
        raise _wrong(path, "meta field 'train_state'", train_state, "an object or null")
    return Layout(name, task, n_features, n_classes, history, temperature, preprocessing,
                  feature_columns, target_column, classes_object, alpha, train_state)


def _check_required(meta: dict, path: str) -> None:
    for key in ("estimator", "params", "task", "n_features_in", "param_keys", "history"):
        if key not in meta:
            raise _refuse(path, f"meta field {key!r}", "is missing")
    version = meta.get("xentlearn_version")
    if version is not None and not isinstance(version, str):
        raise _wrong(path, "meta field 'xentlearn_version'", version, "a string")


def _check_hyperparameters(meta: dict, path: str):
    """The estimator named by the file, built with its hyperparameters and validated."""
    name = meta["estimator"]
    cls = _estimator_class(name)
    params = meta["params"]
    known = cls().get_params(deep=False)
    decoded = {}
    for key, value in params.items():
        field = f"meta field 'params.{key[:40]}'"
        if key not in known:
            raise _refuse(path, field, f"is not a parameter of {name}")
        if isinstance(value, (list, dict)) and key not in _STRUCTURED_PARAMS:
            raise _wrong(path, field, value, "a number, string, boolean or null")
        decoded[key] = _decode_hyperparameter(key, value, field, path)
    estimator = cls(**decoded)
    try:
        # scikit-learn's constraints (types, ranges, options), then the checks
        # fit makes before it allocates (dtype, hidden layer sizes).
        estimator._validate_params()
        estimator._resolved_dtype()
        if hasattr(estimator, "_hidden"):
            estimator._hidden()
    except (ValueError, TypeError) as error:
        raise _refuse(path, "meta field 'params'", f"is invalid: {error}") from None
    return estimator


def _decode_hyperparameter(key: str, value, field: str, path: str):
    """The Python value of a hyperparameter from its JSON form (see ``_json_params``)."""
    if key == "dtype":
        if value not in ("float32", "float64"):
            raise _wrong(path, field, value, "'float32' or 'float64'")
        return np.dtype(value).type
    if key == "callbacks":
        if value is not None:   # code is never saved, so a file never holds callbacks
            raise _wrong(path, field, value, "null")
        return None
    if key == "hidden_layer_sizes":
        if (not isinstance(value, list) or len(value) >= io.MAX_ENTRIES
                or not all(_is_int(size) and size >= 1 for size in value)):
            raise _wrong(path, field, value, "a list of positive integers")
        return tuple(value)
    if key == "class_weight" and isinstance(value, dict):
        return _decode_class_weight(value, field, path)
    return value


def _decode_class_weight(value: dict, field: str, path: str) -> dict:
    pairs = value.get("pairs")
    if set(value) != {"pairs"} or not isinstance(pairs, list):
        raise _wrong(path, field, value, '{"pairs": [[label, weight], ...]}')
    weights = {}
    for i, pair in enumerate(pairs):
        where = f"meta field 'params.class_weight.pairs[{i}]'"
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _wrong(path, where, pair, "[label, weight]")
        label, weight = pair
        if not isinstance(label, (str, int, float)) or (
                isinstance(label, float) and not math.isfinite(label)):
            raise _refuse(path, where, f"has label {_show(label)}; expected a class label")
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0:
            raise _refuse(path, where, f"has weight {_show(weight)}; expected a finite number >= 0")
        if label in weights:
            raise _refuse(path, where, f"repeats label {_show(label)}")
        weights[label] = weight
    return weights


def _check_task(meta: dict, path: str) -> str:
    task = meta["task"]
    if not isinstance(task, str) or task not in TASKS:
        raise _refuse(path, "meta field 'task'", f"is {_show(task)}; expected one of {list(TASKS)}")
    return task


def _check_n_features(meta: dict, path: str) -> int:
    n_features = meta["n_features_in"]
    if not _is_int(n_features) or n_features < 1:
        raise _wrong(path, "meta field 'n_features_in'", n_features, "a positive integer")
    return n_features


def _check_flag(meta: dict, key: str, path: str) -> bool:
    value = meta.get(key, False)
    if not isinstance(value, bool):
        raise _wrong(path, f"meta field {key!r}", value, "true or false")
    return value


def _check_classes_header(headers: dict[str, ArrayHeader], task: str, classes_object: bool,
                          path: str) -> int:
    """The number of classes, from the header of ``classes``, consistent with the task."""
    header = headers.get("classes")
    if header is None:
        raise _refuse(path, "array 'classes'", "is missing")
    if len(header.shape) != 1:
        raise _refuse(path, "array 'classes'", f"has shape {header.shape}; expected one dimension")
    kind = header.dtype.kind
    if kind not in "biufU" or (classes_object and kind != "U"):
        raise _refuse(path, "array 'classes'",
                      f"has dtype {header.dtype}; expected " + ("strings (classes_object is true)"
                                                              if classes_object else "numbers or strings"))
    n_classes = header.shape[0]
    if task == "binary" and n_classes != 2:
        problem = f"holds {n_classes} classes but task 'binary' needs exactly 2"
    elif task == "multiclass" and n_classes < 3:
        problem = f"holds {n_classes} classes but task 'multiclass' needs at least 3"
    elif task in ("multilabel", "soft") and n_classes < 2:
        problem = f"holds {n_classes} classes but task {task!r} needs at least 2"
    elif task in ("multilabel", "soft") and kind not in "iu":
        problem = f"has dtype {header.dtype} but task {task!r} has classes 0..k-1 (integers)"
    else:
        return n_classes
    raise _refuse(path, "array 'classes'", problem)


def _check_parameter_headers(meta: dict, headers: dict[str, ArrayHeader], estimator,
                             n_features: int, n_outputs: int, dtype: np.dtype,
                             path: str) -> dict[str, tuple[int, ...]]:
    """Every ``param.<key>`` header has the shape and dtype the metadata implies."""
    param_keys = meta["param_keys"]
    if not isinstance(param_keys, list) or not all(isinstance(key, str) for key in param_keys):
        raise _wrong(path, "meta field 'param_keys'", param_keys, "a list of strings")
    try:
        model = estimator._make_model(n_features, n_outputs)   # a frozen configuration, no arrays
    except (ValueError, TypeError) as error:
        raise _refuse(path, "meta field 'params'", f"describes no model: {error}") from None
    shapes = model.parameter_shapes()   # the layout, computed without allocating
    if param_keys != list(shapes):
        raise _refuse(path, "meta field 'param_keys'",
                      f"is {_show(param_keys)}; the hyperparameters describe a model with "
                      f"parameters {_show(list(shapes))}")
    for key, shape in shapes.items():
        name = f"param.{key}"
        header = headers.get(name)
        if header is None:
            raise _refuse(path, f"array {name!r}", "is missing")
        if header.shape != shape:
            raise _refuse(path, f"array {name!r}",
                          f"has shape {header.shape}, but n_features_in={n_features}, the task, "
                          f"the classes and the hyperparameters give {shape}")
        if not _is_float_of(header, dtype):
            raise _refuse(path, f"array {name!r}", f"has dtype {header.dtype}; params.dtype is {dtype}")
    return shapes


def _check_other_headers(headers: dict[str, ArrayHeader], estimator, task: str, n_features: int,
                         n_classes: int, dtype: np.dtype, param_shapes: dict, path: str) -> None:
    known = {f"param.{key}" for key in param_shapes} | set(_OTHER_ARRAYS)
    for name in headers:
        # Training-state arrays are checked against the optimizer's own state in _build.
        if name not in known and not name.startswith(_STATE_PREFIX + "."):
            raise _refuse(path, f"array {name!r}", "is not part of a model file")
    header = headers.get("class_weight")
    if estimator.class_weight is None or task == "multilabel":
        if header is not None:
            raise _refuse(path, "array 'class_weight'",
                          "is present but the model has no class weights "
                          f"(params.class_weight is {_show(estimator.class_weight)}, task {task!r})")
    elif header is None:
        raise _refuse(path, "array 'class_weight'",
                      f"is missing but params.class_weight is {_show(estimator.class_weight)}")
    elif header.shape != (n_classes,) or not _is_float_of(header, dtype):
        raise _refuse(path, "array 'class_weight'",
                      f"has shape {header.shape} and dtype {header.dtype}; expected ({n_classes},) "
                      f"of {dtype}, one weight per class")
    header = headers.get("feature_names_in")
    if header is not None and (header.shape != (n_features,) or header.dtype.kind != "U"):
        raise _refuse(path, "array 'feature_names_in'",
                      f"has shape {header.shape} and dtype {header.dtype}; expected "
                      f"({n_features},) strings, one per feature (n_features_in)")


def _check_history(meta: dict, path: str) -> list[dict]:
    """One record per epoch, with exactly ``EpochRecord``'s fields and types."""
    history = meta["history"]
    if not isinstance(history, list):
        raise _wrong(path, "meta field 'history'", history, "a list of epochs")
    fields = set(EpochRecord._fields)
    optional = ("val_loss", "val_accuracy")
    for i, record in enumerate(history):
        where = f"meta field 'history[{i}]'"
        if not isinstance(record, dict) or set(record) != fields:
            raise _wrong(path, where, record, f"an object with the keys {list(EpochRecord._fields)}")
        if not _is_int(record["epoch"]):
            raise _wrong(path, f"meta field 'history[{i}].epoch'", record["epoch"], "an integer")
        for key in EpochRecord._fields[1:]:
            value = record[key]
            if not (_is_number(value) or (value is None and key in optional)):
                expected = "a number or null" if key in optional else "a number"
                raise _wrong(path, f"meta field 'history[{i}].{key}'", value, expected)
    return history


def _check_temperature(meta: dict, path: str) -> float | None:
    """The fitted temperature of calibration="temperature" (logits are divided by it)."""
    temperature = meta.get("temperature")
    if temperature is None:
        return None
    if not _is_number(temperature) or not math.isfinite(temperature) or temperature <= 0:
        raise _wrong(path, "meta field 'temperature'", temperature, "a finite number > 0")
    return float(temperature)


def _check_preprocessing(meta: dict, n_features: int, path: str):
    """(preprocessing, feature_columns, target_column), consistent with n_features_in.

    The fields a hand edit most likely breaks are checked here to name them;
    ``TabularPreprocessor.from_dict`` then checks every field (date columns
    and the version-2 fields included) and says how many features the
    preprocessing makes, which must be n_features_in.
    """
    preprocessing = meta.get("preprocessing")
    feature_columns = meta.get("feature_columns")
    target_column = meta.get("target_column")
    if preprocessing is None:
        for key, value in (("feature_columns", feature_columns), ("target_column", target_column)):
            if value is not None:
                raise _refuse(path, f"meta field {key!r}",
                              f"is {_show(value)} but the model has no preprocessing (it was "
                              "trained on arrays); expected null")
        return None, None, None
    if not isinstance(preprocessing, dict):
        raise _wrong(path, "meta field 'preprocessing'", preprocessing, "an object or null")
    columns = preprocessing.get("columns")
    if not isinstance(columns, list) or not columns:
        raise _wrong(path, "meta field 'preprocessing.columns'", columns, "a list of columns")
    names = []
    for i, column in enumerate(columns):
        where = f"meta field 'preprocessing.columns[{i}]"
        if not isinstance(column, dict):
            raise _wrong(path, where + "'", column, "an object")
        name, kind = column.get("name"), column.get("kind")
        if not isinstance(name, str):
            raise _wrong(path, where + ".name'", name, "a string")
        if kind not in _COLUMN_KINDS:
            raise _wrong(path, where + ".kind'", kind, f"one of {list(_COLUMN_KINDS)}")
        names.append(name)
        if kind == "categorical" and "expand" not in column:
            categories = column.get("categories")
            if (not isinstance(categories, list) or not categories
                    or not all(isinstance(c, str) for c in categories)
                    or len(set(categories)) != len(categories)):
                raise _wrong(path, where + ".categories'", categories,
                             "a non-empty list of distinct strings")
        elif kind in ("numeric", "bool"):
            for key in ("mean", "std"):
                value = column.get(key)
                if not _is_number(value) or not math.isfinite(value) or (key == "std" and value <= 0):
                    expected = "a finite number > 0" if key == "std" else "a finite number"
                    raise _wrong(path, f"{where}.{key}'", value, expected)
    if len(set(names)) != len(names):
        raise _refuse(path, "meta field 'preprocessing.columns'", "repeats a column name")
    if feature_columns != names:
        raise _wrong(path, "meta field 'feature_columns'", feature_columns,
                     f"the preprocessing's columns {_show(names)}")
    if target_column is not None and (not isinstance(target_column, str) or target_column in names):
        raise _wrong(path, "meta field 'target_column'", target_column,
                     "null or a column name that is not a feature")
    from xentlearn.data import TabularPreprocessor

    try:
        width = TabularPreprocessor.from_dict(preprocessing).n_features_out
    except XentlearnInputError as error:
        raise _refuse(path, "meta field 'preprocessing'", f"is invalid: {error}") from None
    if width != n_features:
        raise _refuse(path, "meta field 'preprocessing.columns'",
                      f"encode {width} features but n_features_in is {n_features}")
    return preprocessing, feature_columns, target_column


def _check_array_values(arrays: Mapping[str, np.ndarray], plan: _Plan, path: str) -> None:
    """What headers cannot show: finite parameters and weights, distinct classes."""
    for key in plan.param_shapes:
        if not np.isfinite(arrays[f"param.{key}"]).all():
            raise _refuse(path, f"array 'param.{key}'", "holds NaN or infinite values")
    classes = arrays["classes"]
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise _refuse(path, "array 'classes'", "holds NaN or infinite labels")
    if plan.layout.task in ("multilabel", "soft"):
        if not np.array_equal(classes, np.arange(classes.shape[0])):
            raise _refuse(path, "array 'classes'",
                          f"must be 0..{classes.shape[0] - 1} for task {plan.layout.task!r} (one per column)")
    elif np.unique(classes).shape[0] != classes.shape[0]:
        raise _refuse(path, "array 'classes'", "repeats a class")
    class_weight = arrays.get("class_weight")
    if class_weight is not None and not (np.isfinite(class_weight).all() and (class_weight >= 0).all()):
        raise _refuse(path, "array 'class_weight'", "holds a weight that is negative, NaN or infinite")


def _build(plan: _Plan, arrays: Mapping[str, np.ndarray], path: str):
    """The fitted estimator from checked metadata and arrays."""
    _check_array_values(arrays, plan, path)
    estimator = plan.estimator
    estimator._task = plan.layout.task
    estimator.classes_ = (arrays["classes"].astype(object) if plan.layout.classes_object
                          else arrays["classes"])
    estimator.n_features_in_ = plan.layout.n_features
    if "feature_names_in" in arrays:
        estimator.feature_names_in_ = arrays["feature_names_in"].astype(object)
    class_weight = arrays.get("class_weight")
    estimator._class_weight = (None if class_weight is None
                               else class_weight.astype(plan.dtype, copy=False))
    # A file written on a machine of the other byte order holds the same values.
    model_params = {key: arrays[f"param.{key}"].astype(plan.dtype, copy=False)
                    for key in plan.param_shapes}
    estimator._model = estimator._make_model(plan.layout.n_features, plan.n_outputs)
    estimator._params_to_attributes(model_params)
    estimator._set_history(plan.layout.history)
    if plan.layout.alpha is not None:
        estimator._alpha = plan.layout.alpha
    estimator._state = _train_state(plan, estimator, model_params, arrays, path)
    if plan.layout.temperature is not None:
        estimator.temperature_ = plan.layout.temperature
    if plan.layout.preprocessing is not None:
        from xentlearn.data import TabularPreprocessor

        estimator.preprocessing_ = plan.layout.preprocessing
        estimator._preprocessor = TabularPreprocessor.from_dict(plan.layout.preprocessing)
        estimator.feature_columns_ = list(plan.layout.feature_columns)
        estimator.target_column_ = plan.layout.target_column
    return estimator


def _train_state(plan: _Plan, estimator, params: dict, arrays: Mapping[str, np.ndarray],
                 path: str):
    """The saved training state, checked entry by entry against the state a partial_fit of
    this estimator would start from (its optimizer's ``init``); None if the file has none
    (files of earlier versions: partial_fit then starts a fresh optimizer)."""
    names = [name for name in arrays if name.startswith(_STATE_PREFIX + ".")]
    if plan.layout.train_state is None:
        if names:
            raise _refuse(path, f"array {names[0]!r}",
                          "is present but meta field 'train_state' is missing")
        return None
    from xentlearn.estimators._solvers import SOLVERS, solver_settings
    from xentlearn.penalties import Penalty

    alpha = plan.layout.alpha if estimator.alpha == "auto" else estimator.alpha
    if alpha is None:
        raise _refuse(path, "meta field 'alpha_resolved'", "is missing but params.alpha is 'auto'")
    model = estimator._model
    # The state's structure depends on the chain of transforms only, not on the schedule.
    settings = solver_settings(
        estimator, learning_rate=lambda step: 1.0, steps_per_epoch=1, plateau=False,
        penalty=Penalty.from_name(estimator.penalty, alpha, estimator.l1_ratio),
        penalty_mask=model.penalty_mask())
    optimizer = SOLVERS[estimator.solver].make_optimizer(settings)
    history = tuple(EpochRecord(**record) for record in plan.layout.history)
    template = initial_state(params, optimizer.init(params), np.random.default_rng(0), (),
                             epoch=len(history), history=history)
    try:
        return state_from_parts(dict(arrays), plan.layout.train_state, template, _STATE_PREFIX)
    except XentlearnInputError as error:
        raise _refuse(path, "the training state (meta field 'train_state', arrays 'train.*')",
                      f"does not fit this model: {error}") from None
