"""Where the sums are computed: the one seam between the training loop and an
execution engine.

A backend computes the full-batch value and gradient of an objective over a
data source, runs the rest of one mini-batch epoch, and scores validation
data. The loop never knows which backend it runs on: every backend has the
same three methods, and the loop has one code path. ``ThreadBackend`` maps
full-batch row blocks over two worker threads (BLAS on one thread each);
``SerialBackend`` does everything in the calling thread; both step through
an epoch's mini-batches here, one optimizer step per batch
(``minibatch_epoch``). ``training.DaskBackend`` does the same work where a
cluster holds the data. A backend is a context manager: resources (a thread
pool, a cluster's persisted data) live between ``__enter__`` and
``__exit__``, i.e. for one fit.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from xentlearn import _tree
from xentlearn._types import Batch, DataSource, Grads, OptState, Params
from xentlearn.exceptions import DivergenceError
from xentlearn.objective import Objective
from xentlearn.optimizers import (GradientTransformation, apply_updates, copy_state,
                                  current_learning_rate, updates_in_place)
from xentlearn.training._parallel import N_WORKERS, parallel_map
from xentlearn.training._state import TrainState


class Backend(Protocol):
    """The execution engine of one fit (use as a context manager)."""

    def __enter__(self) -> "Backend": ...

    def __exit__(self, *exc) -> None: ...

    def full_batch(self, objective: Objective, params: Params, source: DataSource
                   ) -> tuple[float, Grads]:
        """F(params) and dF/dparams over every row of `source`."""

    def minibatch_epoch(self, objective: Objective, optimizer: GradientTransformation,
                        source: DataSource, state: TrainState, rng: np.random.Generator | None,
                        batch_size: int, progress, checkpoint) -> tuple[TrainState, float]:
        """The rest of the current epoch, from ``state.batch``: (state, training loss).

        `rng` (None: no shuffle) is the loop's generator at the epoch start;
        the epoch leaves it where its shuffle left it. `progress` is told of
        every step (``batch_done()``); `checkpoint` (or None) is saved with
        the mid-epoch state whenever ``checkpoint.due()``. The training loss
        is the mean of the batch losses, each at the parameters it was
        computed with, plus the penalty at the end. Raises DivergenceError
        with the last finite parameters.
        """

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

    def minibatches(self, source: DataSource, batch_size: int, rng: np.random.Generator | None,
                    skip: int = 0) -> Iterator[Batch]:
        """One epoch's mini-batches, shuffled by `rng`, the first `skip` left out."""
        return source.batches(batch_size, rng=rng, skip=skip)

    def minibatch_epoch(self, objective, optimizer, source, state, rng, batch_size, progress,
                        checkpoint):
        """The rest of the epoch here, one optimizer step per mini-batch of ``minibatches``
        (see ``Backend.minibatch_epoch``).

        A resumed epoch (``state.batch`` = b > 0) draws the same shuffle from the
        same generator state and skips its first b batches, so it takes the
        steps the uninterrupted epoch would have taken, bit for bit.

        Each step's gradients are new arrays that only this loop sees, so an
        optimizer that can (``optimizers.updates_in_place``) writes its updates
        into them and its state into a copy made once per epoch: the caller's
        state is never written, and the bits are those of pure updates. The
        parameters alternate between two buffers of this epoch's making.
        """
        params, opt_state = state.params, state.opt_state
        update = optimizer.update
        if updates_in_place(optimizer):
            update = functools.partial(update, in_place=True)
            opt_state = copy_state(opt_state)
        spare = None        # parameters this epoch made and no longer needs
        loss_sum, weight_sum, taken = state.loss_sum, state.weight_sum, state.batch
        for batch in self.minibatches(source, batch_size, rng, skip=taken):
            terms = objective.batch_terms(params, batch)
            loss_sum += terms.loss_sum
            weight_sum += terms.weight_sum
            value, grads = objective.finish(terms, params)
            check_finite(value, grads, state.epoch, taken + 1, opt_state, params)
            updates, opt_state = update(grads, opt_state, params, value=value)
            new_params = apply_checked(params, updates, state, opt_state, taken + 1, out=spare)
            spare = None if params is state.params else params
            params = new_params
            taken += 1
            progress.batch_done()
            if checkpoint is not None and checkpoint.due():
                checkpoint.save(state._replace(params=params, opt_state=opt_state, batch=taken,
                                               loss_sum=loss_sum, weight_sum=weight_sum))
        train_loss = loss_sum / weight_sum + objective.penalty.value(params,
                                                                      objective.penalty_mask)
        return state._replace(params=params, opt_state=opt_state), float(train_loss)

    def evaluate(self, objective, params, source):
        return objective.evaluate(params, source.batches(None))


