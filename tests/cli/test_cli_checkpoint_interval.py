"""`--checkpoint-interval` without `--checkpoint` is a usage error of the command line, named
by its flags, before anything is read or written (the estimator's own error names its
parameters, and came after train had written the bundled digits); cv refuses it as it
refuses --checkpoint."""

from __future__ import annotations

import pytest

from tests.cli import make_table, write_csv
from xentlearn.cli import main

TRAIN_MESSAGE = "train: --checkpoint-interval needs --checkpoint PATH"


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(make_table(60, seed=0), tmp_path / "train.csv")
    return tmp_path


def _refused(argv, capsys, message: str) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error, error
    assert "checkpoint_interval=" not in error and "checkpoint is None" not in error
    assert len(error.splitlines()) == 1
    return error


def test_train_refuses_an_interval_without_a_checkpoint(data, capsys):
    _refused(["train", "train.csv", "--target", "species", "--checkpoint-interval", "5",
              "--out", "m.xent"], capsys, TRAIN_MESSAGE)
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]


def test_train_refuses_it_before_reading_data(data, capsys):
    # A missing file would be its own error if DATA were read first.
    _refused(["train", "missing.csv", "--target", "species", "--checkpoint-interval", "5"],
             capsys, TRAIN_MESSAGE)


def test_train_on_the_bundled_digits_writes_nothing(data, capsys):
    _refused(["train", "--checkpoint-interval", "5", "--out", "m.xent", "--quiet"],
             capsys, TRAIN_MESSAGE)
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]     # no m-digits folder


def test_train_refuses_an_interval_from_the_config_file(data, capsys):
    (data / "run.toml").write_text('checkpoint_interval = 5\n')
    _refused(["train", "train.csv", "--target", "species", "--config", "run.toml"],
             capsys, TRAIN_MESSAGE)
    assert sorted(p.name for p in data.iterdir()) == ["run.toml", "train.csv"]


def test_train_with_both_flags_trains(data, capsys):
    assert main(["train", "train.csv", "--target", "species", "--checkpoint", "fit.ckpt",
                 "--checkpoint-interval", "5", "--max-iter", "3", "--out", "m.xent",
                 "--quiet"]) == 0
    assert (data / "m.xent").exists() and not (data / "fit.ckpt").exists()


@pytest.mark.parametrize("flags, flag", [
    (["--checkpoint-interval", "5"], "--checkpoint-interval"),
    (["--checkpoint", "fit.ckpt", "--checkpoint-interval", "5"], "--checkpoint"),
    (["--sync-every", "2"], "--sync-every"),
])
def test_cv_refuses_the_interval_as_it_refuses_the_checkpoint(data, capsys, flags, flag):
    _refused(["cv", "train.csv", "--target", "species", "--folds", "2", *flags], capsys,
             f"cv: {flag} applies to train, not to cross-validation")
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]


def test_cv_help_leaves_out_the_flags_it_refuses(capsys):
    assert main(["cv", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "--folds" in shown
    assert not any(flag in shown for flag in ("--checkpoint", "--sync-every"))
