"""Tabular preprocessing learned from streamed record batches.

Numeric columns are standardised, booleans become 0/1, and string columns are
one-hot encoded. Everything is fitted one record batch at a time
(``partial_fit``), so a table larger than memory is fitted in one streaming
pass. The fitted state is a plain JSON-able dict (``to_dict``), so a model file
can store it without pickle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from xentlearn.exceptions import XentlearnInputError

NUMERIC, BOOLEAN, CATEGORICAL = "numeric", "bool", "categorical"
_KINDS = (NUMERIC, BOOLEAN, CATEGORICAL)
MISSING_CATEGORY = "<missing>"
_FORMAT = "xentlearn.TabularPreprocessor"
_VERSION = 1


def column_kind(arrow_type) -> str | None:
    """The preprocessing kind of a pyarrow type: "numeric", "bool", "categorical".

    Returns None for the null type (a column with no value in this batch, e.g. a
    CSV block where the column is empty): its kind is decided by a later batch.
    Raises XentlearnInputError for types that have no feature encoding
    (timestamps, lists, binary, ...).
    """
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return None
    if pa.types.is_boolean(t):
        return BOOLEAN
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return NUMERIC
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return CATEGORICAL
    raise XentlearnInputError(
        f"type {arrow_type} has no feature encoding: expected a number, a boolean or a string")


class _Stats:
    """Running count, mean and sum of squared deviations (Chan et al. merge)."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, x: np.ndarray) -> None:
        n_b = x.shape[0]
        if n_b == 0:
            return
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        # Chan, Golub & LeVeque (1979): merging (n, mean, M2) pairs with the
        # difference of the means avoids the cancellation of sum(x^2) - n*mean^2,
        # so large offsets (timestamps, prices) keep their small variances.
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta * delta * (self.n * n_b / n)
        self.n = n


def _not_numbers(values: set) -> list[str]:
    """The values that do not parse as numbers, if nearly all others do; else []."""
    bad = []
    for value in values:
        try:
            float(value)
        except (TypeError, ValueError):
            bad.append(value)
            if len(bad) > len(values) // 20:       # more than 5% text: a real text column
                return []
    return sorted(bad)


def _too_many_categories(name: str, seen: set, limit: int) -> XentlearnInputError:
    stray = _not_numbers(seen)
    if stray:
        # A numeric column with a few stray tokens is read as text, hence "categorical".
        shown = ", ".join(repr(v) for v in stray[:5]) + (", ..." if len(stray) > 5 else "")
        return XentlearnInputError(
            f"column {name!r} holds numbers except for {len(stray)} distinct value(s) that are "
            f"not: {shown}. One such value makes the whole column text (categorical, and over "
            f"max_categories={limit} distinct values): fix or remove those rows, or leave the "
            f"field empty to mark it missing (and pass impute='mean')")
    return XentlearnInputError(
        f"column {name!r} has more than {limit} distinct values (max_categories); it looks "
        f"like an identifier: exclude it from the features or raise max_categories")


