"""Training on a real cluster: 2 worker processes (LocalCluster, the `client` fixture of
conftest.py), started once for the module.

Every fit here must reach the in-memory optimum (relative coefficient difference
< 1e-6), keep the data on the workers, and survive a worker killed mid-fit with
the same result, bit for bit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import dask.array as da
import dask.dataframe as dd
from distributed import Client, LocalCluster

from tests.dask.conftest import fit_quietly, problem, relative_difference, soft_labels
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.data._dask import DaskSource, current_client

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _lr(**kw):
    return LogisticRegression(tol=1e-10, max_iter=1000, **kw)


def _worker_pids(client) -> dict:
    return client.run(os.getpid)


CASES = ["binary", "softmax", "weights", "balanced", "soft", "rechunked", "one chunk"]


@pytest.mark.parametrize("case", CASES)
def test_equal_to_in_memory_on_two_workers(client, case):
    classes = 3 if case in ("softmax", "balanced", "soft") else 2
    X, y = problem(n=2000, classes=classes, seed=CASES.index(case))
    w = np.random.default_rng(1).uniform(0, 3, len(y)) if case == "weights" else None
    kw = {"class_weight": "balanced"} if case == "balanced" else {}
    target = soft_labels(y, classes) if case == "soft" else y
    reference = _lr(**kw).fit(X, target, sample_weight=w)
    chunks = {"rechunked": (300, 700, 1, 999), "one chunk": 2000}.get(case, 250)
    Xd = da.from_array(X, chunks=(chunks, -1))
    yd = da.from_array(target, chunks=(500,) + target.shape[1:])
    wd = None if w is None else da.from_array(w, chunks=chunks)
    fitted = _lr(**kw).fit(Xd, yd, sample_weight=wd)
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    assert relative_difference(fitted.intercept_, reference.intercept_) < 1e-6


def test_parts_packed_and_placed_in_one_run_per_worker(client):
    X, y = problem(n=2000)
    source = DaskSource.from_collections(da.from_array(X, chunks=(250, -1)),
                                         da.from_array(y, chunks=250), None, dtype=np.float64)
    assert len(source.parts) == 8
    assert source.shards == [[0, 1, 2, 3], [4, 5, 6, 7]]
    placement = source.placement()
    workers = sorted(client.scheduler_info()["workers"])
    for worker, shard in zip(workers, source.shards):   # each shard on its own worker
        assert all(placement[i] == [worker] for i in shard)
    # X, y (and weights) of a partition were packed into one object: one key, one worker.
    part = source.fetch(0)
    assert part.X.shape == (250, X.shape[1]) and part.targets.shape == (250,)
    np.testing.assert_array_equal(part.X, X[:250])


def test_dataframe_unknown_partitions_classes_missing(client):
    X, y = problem(n=2000, classes=3, seed=5)
    order = np.argsort(y, kind="stable")
    frame = pd.DataFrame(X[order], columns=list("abcdef")).assign(label=y[order])
    ddf = dd.from_pandas(frame, npartitions=6).clear_divisions()
    reference = _lr().fit(frame[list("abcdef")], frame["label"])
    fitted = _lr().fit(ddf[list("abcdef")], ddf["label"])
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    predicted = fitted.predict(ddf[list("abcdef")])
    assert isinstance(predicted, da.Array)
    np.testing.assert_array_equal(predicted.compute(), reference.predict(frame[list("abcdef")]))
    assert fitted.score(ddf[list("abcdef")], ddf["label"]) == pytest.approx(
        reference.score(frame[list("abcdef")], frame["label"]))


def test_mlp_lbfgs_on_cluster(client):
    X, y = problem(n=1500, classes=3, seed=2)
    make = lambda: MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=40,  # noqa: E731
                                 random_state=0)
    reference = fit_quietly(make(), X, y)
    fitted = fit_quietly(make(), da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300))
    for a, b in zip(fitted.coefs_, reference.coefs_):
        assert relative_difference(a, b) < 1e-6


@pytest.fixture
def own_client():
    """A cluster of this test's own: the module's would be one worker short for every
    later test if the nanny failed to restart the killed one (seen once in a full run:
    each later test then waited for its second worker and failed)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client, client.as_current():
        client.wait_for_workers(2, timeout=120)
        yield client


