"""Each named optimizer against torch.optim: same start, same gradient field, N steps.

The gradients come from a fixed non-quadratic field evaluated at the current
params of each side, so any difference in an update changes every later
gradient too: the trajectories agree only if every step does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xentlearn import schedules
from xentlearn.optimizers import adagrad, adam, adamw, apply_updates, rmsprop, sgd

N_STEPS = 20
RNG = np.random.default_rng(0)
A = RNG.normal(size=(12, 12)) / 4.0
HESSIAN = A @ A.T + 0.1 * np.eye(12)          # SPD, eigenvalues roughly in [0.1, 3]
OFFSET = RNG.normal(size=12)
START = {"W": RNG.normal(size=(3, 3)), "b": RNG.normal(size=3)}


def grad_field(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gradient of 0.5 x'Hx + c'x + sum(cos x), x = (W.ravel(), b): curvature varies."""
    x = np.concatenate([params["W"].ravel(), params["b"]])
    g = HESSIAN @ x + OFFSET - np.sin(x)
    return {"W": g[:9].reshape(3, 3).astype(params["W"].dtype),
            "b": g[9:].astype(params["b"].dtype)}


def run_ours(optimizer, dtype=np.float64, n_steps=N_STEPS):
    params = {k: v.astype(dtype) for k, v in START.items()}
    state = optimizer.init(params)
    for _ in range(n_steps):
        updates, state = optimizer.update(grad_field(params), state, params)
        params = apply_updates(params, updates)
    return params


def run_torch(make_optimizer, dtype=torch.float64, lr_lambda=None, n_steps=N_STEPS):
    tensors = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in START.items()}
    optimizer = make_optimizer(list(tensors.values()))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda) if lr_lambda else None
    for _ in range(n_steps):
        grads = grad_field({k: t.detach().numpy() for k, t in tensors.items()})
        for k, t in tensors.items():
            t.grad = torch.from_numpy(grads[k].copy())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


# (id, our optimizer, torch optimizer factory): includes high learning rates, where
# any misplaced factor would be amplified.
CASES = [
    ("sgd", lambda: sgd(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd-high-lr", lambda: sgd(0.9), lambda p: torch.optim.SGD(p, lr=0.9)),
    ("sgd-momentum", lambda: sgd(0.2, momentum=0.9),
     lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9)),
    ("sgd-nesterov", lambda: sgd(0.3, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True)),
    ("sgd-weight-decay", lambda: sgd(0.1, momentum=0.5, weight_decay=0.3),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.3)),
    ("sgd-nesterov-wd-high-lr", lambda: sgd(1.2, momentum=0.8, nesterov=True, weight_decay=0.05),
     lambda p: torch.optim.SGD(p, lr=1.2, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("adam", lambda: adam(1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
    ("adam-high-lr", lambda: adam(0.8, b1=0.5, b2=0.9, eps=1e-3),
     lambda p: torch.optim.Adam(p, lr=0.8, betas=(0.5, 0.9), eps=1e-3)),
    ("adamw", lambda: adamw(0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    ("adamw-strong-decay", lambda: adamw(0.5, b1=0.8, b2=0.99, weight_decay=0.7),
     lambda p: torch.optim.AdamW(p, lr=0.5, betas=(0.8, 0.99), weight_decay=0.7)),
    ("adagrad", lambda: adagrad(0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("adagrad-init-acc", lambda: adagrad(2.0, eps=1e-5, initial_accumulator_value=0.5),
     lambda p: torch.optim.Adagrad(p, lr=2.0, eps=1e-5, initial_accumulator_value=0.5)),
    ("rmsprop", lambda: rmsprop(0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("rmsprop-momentum", lambda: rmsprop(0.05, decay=0.9, momentum=0.9),
     lambda p: torch.optim.RMSprop(p, lr=0.05, alpha=0.9, momentum=0.9)),
    ("rmsprop-centered-high-lr", lambda: rmsprop(0.5, eps=1e-4, momentum=0.5, centered=True),
     lambda p: torch.optim.RMSprop(p, lr=0.5, eps=1e-4, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("ours, theirs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch_float64(ours, theirs):
    expected = run_torch(theirs)
    got = run_ours(ours())
    start_distance = max(np.abs(expected[k] - START[k]).max() for k in START)
    assert start_distance > 1e-3, "the trajectory must actually move for the test to mean anything"
    for k in START:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("ours, theirs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch_float32_and_stays_float32(ours, theirs):
    expected = run_torch(theirs, dtype=torch.float32)
    got = run_ours(ours(), dtype=np.float32)
    for k in START:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], expected[k], rtol=2e-4, atol=2e-4, err_msg=k)


@pytest.mark.parametrize("name, ours, theirs", [
    ("sgd-nesterov-cosine", lambda lr: sgd(lr, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True)),
    ("adamw-step", lambda lr: adamw(lr, weight_decay=0.1),
     lambda p: torch.optim.AdamW(p, lr=0.3, weight_decay=0.1)),
])
def test_schedules_match_torch_lambda_lr(name, ours, theirs):
    # torch's LambdaLR multiplies the initial lr by lambda(k) on the k-th step (0-based),
    # which is our schedule(count) with count the number of updates already taken.
    schedule = (schedules.cosine(0.3, decay_steps=15, alpha=0.1) if "cosine" in name
                else schedules.step_decay(0.3, step_size=4, gamma=0.5))
    expected = run_torch(theirs, lr_lambda=lambda k: schedule(k) / 0.3)
    got = run_ours(ours(schedule))
    for k in START:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-10, err_msg=k)


def test_cosine_matches_torch_cosine_annealing():
    params = [torch.zeros(1, requires_grad=True)]
    optimizer = torch.optim.SGD(params, lr=0.5)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.05)
    ours = schedules.cosine(0.5, decay_steps=10, alpha=0.1)
    for step in range(11):
        assert math.isclose(ours(step), optimizer.param_groups[0]["lr"], rel_tol=1e-12)
        optimizer.step()
        annealing.step()
