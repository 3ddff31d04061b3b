"""Predictions for TableFiles on the workers stay bounded (DESIGN §7, files larger than
memory): a file whose predictions take more than ``PREDICTION_PIECE_BYTES`` comes back
in several tasks of whole record batches, each at most that size, bit for bit as when
reading here, in order, and the generator keeps few tasks in flight.

Module-scoped 2-worker LocalCluster (conftest.py). The bound is lowered in this process
only: it is passed to the workers with each task.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pytest

from tests.dask.conftest import fit_quietly, problem
from xentlearn import LogisticRegression
from xentlearn.data import TableFiles, UnseenCategoryWarning
from xentlearn.data import _dask
from xentlearn.estimators import _dask_inputs, _files

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BATCH_ROWS = 100


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


@pytest.fixture
def files(tmp_path):
    """A large file (3000 rows: 30 record batches of 100) and a small one (150 rows), a
    text column with categories unseen in training spread over the large file, and a
    model fitted on the small one."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    X, y = problem(n=3150, classes=3, seed=11)
    colours = np.array(["red", "green", "blue"])[np.arange(3150) % 3]
    colours[[10, 1234, 1235, 2500, 2999]] = ["pink", "teal", "pink", "mauve", "teal"]
    labels = np.array(["ant", "bee", "cat"])[y]

    def columns(rows):
        return {"a": X[rows, 0], "b": X[rows, 1], "colour": colours[rows], "label": labels[rows]}

    pa_csv.write_csv(pa.table(columns(slice(0, 3000))), tmp_path / "big.csv")
    pq.write_table(pa.table(columns(slice(3000, 3150))), tmp_path / "small.parquet")
    train = {k: v[3000:] for k, v in columns(slice(0, 3150)).items()}
    train["colour"] = np.array(["red", "green", "blue"])[np.arange(150) % 3]
    pq.write_table(pa.table(train), tmp_path / "train.parquet")
    model = fit_quietly(LogisticRegression(max_iter=30),
                        TableFiles(tmp_path / "train.parquet", target="label"))
    table = TableFiles([tmp_path / "big.csv", tmp_path / "small.parquet"], target="label",
                       batch_rows=BATCH_ROWS, validation_fraction=0.2)
    return model, table


def _batch_bytes(logits, y) -> int:
    return _dask_inputs._result_bytes(logits, y)


def _local(client, model, table):
    with _no_client(client), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(_files.iter_file_logits(model, table, with_target=True))
    return batches, [w.message for w in caught if isinstance(w.message, UnseenCategoryWarning)]


def _on_workers(model, table):
    names = [str(f) for f in table.files()]
    table = dataclasses.replace(table, path=[os.path.abspath(f) for f in table.files()])
    return list(_dask_inputs.file_logits_on_workers(model, table, with_target=True, names=names))


def _assert_same_batches(there, here):
    assert len(there) == len(here)
    for (logits, y), (logits_here, y_here) in zip(there, here):
        assert logits.dtype == logits_here.dtype
        np.testing.assert_array_equal(logits, logits_here)
        np.testing.assert_array_equal(y, y_here)


def _merged_unseen(pieces) -> dict:
    unseen: dict = {}
    for _, piece_unseen in pieces:
        _dask_inputs.merge_unseen(unseen, piece_unseen)
    return unseen


@pytest.mark.parametrize("kept_readers", [4, 0], ids=["reader kept", "read again"])
def test_a_large_file_comes_back_in_pieces_at_most_the_bound(client, files, monkeypatch,
                                                             kept_readers):
    """The large file's held-out rows (a validation split: rows keep their numbers) come
    back in several tasks, each at most the (lowered) bound; the small file in one; the
    batches, in order, are those of reading here, bit for bit, and the unseen categories
    add up to the same counts. 'read again': every worker forgets its open reader, so each
    piece reads its file from the start (a piece continued on another worker)."""
    model, table = files
    valid = table.split_validation()[1]
    here, here_warnings = _local(client, model, valid)
    batch_bytes = max(_batch_bytes(*b) for b in here)
    bound = 4 * batch_bytes
    monkeypatch.setattr(_dask_inputs, "PREDICTION_PIECE_BYTES", bound)
    client.run(lambda: setattr(_dask_inputs, "_KEPT_READERS", kept_readers))
    try:
        pieces = _on_workers(model, valid)
    finally:
        client.run(lambda: setattr(_dask_inputs, "_KEPT_READERS", 4))
    sizes = [sum(_batch_bytes(*b) for b in batches) for batches, _ in pieces]
    assert max(sizes) <= bound
    assert len(pieces) >= 30 * 0.2 * batch_bytes // bound    # the large file: several pieces
    assert len(pieces) > 2
    _assert_same_batches([b for batches, _ in pieces for b in batches], here)
    unseen = _merged_unseen(pieces)
    assert {c: n for c, (n, _) in unseen.items()} == {w.column: w.count for w in here_warnings}


