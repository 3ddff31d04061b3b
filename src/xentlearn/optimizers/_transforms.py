"""Gradient transformations: the building blocks the named optimizers chain.

Every transform is a pure ``(init, update)`` pair (see ``_base``) that also
offers to update in place (``in_place=True``: the caller owns `grads` and the
state). All scalars that touch arrays are Python floats, so float32 grads give
float32 updates and float32 state (NEP 50: a NumPy float64 scalar would upcast
them).

The element-wise transforms write their maths once, as a function that
updates its arrays in place, and run it through ``_tree.leafwise_in_place``:
on the whole parameter vector when the gradients come as a flat buffer
(``_tree.FlatParams``, as the MLP gives them), leaf by leaf otherwise; the
numbers are the same either way. A pure call runs the same function on copies
(``_owned``), so both ways give the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from xentlearn import _tree
from xentlearn._checks import check_count, check_number
from xentlearn._types import Params, ScalarOrSchedule
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers._base import (EmptyState, GradientTransformation, offers_in_place,
                                        offers_output_scale, with_scalar_factor,
                                        with_step_scale)
from xentlearn.schedules import make_schedule

__all__ = ["trace", "scale_by_adam", "scale_by_rms", "scale_by_adagrad",
           "add_decayed_weights", "scale_by_schedule", "clip_by_global_norm", "proximal_l1",
           "reduce_on_plateau",
           "TraceState", "ScaleByAdamState", "ScaleByRmsState", "ScaleByAdagradState",
           "ScaleByScheduleState", "ProximalL1State", "ReduceOnPlateauState"]

Mask = dict[str, bool] | Callable[[Params], dict[str, bool]] | None


def _resolve_mask(mask: Mask, params: Params) -> dict[str, bool]:
    """`mask` as {key: bool} over every key of `params`; absent keys count as True."""
    if mask is None:
        return {key: True for key in params}
    if callable(mask):
        mask = mask(params)
    unknown = set(mask) - set(params)
    if unknown:
        raise XentlearnInputError(
            f"mask has keys {sorted(unknown)} that are not parameters ({sorted(params)})")
    return {key: bool(mask.get(key, True)) for key in params}


def _owned(tree: Params, in_place: bool) -> Params:
    """`tree` itself when the caller gave it up (``in_place``), else a copy to write into."""
    return tree if in_place else _tree.copy(tree)


def _scale_in_place(factor: float, tree: Params) -> None:
    _tree.leafwise_in_place(lambda u: np.multiply(u, factor, out=u), tree)


def _need_params(params, name: str) -> Params:
    if params is None:
        raise XentlearnInputError(f"{name} needs the current params: call update(grads, state, params)")
    return params


# ----------------------------------------------------------------------------------------

class TraceState(NamedTuple):
    trace: Params        # the momentum buffer b, same keys/shapes/dtypes as the params


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    r"""Momentum (heavy ball) or Nesterov momentum, as ``torch.optim.SGD``.

    .. math::
        b_t = \mu b_{t-1} + g_t, \qquad
        u_t = \begin{cases} g_t + \mu b_t & \text{nesterov} \\ b_t & \text{otherwise}\end{cases}

    with :math:`b_0 = 0`.

    Parameters
    ----------
    decay : float
        The momentum :math:`\mu`, in [0, 1].
    nesterov : bool, default False

    Notes
    -----
    This is torch's form (dampening 0), where the buffer accumulates
    gradients and the learning rate multiplies afterwards; Sutskever et al.
    accumulate ``lr * g``, which differs when the learning rate changes.
    torch sets ``b_1 = g_1``, the same as ``b_0 = 0`` here.
    """
    decay = check_number("decay", decay, low=0.0, high=1.0)

    def init(params: Params) -> TraceState:
        return TraceState(_tree.zeros_like(params))

    def step(g, b):                 # g becomes the update u_t, b becomes b_t
        b *= decay
        b += g
        if nesterov:
            g += decay * b
        else:
            np.copyto(g, b)         # the update never shares the state's memory

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        updates, new_trace = _tree.leafwise_in_place(step, _owned(grads, in_place),
                                                     _owned(state.trace, in_place))
        return updates, TraceState(new_trace)

    # A constant gradient g settles at b = g / (1 - mu): momentum amplifies the step.
    amplification = 1.0 / (1.0 - decay) if decay < 1.0 else 1.0
    with_step_scale(update, lambda state: amplification)
    return GradientTransformation(init, offers_in_place(update))


class ScaleByAdamState(NamedTuple):
    count: int           # number of updates taken, t
    mu: Params           # first moment m
    nu: Params           # second moment v


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    r"""Adam's direction (Kingma & Ba, 2015), as ``torch.optim.Adam``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Parameters
    ----------
    b1, b2 : float
        Decay rates of the moments, in [0, 1).
    eps : float
        Added to the denominator, >= 0.

    Notes
    -----
    :math:`\epsilon` is added *after* the bias correction of :math:`\sqrt{v_t}`,
    as torch (and the paper's Algorithm 1 with :math:`\hat v_t`), so the
    numbers agree with torch, not with formulations that add
    :math:`\hat\epsilon` to :math:`\sqrt{v_t}` before correcting.
    Its update takes ``output_scale`` (see ``optimizers._base``): in a chain, a
    learning rate that follows it is folded into the factor
    :math:`1 / (1 - \beta_1^t)`, so the step size :math:`-\eta / (1 - \beta_1^t)`
    multiplies once, as torch's.

    References
    ----------
    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    b1 = check_number("b1", b1, low=0.0, high=1.0, include_high=False)
    b2 = check_number("b2", b2, low=0.0, high=1.0, include_high=False)
    eps = check_number("eps", eps, low=0.0)

    def init(params: Params) -> ScaleByAdamState:
        return ScaleByAdamState(0, _tree.zeros_like(params), _tree.zeros_like(params))

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False,
               output_scale=1.0):
        count = state.count + 1
        bias1 = 1.0 - b1 ** count
        bias2_sqrt = math.sqrt(1.0 - b2 ** count)

        def step(g, m, v):                  # g becomes u_t, m becomes m_t, v becomes v_t
            t = g * g                       # the one scratch array
            t *= 1.0 - b2
            v *= b2
            v += t
            g -= m                          # m_{t-1} + (1 - b1)(g - m_{t-1}): torch's lerp
            g *= 1.0 - b1
            m += g
            np.sqrt(v, out=t)
            t /= bias2_sqrt
            t += eps
            np.divide(m, t, out=g)
            g *= output_scale / bias1

        updates, mu, nu = _tree.leafwise_in_place(step, _owned(grads, in_place),
                                                  _owned(state.mu, in_place),
                                                  _owned(state.nu, in_place))
        return updates, ScaleByAdamState(count, mu, nu)

    def preconditioner(state: ScaleByAdamState) -> dict[str, np.ndarray]:
        # The per-coordinate factor applied to m_hat (which settles at g).
        bias2_sqrt = math.sqrt(1.0 - b2 ** max(state.count, 1))
        return {k: 1.0 / (np.sqrt(v) / bias2_sqrt + eps) for k, v in state.nu.items()}

    with_step_scale(update, preconditioner)
    return GradientTransformation(init, offers_output_scale(offers_in_place(update)))


