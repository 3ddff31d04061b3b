"""The objective's sum reduction and the one training loop."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xentlearn import _tree, optimizers
from xentlearn.data import ArraySource
from xentlearn.exceptions import DivergenceError
from xentlearn.models import MLP, Linear
from xentlearn.objective import Objective, make_loss
from xentlearn.penalties import Penalty
from xentlearn.training import early_stopping, fit_loop, gradient_tolerance
from xentlearn.training._backends import MinibatchSteps


def _problem(dtype=np.float64, n=300, d=6, k=3, sparse=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    W = rng.normal(size=(d, k))
    y = (X @ W + rng.gumbel(size=(n, k))).argmax(axis=1).astype(np.intp)
    sw = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    if sparse:
        X[rng.random(X.shape) < 0.5] = 0
        X = sp.csr_matrix(X)
    return X, y, sw


def _objective(model, task="multiclass", alpha=1e-2):
    return Objective(model=model, loss=make_loss(task), penalty=Penalty(alpha), task=task)


@pytest.mark.parametrize("model", [Linear(6, 3), MLP(6, (5,), 3, "tanh")])
def test_full_batch_over_chunks_equals_one_batch(model):
    X, y, sw = _problem()
    objective = _objective(model)
    params = model.init(np.random.default_rng(1), np.float64)
    params = _tree.tree_map(lambda p: p + 0.1, params)
    whole = objective.value_and_grad(params, [ArraySource(X, y, sw)._slice(slice(None))])
    source = ArraySource(X, y, sw)
    chunks = list(source._gathered(None, 37, 0))  # uneven chunk sizes
    chunked = objective.value_and_grad(params, chunks)
    assert len(chunks) > 5
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    for key in params:
        np.testing.assert_allclose(chunked[1][key], whole[1][key], rtol=1e-11, atol=1e-14)


def test_objective_value_is_mean_weighted_loss_plus_penalty():
    X, y, sw = _problem()
    model = Linear(6, 3)
    params = _tree.tree_map(lambda p: p + 0.3, model.init(np.random.default_rng(0), np.float64))
    value, _ = _objective(model, alpha=0.5).value_and_grad(params, ArraySource(X, y, sw).batches(None))
    logits = X @ params["W0"] + params["b0"]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(sw * log_p[np.arange(len(y)), y]).sum() / sw.sum()
    expected += 0.5 * 0.5 * (params["W0"] ** 2).sum()  # intercept not penalised
    assert value == pytest.approx(expected, rel=1e-12)


def test_dense_equals_sparse_objective():
    X, y, sw = _problem(sparse=True)
    model = MLP(6, (4,), 3, "relu")
    objective = _objective(model)
    params = model.init(np.random.default_rng(2), np.float64)
    dense = objective.value_and_grad(params, ArraySource(X.toarray(), y, sw).batches(None))
    for sparse_X in (X, sp.csc_matrix(X), sp.csr_array(X)):
        sparse = objective.value_and_grad(params, ArraySource(sparse_X, y, sw).batches(None))
        assert sparse[0] == pytest.approx(dense[0], rel=1e-12)
        for key in params:
            np.testing.assert_allclose(sparse[1][key], dense[1][key], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("batch_size", [None, 1, 32])
def test_float32_stays_float32(batch_size):
    X, y, sw = _problem(np.float32, n=100)
    model = MLP(6, (4,), 3, "logistic")
    params = model.init(np.random.default_rng(0), np.float32)
    opt = optimizers.lbfgs() if batch_size is None else optimizers.adam(1e-2)
    result = fit_loop(_objective(model), opt, ArraySource(X, y, sw), params, max_epochs=3,
                      batch_size=batch_size, rng=np.random.default_rng(0),
                      validation=ArraySource(X, y, sw))
    for value in result.params.values():
        assert value.dtype == np.float32
    for leaf in _leaves(result.opt_state):
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
            assert leaf.dtype == np.float32
    assert all(isinstance(r.train_loss, float) and isinstance(r.learning_rate, float)
               for r in result.history)


def _leaves(state):
    if isinstance(state, (tuple, list)):
        for item in state:
            yield from _leaves(item)
    elif isinstance(state, dict):
        for item in state.values():
            yield from _leaves(item)
    else:
        yield state


def test_same_seed_same_parameters():
    X, y, sw = _problem()
    model = MLP(6, (8,), 3)

    def run():
        return fit_loop(_objective(model), optimizers.sgd(0.05, momentum=0.9, nesterov=True),
                        ArraySource(X, y, sw), model.init(np.random.default_rng(3), np.float64),
                        max_epochs=4, batch_size=16, rng=np.random.default_rng(4)).params

    first, second = run(), run()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_early_stopping_restores_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 20))
    y = rng.integers(0, 3, size=60).astype(np.intp)     # noise: validation loss soon rises
    Xv = rng.normal(size=(60, 20))
    yv = rng.integers(0, 3, size=60).astype(np.intp)
    model = MLP(20, (32,), 3)
    seen = {}

    def remember(record, params):
        seen[record.epoch] = _tree.copy(params)

    result = fit_loop(_objective(model, alpha=0.0), optimizers.adam(1e-2), ArraySource(X, y),
                      model.init(rng, np.float64), max_epochs=200, batch_size=10, rng=rng,
                      validation=ArraySource(Xv, yv), callbacks=[remember],
                      stoppers=[early_stopping("log_loss", tol=0.0, n_iter_no_change=5)])
    assert result.stop_reason == "early_stopping"
    val_losses = [r.val_loss for r in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    assert result.best_epoch < len(result.history)
    for key, value in result.params.items():
        np.testing.assert_array_equal(value, seen[result.best_epoch][key])


def test_divergence_raises_with_epoch_batch_and_keeps_finite_params():
    X, y, sw = _problem()
    X = X * 1e150
    model = Linear(6, 3)
    params = model.init(np.random.default_rng(0), np.float64)
    with pytest.raises(DivergenceError, match=r"epoch 1, batch \d+.*smaller learning rate") as info:
        fit_loop(_objective(model), optimizers.sgd(1e10), ArraySource(X, y, sw), params,
                 max_epochs=5, batch_size=50, rng=np.random.default_rng(0))
    assert info.value.epoch == 1
    assert _tree.all_finite(info.value.params)


def test_callback_stops_and_tol_converges():
    X, y, sw = _problem()
    model = Linear(6, 3)
    objective = _objective(model)
    result = fit_loop(objective, optimizers.adam(1e-2), ArraySource(X, y, sw),
                      model.init(np.random.default_rng(0), np.float64), max_epochs=50,
                      batch_size=32, rng=np.random.default_rng(0),
                      callbacks=[lambda record, params: record.epoch == 3])
    assert result.stop_reason == "callback" and result.n_epochs == 3
    result = fit_loop(objective, optimizers.lbfgs(), ArraySource(X, y, sw),
                      model.init(np.random.default_rng(0), np.float64), max_epochs=200,
                      batch_size=None, rng=np.random.default_rng(0),
                      stoppers=[gradient_tolerance(1e-8)])
    assert result.stop_reason == "converged"
    _, grads = objective.value_and_grad(result.params, ArraySource(X, y, sw).batches(None))
    assert max(np.abs(g).max() for g in grads.values()) <= 1e-8


def test_lbfgs_reaches_scipy_optimum_through_the_loop():
    from scipy.optimize import minimize

    X, y, sw = _problem(n=200)
    model = Linear(6, 3)
    objective = _objective(model, alpha=1e-2)
    source = ArraySource(X, y, sw)
    like = model.init(np.random.default_rng(0), np.float64)

    def f(flat):
        value, grads = objective.value_and_grad(_tree.unravel(flat, like), source.batches(None))
        return value, _tree.ravel(grads)

    reference = minimize(f, np.zeros(_tree.ravel(like).size), jac=True, method="L-BFGS-B",
                         options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000})
    result = fit_loop(objective, optimizers.lbfgs(), source, like, max_epochs=300,
                      batch_size=None, rng=np.random.default_rng(0),
                      stoppers=[gradient_tolerance(1e-9)])
    value, _ = f(_tree.ravel(result.params))
    assert value == pytest.approx(reference.fun, abs=1e-10)
    assert result.n_epochs < 60


def _pure(optimizer):
    """The same optimizer, without the offer to update in place."""
    return optimizers.GradientTransformation(
        optimizer.init, lambda grads, state, params=None, **kw: optimizer.update(
            grads, state, params, **kw))


@pytest.mark.parametrize("model", [Linear(6, 3), MLP(6, (8,), 3)])
@pytest.mark.parametrize("make_optimizer", [
    lambda: optimizers.adam(1e-2),
    lambda: optimizers.sgd(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optimizers.chain(optimizers.clip_by_global_norm(0.5), optimizers.rmsprop(1e-2),
                             optimizers.reduce_on_plateau(patience=1, tol=10.0,
                                                          accumulation_size=5),
                             optimizers.proximal_l1(1e-3, 1e-2))],
    ids=["adam", "sgd", "clip-rmsprop-plateau-l1"])
def test_mini_batches_update_in_place_with_the_bits_of_pure_updates(model, make_optimizer):
    # The loop owns each step's gradients and its copy of the state: the optimizer
    # writes into them, and training takes the steps a pure optimizer takes, bit for
    # bit, without writing into the state it was given (a partial_fit's, a checkpoint's).
    X, y, sw = _problem()
    optimizer = make_optimizer()
    assert optimizers.updates_in_place(optimizer)

    def run(opt, start):
        return fit_loop(_objective(model), opt, ArraySource(X, y, sw), start, max_epochs=3,
                        batch_size=16, rng=np.random.default_rng(4))

    params = model.init(np.random.default_rng(3), np.float64)
    pure, in_place = run(_pure(optimizer), params), run(optimizer, params)
    for key in params:
        np.testing.assert_array_equal(pure.params[key], in_place.params[key])
    continued_state = in_place.state._replace(history=())
    saved = optimizers.state_to_arrays(continued_state.opt_state)
    more_pure = fit_loop(_objective(model), _pure(optimizer), ArraySource(X, y, sw),
                         continued_state, max_epochs=5, batch_size=16)
    more = fit_loop(_objective(model), optimizer, ArraySource(X, y, sw), continued_state,
                    max_epochs=5, batch_size=16)
    for key in params:
        np.testing.assert_array_equal(more_pure.params[key], more.params[key])
    after = optimizers.state_to_arrays(continued_state.opt_state)
    for path, value in saved.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)


class _SpyMLP(MLP):
    """An MLP that records the ``out`` buffer each backward is given."""

    def backward(self, params, cache, dlogits, *, out=None):
        grads = super().backward(params, cache, dlogits, out=out)
        object.__getattribute__(self, "calls").append((out, grads))
        return grads


def test_a_step_writes_its_gradients_into_the_last_steps_spent_updates():
    X, y, sw = _problem()
    model = _SpyMLP(6, (8,), 3)
    object.__setattr__(model, "calls", [])
    steps = MinibatchSteps(_objective(model), optimizers.adam(1e-2),
                           model.init(np.random.default_rng(3), np.float64),
                           optimizers.adam(1e-2).init(model.init(np.random.default_rng(3),
                                                                 np.float64)))
    batches = list(ArraySource(X, y, sw).batches(16, rng=np.random.default_rng(0)))[:4]
    for batch in batches:
        steps.step(batch)
    outs = [out for out, _ in model.calls]
    grads = [grads for _, grads in model.calls]
    assert outs[0] is None
    for before, now, out in zip(grads[:-1], grads[1:], outs[1:]):
        assert out is before and now is before       # one buffer, step after step


class _ClippedMLP:
    """A model written to the Model protocol (its backward takes no ``out``) that delegates
    to an MLP, so its gradients are flat, and clips them."""

    def __init__(self, mlp):
        self.mlp = mlp
        self.n_features, self.n_outputs, self.convex = mlp.n_features, mlp.n_outputs, False

    def __getattr__(self, name):
        return getattr(self.mlp, name)

    def backward(self, params, cache, dlogits):
        grads = self.mlp.backward(params, cache, dlogits)
        for g in grads.values():
            np.clip(g, -1.0, 1.0, out=g)
        return grads


def test_a_model_whose_backward_takes_no_buffer_trains_with_new_gradients():
    X, y, sw = _problem()
    model = _ClippedMLP(MLP(6, (5,), 3))
    params = model.init(np.random.default_rng(1), np.float64)
    result = fit_loop(_objective(model), optimizers.adam(0.01), ArraySource(X, y, sw), params,
                      max_epochs=2, batch_size=32, rng=np.random.default_rng(2))
    plain = fit_loop(_objective(model), _pure(optimizers.adam(0.01)), ArraySource(X, y, sw),
                     params, max_epochs=2, batch_size=32, rng=np.random.default_rng(2))
    assert result.state.epoch == 2
    for key in params:
        np.testing.assert_array_equal(result.params[key], plain.params[key])


def test_updates_of_a_pure_optimizer_are_never_reused():
    # A pure optimizer may keep the updates it returns (here: as its state); the loop
    # must not write the next gradients into them.
    X, y, sw = _problem()
    model = MLP(6, (8,), 3)

    def update(grads, state, params=None, *, value=None, value_fn=None):
        updates = _tree.FlatParams(-0.05 * grads.flat, grads.layout)      # flat, as an MLP's
        return updates, {"last": updates}

    optimizer = optimizers.GradientTransformation(lambda p: {"last": dict(p)}, update)
    params = model.init(np.random.default_rng(3), np.float64)
    steps = MinibatchSteps(_objective(model), optimizer, params, optimizer.init(params))
    kept = []                   # (the updates a step returned, a copy of them)
    for batch in list(ArraySource(X, y, sw).batches(16, rng=np.random.default_rng(0)))[:4]:
        steps.step(batch)
        last = steps.opt_state["last"]
        kept.append((last, {key: value.copy() for key, value in last.items()}))
    for last, copy in kept:
        assert _tree.flat_of(last) is not None
        for key in params:
            np.testing.assert_array_equal(last[key], copy[key])


def test_parameters_seen_at_an_epoch_end_are_never_written_afterwards():
    # Mini-batch steps alternate two parameter buffers of the epoch's own making:
    # what a callback (or early stopping) was given at an epoch end stays as it was.
    X, y, sw = _problem()
    model = MLP(6, (8,), 3)
    seen = []

    def keep(record, params):
        seen.append((params, _tree.copy(params)))

    start = model.init(np.random.default_rng(3), np.float64)
    start_copy = _tree.copy(start)
    fit_loop(_objective(model), optimizers.adam(1e-2), ArraySource(X, y, sw), start,
             max_epochs=4, batch_size=16, rng=np.random.default_rng(4), callbacks=[keep])
    assert len(seen) == 4
    for kept, copied in seen + [(start, start_copy)]:
        for key in copied:
            np.testing.assert_array_equal(kept[key], copied[key])


def test_apply_updates_into_a_buffer_gives_the_same_bits():
    rng = np.random.default_rng(0)
    layout = (("W", (3, 2)), ("b", (2,)))
    params = _tree.FlatParams(rng.normal(size=8), layout)
    updates = _tree.FlatParams(rng.normal(size=8), layout)
    out = _tree.FlatParams(np.full(8, np.nan), layout)
    expected = optimizers.apply_updates(params, updates)
    got = optimizers.apply_updates(params, updates, out=out)
    assert got is out
    np.testing.assert_array_equal(got.flat, expected.flat)
    # Never into the params themselves, nor into a buffer of another layout.
    assert optimizers.apply_updates(params, updates, out=params) is not params
    other = _tree.FlatParams(np.zeros(8), (("b", (2,)), ("W", (3, 2))))
    assert optimizers.apply_updates(params, updates, out=other) is not other


@pytest.mark.parametrize("task", ["binary", "multiclass", "soft", "multilabel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_weight_sum_is_the_losss_own_normaliser_without_the_loss(task, dtype, weighted):
    # alpha="auto" needs sum_i w_i; it was the weight_sum of the loss evaluated at zero
    # logits (n x k exps); the normaliser alone gives the same bits.
    from xentlearn.objective import loss_weight_sum

    rng = np.random.default_rng(0)
    n, k = 257, 4
    targets = {"binary": rng.integers(0, 2, n).astype(dtype),
               "multiclass": rng.integers(0, k, n).astype(np.intp),
               "soft": rng.dirichlet(np.ones(k), n).astype(dtype),
               "multilabel": rng.integers(0, 2, (n, k)).astype(dtype)}[task]
    n_outputs = 1 if task == "binary" else k
    sw = rng.uniform(0.1, 3.0, n).astype(dtype) if weighted else None
    class_weights = [None] if task == "multilabel" else [
        None, rng.uniform(0.5, 2.0, 2 if task == "binary" else k).astype(dtype)]
    for cw in class_weights:
        for smoothing in (0.0, 0.1):
            loss = make_loss(task, class_weight=cw, label_smoothing=smoothing)
            terms = loss(np.zeros((n, n_outputs), dtype=dtype), targets, sw)
            assert loss_weight_sum(task, targets, sw, class_weight=cw,
                                   dtype=dtype) == terms.weight_sum


def test_a_state_that_stopped_records_why_and_continues_when_asked():
    # The reason is saved with checkpoints (the estimators resume such a checkpoint as
    # stopped); fit_loop given the state trains on to max_epochs, as any continued state.
    X, y, sw = _problem()
    model = Linear(6, 3)
    source = ArraySource(X, y, sw)
    first = fit_loop(_objective(model), optimizers.sgd(0.05), source,
                     model.init(np.random.default_rng(0), np.float64), max_epochs=10,
                     batch_size=32, rng=np.random.default_rng(1),
                     callbacks=[lambda record, params: record.epoch == 2])
    assert (first.stop_reason, first.state.epoch, first.state.stop_reason) == (
        "callback", 2, "callback")
    more = fit_loop(_objective(model), optimizers.sgd(0.05), source, first.state, max_epochs=5,
                    batch_size=32)
    assert (more.stop_reason, more.state.epoch, more.state.stop_reason) == ("max_iter", 5, None)


@pytest.mark.parametrize("model", [Linear(3, 1), MLP(3, (4,), 1)], ids=["linear", "mlp"])
def test_rows_of_weight_zero_never_move_the_fit_even_as_whole_mini_batches(model):
    # A mini-batch of rows that all weigh 0 crashed (1 / 0); it holds no data, so it moves
    # by the penalty only, and what such rows hold changes nothing.
    from xentlearn.estimators import LogisticRegression, MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    w = (np.arange(40) % 4 == 0).astype(float)
    other_X, other_y = X.copy(), y.copy()
    other_X[w == 0], other_y[w == 0] = rng.normal(size=(30, 3)) * 100, 1
    settings = dict(max_iter=3, tol=0.0, random_state=0)
    make = (lambda: LogisticRegression(solver="sgd", batch_size=1, **settings)) \
        if isinstance(model, Linear) else (
        lambda: MLPClassifier(hidden_layer_sizes=(4,), batch_size=2, **settings))
    with np.errstate(all="raise"), pytest.warns(Warning):   # max_iter reached
        a = make().fit(X, y, sample_weight=w)
    with pytest.warns(Warning):
        b = make().fit(other_X, other_y, sample_weight=w)
    fitted_a = a.coefs_ + a.intercepts_ if hasattr(a, "coefs_") else [a.coef_, a.intercept_]
    fitted_b = b.coefs_ + b.intercepts_ if hasattr(b, "coefs_") else [b.coef_, b.intercept_]
    assert all(np.isfinite(p).all() and np.array_equal(p, q) for p, q in zip(fitted_a, fitted_b))
    assert a.loss_curve_ == b.loss_curve_ and np.isfinite(a.loss_curve_).all()


def test_a_batch_of_weight_zero_gives_the_penalty_alone():
    model = Linear(3, 1)
    objective = Objective(model=model, penalty=Penalty.from_name("l2", 0.5), task="binary",
                          loss=make_loss("binary"))
    params = model.init(np.random.default_rng(0), np.float64)
    X = np.ones((2, 3))
    batch = next(iter(ArraySource(X, np.array([0.0, 1.0]), sample_weight=np.zeros(2))
                      .batches(None)))
    value, grads = objective.value_and_grad(params, [batch])
    assert value == pytest.approx(0.25 * float(np.sum(params["W0"] ** 2)))
    np.testing.assert_array_equal(grads["W0"], 0.5 * params["W0"])
    np.testing.assert_array_equal(grads["b0"], 0.0)


@pytest.mark.parametrize("name", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_every_bit_generator_state_round_trips_through_json(name):
    import json

    from xentlearn.training import (generator_from_state, rng_state, rng_state_from_json,
                                    rng_state_to_json)

    rng = np.random.Generator(getattr(np.random, name)(5))
    rng.random(3)
    text = json.dumps(rng_state_to_json(rng_state(rng)))
    restored = generator_from_state(rng_state_from_json(json.loads(text)))
    np.testing.assert_array_equal(restored.random(5), rng.random(5))
