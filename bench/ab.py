"""Before/after: xentlearn from two source trees, alternated in one run, on one bench task.

    .venv/bin/python bench/ab.py OLD_SRC [NEW_SRC] [--task fastest] [--workloads W5,W6]
                                 [--repeats 5] [--quick]

OLD_SRC and NEW_SRC are directories holding the ``xentlearn`` package (NEW_SRC defaults
to this checkout's src/); a tree of an earlier commit comes from, e.g.,
``git archive COMMIT src | tar -x -C /tmp/old``. Each measurement is bench/peers.py's
xentlearn contender in a fresh child with PYTHONPATH set to one tree; the order
alternates every repeat, so drift on a shared machine hits both. Prints, per workload,
the median seconds of each and the ratio new / old (lower is better), with iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads  # noqa: E402


def run(src: Path, spec: dict, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, str(HERE / "peers.py"), json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=HERE.parent / "src")
    parser.add_argument("--task", default="fastest")
    parser.add_argument("--workloads", default="W5,W6,W7,W8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    print(f"load {os.getloadavg()}", flush=True)
    for name in args.workloads.split(","):
        workloads.ensure(name, args.quick, log=lambda m: print(m, flush=True))
        spec = {"task": args.task, "contender": "xentlearn", "workload": name,
                "quick": args.quick}
        got = {"old": [], "new": []}
        for r in range(args.repeats):
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                res = run(getattr(args, which), spec, args.timeout)
                if "error" in res:
                    print(f"  {name} {which}: {res['error']}", flush=True)
                    continue
                got[which].append(res)
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in got.items() if v}
        its = {k: sorted({r.get("iterations") for r in v}) for k, v in got.items()}
        if len(med) == 2:
            print(f"{name}: old {med['old']:.3f}s {its['old']} it, new {med['new']:.3f}s "
                  f"{its['new']} it, new/old {med['new'] / med['old']:.2f}", flush=True)
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
