"""Hypothesis properties of the losses (the maths, not today's output)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.losses.loss_cases import SOFTMAX_CASES, sigmoid_case, softmax_case
from xentlearn.losses import sigmoid_cross_entropy, softmax_cross_entropy

SETTINGS = settings(max_examples=25, deadline=None)

finite_logits = st.floats(-30.0, 30.0, allow_nan=False, allow_infinity=False)
extreme_logits = st.one_of(st.sampled_from([1e4, -1e4, 0.0]),
                           st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False))


@st.composite
def softmax_problems(draw, elements=finite_logits, dtype=np.float64):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(2, 5))
    logits = draw(hnp.arrays(dtype, (n, k), elements=elements))
    targets = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    options = draw(st.fixed_dictionaries({}, optional={
        "label_smoothing": st.sampled_from([0.1, 0.5, 0.9]),
        "focal_gamma": st.sampled_from([0.5, 1.0, 2.0]),
        "class_weight": hnp.arrays(np.float64, (k,), elements=st.floats(0.1, 5.0)),
        "sample_weight": hnp.arrays(np.float64, (n,), elements=st.floats(0.1, 5.0)),
    }))
    return logits, targets, options


@st.composite
def sigmoid_problems(draw, elements=finite_logits, dtype=np.float64):
    shape = draw(st.sampled_from([(4,), (3, 2), (1, 4)]))
    logits = draw(hnp.arrays(dtype, shape, elements=elements))
    targets = draw(hnp.arrays(dtype, shape, elements=st.sampled_from([0.0, 1.0])))
    n_labels = shape[1] if len(shape) == 2 else 1
    options = draw(st.fixed_dictionaries({}, optional={
        "label_smoothing": st.sampled_from([0.1, 0.5]),
        "focal_gamma": st.sampled_from([0.5, 2.0]),
        "focal_alpha": st.sampled_from([0.0, 0.25, 1.0]),
        "pos_weight": hnp.arrays(np.float64, (n_labels,), elements=st.floats(0.1, 5.0)),
        "sample_weight": hnp.arrays(np.float64, (shape[0],), elements=st.floats(0.1, 5.0)),
    }))
    return logits, targets, options


@SETTINGS
@given(softmax_problems(), st.floats(-50.0, 50.0))
def test_adding_a_constant_to_a_row_changes_nothing(problem, shift):
    logits, targets, options = problem
    value, grad = softmax_cross_entropy(logits, targets, reduction="none", **options)
    shifted = logits.copy()
    shifted[0] += shift
    value2, grad2 = softmax_cross_entropy(shifted, targets, reduction="none", **options)
    np.testing.assert_allclose(value2, value, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grad2, grad, rtol=1e-7, atol=1e-9)


@SETTINGS
@given(softmax_problems())
def test_softmax_grad_rows_sum_to_zero(problem):
    # sum_j (p_j sum_c b_c - b_j) = 0 for any b: hard labels, every option, focal included.
    logits, targets, options = problem
    _, grad = softmax_cross_entropy(logits, targets, reduction="sum", **options)
    # Rounding is relative to the terms p S and a (up to sw_i max(cw)), not to their
    # difference, which is ~1e-5 for a confident row.
    scale = options.get("sample_weight", 1.0) * np.max(options.get("class_weight", 1.0))
    np.testing.assert_array_less(np.abs(grad.sum(axis=1)), 1e-14 + 1e-13 * scale)


@SETTINGS
@given(softmax_problems(), st.permutations(range(5)))
def test_permuting_classes_permutes_outputs(problem, permutation):
    logits, targets, options = problem
    k = logits.shape[1]
    perm = np.array([c for c in permutation if c < k])
    inverse = np.argsort(perm)
    value, grad = softmax_cross_entropy(logits, targets, reduction="none", **options)
    options = dict(options)
    if "class_weight" in options:
        options["class_weight"] = options["class_weight"][perm]
    value2, grad2 = softmax_cross_entropy(logits[:, perm], inverse[targets], reduction="none",
                                          **options)
    np.testing.assert_allclose(value2, value, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad2, grad[:, perm], rtol=1e-12, atol=1e-13)


@SETTINGS
@given(sigmoid_problems(elements=st.floats(-30.0, 30.0)))
def test_sigmoid_of_z_is_softmax_of_zero_and_z(problem):
    # Smoothing agrees (eps/2 = eps/k for k = 2), and so does focal for hard targets
    # (1 - p_t of the sigmoid is 1 - p_y of the two-class softmax). Smoothed targets
    # are soft, where the two focal forms differ: torchvision's (1 - p_t)^gamma ce
    # against DESIGN's sum_c t_c (1 - p_c)^gamma (-log p_c).
    logits, targets, options = problem
    if "focal_gamma" in options:
        options.pop("label_smoothing", None)
    options.pop("focal_alpha", None)
    options.pop("pos_weight", None)
    options.pop("sample_weight", None)
    value, grad = sigmoid_cross_entropy(logits.ravel(), targets.ravel(), reduction="none",
                                        **options)
    pair = np.column_stack([np.zeros(logits.size), logits.ravel()])
    value2, grad2 = softmax_cross_entropy(pair, targets.ravel().astype(int), reduction="none",
                                          **options)
    np.testing.assert_allclose(value, value2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad, grad2[:, 1], rtol=1e-9, atol=1e-14)


@SETTINGS
@given(hnp.arrays(np.float64, (5,), elements=finite_logits),
       hnp.arrays(np.float64, (5,), elements=st.floats(0.0, 1.0)))
def test_sigmoid_soft_targets_are_two_column_probability_rows(logits, targets):
    value, grad = sigmoid_cross_entropy(logits, targets, reduction="none")
    pair = np.column_stack([np.zeros(5), logits])
    value2, grad2 = softmax_cross_entropy(pair, np.column_stack([1 - targets, targets]),
                                          reduction="none")
    np.testing.assert_allclose(value, value2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, grad2[:, 1], rtol=1e-9, atol=1e-13)


@SETTINGS
@given(softmax_problems(), sigmoid_problems())
def test_none_summed_equals_sum(softmax_problem, sigmoid_problem):
    for fn, (logits, targets, options) in ((softmax_cross_entropy, softmax_problem),
                                           (sigmoid_cross_entropy, sigmoid_problem)):
        per_sample, grad_none = fn(logits, targets, reduction="none", **options)
        total, grad_sum = fn(logits, targets, reduction="sum", **options)
        assert per_sample.shape == (logits.shape if fn is sigmoid_cross_entropy
                                    else logits.shape[:1])
        np.testing.assert_allclose(per_sample.sum(), total, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(grad_none, grad_sum)


@SETTINGS
@given(softmax_problems(), st.floats(0.01, 100.0))
def test_uniform_class_weight_leaves_mean_unchanged(problem, c):
    logits, targets, options = problem
    options.pop("class_weight", None)
    value, grad = softmax_cross_entropy(logits, targets, **options)
    value2, grad2 = softmax_cross_entropy(logits, targets, class_weight=np.full(logits.shape[1], c),
                                          **options)
    np.testing.assert_allclose(value2, value, rtol=1e-12)
    np.testing.assert_allclose(grad2, grad, rtol=1e-10, atol=1e-15)


@SETTINGS
@given(softmax_problems(), sigmoid_problems(),
       hnp.arrays(np.float64, (6,), elements=st.floats(0.0, 10.0)))
def test_sample_weight_multiplies_per_sample_loss(softmax_problem, sigmoid_problem, weights):
    for fn, (logits, targets, options) in ((softmax_cross_entropy, softmax_problem),
                                           (sigmoid_cross_entropy, sigmoid_problem)):
        options.pop("sample_weight", None)
        sw = weights[:logits.shape[0]]
        sw_b = sw[:, None] if (fn is sigmoid_cross_entropy and logits.ndim == 2) else sw
        value, grad = fn(logits, targets, reduction="none", **options)
        value2, grad2 = fn(logits, targets, sample_weight=sw, reduction="none", **options)
        np.testing.assert_allclose(value2, sw_b * value, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(grad2, (sw[:, None] if grad.ndim == 2 else sw) * grad,
                                   rtol=1e-12, atol=1e-300)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.data())
def test_finite_value_and_grad_for_huge_logits(dtype, data):
    for fn, strategy in ((softmax_cross_entropy, softmax_problems),
                         (sigmoid_cross_entropy, sigmoid_problems)):
        logits, targets, options = data.draw(strategy(elements=extreme_logits, dtype=dtype))
        for reduction in ("mean", "none"):
            value, grad = fn(logits, targets, reduction=reduction, **options)
            assert np.all(np.isfinite(value)), (value, logits, targets, options)
            assert np.isfinite(grad).all(), (grad, logits, targets, options)
            assert grad.dtype == dtype
            if reduction == "none":
                assert value.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_logits_give_the_exact_limits(dtype):
    # Wrong by 2e4: l = z_0 - z_1 = 2e4, dl/dz = p - onehot = [1, -1].
    value, grad = softmax_cross_entropy(np.array([[1e4, -1e4]], dtype=dtype), np.array([1]))
    assert value == 2e4
    np.testing.assert_array_equal(grad, [[1.0, -1.0]])
    # Right by 2e4: l = 0 and no gradient.
    value, grad = softmax_cross_entropy(np.array([[1e4, -1e4]], dtype=dtype), np.array([0]))
    assert value == 0.0
    np.testing.assert_array_equal(grad, [[0.0, 0.0]])
    # Sigmoid: softplus(1e4) = 1e4 for t = 0, and 0 for t = 1.
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    value, grad = sigmoid_cross_entropy(z, t, reduction="none")
    np.testing.assert_array_equal(value, [1e4, 1e4, 0.0, 0.0])
    np.testing.assert_array_equal(grad, [1.0, -1.0, 0.0, 0.0])
    value, grad = sigmoid_cross_entropy(z, t, reduction="none", focal_gamma=0.5,
                                        focal_alpha=0.25)
    np.testing.assert_array_equal(value, [0.75e4, 0.25e4, 0.0, 0.0])
    np.testing.assert_array_equal(grad, [0.75, -0.25, 0.0, 0.0])


def test_tiny_losses_keep_relative_accuracy():
    # ce(z=30, t=1) = log1p(exp(-30)) = 9.357622968839299e-14; 1 - sigmoid(30) rounds to 0
    # and softplus(30) - 30 cancels, so both would give 0.
    expected = float(np.log1p(np.exp(-30.0)))
    value, grad = sigmoid_cross_entropy(np.array([30.0]), np.array([1.0]))
    assert value == pytest.approx(expected, rel=1e-12)
    assert grad[0] == pytest.approx(-np.exp(-30.0) / (1 + np.exp(-30.0)), rel=1e-12)
    value, _ = sigmoid_cross_entropy(np.array([30.0], dtype=np.float32),
                                     np.array([1.0], dtype=np.float32))
    assert value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", sorted(SOFTMAX_CASES))
def test_float32_in_float32_out_close_to_float64(name):
    logits, targets, options = softmax_case(name, seed=3)
    value64, grad64 = softmax_cross_entropy(logits, targets, **options)
    options32 = {key: (v.astype(np.float32) if isinstance(v, np.ndarray) else v)
                 for key, v in options.items()}
    t32 = targets if targets.ndim == 1 else targets.astype(np.float32)
    value32, grad32 = softmax_cross_entropy(logits.astype(np.float32), t32, **options32)
    assert isinstance(value32, float)
    assert grad32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)
    none32, _ = softmax_cross_entropy(logits.astype(np.float32), t32, reduction="none",
                                      **options32)
    assert none32.dtype == np.float32


def test_float32_stays_float32_with_float64_weights_and_sigmoid():
    logits, targets, options = sigmoid_case("all_soft", seed=4)
    value, grad = sigmoid_cross_entropy(logits.astype(np.float32), targets, reduction="none",
                                        **options)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    value64, grad64 = sigmoid_cross_entropy(logits, targets, reduction="none", **options)
    np.testing.assert_allclose(value, value64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, grad64, rtol=1e-5, atol=1e-6)
