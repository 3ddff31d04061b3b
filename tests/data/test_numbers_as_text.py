"""A column of numbers with a few text values ("?"): told, in CSV and Parquet alike."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn.data._tabular import ColumnWarning, TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError


def _codes(n: int = 200, markers=None, seed: int = 0) -> list[str]:
    """Codes 1 to 10 as text (few distinct numbers), `markers` {row: text} put in."""
    rng = np.random.default_rng(seed)
    values = [str(v) for v in rng.integers(1, 11, n)]
    for row, text in (markers or {}).items():
        values[row] = text
    return values


def _write(path, column: list[str]) -> None:
    n = len(column)
    labels = ["a" if i % 3 else "b" for i in range(n)]
    x = np.linspace(0.0, 1.0, n)
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"x": x, "code": column, "label": labels}), path)
    else:
        path.write_text("x,code,label\n" + "".join(
            f"{float(a)!r},{c},{y}\n" for a, c, y in zip(x, column, labels)))


def _warnings_of(fit) -> list[ColumnWarning]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w.message for w in caught if isinstance(w.message, ColumnWarning)
            and w.message.problem == "numbers_as_text"]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_a_few_markers_in_a_column_of_codes_are_named(tmp_path, ext):
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles

    path = tmp_path / f"d.{ext}"
    _write(path, _codes(markers={4: "?", 90: "?", 150: "?", 7: "-"}))
    clf = LogisticRegression(max_iter=3)
    found = _warnings_of(lambda: clf.fit(TableFiles(path, target="label")))
    assert len(found) == 1 and found[0].columns == ["code"]
    message = str(found[0])
    assert ("'code' ('?' in 3, '-' in 1 of 200 rows)" in message
            and "one-hot encoded" in message
            and "na_values=['?', '-'] (and impute='mean')" in message), message
    assert clf._preprocessor.kinds_[1] == "categorical"
    # Declared missing, nothing is said, and the column is read as numbers: a CSV
    # column as inferred, a Parquet column of type string as its text reads.
    clf = LogisticRegression(max_iter=3)
    found = _warnings_of(lambda: clf.fit(TableFiles(path, target="label", na_values=["?", "-"],
                                                    impute="mean")))
    assert found == []
    assert clf._preprocessor.kinds_[1] == "numeric"


def test_counts_add_up_across_batches_and_merges():
    column = _codes(markers={i: "?" for i in range(0, 200, 50)})
    table = pa.table({"code": column})
    one = TabularPreprocessor()
    for batch in table.to_batches(max_chunksize=30):
        one.partial_fit(batch)
    merged = TabularPreprocessor().partial_fit(table.slice(0, 120)).merge(
        TabularPreprocessor().partial_fit(table.slice(120)))
    for pre in (one, merged):
        (found,) = _warnings_of(pre.finalize)
        assert "'code' ('?' in 4 of 200 rows)" in str(found), str(found)


@pytest.mark.parametrize("column", [
    ["red", "green", "blue"] * 70,                       # text: no number at all
    _codes(markers={i: "4+" for i in range(0, 200, 2)}),  # a category in half the rows
    _codes(markers={i: f"t{i}" for i in range(6)}),     # 6 distinct text values
    _codes(),                                            # numbers as text only
], ids=["text", "half-the-rows", "six-values", "no-marker"])
def test_text_columns_are_not_taken_for_numbers(column):
    assert _warnings_of(TabularPreprocessor().partial_fit(pa.table({"c": column})).finalize) == []


def test_many_distinct_numbers_with_a_marker_stay_an_error():
    column = [f"{v:.3f}" for v in np.linspace(0, 1, 200)]
    column[3] = "?"
    with pytest.raises(XentlearnInputError, match=r"declare them missing with na_values=\['\?'\]"):
        TabularPreprocessor().fit([pa.table({"c": column})])
