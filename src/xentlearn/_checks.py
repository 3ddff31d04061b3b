"""Validation at the boundary: each helper raises XentlearnInputError naming the
argument, the first offending row or value, and what was expected.

Inner kernels trust their inputs; call these once, where user data enters.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from xentlearn.exceptions import XentlearnInputError


def python_scalar(value):
    """A NumPy scalar as the Python scalar it holds (np.float64(1.5) -> 1.5), for JSON
    and messages; anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def shown(value) -> str:
    """`value`'s repr for a message, a NumPy scalar as plain Python (1.5, not
    np.float64(1.5))."""
    scalar = isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0)
    return repr(value.item() if scalar else value)


def issparse(a) -> bool:
    """``scipy.sparse.issparse(a)``, without importing scipy (slow) for dense input.

    A sparse matrix can only exist once ``scipy.sparse`` is imported: if it is not
    in ``sys.modules``, `a` is not one.
    """
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(a)


def _values(a):
    return a.data if issparse(a) else np.asarray(a)


def check_finite(name: str, a, *, part: tuple[str, int | None] | None = None) -> None:
    """Raise if `a` (dense or sparse) holds NaN or inf, naming the first bad row; `a` may
    be a `part` of a larger array, (what, its first row there or None if unknown)."""
    values = _values(a)
    if values.dtype.kind not in "fc":
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    if issparse(a):
        coo = a.tocoo()
        bad = np.flatnonzero(~np.isfinite(coo.data))[0]
        row, value = int(coo.row[bad]), coo.data[bad]
    else:
        flat = np.flatnonzero(~finite.reshape(finite.shape[0], -1).all(axis=1)) if finite.ndim else [0]
        row = int(flat[0]) if finite.ndim else 0
        value = values[row][~finite[row]].ravel()[0] if finite.ndim > 1 else values[row] if finite.ndim else values
    count = int(values.size - np.count_nonzero(finite))
    value = value.item() if isinstance(value, np.generic) else value    # nan, not np.float64(nan)
    where = f"row {row}"
    if part is not None:
        what, first_row = part
        where = (f"row {row} of {what}" if first_row is None
                 else f"row {first_row + row} ({what}, its row {row})")
    raise XentlearnInputError(
        f"{name} contains {count} non-finite value(s) (NaN or inf); the first is {value!r} in "
        f"{where}")


def check_sample_weight(name: str, sample_weight, n_samples: int, dtype) -> np.ndarray:
    """Return `sample_weight` as a 1-D array of `dtype`, length `n_samples`, finite and >= 0."""
    w = np.asarray(sample_weight)
    if w.ndim == 0:
        w = np.full(n_samples, w, dtype=dtype)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise XentlearnInputError(
            f"{name} must have shape ({n_samples},) to match the {n_samples} rows, got shape {w.shape}")
    if w.dtype.kind not in "biuf":
        raise XentlearnInputError(f"{name} must be numeric, got dtype {w.dtype}")
    w = w.astype(dtype, copy=False)
    check_finite(name, w)
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise XentlearnInputError(
            f"{name} must be non-negative; row {negative[0]} has weight {float(w[negative[0]]):g}")
    return w


def check_nonnegative(name: str, values) -> np.ndarray:
    """Finite, >= 0 values (class or positive weights); names the first bad index."""
    v = np.asarray(values, dtype=float)
    check_finite(name, v)
    negative = np.flatnonzero(v.ravel() < 0)
    if negative.size:
        raise XentlearnInputError(
            f"{name} must be non-negative; entry {negative[0]} is {float(v.ravel()[negative[0]]):g}")
    return v


def check_in_range(name: str, value: float, low: float, high: float, *,
                   include_high: bool = False) -> float:
    """A Python float in [low, high) (or [low, high] if include_high)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise XentlearnInputError(f"{name} must be a number, got {value!r}") from None
    upper_ok = value <= high if include_high else value < high
    if not (low <= value and upper_ok):
        bracket = "]" if include_high else ")"
        raise XentlearnInputError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


def check_one_of(name: str, value, allowed) -> None:
    """Raise unless `value` is one of `allowed`, listing the allowed values."""
    if value not in allowed:
        raise XentlearnInputError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")


def check_number(name: str, value, *, low: float = -math.inf, high: float = math.inf,
                 include_high: bool = True, strict_low: bool = False) -> float:
    """`value` as a finite Python float in [low, high] (or (low, high] when strict_low)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise XentlearnInputError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise XentlearnInputError(f"{name} must be finite, got {value!r}")
    if strict_low and not value > low:
        raise XentlearnInputError(f"{name} must be > {low}, got {value!r}")
    return check_in_range(name, value, low, high, include_high=include_high)


def check_count(name: str, value, *, minimum: int) -> int:
    """`value` as a Python int >= minimum (bools and non-integral floats refused)."""
    if isinstance(value, bool):
        raise XentlearnInputError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, numbers.Integral):
        # 10.0 is accepted (epochs * steps computed in floats); 2.5 is not.
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise XentlearnInputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise XentlearnInputError(f"{name} must be an integer >= {minimum}, got {value}")
    return value
