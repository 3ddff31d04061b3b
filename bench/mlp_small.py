"""Small-table MLP (issue #13 item 5): one contender, one table, one seed, in a fresh process.

    .venv/bin/python bench/mlp_small.py '{"contender": "xentlearn", "table": "S16", "seed": 0}'

prints one JSON line (the last line of stdout). bench/run.py (task ``mlp-small``)
spawns these, alternating the contenders and rotating who goes first.

Tables. The issue's set is UCI "letter" (20,000 rows, 16 integer features, 26
classes); there is no network here, so a synthetic stand-in of the same shape is
generated instead (``make_classification``, seed 0, ``n_clusters_per_class=1``,
``class_sep=1.5``, no redundant features), split 16,000 train / 4,000 test in
generation order and standardised with the training rows' mean and deviation:

    S16   16 features, 14 informative      (letter's shape)
    S50   50 features, 30 informative      (the top of the issue's 16-50 range)

Contenders, each trained for ``max_iter=40`` epochs (the issue's setting) with
every other hyperparameter at its library's default, and ``random_state=seed``:

    xentlearn       MLPClassifier(hidden_layer_sizes=(64,)): adam 1e-3, batch 256
    xentlearn-b200  the same with batch_size=200 (scikit-learn's batch)
    sklearn-mlp     sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(64,)):
                    adam 1e-3, batch min(200, n), its own BLAS threads
    numpy-floor     the same training (batch 256, adam at xentlearn's default step
                    0.00128, L2 1e-4 on the weights) hand-written as lean as numpy
                    allows: one flat parameter vector, no checks, BLAS on one thread
                    as xentlearn trains; what any numpy implementation can reach
    matmul-floor    only the five matrix products of each step (forward X W0, A W1;
                    backward A^T D, D W1^T, X^T D1) and the relu, batch 256, BLAS on
                    one thread: the floor that no per-step saving can go below

``--in-process TABLE ROUNDS`` instead fits xentlearn and scikit-learn (its own BLAS
threads, then one thread) alternately in one process and prints per-round ratios.
``--floor TABLE ROUNDS`` alternates, in one process, a 10-epoch xentlearn fit and the
numpy floor's 10 epochs (same seed) and prints the ratio of their median epochs
(xentlearn's ``history_``, set-up excluded): the library's overhead per step.

Reported: ``epoch_seconds``, the fit's wall time over its epochs (``n_iter_``; set-up
and the final attributes included, as a user sees them), ``epoch_cpu_seconds``, the
same in CPU time of the process (all its threads: steadier than wall time on a
shared machine, and it charges scikit-learn for both of its BLAS threads), ``epoch_median``, the median
of the per-epoch times where they are recorded (xentlearn's ``history_``, the numpy
floor's own clock),
``accuracy`` on the 4,000 test rows, and the load average before and after.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np

PERF = time.perf_counter
CPU = time.process_time
EPOCHS = 40
HIDDEN = 64
TABLES = {"S16": (16, 14), "S50": (50, 30)}     # name -> (n_features, n_informative)
FLOOR_LR = 0.001 * 256 / 200                    # xentlearn MLPClassifier's default adam step


def make_table(name: str):
    """(X_train, y_train, X_test, y_test), standardised on the training rows."""
    from sklearn.datasets import make_classification

    n_features, n_informative = TABLES[name]
    X, y = make_classification(n_samples=20_000, n_features=n_features,
                               n_informative=n_informative, n_redundant=0, n_classes=26,
                               n_clusters_per_class=1, class_sep=1.5, random_state=0)
    X_train, X_test, y_train, y_test = X[:16_000], X[16_000:], y[:16_000], y[16_000:]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, y_train, (X_test - mean) / std, y_test


def run_xentlearn(data, seed, **options):
    from xentlearn import MLPClassifier

    X, y, X_test, y_test = data
    options.setdefault("max_iter", EPOCHS)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), random_state=seed, **options)
    start, cpu = PERF(), CPU()
    clf.fit(X, y)
    seconds, cpu = PERF() - start, CPU() - cpu
    per_epoch = [record["seconds"] for record in clf.history_]
    return {"seconds": seconds, "epochs": clf.n_iter_, "epoch_seconds": seconds / clf.n_iter_,
            "epoch_cpu_seconds": cpu / clf.n_iter_,
            "epoch_median": float(np.median(per_epoch)),
            "accuracy": float(clf.score(X_test, y_test)),
            "batch_size": options.get("batch_size", "auto")}


def run_sklearn(data, seed):
    from sklearn.neural_network import MLPClassifier

    X, y, X_test, y_test = data
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=EPOCHS, random_state=seed)
    start, cpu = PERF(), CPU()
    clf.fit(X, y)
    seconds, cpu = PERF() - start, CPU() - cpu
    return {"seconds": seconds, "epochs": clf.n_iter_, "epoch_seconds": seconds / clf.n_iter_,
            "epoch_cpu_seconds": cpu / clf.n_iter_,
            "epoch_median": None, "accuracy": float(clf.score(X_test, y_test)),
            "batch_size": min(200, len(X))}


def _glorot(rng, shapes):
    """Glorot-uniform draws in scikit-learn's order (W then b per layer), one flat vector."""
    parts = []
    for fan_in, fan_out in shapes:
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        parts += [rng.uniform(-bound, bound, (fan_in, fan_out)).ravel(),
                  rng.uniform(-bound, bound, fan_out)]
    return np.concatenate(parts)


