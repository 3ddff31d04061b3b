"""An output written into a DATA (or --validation) folder would be read as data by every
later run over that folder: refused before anything is read, as 918f6ad refuses one that
replaces an input; a name starting with '_' (which a data folder is read without) is not."""

from __future__ import annotations

import pytest

import xentlearn
from xentlearn.cli import main
from xentlearn.data import TableFiles
from tests.cli import make_table, write_csv

# (arguments, the flag refused, the folder named); run in a folder holding data/
# (train.csv), valid/ (new.csv) and model.xent trained on train.csv.
CASES = {
    "predict-out": (["predict", "model.xent", "data", "--out", "data/pred.csv"],
                    "--out 'data/pred.csv' is in the DATA folder 'data'"),
    "predict-out-other-spelling": (["predict", "model.xent", "./data", "--out",
                                    "valid/../data/pred.parquet"],
                                   "--out 'valid/../data/pred.parquet' is in the DATA folder"),
    "train-out": (["train", "data", "--target", "species", "--out", "data/m.xent"],
                  "--out 'data/m.xent' is in the DATA folder 'data'"),
    "train-default-out": (["train", ".", "--target", "species"],
                          "--out 'model.xent' is in the DATA folder '.'"),
    "train-history": (["train", "data", "--target", "species", "--out", "m.xent",
                       "--history", "data/h.csv"],
                      "--history 'data/h.csv' is in the DATA folder 'data'"),
    "train-plot-validation": (["train", "data", "--target", "species", "--out", "m.xent",
                               "--validation", "valid", "--plot", "valid/p.png"],
                              "--plot 'valid/p.png' is in the --validation folder 'valid'"),
}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "valid").mkdir()
    write_csv(make_table(60, seed=0), tmp_path / "data" / "train.csv")
    write_csv(make_table(30, seed=1), tmp_path / "valid" / "new.csv")
    model = xentlearn.LogisticRegression(max_iter=20)
    model.fit(TableFiles(tmp_path / "data" / "train.csv", target="species"))
    model.save(tmp_path / "model.xent")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_an_output_in_a_data_folder_is_refused(folder, monkeypatch, capsys, case):
    args, fragment = CASES[case]
    if case == "train-default-out":
        monkeypatch.chdir(folder / "data")
    before = _files(folder)
    assert main([*args, "--quiet"] if args[0] == "train" else args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines()
             if not line.startswith("xentlearn: warning:")]
    assert len(lines) == 1 and lines[0].startswith(f"xentlearn: error: {args[0]}: "), lines
    assert fragment in lines[0] and "a name starting with '_'" in lines[0], lines[0]
    assert _files(folder) == before


def test_a_name_the_folder_is_read_without_is_written(folder, capsys):
    assert main(["predict", "model.xent", "data", "--out", "data/_pred.csv"]) == 0
    assert (folder / "data" / "_pred.csv").exists()
    # ... and the folder still trains as before, on train.csv alone.
    assert main(["train", "data", "--target", "species", "--max-iter", "3", "--quiet",
                 "--out", "again.xent"]) == 0