class ScaleByRmsState(NamedTuple):
    nu: Params           # running mean of g^2
    mu: Params           # running mean of g (centered only; empty dict otherwise)


def scale_by_rms(decay: float = 0.99, eps: float = 1e-8, centered: bool = False
                 ) -> GradientTransformation:
    r"""RMSprop's direction (Hinton, 2012), as ``torch.optim.RMSprop``.

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \qquad
        u_t = g_t / (\sqrt{v_t} + \epsilon)

    and, if `centered`, :math:`\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t`,
    :math:`u_t = g_t / (\sqrt{v_t - \bar g_t^2} + \epsilon)`.

    Parameters
    ----------
    decay : float
        :math:`\alpha` (torch's ``alpha``), in [0, 1).
    eps : float
        >= 0, added outside the square root as torch does.
    centered : bool, default False

    Notes
    -----
    :math:`v_0 = 0` as in torch (optax's default is the same; TensorFlow
    starts at 1). Momentum, if any, is a ``trace`` chained after this, so it
    accumulates the scaled direction, exactly as torch's RMSprop buffer.
    """
    decay = check_number("decay", decay, low=0.0, high=1.0, include_high=False)
    eps = check_number("eps", eps, low=0.0)

    def init(params: Params) -> ScaleByRmsState:
        return ScaleByRmsState(_tree.zeros_like(params), _tree.zeros_like(params) if centered else {})

    def step(g, v, *m):                 # g becomes u_t, v (and m) their new values
        t = g * g
        t *= 1.0 - decay
        v *= decay
        v += t
        if centered:
            m = m[0]
            m *= decay
            m += (1.0 - decay) * g
            np.multiply(m, m, out=t)
            np.subtract(v, t, out=t)
            np.sqrt(t, out=t)
        else:
            np.sqrt(v, out=t)
        t += eps
        g /= t

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        grads, nu = _owned(grads, in_place), _owned(state.nu, in_place)
        if centered:
            updates, nu, mu = _tree.leafwise_in_place(step, grads, nu,
                                                      _owned(state.mu, in_place))
        else:
            (updates, nu), mu = _tree.leafwise_in_place(step, grads, nu), state.mu
        return updates, ScaleByRmsState(nu, mu)

    def preconditioner(state: ScaleByRmsState) -> dict[str, np.ndarray]:
        if centered:
            return {k: 1.0 / (np.sqrt(v - state.mu[k] * state.mu[k]) + eps)
                    for k, v in state.nu.items()}
        return {k: 1.0 / (np.sqrt(v) + eps) for k, v in state.nu.items()}

    with_step_scale(update, preconditioner)
    return GradientTransformation(init, offers_in_place(update))