def test_worker_killed_mid_fit_same_result(own_client):
    """SIGKILL one worker process during the fit: its parts are recomputed on the other
    worker (or its restarted successor), the evaluation is retried, and the fitted
    coefficients equal those of an undisturbed fit on the cluster, bit for bit."""
    client = own_client
    assert current_client() is client           # the fits below run on this cluster
    X, y = problem(n=4000, classes=3, seed=3)
    Xd, yd = da.from_array(X, chunks=(400, -1)), da.from_array(y, chunks=400)
    undisturbed = _lr().fit(Xd, yd)
    victim = max(_worker_pids(client).items())[1]
    killed = threading.Event()

    def kill_during_next_evaluation(record, params):
        if record.epoch == 3 and not killed.is_set():
            # A moment later the loop is inside the next evaluation's tasks.
            threading.Timer(0.005, os.kill, (victim, signal.SIGKILL)).start()
            killed.set()

    disturbed = _lr(callbacks=[kill_during_next_evaluation]).fit(Xd, yd)
    assert killed.is_set()
    deadline = time.monotonic() + 30
    while victim in _worker_pids(client).values() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert victim not in _worker_pids(client).values()
    assert disturbed.n_iter_ == undisturbed.n_iter_
    np.testing.assert_array_equal(disturbed.coef_, undisturbed.coef_)
    np.testing.assert_array_equal(disturbed.intercept_, undisturbed.intercept_)


def test_checkpoint_resumes_on_cluster(client, tmp_path):
    X, y = problem(n=1500, classes=3, seed=4)
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)
    path = tmp_path / "fit.ckpt"
    reference = LogisticRegression(max_iter=12, tol=1e-12).fit(Xd, yd)

    def stop_at_five(record, params):
        if record.epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LogisticRegression(max_iter=12, tol=1e-12, checkpoint=path,
                           callbacks=[stop_at_five]).fit(Xd, yd)
    assert path.exists()
    resumed = fit_quietly(LogisticRegression(max_iter=12, tol=1e-12, checkpoint=path), Xd, yd)
    np.testing.assert_array_equal(resumed.coef_, reference.coef_)
    assert not path.exists()


def _adam(**kw):
    return LogisticRegression(solver="adam", batch_size=50, max_iter=6, random_state=0,
                              learning_rate_init=0.01, **kw)


def test_minibatch_one_worker_equals_in_memory(client):
    """All rows on one worker (one chunk): local SGD is the in-memory run, bit for bit."""
    X, y = problem(n=1500, classes=3, seed=6)
    reference = fit_quietly(_adam(), X, y)
    fitted = fit_quietly(_adam(), da.from_array(X, chunks=(1500, -1)),
                         da.from_array(y, chunks=1500))
    np.testing.assert_array_equal(fitted.coef_, reference.coef_)
    assert fitted.loss_curve_ == reference.loss_curve_


def test_minibatch_two_workers_reproducible_and_near_in_memory(client):
    X, y = problem(n=3000, classes=3, seed=7)
    Xd, yd = da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500)
    reference = fit_quietly(_adam(), X, y)
    first, second = fit_quietly(_adam(), Xd, yd), fit_quietly(_adam(), Xd, yd)
    np.testing.assert_array_equal(first.coef_, second.coef_)     # shards fixed, seeded orders
    assert first.loss_curve_[-1] == pytest.approx(reference.loss_curve_[-1], rel=0.05)
    assert first.loss_curve_[-1] < first.loss_curve_[0]
    import dask

    with dask.config.set({"xentlearn.sync-every": 5}):            # more averages per epoch
        synced = fit_quietly(_adam(), Xd, yd)
        # The estimator parameter (DESIGN §7 sync_every) wins over the config key.
        by_parameter = fit_quietly(_adam(sync_every=5), Xd, yd)
        other = fit_quietly(_adam(sync_every=7), Xd, yd)
    assert not np.array_equal(synced.coef_, first.coef_)
    np.testing.assert_array_equal(by_parameter.coef_, synced.coef_)
    assert not np.array_equal(other.coef_, synced.coef_)
    assert synced.loss_curve_[-1] == pytest.approx(reference.loss_curve_[-1], rel=0.05)


