"""Contract of every transform: dtype kept, inputs untouched, state structure stable,
state saved and restored through flat arrays; plus the small transforms' maths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers import (
    EmptyState, GradientTransformation, adagrad, adam, adamw, add_decayed_weights,
    apply_updates, chain, clip_by_global_norm, current_learning_rate, identity, lbfgs,
    proximal_l1, reduce_on_plateau, rmsprop, scale_by_adagrad, scale_by_adam, scale_by_rms,
    scale_by_schedule, sgd, state_from_arrays, state_to_arrays, trace)
from xentlearn import schedules

MASK = {"W": True, "b": False}


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(4, 3)).astype(dtype), "b": rng.normal(size=3).astype(dtype)}


def value_and_grad(params):
    """A smooth test objective: 0.5||W - 1||^2 + sum(log cosh(b)); gradient in the params' dtype."""
    W, b = params["W"], params["b"]
    value = 0.5 * float(np.sum((W - 1) ** 2)) + float(np.sum(np.log(np.cosh(b))))
    return value, {"W": W - 1, "b": np.tanh(b)}


# Every public transform and alias, in a typical configuration.
TRANSFORMS = {
    "identity": identity,
    "trace": lambda: trace(0.9),
    "trace-nesterov": lambda: trace(0.9, nesterov=True),
    "scale_by_adam": scale_by_adam,
    "scale_by_rms": scale_by_rms,
    "scale_by_rms-centered": lambda: scale_by_rms(centered=True),
    "scale_by_adagrad": lambda: scale_by_adagrad(initial_accumulator_value=0.1),
    "add_decayed_weights": lambda: add_decayed_weights(0.1, MASK),
    "scale_by_schedule": lambda: scale_by_schedule(schedules.cosine(0.1, 10)),
    "clip_by_global_norm": lambda: clip_by_global_norm(0.5),
    "proximal_l1": lambda: chain(scale_by_schedule(0.1), proximal_l1(0.5, 0.1, MASK)),
    "adam+proximal_l1": lambda: chain(adam(0.1), proximal_l1(0.5, 0.1, MASK)),
    "rmsprop+plateau+proximal_l1": lambda: chain(
        rmsprop(0.01, momentum=0.5), reduce_on_plateau(patience=1, tol=10.0),
        proximal_l1(0.5, 0.01, MASK)),
    "reduce_on_plateau": lambda: chain(scale_by_schedule(0.1),
                                       reduce_on_plateau(patience=1, tol=10.0)),
    "sgd": lambda: sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: adam(0.1),
    "adamw": lambda: adamw(0.1, mask=MASK),
    "adagrad": lambda: adagrad(0.1),
    "rmsprop": lambda: rmsprop(0.01, momentum=0.9, centered=True),
    "lbfgs": lambda: lbfgs(memory_size=3),
}


