"""A date column holding text that is not a date, met while predicting on files, is named
by its file and first row, as text in a numeric column is (8172d00); so is a day its month
does not have (2024-02-30), which pyarrow's strptime reads as the next month's."""

from __future__ import annotations

import datetime
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

N = 100
CSV_ROWS = ", counting rows after the header, blank lines not counted"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _write(path, bad_row=None, bad="oops"):
    start = datetime.date(2024, 1, 1)
    day = [(start + datetime.timedelta(days=3 * i)).isoformat() for i in range(N)]
    if bad_row is not None:
        day[bad_row] = bad
    labels = ["a" if i % 3 else "b" for i in range(N)]
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"day": day, "label": labels}), path, row_group_size=32)
    else:
        path.write_text("day,label\n" + "".join(f"{d},{y}\n" for d, y in zip(day, labels)))


@pytest.fixture(scope="module", params=["csv", "parquet"])
def model(request, tmp_path_factory):
    # Fitted on typed dates (CSV) and on text dates in a format (Parquet strings).
    path = tmp_path_factory.mktemp("train") / f"train.{request.param}"
    _write(path)
    return LogisticRegression(max_iter=20).fit(TableFiles(path, target="label",
                                                          dates="expand"))


@pytest.mark.parametrize("bad", ["oops", "2024-02-30"])
@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("call", ["predict", "predict_proba", "score"])
def test_text_in_a_date_column_names_file_and_row(model, tmp_path, ext, call, bad):
    path = tmp_path / f"p.{ext}"
    _write(path, bad_row=57, bad=bad)
    table = TableFiles(path, target="label")
    with pytest.raises(XentlearnInputError) as error:
        getattr(model, call)(table) if call != "score" else model.score(table)
    message = str(error.value)
    counted = CSV_ROWS if ext == "csv" else ""
    assert message.startswith(f"column 'day' holds dates, but {bad!r} is not one in the format "
                              f"'%Y-%m-%d' (first in row 58 of {str(path)!r}{counted}); fix "
                              "it, or declare such values missing (na_values)"), message


def test_a_folders_second_file(model, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / "a.parquet")
    _write(folder / "b.parquet", bad_row=40, bad="2024-13-01")
    with pytest.raises(XentlearnInputError,
                       match=r"but '2024-13-01' is not one in the format '%Y-%m-%d' \(first in "
                             r"row 41 of '.*b\.parquet'\)"):
        model.predict(TableFiles(folder))


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_a_day_its_month_does_not_have_is_refused_while_fitting(tmp_path, ext):
    # Not 2024-05-01: the model would learn, and later predict, another date.
    path = tmp_path / f"train.{ext}"
    _write(path, bad_row=20, bad="2024-04-31")
    counted = CSV_ROWS if ext == "csv" else ""
    with pytest.raises(XentlearnInputError) as error:
        LogisticRegression(max_iter=5).fit(TableFiles(path, target="label", dates="expand"))
    assert str(error.value).startswith(
        "column 'day' holds dates, but '2024-04-31' is not one in the format '%Y-%m-%d' "
        f"(first in row 21 of {str(path)!r}{counted})"), str(error.value)


def test_the_error_without_a_reader_and_its_pickle():
    from xentlearn.data._column_values import UnreadableDatesError

    error = UnreadableDatesError("d", "column 'd' holds dates, but 'x' is not one", "; fix it",
                                 "%Y-%m-%d")
    assert str(error) == "column 'd' holds dates, but 'x' is not one; fix it"
    values = pa.array(["2024-01-01", None, "x", "2024-01-02", "y", "2023-02-29", "2024-02-29"])
    assert error.rows(values).tolist() == [False, False, True, False, True, True, False]
    assert not error.rows(pa.array([datetime.date(2024, 1, 1)])).any()
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.column == "d" and again.fmt == "%Y-%m-%d"
    assert str(error.located("row 3 of 'd.csv'")) == (
        "column 'd' holds dates, but 'x' is not one (first in row 3 of 'd.csv'); fix it")
    # Without a format (the column was fitted on typed dates), that of the values' dates.
    assert UnreadableDatesError("d", "h", "t").rows(values).tolist() == [
        False, False, True, False, True, True, False]


def test_cli_predict_names_the_row(model, tmp_path, capsys):
    from xentlearn.cli import main

    model.save(tmp_path / "m.xent")
    _write(tmp_path / "p.csv", bad_row=57)
    code = main(["predict", str(tmp_path / "m.xent"), str(tmp_path / "p.csv"),
                 "--out", str(tmp_path / "out.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "'oops' is not one in the format '%Y-%m-%d' (first in row 58 of" in err, err
    assert "p.csv" in err, err


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
def test_fit_names_the_row_too(tmp_path, budget):
    # Text dates whose format the first record batch fixed; 'oops' in a later one.
    path = tmp_path / "d.parquet"
    _write(path, bad_row=70)
    with pytest.raises(XentlearnInputError,
                       match=r"but 'oops' is not one in the format '%Y-%m-%d' \(first in row 71 "
                             r"of '.*d\.parquet'\); fix it"):
        LogisticRegression(max_iter=3).fit(TableFiles(path, target="label", dates="expand",
                                                      memory_budget=budget, batch_rows=32))
