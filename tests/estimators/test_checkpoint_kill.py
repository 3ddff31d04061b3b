"""SIGKILL a fitting process at random moments, resume, and compare with the run that was
never interrupted: parameters equal with np.array_equal, and no checkpoint is ever corrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.estimators import checkpoint_child
from xentlearn.estimators._checkpoint import Checkpoint

CHILD = Path(__file__).with_name("checkpoint_child.py")
CASES = ["lbfgs MLP", "sgd", "adam early stopping", "adam mid-epoch", "adam parquet"]
KILLS_PER_CASE = 4


@pytest.mark.parametrize("case", CASES)
def test_sigkill_at_random_moments_then_resume_equals_the_uninterrupted_run(case, tmp_path):
    parquet = None
    if case == "adam parquet":
        parquet = str(tmp_path / "train.parquet")
        checkpoint_child.write_parquet(parquet)
    reference = checkpoint_child.fit(case, None, parquet)     # never interrupted
    checkpoint = tmp_path / "fit.ckpt"
    command = [sys.executable, str(CHILD), case, str(checkpoint), "resumed.npy"]
    command += [parquet] if parquet else []
    rng = np.random.default_rng(sum(map(ord, case)))
    killed = 0
    for _ in range(KILLS_PER_CASE):
        child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "fitting", child.stderr.read()
        time.sleep(rng.uniform(0.05, 0.6))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            killed += 1
        child.wait(timeout=120)
        if checkpoint.exists():   # never corrupt: it always reads back as a checkpoint
            assert Checkpoint(checkpoint, None, {})._read()[1]["kind"] == "xentlearn-checkpoint"
        if child.returncode == 0:
            break
    assert killed >= 1
    final = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert np.array_equal(np.load(tmp_path / "resumed.npy"), reference)
    assert not checkpoint.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_sigkill_the_command_line_then_resume_equals_the_uninterrupted_run(tmp_path):
    import xentlearn

    data = tmp_path / "train.parquet"
    checkpoint_child.write_parquet(str(data))
    xentlearn_cli = Path(sys.executable).with_name("xentlearn")
    # Long enough (about a second of training) that a kill lands mid-fit however fast
    # the steps get: with 5 epochs a quiet machine finished before the first kill.
    train = [str(xentlearn_cli), "train", str(data), "--target", "label", "--model", "mlp",
             "--hidden-layer-sizes", "16", "--batch-size", "16", "--max-iter", "30", "--tol",
             "0", "--random-state", "5", "--quiet"]
    reference = subprocess.run([*train, "--out", "reference.xent"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    checkpoint = tmp_path / "fit.ckpt"
    resumable = [*train, "--out", "resumed.xent", "--checkpoint", str(checkpoint),
                 "--checkpoint-interval", "0.02"]
    rng = np.random.default_rng(7)
    killed = 0
    for _ in range(KILLS_PER_CASE):
        child = subprocess.Popen(resumable, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            killed += 1
        child.wait(timeout=120)
        if child.returncode == 0:
            break
    assert killed >= 1
    final = subprocess.run(resumable, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    ours, theirs = (xentlearn.load(tmp_path / name) for name in ("resumed.xent", "reference.xent"))
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert np.array_equal(a, b)
    assert not checkpoint.exists()
