"""Stopping rules as small pure objects (optax style): ``init`` and ``update``.

Each rule sees the end of every epoch (``EpochEnd``) and returns a stop reason
or None, and its new state. States are NamedTuples of numbers and arrays, so
the training state that holds them is checkpointed without pickle. A rule
may also choose the parameters a fit returns (``result``): early stopping
restores the best epoch's.

The loop updates every rule every epoch, in order, and stops with the first
reason given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np

from xentlearn._types import Grads, Params
from xentlearn.training._callbacks import EpochRecord

StopReason = Literal["converged", "max_iter", "early_stopping", "callback"]
# The reasons a stopped state keeps (``TrainState.stop_reason``): "max_iter" is not one,
# a state at max_iter goes on when a later fit asks for more.
STOP_REASONS = ("converged", "early_stopping", "callback")


class EpochEnd(NamedTuple):
    """What a stopping rule may look at after an epoch."""

    record: EpochRecord
    params: Params
    grads: Grads | None          # the full-batch gradient at `params` (None for mini-batches)
    stalled: bool                # the last step changed nothing (a line search found no decrease)


class Stopper(NamedTuple):
    """A stopping rule: ``init(params) -> state``, ``update(end, state) -> (reason, state)``,
    ``result(state, params) -> params`` (the parameters the fit returns)."""

    init: Callable[[Params], Any]
    update: Callable[[EpochEnd, Any], tuple[StopReason | None, Any]]
    result: Callable[[Any, Params], Params] = lambda state, params: params


class PlateauState(NamedTuple):
    best: float                  # best score so far (inf before the first epoch)
    no_improvement: int          # consecutive epochs that missed best - tol


def _plateau_update(score: float, state: PlateauState, tol: float) -> PlateauState:
    # scikit-learn's rule: an epoch counts as no improvement unless it beats the best by tol.
    count = state.no_improvement + 1 if score > state.best - tol else 0
    return PlateauState(min(score, state.best), count)


def plateau(tol: float, n_iter_no_change: int) -> Stopper:
    """Stop ("converged") once more than `n_iter_no_change` consecutive epochs fail to
    lower the training objective by `tol` (scikit-learn's MLP / SGD rule)."""

    def update(end: EpochEnd, state: PlateauState):
        state = _plateau_update(end.record.train_loss, state, tol)
        return ("converged" if state.no_improvement > n_iter_no_change else None), state

    return Stopper(lambda params: PlateauState(math.inf, 0), update)


class EarlyStoppingState(NamedTuple):
    best: float                  # best validation score, lower is better (accuracy negated)
    no_improvement: int
    best_epoch: int              # 0 before the first epoch
    best_params: Params          # the best epoch's parameters (a reference: updates are pure)


def early_stopping(metric: str, tol: float, n_iter_no_change: int,
                   restore_best_weights: bool = True) -> Stopper:
    """Stop ("early_stopping") once more than `n_iter_no_change` consecutive epochs fail
    to improve the validation `metric` ("log_loss" or "accuracy") by `tol`; with
    `restore_best_weights` the fit returns the best epoch's parameters."""

    def score(record: EpochRecord) -> float:
        return -record.val_accuracy if metric == "accuracy" else record.val_loss

    def update(end: EpochEnd, state: EarlyStoppingState):
        value = score(end.record)
        plateau_state = _plateau_update(value, PlateauState(state.best, state.no_improvement), tol)
        best_epoch, best_params = state.best_epoch, state.best_params
        if value < state.best:
            best_epoch, best_params = end.record.epoch, end.params
        state = EarlyStoppingState(plateau_state.best, plateau_state.no_improvement,
                                   best_epoch, best_params)
        return ("early_stopping" if state.no_improvement > n_iter_no_change else None), state

    def result(state: EarlyStoppingState, params: Params) -> Params:
        return state.best_params if restore_best_weights and state.best_epoch else params

    return Stopper(lambda params: EarlyStoppingState(math.inf, 0, 0, params), update, result)


def _stateless(condition: Callable[[EpochEnd], bool], reason: StopReason) -> Stopper:
    def update(end: EpochEnd, state):
        return (reason if condition(end) else None), state

    return Stopper(lambda params: (), update)


def gradient_tolerance(tol: float, measure: Callable[[Params, Grads], float] | None = None
                       ) -> Stopper:
    """Stop ("converged") once ``measure(params, grads) <= tol`` at the full-batch point
    (L-BFGS's gtol; needs the full-batch gradient). The default measure is
    max |dF/dparams|; OWL-QN passes the max of its pseudo-gradient, the
    optimality measure of the non-smooth objective."""
    measure = measure or (lambda params, grads: max_abs(grads))
    return _stateless(lambda end: end.grads is not None and measure(end.params, end.grads) <= tol,
                      "converged")


def line_search_exhausted() -> Stopper:
    """Stop ("converged") when a step changed nothing: the line search found no
    decrease, so no further progress is possible at this precision."""
    return _stateless(lambda end: end.stalled, "converged")


def minimum_learning_rate(minimum: float) -> Stopper:
    """Stop ("converged") once the effective learning rate falls below `minimum`
    (scikit-learn's "adaptive" schedule ends training at 1e-6)."""
    return _stateless(lambda end: end.record.learning_rate < minimum, "converged")


def max_abs(grads: Grads) -> float:
    """max |g| over every leaf."""
    return max(float(np.abs(g).max(initial=0.0)) for g in grads.values())
