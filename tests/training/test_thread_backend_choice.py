"""ThreadBackend runs each full-batch pass over its threads or in the calling thread,
whichever it timed faster: the same blocks summed in the same order, so the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from xentlearn.data import ArraySource
from xentlearn.models import Linear
from xentlearn.objective import Objective, make_loss
from xentlearn.penalties import Penalty
from xentlearn.training import ThreadBackend
from xentlearn.training import _backends


def _objective_and_source(k: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 30))
    y = rng.integers(0, k, 60_000)
    kind = "binary" if k == 2 else "multiclass"
    n_out = 1 if k == 2 else k
    objective = Objective(Linear(30, n_out), make_loss(kind), Penalty(1e-3), kind)
    params = {"W0": rng.normal(size=(30, n_out)), "b0": rng.normal(size=n_out)}
    return objective, params, ArraySource(X, y.astype(float) if k == 2 else y)


@pytest.mark.parametrize("k", [2, 5])
def test_threads_and_the_calling_thread_give_the_same_bits(k, monkeypatch):
    objective, params, source = _objective_and_source(k)
    results = {}
    for threaded in (True, False):
        monkeypatch.setattr(_backends._FasterOfTwo, "choose", lambda self, t=threaded: t)
        with ThreadBackend(2) as backend:
            results[threaded] = backend.full_batch(objective, params, source)
    assert len(list(source.batches(None))) > 2           # several blocks were mapped
    assert results[True][0] == results[False][0]
    for key in params:
        assert np.array_equal(results[True][1][key], results[False][1][key])


def test_both_ways_are_timed_then_the_faster_is_kept_and_the_other_retimed():
    timer = _backends._FasterOfTwo()
    seconds = {True: 2.0, False: 1.0}                     # the calling thread is faster
    chosen = []
    for _ in range(40):
        threaded = timer.choose()
        chosen.append(threaded)
        timer.record(threaded, seconds[threaded])
    # pass 1 threads, 2 calling thread, then the faster one, the other every 16th pass.
    assert chosen[:2] == [True, False]
    assert [i + 1 for i, t in enumerate(chosen) if t][1:] == [16, 32]
    seconds[False] = 3.0                                  # the load changed
    later = []
    for _ in range(20):
        threaded = timer.choose()
        later.append(threaded)
        timer.record(threaded, seconds[threaded])
    assert later[-5:] == [True] * 5


def test_one_worker_never_hands_over(monkeypatch):
    objective, params, source = _objective_and_source(2)
    calls = []
    monkeypatch.setattr(_backends._FasterOfTwo, "choose", lambda self: calls.append(1) or True)
    with ThreadBackend(1) as backend:
        backend.full_batch(objective, params, source)
    assert calls == []


def test_a_pass_at_zero_parameters_is_not_timed(monkeypatch):
    # Zero weights make no forward product: that pass would make threads look faster
    # than they are. Any other pass, the first of a fit included, is timed.
    objective, params, source = _objective_and_source(2)
    recorded = []
    original = _backends._FasterOfTwo.record
    monkeypatch.setattr(_backends._FasterOfTwo, "record",
                        lambda self, *args: recorded.append(args[0]) or original(self, *args))
    zeros = {key: np.zeros_like(value) for key, value in params.items()}
    with ThreadBackend(2) as backend:
        backend.full_batch(objective, zeros, source)
        assert recorded == []
        backend.full_batch(objective, params, source)
        backend.full_batch(objective, params, source)
    assert recorded == [True, False]
