"""fit(TableFiles(..., memory_budget=...)): in memory or streamed, the same fit, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.estimators.test_checkpoint import (Interrupted, _assert_same_fit, _data, _fit_quietly,
                                              _interrupt_after)
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.data import RowSplit, TableFiles
from xentlearn.estimators import _files


@pytest.fixture
def table(tmp_path):
    X, y = _data(n=400)
    rng = np.random.default_rng(0)
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    columns["colour"] = rng.choice(["red", "green", "blue"], len(y))
    columns["w"] = rng.uniform(0.5, 2.0, len(y))
    columns["label"] = np.array(["a", "b", "c"])[y]
    half = len(y) // 2
    t = pa.table(columns)
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(t.slice(0, half), folder / "part-0.parquet", row_group_size=60)
    pq.write_table(t.slice(half), folder / "part-1.parquet", row_group_size=60)
    return TableFiles(folder, target="label", sample_weight="w", batch_rows=48,
                      shuffle_buffer_rows=100)


CASES = {
    "lbfgs L2": lambda: LogisticRegression(alpha=1e-3, tol=1e-10, max_iter=200),
    "lbfgs float32 balanced": lambda: LogisticRegression(dtype=np.float32, max_iter=50,
                                                         class_weight="balanced"),
    "sgd shuffled": lambda: LogisticRegression(solver="sgd", batch_size=16, max_iter=4,
                                               random_state=1),
    "adam early stopping": lambda: MLPClassifier(hidden_layer_sizes=(6,), batch_size=32,
                                                 max_iter=10, early_stopping=True,
                                                 n_iter_no_change=3, random_state=2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_in_memory_and_streaming_fits_are_identical(table, case):
    if case == "adam early stopping":
        table = dataclasses.replace(table, validation_fraction=0.2)
    if case == "sgd shuffled":             # a cross-validation fold's rows
        table = dataclasses.replace(table, row_filters=(RowSplit(5, 0.25, 0.5, inside=False),))
    streamed = _fit_quietly(CASES[case](), dataclasses.replace(table, memory_budget=0))
    cached = _fit_quietly(CASES[case](), table)           # default budget: these rows fit
    _assert_same_fit(cached, streamed)
    assert cached.n_iter_ == streamed.n_iter_


def test_csv_with_a_validation_split_fits_identically(table, tmp_path):
    import pyarrow.csv as pacsv

    rows = pq.read_table(table.files())
    pacsv.write_csv(rows, tmp_path / "train.csv")
    csv = dataclasses.replace(table, path=tmp_path / "train.csv", validation_fraction=0.25,
                              csv_block_bytes=4096)
    streamed = _fit_quietly(CASES["adam early stopping"](), dataclasses.replace(csv,
                                                                                memory_budget=0))
    cached = _fit_quietly(CASES["adam early stopping"](), csv)
    _assert_same_fit(cached, streamed)


def test_prepare_files_passes_the_budget_and_validation_gets_what_is_left(table):
    def prepare(t, **kwargs):
        est = LogisticRegression(early_stopping=kwargs.pop("early", False))
        return _files.prepare_files(est, t, None, None, kwargs.pop("validation", None),
                                    dtype=np.float64, continuing=False, classes=None)

    source = prepare(table)[0]
    assert source.in_memory and source.memory_budget == table.memory_budget_bytes
    size = source.decoded_bytes
    assert not prepare(dataclasses.replace(table, memory_budget=size - 1))[0].in_memory
    assert not prepare(dataclasses.replace(table, memory_budget=0))[0].in_memory
    split = dataclasses.replace(table, validation_fraction=0.25)
    train, valid = prepare(split)[:2]
    assert train.in_memory and valid.in_memory
    # Exactly the training rows' size: the validation rows stream.
    train, valid = prepare(dataclasses.replace(split, memory_budget=train.decoded_bytes))[:2]
    assert train.in_memory and not valid.in_memory
    # Training rows too large: they stream, and the validation rows may still be kept.
    train, valid = prepare(dataclasses.replace(split, memory_budget=valid.decoded_bytes))[:2]
    assert not train.in_memory and valid.in_memory


@pytest.mark.parametrize("first, then", [(0, None), (None, 0)])
def test_checkpoint_resumes_whatever_the_budget(table, tmp_path, monkeypatch, first, then):
    def make(cp):
        return MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, batch_size=16, random_state=0,
                             checkpoint=cp,
                             checkpoint_interval=None if cp is None else 1e-9)

    reference = _fit_quietly(make(None), table)
    path = tmp_path / "fit.ckpt"
    _interrupt_after(monkeypatch, 13)             # inside the first epoch (25 batches)
    with pytest.raises(Interrupted):
        _fit_quietly(make(str(path)), dataclasses.replace(table, memory_budget=first))
    monkeypatch.undo()
    resumed = _fit_quietly(make(str(path)), dataclasses.replace(table, memory_budget=then))
    _assert_same_fit(resumed, reference)


def test_balanced_weights_of_a_class_of_zero_weight_name_the_target_column(tmp_path):
    # The array message named `y` and a `classes` argument, which files have neither.
    from xentlearn.exceptions import XentlearnInputError

    rng = np.random.default_rng(0)
    label = np.array(["a", "b", "c"])[rng.integers(0, 3, 60)]
    pq.write_table(pa.table({"x": rng.normal(size=60), "label": label,
                             "w": np.where(label == "c", 0.0, 1.0)}), tmp_path / "t.parquet")
    files = TableFiles(str(tmp_path / "t.parquet"), target="label", sample_weight="w")
    with pytest.raises(XentlearnInputError, match=r"needs every class in target column "
                                                  r"'label', but class 'c' has zero total "
                                                  r"sample_weight; pass a dict of weights$"):
        LogisticRegression(class_weight="balanced").fit(files)
