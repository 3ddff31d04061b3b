"""L-BFGS for full-batch problems: two-loop recursion plus a strong Wolfe line search.

Why strong Wolfe rather than backtracking Armijo: the curvature condition
``|phi'(t)| <= c2 |phi'(0)|`` guarantees ``s.y > 0`` for every accepted step,
so the curvature pairs keep the inverse-Hessian estimate positive definite
and are rarely skipped; backtracking only ever shortens the step, accepts
steps too short to measure curvature, and then has to discard pairs. The
zoom with cubic interpolation follows Nocedal & Wright (Algorithms 3.5-3.6)
in the form of ``torch.optim.LBFGS``'s ``_strong_wolfe``, which we match in
its bounds and safeguards. Its extrapolation also lets the first iteration
(a scaled gradient step) grow to a useful length.

Trial points are evaluated at ``apply_updates(params, trial_updates)`` and
the accepted ``trial_updates`` are returned as they are, so the caller's
``apply_updates(params, updates)`` lands bit-identically on the point whose
value and gradient were just computed; a caller that memoises ``value_fn`` by
parameter content (the training loop does) gets the next gradient for free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from xentlearn import _tree
from xentlearn._checks import check_count, check_number
from xentlearn._types import Params
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers._base import GradientTransformation, apply_updates
from xentlearn.optimizers._precondition import Preconditioner

__all__ = ["lbfgs", "LbfgsState", "with_curvature"]

ValueFn = Callable[[Params], tuple[float, Params]]


class LbfgsState(NamedTuple):
    # Ring buffers as tuples of memory_size vectors of n_params: an update replaces one
    # slot and shares the others, so the state stays immutable without copying the
    # whole memory each step (2 x 40 MB on a 2**18-feature model).
    s_history: tuple        # steps s_k = x_{k+1} - x_k
    y_history: tuple        # y_k = g_{k+1} - g_k
    rho: np.ndarray         # (memory_size,): 1 / (y_k . s_k)
    n_pairs: int            # valid pairs in the buffer (<= memory_size)
    head: int               # slot the next pair is written to
    iteration: int          # updates taken
    n_evaluations: int      # value_fn calls made by the line searches
    step_size: float        # the accepted line-search step t of the last update
    value: float            # objective at the accepted point of the last update (nan before)
    failed: int             # 1 if the last line search found no decrease (updates were 0)

    def learning_rate_factor(self) -> float:
        return self.step_size


class _Point(NamedTuple):
    t: float
    f: float
    g: np.ndarray | None    # flat gradient at the point
    gtd: float              # directional derivative g . d
    updates: Params | None  # the exact trial updates (None for t = 0)


def _cubic_minimum(a: _Point, b: _Point, low: float | None = None,
                   high: float | None = None) -> float:
    """Minimiser of the cubic through (t, f, f') at a and b, clipped to [low, high].

    Bisects when the cubic has no minimum or the data are not finite (a trial
    point where the objective overflowed carries f = inf).
    """
    if low is None:
        low, high = min(a.t, b.t), max(a.t, b.t)
    values = (a.t, a.f, a.gtd, b.t, b.f, b.gtd)
    if not all(math.isfinite(v) for v in values) or a.t == b.t:
        return (low + high) / 2.0
    d1 = a.gtd + b.gtd - 3.0 * (a.f - b.f) / (a.t - b.t)
    d2_square = d1 * d1 - a.gtd * b.gtd
    if not (d2_square >= 0.0 and math.isfinite(d2_square)):
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if a.t <= b.t:
        denominator = b.gtd - a.gtd + 2.0 * d2
        t = b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / denominator) if denominator else math.nan
    else:
        denominator = a.gtd - b.gtd + 2.0 * d2
        t = a.t - (a.t - b.t) * ((a.gtd + d2 - d1) / denominator) if denominator else math.nan
    if not math.isfinite(t):
        return (low + high) / 2.0
    return min(max(t, low), high)


def _strong_wolfe(phi: Callable[[float], _Point], start: _Point, t: float, d_norm: float, *,
                  c1: float, c2: float, max_evaluations: int, tolerance_change: float
                  ) -> tuple[_Point, int]:
    """Find t with f(t) <= f(0) + c1 t f'(0) and |f'(t)| <= c2 |f'(0)|.

    Returns the best point found (lowest f in the final bracket) and the
    number of evaluations. The caller checks that it decreased f.
    """
    f0, gtd0 = start.f, start.gtd
    previous, new = start, phi(t)
    evaluations = 1
    done = False
    # Phase 1: extrapolate until the minimiser is bracketed or the conditions hold.
    while True:
        if new.f > f0 + c1 * new.t * gtd0 or (evaluations > 1 and new.f >= previous.f):
            bracket = [previous, new]
            break
        if abs(new.gtd) <= -c2 * gtd0:
            bracket, done = [new], True
            break
        if new.gtd >= 0.0:
            bracket = [previous, new]
            break
        if evaluations >= max_evaluations:
            bracket = [start, new]
            break
        # Extrapolate at least 1% beyond the current step and at most 10x it (torch's bounds).
        t = _cubic_minimum(previous, new, new.t + 0.01 * (new.t - previous.t), 10.0 * new.t)
        previous, new = new, phi(t)
        evaluations += 1
    if done:
        return bracket[0], evaluations
    # Phase 2: zoom inside the bracket.
    low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    insufficient_progress = False
    while evaluations < max_evaluations:
        lo_t, hi_t = min(bracket[0].t, bracket[1].t), max(bracket[0].t, bracket[1].t)
        if (hi_t - lo_t) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket[1])
        # Safeguard (torch, after More-Thuente): keep t at least 10% of the bracket away
        # from its ends, or the bracket can shrink by a negligible amount per evaluation.
        margin = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < margin:
            if insufficient_progress or t >= hi_t or t <= lo_t:
                t = hi_t - margin if abs(t - hi_t) < abs(t - lo_t) else lo_t + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        new = phi(t)
        evaluations += 1
        if new.f > f0 + c1 * t * gtd0 or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -c2 * gtd0:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0.0:
                bracket[high] = bracket[low]
            bracket[low] = new
            if done:
                break
    return bracket[low], evaluations


def two_loop_direction(g: np.ndarray, state, preconditioner: Preconditioner | None
                       ) -> np.ndarray:
    """-H g by the two-loop recursion (Nocedal & Wright, Algorithm 7.4).

    `state` is any state with the ring-buffer fields of ``LbfgsState``
    (s_history, y_history, rho, n_pairs, head); H_0 = gamma P as in ``lbfgs``.
    """
    memory_size = len(state.s_history)
    order = [(state.head - state.n_pairs + i) % memory_size for i in range(state.n_pairs)]
    q = g.copy()
    alphas = []
    for i in reversed(order):                      # newest to oldest
        alpha = float(state.rho[i]) * float(state.s_history[i] @ q)
        q -= alpha * state.y_history[i]
        alphas.append(alpha)
    if preconditioner is not None:
        q = preconditioner(q)
    if order:
        newest = order[-1]
        y = state.y_history[newest]
        py = y if preconditioner is None else preconditioner(y)
        q *= float(state.s_history[newest] @ y) / float(y @ py)
    for i, alpha in zip(order, reversed(alphas)):  # oldest to newest
        beta = float(state.rho[i]) * float(state.y_history[i] @ q)
        q += (alpha - beta) * state.s_history[i]
    return -q


def push_pair(state, s: np.ndarray, y: np.ndarray) -> dict:
    """The ring-buffer fields after storing the pair (s, y), as ``_replace`` keywords.

    The pair is skipped (the fields are returned unchanged) unless
    s.y > eps * y.y (scipy L-BFGS-B's rule). New tuples share the other slots
    and rho is copied: the caller's state is never mutated.
    """
    s_history, y_history, rho = state.s_history, state.y_history, state.rho
    n_pairs, head = state.n_pairs, state.head
    with np.errstate(over="ignore", invalid="ignore"):
        sy, yy = float(s @ y), float(y @ y)
    if math.isfinite(sy) and sy > np.finfo(s.dtype).eps * yy and sy > 0.0:
        s_history = s_history[:head] + (s,) + s_history[head + 1:]
        y_history = y_history[:head] + (y,) + y_history[head + 1:]
        rho = rho.copy()
        rho[head] = 1.0 / sy
        head, n_pairs = (head + 1) % len(s_history), min(n_pairs + 1, len(s_history))
    return dict(s_history=s_history, y_history=y_history, rho=rho, n_pairs=n_pairs, head=head)


_RING_FIELDS = ("s_history", "y_history", "rho", "n_pairs", "head")


def with_curvature(fresh, solved):
    """`fresh`, a state as the optimizer's ``init`` made it, holding the curvature pairs
    of `solved`, a state of the same optimizer after some updates.

    The quasi-Newton memory carried over to a nearby problem of the same shape
    (the same objective on more rows: a subsample-first start): the next update
    starts from the inverse-Hessian estimate, with a unit step, instead of a
    scaled gradient step. Everything else (counters, the last value, OWL-QN's
    best value and stall count) is `fresh`'s, as they belong to the old problem.
    The ring buffers are shared, not copied: updates never write them.

    Parameters
    ----------
    fresh, solved : LbfgsState, OwlqnState, or a tuple of states (``chain``)
        States without curvature pairs are returned as `fresh` has them.
    """
    if hasattr(fresh, "s_history"):
        return fresh._replace(**{name: getattr(solved, name) for name in _RING_FIELDS})
    if type(fresh) is tuple:
        return tuple(with_curvature(a, b) for a, b in zip(fresh, solved))
    return fresh


def lbfgs(memory_size: int = 10, max_linesearch: int = 20, *, c1: float = 1e-4,
          c2: float = 0.9, tolerance_change: float = 1e-9,
          preconditioner: Preconditioner | None = None) -> GradientTransformation:
    r"""Limited-memory BFGS for full-batch objectives; one ``update`` is one iteration.

    With the last :math:`m` pairs :math:`s_i = x_{i+1} - x_i`,
    :math:`y_i = g_{i+1} - g_i`, the two-loop recursion computes
    :math:`d = -H g` with :math:`H_0 = \gamma P`,
    :math:`\gamma = s^\top y / y^\top P y` of the newest pair (1 before the
    first pair), where :math:`P` is the `preconditioner` (the identity by
    default). A strong Wolfe line search then picks :math:`t` with

    .. math::
        f(x + t d) \le f(x) + c_1 t\, g^\top d, \qquad
        |\nabla f(x + t d)^\top d| \le c_2 |g^\top d|,

    and the update is :math:`t d`. The first iteration (no pairs yet) tries
    :math:`t = \min(1, 1/\sqrt{g^\top P g})`, a step of length at most one
    (in the metric of :math:`P^{-1}`), as scipy's L-BFGS-B does; later
    iterations try :math:`t = 1`.

    ``update(grads, state, params, *, value, value_fn)`` needs `params`, the
    objective `value` at `params` (computed with `value_fn` if omitted) and
    ``value_fn(params) -> (value, grads)``.

    Parameters
    ----------
    memory_size : int, default 10
        Number of curvature pairs kept, :math:`m \ge 1`.
    max_linesearch : int, default 20
        Maximum ``value_fn`` calls per iteration.
    c1, c2 : float, default 1e-4 and 0.9
        Sufficient decrease and curvature constants, :math:`0 < c_1 < c_2 < 1`.
    tolerance_change : float, default 1e-9
        The zoom stops once the bracket moves the parameters by less than
        this (in the max norm), as torch's ``tolerance_change``.
    preconditioner : callable (n_params,) -> (n_params,), optional
        A symmetric positive definite :math:`P` applied to flat vectors laid
        out as ``_tree.ravel(params)``, e.g. ``standardizing_preconditioner``.
        L-BFGS with :math:`H_0 = \gamma P` takes the steps that plain L-BFGS
        would take in the variables :math:`\varphi` with :math:`x = A\varphi`,
        :math:`P = A A^\top`: the objective and its minimiser do not change,
        only how fast they are reached.

    Notes
    -----
    - A pair is skipped when :math:`s^\top y \le \epsilon\, y^\top y`
      (:math:`\epsilon` the machine epsilon of the dtype), scipy L-BFGS-B's
      rule; strong Wolfe makes this rare.
    - If :math:`d` is not a descent direction (rounding), the memory is
      cleared and the iteration restarts from :math:`-P g` (from :math:`-g`
      if :math:`P g` overflows).
    - If the line search finds no decrease, the updates are zero and
      ``state.failed == 1``: the caller should stop (the training loop does,
      on all-zero updates). A zero gradient also gives zero updates, with
      ``failed == 0``.
    - ``current_learning_rate(state)`` reports the accepted step :math:`t`.

    References
    ----------
    Nocedal & Wright, "Numerical Optimization", 2nd ed., Algorithms 7.4, 3.5, 3.6.
    """
    memory_size = check_count("memory_size", memory_size, minimum=1)
    max_linesearch = check_count("max_linesearch", max_linesearch, minimum=1)
    c1 = check_number("c1", c1, low=0.0, high=1.0, include_high=False, strict_low=True)
    c2 = check_number("c2", c2, low=c1, high=1.0, include_high=False, strict_low=True)
    tolerance_change = check_number("tolerance_change", tolerance_change, low=0.0)

    def init(params: Params) -> LbfgsState:
        flat = _tree.ravel(params)
        # np.zeros is calloc'd: slots that are never written cost no memory.
        def empty():
            return tuple(np.zeros(flat.size, dtype=flat.dtype) for _ in range(memory_size))

        return LbfgsState(empty(), empty(), np.zeros(memory_size, dtype=flat.dtype),
                          0, 0, 0, 0, 1.0, math.nan, 0)

    def direction(g: np.ndarray, state: LbfgsState) -> np.ndarray:
        return two_loop_direction(g, state, preconditioner)

    def update(grads, state, params=None, *, value=None, value_fn: ValueFn | None = None):
        if params is None or value_fn is None:
            raise XentlearnInputError(
                "lbfgs needs params and value_fn: update(grads, state, params, value=f, "
                "value_fn=fn) with fn(params) -> (value, grads)")
        dtype = state.s_history[0].dtype     # the params' dtype; no copy of the params needed
        g = _tree.ravel(grads).astype(dtype, copy=False)
        if g.size != state.s_history[0].size:
            raise XentlearnInputError(
                f"params have {g.size} entries but the lbfgs state was made for "
                f"{state.s_history[0].size}")
        f0 = float(value) if value is not None else float(value_fn(params)[0])
        zeros = _tree.zeros_like(params)
        with np.errstate(over="ignore", invalid="ignore"):
            d = direction(g, state)
            gtd = float(g @ d)
            if state.n_pairs and not gtd < 0.0:
                # Rounding made H g a non-descent direction: drop the memory, restart.
                state = state._replace(n_pairs=0, head=0)
                d = direction(g, state)
                gtd = float(g @ d)
            if preconditioner is not None and not math.isfinite(gtd):
                d, gtd = -g, -float(g @ g)   # P overflowed on this gradient: plain steepest descent
            if not gtd < 0.0:   # g == 0 (or not finite): nothing to do.
                return zeros, state._replace(iteration=state.iteration + 1, failed=0)
            t0 = min(1.0, 1.0 / math.sqrt(-gtd)) if state.n_pairs == 0 else 1.0
            d_norm = float(np.abs(d).max())

            def phi(t: float) -> _Point:
                trial_updates = _tree.unravel(t * d, params)
                f, trial_grads = value_fn(apply_updates(params, trial_updates))
                f = float(f)
                flat = _tree.ravel(trial_grads).astype(dtype, copy=False)
                slope = float(flat @ d)
                if not (math.isfinite(f) and math.isfinite(slope)):
                    f, slope = math.inf, math.nan   # overflowed: treat as far too long
                return _Point(t, f, flat, slope, trial_updates)

            start = _Point(0.0, f0, g, gtd, None)
            best, evaluations = _strong_wolfe(
                phi, start, t0, d_norm, c1=c1, c2=c2, max_evaluations=max_linesearch,
                tolerance_change=tolerance_change)
            n_evaluations = state.n_evaluations + evaluations
            if best.updates is None or not best.f < f0:
                return zeros, state._replace(iteration=state.iteration + 1,
                                             n_evaluations=n_evaluations, failed=1)
            s = _tree.ravel(best.updates).astype(dtype, copy=False)
            y = best.g - g
        ring = push_pair(state, s, y)
        return best.updates, LbfgsState(
            ring["s_history"], ring["y_history"], ring["rho"], ring["n_pairs"], ring["head"],
            state.iteration + 1, n_evaluations, best.t, best.f, 0)

    return GradientTransformation(init, update)
