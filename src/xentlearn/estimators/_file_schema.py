"""What a model file must hold: its metadata checked section by section against
the arrays' ``.npy`` headers, before any array data is read.

``load`` (``_persistence``) and ``describe`` read a file through these checks.
Shapes are computed arithmetically from the metadata, never by building a
model, so ``hidden_layer_sizes=[15000, 15000]`` or ``n_features_in=10**12`` in
a small file is refused without allocating anything; once the arrays are read,
``check_array_values`` checks what headers cannot show. Every refusal is a
``ModelFileError`` naming the path and the field (``refuse``, ``_wrong``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from xentlearn import io
from xentlearn.exceptions import ModelFileError, XentlearnInputError
from xentlearn.io import ArrayHeader
from xentlearn.training import EpochRecord

# The "kind" in a checkpoint's meta (estimators._checkpoint writes it): such a file is
# refused by name here rather than as a model file with missing fields.
CHECKPOINT_KIND = "xentlearn-checkpoint"

TASKS = ("binary", "multiclass", "multilabel", "soft")
# TabularPreprocessor's column kinds (its kinds_), as to_dict writes them; a date
# column is written as "date", or as "categorical" with "expand": "date".
_COLUMN_KINDS = ("numeric", "bool", "categorical", "date")
# Arrays besides "param.<key>"; any other array name is refused.
_OTHER_ARRAYS = ("classes", "class_weight", "feature_names_in")
# The training state's arrays are named "train.<path>".
STATE_PREFIX = "train"
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


class Layout(NamedTuple):
    """What the metadata and the array headers say without the estimator's class
    (``check_layout``): enough to describe a file, not yet to build its estimator."""

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


class Plan(NamedTuple):
    """What the metadata and the array headers say, once checked against each other."""

    layout: Layout
    estimator: Any                      # unfitted, hyperparameters set and validated
    n_outputs: int
    param_shapes: dict[str, tuple[int, ...]]
    dtype: np.dtype


def guarded(path: str, fn, *args):
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


def refuse(path: str, field: str, problem: str) -> ModelFileError:
    return ModelFileError(
        f"model file '{path}' does not describe a model xentlearn can load: {field} {problem}")


def _wrong(path: str, field: str, value: Any, expected: str) -> ModelFileError:
    return refuse(path, field, f"is {_show(value)}; expected {expected}")


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


def check_file(meta: dict, headers: dict[str, ArrayHeader], path: str) -> Plan:
    """Every metadata section, then every array header against it; nothing allocated."""
    layout = check_layout(meta, headers, path)
    estimator = _check_hyperparameters(meta, path)
    n_outputs = 1 if layout.task == "binary" else layout.n_classes
    dtype = np.dtype(estimator._resolved_dtype())
    param_shapes = _check_parameter_headers(meta, headers, estimator, layout.n_features,
                                            n_outputs, dtype, path)
    _check_other_headers(headers, estimator, layout.task, layout.n_features, layout.n_classes,
                         dtype, param_shapes, path)
    if layout.temperature is not None and estimator.calibration != "temperature":
        raise refuse(path, "meta field 'temperature'",
                      "is set but params.calibration is not 'temperature'")
    return Plan(layout, estimator, n_outputs, param_shapes, dtype)


def check_layout(meta: dict, headers: dict[str, ArrayHeader], path: str) -> Layout:
    """The checks that need no estimator class: every section but the hyperparameters'
    constraints and the parameter shapes they imply (``check_file`` adds those)."""
    _check_required(meta, path)
    name = meta["estimator"]
    if not isinstance(name, str) or name not in ESTIMATOR_NAMES:
        raise refuse(path, "meta field 'estimator'",
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
    if meta.get("kind") == CHECKPOINT_KIND:
        state = meta.get("state")
        epoch, batch = (state.get("epoch"), state.get("batch")) if isinstance(state, dict) \
            else (None, None)
        at = ""
        if isinstance(epoch, int) and isinstance(batch, int):
            at = (f" (saved in epoch {epoch + 1}, after {batch} of its batches)" if batch
                  else f" (saved after epoch {epoch})")
        raise ModelFileError(
            f"{path} is a training checkpoint{at}, not a model file: running the same fit "
            f"(or xentlearn train) again with this checkpoint path resumes it and writes the "
            f"model; delete it to start over")
    for key in ("estimator", "params", "task", "n_features_in", "param_keys", "history"):
        if key not in meta:
            raise refuse(path, f"meta field {key!r}", "is missing")
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
            raise refuse(path, field, f"is not a parameter of {name}")
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
        raise refuse(path, "meta field 'params'", f"is invalid: {error}") from None
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
            raise refuse(path, where, f"has label {_show(label)}; expected a class label")
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0:
            raise refuse(path, where, f"has weight {_show(weight)}; expected a finite number >= 0")
        if label in weights:
            raise refuse(path, where, f"repeats label {_show(label)}")
        weights[label] = weight
    return weights


def _check_task(meta: dict, path: str) -> str:
    task = meta["task"]
    if not isinstance(task, str) or task not in TASKS:
        raise refuse(path, "meta field 'task'", f"is {_show(task)}; expected one of {list(TASKS)}")
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
        raise refuse(path, "array 'classes'", "is missing")
    if len(header.shape) != 1:
        raise refuse(path, "array 'classes'", f"has shape {header.shape}; expected one dimension")
    kind = header.dtype.kind
    if kind not in "biufUM" or (classes_object and kind != "U"):
        expected = ("strings (classes_object is true)" if classes_object
                    else "numbers, strings or dates")
        raise refuse(path, "array 'classes'", f"has dtype {header.dtype}; expected {expected}")
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
    raise refuse(path, "array 'classes'", problem)


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
        raise refuse(path, "meta field 'params'", f"describes no model: {error}") from None
    shapes = model.parameter_shapes()   # the layout, computed without allocating
    if param_keys != list(shapes):
        raise refuse(path, "meta field 'param_keys'",
                      f"is {_show(param_keys)}; the hyperparameters describe a model with "
                      f"parameters {_show(list(shapes))}")
    for key, shape in shapes.items():
        name = f"param.{key}"
        header = headers.get(name)
        if header is None:
            raise refuse(path, f"array {name!r}", "is missing")
        if header.shape != shape:
            raise refuse(path, f"array {name!r}",
                          f"has shape {header.shape}, but n_features_in={n_features}, the task, "
                          f"the classes and the hyperparameters give {shape}")
        if not _is_float_of(header, dtype):
            raise refuse(path, f"array {name!r}", f"has dtype {header.dtype}; params.dtype is {dtype}")
    return shapes


def _check_other_headers(headers: dict[str, ArrayHeader], estimator, task: str, n_features: int,
                         n_classes: int, dtype: np.dtype, param_shapes: dict, path: str) -> None:
    known = {f"param.{key}" for key in param_shapes} | set(_OTHER_ARRAYS)
    for name in headers:
        # Training-state arrays are checked against the optimizer's own state in _build.
        if name not in known and not name.startswith(STATE_PREFIX + "."):
            raise refuse(path, f"array {name!r}", "is not part of a model file")
    header = headers.get("class_weight")
    if estimator.class_weight is None or task == "multilabel":
        if header is not None:
            raise refuse(path, "array 'class_weight'",
                          "is present but the model has no class weights "
                          f"(params.class_weight is {_show(estimator.class_weight)}, task {task!r})")
    elif header is None:
        raise refuse(path, "array 'class_weight'",
                      f"is missing but params.class_weight is {_show(estimator.class_weight)}")
    elif header.shape != (n_classes,) or not _is_float_of(header, dtype):
        raise refuse(path, "array 'class_weight'",
                      f"has shape {header.shape} and dtype {header.dtype}; expected ({n_classes},) "
                      f"of {dtype}, one weight per class")
    header = headers.get("feature_names_in")
    if header is not None and (header.shape != (n_features,) or header.dtype.kind != "U"):
        raise refuse(path, "array 'feature_names_in'",
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
                raise refuse(path, f"meta field {key!r}",
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
        raise refuse(path, "meta field 'preprocessing.columns'", "repeats a column name")
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
        raise refuse(path, "meta field 'preprocessing'", f"is invalid: {error}") from None
    if width != n_features:
        raise refuse(path, "meta field 'preprocessing.columns'",
                      f"encode {width} features but n_features_in is {n_features}")
    return preprocessing, feature_columns, target_column


def check_array_values(arrays: Mapping[str, np.ndarray], plan: Plan, path: str) -> None:
    """What headers cannot show: finite parameters and weights, distinct sorted classes."""
    for key in plan.param_shapes:
        if not np.isfinite(arrays[f"param.{key}"]).all():
            raise refuse(path, f"array 'param.{key}'", "holds NaN or infinite values")
    classes = arrays["classes"]
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise refuse(path, "array 'classes'", "holds NaN or infinite labels")
    if plan.layout.task in ("multilabel", "soft"):
        if not np.array_equal(classes, np.arange(classes.shape[0])):
            raise refuse(path, "array 'classes'",
                          f"must be 0..{classes.shape[0] - 1} for task {plan.layout.task!r} (one per column)")
    elif np.unique(classes).shape[0] != classes.shape[0]:
        raise refuse(path, "array 'classes'", "repeats a class")
    elif not (classes[1:] > classes[:-1]).all():
        # The model's outputs are in sorted-class order: other orders relabel predictions.
        raise refuse(path, "array 'classes'", "is not sorted; classes_ is kept sorted, "
                                              "and the model's outputs follow that order")
    class_weight = arrays.get("class_weight")
    if class_weight is not None and not (np.isfinite(class_weight).all() and (class_weight >= 0).all()):
        raise refuse(path, "array 'class_weight'", "holds a weight that is negative, NaN or infinite")
