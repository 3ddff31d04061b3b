"""A Parquet folder 4x larger than the process's peak memory trains one epoch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

_CHILD = textwrap.dedent("""
    import sys, warnings
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles
    warnings.simplefilter("ignore")
    clf = LogisticRegression(solver="sgd", batch_size=256, max_iter=1, random_state=0)
    # memory_budget=0: streamed, even where a quarter of the memory would hold the rows.
    clf.fit(TableFiles(sys.argv[1], target="y", batch_rows=32768, shuffle_buffer_rows=32768,
                       memory_budget=0))
    assert clf.n_iter_ == 1 and len(clf.classes_) == 3
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec from pytest.
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_parquet_folder_four_times_the_peak_rss_trains_one_epoch(tmp_path):
    rng = np.random.default_rng(0)
    rows, n_features, n_files = 131072, 31, 48
    columns = {f"x{j}": rng.standard_normal(rows) for j in range(n_features)}
    columns["y"] = rng.integers(0, 3, rows)
    table = pa.table(columns)
    for i in range(n_files):        # the same rows in every file: the size on disk is what counts
        pq.write_table(table, tmp_path / f"part-{i:03d}.parquet", row_group_size=32768,
                       compression="none")
    data_mb = n_files * rows * (n_features + 1) * 8 / 2**20
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    peak_mb = int(out.stdout.split()[-1]) / 1024
    print(f"peak RSS {peak_mb:.0f} MiB for a {data_mb:.0f} MiB folder (float64)")
    assert 4 * peak_mb <= data_mb, (peak_mb, data_mb)