class TabularPreprocessor:
    """Standardise numeric columns, one-hot encode strings, map booleans to 0/1.

    Parameters
    ----------
    columns : sequence of str, optional
        Feature columns, in output order. Default: every column of the first
        batch given to ``partial_fit``, in that batch's order.
    standardize : bool, default=True
        Numeric columns become ``(x - mean) / std`` (population std, as
        scikit-learn's StandardScaler; a constant column has std 0 and is
        divided by 1). With False they pass through unchanged.
    impute : {None, "mean"}, default=None
        None: a missing value (null, or NaN in a float column) is an error
        naming the column and the count. "mean": numeric and boolean columns
        are filled with the column mean computed over the non-missing values
        (for a boolean column, the fraction of True); in string columns a
        missing value becomes its own category ``"<missing>"``.
    max_categories : int, default=1000
        A string column with more distinct values than this is rejected (it is
        most likely an identifier, and one-hot encoding would create that many
        dense features); exclude the column or raise the limit.

    Attributes
    ----------
    columns_ : list of str
    kinds_ : list of str
        "numeric", "bool" or "categorical", one per column.
    means_, stds_ : dict of str to float
        For numeric and boolean columns (``stds_`` is 1.0 where
        standardisation is off, for booleans, and for constant columns).
    categories_ : dict of str to list of str
        Sorted distinct values of each categorical column, ``"<missing>"``
        last when imputation met a missing value.
    feature_names_out : list of str
        ``"col"`` for numeric and boolean columns, ``"col=value"`` per category.
    n_features_out : int

    Notes
    -----
    Fitting takes one streaming pass: ``partial_fit`` per record batch, then
    ``finalize``. The output of ``transform`` is a dense array: the one-hot
    block is sparse, but with ``max_categories`` bounded a dense mini-batch is
    small, and the models' dense kernels are faster than CSR at these widths.
    A category not seen during fitting is encoded as all zeros (as
    scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).

    Examples
    --------
    >>> import pyarrow as pa
    >>> batch = pa.record_batch({"x": [1.0, 3.0], "c": ["b", "a"], "f": [True, False]})
    >>> pre = TabularPreprocessor().fit([batch])
    >>> pre.feature_names_out
    ['x', 'c=a', 'c=b', 'f']
    >>> pre.transform(batch).tolist()
    [[-1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, columns: Sequence[str] | None = None, *, standardize: bool = True,
                 impute: str | None = None, max_categories: int = 1000) -> None:
        if impute not in (None, "mean"):
            raise XentlearnInputError(f"impute must be None or 'mean', got {impute!r}")
        self.columns = None if columns is None else list(columns)
        self.standardize = bool(standardize)
        self.impute = impute
        self.max_categories = int(max_categories)
        # Accumulators, per column name; None once loaded from a dict.
        self._kinds: dict[str, str | None] | None = None
        self._types: dict[str, Any] = {}
        self._stats: dict[str, _Stats] = {}
        self._seen: dict[str, set] = {}
        self._missing: dict[str, int] = {}
        self._fitted = False
        self._loaded = False

    # ------------------------------------------------------------------ fitting

    def partial_fit(self, data) -> "TabularPreprocessor":
        """Accumulate statistics from one pyarrow RecordBatch or Table."""
        if self._loaded:
            raise XentlearnInputError(
                "this TabularPreprocessor was loaded with from_dict and cannot be refitted; "
                "create a new one")
        if self._kinds is None:
            if self.columns is None:
                self.columns = list(data.schema.names)
            self._kinds = {name: None for name in self.columns}
            self._stats = {name: _Stats() for name in self.columns}
            self._seen = {name: set() for name in self.columns}
            self._missing = {name: 0 for name in self.columns}
        self._fitted = False
        for name in self.columns:
            column = self._column(data, name)
            kind = self._check_kind(name, column.type)
            if kind is None:                      # all-null column in this batch
                self._missing[name] += len(column)
                continue
            if kind == CATEGORICAL:
                values = _as_string(column)
                self._missing[name] += values.null_count
                self._seen[name].update(_unique_strings(values))
                if len(self._seen[name]) > self.max_categories:
                    raise _too_many_categories(name, self._seen[name], self.max_categories)
            else:
                x = _as_float64(column)
                missing = np.isnan(x)
                n_missing = int(np.count_nonzero(missing))
                self._missing[name] += n_missing
                if n_missing:
                    x = x[~missing]
                _check_finite_column(name, x)
                self._stats[name].update(x)
        return self

    def finalize(self) -> "TabularPreprocessor":
        """Turn the accumulated statistics into the fitted transformation."""
        if self._loaded:
            return self
        if self._kinds is None:
            raise XentlearnInputError("TabularPreprocessor.finalize called before any partial_fit")
        self.means_, self.stds_, self.categories_ = {}, {}, {}
        for name in self.columns:
            kind, n_missing = self._kinds[name], self._missing[name]
            if n_missing and self.impute is None:
                raise XentlearnInputError(
                    f"column {name!r} has {n_missing} missing value(s) (null or NaN); "
                    f"expected none: pass impute='mean' or drop those rows")
            if kind is None:
                raise XentlearnInputError(
                    f"column {name!r} has no values (every one of its {n_missing} rows is "
                    f"missing); expected numbers, booleans or strings: exclude it")
            if kind == CATEGORICAL:
                cats = sorted(self._seen[name])
                if n_missing and MISSING_CATEGORY not in self._seen[name]:
                    cats.append(MISSING_CATEGORY)
                self.categories_[name] = cats
                continue
            stats = self._stats[name]
            if stats.n == 0:
                raise XentlearnInputError(
                    f"column {name!r} has no non-missing values ({n_missing} missing); "
                    f"its mean is undefined: exclude it")
            std = math.sqrt(stats.m2 / stats.n)
            self.means_[name] = float(stats.mean)
            standardised = kind == NUMERIC and self.standardize
            self.stds_[name] = float(std) if standardised and std > 0.0 else 1.0
        self.kinds_ = [self._kinds[name] for name in self.columns]
        self.columns_ = list(self.columns)
        self._fitted = True
        return self

    def fit(self, batches: Iterable) -> "TabularPreprocessor":
        """``partial_fit`` on each RecordBatch or Table of `batches`, then ``finalize``."""
        for batch in batches:
            self.partial_fit(batch)
        return self.finalize()

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    @property
    def feature_names_out(self) -> list[str]:
        self._require_fitted()
        names = []
        for name, kind in zip(self.columns_, self.kinds_):
            if kind == CATEGORICAL:
                names.extend(f"{name}={c}" for c in self.categories_[name])
            else:
                names.append(name)
        return names

    @property
    def n_features_out(self) -> int:
        self._require_fitted()
        return sum(len(self.categories_[name]) if kind == CATEGORICAL else 1
                   for name, kind in zip(self.columns_, self.kinds_))

    # ---------------------------------------------------------------- transform

    def transform(self, data, dtype=np.float64, *, out: np.ndarray | None = None) -> np.ndarray:
        """Features of one RecordBatch or Table.

        Parameters
        ----------
        data : pyarrow.RecordBatch or pyarrow.Table
            Holds at least the fitted columns (others are ignored).
        dtype : float32 or float64
        out : ndarray of shape (n_rows, n_features_out), optional
            Written in place (its dtype wins over `dtype`): a streaming
            reader fills its shuffle buffer without an intermediate copy.

        Returns
        -------
        ndarray of shape (n_rows, n_features_out) and dtype `dtype`
        """
        self._require_fitted()
        shape = (data.num_rows, self.n_features_out)
        if out is None:
            out = np.zeros(shape, dtype=np.dtype(dtype))
        else:
            if out.shape != shape:
                raise XentlearnInputError(f"out has shape {out.shape}, expected {shape}")
            out[...] = 0
        j = 0
        for name, kind in zip(self.columns_, self.kinds_):
            column = self._column(data, name)
            if kind == CATEGORICAL:
                j += self._one_hot(name, column, out, j)
                continue
            x = _numbers_of(name, column)
            missing = np.isnan(x)
            if missing.any():
                if self.impute is None:
                    raise XentlearnInputError(
                        f"column {name!r} has {int(np.count_nonzero(missing))} missing value(s) "
                        f"(null or NaN); expected none: the preprocessor was fitted with impute=None")
                x[missing] = self.means_[name]
            _check_finite_column(name, x)
            if kind == NUMERIC and self.standardize:
                # Computed in float64, rounded once into the output dtype.
                out[:, j] = (x - self.means_[name]) / self.stds_[name]
            else:
                out[:, j] = x
            j += 1
        return out

    def _one_hot(self, name: str, column, out: np.ndarray, start: int) -> int:
        import pyarrow as pa
        import pyarrow.compute as pc

        cats = self.categories_[name]
        if pa.types.is_null(column.type):
            values = pa.nulls(len(column), pa.string())
        else:
            values = _as_string(column)
        if values.null_count:
            if self.impute is None:
                raise XentlearnInputError(
                    f"column {name!r} has {values.null_count} missing value(s); expected none: "
                    f"the preprocessor was fitted with impute=None")
            values = pc.fill_null(values, MISSING_CATEGORY)
        # index_in gives null for values outside the learned categories: those
        # rows keep an all-zero block (handle_unknown="ignore").
        index = pc.index_in(values, value_set=pa.array(cats, pa.string()))
        index = index.to_numpy(zero_copy_only=False)
        if index.dtype.kind == "f":               # nulls present -> float with NaN
            rows = np.flatnonzero(~np.isnan(index))
            cols = index[rows].astype(np.intp)
        else:
            rows = np.arange(index.shape[0])
            cols = index.astype(np.intp)
        out[rows, start + cols] = 1
        return len(cats)

    # ------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """A JSON-able description of the fitted preprocessor (no pickle needed)."""
        self._require_fitted()
        columns = []
        for name, kind in zip(self.columns_, self.kinds_):
            entry: dict[str, Any] = {"name": name, "kind": kind}
            if kind == CATEGORICAL:
                entry["categories"] = list(self.categories_[name])
            else:
                entry["mean"] = self.means_[name]
                entry["std"] = self.stds_[name]
            columns.append(entry)
        return {"format": _FORMAT, "version": _VERSION, "standardize": self.standardize,
                "impute": self.impute, "max_categories": self.max_categories,
                "columns": columns}

    @classmethod
    def from_dict(cls, state: dict) -> "TabularPreprocessor":
        """Rebuild a fitted preprocessor from ``to_dict()``'s output.

        Every field is checked (a model file may have been edited by hand):
        column names are distinct strings, kinds known, means finite, standard
        deviations finite and positive, categories distinct strings.
        """
        try:
            if not isinstance(state, dict):
                raise ValueError(f"expected a JSON object, got {type(state).__name__}")
            if state.get("format") != _FORMAT:
                raise ValueError(f"format is {state.get('format')!r}, expected {_FORMAT!r}")
            if state.get("version") != _VERSION:
                raise ValueError(f"version is {state.get('version')!r}, expected {_VERSION}")
            columns = state["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
                raise ValueError("columns must be a list of objects")
            names = [c["name"] for c in columns]
            if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
                raise ValueError("column names must be distinct strings")
            if not isinstance(state["standardize"], bool):
                raise ValueError(f"standardize must be true or false, got {state['standardize']!r}")
            max_categories = state.get("max_categories", 1000)
            if type(max_categories) is not int or max_categories < 1:
                raise ValueError(f"max_categories must be a positive integer, got {max_categories!r}")
            pre = cls(names, standardize=state["standardize"], impute=state["impute"],
                      max_categories=max_categories)
            pre.means_, pre.stds_, pre.categories_, pre.kinds_ = {}, {}, {}, []
            for c in columns:
                name, kind = c["name"], c["kind"]
                if kind not in _KINDS:
                    raise ValueError(f"column {name!r} has unknown kind {kind!r}")
                pre.kinds_.append(kind)
                if kind == CATEGORICAL:
                    cats = c["categories"]
                    if (not isinstance(cats, list) or not cats
                            or not all(isinstance(v, str) for v in cats)
                            or len(set(cats)) != len(cats)):
                        raise ValueError(
                            f"column {name!r}: categories must be a non-empty list of distinct strings")
                    pre.categories_[name] = list(cats)
                    continue
                mean, std = c["mean"], c["std"]
                if not all(type(v) in (int, float) for v in (mean, std)) \
                        or not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
                    raise ValueError(
                        f"column {name!r}: mean {mean!r} and std {std!r} must be finite numbers, "
                        "std > 0")
                pre.means_[name], pre.stds_[name] = float(mean), float(std)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise XentlearnInputError(f"not a valid TabularPreprocessor description: {exc}") from None
        pre.columns_ = list(pre.columns)
        pre._fitted = pre._loaded = True
        return pre

    # ------------------------------------------------------------------ helpers

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise XentlearnInputError(
                "TabularPreprocessor is not fitted: call partial_fit on the data, then finalize")

    @staticmethod
    def _column(data, name: str):
        try:
            return data.column(name)
        except KeyError:
            raise XentlearnInputError(
                f"column {name!r} not found; available columns: {', '.join(data.schema.names)}"
            ) from None

    def _check_kind(self, name: str, arrow_type) -> str | None:
        try:
            kind = column_kind(arrow_type)
        except XentlearnInputError as exc:
            raise XentlearnInputError(f"column {name!r}: {exc}; exclude it from the features") from None
        known = self._kinds[name]
        if kind is not None:
            if known is None:
                self._kinds[name], self._types[name] = kind, arrow_type
            elif known != kind:
                raise XentlearnInputError(
                    f"column {name!r} changes type between batches: {self._types[name]} "
                    f"({known}) then {arrow_type} ({kind})")
        return kind


def _as_float64(column) -> np.ndarray:
    """A writable float64 copy with NaN where the column is null."""
    import pyarrow as pa

    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    x = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.array(x, dtype=np.float64, copy=True)


def _numbers_of(name: str, column) -> np.ndarray:
    """``_as_float64`` for transform: a fitted numeric column given text is named."""
    import pyarrow as pa

    try:
        return _as_float64(column)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise XentlearnInputError(
            f"column {name!r} was numeric when the preprocessing was fitted but now holds "
            f"{column.type} values that are not numbers ({exc})") from None


def _as_string(column):
    import pyarrow as pa

    if pa.types.is_string(column.type):
        return column
    return column.cast(pa.string())


def _unique_strings(values) -> list[str]:
    import pyarrow.compute as pc

    return [v for v in pc.unique(values).to_pylist() if v is not None]


def _check_finite_column(name: str, x: np.ndarray) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        raise XentlearnInputError(
            f"column {name!r} has {int(np.count_nonzero(bad))} infinite value(s); "
            f"expected finite numbers")