def test_worker_killed_during_minibatch_epoch_same_result(client):
    X, y = problem(n=6000, classes=3, seed=8)
    Xd, yd = da.from_array(X, chunks=(1000, -1)), da.from_array(y, chunks=1000)
    undisturbed = fit_quietly(_adam(), Xd, yd)
    victim = max(_worker_pids(client).items())[1]
    killed = threading.Event()

    def kill_during_next_epoch(record, params):
        if record.epoch == 2 and not killed.is_set():
            threading.Timer(0.01, os.kill, (victim, signal.SIGKILL)).start()
            killed.set()

    disturbed = fit_quietly(_adam(callbacks=[kill_during_next_epoch]), Xd, yd)
    assert killed.is_set()
    np.testing.assert_array_equal(disturbed.coef_, undisturbed.coef_)


def test_table_files_read_by_the_workers(client, tmp_path, monkeypatch):
    """With a client current, fit(TableFiles) learns the preprocessing and the classes on
    the workers (each file partial_fit where it is read, merged here) and reads each file
    on a worker through it: this process reads no rows; the same preprocessing and
    optimum as on one machine, the same held-out rows (validation losses equal), and a
    part per file, on the workers."""
    import functools

    import pyarrow as pa
    import pyarrow.parquet as pq

    from xentlearn.data import FileSource, TableFiles, TabularPreprocessor
    from xentlearn.estimators import _dask_inputs, _files

    X, y = problem(n=2400, classes=3, seed=9)
    colours = np.array(["red", "green", "blue"])[np.arange(2400) % 3]
    for i in range(4):
        rows = slice(600 * i, 600 * (i + 1))
        pq.write_table(pa.table({"a": X[rows, 0], "b": X[rows, 1], "c": X[rows, 2],
                                 "colour": colours[rows], "label": y[rows].astype(str)}),
                       tmp_path / f"part{i}.parquet")
    table = TableFiles(tmp_path, target="label", validation_fraction=0.2)
    make = lambda: LogisticRegression(tol=1e-10, max_iter=500)  # noqa: E731
    with _no_client(client):
        assert not _dask_inputs.cluster_current()
        here = fit_quietly(make(), table)
    # Rows read in this process: any FileSource, preprocessor fitting or target scan.
    read_here = []
    for owner, name in ((FileSource, "__init__"), (TabularPreprocessor, "partial_fit")):
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, functools.partialmethod(
            lambda self, *a, _original=original, _name=name, **k:
            read_here.append(_name) or _original(self, *a, **k)))
    from xentlearn.data import _table

    scan_target = _table.scan_target
    monkeypatch.setattr(_table, "scan_target",
                        lambda *a, **k: read_here.append("scan_target") or scan_target(*a, **k))
    on_workers = fit_quietly(make(), table)
    monkeypatch.undo()
    assert read_here == []
    assert on_workers.feature_columns_ == here.feature_columns_
    assert list(on_workers.classes_) == list(here.classes_)
    workers_pre, here_pre = on_workers._preprocessor, here._preprocessor
    assert workers_pre.categories_ == here_pre.categories_
    for key in here_pre.means_:
        assert workers_pre.means_[key] == pytest.approx(here_pre.means_[key], rel=1e-12)
        assert workers_pre.stds_[key] == pytest.approx(here_pre.stds_[key], rel=1e-12)
    assert relative_difference(on_workers.coef_, here.coef_) < 1e-6
    assert on_workers.history_[0]["val_loss"] == pytest.approx(here.history_[0]["val_loss"],
                                                               rel=1e-9)
    train, _ = table.split_validation()
    encode = functools.partial(_files.encode_labels, classes=on_workers.classes_,
                               kind="multiclass", dtype=np.float64, column="label")
    source = _dask_inputs.files_on_workers(train, on_workers.feature_columns_, workers_pre,
                                           encode, np.float64)
    assert len(source.parts) == 4 and source.shards == [[0, 1], [2, 3]]
    assert sorted({w for ws in source.placement() for w in ws}) == sorted(
        client.scheduler_info()["workers"])


