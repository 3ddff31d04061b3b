"""Multiclass (softmax) cross-entropy from logits: value and exact gradient.

Notation (DESIGN.md §1): z logits (n, k), p = softmax(z), t0 the one-hot or
soft target, t = (1 - eps) t0 + eps / k the smoothed target, cw class weights,
sw sample weights, gamma the focal exponent. With a_ic = cw_c t_ic,

    l_i = -sum_c a_ic (1 - p_ic)^gamma log p_ic,        w_i = sw_i sum_c cw_c t0_ic.

Gradient. Write f(p) = (1 - p)^gamma log p and use d log p_c / dz_j = d_cj - p_j,
d p_c / dz_j = p_c (d_cj - p_j):

    d f(p_c) / dz_j = (d_cj - p_j) g_c,   g_c = (1 - p_c)^gamma (1 - gamma p_c log p_c / (1 - p_c)),

so with b_c = a_c g_c the softmax Jacobian collapses to

    dl_i / dz_ij = p_ij sum_c b_ic - b_ij.

For gamma = 0, g = 1 and this is the familiar S_i p - a_i (= p - onehot for plain
hard labels). Every log p is z - logsumexp(z), never log(softmax(z)).
"""

from __future__ import annotations

import functools

import numpy as np

from xentlearn.losses import _validate
from xentlearn.losses._stable import row_max
from xentlearn.losses._terms import LossTerms, reduce