def test_every_row_in_pieces_with_a_bound_below_one_batch(client, files, monkeypatch):
    """A bound smaller than one record batch: one batch per task, still every row, in
    order, the same bits; the unseen categories as reading here (counts and examples)."""
    model, table = files
    here, here_warnings = _local(client, model, table)
    monkeypatch.setattr(_dask_inputs, "PREDICTION_PIECE_BYTES", 1)
    pieces = _on_workers(model, table)
    # 30 batches of the large file, 2 of the small one, and an empty last piece at most
    # for a file that ends where a piece does.
    assert [len(batches) for batches, _ in pieces if batches] == [1] * len(here)
    _assert_same_batches([b for batches, _ in pieces for b in batches], here)
    unseen = _merged_unseen(pieces)
    assert {c: (n, sorted(e)) for c, (n, e) in unseen.items()} == {
        w.column: (w.count, w.examples) for w in here_warnings}


def test_predictions_through_the_estimator_hold_at_most_the_bound(client, files, monkeypatch):
    """predict_proba and score on a client: every task's result that reaches this process
    (recorded as it arrives) is at most the bound, the large file takes several, and the
    numbers are those of reading here."""
    model, table = files
    with _no_client(client), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = [model.predict_proba(table), model.score(table)]
        batch_bytes = max(_batch_bytes(*b) for b in _files.iter_file_logits(
            model, table, with_target=True))
    bound = 5 * batch_bytes
    monkeypatch.setattr(_dask_inputs, "PREDICTION_PIECE_BYTES", bound)
    received = []
    chains = _dask.map_chains_in_order

    def recording(*args, **kwargs):
        for batches, unseen in chains(*args, **kwargs):
            received.append(sum(_batch_bytes(*b) for b in batches))
            yield batches, unseen

    monkeypatch.setattr(_dask, "map_chains_in_order", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        there = [model.predict_proba(table), model.score(table)]
    np.testing.assert_array_equal(there[0], here[0])
    assert there[1] == here[1]
    assert len(received) > 2 * 2 and max(received) <= bound


def test_iter_predictions_keeps_few_tasks_in_flight(client, tmp_path, monkeypatch):
    """iter_predictions over 10 files: when its first batch is yielded, at most the window
    (two tasks per worker) and the next piece of the chain being read have been submitted,
    not a task per file; then every file comes, in order."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    X, y = problem(n=1000, classes=2, seed=3)
    for i in range(10):
        rows = slice(100 * i, 100 * (i + 1))
        pa_csv.write_csv(pa.table({"a": X[rows, 0], "b": X[rows, 1], "label": y[rows]}),
                         tmp_path / f"{i:02d}.csv")
    table = TableFiles(tmp_path, target="label")
    with _no_client(client):
        model = fit_quietly(LogisticRegression(max_iter=20), table)
        here = list(model.iter_predictions(table, proba=True))
    submitted = []
    submit = type(client).submit
    monkeypatch.setattr(type(client), "submit", lambda self, *a, **k: submitted.append(
        k.get("key")) or submit(self, *a, **k))
    predictions = model.iter_predictions(table, proba=True)
    first = next(predictions)
    assert 1 <= len(submitted) <= 2 * len(client.scheduler_info()["workers"]) + 1
    there = [first, *predictions]
    assert len(submitted) >= 10
    assert len(there) == len(here) == 10
    for batch, batch_here in zip(there, here):
        for a, b in zip(batch, batch_here):
            np.testing.assert_array_equal(a, b)
