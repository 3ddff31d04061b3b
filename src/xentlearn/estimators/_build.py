"""From estimator hyperparameters to the engine's parts: the learning-rate schedule
and lbfgs's input preconditioner (the optimizers themselves: ``_solvers``).

Kept apart from the estimator class so that the translation (epochs to steps,
data statistics to a preconditioner) reads in one place and is testable
without fitting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xentlearn import optimizers, schedules
from xentlearn._types import Params, Schedule
from xentlearn.data import ColumnMoments
from xentlearn.exceptions import XentlearnInputError

@dataclass(frozen=True)
class EpochSteps:
    """The epoch-based settings of a schedule, in optimizer steps."""

    init: float
    steps_per_epoch: int
    max_epochs: int
    power_t: float
    decay_rate: float
    decay_epochs: int


def _invscaling(s: EpochSteps) -> Schedule:
    per_epoch = schedules.invscaling(s.init, s.power_t)
    return lambda step: per_epoch(step // s.steps_per_epoch)     # decays once per epoch


# learning_rate= name -> the schedule in optimizer steps (adaptive's reductions by 5
# come from the solver's reduce_on_plateau; its schedule is constant).
LEARNING_RATES: dict[str, Callable[[EpochSteps], Schedule]] = {
    "constant": lambda s: schedules.constant(s.init),
    "invscaling": _invscaling,
    "step": lambda s: schedules.step_decay(s.init, step_size=s.decay_epochs * s.steps_per_epoch,
                                           gamma=s.decay_rate),
    "exponential": lambda s: schedules.exponential(
        s.init, decay_rate=s.decay_rate, decay_steps=s.decay_epochs * s.steps_per_epoch),
    "cosine": lambda s: schedules.cosine(s.init, decay_steps=s.max_epochs * s.steps_per_epoch),
    "adaptive": lambda s: schedules.constant(s.init),
}


def make_learning_rate(name: str, init: float, *, steps_per_epoch: int, max_epochs: int,
                       power_t: float, warmup_epochs: int, decay_rate: float,
                       decay_epochs: int) -> Schedule:
    """The learning-rate schedule, in optimizer steps, from epoch-based settings.

    constant / adaptive: init (adaptive's reductions come from reduce_on_plateau);
    invscaling: init / (epoch + 1) ** power_t, epoch = step // steps_per_epoch (0-based);
    step: init * decay_rate ** floor(epoch / decay_epochs);
    exponential: init * decay_rate ** (epoch / decay_epochs);
    cosine: from init to 0 over max_epochs;
    warmup_epochs > 0 prepends a linear warm-up to any of them.
    """
    spe = max(1, steps_per_epoch)
    schedule = LEARNING_RATES[name](EpochSteps(init, spe, max_epochs, power_t, decay_rate,
                                               decay_epochs))
    if warmup_epochs:
        schedule = schedules.warmup(schedule, warmup_epochs * spe)
    return schedule


# A column whose spread is below this fraction of its root mean square is taken as
# constant: centring it would divide by (almost) zero, so it is only scaled.
_CONSTANT_COLUMN = 1e-6


def input_preconditioner(moments: ColumnMoments, params: Params, keys: tuple[str, str | None],
                         l2_strength: float, feature_names=None) -> optimizers.Preconditioner:
    """lbfgs's preconditioner that standardises the inputs, from their column moments.

    Each column is centred on its mean and scaled by sqrt(variance + 4 * l2)
    (``optimizers.standardizing_preconditioner``), so features in wildly
    different units converge as fast as standardised ones while the objective,
    its optimum and the reported coefficients stay in the user's units.
    Why the penalty term: along a weight, the curvature of the objective is
    about c * var_j + l2 with c <= 1/4 (the logistic curvature p(1 - p)); for a
    column of tiny spread the penalty, not the data, sets the curvature, and
    dividing by the spread alone would over-stretch it.
    Without a first-layer intercept nothing can absorb a shift: columns
    are scaled by their root mean square instead; so are (near-)constant columns.
    All-zero unpenalised columns are left as they are.

    Parameters
    ----------
    moments : ColumnMoments
        Of the training rows, weighted by their sample weights
        (``estimators._inputs.training_moments``).
    params : dict
        The parameters to be trained.
    keys : (str, str or None)
        The model's ``first_layer_keys()``: the weights (n_features, n_outputs)
        that multiply the inputs, and their intercept (None without).
    l2_strength : float
        alpha * (1 - l1_ratio), the L2 part of the penalty.
    feature_names : sequence of str, optional
        Column names for the error raised when a column's variance overflows.

    Returns
    -------
    callable (n_params,) -> (n_params,)
        For ``optimizers.lbfgs(preconditioner=...)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        rms = np.sqrt(moments.var + moments.mean * moments.mean)
    overflow = np.flatnonzero(~np.isfinite(rms))
    if overflow.size:
        names = [str(feature_names[j]) if feature_names is not None else f"column {j}"
                 for j in overflow[:5]]
        raise XentlearnInputError(
            f"values in {', '.join(names)}{' and others' if overflow.size > 5 else ''} are so "
            f"large (near the float64 limit of 1.8e308) that their variance overflows: "
            f"lbfgs standardises the inputs and cannot. Rescale those columns first (divide "
            f"by a power of ten, or use sklearn's StandardScaler / MaxAbsScaler)")
    spread = np.sqrt(moments.var)
    weights, intercept = keys
    centred = (spread > _CONSTANT_COLUMN * rms if intercept is not None
               else np.zeros(rms.shape, bool))
    scale = np.sqrt(np.where(centred, moments.var, rms * rms) + 4.0 * l2_strength)
    scale[scale == 0.0] = 1.0
    mean = np.where(centred, moments.mean, 0.0)
    return optimizers.standardizing_preconditioner(params, mean, scale, weights=weights,
                                                   intercept=intercept)
