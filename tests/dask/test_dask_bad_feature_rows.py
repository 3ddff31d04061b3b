"""On a cluster (the workers read the files), a missing or infinite feature value is named
by its file, as given, and its row, as on one machine."""

from __future__ import annotations

import numpy as np
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

CSV_ROWS = ", counting rows after the header, blank lines not counted"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _write(path, *, bad=None, seed=0, n=60) -> None:
    """A CSV of x, colour, label; `bad` = (row index, text of x there)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(object)
    if bad is not None:
        x[bad[0]] = bad[1]
    lines = ["x,colour,label"] + [f"{v},{c},{y}" for v, c, y in
                                  zip(x, rng.choice(["r", "g"], n), rng.choice(["a", "b"], n))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A folder 'data' given relative to this process's working directory (the workers'
    is another)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    _write(tmp_path / "data" / "a.csv", seed=1)
    return tmp_path / "data"


@pytest.mark.parametrize("value, what", [("", "missing value(s) (null or NaN; first in"),
                                         ("inf", "infinite value(s) (first in")])
def test_fit_on_the_cluster_names_the_row(client, data, value, what):
    _write(data / "b.csv", bad=(29, value))
    with pytest.raises(XentlearnInputError) as info:
        LogisticRegression(max_iter=3).fit(TableFiles("data", target="label"))
    message = str(info.value)
    assert f"column 'x' has 1 {what} row 30 of 'data/b.csv'{CSV_ROWS})" in message, message


def test_rows_of_a_split_keep_their_numbers_on_the_cluster(client, data):
    table = TableFiles("data", target="label", validation_fraction=0.3)
    train, _ = table.split_validation()
    # The second training row of the second file (file index 1).
    trained = [i for i in range(60) if train.row_filters[-1].mask(1, i, 1)[0]]
    _write(data / "b.csv", bad=(trained[1], ""))
    with pytest.raises(XentlearnInputError,
                       match=rf"first in row {trained[1] + 1} of 'data/b\.csv'"):
        LogisticRegression(max_iter=3).fit(table)


@pytest.mark.parametrize("value, what", [("", "missing value(s) (null or NaN; first in"),
                                         ("-inf", "infinite value(s) (first in")])
def test_predictions_on_the_cluster_name_the_row(client, data, value, what):
    model = LogisticRegression(max_iter=3).fit(TableFiles("data", target="label"))
    _write(data / "b.csv", bad=(44, value))
    with pytest.raises(XentlearnInputError) as info:
        model.predict(TableFiles("data"))
    message = str(info.value)
    assert f"column 'x' has 1 {what} row 45 of 'data/b.csv'{CSV_ROWS})" in message, message
