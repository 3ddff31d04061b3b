"""The named optimizers, each a ``chain`` of transforms that matches ``torch.optim``.

Every alias takes `learning_rate` as a float or a schedule (``xentlearn.schedules``)
of the 0-based update count; its other defaults are torch's.
"""

from __future__ import annotations

from xentlearn._checks import check_number
from xentlearn._types import ScalarOrSchedule
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers._base import GradientTransformation, chain
from xentlearn.optimizers._transforms import (
    Mask, add_decayed_weights, scale_by_adagrad, scale_by_adam, scale_by_rms, scale_by_schedule,
    trace)

__all__ = ["sgd", "adam", "adamw", "adagrad", "rmsprop"]


def sgd(learning_rate: ScalarOrSchedule = 1e-3, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0, *, mask: Mask = None) -> GradientTransformation:
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    .. math::
        g_t \leftarrow g_t + \lambda\theta_{t-1}, \quad
        b_t = \mu b_{t-1} + g_t, \quad
        \theta_t = \theta_{t-1} - \eta(t)\,(g_t + \mu b_t \text{ if nesterov else } b_t)

    Parameters
    ----------
    learning_rate : float or schedule, default 1e-3
    momentum : float, default 0.0
        :math:`\mu \in [0, 1]`; 0 is plain gradient steps.
    nesterov : bool, default False
        Requires ``momentum > 0`` (as torch).
    weight_decay : float, default 0.0
        :math:`\lambda`: coupled L2, added to the gradient (torch's SGD).
    mask : dict of str to bool, optional
        Where `weight_decay` applies (default everywhere, as torch).

    Notes
    -----
    torch's ``dampening`` is not offered (it is 0, the value Nesterov needs).

    Examples
    --------
    >>> import numpy as np
    >>> from xentlearn.optimizers import sgd, apply_updates
    >>> opt = sgd(0.1, momentum=0.9, nesterov=True)
    >>> params = {"w": np.array([1.0])}
    >>> state = opt.init(params)
    >>> updates, state = opt.update({"w": np.array([2.0])}, state, params)
    >>> apply_updates(params, updates)["w"]         # 1 - 0.1 * (2 + 0.9 * 2)
    array([0.62])
    """
    momentum = check_number("momentum", momentum, low=0.0, high=1.0)
    if nesterov and momentum == 0.0:
        raise XentlearnInputError("nesterov=True requires momentum > 0")
    parts = []
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay, mask))
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_schedule(learning_rate))
    return chain(*parts)


def adam(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> GradientTransformation:
    r"""Adam, as ``torch.optim.Adam`` (no weight decay: use ``adamw`` or the L2 penalty).

    .. math::
        \theta_t = \theta_{t-1} - \eta(t)\,
            \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t}/\sqrt{1 - \beta_2^t} + \epsilon}

    See ``scale_by_adam`` for :math:`m_t, v_t`.

    References
    ----------
    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_schedule(learning_rate))


def adamw(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, weight_decay: float = 1e-2, mask: Mask = None
          ) -> GradientTransformation:
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    .. math::
        \theta_t = \theta_{t-1} - \eta(t)\,(\hat u_t + \lambda\theta_{t-1})

    where :math:`\hat u_t` is Adam's direction (``scale_by_adam``).

    Parameters
    ----------
    weight_decay : float, default 1e-2
        :math:`\lambda` (torch's default).
    mask : dict of str to bool, optional
        Where the decay applies; torch decays every parameter, so the default
        (None) does too. Pass ``model.penalty_mask()`` to spare intercepts.

    Notes
    -----
    torch computes :math:`\theta(1 - \eta\lambda) - \eta\hat u`, which is the
    same number up to rounding. The decay is multiplied by the scheduled
    :math:`\eta(t)` as in torch, not by a separate schedule as in the paper.

    References
    ----------
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
                 scale_by_schedule(learning_rate))


def adagrad(learning_rate: ScalarOrSchedule = 1e-2, eps: float = 1e-10,
            initial_accumulator_value: float = 0.0) -> GradientTransformation:
    r"""Adagrad, as ``torch.optim.Adagrad`` (with ``lr_decay=0``).

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta(t)\, g_t / (\sqrt{s_t} + \epsilon)

    References
    ----------
    Duchi, Hazan & Singer, "Adaptive Subgradient Methods", JMLR 2011.
    """
    return chain(scale_by_adagrad(eps, initial_accumulator_value),
                 scale_by_schedule(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule = 1e-2, decay: float = 0.99, eps: float = 1e-8,
            momentum: float = 0.0, centered: bool = False) -> GradientTransformation:
    r"""RMSprop, as ``torch.optim.RMSprop``.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
        b_t = \mu b_{t-1} + g_t / (\sqrt{v_t} + \epsilon), \quad
        \theta_t = \theta_{t-1} - \eta(t)\, b_t

    (:math:`b_t = g_t / (\sqrt{v_t} + \epsilon)` when :math:`\mu = 0`).

    Parameters
    ----------
    decay : float, default 0.99
        torch's ``alpha``.
    momentum : float, default 0.0
    centered : bool, default False
        Normalise by the estimated variance instead of the second moment.
    """
    momentum = check_number("momentum", momentum, low=0.0, high=1.0)
    parts = [scale_by_rms(decay, eps, centered)]
    if momentum:
        parts.append(trace(momentum))
    parts.append(scale_by_schedule(learning_rate))
    return chain(*parts)
