"""lbfgs's subsample-first start on a cluster (2 worker processes): the subsample is the
rows memory takes (every tenth of all rows, whatever the chunks), sliced where the parts
are, preconditioned alike, so a dask fit still reaches the in-memory fit's coefficients."""

from __future__ import annotations

import numpy as np
import pytest

import dask.array as da

from tests.dask.conftest import fit_quietly, relative_difference
from tests.estimators.test_subsample_start import _table
from xentlearn import LogisticRegression, training
from xentlearn.data._dask import DaskSource, concatenate


@pytest.fixture
def starts(monkeypatch):
    calls = []
    real = training.subsample_start

    def spy(objective, optimizer, rows, state, **kwargs):
        calls.append((type(rows).__name__, rows.n_samples))
        return real(objective, optimizer, rows, state, **kwargs)

    monkeypatch.setattr(training, "subsample_start", spy)
    return calls


@pytest.mark.parametrize("case", ["binary", "softmax weighted"])
def test_a_cluster_fit_takes_the_start_and_reaches_the_in_memory_fit(client, case, starts):
    classes = 2 if case == "binary" else 3
    X, y = _table(n=100_003, d=6, classes=classes)
    order = np.random.default_rng(1).permutation(len(y))
    X, y = X[order], y[order]
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y)) if "weighted" in case else None
    here = fit_quietly(LogisticRegression(), X, y, sample_weight=w)
    chunks = (33_333, 33_334, 33_336)                # boundaries not multiples of 10
    there = fit_quietly(LogisticRegression(), da.from_array(X, chunks=(chunks, -1)),
                        da.from_array(y, chunks=chunks),
                        sample_weight=None if w is None else da.from_array(w, chunks=chunks))
    assert starts == [("ArraySource", 10_001), ("DaskSource", 10_001)]
    assert there.n_iter_ == here.n_iter_
    assert relative_difference(there.coef_, here.coef_) < 1e-9
    assert relative_difference(there.intercept_, here.intercept_) < 1e-9


def test_every_tenth_row_of_all_rows_sliced_on_the_workers(client):
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(1_007, 3)), rng.integers(0, 2, 1_007), rng.uniform(size=1_007)
    chunks = (95, 3, 400, 509)                       # a part with no row of the subsample
    source = DaskSource.from_collections(da.from_array(X, chunks=(chunks, -1)),
                                         da.from_array(y, chunks=chunks),
                                         da.from_array(w, chunks=chunks), dtype=np.float64)
    rows = source.every(10)
    assert rows.n_samples == 101 and len(rows.parts) == 3
    assert rows.placement() == [source.placement()[i] for i in (0, 2, 3)]
    got = concatenate([rows.fetch(i) for i in range(len(rows.parts))])
    assert np.array_equal(got.X, X[::10]) and np.array_equal(got.targets, y[::10])
    assert np.array_equal(got.sample_weight, w[::10])


def test_the_subsample_is_released_before_the_fit_over_all_rows(client):
    # Sparse slices are copies: held on the workers for the whole fit, they cost a tenth
    # of the non-zeros there.
    import scipy.sparse as sp

    X, y = _table(n=100_003, d=6, classes=2)
    Xd = da.from_array(X, chunks=(25_000, -1)).map_blocks(sp.csr_matrix)
    held = []

    def count_subsample_keys(record, params):
        keys = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        held.append(sum("_every_rows" in str(key) for key in keys))

    fit_quietly(LogisticRegression(callbacks=[count_subsample_keys]), Xd,
                da.from_array(y, chunks=25_000))
    assert held and held[0] == 0
