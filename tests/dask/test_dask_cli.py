"""``xentlearn train DATA --scheduler ADDRESS``: the fit on a running Dask cluster (the
`cluster` fixture of conftest.py: 2 worker processes), its errors, and no Dask without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.cli import make_table, write_csv
from tests.dask.conftest import relative_difference
from xentlearn import load
from xentlearn.cli import _train as cli_train
from xentlearn.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three CSV files (numeric, far-from-standard and categorical columns, string target)."""
    folder = tmp_path_factory.mktemp("cluster-files")
    for index, seed in enumerate((0, 1, 2)):
        write_csv(make_table(300 + 50 * index, seed), folder / f"part-{index}.csv")
    return folder


LBFGS = ["--target", "species", "--solver", "lbfgs", "--tol", "1e-10", "--max-iter", "1000",
         "--quiet"]


def _train(capsys, *args) -> tuple[int, str]:
    status = main(["train", *map(str, args)])
    return status, capsys.readouterr().err


def test_train_on_the_cluster_equals_the_fit_here(cluster, folder, tmp_path, capsys):
    from distributed import default_client

    status, err = _train(capsys, folder, *LBFGS, "--out", tmp_path / "here.xent")
    assert status == 0, err
    status, err = _train(capsys, folder, *LBFGS, "--out", tmp_path / "there.xent",
                         "--scheduler", cluster.scheduler_address)
    assert status == 0, err
    # The workers read the files (tasks of _dask_inputs._read_file_part, one per file).
    assert "read_file_part" in cluster.scheduler.task_prefixes
    here, there = load(tmp_path / "here.xent"), load(tmp_path / "there.xent")
    assert here.preprocessing_ == there.preprocessing_
    assert list(here.classes_) == list(there.classes_)
    assert relative_difference(there.coef_, here.coef_) < 1e-6
    assert relative_difference(there.intercept_, here.intercept_) < 1e-6
    # The client was closed after the fit: none is left current in this process.
    with pytest.raises(ValueError):
        default_client()


def test_train_scores_on_the_cluster(cluster, folder, tmp_path, capsys, monkeypatch):
    """The scores that train reports are computed by the workers too (one task per file
    and side of the split): this process reads no rows after the fit, and they are the
    scores of the fit here, to the models' difference."""
    import json

    from xentlearn.data import _table

    args = [folder, "--target", "species", "--solver", "lbfgs", "--tol", "1e-10",
            "--max-iter", "1000", "--validation-fraction", "0.25", "--json"]
    status = main(["train", *map(str, args), "--out", str(tmp_path / "here.xent")])
    here = json.loads(capsys.readouterr().out)
    assert status == 0
    read_here = []
    iter_batches = _table.TableFiles.iter_batches
    monkeypatch.setattr(_table.TableFiles, "iter_batches",
                        lambda self, *a, **k: read_here.append(1) or iter_batches(self, *a, **k))
    status = main(["train", *map(str, args), "--out", str(tmp_path / "there.xent"),
                   "--scheduler", cluster.scheduler_address])
    there = json.loads(capsys.readouterr().out)
    assert status == 0
    assert read_here == []
    assert "file_logits" in cluster.scheduler.task_prefixes
    for side in ("train", "validation"):
        assert there[side]["rows"] == here[side]["rows"] > 0
        assert there[side]["accuracy"] == pytest.approx(here[side]["accuracy"], abs=1e-12)
        assert there[side]["log_loss"] == pytest.approx(here[side]["log_loss"], rel=1e-6)


def test_scheduler_from_the_config_file(cluster, folder, tmp_path, capsys, monkeypatch):
    from xentlearn.estimators import _dask_inputs

    on_cluster = []
    original = _dask_inputs.prepare_files_on_cluster

    def spy(*args, **kwargs):
        on_cluster.append(_dask_inputs._dask.current_client().scheduler.address)
        return original(*args, **kwargs)

    monkeypatch.setattr(_dask_inputs, "prepare_files_on_cluster", spy)
    config = tmp_path / "train.toml"
    config.write_text(f'scheduler = "{cluster.scheduler_address}"\nmax_iter = 3\n')
    status, err = _train(capsys, folder, "--target", "species", "--quiet", "--config", config,
                         "--out", tmp_path / "m.xent")
    assert status == 0, err
    assert on_cluster == [cluster.scheduler_address]


def test_unreachable_scheduler_one_line_exit_2(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "SCHEDULER_TIMEOUT", "1s")
    started = time.perf_counter()
    status, err = _train(capsys, folder, "--target", "species", "--out", tmp_path / "m.xent",
                         "--scheduler", "tcp://127.0.0.1:1")
    assert time.perf_counter() - started < 5
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(
        "xentlearn: error: --scheduler 'tcp://127.0.0.1:1': cannot reach the Dask scheduler "
        "there: "), err
    assert not (tmp_path / "m.xent").exists()


def test_without_the_dask_extra_one_line_exit_2(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)     # import distributed fails
    status, err = _train(capsys, folder, "--target", "species", "--out", tmp_path / "m.xent",
                         "--scheduler", "tcp://127.0.0.1:8786")
    assert status == 2
    assert err.strip() == ("xentlearn: error: --scheduler needs the Dask extra: "
                           "pip install 'xentlearn[dask]'")


def test_without_scheduler_dask_is_never_imported(folder, tmp_path):
    """Start-up time: a train without --scheduler imports neither distributed nor dask."""
    script = textwrap.dedent(f"""
        import sys
        from xentlearn.cli import main
        status = main(["train", {str(folder)!r}, "--target", "species", "--max-iter", "3",
                       "--quiet", "--out", {str(tmp_path / "m.xent")!r}])
        print(status, sorted(m for m in ("distributed", "dask") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split("\n")[-2] == "0 []", (result.stdout, result.stderr)
    assert np.isfinite(load(tmp_path / "m.xent").coef_).all()


@pytest.mark.parametrize("address", ["notanaddress", "tcp://127.0.0.1:1"])
def test_a_failed_connection_leaves_no_client_behind(folder, tmp_path, capsys, monkeypatch,
                                                     address):
    """distributed.Client(bad address) raises but stays the default client, "connecting":
    the next train in this process (main called again, as tests and embedding code do)
    then waited for it forever on its first dask computation."""
    from distributed import default_client

    monkeypatch.setattr(cli_train, "SCHEDULER_TIMEOUT", "1s")
    status, _ = _train(capsys, folder, "--target", "species", "--out", tmp_path / "a.xent",
                       "--scheduler", address)
    assert status == 2
    with pytest.raises(ValueError):
        default_client()
    status, err = _train(capsys, folder, "--target", "species", "--max-iter", "3", "--quiet",
                         "--out", tmp_path / "b.xent")
    assert status == 0, err
