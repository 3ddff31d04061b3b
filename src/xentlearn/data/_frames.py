"""pandas / polars DataFrames (and pyarrow tables) as pyarrow tables of named columns.

The tabular preprocessing works on pyarrow record batches, the format files are
read in; a DataFrame goes through the same code once its columns are arrow
arrays, so predictions on a DataFrame equal predictions on the same rows read
from a file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from xentlearn.exceptions import XentlearnInputError


def listed_columns(names: Sequence[str], limit: int = 40) -> str:
    """Column names for a message: "'a', 'b'", the first `limit` and how many in all."""
    shown = ", ".join(map(repr, names[:limit]))
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} columns)"


def frame_library(X) -> str | None:
    """"pandas", "polars" or "pyarrow" when X is a table of named columns, else None."""
    module = type(X).__module__.split(".")[0]
    if module == "pandas" and hasattr(X, "columns") and getattr(X, "ndim", 0) == 2:
        return "pandas"
    if module == "polars" and hasattr(X, "schema") and hasattr(X, "to_arrow"):
        return "polars"
    if module == "pyarrow" and hasattr(X, "schema") and hasattr(X, "column"):
        return "pyarrow"
    return None


def frame_columns(X) -> list[str]:
    """The column names of a DataFrame or arrow table, as strings."""
    if frame_library(X) == "pyarrow":
        return list(X.schema.names)
    return [str(c) for c in X.columns]


def arrow_table(X, columns: Sequence[str] | None = None):
    """The `columns` of DataFrame / arrow table `X` as a ``pyarrow.Table``.

    Parameters
    ----------
    X : pandas.DataFrame, polars.DataFrame, pyarrow.Table or pyarrow.RecordBatch
    columns : sequence of str, optional
        Columns to keep, in this order (others are ignored); default all.

    Returns
    -------
    pyarrow.Table with exactly `columns`

    Raises
    ------
    XentlearnInputError
        X lacks some of `columns` (all missing names are given), has a column name
        twice, or a column cannot be represented in arrow (mixed Python objects).
    """
    import pyarrow as pa

    library = frame_library(X)
    if library is None:
        raise XentlearnInputError(
            f"expected a pandas or polars DataFrame (or a pyarrow Table), got {type(X).__name__}")
    names = frame_columns(X)
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated:
        raise XentlearnInputError(f"X has the column name(s) {duplicated} more than once")
    columns = names if columns is None else list(columns)
    present = set(names)
    missing = [c for c in columns if c not in present]
    if missing:
        raise XentlearnInputError(
            f"X lacks the column(s) {missing[:40]} that the preprocessing needs; it has "
            f"{listed_columns(names)}")
    if library == "pyarrow":
        table = X if isinstance(X, pa.Table) else pa.Table.from_batches([X])
        return table.select(columns)
    if library == "polars":
        return X.select(columns).to_arrow()
    # pandas: one column at a time, so a column arrow cannot hold is named.
    by_name = dict(zip(names, X.columns))
    arrays = []
    for name in columns:
        series = X[by_name[name]]
        if getattr(series.dtype, "name", "").startswith("Sparse"):
            series = series.sparse.to_dense()      # arrow has no sparse arrays
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise XentlearnInputError(
                f"column {name!r} of X mixes value types that have no single encoding "
                f"({type(exc).__name__}: {exc}); expected numbers, booleans or strings") from None
    return pa.Table.from_arrays(arrays, names=columns)
