"""THE training loop: every model, optimizer, batch size, data source and backend.

A fit is a sequence of steps on an explicit ``TrainState``. One epoch is one
pass over `train`: one optimizer step per mini-batch, or one step on the
full-batch gradient (batch_size None, which is also how L-BFGS runs: its line
search calls back into the same full-batch objective). After each epoch the
callbacks and the stopping rules see it, and the state may be checkpointed;
with a checkpoint interval, mid-epoch states are written too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from xentlearn._types import DataSource, Grads, OptState, Params
from xentlearn.exceptions import DivergenceError
from xentlearn.objective import Objective
from xentlearn.optimizers import GradientTransformation, current_learning_rate
from xentlearn.training._backends import (Backend, StepDiverged, ThreadBackend, apply_checked,
                                          check_direction, divergence)
from xentlearn.training._callbacks import EpochRecord, ProgressBar, call_callbacks
from xentlearn.training._parallel import quiet_floating_point
from xentlearn.training._state import TrainState, generator_from_state, initial_state, rng_state
from xentlearn.training._stopping import EpochEnd, StopReason, Stopper, max_abs


class FitResult(NamedTuple):
    """What ``fit_loop`` returns.

    params : the trained parameters (the best epoch's when early stopping restores them)
    state : the final TrainState (its params are the last epoch's), to continue training
    stop_reason : "converged", "max_iter", "early_stopping" or "callback"
    best_epoch : the best validation epoch when an early-stopping rule ran, else None
    """

    params: Params
    state: TrainState
    stop_reason: StopReason
    best_epoch: int | None

    @property
    def history(self) -> list[EpochRecord]:
        return list(self.state.history)

    @property
    def opt_state(self) -> OptState:
        return self.state.opt_state

    @property
    def n_epochs(self) -> int:
        return len(self.state.history)


class _FullBatch:
    """The full-batch objective with a one-entry memo keyed by parameter content.

    L-BFGS evaluates its accepted point inside the line search; the loop asks
    for the same point again at the epoch end and the next step. Comparing
    parameters (O(n_params)) is far cheaper than another pass over the data.
    """

    def __init__(self, objective: Objective, train: DataSource, backend: Backend):
        self._objective, self._train, self._backend = objective, train, backend
        self._params: Params | None = None
        self._result: tuple[float, Grads] | None = None

    def __call__(self, params: Params) -> tuple[float, Grads]:
        if self._params is not None and all(
                np.array_equal(params[k], self._params[k]) for k in params):
            return self._result
        result = self._backend.full_batch(self._objective, params, self._train)
        self.remember(params, result)
        return result

    def remember(self, params: Params, result: tuple[float, Grads]) -> None:
        """Take `result` as the objective and its gradient at `params`."""
        self._params, self._result = params, result


def fit_loop(objective: Objective, optimizer: GradientTransformation, train: DataSource,
             start: Params | TrainState, *, max_epochs: int, batch_size: int | None,
             rng: np.random.Generator | None = None, shuffle: bool = True,
             validation: DataSource | None = None, stoppers: Sequence[Stopper] = (),
             callbacks: Sequence = (), verbose: bool = False, backend: Backend | None = None,
             checkpoint=None, start_evaluation: tuple[float, Grads] | None = None
             ) -> FitResult:
    """Train to minimise `objective` on `train`, from params or from a TrainState.

    Parameters
    ----------
    objective, optimizer, train : the maths, the update rule and the data.
    start : dict of str to ndarray, or TrainState
        Parameters to start from (never written: the steps write arrays of their own), or a
        state to continue (a checkpoint, an earlier partial_fit).
    max_epochs : int
        Train until ``state.epoch == max_epochs`` (epochs of a continued state
        count: a state at epoch 3 with max_epochs 5 runs two more).
    batch_size : int or None
        None is full-batch gradient descent; 1 is SGD; k is mini-batch.
    rng : numpy Generator
        Needed with params as `start`: it shuffles the mini-batches of each epoch
        (when `shuffle`); its state lives in the TrainState from then on.
    validation : data scored after every epoch (history, early stopping).
    stoppers : stopping rules (``xentlearn.training.plateau``, ``early_stopping``,
        ``gradient_tolerance``, ...), updated every epoch in order; the first
        reason given stops training. None of them: run max_epochs.
    callbacks : called as cb(record, params) after each epoch; True stops.
    verbose : a progress bar on stderr.
    backend : where the sums are computed; default ``ThreadBackend()``.
    checkpoint : object with ``save(state)`` and ``due() -> bool``, optional
        Saved at every epoch end, and mid-epoch whenever ``due()``.
    start_evaluation : (float, grads), optional
        Full batch only: the objective and its gradient at the starting
        parameters, computed already (the estimators' first pass over the
        data computes it with the column moments), so that the first step
        does not read the data again. Must be what the backend would compute.

    Returns
    -------
    FitResult

    Raises
    ------
    DivergenceError
        A NaN or inf loss, gradient or update; carries the last finite params.
    """
    if isinstance(start, TrainState):
        state = start
    else:
        rng = np.random.default_rng() if rng is None else rng
        state = initial_state(start, optimizer.init(start), rng, tuple(stoppers))
    rng = generator_from_state(state.rng_state)
    backend = ThreadBackend() if backend is None else backend
    full_batch = _FullBatch(objective, train, backend) if batch_size is None else None
    if full_batch is not None and start_evaluation is not None:
        full_batch.remember(state.params, start_evaluation)
    reason: StopReason = "max_iter"
    progress = None
    try:
        # Made inside the try: an interrupt right after the bar is drawn still closes it
        # before the CLI says "interrupted" (a bar closed later would end the output).
        progress = ProgressBar(max_epochs - state.epoch,
                               None if full_batch else train.n_batches(batch_size), verbose,
                               unit="iteration" if full_batch else "batch",
                               first_epoch=state.epoch + 1, batches_done=state.batch)
        with backend, quiet_floating_point():
            while state.epoch < max_epochs:
                started = time.perf_counter()
                if full_batch is not None:
                    state, train_loss, grads, stalled = _full_batch_epoch(full_batch, optimizer,
                                                                          state, progress)
                else:
                    state, train_loss = backend.minibatch_epoch(
                        objective, optimizer, train, state, rng if shuffle else None,
                        batch_size, progress, checkpoint)
                    grads, stalled = None, False
                val_loss = val_accuracy = None
                if validation is not None:
                    val_loss, val_accuracy = backend.evaluate(objective, state.params, validation)
                record = EpochRecord(state.epoch + 1, train_loss, val_loss, val_accuracy,
                                     current_learning_rate(state.opt_state),
                                     time.perf_counter() - started)
                progress.epoch_done(record, None if grads is None else max_abs(grads))
                state, reason = _end_epoch(state, record, grads, stalled, rng, stoppers,
                                           callbacks)
                if checkpoint is not None:
                    checkpoint.save(state)
                if reason != "max_iter":
                    break
    except DivergenceError as error:
        error.history = list(state.history)   # the curve up to the failure, to diagnose it
        raise
    finally:
        if progress is not None:
            progress.close()
    params = state.params
    for rule, rule_state in zip(stoppers, state.stoppers):
        params = rule.result(rule_state, params)
    best = [s.best_epoch for s in state.stoppers if hasattr(s, "best_epoch")]
    return FitResult(params, state, reason, (best[0] or None) if best else None)


def _end_epoch(state, record, grads, stalled, rng, stoppers, callbacks):
    """The state after an epoch ends, and the stop reason ("max_iter": go on)."""
    # Callbacks see every epoch, the last one included, before any stopping rule.
    stop_requested = call_callbacks(callbacks, record, state.params)
    end = EpochEnd(record, state.params, grads, stalled)
    reasons, rule_states = [], []
    for rule, rule_state in zip(stoppers, state.stoppers):
        rule_reason, rule_state = rule.update(end, rule_state)
        reasons.append(rule_reason)
        rule_states.append(rule_state)
    reason = next((r for r in reasons if r is not None),
                  "callback" if stop_requested else "max_iter")
    state = state._replace(epoch=record.epoch, batch=0, loss_sum=0.0, weight_sum=0.0,
                           rng_state=rng_state(rng), stoppers=tuple(rule_states),
                           history=state.history + (record,),
                           stop_reason=None if reason == "max_iter" else reason)
    return state, reason


def _full_batch_epoch(full_batch: _FullBatch, optimizer, state: TrainState, progress):
    """One step on the full-batch objective: (state, F and its gradient at the new
    params, whether the step changed nothing)."""
    params, opt_state = state.params, state.opt_state
    value, grads = full_batch(params)
    try:
        check_direction(value, grads)
        updates, opt_state = optimizer.update(grads, opt_state, params, value=value,
                                              value_fn=full_batch)
        # All-zero updates: the line search found no decrease, nothing is left to gain.
        stalled = all(not u.any() for u in updates.values())
        params = apply_checked(params, updates)
    except StepDiverged as exc:
        raise divergence(state.epoch + 1, 1, exc.what, opt_state, params) from None
    # The objective at the new parameters: L-BFGS's line search already computed
    # it (memo hit), and the next step reuses it.
    value, grads = full_batch(params)
    if not math.isfinite(value):
        raise divergence(state.epoch + 1, 1, "loss", opt_state, params)
    progress.batch_done()
    return state._replace(params=params, opt_state=opt_state), float(value), grads, stalled