def test_table_files_on_the_cluster_weights_balanced_validation_data_partial_fit(
        client, tmp_path, monkeypatch):
    """CSV files with a weight column and class_weight="balanced" (counted on the workers),
    validation_data files: equal to the fit on one machine; partial_fit continues with
    the preprocessing and classes of its first call (no second metadata pass)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from xentlearn.data import TableFiles
    from xentlearn.estimators import _dask_inputs

    X, y = problem(n=1800, classes=3, seed=4)
    w = np.random.default_rng(4).uniform(0.2, 3.0, len(y))
    for name, rows in (("train", range(0, 3)), ("valid", range(3, 4))):
        (tmp_path / name).mkdir()
        for i in rows:
            part = slice(450 * i, 450 * (i + 1))
            pa_csv.write_csv(pa.table({"a": X[part, 0], "b": X[part, 1], "n": np.arange(450) % 7,
                                       "w": w[part], "label": np.array(list("xyz"))[y[part]]}),
                             tmp_path / name / f"{i}.csv")
    table, valid = (TableFiles(tmp_path / name, target="label", sample_weight="w")
                    for name in ("train", "valid"))
    make = lambda: LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=500)  # noqa: E731
    on_workers = fit_quietly(make(), table, validation_data=valid)
    with _no_client(client):
        here = fit_quietly(make(), table, validation_data=valid)
    np.testing.assert_allclose(on_workers._class_weight, here._class_weight, rtol=1e-12)
    assert relative_difference(on_workers.coef_, here.coef_) < 1e-6
    assert on_workers.history_[-1]["val_loss"] == pytest.approx(here.history_[-1]["val_loss"],
                                                                rel=1e-8)

    passes = []
    original = _dask_inputs._fit_on_workers
    monkeypatch.setattr(_dask_inputs, "_fit_on_workers",
                        lambda *a: passes.append(1) or original(*a))
    model = LogisticRegression(solver="adam", batch_size=64, random_state=0)
    model.partial_fit(table, classes=["x", "y", "z"])
    first = model.preprocessing_
    model.partial_fit(table)
    assert passes == [1] and model.preprocessing_ == first and model.n_iter_ == 2


def test_predictions_for_files_made_by_the_workers(client, tmp_path, monkeypatch):
    """With a client current, predict, predict_proba, score and iter_predictions on
    TableFiles read the files on the workers, one task per file, and only predictions come
    back: this process reads no rows, and the numbers are those of reading here, bit for
    bit, in file order, for the rows a validation split keeps; a category unseen in
    training is counted over every file, in one warning per column."""
    import functools

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from xentlearn.data import TableFiles, UnseenCategoryWarning
    from xentlearn.data import _table

    X, y = problem(n=1500, classes=3, seed=6)
    colours = np.array(["red", "green", "blue"])[np.arange(1500) % 3]
    colours[[100, 700, 701, 1400]] = ["pink", "teal", "pink", "mauve"]
    for i in range(3):
        rows = slice(500 * i, 500 * (i + 1))
        colour = colours[rows] if i else np.where(colours[rows] == "pink", "red", colours[rows])
        pa_csv.write_csv(pa.table({"a": X[rows, 0], "b": X[rows, 1], "colour": colour,
                                   "label": y[rows].astype(str)}), tmp_path / f"{i}.csv")
    table = TableFiles(tmp_path, target="label", validation_fraction=0.3)
    train, valid = table.split_validation()
    with _no_client(client):
        model = fit_quietly(LogisticRegression(max_iter=50), TableFiles(tmp_path / "0.csv",
                                                                        target="label"))
        with pytest.warns(UnseenCategoryWarning) as here_warnings:
            here = [list(model.iter_predictions(valid, proba=True)), model.predict(valid),
                    model.predict_proba(train), model.score(table)]
    read_here = []
    iter_batches = _table.TableFiles.iter_batches
    monkeypatch.setattr(_table.TableFiles, "iter_batches", functools.partialmethod(
        lambda self, *a, **k: read_here.append(k.get("file_index")) or iter_batches(
            self, *a, **k)))
    started = set(client.run_on_scheduler(lambda dask_scheduler: list(
        dask_scheduler.task_prefixes)))
    with pytest.warns(UnseenCategoryWarning) as there_warnings:
        there = [list(model.iter_predictions(valid, proba=True)), model.predict(valid),
                 model.predict_proba(train), model.score(table)]
    monkeypatch.undo()
    assert read_here == []
    assert "file_logits" in set(client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.task_prefixes))) - started
    assert len(there[0]) == len(here[0]) == 3          # a batch per file, in file order
    for (labels, proba, truth), (labels_here, proba_here, truth_here) in zip(there[0], here[0]):
        np.testing.assert_array_equal(labels, labels_here)
        np.testing.assert_array_equal(proba, proba_here)
        np.testing.assert_array_equal(truth, truth_here)
    np.testing.assert_array_equal(there[1], here[1])
    np.testing.assert_array_equal(there[2], here[2])
    assert there[3] == here[3]
    assert [str(w.message) for w in there_warnings] == [str(w.message) for w in here_warnings]
    # score(table) reads every row: the unseen rows of two files, one warning.
    assert there_warnings[-1].message.count == 3
    assert there_warnings[-1].message.examples == ["mauve", "pink", "teal"]


def test_a_target_of_a_type_no_label_has_is_refused_on_the_workers(client, tmp_path):
    """A list-typed target read by the workers: the same error as on one machine (it was
    ArrowNotImplementedError from pc.unique on the worker)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xentlearn.data import TableFiles
    from xentlearn.exceptions import XentlearnInputError

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "label": [[1], [2], [1]]}), path)
    with pytest.raises(XentlearnInputError, match=r"target column 'label' has type list"):
        LogisticRegression().fit(TableFiles(path, target="label"))


