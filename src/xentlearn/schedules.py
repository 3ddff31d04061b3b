"""Learning-rate schedules: plain functions of the optimizer step count.

A schedule is ``Callable[[int], float]``: it maps the number of optimizer
updates already taken (``step = 0`` for the first update) to a value, and always
returns a Python ``float``. A NumPy scalar would silently upcast float32
parameters to float64 under NumPy 2 (NEP 50), so every schedule here goes
through ``math`` and ``float``.

Steps count optimizer *updates*, not epochs; the estimators convert epochs to
steps (``steps_per_epoch * epochs``) before building a schedule.

Examples
--------
>>> from xentlearn import schedules
>>> lr = schedules.cosine(0.1, decay_steps=100)
>>> lr(0), lr(50), lr(100), lr(1000)
(0.1, 0.05, 0.0, 0.0)
>>> type(schedules.invscaling(0.1, power_t=0.5)(3))
<class 'float'>
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xentlearn._checks import check_count, check_number
from xentlearn._types import Schedule, ScalarOrSchedule

__all__ = ["constant", "invscaling", "step_decay", "exponential", "cosine", "warmup",
           "make_schedule"]


def constant(value: float) -> Schedule:
    r"""The same value at every step: :math:`\eta_t = \eta`.

    Parameters
    ----------
    value : float
        Finite and >= 0.

    Returns
    -------
    schedule : callable, step (int) -> float
    """
    value = check_number("value", value, low=0.0)

    def schedule(step: int) -> float:
        return value

    return schedule


def invscaling(init_value: float, power_t: float = 0.5) -> Schedule:
    r"""Inverse scaling: :math:`\eta_t = \eta_0 / (t + 1)^{p}`.

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`, the value at step 0; finite and >= 0.
    power_t : float, default 0.5
        The exponent :math:`p`, >= 0 (0 is a constant schedule).

    Notes
    -----
    ``t`` counts from 0 whatever the caller steps by, so the first value is
    exactly ``init_value``; the estimators step it once per epoch. scikit-learn's
    ``MLPClassifier`` uses the same formula with ``t`` the number of samples seen,
    updated at the end of each epoch; its ``SGDClassifier`` counts samples from 1,
    updating at every sample.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    power_t = check_number("power_t", power_t, low=0.0)

    def schedule(step: int) -> float:
        return init_value / float(step + 1) ** power_t

    return schedule


def step_decay(init_value: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Piecewise constant decay: :math:`\eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}`.

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`; finite and >= 0.
    step_size : int
        :math:`s`, the number of steps between two decays; >= 1.
    gamma : float, default 0.1
        Multiplicative factor per decay, in (0, 1].

    Notes
    -----
    As ``torch.optim.lr_scheduler.StepLR`` when its ``step()`` is called after
    every optimizer step.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    step_size = check_count("step_size", step_size, minimum=1)
    gamma = check_number("gamma", gamma, low=0.0, high=1.0, strict_low=True)

    def schedule(step: int) -> float:
        return init_value * gamma ** (step // step_size)

    return schedule


def exponential(init_value: float, decay_rate: float, decay_steps: int, *,
                staircase: bool = False) -> Schedule:
    r"""Exponential decay: :math:`\eta_t = \eta_0 \, r^{t / T}`.

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`; finite and >= 0.
    decay_rate : float
        :math:`r`, the factor applied every `decay_steps` steps, in (0, 1]
        (values above 1 would make the learning rate grow without bound).
    decay_steps : int
        :math:`T`, >= 1.
    staircase : bool, default False
        If True, use the integer division :math:`\lfloor t / T \rfloor`
        (a step function), as optax's ``exponential_decay``.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    decay_rate = check_number("decay_rate", decay_rate, low=0.0, high=1.0, strict_low=True)
    decay_steps = check_count("decay_steps", decay_steps, minimum=1)

    def schedule(step: int) -> float:
        exponent = step // decay_steps if staircase else step / decay_steps
        return init_value * decay_rate ** exponent

    return schedule


def cosine(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    r"""Cosine decay (Loshchilov & Hutter, 2017, without restarts).

    .. math::
        \eta_t = \eta_0 \left[(1 - \alpha) \tfrac12
                 \left(1 + \cos\frac{\pi \min(t, T)}{T}\right) + \alpha\right]

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`; finite and >= 0.
    decay_steps : int
        :math:`T`, >= 1: the step at which the minimum is reached and held.
    alpha : float, default 0.0
        The final value as a fraction of `init_value`, in [0, 1].

    Notes
    -----
    As optax's ``cosine_decay_schedule``; ``torch.optim.lr_scheduler.CosineAnnealingLR``
    with ``eta_min = alpha * init_value`` gives the same values for t <= T
    (torch then rises again, we stay at the minimum).

    References
    ----------
    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    decay_steps = check_count("decay_steps", decay_steps, minimum=1)
    alpha = check_number("alpha", alpha, low=0.0, high=1.0)

    def schedule(step: int) -> float:
        fraction = min(step, decay_steps) / decay_steps
        return init_value * ((1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + alpha)

    return schedule


def warmup(schedule: ScalarOrSchedule, warmup_steps: int) -> Schedule:
    r"""Linear warm-up to `schedule`, which then starts (shifted) after the warm-up.

    .. math::
        \eta_t = \begin{cases}
            \mathrm{schedule}(0) \, (t + 1) / W & t < W \\
            \mathrm{schedule}(t - W)              & t \ge W
        \end{cases}

    Parameters
    ----------
    schedule : float or callable
        The schedule to reach (a float is a constant schedule).
    warmup_steps : int
        :math:`W`, >= 0; 0 returns `schedule` unchanged.

    Notes
    -----
    The ramp starts at ``schedule(0) / W`` rather than 0, so no step is wasted
    with a zero learning rate, and ends at ``schedule(0)`` on step ``W - 1``.
    The wrapped schedule is *shifted* by ``W``: its own step 0 happens at step
    ``W``, so a cosine decay over T steps still spans T steps after the warm-up.
    """
    schedule = make_schedule(schedule, name="schedule")
    warmup_steps = check_count("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps == 0:
        return schedule
    peak = schedule(0)

    def warmed(step: int) -> float:
        if step < warmup_steps:
            return peak * (step + 1) / warmup_steps
        return schedule(step - warmup_steps)

    return warmed


def make_schedule(value: ScalarOrSchedule, *, name: str = "learning_rate") -> Schedule:
    """A schedule from a float (constant) or a callable (made to return Python floats).

    Parameters
    ----------
    value : float or callable
        A finite number >= 0, or a function of the step count.
    name : str, default "learning_rate"
        The argument name used in error messages.

    Raises
    ------
    XentlearnInputError
        If `value` is neither a finite number >= 0 nor callable.
    """
    if callable(value):
        user_schedule: Callable[[int], float] = value

        def schedule(step: int) -> float:
            # float(): a user's np.float64 would upcast float32 params (NEP 50).
            return float(user_schedule(step))

        return schedule
    return constant(check_number(name, value, low=0.0))