class ThreadBackend(SerialBackend):
    """Full-batch row blocks over `n_workers` threads, in order (deterministic sums),
    or in the calling thread where that is faster.

    Whether the threads pay depends on the pass and the machine: a pass bound
    by memory (a binary model's two matrix-vector products over dense rows)
    reads X at the memory's speed from one core, and a second thread only adds
    hand-overs, while a compute-bound one (softmax, wider products) gains from
    both cores. Both ways map the same blocks and sum their terms in the same
    order, BLAS on one thread, so they give the same bits: the backend times
    both on a fit's early passes and keeps the faster, timing the other again
    every ``_RETIME_EVERY`` passes (the machine's load changes).

    Mini-batches run in the calling thread: at their sizes a hand-over between
    threads costs more than it gives (see ``training._parallel``).
    """

    def __init__(self, n_workers: int = N_WORKERS):
        self.n_workers = n_workers
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "ThreadBackend":
        self._stack = contextlib.ExitStack()
        self._threads = self._stack.enter_context(parallel_map(self.n_workers))
        self._timer = _FasterOfTwo()        # per fit: what is faster depends on the data
        return self

    def __exit__(self, *exc) -> None:
        stack, self._stack = self._stack, None
        del self._threads
        stack.close()

    def full_batch(self, objective, params, source):
        threaded = self.n_workers > 1 and self._timer.choose()
        start = time.perf_counter()
        result = objective.value_and_grad(params, source.batches(None),
                                          map_fn=self._threads if threaded else map)
        self._timer.record(threaded, time.perf_counter() - start)
        return result


# A fit's first pass is at its starting point (zero weights: no forward product for a
# linear model), lighter than the others: it is not timed.
_UNTIMED_PASSES = 1
_RETIME_EVERY = 16
_KEPT_TIMES = 3


class _FasterOfTwo:
    """Threads or the calling thread for the next pass: each timed, the faster chosen.

    A way's speed is the best of its last ``_KEPT_TIMES`` passes: the machine
    slows down for seconds at a time, and one slow pass must not make the
    faster way look slower.
    """

    def __init__(self) -> None:
        self.passes = 0
        self.seconds: dict[bool, list[float]] = {True: [], False: []}   # by "threaded"

    def choose(self) -> bool:
        """True: map the next pass over the threads."""
        self.passes += 1
        if self.passes <= _UNTIMED_PASSES or not self.seconds[True]:
            return True
        if not self.seconds[False]:
            return False
        faster = min(self.seconds[True]) <= min(self.seconds[False])
        return not faster if self.passes % _RETIME_EVERY == 0 else faster

    def record(self, threaded: bool, seconds: float) -> None:
        if self.passes > _UNTIMED_PASSES:
            times = self.seconds[threaded]
            times.append(seconds)
            del times[:-_KEPT_TIMES]


# ---------------------------------------------------------------------------- divergence
# Shared by every backend's epoch and the loop's full-batch step: what a NaN or inf
# looks like to the user is decided once.

def check_finite(value, grads, epoch: int, batch: int, opt_state: OptState, params: Params
                 ) -> None:
    """Raise DivergenceError (with `params`, at which they were computed) for a non-finite
    loss or gradient; `epoch` is the 0-based epoch in progress, `batch` 1-based."""
    if not math.isfinite(value):
        raise divergence(epoch + 1, batch, "loss", opt_state, params)
    if not _tree.all_finite(grads):
        raise divergence(epoch + 1, batch, "gradient", opt_state, params)


def apply_checked(params, updates, state: TrainState, opt_state, batch: int, *,
                  out: Params | None = None) -> Params:
    """``apply_updates`` (into `out` when it can), raising DivergenceError (with the old
    params) if the result is not finite."""
    new_params = apply_updates(params, updates, out=out)
    # One check covers a NaN or inf update and a finite step that overflowed.
    if not _tree.all_finite(new_params):
        raise divergence(state.epoch + 1, batch, "update", opt_state, params)
    return new_params


def divergence(epoch: int, batch: int, what: str, opt_state: OptState, params: Params
               ) -> DivergenceError:
    """The DivergenceError of a fit whose `what` ("loss", "gradient", "update") became
    NaN or inf at (epoch, batch), 1-based, carrying the last finite `params`."""
    lr = current_learning_rate(opt_state)
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch}: the {what} became NaN or inf. "
        f"Training stopped and kept the last finite parameters. Try a smaller learning rate "
        f"(learning_rate_init; the step size was {lr:.3g}), or standardise the features.",
        epoch=epoch, batch=batch, params=params)
