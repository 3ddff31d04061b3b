"""``xentlearn info``: what a model file holds, in words (or as JSON)."""

from __future__ import annotations

import json
from typing import TextIO

import xentlearn
from xentlearn.cli import _report
from xentlearn.cli._metrics import plain


def info(args, out: TextIO) -> None:
    """What a model file holds: estimator, classes, preprocessing in words, coefficients by
    feature name (linear models, largest |coef| first), parameters, training."""
    description = xentlearn.describe(args.model)
    if args.json:
        print(json.dumps(description, indent=2, default=plain), file=out)
        return
    d = description
    print(f"{args.model}: {d['estimator']}, {len(d['classes'])} classes, "
          f"{d['n_features_in']} inputs", file=out)
    print(f"classes: {', '.join(str(c) for c in d['classes'])}"
          + (f" (column {d['target']!r})" if d["target"] is not None else ""), file=out)
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
