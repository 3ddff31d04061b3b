"""Text in a column fitted as numeric or boolean, met while predicting on files, is named
by its file and first row, as a missing value is."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

N = 100


def _values(bad_row=None, bad="oops"):
    x = [repr(float(v)) for v in np.linspace(0.0, 1.0, N)]
    if bad_row is not None:
        x[bad_row] = bad
    return x, ["a" if i % 3 else "b" for i in range(N)]


def _write(path, bad_row=None, bad="oops"):
    x, labels = _values(bad_row, bad)
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"x": x, "label": labels}), path)
    else:
        path.write_text("x,label\n" + "".join(f"{a},{y}\n" for a, y in zip(x, labels)))


@pytest.fixture
def model(tmp_path):
    _write(tmp_path / "train.csv")
    return LogisticRegression(max_iter=20).fit(TableFiles(tmp_path / "train.csv", target="label"))


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("call", ["predict", "predict_proba", "score"])
def test_text_in_a_numeric_column_names_file_and_row(model, tmp_path, ext, call):
    path = tmp_path / f"p.{ext}"
    _write(path, bad_row=57)
    table = TableFiles(path, target="label")
    with pytest.raises(XentlearnInputError) as error:
        getattr(model, call)(table) if call != "score" else model.score(table)
    message = str(error.value)
    assert message.startswith("column 'x' was numeric when the preprocessing was fitted but "
                              "now holds string values that are not numbers (first in row 58 "
                              f"of '{path}'"), message
    assert "'oops'" in message


def test_a_folders_second_file(model, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    # Both files of text (numbers written as text in the first): one kind in the folder.
    _write(folder / "a.parquet")
    _write(folder / "b.parquet", bad_row=9, bad="?")
    with pytest.raises(XentlearnInputError, match=r"first in row 10 of '.*b\.parquet'\) "
                                                  r"\(Failed to parse string: '\?'"):
        model.predict(TableFiles(folder))


def test_the_error_without_a_reader_and_its_pickle():
    from xentlearn.data._column_values import UnreadableValuesError

    column = pa.array(["1", "2", "x", "y"])
    error = UnreadableValuesError("c", "column 'c' was numeric ... not numbers", " (why)")
    assert str(error) == "column 'c' was numeric ... not numbers (why)"
    assert error.rows(column).tolist() == [False, False, True, False]
    assert not error.rows(pa.array(["1", None, "3"])).any()
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.column == "c"
    assert str(error.located("row 3 of 'd.csv'")) == (
        "column 'c' was numeric ... not numbers (first in row 3 of 'd.csv') (why)")


def test_cli_predict_names_the_row(model, tmp_path, capsys):
    from xentlearn.cli import main

    model.save(tmp_path / "m.xent")
    _write(tmp_path / "p.csv", bad_row=57)
    code = main(["predict", str(tmp_path / "m.xent"), str(tmp_path / "p.csv"),
                 "--out", str(tmp_path / "out.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "first in row 58 of" in err and "p.csv" in err, err
