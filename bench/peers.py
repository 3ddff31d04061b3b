"""One measurement in a fresh child process: a contender on a task and a workload.

    .venv/bin/python bench/peers.py '{"task": "lbfgs", "contender": "xentlearn", "workload": "W1", "quick": true}'

prints one JSON line (the last line of stdout) with the measured seconds, the
peak RSS above the data, and what the run reached. bench/run.py spawns these,
alternating the contenders; each child imports only what its contender needs.

Peak RSS above the data: after loading the workload (and importing the
contender's libraries) the child resets the kernel's high-water mark
(``echo 5 > /proc/self/clear_refs``) and reads VmRSS as the baseline; after the
run, VmHWM - baseline is the memory the contender needed beyond the data.
Everything not being timed (gap checks, test log-loss evaluation) happens after
VmHWM is read, or with the clock paused.

Tasks and contenders
--------------------
lbfgs     time to an objective gap <= 1e-6 (full batch): xentlearn (its lbfgs;
          a callback stops once record.train_loss - f_opt <= 1e-6), sklearn-lbfgs
          (LogisticRegression(C=1); scipy's minimize inside it is wrapped with a
          callback that timestamps each iterate and stops the same way on scipy's
          objective value), sklearn-saga (no callback: max_iter sweep, tol=0; the
          time of the fit with the fewest epochs that reaches the gap). The gap at
          the stopping iterate is then re-checked with workloads.objective.
epoch     one mini-batch epoch, batch 256, SGD momentum 0.9 Nesterov, lr 0.01,
          L2 alpha = 1/n: xentlearn LogisticRegression(solver="sgd"), torch (a
          plain loop: randperm, index, forward, backward, step), sklearn-sgd
          (SGDClassifier(loss="log_loss"), per-sample SGD: a different
          algorithm, shown for reference). Two epochs; the second is reported.
mlp       time to the test log-loss that the torch loop reaches after 5 epochs
          (64 relu hidden units, adam lr 1e-3, batch 256, L2 1e-4 on weights):
          torch-ref (computes that target), xentlearn MLPClassifier, torch,
          sklearn-mlp (MLPClassifier.partial_fit per epoch; alpha scaled by 256
          because scikit-learn divides its penalty by the batch size), and
          numpy-floor (the same training hand-written as lean as numpy allows:
          what any numpy implementation can reach; reference only).
grad      full-batch loss + gradient of the linear model (xentlearn Objective) at
          small random weights (not zero: see grad_vs_read) against one read of X,
          ``X.sum(axis=0)`` (numpy's add.reduce, one streaming pass over X),
          alternated in one process; X @ v is also reported for reference.
fastest   time to a relative objective gap (F - F*) / F* <= 1e-6 on the fastest-peer
          workloads W5-W8 (PEERS.md), F with each workload's penalty. Each contender
          is stopped as close to the gap as its interface allows:
          xentlearn            LogisticRegression(solver="lbfgs") (OWL-QN for L1 and
                               elastic net); a callback stops at the first epoch whose
                               training objective is within the gap.
          sklearnex            scikit-learn-intelex LogisticRegression (oneDAL's loss and
                               gradient inside scipy's L-BFGS-B); scipy's minimize inside
                               daal4py is wrapped with the same callback as sklearn-lbfgs.
          sklearn-lbfgs        as in the lbfgs task (reference only).
          glum, liblinear      no callback: the loosest tolerance of a half-decade ladder
                               that reaches the gap (gradient_tol; tol), found by the first
                               repeat and passed to the next ones as a hint; the time is
                               that one fit's.
          sklearn-saga         as in the lbfgs task: the fewest epochs (tol=0) that reach it.
          liblinear penalises the intercept too: it runs with intercept_scaling=100, and
          is exact only if it reaches the gap on F (which leaves the intercept alone).
          Every result also reports its support (non-zero weights) against the best
          solution's (workloads.reference_coef). Each contender first fits the first
          2,000 rows once, untimed: one-time costs of a process (xentlearn's
          threadpoolctl scan of the loaded libraries, 60-90 ms here; oneDAL's set-up)
          are not what the comparison is about.
digits    W3 fitted to scikit-learn's default tolerance (tol=1e-4, both stop when
          max |gradient of the mean objective| <= 1e-4): xentlearn lbfgs vs
          sklearn lbfgs, alternated in one process.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads  # noqa: E402

GAP = 1e-6
PERF = time.perf_counter


# ---------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class PeakRSS:
    """VmHWM above the RSS at construction, with the high-water mark reset there."""

    def __init__(self):
        self.reset_ok = True
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self.reset_ok = False
        self.baseline_kb = _status_kb("VmRSS")

    def above_mb(self) -> float:
        return (_status_kb("VmHWM") - self.baseline_kb) / 1024.0


# ---------------------------------------------------------------- helpers
def _unravel_sklearn(x, d, k):
    """scipy's flat vector inside sklearn's lbfgs -> (W (d, k'), b (k',))."""
    if k == 2:
        return x[:d].reshape(d, 1), x[d:]
    M = x.reshape((k, d + 1), order="F")
    return M[:, :d].T, M[:, d]


def _gap(w, W, b, f_opt):
    return workloads.objective(w.X, w.y, W, b, w.n_classes) - f_opt


# ---------------------------------------------------------------- lbfgs
def lbfgs_xentlearn(w, f_opt, spec):
    from xentlearn import LogisticRegression

    stamps, last = [], []

    def cb(record, params):
        stamps.append((PERF(), record.train_loss))
        last[:] = [(params["W0"].copy(), params["b0"].copy())] + last[:1]
        return record.train_loss - f_opt <= GAP

    clf = LogisticRegression(alpha=w.alpha, solver="lbfgs", tol=1e-12, max_iter=5000,
                             callbacks=[cb])
    mem = PeakRSS()
    t0 = PERF()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(w.X, w.y)
    total = PERF() - t0
    peak = mem.above_mb()
    gap = _gap(w, *last[0], f_opt)
    prev_gap = _gap(w, *last[1], f_opt) if len(last) > 1 else None
    return {"seconds": stamps[-1][0] - t0, "fit_seconds": total, "peak_mb": peak,
            "iterations": len(stamps), "gap": gap, "prev_gap": prev_gap,
            "reached": gap <= GAP, "rss_reset": mem.reset_ok}


def lbfgs_sklearn(w, f_opt, spec):
    import sklearn.linear_model._logistic as sk_logistic
    from scipy import optimize
    from sklearn.linear_model import LogisticRegression

    stamps, last = [], []

    def minimize(fun, x0, *args, callback=None, **kwargs):
        def cb(intermediate_result):
            stamps.append((PERF(), float(intermediate_result.fun)))
            last[:] = [intermediate_result.x.copy()] + last[:1]
            if callback is not None:
                callback(intermediate_result.x)
            if intermediate_result.fun - f_opt <= GAP:
                raise StopIteration

        return optimize.minimize(fun, x0, *args, callback=cb, **kwargs)

    class _Optimize:                      # sklearn's module sees this as scipy.optimize
        def __getattr__(self, name):
            return getattr(optimize, name)

    shim = _Optimize()
    shim.minimize = minimize
    sk_logistic.optimize = shim
    clf = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-12, max_iter=5000)
    mem = PeakRSS()
    t0 = PERF()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(w.X, w.y)
    total = PERF() - t0
    peak = mem.above_mb()
    d = w.X.shape[1]
    gap = _gap(w, *_unravel_sklearn(last[0], d, w.n_classes), f_opt)
    prev_gap = (_gap(w, *_unravel_sklearn(last[1], d, w.n_classes), f_opt)
                if len(last) > 1 else None)
    return {"seconds": stamps[-1][0] - t0, "fit_seconds": total, "peak_mb": peak,
            "iterations": len(stamps), "gap": gap, "prev_gap": prev_gap,
            "reached": gap <= GAP, "rss_reset": mem.reset_ok}


def lbfgs_saga(w, f_opt, spec):
    from sklearn.linear_model import LogisticRegression

    mem = PeakRSS()

    def fit(m):
        clf = LogisticRegression(C=1.0, solver="saga", tol=0.0, max_iter=m, random_state=0)
        t0 = PERF()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(w.X, w.y)
        return PERF() - t0, _gap(w, clf.coef_.T, clf.intercept_, f_opt)

    tried = {}
    hint = spec.get("hint")
    if hint:                               # a previous repeat found the epoch count
        tried[hint] = fit(hint)
        if hint > 1:
            tried[hint - 1] = fit(hint - 1)
    if not (hint and tried[hint][1] <= GAP and (hint == 1 or tried[hint - 1][1] > GAP)):
        lo, hi, m = 0, None, 4
        while m <= 4096:                   # doubling, then bisection on the epoch count
            tried[m] = tried.get(m) or fit(m)
            if tried[m][1] <= GAP:
                hi = m
                break
            lo, m = m, 2 * m
        while hi is not None and hi - lo > 1:
            mid = (lo + hi) // 2
            tried[mid] = tried.get(mid) or fit(mid)
            lo, hi = (lo, mid) if tried[mid][1] <= GAP else (mid, hi)
    peak = mem.above_mb()
    ok = sorted(m for m, (_, g) in tried.items() if g <= GAP)
    best = ok[0] if ok else max(tried)
    return {"seconds": tried[best][0], "peak_mb": peak, "iterations": best,
            "gap": tried[best][1], "reached": bool(ok), "hint": best,
            "fits": {str(m): t for m, t in sorted(tried.items())}, "rss_reset": mem.reset_ok}


# ---------------------------------------------------------------- fastest peers
LADDER = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8,
          1e-9, 1e-10]


def _penalty_name(w) -> str:
    return "l2" if w.l1_ratio == 0 else ("l1" if w.l1_ratio == 1 else "elasticnet")


def _relative_gap(w, W, b, f_opt) -> float:
    return (w.objective(W, b) - f_opt) / f_opt


def _support(w, W) -> dict:
    """Non-zero weights of W, and how many differ from the best solution's support."""
    W = np.asarray(W, dtype=np.float64).reshape(w.X.shape[1], -1)
    ref = workloads.reference_coef(w.name, w.quick)
    ours = W != 0
    return {"support": int(ours.sum()), "support_ref": int((ref != 0).sum()),
            "support_diff": int((ours != (ref != 0)).sum())}


