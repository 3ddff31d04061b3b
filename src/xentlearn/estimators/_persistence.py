"""Estimator <-> model file (arrays + JSON), on top of ``xentlearn.io``.

What a file holds: the class name and every hyperparameter (JSON), the fitted
parameters (arrays, bit for bit), ``classes_``, the task, feature names, the
training history, and the tabular preprocessing when the model was trained on
files. What it does not hold: user callbacks (code is never saved or run) and
the optimizer state, so ``partial_fit`` after ``load`` starts a fresh state.
"""

from __future__ import annotations

import numpy as np

from xentlearn import io
from xentlearn.exceptions import ModelFileError, XentlearnInputError


def _estimator_classes():
    from xentlearn.estimators._logistic import LogisticRegression
    from xentlearn.estimators._mlp import MLPClassifier

    return {cls.__name__: cls for cls in (LogisticRegression, MLPClassifier)}


def _json_params(estimator) -> dict:
    params = estimator.get_params(deep=False)
    params["dtype"] = np.dtype(params["dtype"]).name
    params["callbacks"] = None
    if isinstance(params.get("random_state"), (np.random.Generator, np.random.RandomState)):
        params["random_state"] = None
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
    """Write a fitted estimator to `path` (atomically: an old file survives a crash)."""
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
    io.write(path, arrays, meta)


def load(path):
    """Read a model file written by ``save``; never unpickles, never runs code.

    Raises
    ------
    ModelFileError
        The file is missing, corrupt, truncated, foreign, from a newer format
        version, or does not describe a xentlearn estimator.
    """
    arrays, meta = io.read(path)
    try:
        cls = _estimator_classes()[meta["estimator"]]
        params = dict(meta["params"])
        params["dtype"] = np.dtype(params["dtype"]).type
        if isinstance(params.get("class_weight"), dict) and "pairs" in params["class_weight"]:
            params["class_weight"] = {k: v for k, v in params["class_weight"]["pairs"]}
        if "hidden_layer_sizes" in params:
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        estimator = cls(**params)
        estimator._task = meta["task"]
        estimator.classes_ = (arrays["classes"].astype(object) if meta.get("classes_object")
                              else arrays["classes"])
        estimator.n_features_in_ = int(meta["n_features_in"])
        if "feature_names_in" in arrays:
            estimator.feature_names_in_ = arrays["feature_names_in"].astype(object)
        estimator._class_weight = arrays.get("class_weight")
        model_params = {key: arrays[f"param.{key}"] for key in meta["param_keys"]}
        n_outputs = 1 if estimator._task == "binary" else len(estimator.classes_)
        estimator._model = estimator._make_model(estimator.n_features_in_, n_outputs)
        estimator._opt_state = None
        estimator._rng = np.random.default_rng(params.get("random_state")
                                               if isinstance(params.get("random_state"), int)
                                               else None)
        if estimator._task not in ("binary", "multiclass", "multilabel", "soft"):
            raise ValueError(f"unknown task {estimator._task!r}")
        expected = estimator._model.init(np.random.default_rng(0), np.dtype(params["dtype"]))
        if list(model_params) != list(expected) or any(
                model_params[k].shape != expected[k].shape
                or model_params[k].dtype != expected[k].dtype for k in expected):
            raise ValueError("its parameter arrays do not fit the model it describes")
        estimator._validate_params()
        estimator._params_to_attributes(model_params)
        estimator._set_history(meta["history"])
        if meta.get("preprocessing") is not None:
            from xentlearn.data import TabularPreprocessor

            estimator.preprocessing_ = meta["preprocessing"]
            estimator._preprocessor = TabularPreprocessor.from_dict(meta["preprocessing"])
            estimator.feature_columns_ = list(meta["feature_columns"])
            estimator.target_column_ = meta.get("target_column")
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f"{path} is a xentlearn file but does not describe a model this version can load "
            f"({type(error).__name__}: {error})") from None
    return estimator
