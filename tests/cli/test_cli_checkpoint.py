"""`train --checkpoint`: an interrupted run leaves its checkpoint, `info` names it for what it
is, and running the same command again resumes it and says so."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xentlearn
from tests.cli import make_table, write_csv
from xentlearn.cli import main
from xentlearn.estimators._checkpoint import Checkpoint


def test_an_interrupted_train_resumes_and_says_so(tmp_path, monkeypatch, capsys):
    write_csv(make_table(200, seed=0), tmp_path / "train.csv")
    command = ["train", str(tmp_path / "train.csv"), "--target", "species", "--solver", "adam",
               "--batch-size", "16", "--max-iter", "6", "--tol", "0", "--random-state", "3"]
    checkpoint = tmp_path / "fit.ckpt"
    assert main([*command, "--quiet", "--out", str(tmp_path / "reference.xent")]) == 0

    save = Checkpoint.save
    saves = []

    def save_then_interrupt(self, state):
        save(self, state)
        saves.append(state.epoch)
        if len(saves) == 3:
            raise KeyboardInterrupt       # Ctrl-C right after the third epoch's save

    monkeypatch.setattr(Checkpoint, "save", save_then_interrupt)
    resumable = [*command, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.xent")]
    assert main([*resumable, "--quiet"]) == 130
    monkeypatch.undo()
    assert checkpoint.exists() and not (tmp_path / "m.xent").exists()
    capsys.readouterr()

    assert main(["info", str(checkpoint)]) == 2
    error = capsys.readouterr().err
    assert "is a training checkpoint (saved after epoch 3), not a model file" in error
    assert "resumes it" in error

    assert main([*resumable, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resumed_from"] == str(checkpoint) and report["epochs"] == 6
    assert not checkpoint.exists()
    resumed, reference = (xentlearn.load(tmp_path / name) for name in ("m.xent", "reference.xent"))
    assert np.array_equal(resumed.coef_, reference.coef_)

    assert main([*resumable, "--json"]) == 0      # no checkpoint left: a fresh run
    assert json.loads(capsys.readouterr().out)["resumed_from"] is None


def test_the_summary_names_the_checkpoint_it_resumed(tmp_path, monkeypatch, capsys):
    write_csv(make_table(120, seed=1), tmp_path / "train.csv")
    checkpoint = tmp_path / "fit.ckpt"
    command = ["train", str(tmp_path / "train.csv"), "--target", "species", "--solver", "sgd",
               "--max-iter", "4", "--tol", "0", "--random-state", "0",
               "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.xent")]
    save = Checkpoint.save

    def save_then_interrupt(self, state):
        save(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_interrupt)
    assert main([*command, "--quiet"]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "4 epochs in" in captured.out and f"(resumed from {checkpoint})" in captured.out
    bar_lines = [line for line in captured.err.replace("\r", "\n").splitlines() if "epoch" in line]
    assert bar_lines[0].startswith("epoch 2/4:")        # the log starts where it was


@pytest.mark.parametrize("plot", [[], ["--plot", "curves.png"]], ids=["report", "plot"])
def test_an_interrupt_while_scoring_keeps_the_trained_model(tmp_path, monkeypatch, capsys,
                                                            plot):
    # fit() removes its checkpoint when it returns; the report's scoring pass comes after.
    # The model and history are written before it, so a kill there loses the report (and
    # the plot, which needs the scores) only.
    from xentlearn.cli import _train

    write_csv(make_table(200, seed=0), tmp_path / "train.csv")
    command = ["train", str(tmp_path / "train.csv"), "--target", "species", "--solver", "adam",
               "--batch-size", "16", "--max-iter", "3", "--tol", "0", "--random-state", "3",
               "--checkpoint", str(tmp_path / "fit.ckpt")]
    assert main([*command, "--quiet", "--out", str(tmp_path / "reference.xent")]) == 0

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_train, "score_table", interrupted)
    plot = [plot[0], str(tmp_path / plot[1])] if plot else []
    capsys.readouterr()
    assert main([*command, "--out", str(tmp_path / "m.xent"), *plot]) == 130
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"xentlearn: the trained model was written to {str(tmp_path / 'm.xent')!r} (history "
        f"{str(tmp_path / 'm.history.csv')!r}) before the interrupt; the report (and plot) "
        "is lost",
        "xentlearn: interrupted"]
    monkeypatch.undo()
    assert not (tmp_path / "fit.ckpt").exists()
    assert (tmp_path / "m.history.csv").exists() and not (tmp_path / "curves.png").exists()
    kept, reference = (xentlearn.load(tmp_path / name) for name in ("m.xent", "reference.xent"))
    assert np.array_equal(kept.coef_, reference.coef_)
