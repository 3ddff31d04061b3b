"""PyTorch as the oracle: values and autograd gradients, float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.losses.loss_cases import (
    SIGMOID_CASES,
    SOFTMAX_CASES,
    sigmoid_case,
    softmax_case,
    torch_sigmoid_reference,
    torch_softmax_reference,
)
from xentlearn.losses import sigmoid_cross_entropy, softmax_cross_entropy

REDUCTIONS = ["mean", "sum", "none"]


def _torch_grad(fn, logits, *args, **kwargs):
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    value = fn(z, *args, **kwargs)
    value.sum().backward()
    return value.detach().numpy(), z.grad.numpy()


# --- torch's own cross_entropy / BCE-with-logits: where DESIGN says we match them ---

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_hard_matches_torch_cross_entropy(weighted, eps, reduction):
    rng = np.random.default_rng(1)
    logits = 3.0 * rng.standard_normal((12, 5))
    targets = rng.integers(0, 5, 12)
    # Very unequal class weights: this separates torch's normaliser sum_i cw[y_i]
    # from the smoothed sum_i sum_c cw_c t_ic one could mistakenly divide by.
    class_weight = np.array([0.2, 3.0, 1.0, 0.05, 7.0]) if weighted else None
    value, grad = softmax_cross_entropy(logits, targets, class_weight=class_weight,
                                        label_smoothing=eps, reduction=reduction)
    expected, expected_grad = _torch_grad(
        F.cross_entropy, logits, torch.as_tensor(targets),
        weight=None if class_weight is None else torch.tensor(class_weight),
        label_smoothing=eps, reduction=reduction)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_softmax_soft_matches_torch_cross_entropy(eps, reduction):
    rng = np.random.default_rng(2)
    logits = 3.0 * rng.standard_normal((10, 4))
    targets = rng.dirichlet(np.ones(4), 10)
    value, grad = softmax_cross_entropy(logits, targets, label_smoothing=eps, reduction=reduction)
    expected, expected_grad = _torch_grad(F.cross_entropy, logits, torch.tensor(targets),
                                          label_smoothing=eps, reduction=reduction)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


def test_softmax_sample_weight_against_torch_per_sample():
    # torch has no sample weights: sum_i sw_i l_i / sum_i sw_i cw[y_i] from reduction="none".
    rng = np.random.default_rng(3)
    logits, targets = rng.standard_normal((9, 3)), rng.integers(0, 3, 9)
    sw, cw = rng.random(9), np.array([0.5, 2.0, 1.5])
    value, grad = softmax_cross_entropy(logits, targets, sample_weight=sw, class_weight=cw,
                                        label_smoothing=0.1)

    def weighted(z):
        per_sample = F.cross_entropy(z, torch.as_tensor(targets), weight=torch.tensor(cw),
                                     label_smoothing=0.1, reduction="none")
        return (per_sample * torch.tensor(sw)).sum() / (torch.tensor(sw * cw[targets])).sum()

    expected, expected_grad = _torch_grad(weighted, logits)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 3), (8,)], ids=["multilabel", "binary"])
def test_sigmoid_matches_torch_bce_with_logits(shape, reduction):
    rng = np.random.default_rng(4)
    logits = 3.0 * rng.standard_normal(shape)
    targets = (rng.random(shape) < 0.4).astype(float)
    sw = rng.random(shape[0]) + 0.1
    pw = rng.random(shape[1:] or (1,)) * 3.0
    value, grad = sigmoid_cross_entropy(logits, targets, sample_weight=sw, pos_weight=pw,
                                        reduction=reduction)
    weight = torch.tensor(sw[:, None] if len(shape) == 2 else sw)
    n_labels = shape[1] if len(shape) == 2 else 1
    torch_reduction = "mean" if reduction == "mean" else reduction

    def bce(z):
        out = F.binary_cross_entropy_with_logits(
            z, torch.tensor(targets), weight=weight, pos_weight=torch.tensor(pw),
            reduction="sum" if torch_reduction == "mean" else torch_reduction)
        # torch's "mean" divides by n * m, ours by m * sum_i sw_i (DESIGN §1).
        return out / (n_labels * sw.sum()) if reduction == "mean" else out

    expected, expected_grad = _torch_grad(bce, logits)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


def test_sigmoid_mean_without_weights_is_torch_mean():
    rng = np.random.default_rng(5)
    logits, targets = rng.standard_normal((7, 2)), rng.random((7, 2))
    value, grad = sigmoid_cross_entropy(logits, targets)
    expected, expected_grad = _torch_grad(F.binary_cross_entropy_with_logits, logits,
                                          torch.tensor(targets))
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


# --- every option (focal included) against the DESIGN formulas written in torch ---

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(SOFTMAX_CASES))
def test_softmax_every_option_vs_torch_reference(name, reduction, dtype):
    logits, targets, options = softmax_case(name, seed=7, dtype=dtype)
    value, grad = softmax_cross_entropy(logits, targets, reduction=reduction, **options)
    expected, expected_grad = torch_softmax_reference(logits, targets, reduction=reduction,
                                                      **options)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=atol)
    assert grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 3), (6,)], ids=["multilabel", "binary"])
@pytest.mark.parametrize("name", sorted(SIGMOID_CASES))
def test_sigmoid_every_option_vs_torch_reference(name, shape, reduction, dtype):
    logits, targets, options = sigmoid_case(name, shape=shape, seed=8, dtype=dtype)
    value, grad = sigmoid_cross_entropy(logits, targets, reduction=reduction, **options)
    expected, expected_grad = torch_sigmoid_reference(logits, targets, reduction=reduction,
                                                      **options)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=atol)
    assert grad.dtype == dtype
