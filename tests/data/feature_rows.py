"""Shared by the tests that a bad feature value (missing, infinite) is named by its file
and row: a small table, written as CSV or Parquet.

Used by tests/data/test_missing_feature_rows.py, test_infinite_feature_rows.py and
tests/estimators/test_file_predict_missing_rows.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# What a CSV file's row number says after it (Parquet rows are counted from 1, nothing added).
CSV_ROWS = ", counting rows after the header, blank lines not counted"


def rows(n: int = 60, *, gaps=(), text_gaps=(), infinite=(), seed: int = 0) -> dict:
    """Columns x (numbers), colour ('r'/'g') and label ('a'/'b') of `n` rows.

    gaps: rows of x that are NaN; text_gaps: rows of colour that are null; infinite: rows
    of x that are inf, -inf, inf, ... in that order.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x[list(gaps)] = np.nan
    for i, row in enumerate(infinite):
        x[row] = np.inf if i % 2 == 0 else -np.inf
    colour = [None if i in text_gaps else c for i, c in enumerate(rng.choice(["r", "g"], n))]
    return {"x": x, "colour": colour, "label": rng.choice(["a", "b"], n)}


def write(columns: dict, path) -> None:
    """Write `columns` (from rows) to `path`: Parquet in row groups of 16 rows, or CSV with
    NaN and null cells empty and infinities as 'inf' / '-inf'."""
    table = pa.table(columns)
    if str(path).endswith(".parquet"):
        pq.write_table(table, path, row_group_size=16)
        return
    lines = ["x,colour,label"]
    for x, c, y in zip(*(table.column(n).to_pylist() for n in ("x", "colour", "label"))):
        lines.append(f"{'' if x is None or x != x else repr(x)},{c or ''},{y}")
    path.write_text("\n".join(lines) + "\n")
