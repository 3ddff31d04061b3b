"""Bad input raises XentlearnInputError (a ValueError) naming the argument and the culprit."""

from __future__ import annotations

import numpy as np
import pytest

from xentlearn.exceptions import XentlearnInputError
from xentlearn.losses import sigmoid_cross_entropy, softmax_cross_entropy

Z = np.zeros((3, 4))
Y = np.array([0, 1, 3])
P = np.full((3, 4), 0.25)
ZS = np.zeros((3, 2))
TS = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])

SOFTMAX_BAD = [
    # (logits, targets, options, message pattern)
    (np.zeros(3), Y, {}, r"logits must have shape \(n_samples, n_classes\)"),
    (np.zeros((3, 1)), Y, {}, r"at least 2 columns"),
    (np.array([["a", "b"]]), Y[:1], {}, r"logits must be a real-valued array"),
    (np.array([[0.0, np.nan], [0, 0], [0, 0], ]), Y, {}, r"logits contains 1 non-finite.*row 0"),
    (np.array([[0.0, 0], [0, 0], [np.inf, 0]]), Y, {}, r"logits contains.*inf.*row 2"),
    (Z, np.array([0, 1]), {}, r"targets must have shape \(3,\).*or \(3, 4\).*got shape \(2,\)"),
    (Z, np.zeros((3, 3)), {}, r"targets must have shape.*got shape \(3, 3\)"),
    (Z, np.array([0, 4, 1]), {}, r"class indices in \[0, 4\).*row 1 holds 4"),
    (Z, np.array([0, -1, 1]), {}, r"class indices in \[0, 4\).*row 1 holds -1"),
    (Z, np.array([0.0, 1.5, 1.0]), {}, r"integer class indices.*row 1 holds 1.5"),
    (Z, np.array([0.0, np.nan, 1.0]), {}, r"targets contains 1 non-finite.*row 1"),
    (Z, np.array(["a", "b", "c"]), {}, r"targets must be integer class indices or probability rows"),
    (Z, np.array([[0.5, 0.5, 0, 0], [1.2, -0.2, 0, 0], [1, 0, 0, 0]]), {},
     r"non-negative probabilities; row 1, column 1 holds -0.2"),
    (Z, np.array([[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0.5, 0.4, 0, 0]]), {},
     r"sum to 1 within 1e-06; row 2 sums to 0.9"),
    (Z, np.array([[0.5, 0.5, 0, 0], [np.inf, 0, 0, 0], [1, 0, 0, 0]]), {},
     r"targets contains.*inf.*row 1"),
    (Z, Y, {"sample_weight": [1.0, -2.0, 1.0]}, r"sample_weight must be non-negative; row 1"),
    (Z, Y, {"sample_weight": [1.0, np.nan, 1.0]}, r"sample_weight contains 1 non-finite.*row 1"),
    (Z, Y, {"sample_weight": [1.0, 1.0]}, r"sample_weight must have shape \(3,\)"),
    (Z, Y, {"class_weight": [1.0, 1.0, 1.0]}, r"class_weight must have shape \(4,\)"),
    (Z, Y, {"class_weight": [1.0, 1.0, -1.0, 1.0]}, r"class_weight must be non-negative; entry 2"),
    (Z, Y, {"class_weight": [1.0, np.inf, 1.0, 1.0]}, r"class_weight contains.*inf"),
    (Z, Y, {"label_smoothing": 1.0}, r"label_smoothing must be in \[0.0, 1.0\), got 1.0"),
    (Z, Y, {"label_smoothing": -0.1}, r"label_smoothing must be in \[0.0, 1.0\), got -0.1"),
    (Z, Y, {"label_smoothing": "x"}, r"label_smoothing must be a number"),
    (Z, Y, {"focal_gamma": -1.0}, r"focal_gamma must be in \[0.0, inf\), got -1.0"),
    (Z, Y, {"focal_gamma": np.nan}, r"focal_gamma must be in"),
    (Z, Y, {"reduction": "avg"}, r"reduction must be one of 'mean', 'sum', 'none'; got 'avg'"),
    (Z, Y, {"reduction": None}, r"reduction must be one of"),
    (Z, Y, {"sample_weight": [0.0, 0.0, 0.0]}, r"reduction='mean'.*sum of the weights.*0"),
    (Z, Y, {"class_weight": [0.0, 0.0, 1.0, 0.0]}, r"reduction='mean'.*sum of the weights.*0"),
]

