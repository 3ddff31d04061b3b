"""Binary and multilabel (sigmoid) cross-entropy from logits: value and exact gradient.

Notation (DESIGN.md §1): z logits (n,) or (n, m), s = sigmoid, t = t0 (1 - eps) + eps/2,
pw pos_weight per label, sw sample weights. The cross-entropy

    ce = pw t softplus(-z) + (1 - t) softplus(z),   softplus(x) = log(1 + exp(x)),
    d ce / dz = (1 - t) s(z) - pw t s(-z),

is evaluated as softplus(+-z) = log1p(exp(-|z|)) + relu(+-z): the exponent is
never positive, and both terms are non-negative, so nothing cancels (ce at
t = 1, z = 30 is 9.4e-14, not 0). The gradient uses s(-z) rather than 1 - s(z)
for the same reason. Focal (torchvision.ops.sigmoid_focal_loss):

    u = 1 - p_t = t s(-z) + (1 - t) s(z),   l = alpha_t u^gamma ce,
    dl/dz = alpha_t u^gamma (d ce/dz + gamma (1 - 2t) (s(z) s(-z) / u) ce),

since du/dz = (1 - 2t) s(z) s(-z). Where u underflows to 0 (t in {0, 1} and a
confident, correct logit), u^gamma = 0 and ce = 0, so the ratio is set to 0
instead of 0/0.
"""

from __future__ import annotations

import numpy as np

from xentlearn.losses import _validate
from xentlearn.losses._terms import LossTerms, reduce


def _sigmoid_core(logits, targets, sample_weight, pos_weight, label_smoothing,
                  focal_gamma, focal_alpha, out):
    """(losses = sw_i l_ij shaped like logits, weight_sum, grad of sum(losses)). Trusts inputs.

    Temporaries of the logits' size, plain path: low, high, e, one_minus_t, a scratch (and
    a boolean sign mask, pw t with pos_weight, a smoothed t with eps > 0), besides `losses` and
    `grad`, which are returned. For (n,) binary logits these are n-vectors.
    """
    z = logits
    dtype = z.dtype
    t = targets.astype(dtype, copy=False)
    eps = float(label_smoothing)
    gamma = float(focal_gamma)
    if eps:
        t = t * (1.0 - eps)
        t += eps / 2.0
    pw = None if pos_weight is None else pos_weight.astype(dtype, copy=False)
    sw = None if sample_weight is None else sample_weight.astype(dtype, copy=False)
    weight_sum = sigmoid_weight_sum(z, sample_weight=sw, dtype=dtype)

    g = np.empty_like(z) if out is None else out
    # No np.where / masked copies: with a random sign pattern they cost ~8x an
    # arithmetic pass (branch mispredictions). Instead both signs come from
    # min(z, 0) and max(z, 0):
    #   -|z| = min(z, 0) - max(z, 0),  s(z) = exp(min(z, 0)) / (1 + exp(-|z|)),
    #   s(-z) = exp(-max(z, 0)) / (1 + exp(-|z|)),  relu(-z) = -min(z, 0).
    low = np.minimum(z, 0.0)              # min(z, 0) <= 0
    high = np.maximum(z, 0.0)             # max(z, 0) = relu(z) >= 0
    e = np.subtract(low, high)
    np.exp(e, out=e)                      # e = exp(-|z|) in (0, 1]
    losses = np.log1p(e)                  # log1p(exp(-|z|)), shared by softplus(z) and softplus(-z)

    one_minus_t = 1.0 - t
    pwt = t if pw is None else t * pw     # weight of the positive term, pw t
    if pw is not None:
        losses *= one_minus_t + pwt       # (1 - t + pw t) log1p(exp(-|z|))
    np.add(e, 1.0, out=g)
    np.reciprocal(g, out=g)               # g = 1 / (1 + exp(-|z|))
    # ce = (1 - t + pw t) log1p(exp(-|z|)) + (1 - t) relu(z) + pw t relu(-z)
    scratch = np.multiply(one_minus_t, high)
    losses += scratch
    np.multiply(pwt, low, out=scratch)
    losses -= scratch
    # exp(min(z, 0)) is e where z < 0 and 1 elsewhere, i.e. max(e, [z >= 0]) (e <= 1), and
    # exp(-max(z, 0)) = max(e, [z <= 0]): bit for bit the same numbers as two more exps
    # (min(z, 0) - max(z, 0) is exactly z or -z), at the cost of two comparisons.
    sign = np.greater_equal(z, 0.0)
    np.maximum(e, sign, out=low)
    low *= g
    sig = low                             # s(z)
    np.less_equal(z, 0.0, out=sign)
    np.maximum(e, sign, out=high)
    high *= g
    sig_neg = high                        # s(-z)

    if gamma or focal_alpha is not None:
        modulation = _focal_terms(losses, sig, sig_neg, t, one_minus_t, gamma, focal_alpha)
    # d ce / dz = (1 - t) s(z) - pw t s(-z), written into g.
    sig_neg *= pwt
    sig *= one_minus_t
    np.subtract(sig, sig_neg, out=g)
    if gamma or focal_alpha is not None:
        derivative_factor, extra = modulation
        g *= derivative_factor
        g += extra
        losses *= derivative_factor

    if sw is not None:
        w = sw[:, None] if z.ndim == 2 else sw
        losses *= w
        g *= w
    return losses, weight_sum, g


