"""Numerically stable kernels: log-sum-exp, (log-)softmax, (log-)sigmoid.

Every function keeps float32 and float64 as they are (other real dtypes become
float64), never overflows for finite input, and never takes the log of a
probability that may have underflowed: log-probabilities are computed from the
logits directly.
"""

from __future__ import annotations

import numpy as np

# Below this many classes, a row maximum is faster as k column-wise
# ``np.maximum`` passes over cache-sized row blocks than as ``z.max(axis=1)``:
# numpy's reduction along a short contiguous axis pays a fixed cost per row, several
# times the blocked column loop's at ten classes. The Python loop runs over
# classes and row blocks, never over samples.
_COLUMN_MAX_LIMIT = 32
_BLOCK_BYTES = 1 << 18      # ~256 KiB per row block: stays in L2


def as_float(x) -> np.ndarray:
    """`x` as an ndarray of float32 or float64 (other real dtypes become float64)."""
    x = np.asarray(x)
    if x.dtype == np.float32 or x.dtype == np.float64:
        return x
    return x.astype(np.float64)


def row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array, shape (n,), same dtype (fast for small k).

    Parameters
    ----------
    z : ndarray of shape (n, k)

    Returns
    -------
    ndarray of shape (n,)
    """
    n, k = z.shape
    if n == 0:
        return np.empty(0, dtype=z.dtype)
    if k > _COLUMN_MAX_LIMIT:
        return z.max(axis=1)
    if n < 32 * k:
        # The column loop costs a call per column; numpy reduces short rows slowly
        # but long contiguous ones fast: reduce the transposed copy over its rows.
        return np.maximum.reduce(np.ascontiguousarray(z.T), axis=0)
    m = np.empty(n, dtype=z.dtype)
    block = max(1, _BLOCK_BYTES // max(1, k * z.itemsize))
    for start in range(0, n, block):
        zb, mb = z[start:start + block], m[start:start + block]
        np.copyto(mb, zb[:, 0])
        for c in range(1, k):
            np.maximum(mb, zb[:, c], out=mb)
    return m


def _shift(x: np.ndarray, axis: int) -> np.ndarray:
    """Max along `axis` (keepdims), with non-finite maxima (all -inf rows) set to 0."""
    if x.ndim == 2 and axis in (1, -1):
        m = row_max(x)[:, None]
    else:
        m = np.max(x, axis=axis, keepdims=True)
    if not np.isfinite(m).all():
        # An all -inf row would give -inf - -inf = nan; shifting by 0 keeps it -inf.
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    return m


def logsumexp(x, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x))) along `axis`, without overflow.

    logsumexp(x) = m + log(sum(exp(x - m))), m = max(x), so every exponent is <= 0
    and the sum is >= 1 (no overflow, no log(0)).

    Parameters
    ----------
    x : array-like, float32 or float64
    axis : int, default=-1
    keepdims : bool, default=False

    Returns
    -------
    ndarray, dtype of `x`

    Examples
    --------
    >>> float(logsumexp(np.array([1000.0, 1000.0])))  # 1000 + log 2
    1000.6931471805599
    """
    x = as_float(x)
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    m = _shift(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    out += m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """log softmax(x) = x - logsumexp(x), same shape and dtype as `x`.

    Parameters
    ----------
    x : array-like, float32 or float64
    axis : int, default=-1

    Returns
    -------
    ndarray, same shape and dtype as `x`; entries <= 0, finite for finite `x`

    Examples
    --------
    >>> log_softmax(np.array([0.0, 0.0])).tolist()
    [-0.6931471805599453, -0.6931471805599453]
    """
    x = as_float(x)
    if x.size == 0:
        return x.copy()
    # (x - m) - log sum exp(x - m): subtracting the full logsumexp from x would lose
    # the small log-sum to rounding when |x| is large (x = -1e4 + log 5 ...).
    out = x - _shift(x, axis)
    out -= np.log(np.sum(np.exp(out), axis=axis, keepdims=True))
    return out


def softmax(x, axis: int = -1) -> np.ndarray:
    """softmax(x)_c = exp(x_c - m) / sum_j exp(x_j - m), m = max(x), dtype of `x`.

    Parameters
    ----------
    x : array-like, float32 or float64
    axis : int, default=-1

    Returns
    -------
    ndarray, same shape and dtype as `x`; non-negative, sums to 1 along `axis`

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)]])).round(6).tolist()
    [[0.25, 0.75]]
    """
    x = as_float(x)
    if x.size == 0:
        return x.copy()
    p = x - _shift(x, axis)
    np.exp(p, out=p)
    p /= p.sum(axis=axis, keepdims=True)
    return p


def log_sigmoid(x) -> np.ndarray:
    """log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)), dtype of `x`.

    exp(-|x|) <= 1 never overflows, and log1p keeps full relative accuracy
    where sigmoid(x) is close to 1 (log sigmoid(30) = -9.4e-14, not 0).

    Parameters
    ----------
    x : array-like, float32 or float64

    Returns
    -------
    ndarray, same shape and dtype as `x`; entries <= 0

    Examples
    --------
    >>> float(log_sigmoid(np.array(0.0)))  # log(1/2)
    -0.6931471805599453
    """
    x = as_float(x)
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + exp(-x)), dtype of `x`, full relative accuracy.

    Computed from e = exp(-|x|) <= 1: sigmoid(x) = 1/(1+e) for x >= 0 and
    e/(1+e) for x < 0, so neither branch overflows and tiny probabilities
    (sigmoid(-50) = 1.9e-22) are not rounded to 0 by a 1 - (...) cancellation.

    Parameters
    ----------
    x : array-like, float32 or float64

    Returns
    -------
    ndarray, same shape and dtype as `x`, in [0, 1]

    Examples
    --------
    >>> sigmoid(np.array([0.0, 1000.0, -1000.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    x = as_float(x)
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)               # sigmoid(|x|); Python ints keep the dtype of x
    return np.where(x >= 0, r, e * r)
