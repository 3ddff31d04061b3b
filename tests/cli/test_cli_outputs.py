"""Output files a user can trust: all or nothing, the umask's permissions, SIGTERM.

A full disk is simulated in-process by making a write (or fsync) raise
``OSError(ENOSPC)``; SIGTERM is sent to a real ``python -m xentlearn.cli``.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest

import xentlearn
from xentlearn.cli import _report, main
from xentlearn.data import TableFiles
from tests.cli import make_table, write_csv

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
OLD_MODEL, OLD_HISTORY = b"the user's old model", b"the user's old history"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """train.csv, new.csv and a model trained on train.csv."""
    folder = tmp_path_factory.mktemp("outputs")
    write_csv(make_table(60, seed=0), folder / "train.csv")
    write_csv(make_table(30, seed=1), folder / "new.csv")
    model = xentlearn.LogisticRegression(max_iter=50)
    model.fit(TableFiles(folder / "train.csv", target="species"))
    model.save(folder / "model.xent")
    return folder


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def old_outputs(folder):
    (folder / "m.xent").write_bytes(OLD_MODEL)
    (folder / "m.history.csv").write_bytes(OLD_HISTORY)


def train(data, folder, *extra):
    return main(["train", str(data / "train.csv"), "--target", "species", "--max-iter", "5",
                 "--quiet", "--out", str(folder / "m.xent"), *extra])


def one_error_line(capsys) -> str:
    """The one line of stderr that is not a warning (a few epochs may not converge)."""
    lines = [line for line in capsys.readouterr().err.splitlines()
             if not line.startswith("xentlearn: warning:")]
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------------- full disk
def test_train_history_on_a_full_disk_replaces_nothing(data, tmp_path, monkeypatch, capsys):
    old_outputs(tmp_path)

    def write_until_full(history, path):
        with open(path, "w") as file:          # part of the file, then the disk is full
            file.write("epoch,train_loss\n1,0.5\n")
            file.flush()
            raise ENOSPC

    monkeypatch.setattr(_report, "write_history", write_until_full)
    assert train(data, tmp_path) == 2
    line = one_error_line(capsys)
    assert line == (f"xentlearn: error: cannot write {str(tmp_path / 'm.history.csv')!r}: "
                    "No space left on device")
    # The model was trained and written, but it replaces the old one only if
    # its history can be written too; no temporary stays behind.
    assert (tmp_path / "m.xent").read_bytes() == OLD_MODEL
    assert (tmp_path / "m.history.csv").read_bytes() == OLD_HISTORY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.history.csv", "m.xent"]


def test_train_model_on_a_full_disk_names_it(data, tmp_path, monkeypatch, capsys):
    old_outputs(tmp_path)
    real_fsync = os.fsync

    def fsync_full(fd):          # where a full disk shows on some file systems (NFS, ext4)
        raise ENOSPC

    monkeypatch.setattr(os, "fsync", fsync_full)
    assert train(data, tmp_path) == 2
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert one_error_line(capsys) == (
        f"xentlearn: error: cannot write {str(tmp_path / 'm.xent')!r}: No space left on device")
    assert (tmp_path / "m.xent").read_bytes() == OLD_MODEL
    assert (tmp_path / "m.history.csv").read_bytes() == OLD_HISTORY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.history.csv", "m.xent"]


def test_train_plot_failure_replaces_nothing(data, tmp_path, monkeypatch, capsys):
    import matplotlib  # noqa: F401  (a test extra)
    old_outputs(tmp_path)

    def plot_full(history, path, **kwargs):
        path.write_bytes(b"\x89PNG")
        raise ENOSPC

    monkeypatch.setattr(_report, "plot_history", plot_full)
    assert train(data, tmp_path, "--plot", str(tmp_path / "curves.png")) == 2
    assert "cannot write" in one_error_line(capsys)
    assert (tmp_path / "m.xent").read_bytes() == OLD_MODEL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.history.csv", "m.xent"]


@pytest.mark.parametrize("old", [True, False], ids=["replaced", "new"])
def test_train_scoring_error_puts_the_old_outputs_back(data, tmp_path, monkeypatch, capsys,
                                                       old):
    # The model and history are on disk before the scoring pass (a kill there keeps the
    # training); an error there is a failed command, which leaves the user's files.
    from xentlearn.cli import _train
    from xentlearn.exceptions import XentlearnInputError

    if old:
        old_outputs(tmp_path)
    written = []

    def unreadable(estimator, rows):
        written.append(sorted(p.name for p in tmp_path.iterdir()))
        raise XentlearnInputError("validation.csv: row 3 is unreadable")

    monkeypatch.setattr(_train, "score_table", unreadable)
    assert main(["train", str(data / "train.csv"), "--target", "species", "--max-iter", "5",
                 "--quiet", "--json", "--out", str(tmp_path / "m.xent")]) == 2
    assert "row 3 is unreadable" in one_error_line(capsys)
    assert [name for name in written[0] if not name.startswith(".")] == [
        "m.history.csv", "m.xent"]
    if old:
        assert (tmp_path / "m.xent").read_bytes() == OLD_MODEL
        assert (tmp_path / "m.history.csv").read_bytes() == OLD_HISTORY
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["m.history.csv", "m.xent"] if old else [])


class FullDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, path, room: int):
        self.file, self.room = open(path, "wb"), room

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise ENOSPC
        self.room -= len(data)
        return self.file.write(data)

    def close(self):
        self.file.close()
        super().close()


@pytest.mark.parametrize("out", ["pred.csv", "pred.parquet", "pred.csv.gz"])
@pytest.mark.parametrize("room", [0, 40], ids=["header", "rows"])
def test_predict_on_a_full_disk_leaves_old_file_and_no_temporary(data, tmp_path, monkeypatch,
                                                                 capsys, out, room):
    (tmp_path / out).write_bytes(b"old predictions")
    monkeypatch.setattr(pa, "OSFile", lambda path, mode="rb": pa.PythonFile(
        FullDisk(path, room), mode="w"))
    real_stream = pa.CompressedOutputStream
    monkeypatch.setattr(pa, "CompressedOutputStream", lambda path, codec: real_stream(
        pa.PythonFile(FullDisk(path, room), mode="w"), codec))
    status = main(["predict", str(data / "model.xent"), str(data / "new.csv"), "--proba",
                   "--batch-rows", "7", "--out", str(tmp_path / out)])
    assert status == 2
    assert one_error_line(capsys) == (
        f"xentlearn: error: cannot write {str(tmp_path / out)!r}: No space left on device")
    assert (tmp_path / out).read_bytes() == b"old predictions"
    assert [p.name for p in tmp_path.iterdir()] == [out]


# ------------------------------------------------------------------- permissions
@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask", [0o022, 0o027])
@pytest.mark.parametrize("out", ["pred.csv", "pred.parquet"])
def test_prediction_files_follow_the_umask(data, tmp_path, umask, mask, out):
    umask(mask)
    assert main(["predict", str(data / "model.xent"), str(data / "new.csv"),
                 "--out", str(tmp_path / out)]) == 0
    assert stat.S_IMODE((tmp_path / out).stat().st_mode) == 0o666 & ~mask


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_replaced_prediction_file_keeps_its_mode(data, tmp_path, umask):
    umask(0o022)
    out = tmp_path / "pred.csv"
    out.write_text("old")
    out.chmod(0o600)                 # the user made it private: it stays private
    assert main(["predict", str(data / "model.xent"), str(data / "new.csv"),
                 "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith('"prediction"')


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_train_outputs_follow_the_umask(data, tmp_path, umask):
    umask(0o027)
    assert train(data, tmp_path) == 0
    for name in ("m.xent", "m.history.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.history.csv", "m.xent"]


def test_out_and_history_may_not_name_the_same_file(data, tmp_path, capsys):
    assert train(data, tmp_path, "--history", str(tmp_path / "m.xent")) == 2
    assert "--out and --history name the same file" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# One of the command's own inputs as an output: (arguments, the flag refused, the
# input named). Each case runs on copies in its own folder, so a command that did
# write would not spoil the shared files.
OVERWRITES = {
    "predict-out-data": (["predict", "model.xent", "new.csv", "--out", "new.csv"],
                         "--out 'new.csv' is the DATA file 'new.csv'"),
    "predict-out-data-other-spelling": (
        ["predict", "model.xent", "new.csv", "--out", "./sub/../new.csv"],
        "--out 'sub/../new.csv' is the DATA file 'new.csv'"),
    "predict-out-hard-link": (["predict", "model.xent", "new.csv", "--out", "link.csv"],
                              "--out 'link.csv' is the DATA file 'new.csv'"),
    "predict-out-model": (["predict", "model.csv", "new.csv", "--out", "model.csv"],
                          "--out 'model.csv' is the MODEL file 'model.csv'"),
    "train-out-data": (["train", "train.csv", "--target", "species", "--out", "train.csv"],
                       "--out 'train.csv' is the DATA file 'train.csv'"),
    "train-history-data": (["train", "train.csv", "new.csv", "--target", "species",
                            "--history", "new.csv"],
                           "--history 'new.csv' is the DATA file 'new.csv'"),
    "train-default-history-data": (
        ["train", "h.history.csv", "--target", "species", "--out", "h.xent"],
        "--history 'h.history.csv' is the DATA file 'h.history.csv'"),
    "train-out-validation": (["train", "train.csv", "--target", "species", "--validation",
                              "new.csv", "--out", "new.csv"],
                             "--out 'new.csv' is the --validation file 'new.csv'"),
    "train-history-in-data-folder": (
        ["train", "sub", "--target", "species", "--history", "sub/part.csv"],
        "--history 'sub/part.csv' is 'sub/part.csv', a file of the DATA folder 'sub'"),
    "train-checkpoint-data": (["train", "train.csv", "--target", "species", "--checkpoint",
                               "train.csv"],
                              "--checkpoint 'train.csv' is the DATA file 'train.csv'"),
}


@pytest.mark.parametrize("case", list(OVERWRITES))
def test_no_output_replaces_an_input_of_the_command(data, tmp_path, monkeypatch, capsys, case):
    args, fragment = OVERWRITES[case]
    for name in ("train.csv", "new.csv", "model.xent"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    (tmp_path / "model.csv").write_bytes((data / "model.xent").read_bytes())
    (tmp_path / "h.history.csv").write_bytes((data / "train.csv").read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "part.csv").write_bytes((data / "train.csv").read_bytes())
    os.link(tmp_path / "new.csv", tmp_path / "link.csv")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--quiet"] if args[0] == "train" else args) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"xentlearn: error: {args[0]}: "), line
    assert fragment in line and "give" in line, line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_checkpoint_may_not_be_the_model_file(data, tmp_path, capsys):
    # It ran once (the checkpoint is removed before the model is saved), and the
    # next run tried to resume from the model: "not a checkpoint".
    assert train(data, tmp_path, "--checkpoint", str(tmp_path / "m.xent")) == 2
    assert "--out and --checkpoint name the same file" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- SIGTERM
@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_sigterm_during_train_exits_143_and_replaces_nothing(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,y"] + [f"{rng.normal():.4f},{rng.normal():.4f},{'pq'[i % 2]}"
                        for i in range(2000)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.xent"
    model.write_bytes(OLD_MODEL)
    # One row per step and no early stop: hours of training, unless stopped.
    process = subprocess.Popen(
        [sys.executable, "-m", "xentlearn.cli", "train", "train.csv", "--target", "y",
         "--solver", "sgd", "--batch-size", "1", "--max-iter", "100000",
         "--n-iter-no-change", "100000", "--out", "m.xent"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The progress lines on stderr (a pipe) say training has started.
        seen, deadline = b"", time.monotonic() + 60
        while b"epoch 1/" not in seen and time.monotonic() < deadline:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert b"epoch 1/" in seen, seen
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, (seen + err)[-2000:]
    assert err.decode().splitlines()[-1] == "xentlearn: terminated (SIGTERM)"
    assert b"Traceback" not in seen + err
    assert model.read_bytes() == OLD_MODEL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.xent", "train.csv"]


def test_sigterm_handler_is_restored_after_main(data, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    assert main(["info", str(data / "model.xent")]) == 0
    assert signal.getsignal(signal.SIGTERM) is before


_STAGING_CHILD = """
import sys, time
from pathlib import Path
from xentlearn.cli._outputs import StagedOutputs
outputs = StagedOutputs()
outputs.temporary(Path(sys.argv[1]) / "model.xent").write_bytes(b"half a model")
print("staged", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock: staging folders of killed runs "
                    "stay on Windows")
