"""Training from files at array speed (issue #13 item 4): fit(TableFiles) against the
array fit of the same rows.

    .venv/bin/python bench/files_bench.py [--repeats R] [--rows N] [--stream-repeats S]
    .venv/bin/python bench/files_bench.py '{"contender": "files", "table": "F1"}'

("quick": true in the JSON: 20,000 rows.)

The first form runs every contender in a fresh child process (the second form, which
prints one JSON line), alternating them and rotating who goes first on each repeat,
then prints the medians, the ratios to the array fit and the load average, and
writes bench/results/files.json.

Table F1: 100,000 x 20 standard-normal features, a binary label y = [X w + e > 0]
(seed 0), written once as CSV (about 40 MB) and as Parquet in bench/.cache/.
Every contender fits ``LogisticRegression(solver="lbfgs")`` (L2, alpha "auto",
the default tol) after an untimed fit of 2,000 rows of the same kind, from a file of
the same format for the file contenders (imports and one-time set-up, such as the
first Parquet read of a process, are not what is measured):

    arrays        fit(X, y), the rows read from the CSV beforehand (not timed)
    read+arrays   pandas.read_csv of the CSV, then fit(X, y), timed together:
                  what a user who loads the file first waits for
    files         fit(TableFiles(csv, target="y")): decoded once into memory (the
                  rows fit the default budget, a quarter of the physical memory)
    files-stream  the same with memory_budget=0: streamed, the CSV re-read and
                  re-decoded on every pass (the only path before the budget)
    parquet       fit(TableFiles(parquet, target="y")), in memory

Reported per child: ``seconds`` (the timed part), ``prepare_seconds`` (of it, the
estimator's data preparation, ``estimators._inputs.prepare``: for files, the pass that
reads them, learns the preprocessing and the classes; the decode happens on the first
pass after it), ``n_iter``, ``peak_mb`` (VmHWM at the end) and ``base_mb`` (VmRSS
before the timed part), and the load average. ``seconds - prepare_seconds`` is the
training itself: the same for files in memory as for arrays. For read+arrays the
preparation includes pandas' read and the conversion to numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
PERF = time.perf_counter
CONTENDERS = ("arrays", "read+arrays", "files", "files-stream", "parquet")


def _paths(table: str, rows: int) -> dict:
    stem = CACHE / f"{table}-{rows}"
    return {"csv": stem.with_suffix(".csv"), "parquet": stem.with_suffix(".parquet"),
            "small": CACHE / f"{table}-small.csv",
            "small-parquet": CACHE / f"{table}-small.parquet"}


def make_table(table: str = "F1", rows: int = 100_000) -> dict:
    """Write the table (and 2,000-row ones, CSV and Parquet, for the warm-up) if missing;
    their paths."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    paths = _paths(table, rows)
    if all(p.exists() for p in paths.values()):
        return paths
    CACHE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    n_features = 20
    X = rng.standard_normal((rows, n_features))
    w = rng.standard_normal(n_features)
    y = (X @ w + rng.standard_normal(rows) > 0).astype(np.int64)
    columns = {f"x{j}": X[:, j] for j in range(n_features)}
    columns["y"] = y
    data = pa.table(columns)
    for key, part in (("csv", data), ("small", data.slice(0, 2000))):
        tmp = paths[key].with_suffix(".tmp")
        pacsv.write_csv(part, tmp)
        os.replace(tmp, paths[key])
    for key, part in (("parquet", data), ("small-parquet", data.slice(0, 2000))):
        tmp = paths[key].with_suffix(".tmp")
        pq.write_table(part, tmp)
        os.replace(tmp, paths[key])
    return paths


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024


def _read_arrays(path):
    import pyarrow.csv as pacsv

    data = pacsv.read_csv(path)
    y = data.column("y").to_numpy()
    X = np.column_stack([data.column(n).to_numpy() for n in data.column_names if n != "y"])
    return X, y


