"""``TablePreprocessor``: the tabular preprocessing of files and the CLI as a
scikit-learn transformer, for DataFrames in a Pipeline.

The fitting and the arithmetic live in ``xentlearn.data.TabularPreprocessor``,
which streams record batches; this class adapts it to scikit-learn's
fit / transform / get_feature_names_out on pandas and polars DataFrames, by
column name. A model trained on files (``fit(TableFiles(...))`` or
``xentlearn train``) exposes its preprocessing as ``preprocessor_``, an instance
of this class, so the same transformation is available to a user's Pipeline.
"""

from __future__ import annotations

import contextlib
import numbers
import re
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from xentlearn.data import (TabularPreprocessor, UnseenCategoryWarning, arrow_table,
                            frame_library)
from xentlearn.exceptions import XentlearnInputError


class TablePreprocessor(TransformerMixin, BaseEstimator):
    """Standardise numeric columns, one-hot encode text columns, map booleans to 0/1.

    The preprocessing that ``xentlearn train`` and ``TableFiles`` apply, for
    pandas and polars DataFrames (and pyarrow tables). Columns are found by
    name: at transform time they may come in any order, extra columns are
    ignored, and a missing one is an error naming it.

    Parameters
    ----------
    columns : list of str, optional
        Feature columns, in output order. Default: every column of X at fit.
    standardize : bool, default=True
        Numeric columns become (x - mean) / std (population std, as
        scikit-learn's StandardScaler; a constant column is divided by 1).
    impute : {None, "mean"}, default=None
        None: a missing value (null or NaN) is an error naming the column.
        "mean": numeric and boolean columns take the column mean; text columns
        a ``"<missing>"`` category.
    max_categories : int, default=1000
        A text column with more distinct values is refused (an identifier).
    dtype : np.float32 or np.float64, default=np.float64
        dtype of the output of ``transform``.
    na_values : sequence of str, default=()
        Text that means a missing value (such as "?"), besides nulls: a text
        column of numbers and these tokens is numeric.
    dates : {"refuse", "expand"}, default="refuse"
        A column of dates (date or timestamp type, or text in one date format)
        is refused, or expanded into year, month, day of week and day of year.

    Attributes
    ----------
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The input columns used, in output order.
    n_features_in_ : int
    kinds_ : list of str
        "numeric", "bool" or "categorical", one per input column.
    means_, stds_ : dict of str to float
        Per numeric and boolean column.
    categories_ : dict of str to list of str
        Sorted categories per text column (a category unseen at fit is encoded
        as all zeros, as OneHotEncoder(handle_unknown="ignore")).

    Examples
    --------
    >>> import pandas as pd
    >>> from xentlearn.preprocessing import TablePreprocessor
    >>> frame = pd.DataFrame({"x": [1.0, 3.0], "c": ["b", "a"], "f": [True, False]})
    >>> pre = TablePreprocessor().fit(frame)
    >>> pre.get_feature_names_out().tolist()
    ['x', 'c=a', 'c=b', 'f']
    >>> pre.transform(frame[["f", "c", "x"]]).tolist()
    [[-1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
    """

    _parameter_constraints: dict = {
        "columns": [None, list, tuple],
        "standardize": ["boolean"],
        "impute": [None, StrOptions({"mean"})],
        "max_categories": [Interval(numbers.Integral, 1, None, closed="left")],
        "dtype": [type, np.dtype, str],
        "na_values": [list, tuple],
        "dates": [StrOptions({"refuse", "expand"})],
    }

    def __init__(self, columns=None, *, standardize=True, impute=None, max_categories=1000,
                 dtype=np.float64, na_values=(), dates="refuse"):
        self.columns = columns
        self.standardize = standardize
        self.impute = impute
        self.max_categories = max_categories
        self.dtype = dtype
        self.na_values = na_values
        self.dates = dates

    def fit(self, X, y=None):
        """Learn means, standard deviations and categories from the columns of X.

        Parameters
        ----------
        X : pandas.DataFrame, polars.DataFrame or pyarrow.Table
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        _output_dtype(self.dtype)
        table = _as_table(X, None if self.columns is None else list(self.columns))
        engine = _FrameEngine(table.schema.names, standardize=self.standardize,
                                     impute=self.impute, max_categories=self.max_categories,
                                     na_values=list(self.na_values), dates=self.dates)
        with _in_own_words():
            self._set_engine(engine.fit([table]))
        return self

    def transform(self, X):
        """Features of X, shape (n_rows, n_features_out), dtype ``self.dtype``.

        Raises
        ------
        XentlearnInputError
            X is not a table of named columns, lacks a fitted column (named),
            or a column holds values of another kind than at fit.
        """
        check_is_fitted(self, "_engine")
        table = _as_table(X, list(self.feature_names_in_))
        return transform_warning_unseen(self._engine, table, _output_dtype(self.dtype))

    def get_feature_names_out(self, input_features=None):
        """Output names: "col" for numeric and boolean columns, "col=value" per category."""
        check_is_fitted(self, "_engine")
        _check_feature_names_in(self, input_features)   # scikit-learn's check of them
        return np.asarray(self._engine.feature_names_out, dtype=object)

    @classmethod
    def from_state(cls, engine: TabularPreprocessor, dtype=np.float64) -> "TablePreprocessor":
        """The fitted transformer around a fitted ``xentlearn.data.TabularPreprocessor``."""
        pre = cls(list(engine.columns_), standardize=engine.standardize, impute=engine.impute,
                  max_categories=engine.max_categories, dtype=dtype,
                  na_values=list(engine.na_values), dates=engine.dates)
        pre._set_engine(engine)
        return pre

    def _set_engine(self, engine: TabularPreprocessor) -> None:
        self._engine = engine
        self.feature_names_in_ = np.asarray(engine.columns_, dtype=object)
        self.n_features_in_ = len(engine.columns_)
        self.kinds_ = list(engine.kinds_)
        self.means_ = dict(engine.means_)
        self.stds_ = dict(engine.stds_)
        self.categories_ = {k: list(v) for k, v in engine.categories_.items()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


class _FrameEngine(TabularPreprocessor):
    """The preprocessing of ``TablePreprocessor``, whose warnings advise its own words."""

    EXCLUDE_ADVICE = "columns= leaving them out"


@contextlib.contextmanager
def _in_own_words():
    """The preprocessing's errors, written for TableFiles, in TablePreprocessor's words: a
    column is left out with ``columns=``, not ``drop=`` (its warnings: ``_FrameEngine``)."""
    try:
        yield
    except XentlearnInputError as error:
        error.args = (re.sub(r"drop=\[([^\]]*)\]", r"columns= leaving out \1", str(error)),)
        raise


def _output_dtype(dtype) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise XentlearnInputError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return resolved


def _as_table(X, columns):
    if frame_library(X) is None:
        raise XentlearnInputError(
            f"TablePreprocessor works on named columns: pass a pandas or polars DataFrame "
            f"(or a pyarrow Table), got {type(X).__name__}")
    # Column names are text in the preprocessing (a DataFrame's 0 is '0').
    return arrow_table(X, None if columns is None else [str(c) for c in columns])


def table_features(estimator, X, dtype) -> np.ndarray:
    """X (a DataFrame) through the preprocessing of a model trained on files.

    A numpy array or sparse matrix is refused: it has no column names, and
    feeding it to the model would skip the preprocessing silently.
    """
    if frame_library(X) is None:
        shown = ", ".join(estimator.feature_columns_[:8])
        more = ", ..." if len(estimator.feature_columns_) > 8 else ""
        raise XentlearnInputError(
            f"this model was trained on table files and applies its preprocessing (standardised "
            f"numbers, one-hot text) to the columns {shown}{more} by name: pass a pandas or "
            f"polars DataFrame with those columns, or TableFiles. A {type(X).__name__} has no "
            f"column names, so the preprocessing cannot be applied to it")
    return transform_warning_unseen(estimator._preprocessor,
                                    arrow_table(X, estimator.feature_columns_), dtype)


def transform_warning_unseen(engine: TabularPreprocessor, table, dtype) -> np.ndarray:
    """``engine.transform(table, dtype)``, with an ``UnseenCategoryWarning`` per text column
    whose rows hold categories never seen in training (each encoded as all zeros)."""
    unseen: dict = {}
    X = engine.transform(table, dtype, unseen=unseen)
    warn_unseen(unseen)
    return X


def warn_unseen(unseen: dict) -> None:
    """One ``UnseenCategoryWarning`` per column of `unseen` (``TabularPreprocessor.transform``'s
    ``{column: [rows, example values]}``)."""
    for column, (count, examples) in unseen.items():
        warnings.warn(UnseenCategoryWarning(column, count, sorted(examples)), stacklevel=4)

