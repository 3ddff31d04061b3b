"""Training on a Dask cluster (issue #12): memory, speed against dask-ml, overhead over the
in-memory fit, the cost of one evaluation, and scaling. Run by hand (minutes):

    .venv/bin/python bench/dask_bench.py [--quick] [--only memory,daskml,overhead,evaluation,scaling]

dask-ml comes with the bench extra: pip install -e '.[dask,bench]'.

Every measure runs in a fresh child process with its own LocalCluster
(threads_per_worker=1, processes=True, on this machine), and prints one JSON line;
the parent prints them and a summary. Binary logistic regression throughout, data
generated on the workers (dask.array.random), float64.

memory      client RSS growth (peak during fit minus RSS just before it, sampled every
            5 ms) when fitting LogisticRegression on 800 MiB of X (1,048,576 x 100)
            generated on 2 workers; target < 150 MiB
daskml      time to the optimum on the same 2-worker cluster, X and y persisted first:
            xentlearn lbfgs (tol 1e-9 on the mean gradient) against
            dask_ml.linear_model.LogisticRegression(solver="lbfgs") (its default
            pgtol 1e-4 on the summed gradient: the same 1e-9 per row at n = 100,000);
            both against the in-memory optimum; target ratio <= 0.3
overhead    1,000,000 x 100 (W1's size): LogisticRegression().fit on the dask arrays
            (persisted on 2 workers) over the same fit on the same rows in memory (two
            threads); target <= 2
evaluation  one full-batch evaluation (loss + gradient) on 2 workers, 1,000,000 x 100 in
            16 parts: wall time, compute time inside the tasks (max over workers),
            round-trip overhead (the rest), bytes out (task arguments) and back (results)
scaling     per-evaluation wall time on 1 and 2 workers: strong (1,000,000 rows on both)
            and weak (500,000 rows per worker) efficiency, and a paper model of the cost
            (``_scaling_model``) that extrapolates to 8, 32 and 128 workers

lbfgs's preconditioner takes the column moments that the metadata pass computed on the
workers (R1, in estimators/_build.py), so no part of X comes to the client during a fit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
import warnings

import numpy as np

MIB = 1 << 20


# --------------------------------------------------------------------------- helpers
def _cluster(n_workers: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def _data(n: int, d: int, chunk_rows: int, seed: int = 0):
    """X ~ N(0, 1) (n, d) and y = [X w + logistic noise > 0], lazily, made on the workers."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, d), chunks=(chunk_rows, d))
    w = np.linspace(-1.0, 1.0, d)
    noise = da.random.default_rng(seed + 1).logistic(size=n, chunks=chunk_rows)
    y = ((X @ w + noise) > 0).astype(np.int64)
    return X, y


class _PeakRSS:
    """Peak resident memory of this process, sampled every 5 ms in a thread."""

    def __init__(self):
        import psutil

        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.start) / MIB