class ScaleByAdagradState(NamedTuple):
    sum_of_squares: Params


def scale_by_adagrad(eps: float = 1e-10, initial_accumulator_value: float = 0.0
                     ) -> GradientTransformation:
    r"""Adagrad's direction (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad u_t = g_t / (\sqrt{s_t} + \epsilon),
        \qquad s_0 = \text{initial\_accumulator\_value}

    Parameters
    ----------
    eps : float, default 1e-10
        >= 0, outside the square root (torch's placement and default).
    initial_accumulator_value : float, default 0.0
        >= 0.

    Notes
    -----
    torch's ``lr_decay`` is expressible as a schedule
    (``lambda t: lr / (1 + t * lr_decay)``) passed to ``scale_by_schedule``.
    """
    eps = check_number("eps", eps, low=0.0)
    initial = check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)

    def init(params: Params) -> ScaleByAdagradState:
        return ScaleByAdagradState({k: np.full_like(p, initial) for k, p in params.items()})

    def step(g, s):                     # g becomes u_t, s becomes s_t
        s += g * g
        t = np.sqrt(s)
        t += eps
        g /= t

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        updates, sums = _tree.leafwise_in_place(step, _owned(grads, in_place),
                                                _owned(state.sum_of_squares, in_place))
        return updates, ScaleByAdagradState(sums)

    with_step_scale(update, lambda state: {k: 1.0 / (np.sqrt(v) + eps)
                                           for k, v in state.sum_of_squares.items()})
    return GradientTransformation(init, offers_in_place(update))


def add_decayed_weights(weight_decay: float, mask: Mask = None) -> GradientTransformation:
    r"""Add :math:`\lambda\,\theta` to the updates: weight decay.

    .. math:: u_t \leftarrow u_t + \lambda \theta_{t-1} \quad \text{(masked leaves only)}

    Placed *after* an adaptive direction and before ``scale_by_schedule`` it
    is AdamW's decoupled decay (Loshchilov & Hutter, 2019):
    :math:`\theta_t = \theta_{t-1} - \eta(u_t + \lambda\theta_{t-1})`, which is
    ``torch.optim.AdamW``'s :math:`\theta(1 - \eta\lambda) - \eta u_t`.
    Placed *first* in a chain it adds :math:`\lambda\theta` to the gradient:
    ``torch.optim.SGD(weight_decay=)``'s coupled L2.

    Parameters
    ----------
    weight_decay : float
        :math:`\lambda`, >= 0.
    mask : dict of str to bool, callable params -> such a dict, or None
        True where the decay applies (None: everywhere). Keys absent from
        the dict count as True. Pass ``model.penalty_mask()`` to spare intercepts.
    """
    weight_decay = check_number("weight_decay", weight_decay, low=0.0)

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        params = _need_params(params, "add_decayed_weights")
        where = _resolve_mask(mask, params)
        updates = _owned(grads, in_place)
        for k, u in updates.items():
            if where[k]:
                u += weight_decay * params[k]      # through the leaf: a flat buffer stays one
        return updates, state

    return GradientTransformation(init, offers_in_place(update))


class ScaleByScheduleState(NamedTuple):
    count: int             # updates taken so far: the next step uses schedule(count)
    learning_rate: float   # the value used by the last step (schedule(0) before any)

    def learning_rate_factor(self) -> float:
        return self.learning_rate


