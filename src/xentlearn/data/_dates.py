"""Dates written as text: which format a column's values are in, and reading them.

pyarrow's ``strptime`` checks a day against 1..31, not against its month: it
reads "2024-02-30" as 2024-03-01 and "2024-04-31" as 2024-05-01. A typo would
then train and predict as another date, silently; ``read_dates`` reads such a
day as no date, and the caller names it.
"""

from __future__ import annotations

import re

import numpy as np

# What a date column expands into, in this order (day of week: Monday = 0, as
# pyarrow's day_of_week and Python's date.weekday).
DATE_PARTS = ("year", "month", "day_of_week", "day_of_year")
# Text date formats recognised, tried in this order: the first that reads every
# sampled value wins (so "01/02/2024" alone is read day first).
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
                "%Y-%m-%d %H:%M", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M",
                "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y",
                "%d-%m-%Y", "%m-%d-%Y")
# A four-digit year first or last, so that versions ("1.2.3") and fractions are not dates.
_DATE_LIKE = re.compile(r"(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
                        r"([ T]\d{1,2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:?\d{2})?")
_DATE_SAMPLE = 200
# A text column whose distinct values are dates but for at most this share is a date
# column (the others are named as errors), as a numeric column with a stray "?" is.
_NOT_DATES_SHARE = 0.05
# Every format starts with its year, month and day, in some order.
_FIRST_THREE_NUMBERS = r"^\s*(?P<a>\d+)\D(?P<b>\d+)\D(?P<c>\d+)"
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
# A day past its month's end reads as the 1st to 3rd of the next month (with a UTC
# offset, %z, any day of either month: those values are all checked).
_ROLLED_DAY_MAX = 3


# Day-first formats and their month-first twins: dates whose days are all 12 or less
# read in both, and the first of DATE_FORMATS (day first) is taken.
DAY_FIRST_TWINS = {"%d/%m/%Y": "%m/%d/%Y", "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
                   "%d/%m/%Y %H:%M:%S": "%m/%d/%Y %H:%M:%S", "%d-%m-%Y": "%m-%d-%Y"}


def reads_month_first_too(values, fmt: str) -> bool:
    """Whether text `values` read in day-first `fmt` (a key of ``DAY_FIRST_TWINS``) read
    month first as well: every day 12 or less, so the format is a guess."""
    return read_dates(values, DAY_FIRST_TWINS[fmt]).null_count == values.null_count


def read_dates(values, fmt: str):
    """`values` (pyarrow strings) read as timestamps (seconds) in the format `fmt`; null
    where a value does not read, or names a day its month does not have.

    Examples
    --------
    >>> import pyarrow as pa
    >>> read_dates(pa.array(["2024-02-29", "2024-02-30", "x", None]), "%Y-%m-%d").to_pylist()
    [datetime.datetime(2024, 2, 29, 0, 0), None, None, None]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    if "%z" in fmt:         # the UTC day may be any: every value read is checked
        rolled = pc.is_valid(parsed)
    else:
        rolled = pc.fill_null(pc.less_equal(pc.day(parsed), _ROLLED_DAY_MAX), False)
    candidates = np.flatnonzero(np.asarray(rolled))
    if len(candidates) == 0:
        return parsed
    numbers = pc.extract_regex(values.take(pa.array(candidates)), _FIRST_THREE_NUMBERS)
    order = re.findall(r"%([Ymd])", fmt)[:3]
    fields = {code: np.asarray(pc.cast(pc.struct_field(numbers, [i]), pa.int64()))
              for i, code in enumerate(order)}
    year, month, day = fields["Y"], fields["m"], fields["d"]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[month - 1] + (leap & (month == 2))
    impossible = np.zeros(len(values), dtype=bool)
    impossible[candidates[day > days]] = True
    return pc.if_else(pa.array(impossible), pa.scalar(None, parsed.type), parsed)


def date_format(values) -> str | None:
    """The format of a text column of dates, else None: the first of DATE_FORMATS that
    reads every sampled distinct value, or failing that the one that reads the most,
    where the others are few (at most ``_NOT_DATES_SHARE`` of them) or shaped as dates
    ("2024-13-45"). Such values are then named by ``read_dates``'s caller, with their
    row, rather than the column silently becoming text (one category per date).

    Examples
    --------
    >>> import pyarrow as pa
    >>> date_format(pa.array(["2024-01-31", "2024-02-01", None]))
    '%Y-%m-%d'
    >>> date_format(pa.array(["2024-01-31", "2024-13-45"]))        # a malformed date
    '%Y-%m-%d'
    >>> date_format(pa.array(["2024-01-31", "never"])) is None     # a word among 2 values
    True
    """
    sample = _distinct_sample(values)
    if not sample:
        return None
    shaped = [bool(_DATE_LIKE.fullmatch(v.strip())) for v in sample]
    if sum(shaped) < (1 - _NOT_DATES_SHARE) * len(sample):
        return None
    best, read = _best_reading(sample)
    if best is None:
        return None
    unread = [v for v, r in zip(sample, read) if not r]
    few = len(unread) <= _NOT_DATES_SHARE * len(sample)
    return best if few or all(_DATE_LIKE.fullmatch(v.strip()) for v in unread) else None


def format_of_dates_among(values) -> str | None:
    """The first of DATE_FORMATS that reads the most of the sampled text `values` (at
    least one), else None: the format of a column fitted on typed dates, given text
    that holds a few values that are not dates, for the caller to name."""
    return _best_reading(_distinct_sample(values))[0]


def _distinct_sample(values) -> list[str]:
    import pyarrow.compute as pc

    return [v for v in pc.unique(values).to_pylist() if v is not None][:_DATE_SAMPLE]


def _best_reading(sample: list[str]) -> tuple[str | None, list[bool] | None]:
    """(The first of DATE_FORMATS that reads the most of `sample`, which values it reads),
    or (None, None) where none reads any."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(sample, pa.string())
    best, best_read, most = None, None, 0
    for fmt in DATE_FORMATS:
        read = pc.is_valid(pc.strptime(array, format=fmt, unit="s", error_is_null=True))
        n_read = pc.sum(read).as_py() or 0
        if n_read > most:
            best, best_read, most = fmt, read.to_pylist(), n_read
            if n_read == len(sample):
                break
    return best, best_read
