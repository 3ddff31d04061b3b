"""An infinite feature value is named by its file and row, as a missing one is
(a32fb94): in fit (streamed or kept in memory), in validation rows and in predict."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

from tests.data.feature_rows import CSV_ROWS, rows, write

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_fit_names_the_row_of_the_first_infinite_value(tmp_path, ext, budget):
    path = tmp_path / f"d.{ext}"
    write(rows(infinite=(40, 50)), path)
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError) as info:
        LogisticRegression(max_iter=3).fit(
            TableFiles(path, target="label", memory_budget=budget, batch_rows=16))
    message = str(info.value)
    assert (f"column 'x' has 1 infinite value(s) (first in row 41 of {str(path)!r}{counted}); "
            f"expected finite numbers") in message, message


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
def test_the_row_is_in_the_file_that_holds_it(tmp_path, budget):
    write(rows(), tmp_path / "a.csv")
    write(rows(infinite=(7,)), tmp_path / "b.csv")
    with pytest.raises(XentlearnInputError,
                       match=rf"infinite value\(s\) \(first in row 8 of '.*b\.csv'{CSV_ROWS}\)"):
        LogisticRegression(max_iter=3).fit(TableFiles(tmp_path, target="label",
                                                      memory_budget=budget))


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_validation_rows_and_predictions_name_the_row(tmp_path, ext):
    write(rows(seed=1), tmp_path / f"train.{ext}")
    write(rows(infinite=(21,)), tmp_path / f"new.{ext}")
    where = rf"\(first in row 22 of '.*new\.{ext}'"
    with pytest.raises(XentlearnInputError, match=where):
        LogisticRegression(max_iter=3).fit(TableFiles(tmp_path / f"train.{ext}", target="label"),
                                           validation_data=TableFiles(tmp_path / f"new.{ext}",
                                                                      target="label"))
    model = LogisticRegression(max_iter=3).fit(TableFiles(tmp_path / f"train.{ext}",
                                                          target="label"))
    for method in ("predict", "predict_proba", "score"):
        with pytest.raises(XentlearnInputError, match=where):
            getattr(model, method)(TableFiles(tmp_path / f"new.{ext}", target="label"))


def test_the_error_without_a_reader_is_unchanged_and_pickles():
    from xentlearn.data._column_values import InfiniteValuesError
    from xentlearn.data._tabular import TabularPreprocessor

    with pytest.raises(InfiniteValuesError) as info:
        TabularPreprocessor().fit([pa.record_batch({"x": [1.0, -np.inf, np.inf]})])
    assert str(info.value) == "column 'x' has 2 infinite value(s); expected finite numbers"
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.column == "x"
    assert str(again.located("row 2 of 'd.parquet'")) == (
        "column 'x' has 2 infinite value(s) (first in row 2 of 'd.parquet'); expected finite "
        "numbers")


def test_inf_and_minus_inf_give_the_error_alone_without_a_numpy_warning():
    # inf + -inf in the column's sum is NaN: numpy's "invalid value encountered" warning
    # was printed before the error (an extra 'warning:' line on the command line).
    import warnings

    from xentlearn.data import TabularPreprocessor
    from xentlearn.data._column_values import InfiniteValuesError

    table = pa.table({"c": [1.0, np.inf, -np.inf, 2.0]})
    fitted = TabularPreprocessor().fit([pa.table({"c": [1.0, 2.0, 3.0]})])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InfiniteValuesError, match="2 infinite value"):
            TabularPreprocessor().fit([table])
        with pytest.raises(InfiniteValuesError, match="infinite value"):
            fitted.transform(table)
