"""xentlearn against its peers, in one run: `make bench` (or `make bench ARGS=--quick`).

Generates the workloads once (bench/workloads.py; cached in bench/.cache/ with
each linear optimum), then runs every measurement in a fresh child process
(bench/peers.py), xentlearn and its peers alternating (the order rotates each
repeat, and repeats interleave), so that drift on the machine hits all of them.
Prints a table of ratios xentlearn / peer (lower is better) and writes
bench/results/bench-<full|quick>.json and .png (a bar chart of the ratios with
their targets).

Measures (objective: mean cross-entropy + ||W||^2 / (2n), float64 everywhere):
  gap 1e-6      full-batch time until F - F* <= 1e-6: xentlearn lbfgs vs
                scikit-learn LogisticRegression lbfgs (W1, W2, W4) and saga (W4)
  epoch         one mini-batch epoch (batch 256, SGD momentum 0.9 Nesterov,
                lr 0.01) vs a plain PyTorch CPU loop (W1, W2); vs SGDClassifier
                (per-sample SGD, for reference)
  mlp           MLP (64 relu, adam 1e-3, batch 256): time to the test log-loss
                the PyTorch loop reaches in 5 epochs, vs PyTorch and vs
                scikit-learn MLPClassifier (W2); also the same training
                hand-written as lean as numpy allows ("numpy floor"), against
                which both xentlearn and the peers are shown
  grad/read     full-batch loss + gradient of the linear model over one read
                of X (X.sum(axis=0)) (W1, W2; W4 for reference)
  fastest       time to a relative gap (F - F*) / F* <= 1e-6 against the fastest peers
                (PEERS.md; W5-W8, 200,000 x 100, each with its own penalty):
                scikit-learn-intelex and glum (L2 binary, W5), scikit-learn-intelex
                (L2 softmax, W6), glum, saga and liblinear (L1 binary, W7), saga
                (elastic-net softmax, W8); sklearn lbfgs on W5 for reference. The
                target row compares with the fastest peer that reached the gap.
  digits        W3 fitted to tol=1e-4 (scikit-learn's default), vs sklearn lbfgs
  mlp-small     small tables (issue #13 item 5; bench/mlp_small.py): MLP(64) for 40
                epochs at each library's defaults on 16,000 x 16 and 16,000 x 50
                synthetic 26-class tables (stand-ins for UCI letter): seconds per
                epoch vs scikit-learn MLPClassifier, also at batch 200, test accuracy,
                and the numpy floors (a lean numpy training; its matrix products alone)
  files         training from files (issue #13 item 4; bench/files_bench.py):
                LogisticRegression(solver="lbfgs") on a 100,000 x 20 binary table
                (F1; --quick 20,000), fit(TableFiles(csv)) in memory (the default
                budget) vs fit(X, y) on the same rows; for reference pandas read_csv +
                fit, fit(TableFiles(parquet)), and the CSV streamed (memory_budget=0)
  checkpoint    the mlp training for 2 epochs with checkpoint=PATH (a write every
                epoch end) over the same without (W2): the cost of checkpointing
  peak RSS      memory above the data (VmHWM after a reset, minus VmRSS after
                loading), per child, vs the scikit-learn run of the same task

    .venv/bin/python bench/run.py [--quick] [--repeats R] [--threads T]
                                  [--only lbfgs,epoch,mlp,grad,digits,fastest,...]
                                  [--workloads W5,W8]

--quick: a tenth of the rows of W1/W2 and W5-W8, W4 20,000 x 2**16, one repeat:
under two minutes once the cache exists (the first run also generates it).
The fastest task needs the optional extra "bench" (scikit-learn-intelex, glum):
`make bench` installs it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads  # noqa: E402

RESULTS = HERE / "results"

# Ratio targets (xentlearn / peer, lower is better). Parity with the peer, except
# the gradient: forward X @ W and backward X^T G are two passes over X, so three
# reads' worth of time leaves room for the loss itself.
# The targets (xentlearn / peer): keyed by measure, then by peer or workload.
TARGETS = {
    "gap": {"sklearn-lbfgs": 0.5, "sklearn-saga": 1.0},
    "epoch": {"torch": 0.5},
    "mlp": {"torch": 0.5, "sklearn-mlp": 0.4},
    "grad": {"W1": 2.0, "W2": 6.0},
    "digits": {"W3": 1.0},
    "checkpoint": {"W2": 1.05},
    "rss": {"sklearn-lbfgs": 1.0, "sklearn-saga": 1.0, "sklearn-mlp": 1.0},
    "fastest": {"fastest peer": 0.5},
    "mlp-small": {"sklearn-mlp": 0.5},
    "files": {"arrays": 1.5},
}

TASKS = {   # task -> [(workload, contenders)]
    "lbfgs": [("W1", ["xentlearn", "sklearn-lbfgs"]), ("W2", ["xentlearn", "sklearn-lbfgs"]),
              ("W4", ["xentlearn", "sklearn-lbfgs", "sklearn-saga"])],
    "epoch": [("W1", ["xentlearn", "torch", "sklearn-sgd"]),
              ("W2", ["xentlearn", "torch", "sklearn-sgd"])],
    "mlp": [("W2", ["xentlearn", "torch", "sklearn-mlp", "numpy-floor"])],
    "grad": [("W1", ["xentlearn"]), ("W2", ["xentlearn"]), ("W4", ["xentlearn"])],
    "digits": [("W3", ["xentlearn"])],
    "checkpoint": [("W2", ["xentlearn"])],
    "fastest": [("W5", ["xentlearn", "sklearnex", "glum", "sklearn-lbfgs"]),
                ("W6", ["xentlearn", "sklearnex"]),
                ("W7", ["xentlearn", "glum", "sklearn-saga", "liblinear"]),
                ("W8", ["xentlearn", "sklearn-saga"])],
    "mlp-small": [(table, ["xentlearn", "xentlearn-b200", "sklearn-mlp", "numpy-floor",
                           "matmul-floor"]) for table in ("S16", "S50")],
    "files": [("F1", ["files", "arrays", "read+arrays", "parquet", "files-stream"])],
}
# Tasks whose children are not peers.py: their tables are generated in the child
# (no workloads.py cache), and each repeat r trains with random_state=r.
OWN_SCRIPT = {"mlp-small": "mlp_small.py", "files": "files_bench.py"}
FASTEST_LABELS = {"W5": "L2 binary", "W6": "L2 softmax(5)", "W7": "L1 binary",
                  "W8": "elastic net softmax(5)"}


CHILD_ENV = dict(os.environ)


def child(spec: dict, timeout: float, script: str = "peers.py") -> dict:
    """One measurement in a fresh interpreter; its last stdout line is JSON."""
    cmd = [sys.executable, str(HERE / script), json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=CHILD_ENV)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s", "spec": spec}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "spec": spec}
    return json.loads(lines[-1])


def _mlp_target(workload: str, quick: bool, timeout: float, log) -> float:
    path = workloads.CACHE / f"{workload}{'-quick' if quick else ''}.mlp_target.json"
    if not path.exists():
        res = child({"task": "mlp", "contender": "torch-ref", "workload": workload,
                     "quick": quick}, timeout)
        if "error" in res:
            raise RuntimeError(f"torch reference MLP failed: {res['error']}")
        path.write_text(json.dumps(res))
        log(f"  torch MLP reference on {workload}: test log-loss {res['target']:.5f} "
            f"after 5 epochs ({res['seconds']:.1f}s)")
    return json.loads(path.read_text())["target"]


def run_tasks(args, log) -> dict:
    raw: dict = {}
    for task in args.only:
        for workload, contenders in TASKS[task]:
            if args.workloads and workload not in args.workloads:
                continue
            extra = {}
            if task == "epoch":
                extra = {"epochs": 4 if args.quick else 3}
            if task == "digits":
                extra = {"repeats": 5 if args.quick else 15}
            if task == "checkpoint":
                extra = {"repeats": 3 if args.quick else 5}
            if task == "mlp":
                extra = {"target": _mlp_target(workload, args.quick, args.timeout, log),
                         "max_epochs": args.max_epochs}
            key = f"{task}/{workload}"
            raw[key] = {c: [] for c in contenders}
            hints: dict = {}
            for r in range(args.repeats):
                k = r % len(contenders)
                order = contenders[k:] + contenders[:k]     # rotate: each goes first in turn
                for contender in order:
                    spec = {"task": task, "contender": contender, "workload": workload,
                            "quick": args.quick, **extra}
                    if contender in hints:
                        spec["hint"] = hints[contender]
                    if task in OWN_SCRIPT:
                        spec.update(table=workload, seed=r)
                    start = time.perf_counter()
                    res = child(spec, args.timeout, OWN_SCRIPT.get(task, "peers.py"))
                    if "hint" in res:
                        hints[contender] = res["hint"]
                    raw[key][contender].append(res)
                    status = res.get("error") or f"{res.get('seconds', float('nan')):.4g}s"
                    log(f"  {key:10s} {contender:14s} repeat {r + 1}: {status} "
                        f"[{time.perf_counter() - start:.1f}s wall]")
    return raw


def _median(results: list, field: str):
    vals = [r[field] for r in results if "error" not in r and r.get(field) is not None]
    return statistics.median(vals) if vals else None


def _mean(results: list, field: str):
    vals = [r[field] for r in results if "error" not in r and r.get(field) is not None]
    return statistics.fmean(vals) if vals else None


def _reached(results: list) -> bool:
    return all(r.get("reached", True) for r in results if "error" not in r)


def make_rows(raw: dict) -> list[dict]:
    rows = []

    def add(measure, workload, ours, theirs, peer, unit, target_key, note=""):
        ratio = (ours / theirs) if (ours is not None and theirs) else None
        by = TARGETS.get(target_key, {}) if target_key else {}
        target = by.get(peer.removesuffix(" loop"), by.get(workload))
        rows.append({"measure": measure, "workload": workload, "xentlearn": ours,
                     "peer_value": theirs, "peer": peer, "unit": unit, "ratio": ratio,
                     "target": target, "ok": (ratio is not None and target is not None
                                              and ratio <= target), "note": note})

    for key, res in raw.items():
        task, workload = key.split("/")
        mine = res.get("xentlearn", [])
        if task == "lbfgs":
            for peer in ("sklearn-lbfgs", "sklearn-saga"):
                if peer not in res:
                    continue
                note = "" if _reached(mine) and _reached(res[peer]) else "gap not reached"
                tk = "gap" if (workload != "W4" or peer == "sklearn-saga") else None
                add("full batch to gap 1e-6", workload, _median(mine, "seconds"),
                    _median(res[peer], "seconds"), peer, "s", tk, note)
        elif task == "epoch":
            for peer in ("torch", "sklearn-sgd"):
                if peer in res:
                    add("mini-batch epoch (256)", workload, _median(mine, "seconds"),
                        _median(res[peer], "seconds"), peer + (" loop" if peer == "torch" else ""),
                        "s", "epoch" if peer == "torch" else None,
                        "" if peer == "torch" else "per-sample SGD, reference only")
        elif task == "mlp":
            for peer in ("torch", "sklearn-mlp"):
                if peer in res:
                    note = "" if _reached(mine) and _reached(res[peer]) else "target not reached"
                    add("MLP to torch 5-epoch test loss", workload, _median(mine, "seconds"),
                        _median(res[peer], "seconds"), peer, "s", "mlp", note)
            floor = res.get("numpy-floor")
            if floor:
                # What the leanest numpy code of the same training reaches: the
                # first column here is that floor, not xentlearn.
                add("MLP to target: xentlearn / floor", workload, _median(mine, "seconds"),
                    _median(floor, "seconds"), "numpy-floor", "s", None,
                    "library overhead, reference only")
                for peer in ("torch", "sklearn-mlp"):
                    if peer in res:
                        add("MLP to target: numpy floor", workload, _median(floor, "seconds"),
                            _median(res[peer], "seconds"), peer, "s", None,
                            "best a numpy implementation reaches, reference only")
        elif task == "grad":
            add("full-batch loss+grad / read X", workload, _median(mine, "seconds"),
                _median(mine, "read_seconds"), "X.sum(axis=0)", "s",
                "grad" if workload != "W4" else None,
                "" if workload != "W4" else "sparse, reference only")
        elif task == "digits":
            add("digits fit, tol=1e-4", workload, _median(mine, "seconds"),
                _median(mine, "peer_seconds"), "sklearn-lbfgs", "s", "digits")
        elif task == "fastest":
            label = f"rel. gap 1e-6 {FASTEST_LABELS[workload]}"
            times = {}
            for peer, results in res.items():
                if peer == "xentlearn":
                    continue
                note = _fastest_note(results)
                if _reached(results) and _median(results, "seconds") is not None:
                    times[peer] = _median(results, "seconds")
                add(label, workload, _median(mine, "seconds"), _median(results, "seconds"),
                    peer, "s", None, note)
            if times:
                peer = min(times, key=times.get)
                add(label, workload, _median(mine, "seconds"), times[peer], "fastest peer", "s",
                    "fastest", f"{peer}; " + _fastest_note(mine, own=True))
        elif task == "mlp-small":
            sk = res.get("sklearn-mlp", [])
            for mine_name, label in (("xentlearn", "small MLP epoch, defaults"),
                                     ("xentlearn-b200", "small MLP epoch, batch 200"),
                                     ("numpy-floor", "small MLP epoch, numpy floor"),
                                     ("matmul-floor", "small MLP epoch, products only")):
                ours = res.get(mine_name, [])
                acc = _mean(ours, "accuracy"), _mean(sk, "accuracy")
                note = ("" if None in acc else
                        f"test accuracy {acc[0]:.4f} vs {acc[1]:.4f}, mean over seeds")
                add(label, workload, _median(ours, "epoch_seconds"),
                    _median(sk, "epoch_seconds"), "sklearn-mlp", "s",
                    "mlp-small" if mine_name == "xentlearn" else None,
                    note if mine_name == "xentlearn" else ("reference only; " + note
                                                           if note else "reference only"))
        elif task == "files":
            arrays = _median(res.get("arrays", []), "seconds")
            for name, label, target_key in (
                    ("files", "fit(TableFiles(csv)) / fit(X, y)", "files"),
                    ("parquet", "fit(TableFiles(parquet)) / fit(X, y)", None),
                    ("files-stream", "CSV streamed (budget 0) / fit(X, y)", None)):
                ours = res.get(name, [])
                iters = _median(ours, "n_iter")
                note = [f"{iters:.0f} iterations"] if iters else []
                add(label, workload, _median(ours, "seconds"), arrays, "arrays", "s",
                    target_key, "; ".join(note + ([] if target_key else ["reference only"])))
            add("fit(TableFiles(csv)) / read_csv + fit", workload,
                _median(res.get("files", []), "seconds"),
                _median(res.get("read+arrays", []), "seconds"), "pandas read+fit", "s", None,
                "reference only")
        elif task == "checkpoint":
            add("MLP epochs with checkpoint / without", workload, _median(mine, "seconds"),
                _median(mine, "peer_seconds"), "no checkpoint", "s", "checkpoint")
    # memory, from the same child processes
    for key, res in raw.items():
        task, workload = key.split("/")
        mine = res.get("xentlearn", [])
        for peer in ("sklearn-lbfgs", "sklearn-saga", "sklearn-mlp", "torch"):
            if peer in res and task in ("lbfgs", "mlp", "epoch"):
                add(f"peak RSS above data ({task})", workload, _median(mine, "peak_mb"),
                    _median(res[peer], "peak_mb"), peer, "MiB",
                    "rss" if peer.startswith("sklearn") and task != "epoch" else None,
                    "" if peer.startswith("sklearn") and task != "epoch" else "reference only")
    return rows


def _fastest_note(results: list, own: bool = False) -> str:
    """Iterations (or epochs, or the tolerance used) and support, for the fastest rows."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return "failed"
    if not _reached(ok):
        return "gap not reached"
    r = ok[-1]
    parts = [f"{r.get('iterations')} it"]
    if r.get("tol") is not None:
        parts.append(f"tol {r['tol']:g}")
    if r.get("support_ref") is not None:
        parts.append(f"support {r['support']} (best {r['support_ref']}, "
                     f"{r['support_diff']} differ)")
    return ", ".join(parts)