def scale_by_schedule(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""Multiply by minus the learning rate: :math:`u_t \leftarrow -\eta(t)\,u_t`.

    Parameters
    ----------
    learning_rate : float or callable step -> float
        A constant, or a schedule of the 0-based update count (``schedules``).

    Notes
    -----
    The sign flip lives here (as optax's ``scale_by_learning_rate``), so the
    result is added to the params by ``apply_updates``.
    """
    schedule = make_schedule(learning_rate)

    def init(params: Params) -> ScaleByScheduleState:
        return ScaleByScheduleState(0, schedule(0))

    def scalar_factor(state: ScaleByScheduleState) -> tuple[float, ScaleByScheduleState]:
        lr = schedule(state.count)
        return -lr, ScaleByScheduleState(state.count + 1, lr)

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        factor, new_state = scalar_factor(state)
        updates = _owned(grads, in_place)
        _scale_in_place(factor, updates)
        return updates, new_state

    with_scalar_factor(update, scalar_factor)
    return GradientTransformation(init, offers_in_place(update))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    r"""Rescale the updates so that their global norm is at most `max_norm`.

    .. math:: u \leftarrow u \cdot \min\!\left(1, \frac{c}{\lVert u \rVert_2}\right)

    where the norm runs over every leaf together.

    Parameters
    ----------
    max_norm : float
        :math:`c > 0`.

    Notes
    -----
    ``torch.nn.utils.clip_grad_norm_`` divides by ``norm + 1e-6``, so it
    clips slightly below `max_norm`; we clip to exactly `max_norm`, as optax.
    """
    max_norm = check_number("max_norm", max_norm, low=0.0, strict_low=True)

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        norm = _tree.global_norm(grads)
        if norm <= max_norm or not math.isfinite(norm):
            # A non-finite norm is left for the training loop to report as divergence.
            return grads, state
        updates = _owned(grads, in_place)
        _scale_in_place(max_norm / norm, updates)
        return updates, state

    return GradientTransformation(init, offers_in_place(update))


class ProximalL1State(NamedTuple):
    count: int             # updates taken: the threshold uses learning_rate(count)


def proximal_l1(strength: float, learning_rate: ScalarOrSchedule, mask: Mask = None
                ) -> GradientTransformation:
    r"""Proximal step for :math:`\lambda \lVert\theta\rVert_1`: exact zeros. Place it last.

    Given the updates :math:`u` of a gradient step on the smooth part,

    .. math::
        z = \theta + u, \qquad
        \theta_{\text{new}} = \operatorname{sign}(z)\,\max(|z| - \eta(t)\,\lambda\,D, 0),
        \qquad u \leftarrow \theta_{\text{new}} - \theta

    on masked leaves (intercepts are usually masked out); other leaves keep
    :math:`u`. :math:`D` is the step scale that the transforms before it in a
    ``chain`` declare (1 when alone): the product of

    - ``trace(mu)``: :math:`1/(1-\mu)`, the factor by which momentum amplifies
      a steady gradient;
    - ``scale_by_adam``: :math:`1/(\sqrt{\hat v} + \epsilon)` per coordinate;
      ``scale_by_rms`` and ``scale_by_adagrad``: their denominators likewise;
    - ``reduce_on_plateau``: its current ``scale``.

    With plain SGD (:math:`D = 1`) this is proximal gradient descent (ISTA).
    With the others it is the proximal step in the optimizer's own diagonal
    metric (ProxGen, Yun et al. 2021): a fixed point satisfies exactly the L1
    optimality conditions :math:`\nabla_j f = -\lambda \operatorname{sign}\theta_j`
    where :math:`\theta_j \ne 0`, :math:`|\nabla_j f| \le \lambda` where
    :math:`\theta_j = 0`. Zeros are exact: ``params + updates`` is ``0.0``
    where the threshold wins, since ``p + (-p) == 0``.

    Parameters
    ----------
    strength : float
        :math:`\lambda \ge 0` (``alpha * l1_ratio`` for the estimators).
    learning_rate : float or schedule
        The *same* learning rate as the chain's ``scale_by_schedule``.
    mask : dict of str to bool, callable, or None
        True where the penalty applies.

    Notes
    -----
    Why not the scalar threshold :math:`\eta\lambda` alone: after an adaptive
    step the move is :math:`\eta\,\hat m / \sqrt{\hat v} \approx \pm\eta` whatever
    the gradient's size, so a scalar threshold :math:`\eta\lambda` with
    :math:`\lambda < 1` can never hold a coordinate at zero (no sparsity at
    all), and with momentum :math:`\mu` the penalty would act as
    :math:`(1-\mu)\lambda` (10 times too weak at :math:`\mu = 0.9`).
    Gradient clipping (``clip_by_global_norm``) declares no scale: clipped
    steps shrink less than they should, which does not move fixed points.

    References
    ----------
    Beck & Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm", SIAM J.
    Imaging Sci. 2009. Yun, Lozano & Yang, "Adaptive Proximal Gradient Methods for
    Structured Neural Networks", NeurIPS 2021.
    """
    strength = check_number("strength", strength, low=0.0)
    schedule = make_schedule(learning_rate)

    def init(params: Params) -> ProximalL1State:
        return ProximalL1State(0)

    def update(grads, state, params=None, *, value=None, value_fn=None, step_scale=1.0,
               in_place=False):
        params = _need_params(params, "proximal_l1")
        where = _resolve_mask(mask, params)
        threshold = schedule(state.count) * strength
        updates = grads
        if threshold > 0.0 and any(where.values()):
            updates = _owned(grads, in_place)
            for k, u in updates.items():
                if where[k]:
                    # Per-coordinate threshold eta * lambda * D_j (D from the chain), or scalar.
                    leaf_threshold = (threshold * step_scale[k] if isinstance(step_scale, dict)
                                      else threshold * float(step_scale))
                    z = params[k] + u
                    shrunk = np.sign(z) * np.maximum(np.abs(z) - leaf_threshold, 0.0)
                    np.subtract(shrunk, params[k], out=u)    # rounded to u's dtype
        return updates, ProximalL1State(state.count + 1)

    update.needs_step_scale = True
    return GradientTransformation(init, offers_in_place(update))


class ReduceOnPlateauState(NamedTuple):
    scale: float              # multiplies the updates; starts at 1
    best_value: float         # best accumulated mean value so far (inf at start)
    plateau_count: int        # consecutive accumulated values without improvement
    accumulated_value: float  # sum of `value` over the current accumulation window
    count: int                # values in the current window

    def learning_rate_factor(self) -> float:
        return self.scale


def reduce_on_plateau(factor: float = 0.2, patience: int = 5, tol: float = 1e-4,
                      accumulation_size: int = 1, min_scale: float = 0.0
                      ) -> GradientTransformation:
    r"""Multiply the updates by a scale that shrinks when `value` stops improving.

    `value` (the loss the caller passes to ``update``) is averaged over
    windows of `accumulation_size` updates. At the end of each window with
    mean :math:`\bar f`:

    - if :math:`\bar f > f_{\text{best}} - \text{tol}` the plateau count grows
      by one, otherwise it resets to 0; then
      :math:`f_{\text{best}} \leftarrow \min(f_{\text{best}}, \bar f)`;
    - once the count reaches `patience`, ``scale <- max(scale * factor,
      min_scale)`` and the count resets.

    Every update is multiplied by the (possibly just reduced) ``scale``.

    Parameters
    ----------
    factor : float, default 0.2
        In (0, 1]: 0.2 divides the step by 5.
    patience : int, default 5
        Windows without improvement before a reduction, >= 1.
    tol : float, default 1e-4
        Absolute improvement that counts, >= 0.
    accumulation_size : int, default 1
        Updates per window. The estimators set it to the number of steps per
        epoch, which gives scikit-learn's ``learning_rate="adaptive"``.
    min_scale : float, default 0.0
        Lower bound for the scale.

    Notes
    -----
    Modelled on optax's ``reduce_on_plateau`` (windows, state holding
    ``scale``) with scikit-learn's absolute `tol` and best-value rule.
    scikit-learn reduces after ``n_iter_no_change + 1`` bad epochs (its test
    is ``count > n_iter_no_change``); pass ``patience=n_iter_no_change + 1``
    to reproduce it. The effective learning rate is reported by
    ``current_learning_rate``, and ``state.scale`` is the factor itself.
    """
    factor = check_number("factor", factor, low=0.0, high=1.0, strict_low=True)
    patience = check_count("patience", patience, minimum=1)
    tol = check_number("tol", tol, low=0.0)
    accumulation_size = check_count("accumulation_size", accumulation_size, minimum=1)
    min_scale = check_number("min_scale", min_scale, low=0.0, high=1.0)

    def init(params: Params) -> ReduceOnPlateauState:
        return ReduceOnPlateauState(1.0, math.inf, 0, 0.0, 0)

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        if value is None:
            raise XentlearnInputError(
                "reduce_on_plateau needs the loss: call update(grads, state, params, value=loss)")
        scale, best, plateau = state.scale, state.best_value, state.plateau_count
        accumulated, count = state.accumulated_value + float(value), state.count + 1
        if count >= accumulation_size:
            mean = accumulated / count
            plateau = plateau + 1 if mean > best - tol else 0
            best = min(best, mean)
            if plateau >= patience:
                scale, plateau = max(scale * factor, min_scale), 0
            accumulated, count = 0.0, 0
        updates = grads
        if scale != 1.0:
            updates = _owned(grads, in_place)
            _scale_in_place(scale, updates)
        return updates, ReduceOnPlateauState(scale, best, plateau, accumulated, count)

    with_step_scale(update, lambda state: state.scale)
    return GradientTransformation(init, offers_in_place(update))
