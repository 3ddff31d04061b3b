"""Estimator <-> model file (arrays + JSON), on top of ``xentlearn.io``.

What a file holds: the class name and every hyperparameter (JSON), the fitted
parameters (arrays, bit for bit), ``classes_``, the task, feature names, the
training history, the tabular preprocessing when the model was trained on
files, the calibration temperature, and the training state that ``partial_fit``
continues from (the optimizer state as ``train.*`` arrays, the random
generator's state and counters in the metadata), so that ``partial_fit`` after
``load`` is bit-identical to ``partial_fit`` on the object that was saved. What
it does not hold: user callbacks (code is never saved or run), nor the checkpoint
path and interval (see ``_RUN_SETTINGS``).

Loading is strict and bounded (DESIGN §4). ``xentlearn.io.read`` bounds what a
file may make it decompress and parse; on top of that, ``load`` checks the
metadata against the arrays' ``.npy`` headers (``_file_schema``, what a model
file must hold) before a single array byte is read, then the arrays' values,
and only then builds the estimator. Every refusal is a ``ModelFileError``
naming the path and the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

import numpy as np

from xentlearn import io
from xentlearn._checks import python_scalar
from xentlearn.estimators._file_schema import (
    STATE_PREFIX, Plan, check_array_values, check_file, guarded, refuse)
from xentlearn.exceptions import XentlearnInputError
from xentlearn.io import ArrayHeader
from xentlearn.optimizers import (
    LbfgsState, OwlqnState, ScaleByAdagradState, ScaleByAdamState, ScaleByRmsState)
from xentlearn.training import (
    EpochRecord, TrainState, initial_state, state_from_parts, state_to_parts)


# Settings of one run of fit on one machine, not of the model: a file holds None for them
# and a loaded model has None, so that fit on a loaded model (another machine, months later)
# neither resumes from nor writes to the path of the fit that made it; set_params gives
# new ones. None of them changes what training computes (so checkpoints ignore them too).
# callbacks are code, which a file never holds. Pickle and sklearn.base.clone keep them all.
_RUN_SETTINGS = ("callbacks", "checkpoint", "checkpoint_interval")


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
        params["class_weight"] = {"pairs": [[python_scalar(k), float(v)]
                                            for k, v in params["class_weight"].items()]}
    if "hidden_layer_sizes" in params:
        sizes = params["hidden_layer_sizes"]
        params["hidden_layer_sizes"] = [int(sizes)] if np.isscalar(sizes) else [int(s) for s in sizes]
    return params


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

    Every hyperparameter is stored except the settings of the run (callbacks,
    checkpoint, checkpoint_interval), which are stored as None: see ``load``.

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
        "params": {**_json_params(estimator), **dict.fromkeys(_RUN_SETTINGS)},
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
            state._replace(stoppers=()), STATE_PREFIX, with_params=False, with_history=False)
        arrays.update(state_arrays)
    try:
        io.write(path, arrays, meta)
    except io.MetadataTooLargeError as error:
        # What grows without bound: the history (one record per epoch, partial_fit call
        # included) and a table's preprocessing (one record per column).
        preprocessing = meta["preprocessing"] or {}
        if 2 * len(json.dumps(preprocessing)) > len(json.dumps(meta, default=str)):
            columns = preprocessing.get("columns", [])
            categories = sum(len(c.get("categories", ())) for c in columns)
            sizes = re.search(r"\d+ bytes, more than the \d+ allowed", str(error))
            raise io.MetadataTooLargeError(
                f"cannot save the model: its metadata would be more than a model file holds"
                f"{f' ({sizes[0]})' if sizes else ''}, most of it the preprocessing of its "
                f"{len(columns)} table columns ({categories} categories in all); train on "
                "fewer columns, or fewer categories (max_categories)") from None
        if len(estimator.history_) < 1000:
            raise
        raise io.MetadataTooLargeError(
            f"{error}: most of it is the training history, {len(estimator.history_)} epochs "
            f"(about {io.MAX_META_BYTES // 200} fit in a model file)") from None


# ---------------------------------------------------------------- load


def load(path):
    """Read a model file written by ``save``; never unpickles, never runs code.

    The loaded estimator predicts bit-identically and ``partial_fit`` continues
    exactly as on the saved one. ``get_params()`` equals the saved estimator's
    except for the settings of the fit that made it, which are None:
    ``callbacks`` (code is never saved), ``checkpoint`` and
    ``checkpoint_interval``, so that ``fit`` on the loaded model neither
    resumes from nor writes to the original fit's checkpoint path (a path on
    another machine, or one another run now uses). Files of earlier versions,
    which stored the path, load the same way. ``set_params(checkpoint=PATH)``
    checkpoints a new fit. Pickling keeps every parameter, as scikit-learn does.

    Raises
    ------
    ModelFileError
        The file is missing, not a regular file, corrupt, truncated, foreign,
        from a newer format version, larger than its size allows, or
        describes no consistent xentlearn estimator (a hyperparameter, the
        task, the classes, a parameter shape or value, the history, the
        preprocessing, or the training state, a NaN or inf in it included where
        no optimizer stores one, is wrong): the message names the path and the
        field, e.g. "optimizer state entry 'train.1.0.nu.W0' holds NaN".
        Never another exception.
    """
    path = os.fspath(path)
    plans: list[Plan] = []

    def check(meta: dict, headers: dict[str, ArrayHeader]) -> None:
        plans.append(guarded(path, check_file, meta, headers, path))

    arrays, _ = io.read(path, check=check)
    return guarded(path, _build, plans[0], arrays, path)


def _build(plan: Plan, arrays: Mapping[str, np.ndarray], path: str):
    """The fitted estimator from checked metadata and arrays."""
    check_array_values(arrays, plan, path)
    estimator = plan.estimator
    # Files of earlier versions hold the original fit's checkpoint path: dropped here too.
    estimator.set_params(**dict.fromkeys(_RUN_SETTINGS))
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


def _train_state(plan: Plan, estimator, params: dict, arrays: Mapping[str, np.ndarray],
                 path: str):
    """The saved training state, checked entry by entry against the state a partial_fit of
    this estimator would start from (its optimizer's ``init``); None if the file has none
    (files of earlier versions: partial_fit then starts a fresh optimizer)."""
    names = [name for name in arrays if name.startswith(STATE_PREFIX + ".")]
    if plan.layout.train_state is None:
        if names:
            raise refuse(path, f"array {names[0]!r}",
                          "is present but meta field 'train_state' is missing")
        return None
    from xentlearn.estimators._solvers import SOLVERS, solver_settings
    from xentlearn.penalties import Penalty

    alpha = plan.layout.alpha if estimator.alpha == "auto" else estimator.alpha
    if alpha is None:
        raise refuse(path, "meta field 'alpha_resolved'", "is missing but params.alpha is 'auto'")
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
    bad = nonfinite_state_entry(arrays, template, STATE_PREFIX)
    if bad is not None:
        raise refuse(path, bad[0], f"holds {bad[1]}")
    try:
        return state_from_parts(dict(arrays), plan.layout.train_state, template, STATE_PREFIX)
    except XentlearnInputError as error:
        raise refuse(path, "the training state (meta field 'train_state', arrays 'train.*')",
                      f"does not fit this model: {error}") from None


# ---------------------------------------------------------------- non-finite training state

# Where a NaN or an inf is a legitimate value of the training state (DESIGN §4 refuses every
# other one: partial_fit or a resume would diverge or train on garbage from it):
# - a float leaf may hold its initial value: NaN for L-BFGS's and OWL-QN's `value` (before
#   the first accepted step), +inf for the best values (reduce_on_plateau, OWL-QN, the
#   plateau and early-stopping rules) before the first epoch ends;
# - the running sums of squared gradients may overflow to +inf from finite gradients
#   (g**2 > the dtype's max; the step is then 0, still finite), and so may L-BFGS's
#   rho = 1 / (s.y) for a tiny positive s.y in float32 (the next update drops the memory).
# Everything else (parameters, moments, momentum, L-BFGS pairs, counters, the schedule's
# learning rate, the early-stopping rule's best parameters) is finite in every state the
# training loop produces: it stops on a NaN or inf loss, gradient or update.
_MAY_OVERFLOW = {(ScaleByAdamState, "nu"), (ScaleByRmsState, "nu"),
                 (ScaleByAdagradState, "sum_of_squares"), (LbfgsState, "rho"),
                 (OwlqnState, "rho")}
_PARTS = ("parameter", "optimizer state entry", "stopping rule state entry")


def nonfinite_state_entry(arrays: Mapping[str, np.ndarray], template: TrainState,
                          prefix: str) -> tuple[str, str] | None:
    """The first stored training-state array (as ``training.state_to_parts`` names it)
    that holds a NaN or inf no optimizer or stopping rule stores there, as
    ("optimizer state entry 'train.1.0.nu.W0'", "NaN"); None if there is none.

    `template` is a fresh ``initial_state`` of the same fit: its structure names the
    entries, and its float leaves' initial values are allowed (see ``_MAY_OVERFLOW``).
    Entries the file lacks are skipped (``state_from_parts`` refuses them).
    """
    parts = (template.params, template.opt_state, template.stoppers)
    for index, part in enumerate(parts):
        for name, initial, owner in _state_leaves(part, f"{prefix}.{index}", None):
            stored = arrays.get(name)
            if (stored is None or stored.dtype.kind not in "fc"
                    or np.isfinite(stored).all()):
                continue
            allowed = set()
            if isinstance(initial, (float, np.floating)) and not np.isfinite(initial):
                allowed.add(_nonfinite_kind(initial))
            if owner in _MAY_OVERFLOW:
                allowed.add("inf")
            for kind, test in (("NaN", np.isnan), ("-inf", np.isneginf), ("inf", np.isposinf)):
                if kind not in allowed and test(stored).any():
                    return f"{_PARTS[index]} {name!r}", kind
    return None


def _state_leaves(node, path: str, owner):
    """(name, leaf, (NamedTuple type, field) that holds it) in ``state_to_parts``' naming."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        for field, child in zip(node._fields, node):
            yield from _state_leaves(child, f"{path}.{field}", (type(node), field))
    elif isinstance(node, (tuple, list)):
        for index, child in enumerate(node):
            yield from _state_leaves(child, f"{path}.{index}", owner)
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _state_leaves(child, f"{path}.{key}", owner)
    else:
        yield path, node, owner


def _nonfinite_kind(value: float) -> str:
    return "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