def _warm_up(client) -> None:
    """Imports and first-call costs paid before anything is timed (here and on workers)."""
    import dask.array as da

    from xentlearn import LogisticRegression

    X, y = _data(2000, 5, 500, seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogisticRegression().fit(X, y)
        LogisticRegression().fit(X.compute(), y.compute())
        LogisticRegression(solver="adam", max_iter=1).fit(X, y)
    del da


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


# --------------------------------------------------------------------------- measures
def measure_memory(quick: bool) -> dict:
    from xentlearn import LogisticRegression

    n = 131072 if quick else 1048576
    cluster, client = _cluster(2)
    with cluster, client:
        _warm_up(client)
        X, y = _data(n, 100, 32768, seed=1)            # generated on the workers by the fit
        rss = _PeakRSS()
        seconds = _fit(LogisticRegression(), X, y)
        growth = rss.stop()
    return {"measure": "memory", "x_mib": n * 100 * 8 / MIB, "client_growth_mib": growth,
            "fit_s": seconds, "target_mib": 150}


def measure_daskml(quick: bool) -> dict:
    from dask_ml.linear_model import LogisticRegression as DaskMLLogisticRegression
    from distributed import wait
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from xentlearn import LogisticRegression

    n, d = (20000, 20) if quick else (100000, 20)
    cluster, client = _cluster(2)
    with cluster, client:
        _warm_up(client)
        X, y = _data(n, d, n // 4, seed=2)
        X, y = client.persist([X, y])
        wait([X, y])
        X_np, y_np = X.compute(), y.compute()
        optimum = SkLogisticRegression(tol=1e-12, max_iter=10000).fit(X_np, y_np)
        reference = np.r_[optimum.coef_.ravel(), optimum.intercept_]
        rows = []
        for _ in range(2):                              # alternate, keep each one's best
            ours = LogisticRegression(tol=1e-9, max_iter=1000)
            t_ours = _fit(ours, X, y)
            theirs = DaskMLLogisticRegression(solver="lbfgs", C=1.0, max_iter=1000)
            t_theirs = _fit(theirs, X, y)
            rows.append((t_ours, t_theirs, ours, theirs))
        best_ours = min(r[0] for r in rows)
        best_theirs = min(r[1] for r in rows)
        ours, theirs = rows[-1][2], rows[-1][3]

        def rel(coef, intercept):
            got = np.r_[np.ravel(coef), np.ravel(intercept)]
            return float(np.abs(got - reference).max() / np.abs(reference).max())

    return {"measure": "daskml", "n": n, "d": d, "xentlearn_s": best_ours,
            "daskml_s": best_theirs, "ratio": best_ours / best_theirs, "target": 0.3,
            "xentlearn_iterations": int(ours.n_iter_),
            "xentlearn_rel_coef_diff": rel(ours.coef_, ours.intercept_),
            "daskml_rel_coef_diff": rel(theirs.coef_, theirs.intercept_)}


def measure_overhead(quick: bool) -> dict:
    from distributed import wait

    from xentlearn import LogisticRegression

    n = 100000 if quick else 1000000
    cluster, client = _cluster(2)
    with cluster, client:
        _warm_up(client)
        X, y = _data(n, 100, n // 16, seed=3)
        X, y = client.persist([X, y])
        wait([X, y])
        X_np, y_np = X.compute(), y.compute()
        in_memory, on_cluster = [], []
        for _ in range(2):                              # alternate, keep each one's best
            here = LogisticRegression()
            in_memory.append(_fit(here, X_np, y_np))
            there = LogisticRegression()
            on_cluster.append(_fit(there, X, y))
        rel = float(np.abs(there.coef_ - here.coef_).max() / np.abs(here.coef_).max())
    return {"measure": "overhead", "n": n, "in_memory_s": min(in_memory),
            "dask_s": min(on_cluster), "ratio": min(on_cluster) / min(in_memory),
            "target": 2.0, "iterations": int(there.n_iter_), "rel_coef_diff": rel}


def _timed_shard_terms(parts, objective, params):
    """shard_terms with the time it took inside the task (runs on a worker)."""
    from xentlearn.training._distributed import shard_terms

    start = time.perf_counter()
    terms = shard_terms(parts, objective, params)
    return time.perf_counter() - start, terms


def _evaluation_setup(n: int, d: int, parts: int, seed: int):
    from distributed import wait

    from xentlearn.data._dask import DaskSource
    from xentlearn.estimators._dask_inputs import _encode_part
    from xentlearn.models import Linear
    from xentlearn.objective import Objective, make_loss
    from xentlearn.penalties import Penalty

    X, y = _data(n, d, -(-n // parts), seed=seed)
    source = DaskSource.from_collections(X, y, None, dtype=np.float64)
    source = source.replace_parts(_encode_part, "binary", np.array([0, 1]), "<f8")
    wait(source.parts)
    objective = Objective(Linear(d, 1), make_loss("binary"), Penalty(1.0 / n), "binary")
    rng = np.random.default_rng(0)
    params = {"W0": rng.normal(size=(d, 1)) * 0.1, "b0": np.zeros(1)}
    return source, objective, params


def _time_evaluations(source, objective, params, repeats: int) -> dict:
    from xentlearn.training._distributed import DaskBackend

    backend = DaskBackend()
    walls, computes = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.full_batch(objective, params, source)
        walls.append(time.perf_counter() - start)
        results = source.map_shards(_timed_shard_terms, objective, params)
        computes.append(max(seconds for seconds, _ in results))
    per_shard_results = [terms for _, terms in source.map_shards(_timed_shard_terms, objective,
                                                                 params)]
    bytes_out = len(source.shards) * len(pickle.dumps((objective, params), protocol=5))
    bytes_back = sum(len(pickle.dumps(r, protocol=5)) for r in per_shard_results)
    wall, compute = statistics.median(walls), statistics.median(computes)
    return {"wall_s": wall, "compute_max_s": compute, "overhead_s": max(0.0, wall - compute),
            "bytes_out": bytes_out, "bytes_back": bytes_back}


def measure_evaluation(quick: bool) -> dict:
    n = 100000 if quick else 1000000
    cluster, client = _cluster(2)
    with cluster, client:
        _warm_up(client)
        source, objective, params = _evaluation_setup(n, 100, 16, seed=4)
        timing = _time_evaluations(source, objective, params, 5 if quick else 10)
    return {"measure": "evaluation", "n": n, "d": 100, "parts": 16, "workers": 2, **timing}


def measure_scaling(quick: bool) -> dict:
    n = 100000 if quick else 1000000
    out = {"measure": "scaling", "n": n}
    for workers in (1, 2):
        cluster, client = _cluster(workers)
        with cluster, client:
            _warm_up(client)
            for label, rows in (("strong", n), ("weak", n // 2 * workers)):
                source, objective, params = _evaluation_setup(rows, 100, 16, seed=5)
                timing = _time_evaluations(source, objective, params, 5 if quick else 10)
                out[f"{label}_{workers}"] = timing
                del source
    t1, t2 = out["strong_1"]["wall_s"], out["strong_2"]["wall_s"]
    out["strong_efficiency"] = t1 / (2 * t2)
    out["weak_efficiency"] = out["weak_1"]["wall_s"] / out["weak_2"]["wall_s"]
    out["model"] = _scaling_model(out, n)
    return out


def _scaling_model(out: dict, n: int) -> dict:
    """A paper estimate of one evaluation on p workers: T(p) = c N / p + o + s p.

    c: compute per row on one worker (measured: strong_1's compute / N). o: the
    round trip of one evaluation (measured: the least of the overheads seen).
    s: what one more worker adds to every evaluation: the scheduler's work for one
    more task and the client's for one more result (unpickle, add 16 x 101
    floats). It cannot be measured on two workers sharing two cores with the
    client and the scheduler, so it is taken as 1 ms (dask's documented
    per-task overhead is of that order). Strong: N = 1,000,000 and 100 x that;
    weak: 500,000 rows per worker. Efficiency = T(1) / (p T(p)), weak T(1) / T(p).
    """
    c = out["strong_1"]["compute_max_s"] / n
    o = min(out[k]["overhead_s"] for k in ("strong_1", "strong_2", "weak_1", "weak_2")
            if out[k]["overhead_s"] > 0)
    s = 1e-3
    model = {"c_per_row_s": c, "o_s": o, "s_per_worker_s": s}

    def t(rows, p):
        return c * rows / p + o + s * p

    for p in (8, 32, 128):
        model[str(p)] = {
            "strong_efficiency": t(n, 1) / (p * t(n, p)),
            "strong_efficiency_100x_rows": t(100 * n, 1) / (p * t(100 * n, p)),
            "weak_efficiency": (c * (n // 2) + o + s) / (c * (n // 2) + o + s * p)}
    return model


MEASURES = {"memory": measure_memory, "daskml": measure_daskml, "overhead": measure_overhead,
            "evaluation": measure_evaluation, "scaling": measure_scaling}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(MEASURES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(MEASURES[args.child](args.quick)), flush=True)
        return
    started = time.time()
    print(f"# load average at start: {os.getloadavg()}", flush=True)
    for name in args.only.split(","):
        command = [sys.executable, __file__, "--child", name]
        command += ["--quick"] * args.quick
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(f"{name}: failed\n{done.stderr[-3000:]}", flush=True)
            continue
        print(json.dumps(json.loads(lines[-1][7:]), indent=1), flush=True)
    print(f"# load average at end: {os.getloadavg()}, {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