def _fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1e3:.1f}ms" if v < 1 else f"{v:.2f}s"
    return f"{v:.1f}{unit}"


def table(rows: list[dict]) -> str:
    head = (f"{'measure':38s} {'data':4s} {'xentlearn':>10s} {'peer':>10s}  {'peer name':16s}"
            f" {'ratio':>6s} {'target':>6s}  ok")
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        target = f"{r['target']:g}" if r["target"] is not None else "-"   # 1.05, not 1.1
        ok = ("yes" if r["ok"] else "NO") if r["target"] is not None else ""
        lines.append(f"{r['measure']:38s} {r['workload']:4s} {_fmt(r['xentlearn'], r['unit']):>10s}"
                     f" {_fmt(r['peer_value'], r['unit']):>10s}  {r['peer']:16s} {ratio:>6s}"
                     f" {target:>6s}  {ok}{'  (' + r['note'] + ')' if r['note'] else ''}")
    return "\n".join(lines)


def chart(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["ratio"] is not None]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(shown) + 1.5))
    ys = list(range(len(shown)))[::-1]
    colors = ["#bbbbbb" if r["target"] is None else ("#2e8b57" if r["ok"] else "#c0392b")
              for r in shown]
    ax.barh(ys, [r["ratio"] for r in shown], color=colors)
    for y, r in zip(ys, shown):
        if r["target"] is not None:
            ax.plot([r["target"]] * 2, [y - 0.45, y + 0.45], color="black", lw=2)
        ax.text(r["ratio"], y, f" {r['ratio']:.2f}", va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['measure']} {r['workload']} vs {r['peer']}" for r in shown], fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("xentlearn / peer (log scale; lower is better; black tick = target; "
                  "grey = reference only)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> dict:
    import numpy
    import scipy
    import sklearn
    import torch

    import xentlearn

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo")
                  if line.startswith("MemTotal"))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=HERE).stdout.strip()
    except OSError:
        commit = None
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "memory_gib": round(mem_kb / 2 ** 20, 1), "cpu": cpu,
            "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "sklearn": sklearn.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "xentlearn": getattr(xentlearn, "__version__", "?"), "git_commit": commit,
            "loadavg_start": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per contender (default 2, --quick 1)")
    parser.add_argument("--only", default=",".join(TASKS),
                        help=f"comma-separated subset of {','.join(TASKS)}")
    parser.add_argument("--workloads", default=None,
                        help="comma-separated subset of the tasks' workloads (e.g. W5,W8)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="MLP epoch cap (default 15, --quick 10)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per child, seconds")
    parser.add_argument("--threads", type=int, default=None,
                        help="set OMP/OPENBLAS/MKL_NUM_THREADS in every child (torch follows "
                             "OMP_NUM_THREADS); default: each library's own default")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.only) - set(TASKS)
    if unknown:
        parser.error(f"unknown task(s) {sorted(unknown)}; choose from {list(TASKS)}")
    args.repeats = args.repeats or (1 if args.quick else 2)
    args.max_epochs = args.max_epochs or (10 if args.quick else 15)

    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            CHILD_ENV[var] = str(args.threads)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    info = machine()
    mode = "quick" if args.quick else "full"
    log(f"xentlearn bench ({mode}): {info['nproc']} cpus, {info['cpu']}, "
        f"load {info['loadavg_start']}")
    args.workloads = [w.strip() for w in args.workloads.split(",")] if args.workloads else None
    needed = sorted({w for t in args.only for w, _ in TASKS[t]
                     if t not in OWN_SCRIPT and (not args.workloads or w in args.workloads)})
    for name in needed:
        workloads.ensure(name, args.quick, log=log)
    raw = run_tasks(args, log)
    rows = make_rows(raw)
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.perf_counter() - t_start, 1)
    info["workloads"] = {n: workloads.meta(n, args.quick) for n in needed}
    if "files" in args.only:
        info["workloads"]["F1"] = ("100,000 x 20 (--quick 20,000), binary, standard normal, "
                                   "as CSV and Parquet")
    if "mlp-small" in args.only:
        info["workloads"].update(S16="16,000 x 16 (+ 4,000 test), 26 classes, synthetic",
                                 S50="16,000 x 50 (+ 4,000 test), 26 classes, synthetic")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"bench-{mode}"
    info["threads"] = args.threads or "library defaults"
    payload = {"mode": mode, "repeats": args.repeats, "machine": info, "targets": TARGETS,
               "rows": rows, "raw": raw}
    Path(f"{stem}.json").write_text(json.dumps(payload, indent=1, default=float))
    chart(rows, Path(f"{stem}.png"),
          f"xentlearn bench ({mode}, {info['date']}, {info['nproc']} cpus, {args.repeats} repeats)")
    print(f"\nxentlearn / peer, median of {args.repeats} repeat(s); lower is better "
          f"({mode}, {info['seconds']:.0f}s, load {info['loadavg_start'][0]:.1f}"
          f" -> {info['loadavg_end'][0]:.1f})")
    print(table(rows))
    print(f"\nwrote {stem}.json and {stem}.png")


if __name__ == "__main__":
    main()
