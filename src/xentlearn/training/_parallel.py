"""Both cores for full-batch passes: row blocks mapped over worker threads, in order.

Threads, not BLAS threads, share out the work: each worker takes whole row
blocks (the forward and the backward product run while the block is in its
core's cache) with a single-threaded BLAS. OpenBLAS's own threads cost more
than they give on the small products of mini-batches and row blocks, and they
spin while waiting: on a busy 2-core machine an MLP epoch ran an order of
magnitude slower with them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

N_WORKERS = max(1, min(2, os.cpu_count() or 1))


@functools.cache
def _blas_controller() -> ThreadpoolController:
    # Built on first use, not at import, so that BLAS libraries loaded by then
    # (scipy's, through scikit-learn) are controlled too; building one costs ~2 ms.
    return ThreadpoolController()


def _ordered_map(pool: ThreadPoolExecutor, n_workers: int, fn: Callable, iterable: Iterable
                 ) -> Iterator:
    """map(fn, iterable) on `pool`, in input order, with at most 2 * n_workers in flight.

    Bounded so that a streaming source is never read ahead by more than a few
    chunks (``Executor.map`` would submit the whole iterable at once).
    """
    pending: deque = deque()
    for item in iterable:
        pending.append(pool.submit(_quietly, fn, item))
        if len(pending) >= 2 * n_workers:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _quietly(fn: Callable, item):
    # numpy's error state is per thread: the loop's "overflow is divergence, which
    # we detect ourselves" policy has to be set again in each worker.
    with quiet_floating_point():
        return fn(item)


def quiet_floating_point():
    """No RuntimeWarning for overflow, invalid or divide: the loop checks finiteness itself
    and raises DivergenceError, which says more than a warning from inside a kernel."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


@contextlib.contextmanager
def parallel_map(n_workers: int = N_WORKERS):
    """Yield an ordered ``map_fn`` for ``Objective.value_and_grad``, BLAS on one thread.

    Examples
    --------
    >>> import numpy as np
    >>> from xentlearn.data import ArraySource
    >>> from xentlearn.models import Linear
    >>> from xentlearn.objective import Objective, make_loss
    >>> from xentlearn.penalties import Penalty
    >>> X, y = np.random.default_rng(0).normal(size=(1000, 3)), np.arange(1000) % 2
    >>> objective = Objective(Linear(3, 1), make_loss("binary"), Penalty(0.0), "binary")
    >>> params = {"W0": np.zeros((3, 1)), "b0": np.zeros(1)}
    >>> with parallel_map() as map_fn:
    ...     value, grads = objective.value_and_grad(
    ...         params, ArraySource(X, y.astype(float)).batches(None), map_fn=map_fn)
    >>> round(value, 6)                     # log(2) at zero weights
    0.693147
    """
    with _blas_controller().limit(limits=1, user_api="blas"), \
            ThreadPoolExecutor(n_workers) as pool:
        yield functools.partial(_ordered_map, pool, n_workers)