def leaves(tree, path=""):
    """(path, leaf) pairs of a nest of tuples / NamedTuples / dicts."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, f"{path}/{k}")
    elif isinstance(tree, tuple):
        names = getattr(tree, "_fields", range(len(tree)))
        for k, v in zip(names, tree):
            yield from leaves(v, f"{path}/{k}")
    else:
        yield path, tree


def structure(tree):
    """Everything about a state except its values: types, paths, shapes, dtypes."""
    def describe(node):
        if isinstance(node, np.ndarray):
            return ("array", node.shape, node.dtype)
        return (type(node).__name__,)

    def types(node):
        if isinstance(node, dict):
            return ("dict", tuple((k, types(v)) for k, v in node.items()))
        if isinstance(node, tuple):
            return (type(node).__name__, tuple(types(v) for v in node))
        return describe(node)
    return types(tree)


def run_steps(transform, params, n_steps, state=None):
    state = transform.init(params) if state is None else state
    for _ in range(n_steps):
        value, grads = value_and_grad(params)
        updates, state = transform.update(grads, state, params, value=value,
                                          value_fn=value_and_grad)
        params = apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_of_every_output_is_kept(name, dtype):
    transform = TRANSFORMS[name]()
    params = make_params(dtype)
    state = transform.init(params)
    for _ in range(3):
        value, grads = value_and_grad(params)
        updates, state = transform.update(grads, state, params, value=value,
                                          value_fn=value_and_grad)
        for k, u in updates.items():
            assert u.dtype == dtype, (k, u.dtype)
            assert u.shape == params[k].shape
        for path, leaf in leaves(state):
            if isinstance(leaf, np.ndarray):
                assert leaf.dtype == dtype, (path, leaf.dtype)
            else:
                # Python scalars only: a NumPy scalar would upcast float32 arrays (NEP 50).
                assert type(leaf) in (int, float), (path, type(leaf))
        params = apply_updates(params, updates)
        assert all(p.dtype == dtype for p in params.values())


@pytest.mark.parametrize("name", TRANSFORMS)
def test_update_keeps_state_structure_and_never_mutates_inputs(name):
    transform = TRANSFORMS[name]()
    params = make_params(np.float64)
    state = transform.init(params)
    initial_structure = structure(state)
    for _ in range(4):
        value, grads = value_and_grad(params)
        saved = [(p, leaf.copy()) for p, leaf in leaves((grads, state, params))
                 if isinstance(leaf, np.ndarray)]
        saved_scalars = [(p, leaf) for p, leaf in leaves(state) if not isinstance(leaf, np.ndarray)]
        updates, new_state = transform.update(grads, state, params, value=value,
                                              value_fn=value_and_grad)
        now = dict(leaves((grads, state, params)))
        for path, before in saved:
            np.testing.assert_array_equal(now[path], before, err_msg=path)
        assert saved_scalars == [(p, leaf) for p, leaf in leaves(state)
                                 if not isinstance(leaf, np.ndarray)]
        assert structure(new_state) == initial_structure
        params, state = apply_updates(params, updates), new_state


@pytest.mark.parametrize("name", TRANSFORMS)
def test_state_round_trips_through_flat_arrays(name):
    transform = TRANSFORMS[name]()
    params = make_params(np.float32)
    params, state = run_steps(transform, params, 3)
    arrays = state_to_arrays(state, prefix="opt")
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    assert all(key.startswith("opt") for key in arrays)
    # Through npz, as the model file does, without pickle.
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        arrays = dict(loaded)
    restored = state_from_arrays(arrays, transform.init(params), prefix="opt")
    assert structure(restored) == structure(state)
    for (path, a), (_, b) in zip(leaves(state), leaves(restored)):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=path)
        else:
            assert a == b or (math.isnan(a) and math.isnan(b)), path
    # Continuing from the restored state is exactly continuing from the original one.
    expected, _ = run_steps(transform, params, 2, state)
    got, _ = run_steps(transform, params, 2, restored)
    for k in params:
        np.testing.assert_array_equal(got[k], expected[k])


def test_state_from_arrays_names_missing_or_misshapen_entries():
    transform = adam(0.1)
    params = make_params(np.float64)
    arrays = state_to_arrays(transform.init(params))
    assert "0/mu/W" in arrays and "0/count" in arrays
    broken = {k: v for k, v in arrays.items() if k != "0/mu/W"}
    with pytest.raises(XentlearnInputError, match="0/mu/W"):
        state_from_arrays(broken, transform.init(params))
    arrays["0/nu/b"] = np.zeros(5)
    with pytest.raises(XentlearnInputError, match="0/nu/b.*shape"):
        state_from_arrays(arrays, transform.init(params))


def test_apply_updates_returns_new_dict_in_param_dtype():
    params = make_params(np.float32)
    updates = {k: np.ones(v.shape, dtype=np.float64) / 3 for k, v in params.items()}
    new = apply_updates(params, updates)
    assert new is not params
    for k in params:
        assert new[k].dtype == np.float32
        np.testing.assert_array_equal(new[k], (params[k] + updates[k]).astype(np.float32))
    with pytest.raises(XentlearnInputError, match="keys"):
        apply_updates(params, {"W": updates["W"]})


def test_clip_by_global_norm():
    clip = clip_by_global_norm(1.0)
    grads = {"W": np.full((2, 2), 3.0), "b": np.array([4.0])}   # norm sqrt(36 + 16)
    clipped, _ = clip.update(grads, clip.init(grads))
    norm = math.sqrt(sum(float(np.sum(g ** 2)) for g in clipped.values()))
    assert math.isclose(norm, 1.0, rel_tol=1e-12)
    np.testing.assert_allclose(clipped["b"], 4.0 / math.sqrt(52.0), rtol=1e-12)  # direction kept
    small = {"W": np.full((2, 2), 0.1), "b": np.array([0.1])}
    unchanged, _ = clip.update(small, clip.init(small))
    np.testing.assert_array_equal(unchanged["W"], small["W"])


def test_reduce_on_plateau_divides_after_patience_windows():
    # Windows of 2 updates; the mean value per window is what is compared (as per epoch).
    plateau = reduce_on_plateau(factor=0.2, patience=3, tol=0.1, accumulation_size=2)
    grads = {"w": np.array([1.0])}
    state = plateau.init(grads)
    # Window means: 5 (best), 4.95 (not better by tol: 1), 4.92 (2), 4.0 (improves: reset),
    # then 4.0, 4.0, 4.0 -> third bad window reaches patience 3: scale 0.2.
    window_values = [(5.0, 5.0), (4.9, 5.0), (4.92, 4.92), (4.0, 4.0),
                     (4.0, 4.0), (4.0, 4.0), (3.95, 4.01)]
    scales = []
    for a, b in window_values:
        _, state = plateau.update(grads, state, value=a)
        assert state.count == 1
        updates, state = plateau.update(grads, state, value=b)
        scales.append(state.scale)
        np.testing.assert_array_equal(updates["w"], grads["w"] * state.scale)
    assert scales == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2]
    assert state.plateau_count == 0 and state.best_value == 3.98
    # The effective learning rate reported to the loop includes the scale.
    opt = chain(scale_by_schedule(0.5), plateau)
    opt_state = (opt[0](grads)[0], state)
    assert math.isclose(current_learning_rate(opt_state), 0.5 * 0.2)
    with pytest.raises(XentlearnInputError, match="value"):
        plateau.update(grads, state)


def test_reduce_on_plateau_as_sklearn_adaptive():
    # scikit-learn's MLP "adaptive": divide by 5 once more than n_iter_no_change epochs fail
    # to improve by tol -> patience = n_iter_no_change + 1.
    n_iter_no_change, tol = 2, 1e-4
    losses = [1.0, 0.9, 0.8999, 0.89995, 0.8999, 0.5, 0.5, 0.5, 0.5]
    sk_lr, best, count, sk_lrs = 1.0, math.inf, 0, []
    for loss in losses:   # sklearn/neural_network/_multilayer_perceptron.py::_update_no_improvement_count
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            sk_lr, count = sk_lr / 5.0, 0
        sk_lrs.append(sk_lr)
    plateau = reduce_on_plateau(factor=0.2, patience=n_iter_no_change + 1, tol=tol)
    state, ours = plateau.init({"w": np.zeros(1)}), []
    for loss in losses:
        _, state = plateau.update({"w": np.ones(1)}, state, value=loss)
        ours.append(state.scale)
    np.testing.assert_allclose(ours, sk_lrs, rtol=1e-15)
    assert min(ours) < 1.0


def test_current_learning_rate_follows_schedule_and_lbfgs_step():
    schedule = schedules.step_decay(0.4, step_size=2, gamma=0.5)
    opt = sgd(schedule, momentum=0.9)
    params = make_params(np.float64)
    state = opt.init(params)
    assert current_learning_rate(state) == 0.4        # what the first step will use
    reported = []
    for _ in range(5):
        params, state = run_steps(opt, params, 1, state)
        reported.append(current_learning_rate(state))
    assert reported == [0.4, 0.4, 0.2, 0.2, 0.1]
    assert all(type(r) is float for r in reported)
    assert math.isnan(current_learning_rate(identity().init(params)))
    params, state = run_steps(lbfgs(), params, 1)
    assert current_learning_rate(state) == state.step_size > 0.0


def test_proximal_l1_threshold_follows_plateau_scale():
    # After the plateau scale drops to 0.2 the proximal threshold must be lr * 0.2 * strength.
    lr, strength = 0.5, 1.0
    opt = chain(scale_by_schedule(lr), reduce_on_plateau(factor=0.2, patience=1, tol=1e-3),
                proximal_l1(strength, lr))
    params = {"w": np.array([0.05, 0.3, -0.3])}
    state = opt.init(params)
    zero_grads = {"w": np.zeros(3)}
    _, state = opt.update(zero_grads, state, params, value=1.0)      # best = 1
    updates, state = opt.update(zero_grads, state, params, value=1.0)  # plateau: scale 0.2
    assert state[1].scale == 0.2
    new = apply_updates(params, updates)["w"]
    np.testing.assert_allclose(new, [0.0, 0.2, -0.2], rtol=1e-12)   # threshold 0.1
    assert new[0] == 0.0


def test_add_decayed_weights_mask_and_sgd_coupling():
    params = {"W": np.array([2.0]), "b": np.array([3.0])}
    grads = {"W": np.array([1.0]), "b": np.array([1.0])}
    decay = add_decayed_weights(0.5, {"W": True, "b": False})
    updates, _ = decay.update(grads, decay.init(params), params)
    assert updates["W"][0] == 2.0 and updates["b"][0] == 1.0
    with pytest.raises(XentlearnInputError, match="params"):
        decay.update(grads, decay.init(params))
    with pytest.raises(XentlearnInputError, match="not parameters"):
        add_decayed_weights(0.5, {"V": True}).update(grads, EmptyState(), params)


@pytest.mark.parametrize("factory, match", [
    (lambda: sgd(-0.1), "learning_rate"),
    (lambda: sgd(0.1, momentum=1.5), "momentum"),
    (lambda: sgd(0.1, nesterov=True), "nesterov"),
    (lambda: sgd(0.1, weight_decay=-1.0), "weight_decay"),
    (lambda: adam(0.1, b1=1.0), "b1"),
    (lambda: adam(0.1, b2=-0.1), "b2"),
    (lambda: adam(0.1, eps=float("nan")), "eps"),
    (lambda: adagrad(0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: rmsprop(0.1, decay=1.0), "decay"),
    (lambda: clip_by_global_norm(0.0), "max_norm"),
    (lambda: reduce_on_plateau(factor=0.0), "factor"),
    (lambda: reduce_on_plateau(patience=0), "patience"),
    (lambda: reduce_on_plateau(accumulation_size=1.5), "accumulation_size"),
    (lambda: proximal_l1(-1.0, 0.1), "strength"),
    (lambda: lbfgs(memory_size=0), "memory_size"),
    (lambda: lbfgs(max_linesearch="5"), "max_linesearch"),
    (lambda: lbfgs(c1=0.5, c2=0.1), "c2"),
])
def test_bad_hyperparameters_name_the_argument(factory, match):
    with pytest.raises(XentlearnInputError, match=match):
        factory()


def test_lbfgs_requires_value_fn_and_matching_state():
    opt = lbfgs()
    params = make_params(np.float64)
    state = opt.init(params)
    _, grads = value_and_grad(params)
    with pytest.raises(XentlearnInputError, match="value_fn"):
        opt.update(grads, state, params)
    other = {"W": np.zeros((2, 2))}
    with pytest.raises(XentlearnInputError, match="entries"):
        opt.update({"W": np.ones((2, 2))}, state, other, value_fn=value_and_grad)


def test_chain_rejects_foreign_state():
    opt = chain(trace(0.9), scale_by_schedule(0.1))
    params = make_params(np.float64)
    with pytest.raises(XentlearnInputError, match="state has 1"):
        opt.update(params, (opt.init(params)[0],), params)
    assert isinstance(opt, GradientTransformation)