WARM_UP_ROWS = 2_000


def _warm_up(make, w) -> None:
    """Fit `make()` once on the first rows (untimed), for one-time process costs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make().fit(w.X[:WARM_UP_ROWS], w.y[:WARM_UP_ROWS])


def _result(w, f_opt, seconds, W, b, **extra) -> dict:
    gap = _relative_gap(w, W, b, f_opt)
    return {"seconds": seconds, "gap": gap, "reached": gap <= GAP, **_support(w, W), **extra}


def fastest_xentlearn(w, f_opt, spec):
    from xentlearn import LogisticRegression

    target = f_opt * (1.0 + GAP)
    stamps, last = [], []

    def cb(record, params):
        stamps.append(PERF())
        last[:] = [(params["W0"].copy(), params["b0"].copy())]
        return record.train_loss <= target

    _warm_up(lambda: LogisticRegression(alpha=w.alpha, penalty=_penalty_name(w),
                                        l1_ratio=w.l1_ratio), w)
    clf = LogisticRegression(alpha=w.alpha, penalty=_penalty_name(w), l1_ratio=w.l1_ratio,
                             solver="lbfgs", tol=1e-12, max_iter=5000, callbacks=[cb])
    mem = PeakRSS()
    t0 = PERF()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(w.X, w.y)
    total = PERF() - t0
    peak = mem.above_mb()
    return _result(w, f_opt, stamps[-1] - t0, *last[0], fit_seconds=total, peak_mb=peak,
                   iterations=len(stamps), rss_reset=mem.reset_ok)


def _scipy_callback_fit(module, make, w, f_opt, scale=1.0):
    """Fit `make()` with scipy's minimize inside `module` stopped at the gap: (seconds of
    the stopping iterate, total seconds, iterations, the fitted estimator, PeakRSS).
    `scale`: the minimised function is `scale` x F."""
    from scipy import optimize

    target = f_opt * (1.0 + GAP) * scale
    stamps = []

    def minimize(fun, x0, *args, callback=None, **kwargs):
        def cb(intermediate_result):
            stamps.append(PERF())
            if callback is not None:
                callback(intermediate_result.x)
            if intermediate_result.fun <= target:
                raise StopIteration

        return optimize.minimize(fun, x0, *args, callback=cb, **kwargs)

    class _Optimize:                      # the module sees this as scipy.optimize
        def __getattr__(self, name):
            return getattr(optimize, name)

    _warm_up(make, w)
    shim = _Optimize()
    shim.minimize = minimize
    saved = module.optimize
    module.optimize = shim
    clf = make()
    mem = PeakRSS()
    t0 = PERF()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(w.X, w.y)
    finally:
        module.optimize = saved
    total = PERF() - t0
    return stamps[-1] - t0, total, len(stamps), clf, mem


def fastest_sklearnex(w, f_opt, spec):
    import daal4py.sklearn.linear_model.logistic_path as d4p_path
    from sklearnex.linear_model import LogisticRegression

    # daal4py minimises the sum of the losses plus n times the penalty: n F.
    seconds, total, iterations, clf, mem = _scipy_callback_fit(
        d4p_path, lambda: LogisticRegression(C=1.0 / (w.n * w.alpha), tol=1e-12,
                                             max_iter=5000), w, f_opt, scale=w.n)
    return _result(w, f_opt, seconds, clf.coef_.T, clf.intercept_, fit_seconds=total,
                   peak_mb=mem.above_mb(), iterations=iterations, rss_reset=mem.reset_ok)


def fastest_sklearn_lbfgs(w, f_opt, spec):
    import sklearn.linear_model._logistic as sk_logistic
    from sklearn.linear_model import LogisticRegression

    seconds, total, iterations, clf, mem = _scipy_callback_fit(
        sk_logistic, lambda: LogisticRegression(C=1.0 / (w.n * w.alpha), tol=1e-12,
                                                max_iter=5000), w, f_opt)
    return _result(w, f_opt, seconds, clf.coef_.T, clf.intercept_, fit_seconds=total,
                   peak_mb=mem.above_mb(), iterations=iterations, rss_reset=mem.reset_ok)


def _ladder(w, f_opt, spec, fit, make):
    """The loosest tolerance of LADDER whose fit reaches the gap (from the hint on):
    fit(tol) -> (seconds, W, b, iterations); make() an estimator to warm up with."""
    _warm_up(make, w)
    mem = PeakRSS()
    start = LADDER.index(spec["hint"]) if spec.get("hint") in LADDER else 0
    tried = {}
    for tol in LADDER[start:]:
        seconds, W, b, iterations = fit(tol)
        gap = _relative_gap(w, W, b, f_opt)
        tried[str(tol)] = [seconds, gap]
        if gap <= GAP:
            break
    return _result(w, f_opt, seconds, W, b, peak_mb=mem.above_mb(), iterations=iterations,
                   tol=tol, hint=tol, fits=tried, rss_reset=mem.reset_ok)


def fastest_glum(w, f_opt, spec):
    import glum

    def fit(tol):
        reg = glum.GeneralizedLinearRegressor(family="binomial", alpha=w.alpha,
                                              l1_ratio=w.l1_ratio, gradient_tol=tol,
                                              max_iter=1000)
        t0 = PERF()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.fit(w.X, w.y)
        return PERF() - t0, reg.coef_[:, None], np.atleast_1d(reg.intercept_), int(reg.n_iter_)

    return _ladder(w, f_opt, spec, fit, lambda: glum.GeneralizedLinearRegressor(
        family="binomial", alpha=w.alpha, l1_ratio=w.l1_ratio))


def fastest_liblinear(w, f_opt, spec):
    from sklearn.linear_model import LogisticRegression

    def fit(tol):
        clf = LogisticRegression(C=1.0 / (w.n * w.alpha), l1_ratio=w.l1_ratio,
                                 solver="liblinear", intercept_scaling=100.0, tol=tol,
                                 max_iter=10_000)
        t0 = PERF()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(w.X, w.y)
        return PERF() - t0, clf.coef_.T, clf.intercept_, int(np.max(clf.n_iter_))

    return _ladder(w, f_opt, spec, fit, lambda: LogisticRegression(
        C=1.0 / (w.n * w.alpha), l1_ratio=w.l1_ratio, solver="liblinear"))


def fastest_saga(w, f_opt, spec):
    from sklearn.linear_model import LogisticRegression

    def fit(m):
        clf = LogisticRegression(C=1.0 / (w.n * w.alpha), l1_ratio=w.l1_ratio, solver="saga",
                                 tol=0.0, max_iter=m, random_state=0)
        t0 = PERF()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(w.X, w.y)
        return PERF() - t0, clf.coef_.T, clf.intercept_

    _warm_up(lambda: LogisticRegression(C=1.0 / (w.n * w.alpha), l1_ratio=w.l1_ratio,
                                        solver="saga", max_iter=5), w)
    mem = PeakRSS()
    tried = {}

    def gap_of(m):
        if m not in tried:
            seconds, W, b = fit(m)
            tried[m] = (seconds, _relative_gap(w, W, b, f_opt), W, b)
        return tried[m][1]

    hint = spec.get("hint")
    if not (hint and gap_of(hint) <= GAP and (hint == 1 or gap_of(hint - 1) > GAP)):
        lo, hi, m = 0, None, 4
        while m <= 4096:                   # doubling, then bisection on the epoch count
            if gap_of(m) <= GAP:
                hi = m
                break
            lo, m = m, 2 * m
        while hi is not None and hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if gap_of(mid) <= GAP else (mid, hi)
    ok = sorted(m for m, value in tried.items() if value[1] <= GAP)
    best = ok[0] if ok else max(tried)
    seconds, _, W, b = tried[best]
    return _result(w, f_opt, seconds, W, b, peak_mb=mem.above_mb(), iterations=best,
                   hint=best, fits={str(m): v[:2] for m, v in sorted(tried.items())},
                   rss_reset=mem.reset_ok)


# ---------------------------------------------------------------- mini-batch epoch
def epoch_xentlearn(w, spec):
    from xentlearn import LogisticRegression

    stamps, epochs = [], spec.get("epochs", 3)
    clf = LogisticRegression(solver="sgd", batch_size=256, max_iter=epochs, momentum=0.9,
                             nesterov=True, learning_rate_init=0.01, alpha=w.alpha,
                             random_state=0, callbacks=[lambda r, p: stamps.append(PERF())])
    mem = PeakRSS()
    t0 = PERF()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(w.X, w.y)
    peak = mem.above_mb()
    times = [stamps[0] - t0] + list(np.diff(stamps))
    return {"seconds": statistics.median(times[1:]), "epoch_seconds": times,
            "peak_mb": peak, "rss_reset": mem.reset_ok}


def _torch_linear(d, k, dtype):
    import torch

    return torch.nn.Linear(d, 1 if k == 2 else k).to(dtype)


def epoch_torch(w, spec):
    import torch

    torch.manual_seed(0)
    X = torch.from_numpy(np.ascontiguousarray(w.X))
    k = w.n_classes
    y = torch.from_numpy(w.y.astype(np.float64) if k == 2 else w.y)
    net = _torch_linear(X.shape[1], k, X.dtype)
    opt = torch.optim.SGD([{"params": [net.weight], "weight_decay": w.alpha},
                           {"params": [net.bias], "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits if k == 2
               else torch.nn.functional.cross_entropy)
    mem = PeakRSS()
    times = []
    for _ in range(spec.get("epochs", 3)):
        t0 = PERF()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 256):
            idx = order[i:i + 256]
            opt.zero_grad(set_to_none=True)
            out = net(X[idx])
            loss = loss_fn(out[:, 0] if k == 2 else out, y[idx])
            loss.backward()
            opt.step()
        times.append(PERF() - t0)
    return {"seconds": statistics.median(times[1:]), "epoch_seconds": times,
            "peak_mb": mem.above_mb(), "torch_threads": torch.get_num_threads(),
            "rss_reset": mem.reset_ok}


def epoch_sgdclassifier(w, spec):
    from sklearn.linear_model import SGDClassifier

    clf = SGDClassifier(loss="log_loss", alpha=w.alpha, learning_rate="constant", eta0=0.01,
                        random_state=0)
    classes = np.arange(w.n_classes)
    mem = PeakRSS()
    times = []
    for _ in range(spec.get("epochs", 3)):
        t0 = PERF()
        clf.partial_fit(w.X, w.y, classes=classes)
        times.append(PERF() - t0)
    return {"seconds": statistics.median(times[1:]), "epoch_seconds": times,
            "peak_mb": mem.above_mb(), "rss_reset": mem.reset_ok}


# ---------------------------------------------------------------- MLP
MLP_HIDDEN, MLP_LR, MLP_ALPHA, MLP_REF_EPOCHS = 64, 1e-3, 1e-4, 5


def _torch_mlp(w, epochs, target, torch_threads=None):
    import torch

    torch.manual_seed(0)
    X = torch.from_numpy(np.ascontiguousarray(w.X))
    k = w.n_classes
    y = torch.from_numpy(w.y.astype(np.float64) if k == 2 else w.y)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], MLP_HIDDEN), torch.nn.ReLU(),
                              torch.nn.Linear(MLP_HIDDEN, 1 if k == 2 else k)).to(X.dtype)
    weights = [net[0].weight, net[2].weight]
    biases = [net[0].bias, net[2].bias]
    opt = torch.optim.Adam([{"params": weights, "weight_decay": MLP_ALPHA},
                            {"params": biases, "weight_decay": 0.0}], lr=MLP_LR)
    loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits if k == 2
               else torch.nn.functional.cross_entropy)
    mem = PeakRSS()
    clock, curve, reached_at = 0.0, [], None
    for epoch in range(1, epochs + 1):
        t0 = PERF()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 256):
            idx = order[i:i + 256]
            opt.zero_grad(set_to_none=True)
            out = net(X[idx])
            loss = loss_fn(out[:, 0] if k == 2 else out, y[idx])
            loss.backward()
            opt.step()
        clock += PERF() - t0
        params = [(lin.weight.detach().numpy().T, lin.bias.detach().numpy())
                  for lin in (net[0], net[2])]
        curve.append(workloads.mlp_log_loss(w.X_test, w.y_test, params))
        if target is not None and curve[-1] <= target:
            reached_at = (epoch, clock)
            break
    return clock, curve, reached_at, mem


def mlp_torch_ref(w, spec):
    clock, curve, _, mem = _torch_mlp(w, MLP_REF_EPOCHS, None)
    return {"target": curve[-1], "curve": curve, "seconds": clock, "peak_mb": mem.above_mb()}


def mlp_torch(w, spec):
    clock, curve, reached, mem = _torch_mlp(w, spec["max_epochs"], spec["target"])
    return _mlp_result(clock, curve, reached, mem)


def _mlp_result(clock, curve, reached, mem):
    return {"seconds": reached[1] if reached else float("inf"), "epochs": len(curve),
            "reached": reached is not None, "curve": curve, "train_seconds": clock,
            "peak_mb": mem.above_mb(), "rss_reset": mem.reset_ok}


def mlp_xentlearn(w, spec):
    from xentlearn import MLPClassifier

    target = spec["target"]
    state = {"paused": 0.0, "curve": [], "reached": None}
    t0 = [0.0]

    def cb(record, params):
        now = PERF()
        loss = workloads.mlp_log_loss(w.X_test, w.y_test,
                                      [(params["W0"], params["b0"]), (params["W1"], params["b1"])])
        state["curve"].append(loss)
        if loss <= target:
            state["reached"] = (len(state["curve"]), now - t0[0] - state["paused"])
        state["paused"] += PERF() - now
        return state["reached"] is not None

    clf = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), activation="relu", solver="adam",
                        batch_size=256, learning_rate_init=MLP_LR, alpha=MLP_ALPHA,
                        max_iter=spec["max_epochs"], tol=0.0,
                        n_iter_no_change=spec["max_epochs"] + 1, random_state=0,
                        callbacks=[cb])
    mem = PeakRSS()
    t0[0] = PERF()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(w.X, w.y)
    clock = PERF() - t0[0] - state["paused"]
    return _mlp_result(clock, state["curve"], state["reached"], mem)


def mlp_sklearn(w, spec):
    from sklearn.neural_network import MLPClassifier

    target = spec["target"]
    clf = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), activation="relu", solver="adam",
                        batch_size=256, learning_rate_init=MLP_LR, alpha=MLP_ALPHA * 256,
                        random_state=0)
    classes = np.arange(w.n_classes)
    mem = PeakRSS()
    clock, curve, reached = 0.0, [], None
    for epoch in range(1, spec["max_epochs"] + 1):
        t0 = PERF()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(w.X, w.y, classes=classes)
        clock += PERF() - t0
        curve.append(workloads.mlp_log_loss(w.X_test, w.y_test,
                                            list(zip(clf.coefs_, clf.intercepts_))))
        if curve[-1] <= target:
            reached = (epoch, clock)
            break
    return _mlp_result(clock, curve, reached, mem)


def mlp_numpy_floor(w, spec):
    """The same training, hand-written as lean as numpy allows: the floor for numpy.

    One relu layer, softmax cross-entropy, L2 on the weights, Adam as torch,
    Glorot-uniform init as xentlearn and scikit-learn, a fresh permutation per
    epoch, BLAS on one thread (as xentlearn trains). Everything lives in one flat
    parameter vector, so Adam is a handful of passes; no input checks, no
    divergence checks, no callbacks, no history. Multiclass only (W2).
    Two threads do not help at this size: handing half of each batch to a second
    thread made this loop slower (0.72 -> 0.83 s per epoch on W2), because the
    ~20 numpy calls per half hand the GIL back and forth.
    """
    from threadpoolctl import threadpool_limits

    X, y, k = w.X, w.y, w.n_classes
    (n, d), h, batch = X.shape, MLP_HIDDEN, 256
    rng = np.random.default_rng(0)
    shapes = [(d, h), (h,), (h, k), (k,)]
    flat = np.concatenate([rng.uniform(-b, b, size).ravel() for size, b in zip(
        shapes, [np.sqrt(6 / (d + h))] * 2 + [np.sqrt(6 / (h + k))] * 2)])
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def views(v):
        return [v[a:b].reshape(sh) for a, b, sh in zip(bounds[:-1], bounds[1:], shapes)]

    decay = np.zeros_like(flat)                     # L2 on the weights only
    decay[bounds[0]:bounds[1]] = decay[bounds[2]:bounds[3]] = MLP_ALPHA
    m, v, g = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)
    X_buf, y_buf = np.empty((batch, d)), np.empty(batch, y.dtype)
    mem = PeakRSS()
    clock, curve, reached, step = 0.0, [], None, 0
    with threadpool_limits(1, "blas"):
        for epoch in range(1, spec["max_epochs"] + 1):
            t0 = PERF()
            order = rng.permutation(n)
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                rows = len(idx)
                Xb = np.take(X, idx, axis=0, out=X_buf[:rows])
                yb = np.take(y, idx, out=y_buf[:rows])
                W0, b0, W1, b1 = views(flat)
                A = Xb @ W0
                A += b0
                np.maximum(A, 0, out=A)
                Z = A @ W1
                Z += b1
                Z -= Z.max(axis=1, keepdims=True)
                np.exp(Z, out=Z)
                Z /= Z.sum(axis=1, keepdims=True)
                Z[np.arange(rows), yb] -= 1.0
                Z *= 1.0 / rows
                gW0, gb0, gW1, gb1 = views(g)
                np.matmul(A.T, Z, out=gW1)
                Z.sum(axis=0, out=gb1)
                D = Z @ W1.T
                D *= A > 0
                np.matmul(Xb.T, D, out=gW0)
                D.sum(axis=0, out=gb0)
                g += decay * flat
                step += 1
                m += (1 - 0.9) * (g - m)
                v *= 0.999
                v += (1 - 0.999) * (g * g)
                denom = np.sqrt(v)
                denom *= 1 / np.sqrt(1 - 0.999 ** step)
                denom += 1e-8
                denom = np.divide(m, denom, out=denom)
                denom *= -MLP_LR / (1 - 0.9 ** step)
                flat = flat + denom
            clock += PERF() - t0
            W0, b0, W1, b1 = views(flat)
            curve.append(workloads.mlp_log_loss(w.X_test, w.y_test, [(W0, b0), (W1, b1)]))
            if curve[-1] <= spec["target"]:
                reached = (epoch, clock)
                break
    return _mlp_result(clock, curve, reached, mem)


# ---------------------------------------------------------------- gradient vs read
def grad_vs_read(w, spec):
    from xentlearn.data import ArraySource
    from xentlearn.models import Linear
    from xentlearn.objective import Objective, make_loss
    from xentlearn.training import parallel_map
    from xentlearn.penalties import Penalty

    binary = w.n_classes == 2
    task = "binary" if binary else "multiclass"
    model = Linear(w.X.shape[1], 1 if binary else w.n_classes)
    objective = Objective(model, make_loss(task), Penalty(w.alpha), task)
    # Away from zero: at W = 0 the linear model skips the forward product (the logits are
    # the intercept), which only a fit's first evaluation enjoys.
    params = model.init(np.random.default_rng(0), np.float64)
    params["W0"] = 0.01 * np.random.default_rng(0).standard_normal(params["W0"].shape)
    source = ArraySource(w.X, w.y.astype(np.float64) if binary else w.y)
    v = np.ones(w.X.shape[1])

    # The training loop's own path: row blocks on both cores, BLAS on one thread; the
    # pool is made once per fit there, so once here (read and gemv run inside it too).
    parallel = parallel_map()
    map_fn = parallel.__enter__()

    def grad():
        objective.value_and_grad(params, source.batches(None), map_fn=map_fn)

    def read():
        w.X.sum(axis=0)

    def gemv():
        w.X @ v

    fns = {"grad": grad, "read": read, "gemv": gemv}
    for fn in fns.values():
        fn()                                         # warm-up
    times = {name: [] for name in fns}
    for r in range(spec.get("repeats", 7)):
        names = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for name in names:
            t0 = PERF()
            fns[name]()
            times[name].append(PERF() - t0)
    parallel.__exit__(None, None, None)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {"seconds": med["grad"], "read_seconds": med["read"], "gemv_seconds": med["gemv"],
            "times": times}


# ---------------------------------------------------------------- digits
def digits(w, f_opt, spec):
    from sklearn.linear_model import LogisticRegression as SkLR

    from xentlearn import LogisticRegression as XLR

    def xl():
        clf = XLR(alpha=w.alpha, solver="lbfgs", tol=1e-4, max_iter=1000)
        clf.fit(w.X, w.y)
        return clf.coef_.T, clf.intercept_, clf.n_iter_

    def sk():
        clf = SkLR(C=1.0, solver="lbfgs", tol=1e-4, max_iter=1000)
        clf.fit(w.X, w.y)
        return clf.coef_.T, clf.intercept_, int(np.max(clf.n_iter_))

    fns = {"xentlearn": xl, "sklearn": sk}
    times = {name: [] for name in fns}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in fns.values():
            fn()
        for r in range(spec.get("repeats", 15)):
            for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                t0 = PERF()
                out[name] = fns[name]()
                times[name].append(PERF() - t0)
    res = {}
    for name in fns:
        W, b, n_iter = out[name]
        res[name] = {"seconds": statistics.median(times[name]), "iterations": int(n_iter),
                     "gap": _gap(w, W, b, f_opt)}
    return {"seconds": res["xentlearn"]["seconds"], "peer_seconds": res["sklearn"]["seconds"],
            "detail": res}


# ---------------------------------------------------------------- checkpoint
def checkpoint_overhead(w, spec):
    """The bench's MLP training (64 relu, adam, batch 256) for a few epochs with and
    without checkpoint=PATH (a write at every epoch end), alternated in one process:
    the median time of each. The file is removed by the successful fit."""
    import tempfile

    from xentlearn import MLPClassifier

    path = os.path.join(tempfile.mkdtemp(), "fit.ckpt")
    epochs = spec.get("epochs", 2)

    def fit(checkpoint):
        clf = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), batch_size=256,
                            learning_rate_init=MLP_LR, alpha=MLP_ALPHA, max_iter=epochs,
                            tol=0.0, random_state=0, checkpoint=checkpoint)
        t0 = PERF()
        clf.fit(w.X, w.y)
        return PERF() - t0

    fns = {"with": lambda: fit(path), "without": lambda: fit(None)}
    times = {name: [] for name in fns}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(spec.get("repeats", 5)):
            for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                times[name].append(fns[name]())
    return {"seconds": statistics.median(times["with"]),
            "peer_seconds": statistics.median(times["without"]), "epochs": epochs,
            "times": times}


# ---------------------------------------------------------------- dispatch
NEEDS_OPT = {"lbfgs", "digits", "fastest"}
CONTENDERS = {
    ("lbfgs", "xentlearn"): lbfgs_xentlearn,
    ("lbfgs", "sklearn-lbfgs"): lbfgs_sklearn,
    ("lbfgs", "sklearn-saga"): lbfgs_saga,
    ("epoch", "xentlearn"): epoch_xentlearn,
    ("epoch", "torch"): epoch_torch,
    ("epoch", "sklearn-sgd"): epoch_sgdclassifier,
    ("mlp", "torch-ref"): mlp_torch_ref,
    ("mlp", "xentlearn"): mlp_xentlearn,
    ("mlp", "torch"): mlp_torch,
    ("mlp", "sklearn-mlp"): mlp_sklearn,
    ("mlp", "numpy-floor"): mlp_numpy_floor,
    ("grad", "xentlearn"): grad_vs_read,
    ("digits", "xentlearn"): digits,
    ("fastest", "xentlearn"): fastest_xentlearn,
    ("fastest", "sklearnex"): fastest_sklearnex,
    ("fastest", "sklearn-lbfgs"): fastest_sklearn_lbfgs,
    ("fastest", "glum"): fastest_glum,
    ("fastest", "liblinear"): fastest_liblinear,
    ("fastest", "sklearn-saga"): fastest_saga,
    ("checkpoint", "xentlearn"): checkpoint_overhead,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    fn = CONTENDERS[(spec["task"], spec["contender"])]
    w = workloads.load(spec["workload"], spec["quick"])
    if spec["task"] in NEEDS_OPT:
        result = fn(w, workloads.meta(spec["workload"], spec["quick"])["f_opt"], spec)
    else:
        result = fn(w, spec)
    result.update(spec=spec, data_mb=w.data_bytes / 2 ** 20, pid=os.getpid())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
