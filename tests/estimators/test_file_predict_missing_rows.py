"""predict, predict_proba and score on files name the file and row of a missing feature
value (a model trained without imputation), as fit does since a32fb94."""

from __future__ import annotations

import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

from tests.data.feature_rows import CSV_ROWS, rows, write

TRAINED_WITHOUT = "the model was trained without imputation"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "train.csv"
    write(rows(seed=1), path)
    return LogisticRegression(max_iter=5).fit(TableFiles(path, target="label"))


def _apply(model, method: str, table: TableFiles):
    if method == "score":
        return model.score(table)
    return getattr(model, method)(table)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_the_first_missing_value_is_named_by_its_row(model, tmp_path, ext, method):
    # Row index 37 is the 38th data row (in the Parquet file's third row group).
    path = tmp_path / f"d.{ext}"
    write(rows(gaps=(37, 50)), path)
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError) as info:
        _apply(model, method, TableFiles(path, target="label", batch_rows=16))
    message = str(info.value)
    assert (f"missing value(s) (null or NaN; first in row 38 of {str(path)!r}{counted}); "
            f"{TRAINED_WITHOUT}") in message, message


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_the_row_is_in_the_file_that_holds_it(model, tmp_path, ext):
    write(rows(), tmp_path / f"a.{ext}")
    write(rows(text_gaps=(5,)), tmp_path / f"b.{ext}")
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError,
                       match=rf"column 'colour' has 1 missing value\(s\) \(null or NaN; first "
                             rf"in row 6 of '.*b\.{ext}'{counted}\); {TRAINED_WITHOUT}"):
        model.predict(TableFiles(tmp_path))


def test_rows_of_a_row_split_keep_their_numbers_in_the_file(model, tmp_path):
    # Scoring the held-out side: the gap of a training row is not among its rows.
    path = tmp_path / "d.csv"
    _, valid = TableFiles(path, target="label", validation_fraction=0.3).split_validation()
    held_out = [i for i in range(60) if valid.row_filters[-1].mask(0, i, 1)[0]]
    trained = [i for i in range(60) if i not in held_out]
    write(rows(gaps=(trained[0], held_out[1])), path)
    with pytest.raises(XentlearnInputError, match=rf"first in row {held_out[1] + 1} of "):
        model.score(valid)


def test_a_declared_missing_token_is_located_too(tmp_path):
    path = tmp_path / "train.parquet"
    write(rows(seed=1), path)
    model = LogisticRegression(max_iter=5).fit(TableFiles(path, target="label",
                                                          na_values=["?"]))
    columns = rows()
    columns["colour"][12] = "?"
    write(columns, tmp_path / "new.parquet")
    with pytest.raises(XentlearnInputError, match=r"first in row 13 of '.*new\.parquet'\)"):
        model.predict(TableFiles(tmp_path / "new.parquet"))
