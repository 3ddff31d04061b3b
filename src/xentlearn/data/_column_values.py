"""A column's values as numbers, text or dates, and the errors that name values a
feature column may not hold (missing, infinite, unreadable as its kind).

The preprocessor sees record batches, not files: a reader that knows where the
rows come from finds the first such value with ``ColumnValuesError.rows`` and
names its file and row with ``located``.
"""

from __future__ import annotations

import numpy as np

from xentlearn.data._dates import format_of_dates_among, read_dates
from xentlearn.exceptions import XentlearnInputError

# The kinds of feature column.
NUMERIC, BOOLEAN, CATEGORICAL, DATE = "numeric", "bool", "categorical", "date"


class ColumnValuesError(XentlearnInputError):
    """Values a column may not hold: in a feature, missing ones (no imputation), infinite
    ones, text where numbers were fitted; in the target, missing or unknown labels.

    The preprocessor sees record batches, not files: a reader that knows where
    the rows come from finds the first such value with ``rows`` (on this error
    only, reading the column again) and names it with ``located``.

    Attributes
    ----------
    column : str
    """

    def __init__(self, column: str, head: str, tail: str) -> None:
        super().__init__(self._message(head, tail, None))
        self.column, self._head, self._tail = column, head, tail

    def __reduce__(self):
        # Raised on Dask workers: it must unpickle with its own arguments.
        return type(self), (self.column, self._head, self._tail)

    def located(self, where: str) -> XentlearnInputError:
        """The same message, naming the first such value: `where` is such as
        ``row_in_file``'s "row 58 of 'd.csv', counting rows after the header, ..."."""
        return XentlearnInputError(self._message(self._head, self._tail, where))

    @staticmethod
    def _message(head: str, tail: str, where: str | None) -> str:
        return f"{head}{tail}" if where is None else f"{head} (first in {where}){tail}"

    def rows(self, values) -> np.ndarray:
        """Which rows of `values` (the column as read, a pyarrow array) hold such a
        value: bool ndarray of shape (len(values),)."""
        raise NotImplementedError


class MissingValuesError(ColumnValuesError):
    """Missing values in a column where none may be (no imputation)."""

    @staticmethod
    def _message(head: str, tail: str, where: str | None) -> str:
        # head ends inside a parenthesis, "(null or NaN"; the row goes before its ")".
        return f"{head}){tail}" if where is None else f"{head}; first in {where}){tail}"

    def rows(self, values) -> np.ndarray:
        import pyarrow.compute as pc

        return pc.is_null(values, nan_is_null=True).to_numpy(zero_copy_only=False)


class InfiniteValuesError(ColumnValuesError):
    """Infinite values in a numeric column."""

    def rows(self, values) -> np.ndarray:
        return np.isinf(as_float64(values, writable=False))


class UnreadableValuesError(ColumnValuesError):
    """Values a column fitted as numeric or boolean cannot be read as: text such as "?"."""

    def rows(self, values) -> np.ndarray:
        """The first row of `values` that does not read as a number (one True at most:
        found by halving, each half cast whole)."""
        rows = np.zeros(len(values), dtype=bool)
        if reads_as_numbers(values):
            return rows
        lo, hi = 0, len(values)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if reads_as_numbers(values.slice(lo, mid - lo)):
                lo = mid
            else:
                hi = mid
        rows[lo] = True
        return rows


class NotBooleanValuesError(ColumnValuesError):
    """Values a column fitted as boolean cannot be read as: numbers other than 0 and 1,
    text other than true and false."""

    def rows(self, values) -> np.ndarray:
        return np.isnan(_truth(values)) & ~_missing(values)