def _focal_terms(ce, sig, sig_neg, t, one_minus_t, gamma, alpha):
    """(factor, extra): l = factor * ce and dl/dz = factor * dce/dz + extra.

    factor = alpha_t u^gamma, extra = alpha_t u^gamma gamma (1 - 2t) (s s_neg / u) ce.
    """
    extra = None
    if gamma:
        factor = t * sig_neg
        factor += one_minus_t * sig       # u = 1 - p_t
        ratio = np.multiply(sig, sig_neg)     # s(z) s(-z) = du/dz / (1 - 2t)
        np.divide(ratio, factor, out=ratio, where=factor > 0)
        ratio[factor == 0] = 0.0
        ratio *= 1.0 - 2.0 * t
        ratio *= ce
        ratio *= gamma
        np.power(factor, gamma, out=factor)
        ratio *= factor
        extra = ratio
    else:
        factor = np.ones_like(sig)
    if alpha is not None:
        alpha_t = t * (2.0 * alpha - 1.0)
        alpha_t += 1.0 - alpha            # a t + (1 - a)(1 - t)
        factor *= alpha_t
        if extra is not None:
            extra *= alpha_t
    if extra is None:
        extra = 0.0
    return factor, extra


def sigmoid_weight_sum(targets, *, sample_weight=None, dtype=np.float64) -> float:
    """m sum_i sw_i, the normaliser of ``sigmoid_terms`` (its ``weight_sum``), without
    logits: `targets` (or anything shaped like the logits) gives n and m; the weights
    are summed in `dtype`, the logits' (the same bits)."""
    n = targets.shape[0]
    n_labels = targets.shape[1] if targets.ndim == 2 else 1
    sw = None if sample_weight is None else sample_weight.astype(dtype, copy=False)
    return float(n_labels) * (float(n) if sw is None else float(sw.sum()))


def sigmoid_terms(logits, targets, *, sample_weight=None, pos_weight=None,
                  label_smoothing=0.0, focal_gamma=0.0, focal_alpha=None,
                  out=None) -> LossTerms:
    """Sum-reduced sigmoid cross-entropy for the training engine (no validation).

    The "mean" value is ``loss_sum / weight_sum`` (weight_sum = m sum_i sw_i)
    and its gradient ``grad / weight_sum``. Inputs are trusted; this runs per batch.

    Parameters
    ----------
    logits : ndarray of shape (n,) or (n, m), float32 or float64
    targets : ndarray, shape of `logits`, values in [0, 1]
    sample_weight : ndarray of shape (n,), dtype of `logits`, or None
    pos_weight : ndarray of shape (m,) (or scalar), dtype of `logits`, or None
    label_smoothing : float in [0, 1)
    focal_gamma : float >= 0
    focal_alpha : float in [0, 1] or None
    out : ndarray shaped like `logits`, dtype of `logits`, or None
        Receives the gradient (a reused buffer); must not overlap `logits`.

    Returns
    -------
    LossTerms
        (sum_ij sw_i l_ij, m sum_i sw_i, d loss_sum / d logits).
    """
    losses, weight_sum, grad = _sigmoid_core(logits, targets, sample_weight, pos_weight,
                                             label_smoothing, focal_gamma, focal_alpha, out)
    return LossTerms(float(losses.sum()), weight_sum, grad)


