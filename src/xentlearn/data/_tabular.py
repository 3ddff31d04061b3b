"""Tabular preprocessing learned from streamed record batches.

Numeric columns are standardised, booleans become 0/1, string columns are
one-hot encoded, and date columns are refused or expanded into year, month,
day of week and day of year. Everything is fitted one record batch at a time
(``partial_fit``), so a table larger than memory is fitted in one streaming
pass. The fitted state is a plain JSON-able dict (``to_dict``), so a model file
can store it without pickle.

Fitting also looks at what the columns hold, as a person would before
modelling: columns that identify rows (a distinct value in every row, or a
name such as ``customer_id``), constant columns, and numeric columns turned
into text by a stray token ("?") are named, in a ``ColumnWarning`` or, for the
last, an error that says which tokens to declare missing.

A text column whose values are numbers but for a few others is told apart
from text by two rules, on its distinct values and on its rows:

- at most 5% of its distinct values are not numbers (a measurement with a
  "?" among its many values): an error, naming them and the ``na_values``
  that keep the column numeric;
- otherwise, at most 5 distinct values are not numbers, in fewer than half of
  its rows (codes 1 to 10 and a "?", as UCI data sets have them): it is
  one-hot encoded as the text it is, with a ``ColumnWarning``
  ("numbers_as_text") that names the column, those values and their rows,
  and the ``na_values`` to declare if they mean missing.

The second rule holds for a text column of booleans (pyarrow's spellings, below)
but for at most 5 other distinct values in fewer than half of its rows
("true", "false" and "?"): a ``ColumnWarning`` ("booleans_as_text") with the
same advice; declared missing, such tokens leave a CSV column of booleans.

A text column of dates but for a few values (at most 5% of its distinct values, or
values shaped as dates, such as "2024-13-45" or "2024-02-30") is a date column, and
those values are errors that name them and their first row, not one category per
date (``data._dates.date_format``).

A boolean column is one of pyarrow's bool type: a Parquet (or DataFrame)
``bool`` column, or a CSV column whose values all read as booleans (pyarrow's
spellings: true, True, TRUE, false, False, FALSE, and 1 and 0 among them).
It becomes 1.0 and 0.0, never standardised (``describe``: "true = 1, false =
0"), the same from CSV, Parquet and DataFrames, so a model trained on one
predicts alike on the others. Other spellings ("yes"/"no", "T"/"F") are text,
one-hot encoded; a column of 0 and 1 alone is a number, standardised. A column
must be of one kind in every file (``scan_schema``): bool in one file and
numbers in another is refused, not turned into 0/1. Text in one file and
numbers in another (pandas writes a column as string in a file where it held
"?") is refused too, unless na_values are declared: then the text must read
as numbers (below) and the column is numeric, merged batches included.

Both hold for CSV and Parquet files and for DataFrames alike. Declared
missing, the tokens leave a column of numbers, which is read as such: a CSV
reader infers the type without them, and a text column (a Parquet column of
type string, a DataFrame's object or string column) whose values, but for
missing ones, all read as numbers is numeric too (``partial_fit`` tries the
cast, vectorised, while every value so far has read as a number). So a UCI
table gives the same model from CSV and from Parquet, and a model trained on
one predicts on the other (its column is "numeric" either way, and
``transform`` reads numbers written as text). Without declared tokens a text
column keeps the type it was given, numbers or not: codes and zip codes written
as strings stay categories.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from xentlearn.data._frames import listed_columns
from xentlearn.data._column_values import (BOOLEAN, CATEGORICAL, DATE, NUMERIC,
                                           InfiniteValuesError, MissingValuesError,
                                           UnreadableDatesError, as_float64, as_string,
                                           numbers_of)
from xentlearn.data._dates import (DATE_FORMATS, DATE_PARTS, DAY_FIRST_TWINS, date_format,
                                   format_of_dates_among, read_dates, reads_month_first_too)
from xentlearn.exceptions import XentlearnInputError

_KINDS = (NUMERIC, BOOLEAN, CATEGORICAL, DATE)
MISSING_CATEGORY = "<missing>"
DATE_MODES = ("refuse", "expand")
# Identifier checks: fewer rows say nothing; numeric values are tracked in a
# sorted array up to this many (8 MB), beyond which "distinct so far" stands.
_ID_MIN_ROWS = 10
_DISTINCT_LIMIT = 1 << 20
# A text column with more distinct values than this share of its rows (and at
# least _FREE_TEXT_MIN_ROWS rows) is mostly one category per row.
_FREE_TEXT_SHARE, _FREE_TEXT_MIN_ROWS = 0.5, 50
# A text column whose values are numbers but for at most this many distinct others
# ("?", "-"), in fewer than half of its rows, is named in a ColumnWarning.
_MARKERS_MAX = 5
# A text column is numbers written with a comma when all but this share of its values
# that are not numbers are: with commas grouping thousands ("1,200"), or with a decimal
# comma ("3,5") among numbers or at least _DECIMAL_COMMAS_MIN distinct ones (a few alone
# are as likely codes, such as a survey's multi-select answers "1,2" and "2,3").
_NOT_NUMBERS_SHARE = 0.05
_COMMA_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"   # 1,200.5
                              r"|[+-]?\d{1,3}(?:\.\d{3})+,\d+")        # 1.234,56
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_DECIMAL_COMMAS_MIN = 20
# pyarrow's CSV spellings of booleans (ConvertOptions' true_values and false_values): a
# CSV column of these alone is bool; one "?" makes it text, told as numbers are.
_BOOL_WORDS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_BOOL_SPELLINGS = _BOOL_WORDS | {"1", "0"}
_ID_NAME = re.compile(r"(?:^|[^a-z0-9])(?:id|uuid|guid)$|^id[^a-z0-9]")
_FORMAT = "xentlearn.TabularPreprocessor"
# Version 2 adds date columns and na_values; it is written only when those are
# used, so other models stay readable by releases that know version 1.
_VERSION = 2
_VERSIONS = (1, 2)
_KEYS = {"format", "version", "standardize", "impute", "max_categories", "columns",
         "na_values", "dates"}


class ColumnWarning(UserWarning):
    """Columns that look wrong as features (identifiers, constants, ...) or as a target.

    Attributes
    ----------
    problem : str
        "identifier", "constant", "free_text", "numbers_as_text",
        "booleans_as_text", "comma_numbers", "dates_ambiguous" or (a target's class
        such as "?", ``TableFiles.classes``) "missing_label_marker".
    columns : list of str
    """

    def __init__(self, message: str, problem: str, columns: Sequence[str]) -> None:
        super().__init__(message)
        self.problem = problem
        self.columns = list(columns)


class UnseenCategoryWarning(UserWarning):
    """Values of a text column that the preprocessing never saw: encoded as all zeros.

    Attributes
    ----------
    column : str
    count : int
        Rows holding such values.
    examples : list of str
    """

    def __init__(self, column: str, count: int, examples: Sequence[str]) -> None:
        shown = ", ".join(repr(v) for v in examples)
        super().__init__(
            f"column {column!r}: {count} row(s) hold values not seen in training (such as "
            f"{shown}); they are encoded as no category (all zeros)")
        self.column, self.count, self.examples = column, count, list(examples)


def column_kind(arrow_type) -> str | None:
    """The preprocessing kind of a pyarrow type: "numeric", "bool", "categorical", "date".

    Returns None for the null type (a column with no value in this batch, e.g. a
    CSV block where the column is empty): its kind is decided by a later batch.
    Dates and timestamps are "date" (text that holds dates is found from its
    values, in ``TabularPreprocessor.partial_fit``). Raises XentlearnInputError
    for types that have no feature encoding (durations, lists, binary, ...).
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
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return DATE
    raise XentlearnInputError(
        f"type {arrow_type} has no feature encoding: expected a number, a boolean or a string")


