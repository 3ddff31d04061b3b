"""Labels in, training targets out: y -> (kind, classes_, targets), and class weights.

The rules are those of DESIGN.md §2, made consistent with scikit-learn where
the contract is silent:

=========================================  ============  ==================  ======================
y                                          kind          classes_            targets
=========================================  ============  ==================  ======================
1-D, 2 distinct labels                     "binary"      sorted labels       (n,) 0/1 in `dtype`,
                                                                             1 = ``classes_[1]``
1-D, > 2 distinct labels                   "multiclass"  sorted labels       (n,) intp indices
2-D (n, m), every value 0 or 1             "multilabel"  ``arange(m)``       (n, m) 0/1 in `dtype`
2-D (n, k), values in [0, 1], not all      "soft"        ``arange(k)``       (n, k) in `dtype`
0/1, every row sums to 1 within 1e-6
=========================================  ============  ==================  ======================

A 2-D 0/1 matrix is multilabel even when every row holds exactly one 1 (a
one-hot matrix): scikit-learn's ``type_of_target`` calls it
"multilabel-indicator" as well, and a one-hot matrix cannot be told apart from a
multilabel batch that happens to have one label per row. Pass the class indices
``Y.argmax(axis=1)`` for a softmax over one-hot classes.

Everything here is a pure function of arrays; nothing loops over samples in
Python, except to build an error message.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Literal, NamedTuple

import numpy as np
from sklearn.exceptions import DataConversionWarning

from xentlearn import _checks
from xentlearn._checks import shown
from xentlearn.exceptions import XentlearnInputError

Kind = Literal["binary", "multiclass", "multilabel", "soft"]

# Rows of soft labels are probabilities; the losses accept the same tolerance
# (DESIGN §1), so anything encoded here is accepted there.
ROW_SUM_TOL = 1e-6


class EncodedTargets(NamedTuple):
    """What the estimators train on.

    kind : {"binary", "multiclass", "multilabel", "soft"}
    classes : ndarray of shape (n_classes,)
        The fitted ``classes_``: sorted labels for 1-D y, ``arange(k)`` for 2-D y.
    targets : ndarray
        (n,) float 0/1 (binary), (n,) intp (multiclass), (n, k) float (multilabel, soft).
    """

    kind: Kind
    classes: np.ndarray
    targets: np.ndarray


def encode_targets(y, *, classes=None, dtype=np.float64) -> EncodedTargets:
    """Turn user labels into the kind of task, ``classes_`` and the loss targets.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, k)
        1-D labels of any sortable type (int, str, bool, integral float, object;
        lists and pandas Series too); a column vector (n_samples, 1) is raveled
        with a ``DataConversionWarning``, as scikit-learn does. 2-D: a 0/1
        indicator matrix (multilabel) or rows of probabilities (soft labels).
    classes : array-like of shape (n_classes,), default=None
        Every label that may appear (``partial_fit``'s argument, or the fitted
        ``classes_`` on later calls). For 1-D y the labels must be unique; they
        are sorted, and every label of y must be among them. For 2-D y they must
        be ``range(k)``, one per column. None: the labels found in y.
    dtype : {np.float32, np.float64}, default=np.float64
        dtype of float targets (binary, multilabel, soft).

    Returns
    -------
    EncodedTargets
        ``(kind, classes, targets)``; see the module docstring for the table.

    Raises
    ------
    XentlearnInputError
        Missing labels (NaN, None) naming the row; continuous float labels
        (scikit-learn's "Unknown label type: continuous"); labels of types that
        cannot be sorted together; a label not in `classes`, naming it and its
        row; fewer than 2 classes; for 2-D y, values outside [0, 1] or rows that
        are neither 0/1 nor sum to 1, naming the row; y with 0 columns or 3 axes.

    Notes
    -----
    Floats are accepted as labels only when every value is integral, as in
    scikit-learn (``check_classifiers_regression_target``): ``[0.0, 1.0, 2.0]``
    are labels, ``[0.3, 1.7]`` are regression targets and raise.

    Examples
    --------
    >>> kind, classes, targets = encode_targets(["dog", "cat", "dog"])
    >>> kind, classes, targets
    ('binary', array(['cat', 'dog'], dtype='<U3'), array([1., 0., 1.]))
    >>> encode_targets([2, 0, 1]).targets
    array([2, 0, 1])
    >>> encode_targets([[0.25, 0.75], [1.0, 0.0]]).kind
    'soft'
    """
    dtype = np.dtype(dtype)
    if hasattr(y, "toarray"):       # a sparse indicator matrix (MultiLabelBinarizer's)
        y = y.toarray()
    y_array = number_labels(np.asarray(y))
    if y_array.ndim == 2 and y_array.shape[1] == 1:
        # scikit-learn's wording, which its estimator checks look for.
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning, stacklevel=2)
        y_array = y_array.ravel()
    if y_array.ndim == 0 or y_array.ndim > 2:
        raise XentlearnInputError(
            f"y must be 1-D labels or a 2-D (n_samples, n_classes) matrix; got shape "
            f"{y_array.shape}")
    if y_array.shape[0] == 0:
        raise XentlearnInputError("y is empty; a classifier needs at least one sample")
    if y_array.ndim == 2:
        return _encode_matrix(y_array, classes, dtype)
    return _encode_labels(y, y_array, classes, dtype)


def check_classes_match(y, classes) -> np.ndarray:
    """Indices of the labels `y` in the sorted `classes`, or an error naming the first stranger.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels, already checked for missing values.
    classes : ndarray of shape (n_classes,)
        Sorted unique labels (a fitted ``classes_``).

    Returns
    -------
    indices : ndarray of shape (n_samples,), intp
        ``classes[indices] == y``.

    Raises
    ------
    XentlearnInputError
        If a label is not in `classes`, naming the label, its row and the classes.

    Examples
    --------
    >>> check_classes_match(np.array(["b", "a"]), np.array(["a", "b", "c"]))
    array([1, 0])
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    try:
        indices = np.searchsorted(classes, y)
        # searchsorted gives the insertion point; it is the label's index only
        # where the label is really there (it also "finds" 1 among '0', '1' by
        # promoting to str, which the equality below rejects).
        found = indices < len(classes)
        found[found] = classes[indices[found]] == y[found]
    except TypeError:
        # Object labels of types that cannot be ordered together (str and int):
        # look each up by equality instead. Python dict lookups, one per label;
        # sorting object arrays costs a Python comparison per element anyway.
        position = {label: j for j, label in enumerate(classes.tolist())}
        looked_up = np.frompyfunc(lambda label: position.get(label, -1), 1, 1)(y)
        indices = looked_up.astype(np.intp)
        found = indices >= 0
    if not found.all():
        row = int(np.flatnonzero(~found)[0])
        raise XentlearnInputError(
            f"y has label {shown(y[row])} in row {row}, which is not one of the classes "
            f"{_preview(classes)}; pass every label that can occur in `classes` on the "
            "first partial_fit call")
    return indices.astype(np.intp, copy=False)


def compute_class_weight(class_weight, classes, targets, kind: Kind, sample_weight=None,
                         dtype=np.float64) -> np.ndarray | None:
    """Per-class weights cw (length k) for the loss, or None for cw = 1.

    Parameters
    ----------
    class_weight : None, dict {label: weight} or "balanced"
        None: no weighting. dict: weights by label; classes not in the dict get
        1. "balanced": ``cw_c = n / (k * n_c)``, with ``n = sum_i sw_i`` and
        ``n_c`` the (sample-weighted) count of class c.
    classes : ndarray of shape (k,)
        The encoded ``classes_``.
    targets : ndarray
        The encoded targets: (n,) 0/1 (binary), (n,) intp (multiclass),
        (n, k) probabilities (soft).
    kind : {"binary", "multiclass", "multilabel", "soft"}
    sample_weight : ndarray of shape (n,), default=None
        Used by "balanced" only, as scikit-learn's
        ``sklearn.utils.class_weight.compute_class_weight`` (and so its
        ``LogisticRegression``) does: counts are sums of sample weights.
    dtype : {np.float32, np.float64}, default=np.float64

    Returns
    -------
    ndarray of shape (k,) in `dtype`, or None
        ``cw[j]`` weighs class ``classes[j]`` (binary: k = 2, indexed by the 0/1 target).

    Raises
    ------
    XentlearnInputError
        A dict key that is not a class, or a weight that is negative or not
        finite, naming it; "balanced" with a class of zero (weighted) count,
        naming the class (scikit-learn raises too); another string, listing the
        allowed values; any class_weight but None for multilabel y.

    Notes
    -----
    Soft labels count fractionally: ``n_c = sum_i sw_i * t_ic``, the column sums
    of the probability matrix, so one-hot rows give exactly the hard-label counts.

    Multilabel y has independent sigmoids, one per column, and a weight "per
    class" would be ambiguous there (per column? for positives only, as
    ``pos_weight``?), so it is refused rather than guessed; use `sample_weight`.

    Examples
    --------
    >>> compute_class_weight("balanced", np.array([0, 1]), np.array([0., 0., 0., 1.]), "binary")
    array([0.66666667, 2.        ])
    >>> compute_class_weight({"b": 3}, np.array(["a", "b", "c"]), np.array([0, 1, 2]), "multiclass")
    array([1., 3., 1.])
    """
    if isinstance(class_weight, str) and class_weight == "balanced" and kind != "multilabel":
        counts = class_counts(targets, kind, len(classes), sample_weight)
    else:
        counts = None
    return class_weight_from_counts(class_weight, classes, kind, counts,
                                    weighted=sample_weight is not None, dtype=dtype)


def class_weight_from_counts(class_weight, classes, kind: Kind, counts, *, weighted: bool,
                             dtype=np.float64, labels_in: str = "y") -> np.ndarray | None:
    """``compute_class_weight`` from the per-class (weighted) counts, shape (k,) float64,
    as ``class_counts`` gives them (summed over parts for data read in pieces: files,
    Dask partitions); `counts` is read for "balanced" only. `weighted`: the counts
    are sums of sample weights; `labels_in`: where the labels are (both for the
    message of a class of zero count)."""
    if class_weight is None:
        return None
    dtype = np.dtype(dtype)
    if kind == "multilabel":
        raise XentlearnInputError(
            f"class_weight must be None for multilabel y (a 2-D 0/1 matrix), got "
            f"{class_weight!r}: each column is its own binary problem, so a weight per "
            "class is ambiguous; weight rows with sample_weight instead")
    classes = np.asarray(classes)
    if isinstance(class_weight, dict):
        return _class_weight_from_dict(class_weight, classes, dtype)
    if isinstance(class_weight, str) and class_weight == "balanced":
        empty = np.flatnonzero(counts <= 0)
        if empty.size:
            raise XentlearnInputError(
                f"class_weight='balanced' needs every class in {labels_in}, but class "
                f"{shown(classes[empty[0]])} has "
                f"{'zero total sample_weight' if weighted else 'no samples'}; pass a dict "
                "of weights" + (", or drop the class from `classes`" if labels_in == "y"
                                else ""))
        return (counts.sum() / (len(classes) * counts)).astype(dtype)
    raise XentlearnInputError(
        f"class_weight must be None, a dict {{label: weight}} or 'balanced'; got {class_weight!r}")


def one_hot(indices, n_classes: int, dtype=np.float64) -> np.ndarray:
    """Rows of the identity: ``out[i, indices[i]] = 1``.

    Parameters
    ----------
    indices : ndarray of shape (n,), int in [0, n_classes)
    n_classes : int
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    ndarray of shape (n, n_classes), `dtype`

    Examples
    --------
    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= n_classes):
        row = int(np.flatnonzero((indices < 0) | (indices >= n_classes))[0])
        raise XentlearnInputError(
            f"class index {shown(indices[row])} in row {row} is outside [0, {n_classes})")
    out = np.zeros((indices.shape[0], n_classes), dtype=dtype)
    out[np.arange(indices.shape[0]), indices] = 1
    return out


def decode(indices, classes) -> np.ndarray:
    """Labels from class indices: ``classes[indices]`` (the inverse of the 1-D encoding).

    Parameters
    ----------
    indices : ndarray of int, any shape
    classes : ndarray of shape (n_classes,)

    Returns
    -------
    ndarray shaped like `indices`, dtype of `classes`

    Examples
    --------
    >>> decode(np.array([1, 0, 1]), np.array(["cat", "dog"]))
    array(['dog', 'cat', 'dog'], dtype='<U3')
    """
    return np.take(np.asarray(classes), np.asarray(indices, dtype=np.intp))


# ----------------------------------------------------------------------- 1-D labels
_COUNTING_RANGE = 1 << 16


def _unique_inverse(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(y, return_inverse=True), in O(n) for integers of a small range.

    Sorting (np.unique) is O(n log n) and makes three arrays of y's size;
    counting is O(n) with one lookup table.
    """
    if y.dtype.kind in "iub" and y.size:
        low, high = int(y.min()), int(y.max())
        if high - low < _COUNTING_RANGE:
            offset = (y.astype(np.int64, copy=False) - low) if low else y.astype(np.intp, copy=False)
            present = np.bincount(offset, minlength=high - low + 1) > 0
            lookup = np.cumsum(present) - 1            # value - low -> class index
            classes = (np.flatnonzero(present) + low).astype(y.dtype)
            return classes, lookup[offset].astype(np.intp, copy=False)
    classes, indices = np.unique(y, return_inverse=True)
    return classes, indices.reshape(-1)


def check_labels_present(y_input, y: np.ndarray | None = None) -> None:
    """Raise XentlearnInputError naming the row of the first missing label (NaN, None, NaT,
    pd.NA) of 1-D labels `y_input` (`y`: the same as a numpy array, if already made)."""
    y = np.asarray(y_input) if y is None else y
    if y.ndim != 1:
        return
    missing = _missing_mask(y_input, y)
    if missing is not None and missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise XentlearnInputError(
            f"y has a missing label ({shown(y[row])}) in row {row}; every sample needs a label")


def number_labels(y: np.ndarray) -> np.ndarray:
    """A 1-D object array of numbers as a numeric array (``[1, 2]`` of dtype object as
    int64), else `y`: scikit-learn's metrics call such labels "unknown" and refuse them,
    so a model fitted on them could not be scored.

    Examples
    --------
    >>> number_labels(np.array([1, 2, np.int64(3)], dtype=object))
    array([1, 2, 3])
    >>> number_labels(np.array([1, "2"], dtype=object)).dtype
    dtype('O')
    """
    if y.dtype != object or y.ndim != 1 or len(y) == 0:
        return y
    values = y.tolist()
    if not all(issubclass(t, (numbers.Real, np.bool_)) for t in set(map(type, values))):
        return y
    converted = np.asarray(values)
    return converted if converted.dtype.kind in "biuf" else y


def score_targets(y, kind: Kind, classes: np.ndarray):
    """The labels ``score`` compares predictions with.

    A model trained on soft labels scores a 2-D `y` of probability rows, shape
    (n, k), by each row's most probable class, as its validation accuracy does
    (``objective.TASKS["soft"].correct``); any other `y` is returned as given.
    """
    if kind != "soft" or np.ndim(y) != 2:
        return y
    y = y.toarray() if _checks.issparse(y) else np.asarray(y)
    if y.shape[1] != len(classes):
        raise XentlearnInputError(
            f"y has {y.shape[1]} columns, but the model was trained on soft labels over "
            f"{len(classes)} classes: give (n, {len(classes)}) probability rows or 1-D labels")
    return classes[y.argmax(axis=1)]


def _encode_labels(y_input, y, classes, dtype) -> EncodedTargets:
    check_labels_present(y_input, y)
    if y.dtype.kind == "c":
        raise XentlearnInputError(f"y must hold class labels, got complex dtype {y.dtype}")
    if y.dtype.kind == "f":
        _checks.check_finite("y", y)
        integral = y == np.round(y)
        if not integral.all():
            row = int(np.flatnonzero(~integral)[0])
            # scikit-learn's wording ("Unknown label type"), which its estimator checks match.
            raise XentlearnInputError(
                f"Unknown label type: 'continuous'. y holds non-integer floats (row {row} is "
                f"{shown(y[row])}), which are regression targets, not class labels; cast labels "
                "to int or str")
    if classes is None:
        try:
            classes, indices = _unique_inverse(y)
        except TypeError:
            raise XentlearnInputError(_unsortable_message(y)) from None
        if len(classes) < 2:
            raise XentlearnInputError(
                f"y has only one class ({shown(classes[0])}); a classifier needs at least 2")
    else:
        classes = _check_classes_argument(classes)
        indices = check_classes_match(y, classes)
    if len(classes) == 2:
        # One sigmoid logit; the positive class is classes[1], as in scikit-learn.
        return EncodedTargets("binary", classes, (indices == 1).astype(dtype))
    return EncodedTargets("multiclass", classes, indices.astype(np.intp, copy=False))


def _missing_mask(y_input, y) -> np.ndarray | None:
    """True where a label is missing (NaN, None, NaT, pd.NA); None if the dtype cannot be."""
    if hasattr(y_input, "isna"):   # pandas: knows its own missing markers (pd.NA, NaT, None)
        return np.asarray(y_input.isna()).reshape(-1)
    kind = y.dtype.kind
    if kind in "fc":
        return np.isnan(y)
    if kind in "mM":
        return np.isnat(y)
    if kind != "O":
        return None
    try:
        # NaN is the one value not equal to itself; None compares by identity.
        return np.equal(y, None) | (y != y)
    except TypeError:
        # A value whose comparison has no truth value (pd.NA in a plain list):
        # classify element by element, on this rare path only.
        return np.frompyfunc(_is_missing_scalar, 1, 1)(y).astype(bool)


def _is_missing_scalar(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True


def _unsortable_message(y) -> str:
    # Python-level pass over the labels, on the error path only.
    types = sorted({type(v).__name__ for v in y.tolist()})
    return (f"y mixes labels of types {', '.join(types)}, which cannot be sorted together "
            "into classes_; use one type for all labels (e.g. all str)")


def _check_classes_argument(classes) -> np.ndarray:
    given = np.asarray(classes)
    if given.ndim != 1:
        raise XentlearnInputError(
            f"classes must be a 1-D array of labels, got shape {given.shape}")
    try:
        unique, counts = np.unique(given, return_counts=True)
    except TypeError:
        raise XentlearnInputError(
            _unsortable_message(given).replace("y mixes", "classes mixes", 1)) from None
    if (counts > 1).any():
        raise XentlearnInputError(
            f"classes must be unique; {shown(unique[np.argmax(counts > 1)])} appears "
            f"{counts.max()} times")
    if len(unique) < 2:
        raise XentlearnInputError(
            f"classes has {len(unique)} entr{'y' if len(unique) == 1 else 'ies'} "
            f"{_preview(unique)}; a classifier needs at least 2")
    return unique


# ----------------------------------------------------------------------- 2-D targets
def _encode_matrix(y, classes, dtype) -> EncodedTargets:
    n_samples, n_columns = y.shape
    if n_columns < 2:
        raise XentlearnInputError(
            f"y has shape {y.shape}; a 2-D y needs at least 2 columns (classes or labels)")
    if y.dtype.kind not in "biuf":
        raise XentlearnInputError(
            f"a 2-D y must be a numeric 0/1 indicator matrix (multilabel) or probability "
            f"rows (soft labels); got dtype {y.dtype}. Multi-output multiclass labels are "
            "not supported")
    _checks.check_finite("y", y)
    outside = (y < 0) | (y > 1)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        raise XentlearnInputError(
            f"y must hold 0/1 indicators or probabilities in [0, 1]; row {row} has "
            f"{shown(y[row, column])} in column {column}")
    if classes is not None:
        classes_array = np.asarray(classes)
        if classes_array.shape != (n_columns,) or not np.array_equal(classes_array,
                                                                     np.arange(n_columns)):
            raise XentlearnInputError(
                f"classes for a 2-D y with {n_columns} columns must be range({n_columns}) "
                f"= [0, ..., {n_columns - 1}], one per column; got {_preview(classes_array)}")
    indicator = (y == 0) | (y == 1)
    if indicator.all():
        return EncodedTargets("multilabel", np.arange(n_columns), y.astype(dtype))
    # Sum in float64 whatever y's dtype: a float32 row of k probabilities can be
    # off by ~k * 6e-8, which must not eat the 1e-6 tolerance.
    sums = y.sum(axis=1, dtype=np.float64)
    bad = np.abs(sums - 1.0) > ROW_SUM_TOL
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise XentlearnInputError(
            f"y is neither a 0/1 indicator matrix (multilabel) nor probability rows "
            f"(soft labels): row {row} sums to {sums[row]:.10g}, expected 1 within "
            f"{ROW_SUM_TOL:g} ({int(bad.sum())} such row(s))")
    return EncodedTargets("soft", np.arange(n_columns), y.astype(dtype))


# ----------------------------------------------------------------------- class weights
def class_counts(targets, kind: Kind, n_classes: int, sample_weight) -> np.ndarray:
    """(Weighted) number of samples per class, float64, shape (n_classes,): sums, so the
    counts of parts add up to the whole's."""
    targets = np.asarray(targets)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if kind == "soft":
        t = targets.astype(np.float64, copy=False)
        return t.sum(axis=0) if weights is None else weights @ t
    # binary targets are 0/1 floats; both cases become indices into classes.
    indices = (targets > 0.5).astype(np.intp) if kind == "binary" else targets
    return np.bincount(indices, weights=weights, minlength=n_classes).astype(np.float64)


def _class_weight_from_dict(class_weight: dict, classes: np.ndarray, dtype) -> np.ndarray:
    """Weights by class, 1 where `class_weight` has none. A key that is no class is
    ignored when every class has a weight, as scikit-learn does (a cross-validation fold
    without a rare class); otherwise it is refused (a misspelt label, most likely)."""
    # Python's dict lookup equates 1, 1.0, np.int64(1) and np.str_("a") with "a",
    # so keys match labels whatever scalar type either side uses.
    position = {label: j for j, label in enumerate(classes.tolist())}
    weight = np.ones(len(classes), dtype=np.float64)
    weighted = np.zeros(len(classes), dtype=bool)
    unknown = []
    for key, value in class_weight.items():
        try:
            j = position[key.item() if isinstance(key, np.generic) else key]
        except (KeyError, TypeError):
            unknown.append(key)
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise XentlearnInputError(
                f"class_weight[{shown(key)}] must be a number, got {value!r}") from None
        if not (np.isfinite(value) and value >= 0):
            raise XentlearnInputError(
                f"class_weight[{shown(key)}] must be finite and non-negative, got {value!r}")
        weight[j], weighted[j] = value, True
    if unknown and not weighted.all():
        raise XentlearnInputError(
            f"class_weight has key {shown(unknown[0])}, which is not one of the classes "
            f"{_preview(classes)}, and gives no weight to {_preview(classes[~weighted])}: "
            "a misspelt label? (keys of labels absent from y are ignored only when every "
            "class has a weight)")
    return weight.astype(dtype)


def _preview(values: np.ndarray, limit: int = 10) -> str:
    items = [shown(v) for v in np.asarray(values).tolist()[:limit]]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return "[" + ", ".join(items) + more + "]"