def test_staging_folders_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    from xentlearn.cli._outputs import STAGING_PREFIX, StagedOutputs

    # A run killed with SIGKILL while its outputs were staged: the kernel drops its lock.
    child = subprocess.Popen([sys.executable, "-c", _STAGING_CHILD, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "staged"
    child.kill()
    child.wait()
    killed = [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert len(killed) == 1 and (killed[0] / "model.xent").read_bytes() == b"half a model"
    # A live run's folder (its lock held, here by another open file) is never touched;
    # one without a lock file is left while it may still be being created.
    live = StagedOutputs()
    live.temporary(tmp_path / "other.csv").write_text("in progress")
    fresh = tmp_path / (STAGING_PREFIX + "fresh")
    fresh.mkdir()
    with StagedOutputs() as outputs:
        outputs.temporary(tmp_path / "model.xent").write_bytes(b"a model")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not killed[0].exists()
    assert "model.xent" in names and fresh.exists()
    assert len([n for n in names if n.startswith(STAGING_PREFIX)]) == 2    # live + fresh
    assert (tmp_path / "model.xent").read_bytes() == b"a model"
    live.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "model.xent"]
    # Without a lock file, a folder is abandoned once it is older than any creation takes.
    old = time.time() - 3600
    os.utime(fresh, (old, old))
    with StagedOutputs() as outputs:
        outputs.temporary(tmp_path / "model.xent").write_bytes(b"again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.xent"]
