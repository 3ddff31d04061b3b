"""The sum-reduced result the training engine adds over batches, and the reductions."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from xentlearn.exceptions import XentlearnInputError


class LossTerms(NamedTuple):
    """Sums over one batch; add them over batches and divide once.

    loss_sum : float
        sum_i sw_i * l_i, the "sum" reduction (a Python float).
    weight_sum : float
        The "mean" normaliser: softmax sum_i sw_i * sum_c cw_c * t0_ic,
        sigmoid m * sum_i sw_i (a Python float).
    grad : ndarray, same shape and dtype as the logits
        d loss_sum / d logits. The mean's gradient is ``grad / weight_sum``.
    """

    loss_sum: float
    weight_sum: float
    grad: np.ndarray


def reduce(losses: np.ndarray, weight_sum: float, grad: np.ndarray, reduction: str):
    """(value, grad) for `reduction`, from per-sample `losses` = sw_i l_i and d(sum)/dz.

    "mean" divides the sum and the gradient (in place) by `weight_sum`,
    "sum" keeps them, "none" returns `losses` with the gradient of their sum.
    """
    if reduction == "none":
        return losses, grad
    total = float(losses.sum())
    if reduction == "sum":
        return total, grad
    if not weight_sum > 0.0:
        raise XentlearnInputError(
            "reduction='mean' divides by the sum of the weights, which is 0 here "
            "(every sample_weight, or class_weight of the target classes, is 0); "
            "use reduction='sum' or give some sample a positive weight")
    # 1/weight_sum is a Python float: multiplying keeps float32 gradients float32 (NEP 50).
    grad *= 1.0 / weight_sum
    return total / weight_sum, grad
