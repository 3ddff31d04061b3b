"""End-to-end tests of the ``xentlearn`` command, run in a subprocess as a user would.

Shared helpers: the installed executable, a small labelled table with numeric
and categorical features and a string target, and parsers for the report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

XENTLEARN = Path(sys.executable).parent / "xentlearn"
CLASSES = ("ant", "bee", "cat")


def run_cli(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the installed ``xentlearn`` with `args` in `cwd`; with check, require status 0."""
    assert XENTLEARN.exists(), f"{XENTLEARN} missing: run pip install -e . in the venv"
    result = subprocess.run([str(XENTLEARN), *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def make_table(n: int, seed: int):
    """A pyarrow table: numeric x1, x2, categorical color, string target species.

    The class is mostly decided by x1 and color, so a few epochs reach high
    accuracy; a little label noise keeps the log-loss away from 0.
    """
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(loc=100.0, scale=10.0, size=n)        # far from standardised
    color = rng.choice(["red", "green", "blue"], size=n)
    score = x1 + np.where(color == "red", -1.5, np.where(color == "blue", 1.5, 0.0))
    label = np.digitize(score, [-0.8, 0.8])
    flip = rng.random(n) < 0.03
    label[flip] = rng.integers(0, 3, size=flip.sum())
    species = np.array(CLASSES)[label]
    return pa.table({"x1": x1, "x2": x2, "color": color, "species": species})


def write_csv(table, path: Path) -> Path:
    import pyarrow.csv as pa_csv

    pa_csv.write_csv(table, path)
    return path


def write_parquet(table, path: Path) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    return path


def summary_columns(stdout: str, name: str) -> dict[str, float]:
    """{column: value} of the report's summary line that starts with `name`.

    The summary table's header starts with "data" and holds "log-loss"; its
    cells split on whitespace (headers are single words).
    """
    lines = stdout.splitlines()
    header = next((line.split() for line in lines
                   if line.startswith("data ") and "log-loss" in line), None)
    assert header, f"no summary table in:\n{stdout}"
    row = next((line.split() for line in lines if line.split()[:1] == [name]
                and len(line.split()) == len(header) and "log-loss" not in line), None)
    assert row, f"no {name!r} row in:\n{stdout}"
    return {h: (float(v) if v != "-" else None) for h, v in zip(header[1:], row[1:])}


def summary_row(stdout: str, name: str) -> tuple[float, float, int]:
    """(log-loss, accuracy, rows) from the report line that starts with `name`."""
    columns = summary_columns(stdout, name)
    return columns["log-loss"], columns["accuracy"], int(columns["rows"])


def confusion_rows(stdout: str, classes) -> np.ndarray:
    """The confusion matrix printed after 'Confusion matrix', as an int array."""
    text = stdout.split("Confusion matrix", 1)[1]
    rows = []
    for c in classes:
        match = re.search(rf"^{re.escape(str(c))}((?:\s+\d+)+)\s*$", text, flags=re.MULTILINE)
        assert match, f"no confusion row for {c!r} in:\n{text}"
        rows.append([int(v) for v in match[1].split()])
    return np.array(rows)