class _Stats:
    """Running count, mean and sum of squared deviations (Chan et al. merge)."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, x: np.ndarray, total: float | None = None) -> None:
        """Add the rows of `x`; `total`, if given, is ``x.sum()`` (already computed)."""
        n_b = x.shape[0]
        if n_b == 0:
            return
        # sum / n is x.mean() bit for bit (numpy's mean is the same pairwise sum, divided).
        mean_b = float((x.sum() if total is None else total) / n_b)
        deviations = x - mean_b
        np.multiply(deviations, deviations, out=deviations)
        self._add(n_b, mean_b, float(deviations.sum()))

    def merge(self, other: "_Stats") -> None:
        """Add the rows `other` summarises (disjoint from these)."""
        if other.n:
            self._add(other.n, other.mean, other.m2)

    def _add(self, n_b: int, mean_b: float, m2_b: float) -> None:
        # Chan, Golub & LeVeque (1979): merging (n, mean, M2) pairs with the
        # difference of the means avoids the cancellation of sum(x^2) - n*mean^2,
        # so large offsets (timestamps, prices) keep their small variances:
        #   n = n_a + n_b,  delta = mean_b - mean_a,  mean = mean_a + delta n_b / n,
        #   M2 = M2_a + M2_b + delta^2 n_a n_b / n.
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


def _add_markers(markers: dict[str, int], values: list, counts: list) -> dict[str, int] | None:
    """`markers` (rows of each value that is not a number) with the `values` of a batch
    and their row `counts` added; None once there are more than _MARKERS_MAX of them."""
    for value, count in zip(values, counts):
        if value is None or _is_number(value):
            continue
        markers[value] = markers.get(value, 0) + count
        if len(markers) > _MARKERS_MAX:
            return None
    return markers


def _is_number(value: str) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _identifiers_warning(ids: list[tuple[str, str]], exclude: str) -> "ColumnWarning":
    """The ColumnWarning for identifier-like columns, (name, why) each: one-hot encoded
    text lets a model memorise rows; an id number only says how the rows were numbered,
    unless it is a measurement (an amount) that happens to differ in every row."""
    n_text = sum(why.startswith("text") for _, why in ids)
    text, numbers = n_text > 0, n_text < len(ids)
    through = "the text ones" if numbers else "them"
    why = [(f"a model can memorise the training rows through {through} (100% training "
            "accuracy that does not carry over to new rows)") if text else "",
           ("numbers that identify rows tell nothing of the label but how the rows were "
            "numbered") if numbers else ""]
    return ColumnWarning(
        "column(s) that look like identifiers: " + _listed(ids) + "; "
        + " and ".join(w for w in why if w) + f": exclude them ({exclude})"
        + (", unless a column of numbers is a measurement (an amount, a count)"
           if numbers else ""), "identifier", [n for n, _ in ids])


def _numbers_as_text_warning(columns: list[tuple[str, dict[str, int], int]],
                             booleans: bool = False) -> "ColumnWarning":
    """The ColumnWarning for text columns that hold numbers (or `booleans`: true and
    false) but for a few values: (column, rows of each such value, the column's rows)
    each."""
    described, tokens = [], {}
    for name, markers, rows in columns:
        shown = sorted(markers.items(), key=lambda item: (-item[1], item[0]))
        described.append(f"{name!r} (" + ", ".join(f"{v!r} in {n}" for v, n in shown)
                         + f" of {rows} rows)")
        tokens.update(dict.fromkeys(v for v, _ in shown))
    if booleans:
        return ColumnWarning(
            "column(s) of booleans (true and false) that also hold a few other values: "
            + "; ".join(described) + ". Such a column is text, so it is one-hot encoded (a "
            "feature per distinct value, those values' among them). If they mean missing, "
            f"declare them, na_values={list(tokens)!r} (and impute='mean'), and a CSV column "
            "is read as booleans (true = 1, false = 0; a text column of a Parquet file or a "
            "DataFrame is then two categories, true and false); if they are categories, this "
            "is what you want", "booleans_as_text", [name for name, _, _ in columns])
    return ColumnWarning(
        "column(s) of numbers that also hold a few text values: " + "; ".join(described)
        + ". Such a column is text, so it is one-hot encoded (a feature per distinct value, "
        f"the numbers' order lost). If those values mean missing, declare them, "
        f"na_values={list(tokens)!r} (and impute='mean'), and the column is read as "
        "numbers (from CSV, Parquet and DataFrames alike); if they are "
        "categories, this is what you want", "numbers_as_text",
        [name for name, _, _ in columns])


def _stray_tokens_error(name: str, stray: list[str], why: str) -> XentlearnInputError:
    # A numeric column with a few stray tokens is read as text, hence "categorical".
    shown = ", ".join(repr(v) for v in stray[:5]) + (", ..." if len(stray) > 5 else "")
    return XentlearnInputError(
        f"column {name!r} holds numbers except for {len(stray)} distinct value(s) that are "
        f"not: {shown}. One such value makes the whole column text ({why}): declare them "
        f"missing with na_values={list(stray[:5])!r} (and impute='mean'), or fix those rows")


def _mixed_text_error(name: str, numeric_type, values) -> XentlearnInputError:
    """A column numeric (`numeric_type`) in some batches or files and, in others, text
    whose `values` are not all numbers."""
    stray = sorted(v for v in values if v is not None and not _is_number(v))
    shown = ", ".join(repr(v) for v in stray[:5]) + (", ..." if len(stray) > 5 else "")
    return XentlearnInputError(
        f"column {name!r} is {numeric_type} (numbers) in some files but text in others, "
        f"where it holds values that are not numbers ({shown}); expected numbers in every "
        f"file: if they mean missing, declare them, na_values={list(stray[:5])!r} (and "
        f"impute='mean'), else fix those rows")


def _finite_sum(x: np.ndarray) -> float:
    """``x.sum()``, finite for a column without gaps or infinities (one pass decides the
    common case), quietly NaN or infinite otherwise: the caller looks closer then, and
    inf + -inf must not print numpy's "invalid value" warning before the real error."""
    with np.errstate(invalid="ignore", over="ignore"):
        return x.sum()


def _comma_numbers(name: str, seen: set) -> tuple[bool, str] | None:
    """(certain, message) for a text column whose values that are not numbers are
    numbers written with a comma ("1,200", "1,5"), which no reader takes as numbers (a
    ';' file's decimal commas are seen in its first 64 KB only), else None: one category
    per value would be learned silently. Certain (an error) for thousands separators, or
    decimal commas among numbers or many; a few decimal commas alone may be codes (a
    survey's multi-select answers "1,2"), a warning."""
    others = [v for v in seen if isinstance(v, str) and not _is_number(v)]
    most = (1 - _NOT_NUMBERS_SHARE) * len(others)
    commas = [v for v in others if _COMMA_THOUSANDS.fullmatch(v.strip())]
    certain = bool(commas) and len(commas) >= most
    if not certain:
        commas = [v for v in others if _DECIMAL_COMMA.fullmatch(v.strip())]
        if not commas or len(commas) < most:
            return None
        certain = len(others) < len(seen) or len(commas) >= _DECIMAL_COMMAS_MIN
    return certain, (
        f"column {name!r} holds numbers written with a comma (such as {min(commas)!r}: a "
        "thousands separator, or a decimal comma), which are read as text, one category "
        "each; if they are numbers, re-save the file with a decimal point and no thousands "
        "separators (a ';' file is read with decimal commas if its first 64 KB show them)")


def _too_many_categories(name: str, seen: set, limit: int) -> XentlearnInputError:
    comma = _comma_numbers(name, seen)
    if comma is not None:
        return XentlearnInputError(comma[1])
    stray = _not_numbers(seen)
    if stray:
        return _stray_tokens_error(
            name, stray, f"categorical, and over max_categories={limit} distinct values")
    return XentlearnInputError(
        f"column {name!r} has more than {limit} distinct values (max_categories); it looks "
        f"like an identifier: exclude it from the features (drop=[{name!r}]) or raise "
        f"max_categories")


class _Distinct:
    """Whether a numeric column holds whole numbers, and a distinct one in every row.

    The values seen are kept as one sorted array (merged batch by batch) up to
    ``_DISTINCT_LIMIT`` of them; past that (``capped``) the answer is
    "distinct in the first rows" and tracking stops, so memory stays bounded.
    A repeated value ends the tracking at once.
    """

    __slots__ = ("values", "whole", "unique", "capped")

    def __init__(self) -> None:
        self.values: np.ndarray | None = np.empty(0)
        self.whole, self.unique, self.capped = True, True, False

    def update(self, x: np.ndarray) -> None:
        if x.size == 0 or not self.whole:
            return
        if np.any(x != np.floor(x)):
            self.whole = self.unique = False
            self.values = None
            return
        if self.values is None:
            return
        unique = np.unique(x)
        if unique.size != x.size or np.isin(unique, self.values, assume_unique=True).any():
            self.unique, self.values = False, None
            return
        self.values = np.union1d(self.values, unique)
        if self.values.size > _DISTINCT_LIMIT:
            self.values, self.capped = None, True

    def merge(self, other: "_Distinct") -> None:
        """Add `other`'s tracking, as if its values had come after these.

        Exact but in one case: when either side stopped tracking at the cap,
        the answer is that side's "distinct in the first rows" (repeats across
        the two are not looked for), as ``update`` stops looking at the cap.
        """
        if not other.whole:
            self.whole = self.unique = False
            self.values = None
            return
        if not self.whole or self.values is None:      # answered already, as update
            return
        if other.values is None:                        # a repeat in other, or capped
            self.unique, self.capped, self.values = other.unique, other.capped, None
            return
        if np.isin(other.values, self.values, assume_unique=True).any():
            self.unique, self.values = False, None
            return
        self.values = np.union1d(self.values, other.values)
        if self.values.size > _DISTINCT_LIMIT:
            self.values, self.capped = None, True


def _looks_like_id_name(name: str) -> bool:
    """customer_id, Individual ID, PassengerId, uuid: names people give identifiers."""
    if _ID_NAME.search(name.lower()):
        return True
    return bool(re.search(r"[a-z](Id|ID)$", name))


def _dates_refused(name: str, what: str) -> XentlearnInputError:
    return XentlearnInputError(
        f"column {name!r} holds dates ({what}); a date is not a number or a category "
        f"(one-hot encoding gives one feature per day): exclude the column "
        f"(drop=[{name!r}]) or expand it into year, month, day of week and day of year "
        f"(dates='expand')")


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
    na_values : sequence of str, default=()
        Text values that mean "missing" (such as "?"), in string columns.
        (Files declare them when read, see ``TableFiles.na_values``, so that
        the column types are inferred without them; they are kept here so the
        same tokens are missing in every table the model is applied to.)
    dates : {"refuse", "expand"}, default="refuse"
        Date and timestamp columns, and text columns whose values all read as
        dates in one of ``DATE_FORMATS``: "refuse" raises an error naming the
        column; "expand" encodes each into the numeric features year, month,
        day of week (Monday = 0) and day of year, standardised as numbers.

    Attributes
    ----------
    columns_ : list of str
    kinds_ : list of str
        "numeric", "bool", "categorical" or "date", one per column.
    means_, stds_ : dict of str to float
        For numeric and boolean columns (``stds_`` is 1.0 where
        standardisation is off, for booleans, and for constant columns);
        for a date column ``"col.year"`` etc. per part.
    categories_ : dict of str to list of str
        Sorted distinct values of each categorical column, ``"<missing>"``
        last when imputation met a missing value.
    date_formats_ : dict of str to str or None
        Per date column, the text format its values were read with (None for
        a typed date column).
    feature_names_out : list of str
        ``"col"`` for numeric and boolean columns, ``"col=value"`` per
        category, ``"col.year"``, ``"col.month"``, ``"col.day_of_week"``,
        ``"col.day_of_year"`` per date column.
    n_features_out : int

    Warns
    -----
    ColumnWarning
        From ``finalize``, once per problem: columns that identify rows (a
        distinct value in every row, text or whole numbers; or a name such as
        ``customer_id`` on whole numbers or text), text columns with nearly one
        category per row, constant columns, and text columns of numbers but
        for at most 5 distinct values in fewer than half of the rows, such as
        "?" (one-hot encoded as text: declare such values in `na_values` if
        they mean missing; see the module's notes), and text columns of
        booleans (true/false) with such values ("booleans_as_text").

    Notes
    -----
    Fitting takes one streaming pass: ``partial_fit`` per record batch, then
    ``finalize``. The output of ``transform`` is a dense array: the one-hot
    block is sparse, but with ``max_categories`` bounded a dense mini-batch is
    small, and the models' dense kernels are faster than CSR at these widths.
    A category not seen during fitting is encoded as all zeros (as
    scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``); ``transform``
    counts such rows per column when given an ``unseen`` dict.

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

    # How fit's warnings say to leave columns out (the words of TableFiles).
    EXCLUDE_ADVICE = "drop=[...]"

    def __init__(self, columns: Sequence[str] | None = None, *, standardize: bool = True,
                 impute: str | None = None, max_categories: int = 1000,
                 na_values: Sequence[str] = (), dates: str = "refuse") -> None:
        if impute not in (None, "mean"):
            raise XentlearnInputError(f"impute must be None or 'mean', got {impute!r}")
        if dates not in DATE_MODES:
            raise XentlearnInputError(f"dates must be 'refuse' or 'expand', got {dates!r}")
        if isinstance(na_values, str) or not all(isinstance(v, str) for v in na_values):
            raise XentlearnInputError(f"na_values must be a sequence of strings, got {na_values!r}")
        self.columns = None if columns is None else list(columns)
        self.standardize = bool(standardize)
        self.impute = impute
        self.max_categories = int(max_categories)
        self.na_values = tuple(dict.fromkeys(na_values))
        self.dates = dates
        # Accumulators, per column name; None once loaded from a dict.
        self._kinds: dict[str, str | None] | None = None
        self._types: dict[str, Any] = {}
        self._stats: dict[str, _Stats] = {}
        self._parts: dict[str, list[_Stats]] = {}
        self._seen: dict[str, set] = {}
        # Per text column, rows of each value that is not a number, up to _MARKERS_MAX
        # values (None beyond: text, not numbers with a few markers).
        self._markers: dict[str, dict[str, int] | None] = {}
        # Per text column, while every value so far reads as a number: [values that
        # read as NaN, infinite ones] (None once one does not: the column is text).
        # Its numbers' moments and identifier tracking go into _stats and _distinct.
        self._numbers: dict[str, list[int] | None] = {}
        self._missing: dict[str, int] = {}
        self._present: dict[str, int] = {}
        self._distinct: dict[str, _Distinct] = {}
        self._formats: dict[str, str | None] = {}
        # Per text date column read day first: whether every value so far reads month
        # first too (DAY_FIRST_TWINS), which finalize names in a warning.
        self._day_first_guess: dict[str, bool] = {}
        # Per text column that is numeric in other batches (a Parquet folder where pandas
        # wrote the column as string in a file with a token, as double in one without):
        # the numeric type. Only with na_values; the text must then read as numbers.
        self._mixed: dict[str, Any] = {}
        self._fitted = False
        self._loaded = False

    # ------------------------------------------------------------------ fitting

    def partial_fit(self, data) -> "TabularPreprocessor":
        """Accumulate statistics from one pyarrow RecordBatch or Table."""
        import pyarrow.compute as pc

        if self._loaded:
            raise XentlearnInputError(
                "this TabularPreprocessor was loaded with from_dict and cannot be refitted; "
                "create a new one")
        if self._kinds is None:
            self._start(list(data.schema.names) if self.columns is None else self.columns)
        self._fitted = False
        for name in self.columns:
            column = self._null_tokens(self._column(data, name))
            kind = self._check_kind(name, column)
            if kind is None:                      # all-null column in this batch
                self._missing[name] += len(column)
                continue
            if kind == DATE:
                fmt = self._formats.get(name)
                if fmt in DAY_FIRST_TWINS and self._day_first_guess.get(name, True):
                    self._day_first_guess[name] = reads_month_first_too(as_string(column), fmt)
                parts, n_missing = self._date_parts(name, column)
                self._missing[name] += n_missing
                self._present[name] += len(column) - n_missing
                stats = self._parts.setdefault(name, [_Stats() for _ in DATE_PARTS])
                for part, x in zip(stats, parts):
                    # Missing dates are NaN parts: the moments are of the dates present.
                    part.update(x[~np.isnan(x)] if n_missing else x)
            elif kind == CATEGORICAL:
                values = as_string(column)
                self._missing[name] += values.null_count
                self._present[name] += len(values) - values.null_count
                if self._numbers[name] is not None and self._text_numbers(name, values):
                    continue
                if name in self._mixed:
                    raise _mixed_text_error(name, self._mixed[name], _unique_strings(values))
                counted = pc.value_counts(values)
                uniques = counted.field(0).to_pylist()
                self._seen[name].update(v for v in uniques if v is not None)
                if self._markers[name] is not None:
                    self._markers[name] = _add_markers(self._markers[name], uniques,
                                                       counted.field(1).to_pylist())
                if len(self._seen[name]) > self.max_categories:
                    raise _too_many_categories(name, self._seen[name], self.max_categories)
            else:
                x = as_float64(column, writable=False)
                # A finite sum means no NaN (missing) and no infinity: one pass decides
                # for the common column; an overflowing sum only takes the long way.
                total = _finite_sum(x)
                n_missing = 0
                if not math.isfinite(total):
                    missing = np.isnan(x)
                    n_missing = int(np.count_nonzero(missing))
                    if n_missing:
                        x = x[~missing]
                    _check_finite_column(name, x)
                    total = None
                self._missing[name] += n_missing
                self._stats[name].update(x, total)
                self._present[name] += x.size
                if kind == NUMERIC:
                    self._distinct[name].update(x)
        return self

    def _text_numbers(self, name: str, values) -> bool:
        """Whether every value of the text batch `values` reads as a number; if so, their
        moments and identifier tracking are added (as a numeric column's), else the
        column is text from now on (``_numbers`` None). One vectorised cast; infinite
        values are counted, for ``finalize`` to refuse if the column stays numeric."""
        import pyarrow as pa

        try:
            x = as_float64(values, writable=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self._numbers[name] = None
            if self._seen[name] is None:
                # Over max_categories as numbers, and now text: too many categories.
                stray = sorted(v for v in _unique_strings(values) if not _is_number(v))
                raise _stray_tokens_error(
                    name, stray, f"categorical, and over max_categories={self.max_categories} "
                    "distinct values") from None
            return False
        total = _finite_sum(x)
        if not math.isfinite(total):
            finite = np.isfinite(x)
            n_nan = int(np.count_nonzero(np.isnan(x))) - values.null_count
            self._numbers[name][0] += n_nan
            self._numbers[name][1] += x.size - int(np.count_nonzero(finite)) \
                - n_nan - values.null_count
            x, total = x[finite], None
        self._stats[name].update(x, total)
        self._distinct[name].update(x)
        seen = self._seen[name]
        if seen is not None:
            # The categories, should a later value not be a number; past max_categories
            # the column can only be numbers (or an error): no longer kept.
            seen.update(_unique_strings(values))
            if len(seen) > self.max_categories:
                self._seen[name] = None
        return True

    def _as_numbers(self, name: str) -> bool:
        """Whether text column `name` reads as numbers: every value but missing ones, with
        missing-value tokens declared (na_values), as a CSV reader would have read it.
        Without na_values, a text column of numbers (codes, zip codes written as
        strings into a Parquet file or a DataFrame) keeps the type it was given."""
        return (self._kinds[name] == CATEGORICAL and bool(self.na_values)
                and self._numbers.get(name) is not None
                and self._present[name] > self._numbers[name][0])

    def _start(self, columns: Sequence[str]) -> None:
        """Empty accumulators for `columns` (the first partial_fit or merge)."""
        self.columns = list(columns)
        self._kinds = {name: None for name in self.columns}
        self._stats = {name: _Stats() for name in self.columns}
        self._seen = {name: set() for name in self.columns}
        self._markers = {name: {} for name in self.columns}
        self._numbers = {name: [0, 0] for name in self.columns}
        self._missing = {name: 0 for name in self.columns}
        self._present = {name: 0 for name in self.columns}
        self._distinct = {name: _Distinct() for name in self.columns}

    def merge(self, other: "TabularPreprocessor") -> "TabularPreprocessor":
        """Add the statistics `other` accumulated (``partial_fit`` on other rows) to these.

        For fitting in parallel: each worker calls ``partial_fit`` on its own
        files, and one process merges the partial states, in file order, and
        calls ``finalize``. ``a.merge(b)`` is ``a`` having also seen b's batches
        after its own:

        - counts of rows, missing and present values add up;
        - numeric, boolean and date-part moments combine exactly by Chan,
          Golub & LeVeque's pairwise update (n = n_a + n_b, delta = mean_b -
          mean_a, mean = mean_a + delta n_b / n, M2 = M2_a + M2_b + delta^2
          n_a n_b / n): the same mean and variance as one pass, to rounding;
        - category sets are united (and checked against `max_categories`);
        - a column's kind, arrow type and date format are the first side's
          that saw a value (as the first batch with values decides them); kinds
          that differ are the error ``partial_fit`` raises for a column that
          changes type (text that reads as dates on one side and not on the
          other included). A later side's date text is checked against the
          format when it is transformed, as it would have been when fitted;
        - the identifier tracking of whole-number columns merges (see
          ``_Distinct.merge``).

        Parameters
        ----------
        other : TabularPreprocessor
            Built with the same settings (columns, standardize, impute,
            max_categories, na_values, dates), not finalized or loaded. It is
            not modified.

        Returns
        -------
        self, not finalized: call ``finalize`` (or merge more) next.

        Examples
        --------
        >>> import pyarrow as pa
        >>> first = pa.record_batch({"x": [1.0, 2.0], "c": ["a", "a"]})
        >>> second = pa.record_batch({"x": [6.0], "c": ["b"]})
        >>> merged = TabularPreprocessor().partial_fit(first).merge(
        ...     TabularPreprocessor().partial_fit(second)).finalize()
        >>> merged.means_["x"], merged.categories_["c"]
        (3.0, ['a', 'b'])
        """
        for mine in (self, other):
            if mine._loaded:
                raise XentlearnInputError(
                    "merge needs partial_fit states; a TabularPreprocessor loaded with "
                    "from_dict holds none")
        settings = ("standardize", "impute", "max_categories", "na_values", "dates")
        for name in settings:
            if getattr(self, name) != getattr(other, name):
                raise XentlearnInputError(
                    f"cannot merge preprocessors built with different {name}: "
                    f"{getattr(self, name)!r} and {getattr(other, name)!r}")
        if other._kinds is None:                 # other saw no batch: nothing to add
            if self.columns is None:
                self.columns = None if other.columns is None else list(other.columns)
            elif other.columns is not None and list(other.columns) != self.columns:
                raise XentlearnInputError(
                    f"cannot merge preprocessors of different columns: {self.columns} and "
                    f"{list(other.columns)}")
            return self
        if self._kinds is None:
            if self.columns is not None and list(self.columns) != other.columns:
                raise XentlearnInputError(
                    f"cannot merge preprocessors of different columns: {self.columns} and "
                    f"{other.columns}")
            self._start(other.columns)
        elif other.columns != self.columns:
            raise XentlearnInputError(
                f"cannot merge preprocessors of different columns: {self.columns} and "
                f"{other.columns}")
        self._fitted = False
        for name in self.columns:
            self._merge_column(name, other)
        return self

    def missing_count(self, column: str) -> int:
        """Missing values of `column` counted so far by ``partial_fit`` and ``merge`` (0
        before any): which file's part of a merged fit holds the first one."""
        if self._kinds is None:
            return 0
        as_nan = self._numbers[column][0] if self._as_numbers(column) else 0
        return self._missing.get(column, 0) + as_nan

    def _merge_column(self, name: str, other: "TabularPreprocessor") -> None:
        self._missing[name] += other._missing[name]
        self._present[name] += other._present[name]
        kind, theirs = self._kinds[name], other._kinds[name]
        if theirs is None:                        # every value of the column missing there
            return
        ours, their_format = self._formats.get(name), other._formats.get(name)
        if kind == DATE and theirs == DATE and None not in (ours, their_format) \
                and ours != their_format:
            # Each part fixed the format on its own first values: the parts read their
            # dates, and learned their moments, in different formats.
            raise XentlearnInputError(
                f"column {name!r} holds dates read as {ours!r} in some rows and as "
                f"{their_format!r} in others (days of 12 or less read either way); write "
                "them in one format, as ISO dates (2024-01-31) best")
        if ours is None and their_format is not None:
            self._formats[name] = their_format      # ours typed (no format), or not met
        if name in other._day_first_guess:
            self._day_first_guess[name] = (self._day_first_guess.get(name, True)
                                           and other._day_first_guess[name])
        if kind is None:
            self._kinds[name], self._types[name] = theirs, other._types[name]
        elif kind != theirs and not self._text_and_numbers(name, kind, theirs,
                                                          other._types[name]):
            raise XentlearnInputError(
                f"column {name!r} changes type between batches: {self._types[name]} "
                f"({kind}) then {other._types[name]} ({theirs})")
        if name in other._mixed:
            self._mixed.setdefault(name, other._mixed[name])
            self._kinds[name], self._types[name] = CATEGORICAL, other._types[name]
        self._stats[name].merge(other._stats[name])
        if name in other._parts:
            parts = self._parts.setdefault(name, [_Stats() for _ in DATE_PARTS])
            for part, their_part in zip(parts, other._parts[name]):
                part.merge(their_part)
        numbers, their_numbers = self._numbers[name], other._numbers[name]
        self._numbers[name] = None if numbers is None or their_numbers is None else [
            a + b for a, b in zip(numbers, their_numbers)]
        if name in self._mixed and self._numbers[name] is None:
            raise _mixed_text_error(name, self._mixed[name],
                                    (self._seen[name] or set()) | (other._seen[name] or set()))
        seen, their_seen = self._seen[name], other._seen[name]
        if seen is not None and their_seen is not None:
            seen.update(their_seen)
        elif self._numbers[name] is None:          # over max_categories, and text
            raise _too_many_categories(name, seen or their_seen or set(), self.max_categories)
        else:
            self._seen[name] = None
        mine, theirs = self._markers[name], other._markers[name]
        if mine is not None:
            self._markers[name] = None if theirs is None else _add_markers(
                mine, list(theirs), list(theirs.values()))
        if self._seen[name] is not None and len(self._seen[name]) > self.max_categories:
            if self._numbers[name] is None:
                raise _too_many_categories(name, self._seen[name], self.max_categories)
            self._seen[name] = None
        self._distinct[name].merge(other._distinct[name])

    def finalize(self) -> "TabularPreprocessor":
        """Turn the accumulated statistics into the fitted transformation.

        Warns (``ColumnWarning``) about identifier-like and constant columns.
        """
        if self._loaded:
            return self
        if self._kinds is None:
            raise XentlearnInputError("TabularPreprocessor.finalize called before any partial_fit")
        self.means_, self.stds_, self.categories_, self.date_formats_ = {}, {}, {}, {}
        self._numbers_as_text: list[tuple[str, dict[str, int], int]] = []
        self._booleans_as_text: list[tuple[str, dict[str, int], int]] = []
        self._comma_codes: list[tuple[str, str]] = []
        kinds = {}
        for name in self.columns:
            kind, n_missing = self._kinds[name], self._missing[name]
            if name in self._mixed and not self._as_numbers(name):
                raise _mixed_text_error(name, self._mixed[name], self._seen[name] or set())
            if self._as_numbers(name):
                # Text of numbers (missing values declared): numbers, as a CSV reader
                # would have read them. Values such as "nan" are missing, "inf" refused.
                kind = NUMERIC
                n_missing += self._numbers[name][0]
                if self._numbers[name][1]:
                    raise InfiniteValuesError(
                        name, f"column {name!r} has {self._numbers[name][1]} infinite "
                        "value(s)", "; expected finite numbers")
            kinds[name] = kind
            # An all-missing column first: imputing it would not help.
            if kind is None:
                raise XentlearnInputError(
                    f"column {_shown_name(name)} has no values (every one of its {n_missing} "
                    f"rows is missing); expected numbers, booleans or strings: exclude it "
                    f"(drop=[{name!r}])")
            if n_missing and self.impute is None:
                raise MissingValuesError(
                    name, f"column {_shown_name(name)} has {n_missing} missing value(s) (null "
                    f"or NaN", "; expected none: pass impute='mean' or drop those rows")
            if kind == CATEGORICAL:
                if self._seen[name] is None:
                    # Numbers past max_categories, no longer kept as categories since
                    # they would be numeric; without na_values they are text after all.
                    raise _too_many_categories(name, set(), self.max_categories)
                comma = _comma_numbers(name, self._seen[name])
                if comma is not None and comma[0]:
                    raise XentlearnInputError(comma[1])
                if comma is not None:
                    self._comma_codes.append((name, comma[1]))
                stray = _not_numbers(self._seen[name])
                if stray:
                    raise _stray_tokens_error(
                        name, stray, f"one-hot encoded, {len(self._seen[name])} categories")
                markers = self._markers[name]
                # Booleans with a few other values ("?"): the values that are neither.
                others = {v: n for v, n in (markers or {}).items() if v not in _BOOL_WORDS}
                if (others and len(others) < len(markers)
                        and self._seen[name] <= _BOOL_SPELLINGS | set(others)
                        and 2 * sum(others.values()) < self._present[name]):
                    self._booleans_as_text.append((name, others, self._present[name] + n_missing))
                elif (markers and len(self._seen[name]) > len(markers)
                        and 2 * sum(markers.values()) < self._present[name]):
                    self._numbers_as_text.append((name, markers, self._present[name] + n_missing))
                cats = sorted(self._seen[name])
                if n_missing and MISSING_CATEGORY not in self._seen[name]:
                    cats.append(MISSING_CATEGORY)
                self.categories_[name] = cats
                continue
            if kind == DATE:
                self.date_formats_[name] = self._formats.get(name)
                for part, stats in zip(DATE_PARTS, self._parts[name]):
                    self._set_moments(f"{name}.{part}", stats, NUMERIC, n_missing, name)
                continue
            self._set_moments(name, self._stats[name], kind, n_missing, name)
        self.kinds_ = [kinds[name] for name in self.columns]
        self.columns_ = list(self.columns)
        self._fitted = True
        self._warn_about_columns()
        return self

    def _set_moments(self, key: str, stats: "_Stats", kind: str, n_missing: int,
                     name: str) -> None:
        if stats.n == 0:
            raise XentlearnInputError(
                f"column {name!r} has no non-missing values ({n_missing} missing); "
                f"its mean is undefined: exclude it")
        std = math.sqrt(stats.m2 / stats.n)
        self.means_[key] = float(stats.mean)
        standardised = kind == NUMERIC and self.standardize
        self.stds_[key] = float(std) if standardised and std > 0.0 else 1.0

    def _warn_about_columns(self) -> None:
        """ColumnWarning for identifiers, free text and constants (one warning per problem)."""
        ids, free_text, constant = [], [], []
        for name, kind in zip(self.columns_, self.kinds_):
            rows = self._present[name] - (self._numbers[name][0] if self._as_numbers(name) else 0)
            if kind == CATEGORICAL:
                distinct = len(self._seen[name])
                if (rows >= _ID_MIN_ROWS and distinct == rows) or (
                        _looks_like_id_name(name) and rows >= _ID_MIN_ROWS):
                    ids.append((name, f"text, {distinct} distinct in {rows} rows"))
                elif rows >= _FREE_TEXT_MIN_ROWS and distinct > _FREE_TEXT_SHARE * rows:
                    free_text.append((name, f"{distinct} distinct in {rows} rows"))
                elif len(self.categories_[name]) == 1:
                    constant.append((name, f"always {self.categories_[name][0]!r}"))
            elif kind in (NUMERIC, BOOLEAN):
                stats, tracker = self._stats[name], self._distinct[name]
                if stats.n and stats.m2 == 0.0:
                    constant.append((name, f"always {stats.mean:.6g}"))
                elif kind != NUMERIC or not tracker.whole or rows < _ID_MIN_ROWS:
                    continue
                elif tracker.unique:
                    ids.append((name, "whole numbers, a distinct one in every row"
                                + (f" of the first {_DISTINCT_LIMIT}" if tracker.capped else "")))
                elif _looks_like_id_name(name):
                    ids.append((name, "whole numbers, named like an identifier"))
        if ids:
            warnings.warn(_identifiers_warning(ids, self.EXCLUDE_ADVICE), stacklevel=3)
        if free_text:
            warnings.warn(ColumnWarning(
                "text column(s) with nearly one category per row: " + _listed(free_text)
                + "; one-hot encoding gives a feature per value that new rows rarely share: "
                f"exclude them ({self.EXCLUDE_ADVICE}) unless the values repeat in new data",
                "free_text", [n for n, _ in free_text]), stacklevel=3)
        if self._numbers_as_text:
            warnings.warn(_numbers_as_text_warning(self._numbers_as_text), stacklevel=3)
        if self._booleans_as_text:
            warnings.warn(_numbers_as_text_warning(self._booleans_as_text, booleans=True),
                          stacklevel=3)
        if constant:
            warnings.warn(ColumnWarning(
                "constant column(s): " + _listed(constant) + "; they carry no information "
                f"(exclude them: {self.EXCLUDE_ADVICE})", "constant", [n for n, _ in constant]),
                stacklevel=3)
        for name, message in self._comma_codes:
            warnings.warn(ColumnWarning(message, "comma_numbers", [name]), stacklevel=3)
        guessed = [(name, f"read {fmt}, not {DAY_FIRST_TWINS[fmt]}")
                   for name, kind in zip(self.columns_, self.kinds_)
                   if kind == DATE and self._day_first_guess.get(name)
                   for fmt in [self._formats.get(name)] if fmt in DAY_FIRST_TWINS]
        if guessed:
            warnings.warn(ColumnWarning(
                "date column(s) whose days are all 12 or less, so that they read day first "
                "and month first alike: " + _listed(guessed) + "; read day first: if they are "
                "written month first, the months learned are the days; re-save them as ISO "
                "dates (2024-01-31)", "dates_ambiguous", [n for n, _ in guessed]), stacklevel=3)

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
            elif kind == DATE:
                names.extend(f"{name}.{part}" for part in DATE_PARTS)
            else:
                names.append(name)
        return names

    @property
    def n_features_out(self) -> int:
        self._require_fitted()
        return sum(_width(kind, self.categories_.get(name))
                   for name, kind in zip(self.columns_, self.kinds_))

    # ---------------------------------------------------------------- transform

    def transform(self, data, dtype=np.float64, *, out: np.ndarray | None = None,
                  unseen: dict | None = None) -> np.ndarray:
        """Features of one RecordBatch or Table.

        Parameters
        ----------
        data : pyarrow.RecordBatch or pyarrow.Table
            Holds at least the fitted columns (others are ignored).
        dtype : float32 or float64
        out : ndarray of shape (n_rows, n_features_out), optional
            Written in place (its dtype wins over `dtype`): a streaming
            reader fills its shuffle buffer without an intermediate copy.
        unseen : dict, optional
            Counts of text values not seen at fit, accumulated across calls:
            ``unseen[column] = [rows, set of up to 3 example values]``.

        Returns
        -------
        ndarray of shape (n_rows, n_features_out) and dtype `dtype`
        """
        self._require_fitted()
        shape = (data.num_rows, self.n_features_out)
        if out is None:
            # Every column is written whole below (one-hot columns zeroed first).
            out = np.empty(shape, dtype=np.dtype(dtype))
        else:
            if out.shape != shape:
                raise XentlearnInputError(f"out has shape {out.shape}, expected {shape}")
        j = 0
        scratch = None
        for name, kind in zip(self.columns_, self.kinds_):
            column = self._null_tokens(self._column(data, name))
            if kind == CATEGORICAL:
                j += self._one_hot(name, column, out, j, unseen)
                continue
            if kind == DATE:
                parts, _ = self._date_parts(name, column)
                keys = [f"{name}.{part}" for part in DATE_PARTS]
            else:
                parts, keys = [numbers_of(name, column, kind)], [name]
            for x, key in zip(parts, keys):
                # As in partial_fit: a finite sum is a column without gaps or infinities.
                if not math.isfinite(_finite_sum(x)):
                    missing = np.isnan(x)
                    if missing.any():
                        if self.impute is None:
                            raise _missing_without_imputation(
                                name, int(np.count_nonzero(missing)))
                        x = np.where(missing, self.means_[key], x)
                    _check_finite_column(name, x)
                if kind != BOOLEAN and self.standardize:
                    # Computed in float64, rounded once into the output dtype; one
                    # scratch column serves every column of the batch.
                    if scratch is None:
                        scratch = np.empty(shape[0])
                    np.subtract(x, self.means_[key], out=scratch)
                    np.divide(scratch, self.stds_[key], out=out[:, j],
                              casting="same_kind")
                else:
                    out[:, j] = x
                j += 1
        return out

    def _one_hot(self, name: str, column, out: np.ndarray, start: int,
                 unseen: dict | None = None) -> int:
        import pyarrow as pa
        import pyarrow.compute as pc

        cats = self.categories_[name]
        # Only these columns need zeros: every other column of `out` is written whole.
        out[:, start:start + len(cats)] = 0
        if pa.types.is_null(column.type):
            values = pa.nulls(len(column), pa.string())
        else:
            values = as_string(column)
        if values.null_count:
            if self.impute is None:
                raise _missing_without_imputation(name, values.null_count)
            values = pc.fill_null(values, MISSING_CATEGORY)
        # index_in gives null for values outside the learned categories: those
        # rows keep an all-zero block (handle_unknown="ignore").
        index = pc.index_in(values, value_set=pa.array(cats, pa.string()))
        if unseen is not None and index.null_count:
            new = pc.filter(values, pc.is_null(index))
            entry = unseen.setdefault(name, [0, set()])
            entry[0] += len(new)
            for value in pc.unique(new).to_pylist():
                if len(entry[1]) >= 3:
                    break
                entry[1].add(value)
        index = index.to_numpy(zero_copy_only=False)
        if index.dtype.kind == "f":               # nulls present -> float with NaN
            rows = np.flatnonzero(~np.isnan(index))
            cols = index[rows].astype(np.intp)
        else:
            rows = np.arange(index.shape[0])
            cols = index.astype(np.intp)
        out[rows, start + cols] = 1
        return len(cats)

    # ---------------------------------------------------------------- columns

    def _null_tokens(self, column):
        """`column` with the na_values tokens as nulls (text columns only)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.na_values or not (pa.types.is_string(column.type)
                                      or pa.types.is_large_string(column.type)):
            return column
        tokens = pa.array(list(self.na_values), column.type)
        return pc.if_else(pc.is_in(column, value_set=tokens), pa.scalar(None, column.type),
                          column)

    def _date_parts(self, name: str, column) -> tuple[list[np.ndarray], int]:
        """(year, month, day of week, day of year as float64 with NaN where missing, n missing)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_null(column.type):
            nan = np.full(len(column), np.nan)
            return [nan.copy() for _ in DATE_PARTS], len(column)
        if not (pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)):
            values = as_string(column)
            fmt = self._formats.get(name)
            if fmt is None:
                # Fitted on a typed date column, now given text (a DataFrame of
                # strings): read it with the first format that fits its dates.
                fmt = format_of_dates_among(values)
            parsed = None if fmt is None else read_dates(values, fmt)
            if parsed is None or parsed.null_count != values.null_count:
                bad = pc.drop_null(values) if parsed is None else pc.filter(
                    values, pc.and_(pc.is_null(parsed), pc.is_valid(values)))
                # A ColumnValuesError: a reader that knows the file names it and the row.
                raise UnreadableDatesError(
                    name, f"column {name!r} holds dates, but {bad[0].as_py()!r} is not one"
                    + ("" if fmt is None else f" in the format {fmt!r}"),
                    "; fix it, or declare such values missing (na_values)", fmt)
            column = parsed
        parts = [pc.year(column), pc.month(column), pc.day_of_week(column),
                 pc.day_of_year(column)]
        return [as_float64(p) for p in parts], column.null_count

    def _check_kind(self, name: str, column) -> str | None:
        arrow_type = column.type
        try:
            kind = column_kind(arrow_type)
        except XentlearnInputError as exc:
            raise XentlearnInputError(f"column {name!r}: {exc}; exclude it from the features") from None
        known = self._kinds[name]
        if kind == CATEGORICAL and column.null_count == len(column):
            # Text with no value in this batch says nothing of the column's kind (a file or
            # row group where a date or number column is empty): as pyarrow's null type.
            return None
        if kind == CATEGORICAL and known in (None, DATE):
            # Text that holds dates is a date column (its format is fixed by the first
            # batch with values; later text must read in that format).
            fmt = self._formats.get(name) if known == DATE else date_format(as_string(column))
            if known == DATE or fmt is not None:
                kind = DATE
                if known is None:
                    self._formats[name] = fmt
        if kind == DATE and known is None and self.dates == "refuse":
            example = next((v for v in column.to_pylist() if v is not None), None)
            raise _dates_refused(name, f"such as {str(example)!r}")
        if kind is not None:
            if known is None:
                self._kinds[name], self._types[name] = kind, arrow_type
            elif known != kind and not self._text_and_numbers(name, known, kind, arrow_type):
                raise XentlearnInputError(
                    f"column {name!r} changes type between batches: {self._types[name]} "
                    f"({known}) then {arrow_type} ({kind})")
        return kind

    def _text_and_numbers(self, name: str, known: str, kind: str, arrow_type) -> bool:
        """Whether column `name`, of kind `known` so far, takes values of `kind` (type
        `arrow_type`) too: text in some batches and numbers in others, with na_values
        declared, while its text has all read as numbers. Then it is a text column of
        numbers (``_as_numbers``) whose numeric batches add to its moments as a numeric
        column's; ``_mixed`` keeps the numeric type, so that text that is not numbers
        is refused. Otherwise (no na_values, or words in its text) the caller's error."""
        if {known, kind} != {NUMERIC, CATEGORICAL} or not self.na_values:
            return False
        if self._numbers[name] is None:
            raise _mixed_text_error(name, arrow_type if kind == NUMERIC else self._types[name],
                                    self._seen[name] or set())
        if kind == CATEGORICAL:
            self._mixed.setdefault(name, self._types[name])
            self._kinds[name], self._types[name] = CATEGORICAL, arrow_type
        else:
            self._mixed.setdefault(name, arrow_type)
        return True

    # ------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """A JSON-able description of the fitted preprocessor (no pickle needed)."""
        self._require_fitted()
        columns = []
        for name, kind in zip(self.columns_, self.kinds_):
            entry: dict[str, Any] = {"name": name, "kind": kind}
            if kind == CATEGORICAL:
                entry["categories"] = list(self.categories_[name])
            elif kind == DATE:
                entry.update(format=self.date_formats_[name],
                             means=[self.means_[f"{name}.{p}"] for p in DATE_PARTS],
                             stds=[self.stds_[f"{name}.{p}"] for p in DATE_PARTS])
            else:
                entry["mean"] = self.means_[name]
                entry["std"] = self.stds_[name]
            columns.append(entry)
        state = {"format": _FORMAT, "version": 1, "standardize": self.standardize,
                 "impute": self.impute, "max_categories": self.max_categories,
                 "columns": columns}
        if self.na_values or DATE in self.kinds_ or self.dates != "refuse":
            state.update(version=_VERSION, na_values=list(self.na_values), dates=self.dates)
        return state

    @classmethod
    def from_dict(cls, state: dict) -> "TabularPreprocessor":
        """Rebuild a fitted preprocessor from ``to_dict()``'s output.

        Every field is checked (a model file may have been edited by hand):
        no unknown keys, column names are distinct strings, kinds known, means
        finite, standard deviations finite and positive, categories distinct
        strings, date formats among ``DATE_FORMATS``, missing-value tokens
        distinct strings. Version 1 descriptions (no dates, no na_values)
        read as before.
        """
        try:
            if not isinstance(state, dict):
                raise ValueError(f"expected a JSON object, got {type(state).__name__}")
            if state.get("format") != _FORMAT:
                raise ValueError(f"format is {state.get('format')!r}, expected {_FORMAT!r}")
            version = state.get("version")
            if type(version) is not int or version not in _VERSIONS:
                raise ValueError(f"version is {version!r}, expected one of {list(_VERSIONS)}")
            unknown = sorted(set(state) - _KEYS) if version > 1 else []
            if unknown:
                raise ValueError(f"unknown field(s) {unknown}")
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
            na_values = state.get("na_values", []) if version > 1 else []
            if (not isinstance(na_values, list) or not all(isinstance(v, str) for v in na_values)
                    or len(set(na_values)) != len(na_values)):
                raise ValueError(f"na_values must be a list of distinct strings, got {na_values!r}")
            dates = state.get("dates", "refuse") if version > 1 else "refuse"
            if dates not in DATE_MODES:
                raise ValueError(f"dates must be one of {list(DATE_MODES)}, got {dates!r}")
            pre = cls(names, standardize=state["standardize"], impute=state["impute"],
                      max_categories=max_categories, na_values=na_values, dates=dates)
            pre.means_, pre.stds_, pre.categories_, pre.kinds_ = {}, {}, {}, []
            pre.date_formats_ = {}
            for c in columns:
                name, kind = c["name"], c["kind"]
                if kind not in _KINDS or (kind == DATE and version < 2):
                    raise ValueError(f"column {name!r} has unknown kind {kind!r}")
                expand = c.get("expand") if version > 1 else None
                if expand is not None or kind == DATE:
                    # A date column. Early version-2 files wrote it as kind "categorical"
                    # with the parts as categories and "expand": "date" (when the
                    # model-file check knew only three kinds); they read the same.
                    if expand not in (None, DATE) or kind not in (CATEGORICAL, DATE) or (
                            kind == CATEGORICAL and c.get("categories") != list(DATE_PARTS)):
                        raise ValueError(
                            f"column {name!r}: a date column has expand 'date' and, as "
                            f"kind 'categorical', the categories {list(DATE_PARTS)}")
                    kind = DATE
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
                if kind == DATE:
                    fmt = c["format"]
                    if fmt is not None and fmt not in DATE_FORMATS:
                        raise ValueError(f"column {name!r}: unknown date format {fmt!r}")
                    pre.date_formats_[name] = pre._formats[name] = fmt
                    means, stds = c["means"], c["stds"]
                    if not (isinstance(means, list) and isinstance(stds, list)
                            and len(means) == len(stds) == len(DATE_PARTS)):
                        raise ValueError(f"column {name!r}: means and stds must be lists of "
                                         f"{len(DATE_PARTS)} numbers")
                    keys = [f"{name}.{p}" for p in DATE_PARTS]
                else:
                    means, stds, keys = [c["mean"]], [c["std"]], [name]
                for key, mean, std in zip(keys, means, stds):
                    if not all(type(v) in (int, float) for v in (mean, std)) \
                            or not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
                        raise ValueError(
                            f"column {name!r}: mean {mean!r} and std {std!r} must be finite "
                            "numbers, std > 0")
                    pre.means_[key], pre.stds_[key] = float(mean), float(std)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise XentlearnInputError(f"not a valid TabularPreprocessor description: {exc}") from None
        pre.columns_ = list(pre.columns)
        pre._fitted = pre._loaded = True
        return pre

    def describe(self) -> list[dict]:
        """Per column, its preprocessing in words: {"name", "kind", "text"}."""
        self._require_fitted()
        rows = []
        for name, kind in zip(self.columns_, self.kinds_):
            if kind == CATEGORICAL:
                cats = self.categories_[name]
                shown = ", ".join(cats[:6]) + (f", ... ({len(cats)} in all)" if len(cats) > 6 else "")
                text = f"one-hot, {len(cats)} categories: {shown}"
            elif kind == DATE:
                fmt = self.date_formats_.get(name)
                text = ("date" + ("" if fmt is None else f" read as {fmt}")
                        + " expanded into year, month, day of week, day of year"
                        + (", standardised" if self.standardize else ""))
            elif kind == BOOLEAN:
                text = "true = 1, false = 0"
            elif self.standardize:
                text = (f"standardised: (x - {self.means_[name]:.6g}) / "
                        f"{self.stds_[name]:.6g}")
            else:
                text = "as is"
            if self.impute == "mean" and kind in (NUMERIC, BOOLEAN):
                text += f"; missing -> mean {self.means_[name]:.6g}"
            elif self.impute == "mean" and kind == DATE:
                text += "; missing -> the mean of each part"
            rows.append({"name": name, "kind": kind, "text": text})
        return rows

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
            raise XentlearnInputError(f"column {name!r} not found; available columns: "
                                      f"{listed_columns(data.schema.names)}") from None


def _width(kind: str, categories) -> int:
    if kind == CATEGORICAL:
        return len(categories)
    return len(DATE_PARTS) if kind == DATE else 1


def _missing_without_imputation(name: str, count: int) -> MissingValuesError:
    """The error of ``transform`` for missing values in a model trained without them."""
    return MissingValuesError(
        name, f"column {_shown_name(name)} has {count} missing value(s) (null or NaN",
        "; the model was trained without imputation, so every value must be present: fill "
        "them, or train with impute='mean'")


def _shown_name(name: str) -> str:
    """A column's name for a message; the empty name of a CSV whose lines end with a
    delimiter says where it comes from."""
    if name == "":
        return "'' (an empty header cell: does every line end with a delimiter?)"
    return repr(name)


def _listed(items: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name!r} ({why})" for name, why in items)


def _unique_strings(values) -> list[str]:
    import pyarrow.compute as pc

    return [v for v in pc.unique(values).to_pylist() if v is not None]


def _check_finite_column(name: str, x: np.ndarray) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        raise InfiniteValuesError(
            name, f"column {name!r} has {int(np.count_nonzero(bad))} infinite value(s)",
            "; expected finite numbers")