def sigmoid_cross_entropy(logits, targets, *, sample_weight=None, pos_weight=None,
                          label_smoothing=0.0, focal_gamma=0.0, focal_alpha=None,
                          reduction="mean"):
    r"""Binary / multilabel cross-entropy of sigmoid(logits) and its gradient, from logits.

    .. math::

        t = (1 - \epsilon) t^0 + \epsilon / 2, \quad
        l_{ij} = -[pw_j\, t_{ij} \log s(z_{ij}) + (1 - t_{ij}) \log(1 - s(z_{ij}))]

    With focal_gamma or focal_alpha, as ``torchvision.ops.sigmoid_focal_loss``:
    :math:`l_{ij} \mathrel{*}= (1 - p_t)^\gamma` with :math:`p_t = s t + (1 - s)(1 - t)`,
    and :math:`l_{ij} \mathrel{*}= a t + (1 - a)(1 - t)` if focal_alpha is a.
    "mean" is :math:`\sum_{ij} sw_i l_{ij} / (m \sum_i sw_i)`, "sum" the numerator,
    "none" the array :math:`sw_i l_{ij}` shaped like `logits`.

    Parameters
    ----------
    logits : array-like of shape (n_samples,) or (n_samples, n_labels), float32 or float64
        Raw scores z (one per label). Other real dtypes are computed in float64.
    targets : array-like, shape of `logits`
        Values in [0, 1] (0/1 labels, or soft probabilities).
    sample_weight : array-like of shape (n_samples,) or scalar, default=None
        Non-negative weights sw per row (default 1).
    pos_weight : array-like of shape (n_labels,) or scalar, default=None
        Non-negative weight pw of the positive term per label, as
        ``torch.nn.BCEWithLogitsLoss(pos_weight=)`` (default 1).
    label_smoothing : float in [0, 1), default=0.0
    focal_gamma : float >= 0, default=0.0
    focal_alpha : float in [0, 1] or None, default=None
        None applies no alpha weighting (torchvision's alpha < 0).
    reduction : {"mean", "sum", "none"}, default="mean"

    Returns
    -------
    value : float, or ndarray shaped like `logits` (dtype of `logits`) for "none"
    grad : ndarray shaped like `logits`, dtype of `logits`
        Exact gradient of `value` (of its sum, for "none") with respect to `logits`.

    Raises
    ------
    XentlearnInputError (a ValueError)
        Shapes that differ, targets outside [0, 1], NaN or inf, negative
        weights, pos_weight of the wrong length, eps outside [0, 1), gamma < 0,
        alpha outside [0, 1], an unknown reduction, or "mean" when every weight is 0.

    Notes
    -----
    Without focal terms this equals ``binary_cross_entropy_with_logits(z, t,
    weight=sw[:, None], pos_weight=pw)``. torchvision applies its focal factor
    to the plain BCE; with pos_weight we apply it to the pos-weighted BCE.

    Examples
    --------
    >>> value, grad = sigmoid_cross_entropy(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    >>> round(value, 6), grad.tolist()  # log 2; (s - t) / n
    (0.693147, [-0.25, 0.25])

    References
    ----------
    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    z, t, sw, pw, eps, gamma, alpha = _validate.sigmoid_inputs(
        logits, targets, sample_weight, pos_weight, label_smoothing, focal_gamma, focal_alpha)
    _validate.check_reduction(reduction)
    losses, weight_sum, grad = _sigmoid_core(z, t, sw, pw, eps, gamma, alpha, None)
    return reduce(losses, weight_sum, grad, reduction)