def run_numpy_floor(data, seed, matmuls_only=False, batch=256, epochs=EPOCHS):
    """The same training written as lean as numpy allows (see the module notes)."""
    from threadpoolctl import threadpool_limits

    X, y, X_test, y_test = data
    (n, d), h, k = X.shape, HIDDEN, 26
    rng = np.random.default_rng(seed)
    flat = _glorot(rng, [(d, h), (h, k)])
    shapes = [(d, h), (h,), (h, k), (k,)]
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def views(v):
        return [v[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes)]

    decay = np.zeros_like(flat)                    # L2 (alpha 1e-4) on the weights only
    decay[bounds[0]:bounds[1]] = decay[bounds[2]:bounds[3]] = 1e-4
    m, v, g = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)
    X_buf, y_buf = np.empty((batch, d)), np.empty(batch, np.intp)
    ones = np.ones(batch)
    step = 0
    per_epoch = []
    start, cpu = PERF(), CPU()
    with threadpool_limits(1, "blas"):
        for _ in range(epochs):
            per_epoch.append(PERF())
            order = rng.permutation(n)
            for first in range(0, n, batch):
                idx = order[first:first + batch]
                rows = len(idx)
                Xb = np.take(X, idx, axis=0, out=X_buf[:rows])
                W0, b0, W1, b1 = views(flat)
                gW0, gb0, gW1, gb1 = views(g)
                A = Xb @ W0
                A += b0
                np.maximum(A, 0.0, out=A)
                Z = A @ W1
                if matmuls_only:
                    np.matmul(A.T, Z, out=gW1)
                    D = Z @ W1.T
                    np.matmul(Xb.T, D, out=gW0)
                    continue
                yb = np.take(y, idx, out=y_buf[:rows])
                Z += b1
                Z -= Z.max(axis=1, keepdims=True)
                np.exp(Z, out=Z)
                Z /= (Z @ ones[:k] if k <= batch else Z.sum(axis=1))[:, None]
                Z[np.arange(rows), yb] -= 1.0
                Z *= 1.0 / rows
                np.matmul(A.T, Z, out=gW1)
                np.matmul(ones[:rows], Z, out=gb1)
                D = Z @ W1.T
                D *= A > 0
                np.matmul(Xb.T, D, out=gW0)
                np.matmul(ones[:rows], D, out=gb0)
                g += decay * flat
                step += 1
                m += (1 - 0.9) * (g - m)
                v *= 0.999
                v += (1 - 0.999) * (g * g)
                denom = np.sqrt(v)
                denom *= 1 / np.sqrt(1 - 0.999 ** step)
                denom += 1e-8
                np.divide(m, denom, out=denom)
                denom *= -FLOOR_LR / (1 - 0.9 ** step)
                flat = flat + denom
            per_epoch[-1] = PERF() - per_epoch[-1]
    seconds, cpu = PERF() - start, CPU() - cpu
    W0, b0, W1, b1 = views(flat)
    logits = np.maximum(X_test @ W0 + b0, 0.0) @ W1 + b1
    accuracy = None if matmuls_only else float((logits.argmax(axis=1) == y_test).mean())
    return {"seconds": seconds, "epochs": epochs, "epoch_seconds": seconds / epochs,
            "epoch_cpu_seconds": cpu / epochs, "epoch_median": float(np.median(per_epoch)),
            "accuracy": accuracy, "batch_size": batch}