def _target_index(grad: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
    """Flat positions i * k + y_i of the targets in C-contiguous `grad`, else None."""
    if not grad.flags.c_contiguous:
        return None
    n, k = grad.shape
    return np.add(_row_starts(n, k), targets, dtype=np.intp)


@functools.lru_cache(maxsize=16)
def _row_starts(n: int, k: int) -> np.ndarray:
    """0, k, 2k, ..., (n - 1) k (read-only): made once per mini-batch shape."""
    starts = np.arange(0, n * k, k, dtype=np.intp)
    starts.flags.writeable = False
    return starts


def _gather(a: np.ndarray, targets: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """a[i, y_i] for every row, shape (n,), touching n elements only."""
    if index is not None:
        return a.reshape(-1)[index]
    return np.take_along_axis(a, targets[:, None], axis=1)[:, 0]


def _subtract_at(a: np.ndarray, targets: np.ndarray, index: np.ndarray | None, values) -> None:
    """a[i, y_i] -= values_i in place (each row is hit once, so no ufunc.at is needed)."""
    if index is not None:
        flat = a.reshape(-1)
        flat[index] -= values
    else:
        rows = np.arange(a.shape[0])
        a[rows, targets] -= values


def _softmax_core(logits, targets, sample_weight, class_weight, label_smoothing,
                  focal_gamma, out):
    """(losses (n,) = sw_i l_i, weight_sum, grad = d sum(losses) / d logits). Trusts inputs."""
    z = logits
    n, k = z.shape
    dtype = z.dtype
    hard = targets.ndim == 1
    sw = None if sample_weight is None else sample_weight.astype(dtype, copy=False)
    cw = None if class_weight is None else class_weight.astype(dtype, copy=False)
    eps = float(label_smoothing)
    gamma = float(focal_gamma)

    # Temporary 1 (n, k): the gradient buffer, which every path also uses as
    # scratch for z - max, exp(z - max) and p.
    g = np.empty_like(z) if out is None else out
    weight_sum, cw_y, t0 = _normaliser(targets, sw, cw, dtype)

    if gamma == 0.0 and hard and _class_major(z, g):
        losses = _hard_plain_class_major(z.T, targets, cw, cw_y, eps, g.T)
    elif gamma == 0.0:
        losses = (_hard_plain(z, targets, cw, cw_y, eps, g) if hard
                  else _soft_plain(z, t0, cw, eps, g))
    else:
        losses = _focal(z, targets if hard else t0, cw, eps, gamma, g)

    if sw is not None:
        losses *= sw
        g *= sw[:, None]
    return losses, weight_sum, g


def _normaliser(targets, sw, cw, dtype) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """(sum_i w_i, cw[y] for hard labels or None, the soft targets in `dtype` or None).

    w_i = sw_i sum_c cw_c t0_ic: plain sums for hard labels (cw[y]), a (n, k) @ (k,)
    product for soft labels with class weights. `sw` and `cw` are in `dtype` (or None).
    """
    n = targets.shape[0]
    if targets.ndim == 1:
        cw_y = None if cw is None else cw[targets]
        if cw_y is not None and sw is not None:
            return float(np.einsum("i,i->", sw, cw_y)), cw_y, None
        if cw_y is not None or sw is not None:
            return float((cw_y if cw_y is not None else sw).sum()), cw_y, None
        return float(n), None, None
    t0 = targets.astype(dtype, copy=False)
    if cw is None:
        # Rows of t0 sum to 1 (validated within 1e-6), so w_i = sw_i, as torch divides by n.
        return (float(n) if sw is None else float(sw.sum())), None, t0
    t0_cw = t0 @ cw
    return (float(t0_cw.sum()) if sw is None else float(np.einsum("i,i->", sw, t0_cw))), None, t0


def softmax_weight_sum(targets, *, sample_weight=None, class_weight=None,
                       dtype=np.float64) -> float:
    """sum_i w_i, the normaliser of ``softmax_terms`` (its ``weight_sum``), without logits.

    Parameters
    ----------
    targets, sample_weight, class_weight
        As for ``softmax_terms``.
    dtype : float32 or float64
        The logits' dtype, in which ``softmax_terms`` sums (the same bits).
    """
    sw = None if sample_weight is None else sample_weight.astype(dtype, copy=False)
    cw = None if class_weight is None else class_weight.astype(dtype, copy=False)
    return _normaliser(targets, sw, cw, np.dtype(dtype))[0]


def _row_sums(a: np.ndarray) -> np.ndarray:
    # A BLAS matrix-vector product: ~10x faster than a.sum(axis=1) for small k.
    return a @ _ones(a.shape[1], a.dtype)


@functools.lru_cache(maxsize=16)
def _ones(k: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of k ones, made once per size and dtype."""
    ones = np.ones(k, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _hard_losses(s, shifted_y, shifted_dot, cw, cw_y, eps, k):
    """(per-sample losses (n,), row totals S_i (n,) or None for 1) of hard targets.

    s = sum_c exp(z_c - m), shifted_y = z_y - m and, with label smoothing,
    shifted_dot = sum_c cw_c (z_c - m), all (n,). Targets a_ic = (1 - eps) cw_y
    d_{c,y} + (eps / k) cw_c, S_i = sum_c a_ic; -log p_y = log s - (z_y - m), and
    (eps / k) sum_c cw_c (-log p_c) = (eps / k) (C log s - shifted_dot), with C = sum_c cw_c.
    """
    log_s = np.log(s)
    losses = log_s - shifted_y
    if cw_y is not None:
        losses *= cw_y
    if not eps:
        return losses, cw_y
    cw_total = float(cw.sum()) if cw is not None else float(k)
    losses *= 1.0 - eps
    log_s *= cw_total
    log_s -= shifted_dot
    log_s *= eps / k
    losses += log_s
    return losses, ((1.0 - eps) * cw_y + eps / k * cw_total if cw_y is not None else None)


def _hard_plain(z, y, cw, cw_y, eps, g):
    """Integer targets, gamma = 0: per-sample losses (n,), gradient written into `g`.

    Temporaries of size n * k: only `g` (all other arrays are (n,) or (k,)).
    """
    n, k = z.shape
    m = row_max(z)
    np.subtract(z, m[:, None], out=g)               # g = z - m <= 0
    index = _target_index(g, y)
    shifted_y = _gather(g, y, index)                # z_y - m
    if eps:
        # sum_c cw_c (z_c - m), taken before exp so that no log p is ever formed from p.
        shifted_dot = g @ (cw if cw is not None else np.ones(k, dtype=z.dtype))
    np.exp(g, out=g)
    s = _row_sums(g)                                # sum_c exp(z_c - m) >= 1
    losses, total = _hard_losses(s, shifted_y, shifted_dot if eps else None, cw, cw_y, eps, k)
    # grad = S p - a, with p = exp(z - m) / s folded into one row scaling.
    scale = np.reciprocal(s, out=s)
    if total is not None:
        scale *= total
    g *= scale[:, None]
    hit = cw_y if cw_y is not None else 1.0
    if eps:
        hit = hit * (1.0 - eps)
        g -= (eps / k) * (cw if cw is not None else 1.0)
    _subtract_at(g, y, index, hit)
    return losses


def _class_major(z: np.ndarray, g: np.ndarray) -> bool:
    """Whether z and g are F-ordered (n, k), i.e. their transposes C-contiguous (k, n)."""
    return (z.shape[1] > 1 and not z.flags.c_contiguous and z.T.flags.c_contiguous
            and g.T.flags.c_contiguous)


def _hard_plain_class_major(zt, y, cw, cw_y, eps, gt):
    """``_hard_plain`` on the transposes: zt and gt (k, n), C-contiguous; writes gt.

    What the linear model's training forward gives (see ``Linear.forward``): every
    step is a pass over k contiguous rows of n, where the row-major path reduces
    along short rows of k.
    """
    k, n = zt.shape
    m = np.maximum.reduce(zt, axis=0)               # (n,) the maximum over classes
    np.subtract(zt, m, out=gt)                      # gt = z - m <= 0
    index = np.arange(n, dtype=np.intp)
    index += y * n                                  # flat positions of (y_i, i) in gt
    flat = gt.reshape(-1)
    shifted_y = flat[index]                         # z_y - m
    if eps:
        shifted_dot = (cw if cw is not None else np.ones(k, dtype=zt.dtype)) @ gt
    np.exp(gt, out=gt)
    s = np.add.reduce(gt, axis=0)                   # sum_c exp(z_c - m) >= 1
    losses, total = _hard_losses(s, shifted_y, shifted_dot if eps else None, cw, cw_y, eps, k)
    scale = np.reciprocal(s, out=s)
    if total is not None:
        scale *= total
    gt *= scale
    hit = cw_y if cw_y is not None else 1.0
    if eps:
        hit = hit * (1.0 - eps)
        gt -= (eps / k) * (cw[:, None] if cw is not None else 1.0)
    flat[index] -= hit
    return losses


def _soft_plain(z, t0, cw, eps, g):
    """Probability targets, gamma = 0. Temporaries of size n * k: `g` and `a`."""
    n, k = z.shape
    if eps:
        a = t0 * (1.0 - eps)                        # temporary 2: a_ic = cw_c t_ic
        a += eps / k
    else:
        a = t0.copy()
    if cw is not None:
        a *= cw
    total = _row_sums(a)                            # S_i = sum_c a_ic
    m = row_max(z)
    np.subtract(z, m[:, None], out=g)
    # sum_c a_c (-log p_c) = S log s - sum_c a_c (z_c - m); einsum forms no (n, k) product.
    shifted_dot = np.einsum("ij,ij->i", a, g)
    np.exp(g, out=g)
    s = _row_sums(g)
    losses = np.log(s)
    losses *= total
    losses -= shifted_dot
    scale = np.reciprocal(s, out=s)
    scale *= total
    g *= scale[:, None]
    g -= a
    return losses


def _focal(z, targets, cw, eps, gamma, g):
    """gamma > 0, hard or soft targets. Temporaries of size n * k: `g`, a, p, q, f.

    The focal factor needs log p, p and 1 - p for every class, so the plain
    paths' shortcuts do not apply; this path is not the engine's hot one.
    """
    n, k = z.shape
    dtype = z.dtype
    if targets.ndim == 1:
        a = np.full((n, k), eps / k, dtype=dtype)   # temporary 2: a_ic = cw_c t_ic
        _subtract_at(a, targets, _target_index(a, targets), -(1.0 - eps))
    else:
        a = targets * (1.0 - eps)
        a += eps / k
    if cw is not None:
        a *= cw
    m = row_max(z)
    np.subtract(z, m[:, None], out=g)
    p = np.exp(g)                                   # temporary 3
    s = _row_sums(p)
    p *= np.reciprocal(s)[:, None]
    g -= np.log(s)[:, None]                         # g = log p, from the logits
    q = np.expm1(g)                                 # temporary 4: q = 1 - p, exact near p = 1
    np.negative(q, out=q)
    f = np.power(q, gamma)                          # temporary 5: (1 - p)^gamma
    a *= f
    losses = np.einsum("ij,ij->i", a, g)            # sum_c a_c (1 - p_c)^gamma log p_c
    np.negative(losses, out=losses)
    # r = log p / (1 - p) -> -1 as p -> 1 (log p ~ -(1 - p)); where p rounds to 1, q = 0
    # and log p = 0, so the limit is filled in instead of 0 / 0.
    f.fill(-1.0)
    np.divide(g, q, out=f, where=q > 0)
    # g_c / (1 - p_c)^gamma = 1 - gamma p_c r_c
    f *= p
    f *= -gamma
    f += 1.0
    a *= f                                          # b_c = a_c g_c
    np.multiply(p, _row_sums(a)[:, None], out=g)    # grad = p sum_c b_c - b
    g -= a
    return losses


def softmax_terms(logits, targets, *, sample_weight=None, class_weight=None,
                  label_smoothing=0.0, focal_gamma=0.0, out=None) -> LossTerms:
    """Sum-reduced softmax cross-entropy for the training engine (no validation).

    The engine adds these over batches and divides once: the "mean" value is
    ``loss_sum / weight_sum`` and its gradient ``grad / weight_sum``. Inputs are
    trusted (they are validated once where data enters); this runs per batch.

    Parameters
    ----------
    logits : ndarray of shape (n, k), float32 or float64
    targets : ndarray of shape (n,) intp in [0, k), or (n, k) probability rows
    sample_weight : ndarray of shape (n,), dtype of `logits`, or None
    class_weight : ndarray of shape (k,), dtype of `logits`, or None
    label_smoothing : float in [0, 1)
    focal_gamma : float >= 0
    out : ndarray of shape (n, k), dtype of `logits`, or None
        Receives the gradient (a reused buffer); must not overlap `logits`.

    Returns
    -------
    LossTerms
        (sum_i sw_i l_i, sum_i w_i, d loss_sum / d logits), see the module notes.

    Notes
    -----
    Hard labels without focal use one (n, k) array, the gradient itself
    (`out`, when given): no other temporary of the logits' size.
    """
    losses, weight_sum, grad = _softmax_core(logits, targets, sample_weight, class_weight,
                                             label_smoothing, focal_gamma, out)
    return LossTerms(float(losses.sum()), weight_sum, grad)


def softmax_cross_entropy(logits, targets, *, sample_weight=None, class_weight=None,
                          label_smoothing=0.0, focal_gamma=0.0, reduction="mean"):
    r"""Multiclass cross-entropy of softmax(logits) and its gradient, from logits.

    .. math::

        t = (1 - \epsilon) t^0 + \epsilon / k, \quad p = \mathrm{softmax}(z), \quad
        l_i = -\sum_c cw_c\, t_{ic} (1 - p_{ic})^\gamma \log p_{ic}, \quad
        w_i = sw_i \sum_c cw_c\, t^0_{ic}

    "mean" is :math:`\sum_i sw_i l_i / \sum_i w_i`, "sum" is :math:`\sum_i sw_i l_i`,
    "none" the vector :math:`sw_i l_i`.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes), float32 or float64
        Raw scores z, k >= 2 columns. Other real dtypes are computed in float64.
    targets : array-like of shape (n_samples,) int, or (n_samples, n_classes) float
        Class indices in [0, k) (integral floats are accepted), or probability
        rows (non-negative, each summing to 1 within 1e-6): soft labels.
    sample_weight : array-like of shape (n_samples,) or scalar, default=None
        Non-negative weights sw (default 1).
    class_weight : array-like of shape (n_classes,), default=None
        Non-negative weights cw per class (default 1).
    label_smoothing : float in [0, 1), default=0.0
        eps; the target becomes (1 - eps) t0 + eps / k.
    focal_gamma : float >= 0, default=0.0
        gamma of the focal loss; 0 is plain cross-entropy.
    reduction : {"mean", "sum", "none"}, default="mean"

    Returns
    -------
    value : float, or ndarray of shape (n_samples,) (dtype of `logits`) for "none"
    grad : ndarray of shape (n_samples, n_classes), dtype of `logits`
        Exact gradient of `value` (of its sum, for "none") with respect to `logits`.

    Raises
    ------
    XentlearnInputError (a ValueError)
        Shapes that do not match, a class index out of range or not an integer,
        NaN or inf, negative weights, probability rows that are negative or do
        not sum to 1, eps outside [0, 1), gamma < 0, an unknown reduction, or
        "mean" when every weight is 0.

    Notes
    -----
    Matches ``torch.nn.functional.cross_entropy`` for hard labels with
    ``weight`` and ``label_smoothing`` (torch then also divides by
    sum_i cw[y_i], not by the smoothed weights), and for soft labels without
    ``weight``. torch has no sample weights: sw_i multiplies l_i and w_i.

    Examples
    --------
    >>> value, grad = softmax_cross_entropy(np.array([[0.2, 0.5, 0.3]]), np.array([0]))
    >>> round(value, 6)  # logsumexp([0.2, 0.5, 0.3]) - 0.2
    1.239831
    >>> abs(float(grad.sum())) < 1e-12  # p - onehot: rows sum to 0
    True

    References
    ----------
    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016 (label smoothing).
    """
    z, targets, sw, cw, eps, gamma = _validate.softmax_inputs(
        logits, targets, sample_weight, class_weight, label_smoothing, focal_gamma)
    _validate.check_reduction(reduction)
    losses, weight_sum, grad = _softmax_core(z, targets, sw, cw, eps, gamma, None)
    return reduce(losses, weight_sum, grad, reduction)
