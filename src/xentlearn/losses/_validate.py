"""Boundary validation for the public loss functions (the *_terms kernels skip it).

Each check raises XentlearnInputError naming the argument, the first offending
row (and column) or value, and what was expected.
"""

from __future__ import annotations

import math

import numpy as np

from xentlearn import _checks
from xentlearn._checks import shown
from xentlearn.exceptions import XentlearnInputError

# DESIGN §1: probability rows sum to 1 within this absolute tolerance.
ROW_SUM_TOL = 1e-6
REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction) -> None:
    if not isinstance(reduction, str):
        raise XentlearnInputError(
            f"reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}")
    _checks.check_one_of("reduction", reduction, REDUCTIONS)


def logits_array(logits, ndims: tuple[int, ...], what: str) -> np.ndarray:
    """`logits` as float32/float64 (other real dtypes -> float64), with ndim in `ndims`, finite."""
    z = np.asarray(logits)
    if z.dtype.kind not in "biuf":
        raise XentlearnInputError(f"logits must be a real-valued array, got dtype {z.dtype}")
    if z.dtype != np.float32 and z.dtype != np.float64:
        z = z.astype(np.float64)
    if z.ndim not in ndims:
        raise XentlearnInputError(f"logits must have shape {what}, got shape {z.shape}")
    _checks.check_finite("logits", z)
    return z



def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(position: tuple[int, ...]) -> str:
    return f"row {position[0]}" + (f", column {position[1]}" if len(position) > 1 else "")


def _check_range01(name: str, a: np.ndarray) -> None:
    bad = (a < 0) | (a > 1)
    if bad.any():
        position = _first_bad(bad)
        raise XentlearnInputError(
            f"{name} must be in [0, 1]; {_where(position)} holds {shown(a[position])}")


def _class_indices(targets: np.ndarray, k: int) -> np.ndarray:
    if targets.dtype.kind == "f":
        _checks.check_finite("targets", targets)
        fractional = targets != np.round(targets)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise XentlearnInputError(
                f"targets of shape (n_samples,) must be integer class indices in [0, {k}); "
                f"row {row} holds {shown(targets[row])}")
    elif targets.dtype.kind not in "biu":
        raise XentlearnInputError(
            f"targets must be integer class indices or probability rows, got dtype {targets.dtype}")
    out_of_range = (targets < 0) | (targets >= k)
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range)[0])
        raise XentlearnInputError(
            f"targets must be class indices in [0, {k}) for {k} columns of logits; "
            f"row {row} holds {shown(targets[row])}")
    return targets.astype(np.intp)


def _probability_rows(targets: np.ndarray, dtype) -> np.ndarray:
    if targets.dtype.kind not in "biuf":
        raise XentlearnInputError(f"targets must be numeric probabilities, got dtype {targets.dtype}")
    # Checked before the cast to `dtype`, so that float32 rounding of a float64 row
    # cannot push its sum outside the tolerance.
    t = targets
    _checks.check_finite("targets", t)
    negative = t < 0
    if negative.any():
        position = _first_bad(negative)
        raise XentlearnInputError(
            f"targets of shape (n_samples, n_classes) must be non-negative probabilities; "
            f"{_where(position)} holds {shown(t[position])}")
    # Summed in float64 so that float32 rounding does not reject a valid row.
    off = np.abs(t.sum(axis=1, dtype=np.float64) - 1.0) > ROW_SUM_TOL
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise XentlearnInputError(
            f"targets of shape (n_samples, n_classes) are probability rows that must sum "
            f"to 1 within {ROW_SUM_TOL}; row {row} sums to {float(t[row].sum(dtype=np.float64))!r}")
    return t.astype(dtype, copy=False)


def _scalars(label_smoothing, focal_gamma) -> tuple[float, float]:
    eps = _checks.check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    gamma = _checks.check_in_range("focal_gamma", focal_gamma, 0.0, math.inf)
    return eps, gamma


def _weights(name: str, weights, length: int, dtype, *, allow_scalar: bool,
             what: str) -> np.ndarray:
    w = np.asarray(weights)
    if w.dtype.kind not in "biuf":
        raise XentlearnInputError(f"{name} must be numeric, got dtype {w.dtype}")
    if not (w.shape == (length,) or (allow_scalar and w.ndim == 0)):
        raise XentlearnInputError(
            f"{name} must have shape ({length},), one weight per {what}, got shape {w.shape}")
    return _checks.check_nonnegative(name, w).astype(dtype)


def softmax_inputs(logits, targets, sample_weight, class_weight, label_smoothing, focal_gamma):
    """Validated (z, targets, sw, cw, eps, gamma) for the softmax kernel."""
    z = logits_array(logits, (2,), "(n_samples, n_classes)")
    n, k = z.shape
    if k < 2:
        raise XentlearnInputError(
            f"logits must have at least 2 columns (classes) for a softmax, got shape {z.shape}; "
            "use sigmoid_cross_entropy for one logit per sample")
    t = np.asarray(targets)
    if t.shape == (n,):
        t = _class_indices(t, k)
    elif t.shape == (n, k):
        t = _probability_rows(t, z.dtype)
    else:
        raise XentlearnInputError(
            f"targets must have shape ({n},) (class indices) or ({n}, {k}) (probabilities) "
            f"to match logits of shape {z.shape}, got shape {t.shape}")
    sw = (None if sample_weight is None
          else _checks.check_sample_weight("sample_weight", sample_weight, n, z.dtype))
    cw = (None if class_weight is None
          else _weights("class_weight", class_weight, k, z.dtype, allow_scalar=False,
                        what="class (column of logits)"))
    eps, gamma = _scalars(label_smoothing, focal_gamma)
    return z, t, sw, cw, eps, gamma


def sigmoid_inputs(logits, targets, sample_weight, pos_weight, label_smoothing, focal_gamma,
                   focal_alpha):
    """Validated (z, t, sw, pw, eps, gamma, alpha) for the sigmoid kernel."""
    z = logits_array(logits, (1, 2), "(n_samples,) or (n_samples, n_labels)")
    n = z.shape[0]
    t = np.asarray(targets)
    if t.shape != z.shape:
        raise XentlearnInputError(
            f"targets must have the shape of logits, {z.shape}, got shape {t.shape}")
    if t.dtype.kind not in "biuf":
        raise XentlearnInputError(f"targets must be numbers in [0, 1], got dtype {t.dtype}")
    t = t.astype(z.dtype, copy=False)
    _checks.check_finite("targets", t)
    _check_range01("targets", t)
    sw = (None if sample_weight is None
          else _checks.check_sample_weight("sample_weight", sample_weight, n, z.dtype))
    m = z.shape[1] if z.ndim == 2 else 1
    pw = (None if pos_weight is None
          else _weights("pos_weight", pos_weight, m, z.dtype, allow_scalar=True,
                        what="label (column of logits)"))
    eps, gamma = _scalars(label_smoothing, focal_gamma)
    alpha = (None if focal_alpha is None
             else _checks.check_in_range("focal_alpha", focal_alpha, 0.0, 1.0, include_high=True))
    return z, t, sw, pw, eps, gamma, alpha
