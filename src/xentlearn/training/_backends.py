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
from xentlearn.objective import BatchTerms, Objective
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

    def layout(self, source: DataSource, minibatch: bool) -> dict:
        """What, besides the data and the hyperparameters, decides the bits of a fit on
        `source` (JSON-able): a checkpoint is resumed only by a fit of the same layout."""


class SerialBackend:
    """Everything in the calling thread, with the BLAS as configured."""

    def __enter__(self) -> "SerialBackend":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def _map(self, fn, iterable):
        return map(fn, iterable)

    def layout(self, source, minibatch):
        # Threads add the blocks' sums in block order: the bits of the calling thread's.
        return {"backend": "local"}

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

        The steps are ``MinibatchSteps``'s (the caller's state is never written).
        """
        steps = MinibatchSteps(objective, optimizer, state.params, state.opt_state)
        loss_sum, weight_sum, taken = state.loss_sum, state.weight_sum, state.batch
        for batch in self.minibatches(source, batch_size, rng, skip=taken):
            try:
                terms = steps.step(batch)
            except StepDiverged as exc:
                raise divergence(state.epoch + 1, taken + 1, exc.what, steps.opt_state,
                                 steps.params) from None
            loss_sum += terms.loss_sum
            weight_sum += terms.weight_sum
            taken += 1
            progress.batch_done()
            if checkpoint is not None and checkpoint.due():
                checkpoint.save(state._replace(params=steps.params, opt_state=steps.opt_state,
                                               batch=taken, loss_sum=loss_sum,
                                               weight_sum=weight_sum))
        params = steps.params
        return (state._replace(params=params, opt_state=steps.opt_state),
                objective.epoch_value(loss_sum, weight_sum, params))

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
        # A pass at all-zero parameters (a linear fit's start, when the estimators' first
        # pass has not evaluated it already) makes no forward product: lighter than the
        # others, it is not timed.
        if any(leaf.any() for leaf in params.values()):
            self._timer.record(threaded, time.perf_counter() - start)
        return result


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
        if not self.seconds[True]:
            return True
        if not self.seconds[False]:
            return False
        faster = min(self.seconds[True]) <= min(self.seconds[False])
        return not faster if self.passes % _RETIME_EVERY == 0 else faster

    def record(self, threaded: bool, seconds: float) -> None:
        """The time of the pass just chosen (a pass not recorded is chosen again)."""
        times = self.seconds[threaded]
        times.append(seconds)
        del times[:-_KEPT_TIMES]


# ---------------------------------------------------------------------------- one step
# Every mini-batch step (in this process and on Dask workers) and the loop's full-batch
# step check the same things in the same places; what a NaN or inf looks like to the
# user is decided once (``divergence``).

class StepDiverged(Exception):
    """A step's "loss", "gradient" or "update" (``what``) became NaN or inf."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def check_direction(value: float, grads: Grads) -> None:
    """Raise StepDiverged for a non-finite loss or gradient."""
    if not math.isfinite(value):
        raise StepDiverged("loss")
    if not _tree.all_finite(grads):
        raise StepDiverged("gradient")


def apply_checked(params: Params, updates, *, out: Params | None = None) -> Params:
    """``apply_updates`` (into `out` when it can), raising StepDiverged("update") if the
    result is not finite (`params` are left as they were)."""
    new_params = apply_updates(params, updates, out=out)
    # One check covers a NaN or inf update and a finite step that overflowed.
    if not _tree.all_finite(new_params):
        raise StepDiverged("update")
    return new_params


class MinibatchSteps:
    """One optimizer step per mini-batch from given parameters and optimizer state: the
    step of every mini-batch loop (``SerialBackend`` and the Dask workers' local steps).

    It never writes what it is given. Each step's gradients are arrays that only
    it sees, so an optimizer that can (``optimizers.updates_in_place``) writes
    its updates into them and its state into a copy made here, once: the bits
    are those of pure updates. The parameters alternate between two buffers of
    its own making, and with such an optimizer a step's updates, spent once
    added, are the buffer the next step's flat gradients are written into (such
    updates never share memory with the optimizer's state).

    Attributes
    ----------
    params, opt_state
        After the last step taken. After StepDiverged, `params` are the last
        finite ones (at which the failed step was computed) and `opt_state`
        serves for reporting only (its arrays may hold the failed step).
    """

    def __init__(self, objective: Objective, optimizer: GradientTransformation, params: Params,
                 opt_state: OptState):
        self._objective = objective
        self._update = optimizer.update
        self._in_place = updates_in_place(optimizer)
        if self._in_place:
            self._update = functools.partial(self._update, in_place=True)
            opt_state = copy_state(opt_state)
        self.params, self.opt_state = params, opt_state
        self._given = params
        self._spare = None      # parameters made here and no longer needed
        self._spent = None      # the last updates, when the next gradients may reuse them

    def step(self, batch: Batch) -> BatchTerms:
        """One step on `batch`; returns its terms, for their loss and weight sums (their
        gradient may be the next step's buffer). Raises StepDiverged."""
        params = self.params
        terms = self._objective.batch_terms(params, batch, grads_out=self._spent)
        self._spent = None
        value, grads = self._objective.finish(terms, params)
        check_direction(value, grads)
        updates, self.opt_state = self._update(grads, self.opt_state, params, value=value)
        new_params = apply_checked(params, updates, out=self._spare)
        self._spare = None if params is self._given else params
        self.params = new_params
        if self._in_place and _tree.flat_of(updates) is not None:
            self._spent = updates
        return terms


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
