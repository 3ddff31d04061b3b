"""predict and evaluate name the file and row of a missing feature value, and train,
predict and evaluate those of an infinite one (one line, exit 2)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cli import make_table, write_csv
from xentlearn.cli import main

CSV_ROWS = "counting rows after the header, blank lines not counted"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(make_table(80, seed=0), tmp_path / "train.csv")
    assert main(["train", "train.csv", "--target", "species", "--max-iter", "3",
                 "--out", "m.xent", "--quiet"]) == 0
    return tmp_path


def _with(value: str, row: int, path) -> None:
    """new.csv: train.csv's rows with x1 of data row `row` (from 1) set to `value`."""
    lines = (path / "train.csv").read_text().splitlines()
    cells = lines[row].split(",")
    cells[0] = value
    lines[row] = ",".join(cells)
    (path / "new.csv").write_text("\n".join(lines) + "\n")


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    return error


@pytest.mark.parametrize("command", [["predict", "m.xent", "new.csv", "--out", "p.csv"],
                                     ["evaluate", "m.xent", "new.csv"]])
def test_a_missing_value_is_named_by_its_row(folder, capsys, command):
    _with("", 23, folder)
    error = _error(command, capsys)
    assert (f"column 'x1' has 1 missing value(s) (null or NaN; first in row 23 of 'new.csv', "
            f"{CSV_ROWS}); the model was trained without imputation") in error, error
    assert "--impute mean" in error
    assert not (folder / "p.csv").exists()


@pytest.mark.parametrize("command", [["predict", "m.xent", "new.csv", "--out", "p.csv"],
                                     ["evaluate", "m.xent", "new.csv"],
                                     ["train", "new.csv", "--target", "species", "--quiet",
                                      "--out", "n.xent"]])
@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_an_infinite_value_is_named_by_its_row(folder, capsys, command, value):
    _with(value, 41, folder)
    error = _error(command, capsys)
    assert (f"column 'x1' has 1 infinite value(s) (first in row 41 of 'new.csv', {CSV_ROWS}); "
            "expected finite numbers") in error, error
    assert not (folder / "p.csv").exists() and not (folder / "n.xent").exists()


def test_an_unchanged_file_still_predicts(folder, capsys):
    _with(repr(float(np.float64(0.5))), 41, folder)
    assert main(["predict", "m.xent", "new.csv", "--out", "p.csv"]) == 0
