"""y -> (kind, classes_, targets) and class weights (estimators/_labels.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.class_weight import compute_class_weight as sk_compute_class_weight

from xentlearn.estimators._labels import (
    EncodedTargets,
    check_classes_match,
    compute_class_weight,
    decode,
    encode_targets,
    one_hot,
)
from xentlearn.exceptions import XentlearnInputError


def _labels_back(encoded: EncodedTargets) -> np.ndarray:
    """Decode 1-D targets (binary 0/1 floats or multiclass indices) to labels."""
    indices = encoded.targets
    if encoded.kind == "binary":
        indices = (indices > 0.5).astype(np.intp)
    return decode(indices, encoded.classes)


# ----------------------------------------------------------------------- 1-D labels
@pytest.mark.parametrize("y, classes", [
    (np.array(["emu", "cat", "dog", "cat"]), ["cat", "dog", "emu"]),
    (np.array([7, -2, 3, 7, 3]), [-2, 3, 7]),
    (np.array([True, False, True]), [False, True]),
    (np.array([2.0, 0.0, 1.0, 2.0]), [0.0, 1.0, 2.0]),
    (np.array(["b", "a", "c"], dtype=object), ["a", "b", "c"]),
    (pd.Series(["x", "y", "x"]), ["x", "y"]),
    (pd.Series(["x", "z", "x"], dtype="category"), ["x", "z"]),
    ([10, 20, 10, 30], [10, 20, 30]),
])
def test_1d_labels_round_trip_with_sorted_classes(y, classes):
    encoded = encode_targets(y)
    np.testing.assert_array_equal(encoded.classes, classes)
    np.testing.assert_array_equal(_labels_back(encoded), np.asarray(y))
    assert encoded.kind == ("binary" if len(classes) == 2 else "multiclass")


def test_binary_targets_are_float_0_1_with_positive_second_class():
    encoded = encode_targets(["yes", "no", "yes"], dtype=np.float32)
    assert encoded.kind == "binary"
    assert encoded.targets.dtype == np.float32
    np.testing.assert_array_equal(encoded.targets, [1, 0, 1])   # "yes" = classes[1]


def test_multiclass_targets_are_intp_indices():
    encoded = encode_targets(np.array([3, 1, 2, 1]))
    assert encoded.kind == "multiclass"
    assert encoded.targets.dtype == np.intp
    np.testing.assert_array_equal(encoded.targets, [2, 0, 1, 0])


def test_given_classes_are_respected_even_if_absent_from_y():
    encoded = encode_targets(np.array(["b", "b"]), classes=["c", "a", "b"])
    np.testing.assert_array_equal(encoded.classes, ["a", "b", "c"])   # sorted, as scikit-learn
    assert encoded.kind == "multiclass"
    np.testing.assert_array_equal(encoded.targets, [1, 1])
    # One label present, two classes declared: binary, not a one-class error.
    encoded = encode_targets(np.array([1, 1, 1]), classes=[0, 1])
    assert encoded.kind == "binary"
    np.testing.assert_array_equal(encoded.targets, [1, 1, 1])


def test_unknown_label_error_names_label_and_row():
    with pytest.raises(XentlearnInputError, match=r"label 'z' in row 2.*\['a', 'b'\]"):
        encode_targets(np.array(["a", "b", "z", "q"]), classes=["a", "b"])
    with pytest.raises(XentlearnInputError, match=r"label 9 in row 1"):
        check_classes_match(np.array([0, 9, 1]), np.array([0, 1, 2]))
    # Labels that look alike but differ in type are not the same class.
    with pytest.raises(XentlearnInputError, match=r"label 1 in row 0"):
        encode_targets(np.array([1, 2]), classes=["1", "2", "3"])
    # Object labels of mixed types: the fallback lookup still finds the right row.
    with pytest.raises(XentlearnInputError, match=r"label 'a' in row 1"):
        encode_targets(np.array([1, "a"], dtype=object), classes=[1, 2, 3])


def test_check_classes_match_returns_indices():
    classes = np.array(["a", "b", "c"])
    y = np.array(["c", "a", "c", "b"])
    indices = check_classes_match(y, classes)
    assert indices.dtype == np.intp
    np.testing.assert_array_equal(classes[indices], y)


@pytest.mark.parametrize("classes, match", [
    (["a", "b", "a"], r"classes must be unique; 'a' appears 2 times"),
    (["a"], r"classes has 1 entry \['a'\]; a classifier needs at least 2"),
    ([["a", "b"]], r"classes must be a 1-D array"),
    (np.array([1, "a"], dtype=object), r"classes mixes labels of types int, str"),
])
def test_bad_classes_argument(classes, match):
    with pytest.raises(XentlearnInputError, match=match):
        encode_targets(np.array(["a", "a"]), classes=classes)


@pytest.mark.parametrize("y", [[4, 4, 4], ["only"]])
def test_one_class_error(y):
    with pytest.raises(XentlearnInputError,
                       match=r"y has only one class \((4|'only')\); .*at least 2"):
        encode_targets(y)


@pytest.mark.parametrize("y, row", [
    (np.array([0.0, 1.0, np.nan, 1.0]), 2),
    (np.array(["a", None, "b"], dtype=object), 1),
    (np.array(["a", "b", float("nan")], dtype=object), 2),
    (pd.Series([1, 2, None, 1], dtype="Int64"), 2),
    ([1, 2, pd.NA], 2),
])
def test_missing_label_error_names_row(y, row):
    with pytest.raises(XentlearnInputError, match=rf"missing label .* in row {row}\b"):
        encode_targets(y)


@pytest.mark.parametrize("y, row", [
    (pd.Series(["a", "b", pd.NA, "a", "b", "a"], dtype="string"), 2),
    (np.array(["a", "b", "a", np.nan, "b", "a"], dtype=object), 3),
    (pd.Series(["a", "b", "a", "b", None, "a"], dtype="category"), 4),
    (np.array([1.0, 2.0, 1.0, 2.0, 1.0, np.nan]), 5),
])
@pytest.mark.parametrize("fit", ["fit", "partial_fit"])
def test_fit_names_the_row_of_a_missing_label(y, row, fit):
    """fit and partial_fit name the row, as encode_targets does; scikit-learn's validation
    ran first and said "Input contains NaN" (no row), or raised TypeError on pd.NA."""
    from xentlearn import LogisticRegression

    X = np.random.default_rng(0).standard_normal((6, 2))
    kwargs = {"classes": ["a", "b"]} if fit == "partial_fit" else {}
    with pytest.raises(XentlearnInputError, match=rf"missing label .* in row {row}\b"):
        getattr(LogisticRegression(solver="adam"), fit)(X, y, **kwargs)


def test_infinite_and_continuous_float_labels_are_refused():
    with pytest.raises(XentlearnInputError, match=r"inf.* row 1"):
        encode_targets(np.array([0.0, np.inf]))
    # scikit-learn's check_classifiers_regression_target matches "Unknown label type: ".
    with pytest.raises(ValueError, match=r"Unknown label type: .*row 1 is 0.5"):
        encode_targets(np.array([1.0, 0.5, 2.0]))


def test_unsortable_mixed_labels_error():
    with pytest.raises(XentlearnInputError, match=r"y mixes labels of types int, str"):
        encode_targets(np.array([1, "a", 2], dtype=object))


def test_column_vector_is_raveled_with_sklearn_warning():
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        encoded = encode_targets(np.array([[1], [0], [2]]))
    assert encoded.kind == "multiclass"
    np.testing.assert_array_equal(encoded.targets, [1, 0, 2])


@pytest.mark.parametrize("y, match", [
    (np.zeros((2, 2, 2)), r"shape \(2, 2, 2\)"),
    (np.array(3), r"shape \(\)"),
    (np.zeros((3, 0)), r"at least 2 columns"),
    (np.array([]), r"y is empty"),
    (np.array([["a", "b"], ["b", "a"]]), r"numeric"),
])
def test_bad_shapes_and_dtypes(y, match):
    with pytest.raises(XentlearnInputError, match=match):
        encode_targets(y)


# ----------------------------------------------------------------------- 2-D targets
def test_multilabel_detection():
    Y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    encoded = encode_targets(Y, dtype=np.float32)
    assert encoded.kind == "multilabel"
    np.testing.assert_array_equal(encoded.classes, [0, 1, 2])
    assert encoded.targets.dtype == np.float32
    np.testing.assert_array_equal(encoded.targets, Y)
    assert encode_targets(Y.astype(bool)).kind == "multilabel"


def test_one_hot_matrix_is_multilabel_as_in_sklearn():
    from sklearn.utils.multiclass import type_of_target

    Y = np.eye(3)[[0, 2, 1, 1]]
    assert type_of_target(Y) == "multilabel-indicator"
    assert encode_targets(Y).kind == "multilabel"


def test_soft_detection():
    P = np.array([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    encoded = encode_targets(P, dtype=np.float32)
    assert encoded.kind == "soft"
    np.testing.assert_array_equal(encoded.classes, [0, 1, 2])
    assert encoded.targets.dtype == np.float32
    np.testing.assert_allclose(encoded.targets, P, rtol=1e-7)


def test_soft_rows_tolerance_is_1e_6():
    P = np.array([[0.3, 0.7], [0.5, 0.5 + 5e-7]])
    assert encode_targets(P).kind == "soft"
    with pytest.raises(XentlearnInputError, match=r"row 1 sums to 1.000002"):
        encode_targets(np.array([[0.3, 0.7], [0.5, 0.500002]]))


def test_bad_probability_row_names_row_and_sum():
    P = np.array([[0.5, 0.5], [0.25, 0.75], [0.4, 0.4], [0.1, 0.1]])
    with pytest.raises(XentlearnInputError,
                       match=r"row 2 sums to 0.8, expected 1 .*\(2 such row"):
        encode_targets(P)


@pytest.mark.parametrize("value, match", [
    (-0.25, r"row 1 has -0.25 in column 0"),
    (1.5, r"row 1 has 1.5 in column 0"),
    (np.nan, r"non-finite.* row 1"),
    (np.inf, r"non-finite.* row 1"),
])
def test_values_outside_0_1_name_the_row(value, match):
    Y = np.array([[0.5, 0.5], [value, 0.5], [0.0, 1.0]])
    with pytest.raises(XentlearnInputError, match=match):
        encode_targets(Y)


def test_classes_for_2d_y_must_be_range_k():
    P = np.array([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]])
    assert encode_targets(P, classes=np.arange(3)).kind == "soft"
    with pytest.raises(XentlearnInputError, match=r"range\(3\).*got \[0, 1\]"):
        encode_targets(P, classes=[0, 1])
    with pytest.raises(XentlearnInputError, match=r"range\(3\)"):
        encode_targets(P, classes=["a", "b", "c"])


# ----------------------------------------------------------------------- class weights
@pytest.mark.parametrize("labels", [
    np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2]),
    np.array(["b", "a", "a", "a", "a", "a"]),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_balanced_equals_sklearn_for_hard_labels(labels, weighted):
    sample_weight = np.linspace(0.5, 3.0, len(labels)) if weighted else None
    encoded = encode_targets(labels)
    ours = compute_class_weight("balanced", encoded.classes, encoded.targets, encoded.kind,
                                sample_weight=sample_weight)
    reference = sk_compute_class_weight("balanced", classes=np.unique(labels), y=labels,
                                        sample_weight=sample_weight)
    np.testing.assert_allclose(ours, reference, rtol=1e-12)
    assert ours.shape == (len(encoded.classes),)


def test_balanced_formula_by_hand():
    # n = 4, k = 2, counts (3, 1): 4 / (2 * 3) and 4 / (2 * 1).
    weight = compute_class_weight("balanced", np.array([0, 1]), np.array([0., 0., 0., 1.]),
                                  "binary", dtype=np.float32)
    assert weight.dtype == np.float32
    np.testing.assert_allclose(weight, [2 / 3, 2.0], rtol=1e-6)


def test_balanced_soft_labels_use_weighted_column_sums():
    hard = np.array([0, 2, 2, 1, 2, 0])
    sample_weight = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    # One-hot rows are multilabel for encode_targets, so hand the "soft" kind directly.
    soft_one_hot = one_hot(hard, 3)
    for sw in (None, sample_weight):
        from_soft = compute_class_weight("balanced", np.arange(3), soft_one_hot, "soft",
                                         sample_weight=sw)
        from_hard = compute_class_weight("balanced", np.arange(3), hard, "multiclass",
                                         sample_weight=sw)
        np.testing.assert_allclose(from_soft, from_hard, rtol=1e-12)
    # Genuinely soft rows: counts are the column sums, n their total.
    P = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5], [0.0, 0.2, 0.8]])
    counts = P.sum(axis=0)                      # (0.75, 0.95, 1.3), total 3
    np.testing.assert_allclose(compute_class_weight("balanced", np.arange(3), P, "soft"),
                               3 / (3 * counts), rtol=1e-12)


def test_balanced_with_an_absent_class_names_it():
    encoded = encode_targets(np.array(["a", "c", "a"]), classes=["a", "b", "c"])
    with pytest.raises(XentlearnInputError, match=r"class 'b' has no samples"):
        compute_class_weight("balanced", encoded.classes, encoded.targets, encoded.kind)
    # scikit-learn refuses the same input.
    with pytest.raises(ValueError):
        sk_compute_class_weight("balanced", classes=np.array(["a", "b", "c"]),
                                y=np.array(["a", "c", "a"]))
    with pytest.raises(XentlearnInputError, match=r"class 1 has zero total sample_weight"):
        compute_class_weight("balanced", np.array([0, 1]), np.array([0., 1.]), "binary",
                             sample_weight=np.array([1.0, 0.0]))


def test_dict_weights_default_to_one_and_match_sklearn():
    classes = np.array(["a", "b", "c"])
    targets = np.array([0, 1, 2, 2])
    weight = compute_class_weight({"c": 4.0, np.str_("a"): 0.5}, classes, targets, "multiclass",
                                  dtype=np.float32)
    assert weight.dtype == np.float32
    np.testing.assert_array_equal(weight, [0.5, 1.0, 4.0])
    np.testing.assert_array_equal(
        weight, sk_compute_class_weight({"c": 4.0, "a": 0.5}, classes=classes,
                                        y=classes[targets]))
    # Integer keys match integer labels whatever the numpy scalar type.
    weight = compute_class_weight({np.int64(1): 3}, np.array([0, 1]), np.array([0., 1.]), "binary")
    np.testing.assert_array_equal(weight, [1.0, 3.0])


def test_class_weight_keys_of_absent_labels_are_ignored_when_every_class_has_one():
    # A cross-validation fold without the rare class 'c', as scikit-learn.
    classes, targets = np.array(["a", "b"]), np.array([0.0, 1.0, 1.0])
    weights = {"a": 2.0, "b": 0.5, "c": 10.0}
    weight = compute_class_weight(weights, classes, targets, "binary")
    np.testing.assert_array_equal(weight, [2.0, 0.5])
    np.testing.assert_array_equal(
        weight, sk_compute_class_weight(weights, classes=classes, y=classes[[0, 1, 1]]))
    with pytest.raises(ValueError):          # scikit-learn refuses the misspelt case too
        sk_compute_class_weight({"a": 2.0, "zebra": 2.0}, classes=classes, y=classes[[0, 1]])


@pytest.mark.parametrize("class_weight, match", [
    ({"a": 1.0, "zebra": 2.0},
     r"class_weight has key 'zebra', which is not one of the classes \['a', 'b'\], and gives "
     r"no weight to \['b'\]: a misspelt label\?"),
    ({"a": -1.0}, r"class_weight\['a'\] must be finite and non-negative, got -1.0"),
    ({"b": np.nan}, r"class_weight\['b'\] must be finite and non-negative, got nan"),
    ({"b": "heavy"}, r"class_weight\['b'\] must be a number"),
    ("balance",
     r"class_weight must be None, a dict \{label: weight\} or 'balanced'; got 'balance'"),
    (3.0, r"class_weight must be None"),
])
def test_bad_class_weight(class_weight, match):
    with pytest.raises(XentlearnInputError, match=match):
        compute_class_weight(class_weight, np.array(["a", "b"]), np.array([0., 1.]), "binary")


def test_class_weight_none_and_multilabel():
    assert compute_class_weight(None, np.arange(3), np.eye(3), "multilabel") is None
    for class_weight in ("balanced", {0: 2.0}):
        with pytest.raises(XentlearnInputError, match=r"class_weight must be None for multilabel"):
            compute_class_weight(class_weight, np.arange(3), np.eye(3), "multilabel")


# ----------------------------------------------------------------------- one_hot / decode
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_hot_shape_dtype_and_values(dtype):
    indices = np.array([2, 0, 1, 2])
    out = one_hot(indices, 4, dtype)
    assert out.shape == (4, 4) and out.dtype == dtype
    np.testing.assert_array_equal(out.argmax(axis=1), indices)
    np.testing.assert_array_equal(out.sum(axis=1), np.ones(4))
    assert out[:, 3].sum() == 0
    assert one_hot(np.array([], dtype=np.intp), 3).shape == (0, 3)
    with pytest.raises(XentlearnInputError, match=r"class index 5 in row 1 is outside \[0, 3\)"):
        one_hot(np.array([0, 5]), 3)


def test_decode_keeps_shape_and_dtype():
    classes = np.array(["x", "y", "z"])
    out = decode(np.array([[2, 0], [1, 1]]), classes)
    assert out.dtype == classes.dtype
    np.testing.assert_array_equal(out, [["z", "x"], ["y", "y"]])


# ----------------------------------------------------------------------- properties
_int_labels = hnp.arrays(np.int64, st.integers(2, 30), elements=st.integers(-5, 5))
_str_labels = st.lists(st.sampled_from(["a", "B", "cat", "", "é", "10", "9"]),
                       min_size=2, max_size=30).map(np.array)


@settings(max_examples=40, deadline=None)
@given(y=st.one_of(_int_labels, _str_labels))
def test_round_trip_property(y):
    distinct = np.unique(y)
    if len(distinct) < 2:
        with pytest.raises(XentlearnInputError, match="only one class"):
            encode_targets(y)
        return
    encoded = encode_targets(y)
    np.testing.assert_array_equal(encoded.classes, distinct)
    assert np.all(encoded.classes[:-1] < encoded.classes[1:])
    np.testing.assert_array_equal(_labels_back(encoded), y)
    # Declaring a superset of classes, in any order, keeps every label.
    unseen = distinct.max() + 1 if y.dtype.kind == "i" else "~unseen"
    declared = np.append(distinct, unseen)[::-1]
    again = encode_targets(y, classes=declared)
    np.testing.assert_array_equal(again.classes, np.sort(declared))
    np.testing.assert_array_equal(_labels_back(again), y)


@settings(max_examples=30, deadline=None)
@given(P=hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(2, 5)),
                    elements=st.floats(0.01, 1.0)))
def test_normalised_rows_are_soft_and_kept(P):
    P = P / P.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoded = encode_targets(P)
    assert encoded.kind == "soft"   # every entry > 0 and k >= 2, so not all 0/1
    np.testing.assert_array_equal(encoded.targets, P)
    np.testing.assert_array_equal(encoded.classes, np.arange(P.shape[1]))


@pytest.mark.parametrize("y", [
    np.array([5, -3, 5, 0, -3], dtype=np.int8), np.array([True, False, True]),
    np.arange(10, dtype=np.uint16)[::-1], np.array([3, 100_000, 3]),      # range too wide: sort
    np.random.default_rng(0).integers(0, 7, 1000),
])
def test_counting_unique_equals_numpy_unique(y):
    from xentlearn.estimators._labels import _unique_inverse

    classes, indices = _unique_inverse(y)
    expected_classes, expected_indices = np.unique(y, return_inverse=True)
    np.testing.assert_array_equal(classes, expected_classes)
    assert classes.dtype == expected_classes.dtype
    np.testing.assert_array_equal(indices, expected_indices.ravel())