class UnreadableDatesError(ColumnValuesError):
    """Text in a date column that is not a date (in the column's format, `fmt`)."""

    def __init__(self, column: str, head: str, tail: str, fmt: str | None = None) -> None:
        super().__init__(column, head, tail)
        self.fmt = fmt

    def __reduce__(self):
        return type(self), (self.column, self._head, self._tail, self.fmt)

    def rows(self, values) -> np.ndarray:
        """Rows of `values` holding text that does not read as a date in the format (as
        ``transform`` reads it: without one, any text that no format reads)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        values = _plain_values(values)
        if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type) \
                or pa.types.is_null(values.type):
            return np.zeros(len(values), dtype=bool)
        values = as_string(values)
        fmt = self.fmt if self.fmt is not None else format_of_dates_among(values)
        unread = pc.is_valid(values) if fmt is None else pc.and_(
            pc.is_null(read_dates(values, fmt)), pc.is_valid(values))
        return unread.to_numpy(zero_copy_only=False)


class UnknownLabelsError(ColumnValuesError):
    """Labels in a target column that are not among the `classes` a model knows."""

    def __init__(self, column: str, head: str, tail: str, classes=()) -> None:
        super().__init__(column, head, tail)
        self.classes = np.asarray(classes)

    def __reduce__(self):
        return type(self), (self.column, self._head, self._tail, self.classes)

    def rows(self, values) -> np.ndarray:
        labels = _plain_values(values).to_numpy(zero_copy_only=False)
        try:
            return ~np.isin(labels, self.classes) & ~np.equal(labels, None)
        except TypeError:       # labels of another type than the classes: every one
            return np.ones(len(labels), dtype=bool)


def reads_as_numbers(values) -> bool:
    import pyarrow as pa

    try:
        as_float64(values, writable=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def as_float64(column, writable: bool = True) -> np.ndarray:
    """The column as float64 with NaN where it is null: a copy, or with ``writable=False``
    a read-only view of a float64 column without nulls (no copy)."""
    import pyarrow as pa

    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    column = _plain_values(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # Numbers written as text: read as a CSV reader reads them, blanks around
        # them allowed ("nan" is NaN, so missing; "inf" infinite).
        import pyarrow.compute as pc

        column = pc.utf8_trim_whitespace(column)
    # Integers beyond 2**53 round to the nearest float, as numpy's astype does.
    x = column.cast(pa.float64(), safe=not pa.types.is_integer(column.type)).to_numpy(
        zero_copy_only=False)
    return np.array(x, dtype=np.float64, copy=True) if writable else x


def numbers_of(name: str, column, kind: str = NUMERIC) -> np.ndarray:
    """``as_float64`` for transform (read-only): a fitted numeric column given text is
    named; a fitted boolean column reads as ``booleans_of``."""
    import pyarrow as pa

    if kind == BOOLEAN:
        return booleans_of(name, column)
    try:
        return as_float64(column, writable=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        # A ColumnValuesError: a reader that knows the file names it and the first row.
        raise UnreadableValuesError(
            name, f"column {name!r} was numeric when the preprocessing was fitted but now "
            f"holds {column.type} values that are not numbers", f" ({exc})") from None


def booleans_of(name: str, column) -> np.ndarray:
    """A column fitted as boolean, as 1.0 (true) and 0.0 (false), NaN where missing: bool
    values, the numbers 0 and 1, or text a CSV reader reads as such (true, false in any
    case, 1, 0, 1.0, 0.0). Other values (7.5, "yes") raise ``NotBooleanValuesError``: read
    as numbers, they would weigh as many times the true value."""
    truth = _truth(column)
    readable = ~np.isnan(truth) | _missing(column)
    if not readable.all():
        first = _plain_values(column)[int(np.argmin(readable))]
        raise NotBooleanValuesError(
            name, f"column {name!r} was boolean (true = 1, false = 0) when the "
            f"preprocessing was fitted but now holds {column.type} values that are not "
            f"true or false, such as {first.as_py()!r}", "")
    return truth


def _plain_values(values):
    """`values` with a dictionary type decoded (a pandas Categorical in a Parquet file)."""
    import pyarrow as pa

    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values


def _missing(values) -> np.ndarray:
    """Null, or NaN (a float column's missing value)."""
    import pyarrow.compute as pc

    return pc.is_null(values, nan_is_null=True).to_numpy(zero_copy_only=False)


def _truth(values) -> np.ndarray:
    """1.0 where `values` (a pyarrow array) reads as true, 0.0 as false, NaN otherwise
    (missing, or no boolean)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _plain_values(values)
    if pa.types.is_boolean(values.type):
        return as_float64(values)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or (
            pa.types.is_string_view(values.type)):
        words = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
        true = pc.match_substring_regex(words, r"^(true|\+?1(\.0*)?)$")
        false = pc.match_substring_regex(words, r"^(false|[+-]?0(\.0*)?)$")
        truth = np.full(len(values), np.nan)
        truth[pc.fill_null(true, False).to_numpy(zero_copy_only=False)] = 1.0
        truth[pc.fill_null(false, False).to_numpy(zero_copy_only=False)] = 0.0
        return truth
    try:
        x = as_float64(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.full(len(values), np.nan)
    x[(x != 0.0) & (x != 1.0)] = np.nan          # -0.0 == 0.0
    return x


def as_string(column):
    import pyarrow as pa

    if pa.types.is_string(column.type):
        return column
    return column.cast(pa.string())
