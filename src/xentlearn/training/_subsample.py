"""Subsample first: a full-batch fit that starts from the optimum of a subsample.

On many rows, the optimum of the same objective over every tenth row is close
to the optimum over all of them (its relative gap shrinks as 1 / rows), and it
costs about a tenth of a pass per iteration to find. A quasi-Newton fit that
starts there, with the curvature pairs it gathered (the Hessian of a mean loss
over a tenth of the rows is an estimate of the whole one), takes a few
iterations over all rows where it took many from the initialisation: on
200,000 x 100 binary rows, 2 against 8 (bench/RESULTS.md has the measures).
"""

from __future__ import annotations

from collections.abc import Sequence

from xentlearn._types import DataSource
from xentlearn.exceptions import DivergenceError
from xentlearn.objective import Objective
from xentlearn.optimizers import GradientTransformation, with_curvature
from xentlearn.training._loop import fit_loop
from xentlearn.training._state import TrainState, generator_from_state, initial_state
from xentlearn.training._stopping import Stopper


def subsample_start(objective: Objective, optimizer: GradientTransformation, rows: DataSource,
                    state: TrainState, *, stoppers: Sequence[Stopper], max_epochs: int,
                    backend=None) -> TrainState:
    """`state` moved to the minimiser of `objective` over `rows`, for a full-batch
    `optimizer` to go on from over all the rows.

    Runs ``fit_loop`` full-batch on `rows` from ``state.params`` until a rule of
    `stoppers` (the solver's own, with a looser tolerance) or `max_epochs`
    ends it, silently: no callbacks, no validation, no checkpoint, no history.
    The state returned has the parameters reached and the optimizer state of
    ``state`` with the curvature pairs gathered (``optimizers.with_curvature``);
    its epoch count, history, stopping rules and random state are `state`'s,
    so the fit over all rows counts and records only its own iterations. If the
    objective diverges on `rows`, `state` is returned as it is.

    Parameters
    ----------
    objective, optimizer
        Those of the fit over all rows (the same penalty: the objective is a mean,
        so it is the same function of the parameters, estimated on fewer rows).
    rows : DataSource
        The subsample (``DataSource.every``).
    state : TrainState
        The fit's initial state, at a fresh optimizer state.
    stoppers : the rules that end the subsample's solve.
    max_epochs : its iteration limit.
    backend : where its sums are computed (as ``fit_loop``).
    """
    start = initial_state(state.params, state.opt_state, generator_from_state(state.rng_state),
                          tuple(stoppers))
    try:
        result = fit_loop(objective, optimizer, rows, start, max_epochs=max_epochs,
                          batch_size=None, stoppers=stoppers, backend=backend)
    except DivergenceError:
        return state
    return state._replace(params=result.params,
                          opt_state=with_curvature(state.opt_state, result.state.opt_state))
