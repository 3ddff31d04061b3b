"""5-point finite differences (float64) for every loss option and every reduction."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import fd5
from tests.losses.loss_cases import SIGMOID_CASES, SOFTMAX_CASES, sigmoid_case, softmax_case
from xentlearn.losses import sigmoid_cross_entropy, softmax_cross_entropy

REDUCTIONS = ["mean", "sum", "none"]


def _scalar(fn, targets, options, reduction):
    # "none": the gradient returned is that of the sum of the per-sample losses.
    return lambda z: float(np.sum(fn(z, targets, reduction=reduction, **options)[0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(SOFTMAX_CASES))
def test_softmax_grad_matches_fd5(name, reduction):
    logits, targets, options = softmax_case(name)
    _, grad = softmax_cross_entropy(logits, targets, reduction=reduction, **options)
    expected = fd5(_scalar(softmax_cross_entropy, targets, options, reduction), logits)
    np.testing.assert_allclose(grad, expected, rtol=5e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(5, 3), (6,)], ids=["multilabel", "binary"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(SIGMOID_CASES))
def test_sigmoid_grad_matches_fd5(name, reduction, shape):
    logits, targets, options = sigmoid_case(name, shape=shape)
    _, grad = sigmoid_cross_entropy(logits, targets, reduction=reduction, **options)
    expected = fd5(_scalar(sigmoid_cross_entropy, targets, options, reduction), logits)
    np.testing.assert_allclose(grad, expected, rtol=5e-6, atol=1e-9)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_grads_near_saturation(gamma):
    # Confident rows (p close to 1 or 0) are where (1 - p)^(gamma - 1) blows up for
    # gamma < 1; the closed forms use log p / (1 - p) and must still match FD.
    logits = np.array([[12.0, -3.0, 0.5], [-9.0, 9.5, 0.0]])
    targets = np.array([0, 2])
    _, grad = softmax_cross_entropy(logits, targets, focal_gamma=gamma)
    expected = fd5(lambda z: softmax_cross_entropy(z, targets, focal_gamma=gamma)[0], logits)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-10)

    z = np.array([[12.0, -12.0, 0.3], [-8.0, 8.0, -0.3]])
    t = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    _, grad = sigmoid_cross_entropy(z, t, focal_gamma=gamma, focal_alpha=0.3)
    expected = fd5(lambda x: sigmoid_cross_entropy(x, t, focal_gamma=gamma, focal_alpha=0.3)[0], z)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-10)
