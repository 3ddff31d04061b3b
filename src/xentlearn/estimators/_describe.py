"""What a model file holds, read without building its estimator.

``describe(path)`` is what ``xentlearn info`` prints. It reads the file as
``load`` does (bounded, strict: ``xentlearn.io.read`` and the same metadata and
header checks) but stops before the estimator class is needed, so it imports
neither scikit-learn nor the estimators (their import takes seconds, the rest
of the command well under one). What it does not check, ``load`` does: the
hyperparameters against the estimator's constraints and the parameter shapes
they imply.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from xentlearn import io
from xentlearn._checks import python_scalar
from xentlearn.estimators._file_schema import Layout, check_layout, guarded, refuse
from xentlearn.io import ArrayHeader


def describe(path) -> dict[str, Any]:
    """A fitted model file in plain values (JSON-ready), without loading the estimator.

    Parameters
    ----------
    path : str or PathLike
        A file written by ``est.save``.

    Returns
    -------
    dict
        ``estimator`` (class name), ``classes``, ``target`` (the label
        column of the training table; None for arrays), ``n_features_in``,
        ``features`` (per column: name, kind and the preprocessing in words;
        None for a model trained on arrays), ``feature_names`` (the model's
        inputs), ``standardize``, ``impute``, ``na_values``,
        ``parameter_shapes`` (scikit-learn's attribute names: ``coef_`` and
        ``intercept_``, or ``coefs_[i]`` and ``intercepts_[i]``),
        ``n_parameters``, ``params`` (the hyperparameters; callbacks and
        verbose left out), ``training`` (epochs, seconds, final and best
        losses, calibration temperature), and for binary and multiclass
        linear models ``coefficients`` (by feature, largest ``|coef|`` first;
        binary: the logit of the second class, a number per feature;
        multiclass: a number per class), ``intercept`` and ``positive_class``
        (else None).

    Raises
    ------
    ModelFileError
        As ``xentlearn.load``, for a file that is missing, corrupt, foreign or
        inconsistent; the message names the path and the field.
    """
    path = os.fspath(path)
    layouts: list[Layout] = []

    def check(meta: dict, headers: dict[str, ArrayHeader]) -> None:
        layouts.append(guarded(path, check_layout, meta, headers, path))
        guarded(path, _check_weight_headers, meta, headers, layouts[0], path)

    arrays, meta = io.read(path, check=check)
    return guarded(path, _description, meta, arrays, layouts[0])


def _check_weight_headers(meta: dict, headers: dict[str, ArrayHeader], layout: Layout,
                          path: str) -> None:
    """Each listed parameter is a float array, W<l> (fan_in, fan_out), b<l> (fan_out,),
    the first layer reading n_features_in inputs; chained shapes are load's to check."""
    keys = meta["param_keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise refuse(path, "meta field 'param_keys'", "is not a list of strings")
    for key in keys:
        header = headers.get(f"param.{key}")
        if header is None:
            raise refuse(path, f"array 'param.{key}'", "is missing")
        dims = 2 if key.startswith("W") else 1
        if len(header.shape) != dims or header.dtype.kind != "f":
            raise refuse(path, f"array 'param.{key}'",
                          f"has shape {header.shape} and dtype {header.dtype}; expected "
                          f"{dims} dimensions of floats")
    first = headers.get("param.W0")
    if first is None or first.shape[0] != layout.n_features:
        raise refuse(path, "array 'param.W0'",
                      f"does not read n_features_in={layout.n_features} inputs")


def _description(meta: dict, arrays: dict[str, np.ndarray], layout: Layout) -> dict[str, Any]:
    params = dict(meta["params"])
    params.pop("callbacks", None)
    params.pop("verbose", None)
    weights = params.get("class_weight")
    if isinstance(weights, dict):   # stored as [label, weight] pairs (JSON keys are strings)
        params["class_weight"] = {str(label): weight for label, weight in weights["pairs"]}
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    layers = [arrays[f"param.{key}"] for key in meta["param_keys"] if key.startswith("W")]
    if layout.estimator == "LogisticRegression":
        shapes = {"coef_": layers[0].shape[::-1], "intercept_": layers[0].shape[1:]}
    else:
        shapes = {f"coefs_[{i}]": W.shape for i, W in enumerate(layers)}
        shapes.update({f"intercepts_[{i}]": W.shape[1:] for i, W in enumerate(layers)})
    preprocessing = layout.preprocessing
    features = None
    if preprocessing is not None:
        from xentlearn.data import TabularPreprocessor

        engine = TabularPreprocessor.from_dict(preprocessing)
        names = engine.feature_names_out
        # The engine's kinds: a date column is "date" whatever the file calls it.
        features = [dict(column, kind=described["kind"], description=described["text"])
                    for column, described in zip(preprocessing["columns"], engine.describe())]
    elif "feature_names_in" in arrays:
        names = [str(n) for n in arrays["feature_names_in"]]
    else:
        names = [f"x{j}" for j in range(layout.n_features)]
    classes = [python_scalar(c) for c in arrays["classes"]]
    history = layout.history
    val = [(r["val_loss"], r["epoch"]) for r in history if r.get("val_loss") is not None]
    last = history[-1] if history else {}
    description = {
        "estimator": layout.estimator,
        "classes": classes,
        "target": layout.target_column,
        "n_features_in": layout.n_features,
        "features": features,
        "feature_names": names,
        "standardize": None if preprocessing is None else preprocessing["standardize"],
        "impute": None if preprocessing is None else preprocessing["impute"],
        "na_values": [] if preprocessing is None else preprocessing.get("na_values", []),
        "parameter_shapes": {k: list(v) for k, v in shapes.items()},
        "n_parameters": int(sum(np.prod(s) for s in shapes.values())),
        "params": params,
        "training": {
            "epochs": len(history),
            "seconds": float(sum(r.get("seconds") or 0.0 for r in history)),
            "final_train_loss": last.get("train_loss"),
            "final_val_loss": last.get("val_loss"),
            "final_val_accuracy": last.get("val_accuracy"),
            "best_val_loss": min(val)[0] if val else None,
            "best_val_epoch": min(val)[1] if val else None,
            "temperature": layout.temperature,
        },
    }
    linear = layout.estimator == "LogisticRegression" and layout.task in ("binary", "multiclass")
    description.update(_coefficients(arrays, meta["param_keys"], names, classes) if linear
                       else {"coefficients": None, "intercept": None, "positive_class": None})
    return description


def _coefficients(arrays: dict[str, np.ndarray], keys: list[str], names: list[str],
                  classes: list) -> dict[str, Any]:
    """Coefficients by feature name, largest |coef| first.

    Binary: one number per feature, for the second class (its logit); multiclass:
    one per class, sorted by the largest |coef| over the classes.
    """
    coef = arrays["param.W0"].astype(np.float64).T     # scikit-learn's coef_: (outputs, features)
    intercept = (arrays["param.b0"].astype(np.float64) if "b0" in keys
                 else np.zeros(coef.shape[0]))
    labels = [str(c) for c in classes]
    if coef.shape[0] == 1:
        order = np.argsort(-np.abs(coef[0]), kind="stable")
        rows = [{"feature": names[j], "coef": float(coef[0, j])} for j in order]
        return {"coefficients": rows, "intercept": float(intercept[0]),
                "positive_class": labels[-1]}
    order = np.argsort(-np.abs(coef).max(axis=0), kind="stable")
    rows = [{"feature": names[j], "coef": dict(zip(labels, map(float, coef[:, j])))}
            for j in order]
    return {"coefficients": rows, "intercept": dict(zip(labels, map(float, intercept))),
            "positive_class": None}