def run_child(spec: dict) -> dict:
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles
    from xentlearn.estimators import _inputs

    contender = spec["contender"]
    spent: list = []          # seconds of data preparation (see the module docstring)
    rows = int(spec.get("rows", 20_000 if spec.get("quick") else 100_000))
    paths = make_table(spec.get("table", "F1"), rows)

    def model():
        return LogisticRegression(solver="lbfgs")

    if contender == "arrays":
        X, y = _read_arrays(paths["csv"])
        model().fit(*_read_arrays(paths["small"]))

        def fit():
            return model().fit(X, y)
    elif contender == "read+arrays":
        import pandas as pd

        small = pd.read_csv(paths["small"])
        model().fit(small.drop(columns="y").to_numpy(), small["y"].to_numpy())

        def fit():
            start = PERF()
            frame = pd.read_csv(paths["csv"])
            X, y = frame.drop(columns="y").to_numpy(), frame["y"].to_numpy()
            spent.append(PERF() - start)       # counted with the preparation
            return model().fit(X, y)
    elif contender in ("files", "files-stream", "parquet"):
        budget = 0 if contender == "files-stream" else None
        path = paths["parquet"] if contender == "parquet" else paths["csv"]
        small = paths["small-parquet"] if contender == "parquet" else paths["small"]
        model().fit(TableFiles(small, target="y", memory_budget=budget))

        def fit():
            return model().fit(TableFiles(path, target="y", memory_budget=budget))
    else:
        raise SystemExit(f"unknown contender {contender!r}; choose from {CONTENDERS}")
    prepare = _inputs.prepare

    def timed_prepare(*args, **kwargs):
        start = PERF()
        try:
            return prepare(*args, **kwargs)
        finally:
            spent.append(PERF() - start)

    _inputs.prepare = timed_prepare
    load_before = os.getloadavg()[0]
    base = _status_mb("VmRSS:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = PERF()
        est = fit()
        seconds = PERF() - start
    return {"contender": contender, "seconds": seconds, "prepare_seconds": sum(spent),
            "n_iter": int(est.n_iter_),
            "base_mb": base, "peak_mb": _status_mb("VmHWM:"),
            "load": [load_before, os.getloadavg()[0]], "spec": spec}


def child(spec: dict, timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, __file__, json.dumps(spec)], capture_output=True,
                          text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "spec": spec}
    return json.loads(lines[-1])


def main_parent(argv) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stream-repeats", type=int, default=1,
                        help="repeats of files-stream (slow: every pass parses the CSV)")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    make_table("F1", args.rows)
    uptime = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    results: dict = {c: [] for c in CONTENDERS}
    for r in range(args.repeats):
        contenders = [c for c in CONTENDERS if c != "files-stream" or r < args.stream_repeats]
        k = r % len(contenders)
        for contender in contenders[k:] + contenders[:k]:
            res = child({"contender": contender, "table": "F1", "rows": args.rows})
            results[contender].append(res)
            shown = res.get("error") or (f"{res['seconds']:.3f}s, {res['n_iter']} it, peak "
                                         f"{res['peak_mb']:.0f} MiB, load {res['load'][0]:.1f}")
            print(f"repeat {r + 1} {contender:13s} {shown}", flush=True)
    uptime.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())

    def median(name, field="seconds"):
        vals = [x[field] for x in results[name] if "error" not in x]
        return statistics.median(vals) if vals else None

    arrays = median("arrays")
    summary = {}
    print(f"\n{'contender':13s} {'median':>9s} {'/ arrays':>9s} {'/ read+arrays':>14s} "
          f"{'prepare':>8s} {'training':>9s} {'iter':>5s} {'peak MiB':>9s}")
    for name in CONTENDERS:
        sec = median(name)
        if sec is None:
            continue
        training = [x["seconds"] - x["prepare_seconds"] for x in results[name]
                    if "error" not in x]
        summary[name] = {"seconds": sec, "vs_arrays": sec / arrays,
                         "prepare_seconds": median(name, "prepare_seconds"),
                         "training_seconds": statistics.median(training),
                         "vs_read_arrays": sec / median("read+arrays"),
                         "n_iter": median(name, "n_iter"), "peak_mb": median(name, "peak_mb"),
                         "runs": len([x for x in results[name] if "error" not in x])}
        s = summary[name]
        print(f"{name:13s} {sec:8.3f}s {s['vs_arrays']:9.2f} {s['vs_read_arrays']:14.2f} "
              f"{s['prepare_seconds']:7.3f}s {s['training_seconds']:8.3f}s "
              f"{s['n_iter']:5.0f} {s['peak_mb']:9.0f}")
    print("\n".join(uptime))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "files.json").write_text(json.dumps({"summary": summary, "raw": results,
                                                "uptime": uptime}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("{"):
        print(json.dumps(run_child(json.loads(sys.argv[1]))))
    else:
        main_parent(sys.argv[1:])
