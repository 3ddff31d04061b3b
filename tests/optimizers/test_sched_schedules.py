"""Schedules: known values by hand, Python float outputs, argument validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xentlearn import schedules
from xentlearn.exceptions import XentlearnInputError


@pytest.mark.parametrize("schedule, expected", [
    (schedules.constant(0.3), {0: 0.3, 7: 0.3, 10**6: 0.3}),
    # init / (t + 1) ** power_t: the first step uses init exactly.
    (schedules.invscaling(0.1, power_t=0.5), {0: 0.1, 3: 0.05, 99: 0.01}),
    (schedules.invscaling(1.0, power_t=1.0), {0: 1.0, 1: 0.5, 9: 0.1}),
    (schedules.step_decay(1.0, step_size=3, gamma=0.5), {0: 1.0, 2: 1.0, 3: 0.5, 5: 0.5, 6: 0.25}),
    (schedules.exponential(2.0, decay_rate=0.5, decay_steps=4), {0: 2.0, 2: 2.0 * 0.5 ** 0.5, 4: 1.0, 8: 0.5}),
    (schedules.exponential(2.0, decay_rate=0.5, decay_steps=4, staircase=True), {3: 2.0, 4: 1.0, 7: 1.0}),
    (schedules.cosine(1.0, decay_steps=4), {0: 1.0, 1: 0.5 + 0.5 * math.cos(math.pi / 4), 2: 0.5, 4: 0.0, 9: 0.0}),
    (schedules.cosine(1.0, decay_steps=4, alpha=0.2), {0: 1.0, 2: 0.6, 4: 0.2, 100: 0.2}),
    # Warm-up: ramp (t + 1) / W * schedule(0), then schedule shifted by W.
    (schedules.warmup(schedules.step_decay(0.8, step_size=2, gamma=0.5), warmup_steps=4),
     {0: 0.2, 1: 0.4, 3: 0.8, 4: 0.8, 5: 0.8, 6: 0.4}),
    (schedules.warmup(0.5, warmup_steps=2), {0: 0.25, 1: 0.5, 2: 0.5, 50: 0.5}),
    (schedules.warmup(schedules.constant(0.5), warmup_steps=0), {0: 0.5}),
])
def test_known_values_and_python_float(schedule, expected):
    for step, value in expected.items():
        got = schedule(step)
        assert type(got) is float, (step, type(got))
        assert math.isclose(got, value, rel_tol=1e-12, abs_tol=1e-15), (step, got, value)


def test_make_schedule():
    constant = schedules.make_schedule(0.1)
    assert constant(0) == constant(1000) == 0.1 and type(constant(5)) is float
    # A user schedule returning NumPy scalars is made to return Python floats (NEP 50).
    wrapped = schedules.make_schedule(lambda t: np.float64(0.1) / (t + 1))
    assert type(wrapped(3)) is float and wrapped(3) == 0.025
    float32 = np.ones(3, dtype=np.float32)
    assert (float32 * wrapped(3)).dtype == np.float32
    assert schedules.make_schedule(1) (0) == 1.0


def test_schedules_never_upcast_float32():
    w = np.ones(2, dtype=np.float32)
    for schedule in (schedules.cosine(0.1, 10), schedules.invscaling(0.1, 0.25),
                     schedules.exponential(0.1, 0.9, 3), schedules.warmup(0.1, 3)):
        assert (w * schedule(5)).dtype == np.float32


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.constant(-1.0), "value"),
    (lambda: schedules.constant(float("inf")), "value"),
    (lambda: schedules.constant("0.1"), "value"),
    (lambda: schedules.invscaling(0.1, power_t=-0.5), "power_t"),
    (lambda: schedules.invscaling(float("nan"), power_t=0.5), "init_value"),
    (lambda: schedules.step_decay(0.1, step_size=0), "step_size"),
    (lambda: schedules.step_decay(0.1, step_size=2.5), "step_size"),
    (lambda: schedules.step_decay(0.1, step_size=2, gamma=0.0), "gamma"),
    (lambda: schedules.exponential(0.1, decay_rate=1.5, decay_steps=3), "decay_rate"),
    (lambda: schedules.exponential(0.1, decay_rate=0.5, decay_steps=0), "decay_steps"),
    (lambda: schedules.cosine(0.1, decay_steps=10, alpha=2.0), "alpha"),
    (lambda: schedules.cosine(0.1, decay_steps=True), "decay_steps"),
    (lambda: schedules.warmup(0.1, warmup_steps=-1), "warmup_steps"),
    (lambda: schedules.warmup(-0.1, warmup_steps=2), "schedule"),
    (lambda: schedules.make_schedule(-3.0), "learning_rate"),
    (lambda: schedules.make_schedule(None, name="learning_rate_init"), "learning_rate_init"),
])
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises(XentlearnInputError, match=match):
        make()