class _no_client:
    """Makes dask compute locally inside the block (no current distributed client)."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        import dask

        self._config = dask.config.set(scheduler="sync")
        self._config.__enter__()

    def __exit__(self, *exc):
        self._config.__exit__(*exc)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_a_checkpoint_fingerprint_brings_only_the_first_rows(client, sparse, monkeypatch):
    # It fetched the whole first part (and the validation's) to hash 1,024 rows.
    import scipy.sparse as sp

    from xentlearn.estimators._checkpoint import fingerprint

    X, y = problem(n=6000, classes=3, seed=7)
    if sparse:
        X = sp.random(6000, 3000, density=0.4, format="csr", random_state=0)
    source = DaskSource.from_collections(da.from_array(X, chunks=(700, -1)),
                                         da.from_array(y.astype(float), chunks=700), None,
                                         dtype=np.float64)
    whole = fingerprint(type("Parts", (), {"batches": lambda self, b: source.batches(b)})())
    monkeypatch.setattr(DaskSource, "fetch", lambda self, index: pytest.fail("fetched a part"))
    assert fingerprint(source) == whole


def test_temperature_is_fitted_on_logits_the_workers_compute(client, monkeypatch):
    # The validation rows' X came here to fit T; now only their logits and targets do.
    X, y = problem(n=3000, classes=3, seed=8)
    Xd, yd = da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500)

    def fit():
        return fit_quietly(LogisticRegression(calibration="temperature", random_state=0),
                           Xd, yd)

    reference = fit()
    monkeypatch.setattr(DaskSource, "fetch", lambda self, index: pytest.fail("fetched a part"))
    calibrated = fit()
    assert calibrated.temperature_ == reference.temperature_ > 0
    np.testing.assert_array_equal(calibrated.coef_, reference.coef_)


def test_files_whose_dates_fix_other_formats_are_named(client, tmp_path):
    # Each worker fixes a file's date format on its own rows: a file read month first and
    # one whose days are all 12 or less (read day first) cannot be merged; the error names
    # the file (it named none).
    from xentlearn.data import TableFiles
    from xentlearn.exceptions import XentlearnInputError

    folder = tmp_path / "dates"
    folder.mkdir()
    (folder / "a.csv").write_text("d,x,y\n" + "".join(
        f"{m:02d}/{13 + m:02d}/2024,{m},{'pq'[m % 2]}\n" for m in range(1, 13)))
    (folder / "b.csv").write_text("d,x,y\n" + "".join(
        f"{m:02d}/{m:02d}/2024,{m},{'pq'[m % 2]}\n" for m in range(1, 13)))
    with pytest.raises(XentlearnInputError, match=r"holds dates read as '%m/%d/%Y' in some rows "
                       r"and as '%d/%m/%Y' in others.*\(met merging '.*b\.csv'\)"):
        LogisticRegression().fit(TableFiles(folder, target="y", dates="expand"))
