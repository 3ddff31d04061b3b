"""Where the sums are computed: the one seam between the training loop and an
execution engine.

A backend computes the full-batch value and gradient of an objective over a
data source, hands out the mini-batches of one epoch, and scores validation
data. The loop never knows which backend it runs on. ``ThreadBackend`` maps
full-batch row blocks over two worker threads (BLAS on one thread each);
``SerialBackend`` does everything in the calling thread. A backend is a
context manager: resources (a thread pool, a cluster's persisted data) live
between ``__enter__`` and ``__exit__``, i.e. for one fit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from xentlearn._types import Batch, DataSource, Grads, Params
from xentlearn.objective import Objective
from xentlearn.training._parallel import N_WORKERS, parallel_map


class Backend(Protocol):
    """The execution engine of one fit (use as a context manager)."""

    def __enter__(self) -> "Backend": ...

    def __exit__(self, *exc) -> None: ...

    def full_batch(self, objective: Objective, params: Params, source: DataSource
                   ) -> tuple[float, Grads]:
        """F(params) and dF/dparams over every row of `source`."""

    def minibatches(self, source: DataSource, batch_size: int,
                    rng: np.random.Generator | None, skip: int = 0) -> Iterator[Batch]:
        """One epoch's mini-batches, shuffled by `rng`, the first `skip` left out."""

    def evaluate(self, objective: Objective, params: Params, source: DataSource
                 ) -> tuple[float, float]:
        """(mean log-loss, weighted accuracy) on `source`."""


class SerialBackend:
    """Everything in the calling thread, with the BLAS as configured."""

    def __enter__(self) -> "SerialBackend":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def _map(self, fn, iterable):
        return map(fn, iterable)

    def full_batch(self, objective, params, source):
        return objective.value_and_grad(params, source.batches(None), map_fn=self._map)

    def minibatches(self, source, batch_size, rng, skip=0):
        return source.batches(batch_size, rng=rng, skip=skip)

    def evaluate(self, objective, params, source):
        return objective.evaluate(params, source.batches(None))


class ThreadBackend(SerialBackend):
    """Full-batch row blocks over `n_workers` threads, in order (deterministic sums).

    Mini-batches run in the calling thread: at their sizes a hand-over between
    threads costs more than it gives (see ``training._parallel``).
    """

    def __init__(self, n_workers: int = N_WORKERS):
        self.n_workers = n_workers
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "ThreadBackend":
        self._stack = contextlib.ExitStack()
        self._map = self._stack.enter_context(parallel_map(self.n_workers))
        return self

    def __exit__(self, *exc) -> None:
        stack, self._stack = self._stack, None
        del self._map
        stack.close()
