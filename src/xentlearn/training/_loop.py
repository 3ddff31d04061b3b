"""THE training loop: every model, optimizer, batch size and data source goes through it.

One epoch is one pass over `train`: one optimizer step per mini-batch, or
one step on the full-batch gradient (batch_size None, which is also how
L-BFGS runs: its line search calls back into the same full-batch objective).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from xentlearn import _tree
from xentlearn._types import DataSource, Grads, OptState, Params
from xentlearn.exceptions import DivergenceError
from xentlearn.objective import Objective
from xentlearn.optimizers import GradientTransformation, apply_updates, current_learning_rate
from xentlearn.training._callbacks import EpochRecord, ProgressBar, call_callbacks
from xentlearn.training._parallel import parallel_map, quiet_floating_point

StopReason = Literal["converged", "max_iter", "early_stopping", "callback"]


class FitResult(NamedTuple):
    """What ``fit_loop`` returns: the trained params, the optimizer state (to continue
    training), one EpochRecord per epoch, the number of epochs run, why training
    stopped, and the best validation epoch when early stopping was on."""

    params: Params
    opt_state: OptState
    history: list[EpochRecord]
    n_epochs: int
    stop_reason: StopReason
    best_epoch: int | None


class _FullBatch:
    """The full-batch objective with a one-entry memo keyed by parameter content.

    L-BFGS evaluates its accepted point inside the line search; the next
    iteration asks for the same point again. Comparing parameters (O(n_params))
    is far cheaper than another pass over the data.
    """

    def __init__(self, objective: Objective, train: DataSource, map_fn):
        self._objective, self._train, self._map = objective, train, map_fn
        self._params: Params | None = None
        self._result: tuple[float, Grads] | None = None

    def __call__(self, params: Params) -> tuple[float, Grads]:
        if self._params is not None and all(
                np.array_equal(params[k], self._params[k]) for k in params):
            return self._result
        result = self._objective.value_and_grad(params, self._train.batches(None),
                                                map_fn=self._map)
        self._params, self._result = params, result
        return result


def _max_abs(grads: Grads) -> float:
    return max(float(np.abs(g).max(initial=0.0)) for g in grads.values())


def _divergence(epoch: int, batch: int, what: str, opt_state: OptState, params: Params
                ) -> DivergenceError:
    lr = current_learning_rate(opt_state)
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch}: the {what} became NaN or inf. "
        f"Training stopped and kept the last finite parameters. Try a smaller learning rate "
        f"(learning_rate_init; the step size was {lr:.3g}), or standardise the features.",
        epoch=epoch, batch=batch, params=params)


def fit_loop(objective: Objective, optimizer: GradientTransformation, train: DataSource,
             params: Params, *, max_epochs: int, batch_size: int | None,
             rng: np.random.Generator, opt_state: OptState | None = None, shuffle: bool = True,
             validation: DataSource | None = None, tol: float | None = 1e-4,
             n_iter_no_change: int = 10, grad_tol: float | None = None,
             early_stopping: bool = False, validation_metric: str = "log_loss",
             restore_best_weights: bool = True, min_learning_rate: float = 0.0,
             stop_on_plateau: bool = True, callbacks: Sequence = (), verbose: bool = False,
             first_epoch: int = 1) -> FitResult:
    """Train `params` to minimise `objective` on `train`.

    Parameters
    ----------
    objective, optimizer, train : the maths, the update rule and the data.
    params : dict of str to ndarray
        Starting point; never mutated (updates build new arrays).
    max_epochs : int
        Passes over `train` (iterations for full batch / L-BFGS).
    batch_size : int or None
        None is full-batch gradient descent; 1 is SGD; k is mini-batch.
    rng : numpy Generator
        Shuffles the mini-batch order each epoch (when `shuffle`).
    opt_state : optimizer state, or None for ``optimizer.init(params)``.
    validation : data scored after every epoch (history, early stopping).
    tol, n_iter_no_change :
        scikit-learn's rule: stop once more than `n_iter_no_change`
        consecutive epochs fail to improve the best score by `tol`: the
        validation metric if `early_stopping` ("early_stopping"), else the
        training loss ("converged", only if `stop_on_plateau`). tol None
        disables the training-loss rule (early stopping then uses tol 0).
    grad_tol : float or None
        For full batch: stop once max |gradient| <= grad_tol (L-BFGS's gtol).
    validation_metric : "log_loss" (lower is better) or "accuracy".
    restore_best_weights : with early stopping, return the best epoch's params.
    min_learning_rate : stop once the effective learning rate falls below it
        (scikit-learn's "adaptive" schedule ends training at 1e-6).
    stop_on_plateau : bool
        Whether the training-loss plateau ends training (False where the
        step size reacts to plateaus instead, as with "adaptive").
    callbacks : called as cb(record, params) after each epoch; True stops.
    verbose : a progress bar on stderr.
    first_epoch : number of the first epoch (partial_fit continues counting).

    Returns
    -------
    FitResult
        params, opt_state, history (one EpochRecord per epoch), n_epochs,
        stop_reason, best_epoch (early stopping only).

    Raises
    ------
    DivergenceError
        A NaN or inf loss, gradient or update; carries the last finite params.
    """
    with parallel_map() as map_fn, quiet_floating_point():
        return _fit_loop(objective, optimizer, train, params, max_epochs=max_epochs,
                         batch_size=batch_size, rng=rng, opt_state=opt_state, shuffle=shuffle,
                         validation=validation, tol=tol, n_iter_no_change=n_iter_no_change,
                         grad_tol=grad_tol, early_stopping=early_stopping,
                         validation_metric=validation_metric,
                         restore_best_weights=restore_best_weights,
                         min_learning_rate=min_learning_rate,
                         stop_on_plateau=stop_on_plateau, callbacks=callbacks,
                         verbose=verbose, first_epoch=first_epoch,
                         map_fn=map_fn)


def _fit_loop(objective, optimizer, train, params, *, max_epochs, batch_size, rng, opt_state,
              shuffle, validation, tol, n_iter_no_change, grad_tol, early_stopping,
              validation_metric, restore_best_weights, min_learning_rate, stop_on_plateau,
              callbacks, verbose, first_epoch, map_fn) -> FitResult:
    opt_state = optimizer.init(params) if opt_state is None else opt_state
    full_batch = _FullBatch(objective, train, map_fn) if batch_size is None else None
    history: list[EpochRecord] = []
    higher_is_better = early_stopping and validation_metric == "accuracy"
    best_score, best_params, best_epoch, no_improvement = math.inf, params, None, 0
    stop_reason: StopReason = "max_iter"
    progress = ProgressBar(max_epochs, train.n_batches(batch_size) if full_batch is None else 1,
                           verbose, unit="batch" if full_batch is None else "iteration")
    epoch = first_epoch - 1
    try:
        for epoch in range(first_epoch, first_epoch + max_epochs):
            start = time.perf_counter()
            if full_batch is not None:
                batches = [None]
            else:
                batches = train.batches(batch_size, rng=rng if shuffle else None)
            loss_sum = weight_sum = 0.0
            converged = False
            for batch_number, batch in enumerate(batches, 1):
                if batch is None:
                    value, grads = full_batch(params)
                else:
                    terms = objective.batch_terms(params, batch)
                    loss_sum += terms.loss_sum
                    weight_sum += terms.weight_sum
                    value, grads = objective.finish(terms, params)
                if not math.isfinite(value):
                    raise _divergence(epoch, batch_number, "loss", opt_state, params)
                if not _tree.all_finite(grads):
                    raise _divergence(epoch, batch_number, "gradient", opt_state, params)
                if grad_tol is not None and _max_abs(grads) <= grad_tol:
                    converged = True  # already optimal at the start: take no step
                    train_loss = value
                    break
                updates, opt_state = optimizer.update(
                    grads, opt_state, params, value=value, value_fn=full_batch)
                if full_batch is not None and all(not u.any() for u in updates.values()):
                    converged = True  # the line search found no decrease: nothing left to gain
                new_params = apply_updates(params, updates)
                # One check covers a NaN or inf update and a finite step that overflowed.
                if not _tree.all_finite(new_params):
                    raise _divergence(epoch, batch_number, "update", opt_state, params)
                params = new_params
                progress.batch_done()
            lr = current_learning_rate(opt_state)
            if full_batch is None:
                train_loss = loss_sum / weight_sum + objective.penalty.value(
                    params, objective.penalty_mask)
            else:
                # The objective at the new parameters: L-BFGS's line search already
                # computed it (memo hit), and the next step reuses it.
                train_loss, grads = full_batch(params)
                if not math.isfinite(train_loss):
                    raise _divergence(epoch, 1, "loss", opt_state, params)
                if grad_tol is not None and _max_abs(grads) <= grad_tol:
                    converged = True
            val_loss = val_accuracy = None
            if validation is not None:
                val_loss, val_accuracy = objective.evaluate(params, validation.batches(None))
            record = EpochRecord(epoch, float(train_loss), val_loss, val_accuracy, lr,
                                 time.perf_counter() - start)
            history.append(record)
            progress.epoch_done(record)
            # Callbacks see every epoch, the last one included, before any stopping rule.
            stop_requested = call_callbacks(callbacks, record, params)
            if early_stopping:
                # Judged on validation, with tol and n_iter_no_change as scikit-learn's
                # MLP; whatever decides the step size (adaptive, L-BFGS) is not involved.
                score = -val_accuracy if higher_is_better else val_loss
                plateau_tol = 0.0 if tol is None else tol
            else:
                score, plateau_tol = train_loss, tol
            if plateau_tol is not None:
                if score > best_score - plateau_tol:
                    no_improvement += 1
                else:
                    no_improvement = 0
                if score < best_score:
                    best_score, best_params, best_epoch = score, params, epoch
            if converged:
                stop_reason = "converged"
                break
            if plateau_tol is not None and no_improvement > n_iter_no_change and (
                    early_stopping or stop_on_plateau):
                stop_reason = "early_stopping" if early_stopping else "converged"
                break
            if stop_requested:
                stop_reason = "callback"
                break
            if min_learning_rate and lr < min_learning_rate:
                stop_reason = "converged"
                break
    except DivergenceError as error:
        error.history = history        # the curve up to the failure, to diagnose it
        raise
    finally:
        progress.close()
    if early_stopping and restore_best_weights and best_epoch is not None:
        params = best_params
    return FitResult(params, opt_state, history, epoch - first_epoch + 1, stop_reason,
                     best_epoch if early_stopping else None)