SIGMOID_BAD = [
    (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), {}, r"logits must have shape \(n_samples,\) or"),
    (np.array([0.0, np.nan, 0.0]), np.zeros(3), {}, r"logits contains 1 non-finite.*row 1"),
    (ZS, np.zeros((3, 3)), {}, r"targets must have the shape of logits, \(3, 2\), got shape \(3, 3\)"),
    (np.zeros(3), np.zeros((3, 1)), {}, r"targets must have the shape of logits"),
    (ZS, np.array([[0.0, 1.0], [1.0, 1.5], [0, 0]]), {},
     r"targets must be in \[0, 1\]; row 1, column 1 holds 1.5"),
    (np.zeros(3), np.array([0.0, -1.0, 1.0]), {}, r"targets must be in \[0, 1\]; row 1 holds -1.0"),
    (ZS, np.array([[0.0, 1.0], [np.nan, 1.0], [0, 0]]), {}, r"targets contains 1 non-finite.*row 1"),
    (ZS, np.array([["a", "b"]] * 3), {}, r"targets must be numbers in \[0, 1\]"),
    (ZS, TS, {"sample_weight": [1.0, 1.0, -0.5]}, r"sample_weight must be non-negative; row 2"),
    (ZS, TS, {"pos_weight": [1.0, 2.0, 3.0]}, r"pos_weight must have shape \(2,\)"),
    (ZS, TS, {"pos_weight": [1.0, -2.0]}, r"pos_weight must be non-negative; entry 1"),
    (np.zeros(3), np.zeros(3), {"pos_weight": [1.0, 2.0]}, r"pos_weight must have shape \(1,\)"),
    (ZS, TS, {"label_smoothing": 1.5}, r"label_smoothing must be in \[0.0, 1.0\)"),
    (ZS, TS, {"focal_gamma": -0.5}, r"focal_gamma must be in \[0.0, inf\)"),
    (ZS, TS, {"focal_alpha": 1.5}, r"focal_alpha must be in \[0.0, 1.0\], got 1.5"),
    (ZS, TS, {"focal_alpha": -0.25}, r"focal_alpha must be in \[0.0, 1.0\], got -0.25"),
    (ZS, TS, {"reduction": "batchmean"}, r"reduction must be one of"),
    (ZS, TS, {"sample_weight": 0.0}, r"reduction='mean'.*sum of the weights"),
]


@pytest.mark.parametrize(("logits", "targets", "options", "match"), SOFTMAX_BAD)
def test_softmax_bad_input(logits, targets, options, match):
    with pytest.raises(XentlearnInputError, match=match) as info:
        softmax_cross_entropy(logits, targets, **options)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("logits", "targets", "options", "match"), SIGMOID_BAD)
def test_sigmoid_bad_input(logits, targets, options, match):
    with pytest.raises(ValueError, match=match):
        sigmoid_cross_entropy(logits, targets, **options)


def test_accepted_borderline_input():
    # Integral floats are class indices; rows within 1e-6 of 1 are probabilities; a
    # scalar sample_weight / pos_weight broadcasts; alpha may be 0 or 1; zero
    # weights are fine for "sum".
    value, _ = softmax_cross_entropy(Z, np.array([0.0, 1.0, 3.0]))
    assert value == pytest.approx(np.log(4.0))
    rows = np.array([[0.5, 0.5 + 9e-7, 0, 0], [1, 0, 0, 0], [0.25] * 4])
    softmax_cross_entropy(Z, rows)
    softmax_cross_entropy(Z.astype(np.float32), rows.astype(np.float32))
    value, _ = sigmoid_cross_entropy(ZS, TS, sample_weight=2.0, pos_weight=3.0, focal_alpha=1.0)
    # z = 0: ce = (3 t + 1 - t) log 2, alpha_t = t; sum_ij 2 t (1 + 2t) log 2 = 16 log 2 over 2 * 6.
    assert value == pytest.approx(16.0 / 12.0 * np.log(2.0), rel=1e-12)
    value, _ = softmax_cross_entropy(Z, Y, sample_weight=[0.0, 0.0, 0.0], reduction="sum")
    assert value == 0.0


def test_inputs_are_not_modified():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), 4)
    sw, cw = rng.random(4), rng.random(3)
    copies = [a.copy() for a in (logits, targets, sw, cw)]
    softmax_cross_entropy(logits, targets, sample_weight=sw, class_weight=cw, focal_gamma=1.0,
                          label_smoothing=0.1)
    sigmoid_cross_entropy(logits, targets, sample_weight=sw, pos_weight=cw, focal_gamma=1.0,
                          focal_alpha=0.3, label_smoothing=0.1)
    for before, after in zip(copies, (logits, targets, sw, cw)):
        np.testing.assert_array_equal(before, after)


def test_lists_and_integer_logits_are_computed_in_float64():
    value, grad = softmax_cross_entropy([[1, 2], [0, 0]], [1, 0])
    assert grad.dtype == np.float64 and isinstance(value, float)
    assert value == pytest.approx((np.log1p(np.exp(-1.0)) + np.log(2.0)) / 2, rel=1e-15)
    value, grad = sigmoid_cross_entropy([0, 0], [1, 0], reduction="none")
    assert grad.dtype == np.float64 and value.dtype == np.float64
    np.testing.assert_allclose(value, [np.log(2.0)] * 2, rtol=1e-15)