CONTENDERS = {
    "xentlearn": lambda data, seed: run_xentlearn(data, seed),
    "xentlearn-b200": lambda data, seed: run_xentlearn(data, seed, batch_size=200),
    "sklearn-mlp": run_sklearn,
    "numpy-floor": run_numpy_floor,
    "matmul-floor": lambda data, seed: run_numpy_floor(data, seed, matmuls_only=True),
}


def alternate_in_process(table: str, rounds: int) -> None:
    """xentlearn vs scikit-learn (its own BLAS threads, and one thread) in one process,
    alternated fit by fit: drift on a shared machine then hits every contender alike.

        .venv/bin/python bench/mlp_small.py --in-process S16 5
    """
    import statistics

    from threadpoolctl import threadpool_limits

    data = make_table(table)
    fits = {"xentlearn": lambda s: run_xentlearn(data, s),
            "sklearn-mlp": lambda s: run_sklearn(data, s)}
    times: dict[str, list] = {"xentlearn": [], "sklearn-mlp": [], "sklearn-mlp-1thread": []}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        for name in (list(times) if r % 2 == 0 else list(times)[::-1]):
            with warnings.catch_warnings(), threadpool_limits(
                    1 if name.endswith("1thread") else None, "blas"):
                warnings.simplefilter("ignore")
                times[name].append(fits[name.removesuffix("-1thread")](r)["epoch_seconds"])
        loads.append(os.getloadavg()[0])
    for name, values in times.items():
        print(f"{table} {name:20s} seconds per epoch: median {statistics.median(values):.4f}, "
              f"min {min(values):.4f}")
    for peer in ("sklearn-mlp", "sklearn-mlp-1thread"):
        ratios = [a / b for a, b in zip(times["xentlearn"], times[peer])]
        print(f"{table} xentlearn / {peer}: median of rounds {statistics.median(ratios):.3f} "
              f"({', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"load average 1 min at each round: {', '.join(f'{x:.1f}' for x in loads)}")


def against_floor(table: str, rounds: int, epochs: int = 10) -> None:
    """xentlearn's epochs over the numpy floor's, alternated fit by fit in one process.

        .venv/bin/python bench/mlp_small.py --floor S16 10
    """
    import statistics

    data = make_table(table)
    mine, floor, ratios, loads = [], [], [], [os.getloadavg()[0]]
    for r in range(rounds):
        for name in (("xentlearn", "floor") if r % 2 == 0 else ("floor", "xentlearn")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "xentlearn":
                    mine.append(run_xentlearn(data, r, max_iter=epochs)["epoch_median"])
                else:
                    floor.append(run_numpy_floor(data, r, epochs=epochs)["epoch_median"])
        ratios.append(mine[-1] / floor[-1])
        loads.append(os.getloadavg()[0])
    steps = -(-len(data[0]) // 256)
    for name, values in (("xentlearn", mine), ("numpy-floor", floor)):
        print(f"{table} {name:12s} seconds per epoch: median {statistics.median(values):.4f} "
              f"({statistics.median(values) / steps * 1e6:.0f} us per step), min {min(values):.4f}")
    print(f"{table} xentlearn / numpy-floor: median of rounds {statistics.median(ratios):.3f} "
          f"({', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"load average 1 min at each round: {', '.join(f'{x:.1f}' for x in loads)}")


def main() -> None:
    if sys.argv[1] == "--in-process":
        alternate_in_process(sys.argv[2], int(sys.argv[3]))
        return
    if sys.argv[1] == "--floor":
        against_floor(sys.argv[2], int(sys.argv[3]))
        return
    spec = json.loads(sys.argv[1])
    data = make_table(spec["table"])
    load_before = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # ConvergenceWarning at 40 epochs
        result = CONTENDERS[spec["contender"]](data, int(spec.get("seed", 0)))
    result.update(spec=spec, load=[load_before, os.getloadavg()[0]], pid=os.getpid())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
