"""Engine interface (*_terms), stable kernels, and values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from tests.losses.loss_cases import SIGMOID_CASES, SOFTMAX_CASES, sigmoid_case, softmax_case
from xentlearn import losses
from xentlearn.losses import (
    LossTerms,
    sigmoid_cross_entropy,
    sigmoid_terms,
    softmax_cross_entropy,
    softmax_terms,
)
from xentlearn.losses._stable import row_max

# --- terms = validation-free sums; public "mean" = loss_sum / weight_sum ---


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(SOFTMAX_CASES))
def test_softmax_terms_agree_with_public_function(name, dtype):
    logits, targets, options = softmax_case(name, seed=11, dtype=dtype)
    terms = softmax_terms(logits, targets, **options)
    assert isinstance(terms, LossTerms)
    assert type(terms.loss_sum) is float and type(terms.weight_sum) is float
    assert terms.grad.dtype == dtype and terms.grad.shape == logits.shape
    total, grad_sum = softmax_cross_entropy(logits, targets, reduction="sum", **options)
    mean, grad_mean = softmax_cross_entropy(logits, targets, **options)
    assert terms.loss_sum == total
    np.testing.assert_array_equal(terms.grad, grad_sum)
    assert terms.loss_sum / terms.weight_sum == pytest.approx(mean, rel=1e-6)
    np.testing.assert_allclose(terms.grad * (1.0 / terms.weight_sum), grad_mean, rtol=1e-6)
    # The normaliser, from DESIGN: sum_i sw_i sum_c cw_c t0_ic.
    k = logits.shape[1]
    t0 = np.eye(k)[targets] if targets.ndim == 1 else targets
    expected = (options.get("sample_weight", np.ones(len(logits)))
                * (t0 @ options.get("class_weight", np.ones(k)))).sum()
    assert terms.weight_sum == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (7,)])
@pytest.mark.parametrize("name", sorted(SIGMOID_CASES))
def test_sigmoid_terms_agree_with_public_function(name, shape):
    logits, targets, options = sigmoid_case(name, shape=shape, seed=12)
    terms = sigmoid_terms(logits, targets, **options)
    total, grad_sum = sigmoid_cross_entropy(logits, targets, reduction="sum", **options)
    mean, _ = sigmoid_cross_entropy(logits, targets, **options)
    assert terms.loss_sum == total and type(terms.loss_sum) is float
    np.testing.assert_array_equal(terms.grad, grad_sum)
    n_labels = shape[1] if len(shape) == 2 else 1
    assert terms.weight_sum == pytest.approx(
        n_labels * float(np.sum(options.get("sample_weight", np.ones(shape[0])))))
    assert terms.loss_sum / terms.weight_sum == pytest.approx(mean, rel=1e-12)


def test_terms_write_into_out_and_handle_strided_arrays():
    rng = np.random.default_rng(13)
    logits, targets = rng.standard_normal((6, 4)), rng.integers(0, 4, 6).astype(np.intp)
    expected = softmax_terms(logits, targets)
    out = np.full_like(logits, np.nan)
    terms = softmax_terms(logits, targets, out=out)
    assert terms.grad is out
    np.testing.assert_array_equal(out, expected.grad)
    assert terms.loss_sum == expected.loss_sum
    # Fortran-ordered logits and a non-contiguous `out` take the fancy-index route.
    strided_out = np.full((6, 8), np.nan)[:, ::2]
    for eps, cw in ((0.0, None), (0.2, rng.random(4))):
        expected = softmax_terms(logits, targets, label_smoothing=eps, class_weight=cw)
        terms = softmax_terms(np.asfortranarray(logits), targets, label_smoothing=eps,
                              class_weight=cw, out=strided_out)
        np.testing.assert_allclose(strided_out, expected.grad, rtol=1e-14, atol=1e-16)
        assert terms.loss_sum == pytest.approx(expected.loss_sum, rel=1e-14)
    # The objective passes the binary model's column logits[:, 0] (a strided view).
    column_logits = rng.standard_normal((6, 1))
    t = (rng.random(6) < 0.5).astype(float)
    out = np.empty(6)
    terms = sigmoid_terms(column_logits[:, 0], t, out=out)
    assert terms.grad is out
    np.testing.assert_array_equal(out, sigmoid_cross_entropy(column_logits[:, 0], t,
                                                             reduction="sum")[1])


def test_chunked_terms_add_up_to_the_full_batch():
    rng = np.random.default_rng(14)
    logits, targets = rng.standard_normal((10, 3)), rng.integers(0, 3, 10).astype(np.intp)
    sw, cw = rng.random(10), rng.random(3) + 0.5
    options = dict(class_weight=cw, label_smoothing=0.1, focal_gamma=1.0)
    full = softmax_terms(logits, targets, sample_weight=sw, **options)
    parts = [softmax_terms(logits[s], targets[s], sample_weight=sw[s], **options)
             for s in (slice(0, 3), slice(3, 10))]
    assert sum(p.loss_sum for p in parts) == pytest.approx(full.loss_sum, rel=1e-14)
    assert sum(p.weight_sum for p in parts) == pytest.approx(full.weight_sum, rel=1e-14)
    np.testing.assert_allclose(np.vstack([p.grad for p in parts]), full.grad, rtol=1e-14)


def test_terms_keep_float32_with_python_float_options():
    logits = np.random.default_rng(15).standard_normal((4, 3)).astype(np.float32)
    targets = np.array([0, 2, 1, 1], dtype=np.intp)
    sw = np.ones(4, dtype=np.float32)
    for kw in ({}, {"label_smoothing": 0.1}, {"focal_gamma": 2.0},
               {"class_weight": np.ones(3, dtype=np.float32), "sample_weight": sw}):
        assert softmax_terms(logits, targets, **kw).grad.dtype == np.float32
    z, t = logits[:, 0], (logits[:, 1] > 0).astype(np.float32)
    for kw in ({}, {"label_smoothing": 0.1}, {"focal_gamma": 2.0, "focal_alpha": 0.25},
               {"pos_weight": np.float32(2.0), "sample_weight": sw}):
        assert sigmoid_terms(z, t, **kw).grad.dtype == np.float32


# --- values worked out by hand ---

def test_known_values():
    # Hard label: logsumexp([0.2, 0.5, 0.3]) - 0.2; grad = softmax - onehot.
    z = np.array([[0.2, 0.5, 0.3]])
    value, grad = softmax_cross_entropy(z, np.array([0]))
    e = np.exp([0.2, 0.5, 0.3])
    assert value == pytest.approx(math.log(e.sum()) - 0.2, rel=1e-15)
    np.testing.assert_allclose(grad, [e / e.sum() - [1, 0, 0]], rtol=1e-15)
    # Equal logits: every class has p = 1/k, so any target (hard, soft, smoothed) costs log k.
    for targets, eps in ((np.array([2]), 0.0), (np.array([[0.1, 0.2, 0.7]]), 0.0),
                         (np.array([1]), 0.4)):
        value, grad = softmax_cross_entropy(np.zeros((1, 3)), targets, label_smoothing=eps)
        assert value == pytest.approx(math.log(3.0), rel=1e-15)
    # Focal, k = 2, z = 0: p = 1/2, l = (1/2)^2 log 2.
    value, _ = softmax_cross_entropy(np.zeros((1, 2)), np.array([0]), focal_gamma=2.0)
    assert value == pytest.approx(0.25 * math.log(2.0), rel=1e-15)
    # Class weights, mean: (2 * a + 1 * b) / (2 + 1), a and b the two -log p.
    z = np.array([[1.0, 0.0], [0.0, 3.0]])
    value, _ = softmax_cross_entropy(z, np.array([0, 1]), class_weight=[2.0, 1.0])
    a, b = math.log1p(math.exp(-1.0)), math.log1p(math.exp(-3.0))
    assert value == pytest.approx((2 * a + b) / 3, rel=1e-14)
    # Sigmoid: z = 0 costs log 2 per label; pos_weight 3 triples the positive term.
    value, grad = sigmoid_cross_entropy(np.zeros(2), np.array([1.0, 0.0]), pos_weight=3.0,
                                        reduction="none")
    np.testing.assert_allclose(value, [3 * math.log(2.0), math.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(grad, [3 * 0.5 - 3.0, 0.5], rtol=1e-15)   # (1 + (pw - 1) t) s - pw t
    # Smoothing 0.2 on t = 1 gives t = 0.9: l = -0.9 log s(2) - 0.1 log s(-2).
    value, _ = sigmoid_cross_entropy(np.array([2.0]), np.array([1.0]), label_smoothing=0.2)
    expected = 0.9 * math.log1p(math.exp(-2.0)) + 0.1 * (2.0 + math.log1p(math.exp(-2.0)))
    assert value == pytest.approx(expected, rel=1e-14)


# --- stable kernels ---

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_kernels_match_scipy_and_keep_dtype(dtype):
    rng = np.random.default_rng(16)
    x = (rng.standard_normal((7, 5)) * 30).astype(dtype)
    x[0, 0], x[1] = 1e4, -1e4
    # float32: log-probabilities near 0 are good to one ulp of 1, hence the atol.
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-13, 1e-30)
    x64 = x.astype(np.float64)
    for ours, theirs in (
        (losses.logsumexp(x, axis=1), scipy.special.logsumexp(x64, axis=1)),
        (losses.logsumexp(x, axis=0, keepdims=True),
         scipy.special.logsumexp(x64, axis=0, keepdims=True)),
        (losses.log_softmax(x, axis=1), scipy.special.log_softmax(x64, axis=1)),
        (losses.softmax(x, axis=1), scipy.special.softmax(x64, axis=1)),
        (losses.softmax(x, axis=0), scipy.special.softmax(x64, axis=0)),
        (losses.sigmoid(x), scipy.special.expit(x64)),
        (losses.log_sigmoid(x), -np.logaddexp(0.0, -x64)),
    ):
        assert ours.dtype == dtype
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
    # Relative accuracy in the tails, where 1 - s or log(s) would round to 0 / -inf.
    assert losses.sigmoid(np.array(-50.0)) == pytest.approx(scipy.special.expit(-50.0), rel=1e-14)
    assert losses.log_sigmoid(np.array(30.0)) == pytest.approx(-np.log1p(np.exp(-30.0)), rel=1e-14)
    assert losses.log_softmax(np.array([0.0, -1e3]))[1] == pytest.approx(-1e3, rel=1e-15)
    assert losses.logsumexp([1, 2]).dtype == np.float64    # integers computed in float64


@pytest.mark.parametrize("shape", [(1000, 3), (70, 40), (5, 1), (0, 4)])
def test_row_max_matches_numpy(shape):
    z = np.random.default_rng(17).standard_normal(shape)
    np.testing.assert_array_equal(row_max(z), z.max(axis=1) if shape[0] else np.empty(0))
    np.testing.assert_array_equal(row_max(np.asfortranarray(z)), row_max(z))
