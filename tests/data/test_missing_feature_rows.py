"""A missing feature value (no imputation) is named by its file and row, however read."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

from tests.data.feature_rows import CSV_ROWS, rows, write


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_fit_names_the_row_of_the_first_missing_value(tmp_path, ext, budget):
    # Row index 37 is the 38th data row; a second gap later in the file is not the first.
    path = tmp_path / f"d.{ext}"
    write(rows(gaps=(37, 50)), path)
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError) as info:
        LogisticRegression(max_iter=3).fit(
            TableFiles(path, target="label", memory_budget=budget, batch_rows=16))
    message = str(info.value)
    assert (f"column 'x' has 2 missing value(s) (null or NaN; first in row 38 of "
            f"{str(path)!r}{counted}); expected none: pass impute='mean'") in message, message


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_the_row_is_in_the_file_that_holds_it(tmp_path, ext, budget):
    # Two files in a folder, the gap (an empty text cell) in the second: its own row.
    write(rows(), tmp_path / f"a.{ext}")
    write(rows(text_gaps=(5,)), tmp_path / f"b.{ext}")
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError,
                       match=rf"column 'colour' has 1 missing value\(s\) \(null or NaN; first "
                             rf"in row 6 of '.*b\.{ext}'{counted}\); expected none"):
        LogisticRegression(max_iter=3).fit(TableFiles(tmp_path, target="label",
                                                      memory_budget=budget))


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_rows_of_a_row_split_keep_their_numbers_in_the_file(tmp_path, ext, budget):
    # The held-out rows are left out of the training side; the gap counted among
    # the rows of the file, whichever side holds it.
    path = tmp_path / f"d.{ext}"
    table = TableFiles(path, target="label", validation_fraction=0.3, memory_budget=budget)
    train, valid = table.split_validation()
    first_train = next(i for i in range(60) if train.row_filters[-1].mask(0, i, 1)[0])
    first_valid = next(i for i in range(60) if valid.row_filters[-1].mask(0, i, 1)[0])
    write(rows(gaps=(first_train, first_valid)), path)
    with pytest.raises(XentlearnInputError, match=rf"first in row {first_train + 1} of "):
        LogisticRegression(max_iter=3).fit(train)
    # Validation rows: transformed by the preprocessing fitted on the training rows.
    write(rows(gaps=(first_valid,)), path)
    with pytest.raises(XentlearnInputError,
                       match=rf"\(null or NaN; first in row {first_valid + 1} of '.*d\.{ext}'.*"
                             r"the model was trained without imputation"):
        LogisticRegression(max_iter=3).fit(table)


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
def test_a_declared_missing_token_is_located_too(tmp_path, budget):
    path = tmp_path / "d.parquet"
    columns = rows()
    columns["colour"][12] = "?"
    write(columns, path)
    with pytest.raises(XentlearnInputError, match=r"first in row 13 of '.*d\.parquet'\)"):
        LogisticRegression(max_iter=3).fit(
            TableFiles(path, target="label", na_values=["?"], memory_budget=budget))


def test_the_error_without_a_reader_is_unchanged_and_pickles():
    from xentlearn.data._column_values import MissingValuesError
    from xentlearn.data._tabular import TabularPreprocessor

    with pytest.raises(MissingValuesError) as info:
        TabularPreprocessor().fit([pa.record_batch({"x": [1.0, None]})])
    assert str(info.value) == ("column 'x' has 1 missing value(s) (null or NaN); expected "
                               "none: pass impute='mean' or drop those rows")
    # Raised on a Dask worker, it travels back pickled.
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.column == "x"
    assert str(again.located("row 2 of 'd.parquet'")).startswith(
        "column 'x' has 1 missing value(s) (null or NaN; first in row 2 of 'd.parquet'); ")
