"""FileSource and the file helpers: CSV/Parquet streaming, order, shuffle, memory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from xentlearn.data._arrays import ArraySource
from xentlearn.data._files import FileSource
from xentlearn.data._readers import iter_record_batches, list_data_files, scan_schema, scan_target
from xentlearn.data._tabular import TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError

N_ROWS = 1000


def make_table(n: int = N_ROWS, seed: int = 0) -> pa.Table:
    """Numeric (float and int), string and bool features, a string label, weights, a row id."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "x": rng.standard_normal(n) * 2.0 + 5.0,
        "count": rng.integers(0, 100, n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "flag": rng.random(n) < 0.4,
        "label": rng.choice(["cat", "dog", "eel"], n),
        "w": rng.uniform(0.5, 2.0, n),
        "row": np.arange(n),
    })


def write(table: pa.Table, path, *, row_group_size: int = 128):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_layout(table: pa.Table, tmp_path, layout: str):
    """The same rows as one CSV, one Parquet file, a Parquet folder, or a mixed folder."""
    if layout == "csv":
        return write(table, tmp_path / "data.csv")
    if layout == "parquet":
        return write(table, tmp_path / "data.parquet")
    folder = tmp_path / "folder"
    bounds = [0, 300, 301, 777, table.num_rows]          # uneven files, one of a single row
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        suffix = ".csv" if layout == "mixed" and i % 2 else ".parquet"
        write(table.slice(a, b - a), folder / f"part-{i:02d}{suffix}", row_group_size=100)
    return folder


def label_encoder(path):
    classes = scan_target(path, "label")
    return lambda y: np.searchsorted(classes, y)


def source(path, **kwargs) -> FileSource:
    options = dict(target="label", features=["x", "count", "colour", "flag"],
                   preprocessor=TabularPreprocessor(), encode_target=label_encoder(path))
    options.update(kwargs)
    return FileSource(path, **options)


def in_memory(src: FileSource, table: pa.Table):
    """What the same rows give in memory, with the source's fitted preprocessor."""
    X = src.preprocessor.transform(table, src.dtype)
    y = src.encode_target(table.column("label").to_numpy(zero_copy_only=False))
    return X, y


LAYOUTS = ["csv", "parquet", "folder", "mixed"]


# ----------------------------------------------------------------- listing / schema


def test_list_data_files_file_folder_and_skipped_names(tmp_path):
    table = make_table(10)
    f = write(table, tmp_path / "one.parquet")
    assert list_data_files(f) == [f]
    folder = tmp_path / "d"
    for name in ["b.csv", "a.parquet", "c.pq"]:
        write(table, folder / name)
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.csv").write_text("junk")
    (folder / "sub").mkdir()
    assert [p.name for p in list_data_files(folder)] == ["a.parquet", "b.csv", "c.pq"]
    assert len(list_data_files([folder, f])) == 4


def test_list_data_files_errors(tmp_path):
    with pytest.raises(XentlearnInputError, match="nope.csv' does not exist"):
        list_data_files(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(XentlearnInputError, match="empty' holds no CSV or Parquet"):
        list_data_files(tmp_path / "empty")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(XentlearnInputError, match="data.json' has an unknown extension"):
        list_data_files(tmp_path / "data.json")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("x")
    with pytest.raises(XentlearnInputError, match="notes.txt' in data folder"):
        list_data_files(tmp_path / "mixed")


def test_scan_schema_accepts_same_kinds_and_names_the_inconsistent_file(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    pq.write_table(pa.table({"a": pa.array([1, 2], pa.int32()), "s": ["u", "v"]}), folder / "0.parquet")
    pq.write_table(pa.table({"s": ["w"], "a": [0.5]}), folder / "1.parquet")   # other order, float
    schema = scan_schema(list_data_files(folder))
    assert schema.names == ["a", "s"]
    pq.write_table(pa.table({"a": ["oops"], "s": ["w"]}), folder / "2.parquet")
    with pytest.raises(XentlearnInputError, match="column 'a' is string in .*2.parquet"):
        scan_schema(list_data_files(folder))
    pq.write_table(pa.table({"a": [1.0]}), folder / "2.parquet")
    with pytest.raises(XentlearnInputError, match=r"2.parquet' has different columns.*missing \['s'\]"):
        scan_schema(list_data_files(folder))


def test_scan_target_sorted_unique_values_streaming(tmp_path):
    table = make_table()
    folder = write_layout(table, tmp_path, "mixed")
    np.testing.assert_array_equal(scan_target(folder, "label"), ["cat", "dog", "eel"])
    ints = write(pa.table({"y": [3, 1, 3, 2] * 50}), tmp_path / "ints.parquet", row_group_size=7)
    classes = scan_target(ints, "y")
    assert classes.tolist() == [1, 2, 3] and classes.dtype.kind == "i"
    bools = write(pa.table({"y": [True, False, True]}), tmp_path / "b.csv")
    assert scan_target(bools, "y").tolist() == [False, True]


def test_scan_target_errors_name_file_columns_and_count(tmp_path):
    path = write(pa.table({"a": [1.0, 2.0], "b": ["x", "y"]}), tmp_path / "t.parquet")
    with pytest.raises(XentlearnInputError,
                       match=r"target column 'y' not found in .*t.parquet'; available columns: 'a', 'b'"):
        scan_target(path, "y")
    path = write(pa.table({"y": ["a", None, "b", None, None]}), tmp_path / "n.parquet", row_group_size=2)
    with pytest.raises(XentlearnInputError, match=r"'y' has 3 missing value\(s\) \(first in .*n.parquet"):
        scan_target(path, "y")


def test_iter_record_batches_rng_permutes_files_and_row_groups(tmp_path):
    folder = tmp_path / "d"
    for i in range(3):
        write(pa.table({"v": np.arange(i * 100, (i + 1) * 100)}), folder / f"{i}.parquet", row_group_size=10)
    files = list_data_files(folder)
    ordered = [b.column("v").to_numpy()[0] for b in iter_record_batches(files, ["v"])]
    assert ordered == list(range(0, 300, 10))
    rng = np.random.default_rng(0)
    shuffled = [b.column("v").to_numpy()[0] for b in iter_record_batches(files, ["v"], rng=rng)]
    assert sorted(shuffled) == ordered and shuffled != ordered
    # Row groups are shuffled inside a file, but a file is read to its end before the next.
    assert all(len({s // 100 for s in shuffled[k:k + 10]}) == 1 for k in range(0, 30, 10))
    sizes = [b.num_rows for b in iter_record_batches(files, ["v"], batch_rows=4)]
    assert max(sizes) == 4 and sum(sizes) == 300


# ---------------------------------------------------------------- FileSource


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fixed_order_equals_array_source(tmp_path, layout):
    table = make_table()
    src = source(write_layout(table, tmp_path, layout), sample_weight_column="w",
                 read_batch_rows=64, shuffle_buffer_rows=100)
    X, y = in_memory(src, table)
    w = table.column("w").to_numpy()
    assert (src.n_samples, src.n_features) == (N_ROWS, 6)
    ref = ArraySource(X, y, w)
    for k in (1, 7, 100, 256, 5000):
        got, want = list(src.batches(k)), list(ref.batches(k))
        assert len(got) == len(want) == src.n_batches(k) == ref.n_batches(k)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.X, b.X)
            np.testing.assert_array_equal(a.targets, b.targets)
            np.testing.assert_array_equal(a.sample_weight, b.sample_weight)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_full_batch_chunks_concatenate_to_all_rows_in_order(tmp_path, layout):
    table = make_table()
    src = source(write_layout(table, tmp_path, layout), read_batch_rows=64)
    X, y = in_memory(src, table)
    chunks = list(src.batches(None))
    # ArraySource's blocks, whatever the record batches (64 rows here).
    assert src.n_batches(None) == 1
    assert [len(c.X) for c in chunks] == [len(b.X) for b in ArraySource(X, y).batches(None)]
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), X)
    np.testing.assert_array_equal(np.concatenate([c.targets for c in chunks]), y)
    assert all(c.sample_weight is None for c in chunks)


def test_streaming_fit_matches_in_memory_statistics(tmp_path):
    table = make_table()
    src = source(write_layout(table, tmp_path, "folder"), read_batch_rows=33)
    pre = src.preprocessor
    for name in ("x", "count"):
        values = table.column(name).to_numpy().astype(float)
        np.testing.assert_allclose(pre.means_[name], values.mean(), rtol=1e-12)
        np.testing.assert_allclose(pre.stds_[name], values.std(), rtol=1e-12)
    assert pre.categories_["colour"] == ["blue", "green", "red"]
    assert src.feature_names == ["x", "count", "colour=blue", "colour=green", "colour=red", "flag"]


@pytest.mark.parametrize("layout", ["parquet", "mixed"])
def test_shuffled_epochs_are_permutations_and_differ(tmp_path, layout):
    table = make_table()
    # Targets are the row ids, so each batch says exactly which rows it holds.
    src = source(write_layout(table, tmp_path, layout), target="row", sample_weight_column="w",
                 encode_target=lambda v: v, read_batch_rows=50, shuffle_buffer_rows=200)
    X, _ = in_memory(src, table)
    w = table.column("w").to_numpy()
    rng = np.random.default_rng(42)
    epochs = []
    for _ in range(2):
        batches = list(src.batches(32, rng=rng))
        assert len(batches) == src.n_batches(32)
        assert [len(b.targets) for b in batches[:-1]] == [32] * (len(batches) - 1)
        rows = np.concatenate([b.targets for b in batches])
        np.testing.assert_array_equal(np.sort(rows), np.arange(N_ROWS))       # each row exactly once
        for b in batches:                                    # features and weights stay with their row
            np.testing.assert_array_equal(b.X, X[b.targets])
            np.testing.assert_array_equal(b.sample_weight, w[b.targets])
        epochs.append(rows)
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[0], np.arange(N_ROWS))
    # Same seed, same order: the shuffle is reproducible.
    again = np.concatenate([b.targets for b in src.batches(32, rng=np.random.default_rng(42))])
    np.testing.assert_array_equal(again, epochs[0])


def test_shuffle_mixes_rows_across_record_batches(tmp_path):
    table = make_table()
    src = source(write(table, tmp_path / "d.parquet", row_group_size=100), target="row",
                 encode_target=lambda v: v, read_batch_rows=100, shuffle_buffer_rows=400)
    first = next(src.batches(64, rng=np.random.default_rng(0))).targets
    assert len(set(first // 100)) > 1          # rows of several row groups in one mini-batch


@pytest.mark.parametrize("layout", ["csv", "folder"])
def test_float32_batches(tmp_path, layout):
    table = make_table()
    path = write_layout(table, tmp_path, layout)
    src32 = source(path, dtype=np.float32, sample_weight_column="w")
    src64 = source(path, dtype=np.float64, sample_weight_column="w")
    assert src32.dtype == np.float32
    for k in (None, 64):
        for b32, b64 in zip(src32.batches(k, rng=None), src64.batches(k)):
            assert b32.X.dtype == np.float32 and b32.sample_weight.dtype == np.float32
            np.testing.assert_allclose(b32.X, b64.X, rtol=1e-6, atol=1e-6)
    b = next(src32.batches(64, rng=np.random.default_rng(0)))
    assert b.X.dtype == np.float32 and b.sample_weight.dtype == np.float32


def test_csv_gz_and_default_features(tmp_path):
    table = make_table(200)
    path = tmp_path / "data.csv.gz"
    with pa.CompressedOutputStream(str(path), "gzip") as out:
        pacsv.write_csv(table, out)
    src = FileSource(path, target="label", preprocessor=TabularPreprocessor(),
                     encode_target=label_encoder(path), sample_weight_column="w")
    # Every column but the target and the weights is a feature, in file order.
    assert src.features == ["x", "count", "colour", "flag", "row"]
    assert src.n_samples == 200
    assert sum(b.X.shape[0] for b in src.batches(16)) == 200


def test_fitted_preprocessor_is_reused_and_rows_counted(tmp_path):
    table = make_table()
    for layout in ("csv", "folder"):
        path = write_layout(table, tmp_path / layout, layout)
        fitted = source(path).preprocessor
        loaded = TabularPreprocessor.from_dict(json.loads(json.dumps(fitted.to_dict())))
        src = source(path, preprocessor=loaded)
        assert src.n_samples == N_ROWS                       # metadata (Parquet) or a count (CSV)
        assert src.preprocessor is loaded
        X, _ = in_memory(src, table)
        np.testing.assert_array_equal(np.concatenate([b.X for b in src.batches(None)]), X)


def test_feature_missing_values_error_names_column_count_and_file(tmp_path):
    table = pa.table({"x": [1.0, None, 3.0, None], "c": ["a", "b", None, "a"], "y": [0, 1, 0, 1]})
    path = write(table, tmp_path / "m.parquet")
    with pytest.raises(XentlearnInputError, match=r"column 'x' has 2 missing value\(s\).*m.parquet"):
        FileSource(path, target="y", preprocessor=TabularPreprocessor(), encode_target=np.asarray)
    src = FileSource(path, target="y", preprocessor=TabularPreprocessor(impute="mean"),
                     encode_target=np.asarray)
    X = next(src.batches(4)).X
    assert X[1, 0] == X[3, 0] == 0.0                          # mean, standardised
    assert src.feature_names[-1] == "c=<missing>" and X[2, -1] == 1.0


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_a_file_without_rows_is_refused_naming_it(tmp_path, budget):
    """A CSV holding only its header, a Parquet file of 0 rows: training on it said
    "TabularPreprocessor.finalize called before any partial_fit", and as validation data
    (fitted preprocessing) it failed in the first evaluation with a ZeroDivisionError."""
    (tmp_path / "header.csv").write_text("x,y\n")
    empty = write(pa.table({"x": pa.array([], pa.float64()), "y": pa.array([], pa.int64())}),
                  tmp_path / "empty.parquet")
    fitted = FileSource(write(pa.table({"x": [1.0, 2.0], "y": [0, 1]}), tmp_path / "t.parquet"),
                        target="y", preprocessor=TabularPreprocessor(), encode_target=np.asarray)
    for path in (tmp_path / "header.csv", empty):
        for preprocessor in (TabularPreprocessor(), fitted.preprocessor):
            with pytest.raises(XentlearnInputError,
                               match=rf"no data rows in '{path}'; expected at least one row"):
                FileSource(path, target="y", preprocessor=preprocessor,
                           encode_target=np.asarray, memory_budget=budget)


@pytest.mark.parametrize("labels", [
    pa.array([[1], [2], [1]]), pa.array([{"x": 1}, {"x": 2}, {"x": 1}]),
    pa.array([b"a", b"b", b"a"]), pa.array([1, 2, 1], pa.decimal128(5, 0)),
])
def test_a_target_column_of_a_type_no_label_has_is_refused(tmp_path, labels):
    """List, struct, bytes and decimal targets: an ArrowNotImplementedError (exit 1 on the
    command line) or "classes_ mixes label types" before; now the column, type and file."""
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles

    path = write(pa.table({"x": [1.0, 2.0, 3.0], "label": labels}), tmp_path / "t.parquet")
    kind = str(labels.type).split("<")[0].split("(")[0]      # Parquet renames list items
    pattern = rf"target column 'label' has type {re.escape(kind)}.* in '{re.escape(str(path))}'"
    with pytest.raises(XentlearnInputError, match=pattern):
        scan_target([path], "label")
    with pytest.raises(XentlearnInputError, match=pattern):
        LogisticRegression().fit(TableFiles(path, target="label"))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_row_with_another_number_of_fields_is_named_by_line(tmp_path, suffix):
    """pyarrow says "Expected 3 columns, got 4: 1.0,u,yes,extra" without a line; the file
    is scanned (on error only, quotes respected) for the line to fix."""
    import gzip

    text = 'a,b,label\n0.5,"u,v",no\n\n0.1,u,yes\n1.0,u,yes,extra\n'
    path = tmp_path / f"ragged{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    with pytest.raises(XentlearnInputError,
                       match=rf"cannot read '{re.escape(str(path))}': line 5 has 4 fields where "
                             r"the header has 3; a value holding the delimiter needs quotes"):
        scan_target([path], "label")


def test_target_and_weight_errors(tmp_path):
    path = write(pa.table({"x": [1.0, 2.0, 3.0], "y": [1, None, 0], "w": [1.0, -2.0, 1.0]}),
                 tmp_path / "t.parquet")
    with pytest.raises(XentlearnInputError,
                       match=r"target column 'nope' not found in .*t.parquet'; available columns: 'x', 'y', 'w'"):
        FileSource(path, target="nope", preprocessor=TabularPreprocessor(), encode_target=np.asarray)
    src = FileSource(path, target="y", features=["x"], preprocessor=TabularPreprocessor(),
                     encode_target=np.asarray)
    with pytest.raises(XentlearnInputError,
                       match=r"target column 'y' has 1 missing label\(s\) \(null or NaN; first "
                             r"in row 2 of '.*t.parquet'\); every row trained on or scored "
                             r"needs a label"):
        list(src.batches(2))
    path = write(pa.table({"x": [1.0, 2.0, 3.0], "y": [1, 1, 0], "w": [1.0, -2.0, 1.0]}),
                 tmp_path / "w.parquet")
    src = FileSource(path, target="y", preprocessor=TabularPreprocessor(), encode_target=np.asarray,
                     sample_weight_column="w")
    with pytest.raises(XentlearnInputError, match=r"sample weight column 'w' has 1 negative.*w.parquet"):
        list(src.batches(None))
    with pytest.raises(XentlearnInputError, match="feature column 'y' is also the target"):
        FileSource(path, target="y", features=["x", "y"], preprocessor=TabularPreprocessor(),
                   encode_target=np.asarray)
    with pytest.raises(XentlearnInputError, match="dtype must be float32 or float64"):
        FileSource(path, target="y", preprocessor=TabularPreprocessor(), encode_target=np.asarray,
                   dtype=np.int64)


def test_unreadable_files_are_named(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(XentlearnInputError, match="cannot read .*bad.parquet"):
        scan_schema([bad])
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b\n1,2\n3\n")                       # a row with a missing field
    with pytest.raises(XentlearnInputError, match="cannot read .*bad.csv"):
        list(iter_record_batches([csv], ["a", "b"]))


# ------------------------------------------------------------------- memory

_CHILD = textwrap.dedent("""
    import sys
    import numpy as np, pyarrow, pyarrow.compute, pyarrow.csv, pyarrow.parquet
    from xentlearn.data._files import FileSource
    from xentlearn.data._tabular import TabularPreprocessor
    if sys.argv[1] == "run":
        # The folder is listed `repeat` times: the source streams repeat * (folder size)
        # bytes (fit pass, then one shuffled epoch) while only one copy sits on disk.
        src = FileSource([sys.argv[2]] * int(sys.argv[3]), target="y",
                         preprocessor=TabularPreprocessor(), encode_target=lambda v: v)
        n = 0
        for batch in src.batches(256, rng=np.random.default_rng(0)):
            n += batch.X.shape[0]
        assert n == src.n_samples, (n, src.n_samples)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork+exec,
    # so a child of a big pytest process would report the parent's peak.
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
""")


def _peak_rss_mb(*args) -> float:
    """Peak RSS (VmHWM, KiB) of a fresh interpreter running _CHILD, in MiB."""
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.split()[-1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_streaming_memory_is_bounded(tmp_path):
    rng = np.random.default_rng(0)
    n_files, rows, n_cols = 4, 65536, 32
    for i in range(n_files):
        columns = {f"x{j}": rng.standard_normal(rows) for j in range(n_cols - 1)}
        columns["y"] = rng.integers(0, 3, rows)
        pq.write_table(pa.table(columns), tmp_path / f"part-{i}.parquet",
                       row_group_size=16384, compression="none")
    repeat = 16
    data_mb = repeat * n_files * rows * n_cols * 8 / 2**20           # 1 GiB of float64 streamed
    baseline = _peak_rss_mb("baseline")
    peak = _peak_rss_mb("run", str(tmp_path), str(repeat))
    print(f"peak RSS {peak:.0f} MB, import baseline {baseline:.0f} MB, data {data_mb:.0f} MB")
    assert peak < baseline + data_mb / 4, (peak, baseline, data_mb)


def test_csv_int_column_that_turns_float_in_a_later_block(tmp_path, monkeypatch):
    import xentlearn.data._readers as files_module

    # Tiny blocks: types are inferred from rows that only hold integers.
    monkeypatch.setattr(files_module, "_CSV_BLOCK_BYTES", 256)
    lines = ["n,y"] + [f"{i},{i % 2}" for i in range(200)] + ["2.5,1"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    src = FileSource(path, target="y", preprocessor=TabularPreprocessor(standardize=False),
                     encode_target=np.asarray)
    X = np.concatenate([b.X for b in src.batches(None)])
    np.testing.assert_array_equal(X[:, 0], [*range(200), 2.5])
    # A later string in a numeric column cannot be fixed up: the error names the file.
    path.write_text("\n".join(lines[:-1] + ["abc,1"]) + "\n")
    with pytest.raises(XentlearnInputError, match=r"cannot read .*late.csv.*inferred from the first"):
        FileSource(path, target="y", preprocessor=TabularPreprocessor(), encode_target=np.asarray)


@pytest.mark.parametrize("name, text", [
    ("semicolons.csv", "x;y;label\n1,5;-2;a\n3,25;4;b\n-0,5;1e3;a\n"),
    ("tabs.csv", "x\ty\tlabel\n1.5\t-2\ta\n3.25\t4\tb\n-0.5\t1e3\ta\n"),
    ("pipes.csv.gz", "x|y|label\n1.5|-2|a\n3.25|4|b\n-0.5|1e3|a\n"),
    ("dots.csv", "x;y;label\n1.5;-2;a\n3.25;4;b\n-0.5;1e3;a\n"),       # ';' with '.'
    ("quoted.csv.gz", '"x, cm";"y, kg";label\n1,5;-2;a\n3,25;4;b\n-0,5;1e3;a\n'),
])
def test_csv_delimiter_is_sniffed_from_the_header(tmp_path, name, text):
    import gzip

    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    names = ["x, cm", "y, kg", "label"] if name.startswith("quoted") else ["x", "y", "label"]
    assert scan_schema(path).names == names
    src = FileSource(path, target="label", preprocessor=TabularPreprocessor(standardize=False),
                     encode_target=lambda labels: (np.asarray(labels) == "b").astype(float))
    batch = next(src.batches(None))
    # A ';' file with decimal commas (R's read.csv2 convention): "1,5" is 1.5.
    np.testing.assert_array_equal(batch.X, [[1.5, -2.0], [3.25, 4.0], [-0.5, 1000.0]])
    np.testing.assert_array_equal(batch.targets, [0.0, 1.0, 0.0])


def test_a_semicolon_file_with_decimal_commas_and_dotted_numbers_is_refused(tmp_path):
    # German Excel: "1.500" (thousands) beside "1,5" (decimal); "1.500" was read as 1.5
    # and "1,5" one-hot encoded, silently (found by review). Dates with dots are fine.
    path = tmp_path / "de.csv"
    path.write_text("pop;area;label\n950;3,5;a\n1.500;1,5;b\n12.000;4,5;a\n")
    with pytest.raises(XentlearnInputError, match=r"'.*de\.csv' writes numbers with a decimal "
                       r"comma \('3,5', line 2\) and numbers with a dot \('1\.500', line 3\), "
                       r"which are not read as numbers with either mark; re-save it with one "
                       r"decimal mark"):
        scan_schema(path)
    decimals = tmp_path / "decimals.csv"            # a decimal point: text, one-hot (review)
    decimals.write_text('a;b;label\n0,13;"2.50";p\n0,5;1.25;q\n')
    with pytest.raises(XentlearnInputError, match=r"\('2\.50', line 2\)"):
        scan_schema(decimals)
    # Dotted text that is no number is no reason: an address, a version; quoted fields
    # count, and a quoted field over two lines counts its lines.
    other = tmp_path / "other.csv"
    other.write_text('price;ip;version;note;label\n"-12,42";10.0.2.2;1.3.0;"x\ny";a\n'
                     '3,5;10.0.2.3;1.3.1;z;b\n')
    src = FileSource(other, target="label", preprocessor=TabularPreprocessor(
        standardize=False), encode_target=lambda labels: np.zeros(len(labels)),
        features=["price"])
    np.testing.assert_array_equal(next(src.batches(None)).X[:, 0], [-12.42, 3.5])
    separator = tmp_path / "separator.csv"         # lines end as a CSV reader ends them
    separator.write_text('a;b;c\n"x\u2028y";1,5;q\nz;2.5;r\n', encoding="utf-8")
    with pytest.raises(XentlearnInputError, match=r"\('2\.5', line 3\)"):
        scan_schema(separator)
    late = tmp_path / "late.csv"                   # a record's first line is named
    late.write_text('price;note;label\n"1,5";"a\nb\nc";x\n2,5;1.500;y\n')
    with pytest.raises(XentlearnInputError, match=r"\('1,5', line 2\) and numbers with a "
                       r"dot \('1\.500', line 5\)"):
        scan_schema(late)
    dated = tmp_path / "dated.csv"
    dated.write_text("day;amount;label\n22.11.2023;26,64;a\n06.11.2023;80,40;b\n")
    src = FileSource(dated, target="label", preprocessor=TabularPreprocessor(
        standardize=False, dates="expand"), encode_target=lambda labels: np.zeros(len(labels)))
    X = next(src.batches(None)).X
    np.testing.assert_array_equal(X[:, -1], [26.64, 80.40])
    np.testing.assert_array_equal(X[:, :2], [[2023, 11], [2023, 11]])


def test_a_semicolon_files_first_64_kb_cut_inside_dotted_text_is_read(tmp_path):
    # The cut left "10.0" of 10.0.2.2, a number with a dot: the file was refused (review).
    head, row = "p;ip;label\n", "1,5;10.0.2.2;a\n"
    pad = next(m for m in range(len(row))
               if (65536 - len(head) - len(row) - m) % len(row) == len("1,5;10.0"))
    first = "1,5;10.0.2.2;" + "a" * (1 + pad) + "\n"
    text = head + first + row * (65536 // len(row) + 3)
    assert text[:65536].endswith("\n1,5;10.0")
    path = tmp_path / "cut.csv"
    path.write_text(text)
    assert scan_schema(path).names == ["p", "ip", "label"]


@pytest.mark.parametrize("text", [
    'price,label\n"1,200",a\n"5,500",b\n"12,000",a\n"7,300",b\n',     # thousands
    "x;label\n" + "".join(f"{i};{'ab'[i % 2]}\n" for i in range(12000)) + "3,5;a\n",
])
def test_numbers_written_with_a_comma_read_as_text_are_named(tmp_path, text):
    # Quoted thousands separators, or a ';' file's decimal commas first met after 64 KB:
    # text, one category per value, silently (or "looks like an identifier").
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(XentlearnInputError, match=r"holds numbers written with a comma \(such "
                                                  r"as '(1,200|3,5)': a thousands separator"):
        FileSource(path, target="label", preprocessor=TabularPreprocessor(),
                   encode_target=np.asarray)
    codes = tmp_path / "codes.csv"                 # a survey's multi-select answers, or
    codes.write_text("answers,label\n"             # decimals: told, not refused
                     + "".join(f'"{c}",a\n' for c in ["1,2", "1,3", "2,3"] * 3))
    with pytest.warns(UserWarning, match=r"column 'answers' holds numbers written with a "
                      r"comma \(such as '1,2'.*if they are numbers, re-save"):
        source = FileSource(codes, target="label", preprocessor=TabularPreprocessor(),
                            encode_target=np.asarray)
    assert source.preprocessor.categories_["answers"] == ["1,2", "1,3", "2,3"]
    words = tmp_path / "words.csv"                 # text that holds one such value is text
    words.write_text("w,label\n" + "".join(f"{w},a\n" for w in ["red", "blue", '"1,5"'] * 3))
    FileSource(words, target="label", preprocessor=TabularPreprocessor(),
               encode_target=np.asarray)


# ------------------------------------------------------------------- messy CSV files

def test_duplicate_column_names_are_refused_naming_the_column(tmp_path):
    from xentlearn.data import TableFiles

    csv = tmp_path / "dup.csv"
    csv.write_text("x,y,x,label\n1,2,3,a\n4,5,6,b\n")
    parquet = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array(["a"])],
                                        names=["x", "x", "label"]), parquet)
    for path, where in ((csv, "columns 1 and 3"), (parquet, "columns 1 and 2")):
        expected = rf"'.*{path.name}' has 2 columns named 'x': {where}; column names must be unique"
        with pytest.raises(XentlearnInputError, match=expected):
            scan_schema(path)
        with pytest.raises(XentlearnInputError, match=expected):
            list(TableFiles(path).iter_batches(["y"], with_target=False))
        with pytest.raises(XentlearnInputError, match=expected):
            FileSource(path, target="label", preprocessor=TabularPreprocessor(),
                       encode_target=np.asarray)
    nameless = tmp_path / "nameless.csv"
    nameless.write_text(",,label\n1,2,a\n")
    with pytest.raises(XentlearnInputError, match="2 columns without a name"):
        scan_schema(nameless)


LATIN1_ROWS = "x,town,label\n1.5,Paris,a\n2.5,Orl\xe9ans,b\n"


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.csv.gz"])
def test_csv_that_is_not_utf8_is_named_with_its_first_bad_byte(tmp_path, name):
    import gzip

    from xentlearn.data import TableFiles

    path = tmp_path / name
    data = LATIN1_ROWS.encode("latin-1")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    offset = data.index(b"\xe9")
    where = "" if name.endswith(".csv") else " of the decompressed text"
    expected = (rf"'.*{name}' is not UTF-8 text \(byte 0xe9 at offset {offset}{where}, line 3, "
                r"column 'town'\); re-save it as UTF-8")
    with pytest.raises(XentlearnInputError, match=expected):
        scan_schema(path)
    with pytest.raises(XentlearnInputError, match=expected):
        scan_target(path, "label")
    with pytest.raises(XentlearnInputError, match=expected):
        list(TableFiles(path).iter_batches(["x"], with_target=False))


def test_non_utf8_header_and_bytes_after_the_first_block(tmp_path):
    from xentlearn.data import TableFiles

    header = tmp_path / "header.csv"
    header.write_bytes("x,caf\xe9,label\n1,2,a\n".encode("latin-1"))
    with pytest.raises(XentlearnInputError,
                       match=r"'.*header.csv' is not UTF-8 text \(byte 0xe9 at offset 5, line 1\)"):
        scan_schema(header)
    # The first block holds only ASCII, so the column is typed string; the
    # bad byte fails its conversion later, while batches are read.
    late = tmp_path / "late.csv"
    rows = "x,town,label\n" + "1,Paris,a\n" * 300 + "2,Orl\xe9ans,b\n"
    late.write_bytes(rows.encode("latin-1"))
    table = TableFiles(late, csv_block_bytes=1024)
    with pytest.raises(XentlearnInputError,
                       match=r"'.*late.csv' is not UTF-8 text \(byte 0xe9 at offset "
                             rf"{rows.index(chr(0xe9))}, line 302\)"):
        list(table.iter_batches(["x", "town"], with_target=False))


def test_first_non_utf8_byte_found_across_scan_chunks(tmp_path, monkeypatch):
    from xentlearn.data import _readers

    # Chunks of 5 bytes cut the 2- and 3-byte characters in every way.
    monkeypatch.setattr(_readers, "_SCAN_BYTES", 5)
    good = "é€a\nbé€\n€€é\n" * 4
    path = tmp_path / "mixed.csv"
    path.write_bytes(good.encode() + b"z\xff")
    assert _readers._first_non_utf8(path) == (len(good.encode()) + 1, 0xFF, 13)
    path.write_bytes(good.encode())
    assert _readers._first_non_utf8(path) is None
    path.write_bytes(good.encode() + "é".encode()[:1])       # cut at the end of the file
    assert _readers._first_non_utf8(path) == (len(good.encode()), 0xC3, 13)


def test_row_longer_than_the_csv_block_names_line_and_block_size(tmp_path):
    from xentlearn.data import TableFiles

    path = tmp_path / "notes.csv"
    lines = ["x,note,label"] + [f"{i},short,{'ab'[i % 2]}" for i in range(40)]
    lines[30] = f"29,{'z' * 3000},b"
    path.write_text("\n".join(lines) + "\n")
    message = (r"cannot read '.*notes.csv': line 31 is 3006 bytes long, more than the CSV block "
               r"size of 1024 bytes \(every row must fit in one block\); read it with a larger "
               r"block: TableFiles\(\.\.\., csv_block_bytes=4096\) or more$")
    with pytest.raises(XentlearnInputError, match=message) as error:
        list(TableFiles(path, csv_block_bytes=1024).iter_batches(["x", "note"],
                                                                 with_target=False))
    assert "column types" not in str(error.value)
    with pytest.raises(XentlearnInputError, match=message):
        list(iter_record_batches([path], ["x"], csv_block_bytes=1024))
    with pytest.raises(XentlearnInputError, match=message):
        scan_target([path], "label", csv_block_bytes=1024)
    batches = TableFiles(path, csv_block_bytes=4096).iter_batches(["x", "note"],
                                                                  with_target=False)
    assert sum(batch.num_rows for batch, _ in batches) == 40
    # A header longer than the block fails when the schema is read.
    wide = tmp_path / "wide.csv"
    header = ",".join(f"column_{j}" for j in range(200))
    wide.write_text(header + "\n" + ",".join(["1"] * 200))
    with pytest.raises(XentlearnInputError, match=rf"line 1 is {len(header) + 1} bytes long"):
        scan_schema(wide, csv_block_bytes=1024)


def test_csv_block_bytes_is_checked_and_table_files_fields_keep_their_order(tmp_path):
    import dataclasses

    from xentlearn.data import TableFiles

    # Positional callers keep working: new fields only ever go at the end.
    assert [f.name for f in dataclasses.fields(TableFiles)][:10] == [
        "path", "target", "features", "sample_weight", "standardize", "impute",
        "max_categories", "batch_rows", "shuffle_buffer_rows", "csv_block_bytes"]
    assert TableFiles("a.csv").csv_block_bytes == 4 << 20
    for bad in (10, 2**31, True, 1.5e6, "4M"):
        with pytest.raises(XentlearnInputError, match=r"csv_block_bytes must be an integer "
                                                      r"from 1024 to 2147483647"):
            TableFiles("a.csv", csv_block_bytes=bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TableFiles("a.csv").csv_block_bytes = 1 << 20


def test_a_missing_label_is_located_by_file_and_row(tmp_path):
    # Two files; the first missing label is in the second, in its third 4-row batch.
    (tmp_path / "a.csv").write_text("x,label\n" + "".join(f"{i},p\n" for i in range(10)))
    (tmp_path / "b.csv").write_text("x,label\n" + "".join(
        f"{i},{'' if i in (9, 11) else 'q'}\n" for i in range(12)))
    with pytest.raises(XentlearnInputError,
                       match=r"2 missing value\(s\) \(first in row 10 of '.*b\.csv', counting "
                             r"rows after the header, blank lines not counted\)"):
        scan_target(tmp_path, "label", batch_rows=4)
    # A Parquet file has no header to count from.
    pq.write_table(pa.table({"x": [1.0, 2.0], "label": ["p", None]}), tmp_path / "c.parquet")
    with pytest.raises(XentlearnInputError, match=r"\(first in row 2 of '.*c\.parquet'\);"):
        scan_target([tmp_path / "c.parquet"], "label")
    # Through the estimators (the rows kept in memory) the same words; with a row split,
    # rows are filtered and only the file is named.
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles

    with pytest.raises(XentlearnInputError, match=r"first in row 10 of '.*b\.csv'"):
        LogisticRegression().fit(TableFiles(tmp_path, target="label"))
    with pytest.raises(XentlearnInputError, match=r"\(first in '.*b\.csv'\)"):
        LogisticRegression().fit(TableFiles(tmp_path, target="label", validation_fraction=0.2))


def test_file_messages_show_plain_values_and_quoted_columns(tmp_path):
    """At the source, not only through the CLI's rewriting: the one class as 1 (not
    np.int64(1)), the columns of a file as quoted names."""
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles

    path = write(pa.table({"x a": [1.0, 2.0], "code": [1, 1]}), tmp_path / "t.parquet")
    with pytest.raises(XentlearnInputError,
                       match=r"target column 'code' has only one class \(1\); a classifier"):
        LogisticRegression().fit(TableFiles(path, target="code"))
    with pytest.raises(XentlearnInputError, match=r"column\(s\) to drop \['z'\] not found in "
                                                  r"'.*t.parquet'; it has 'x a', 'code'$"):
        FileSource(path, target="code", drop=["z"], preprocessor=TabularPreprocessor(),
                   encode_target=np.asarray)


def test_files_may_differ_in_the_columns_that_are_not_read(tmp_path):
    # An export with an extra column in one file: --drop (or --features) did not help.
    from xentlearn.data import TableFiles

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "1.csv").write_text("x,label\n1,a\n2,b\n3,a\n")
    (folder / "2.csv").write_text("x,label,note\n4,b,hi\n5,a,yo\n")

    def source(**kw):
        return FileSource(folder, target="label", preprocessor=TabularPreprocessor(
            standardize=False), encode_target=lambda labels: np.zeros(len(labels)), **kw)

    with pytest.raises(XentlearnInputError, match=r"'.*2\.csv' has different columns from "
                                                  r"'.*1\.csv': missing \[\], extra \['note'\]"):
        source()
    for kw in ({"drop": ["note"]}, {"features": ["x"]}):
        src = source(**kw)
        assert src.features == ["x"]
        np.testing.assert_array_equal(np.concatenate([b.X for b in src.batches(None)]),
                                      [[1.0], [2.0], [3.0], [4.0], [5.0]])
    table = TableFiles(folder, target="label")
    assert TableFiles(folder, target="label", drop=["note"]).schema().names == [
        "x", "label", "note"]
    batches = [batch for batch, _ in table.iter_batches(["x"], with_target=True)]
    assert sum(b.num_rows for b in batches) == 5          # predict reads the model's columns
    (folder / "3.csv").write_text("label,note\na,x\n")     # a column read is still compared
    with pytest.raises(XentlearnInputError, match=r"missing \['x'\], extra \[\]"):
        source(drop=["note"])


def test_a_stray_nul_byte_is_not_utf16(tmp_path):
    # Any NUL refused the file as "UTF-16?" (review); UTF-16 has one in every other byte.
    path = tmp_path / "nul.csv"
    path.write_bytes(b"x,name,label\n1,ab\x00c,a\n2,d,b\n3,e,a\n")
    assert scan_schema(path).names == ["x", "name", "label"]
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("x,label\n1,a\n".encode("utf-16-le"))
    with pytest.raises(XentlearnInputError, match="holds NUL bytes"):
        scan_schema(utf16)


def test_file_source_columns_linear_in_their_number_and_edge_cases(tmp_path):
    # Each feature's check scanned every name (a 50,000-column CSV took minutes).
    import time

    from xentlearn.data._readers import feature_columns

    names = [f"c{i}" for i in range(200_000)] + ["y"]
    start = time.perf_counter()
    assert feature_columns("t.csv", names, "y", None, None, ["c0"]) == names[1:-1]
    assert feature_columns("t.csv", names, "y", None, names[5:-1], ()) == names[5:-1]
    assert time.perf_counter() - start < 2
    with pytest.raises(XentlearnInputError, match=r"feature column 'nope' not found in 't.csv'; "
                                                  r"available columns: 'c0', .* 'c39', \.\.\. "
                                                  r"\(200001 columns\)"):
        feature_columns("t.csv", names, "y", None, ["c1", "nope"], ())
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n")
    options = dict(preprocessor=TabularPreprocessor(), encode_target=np.asarray)
    same = FileSource(path, target="y", sample_weight_column="y", **options)  # y weighs its rows
    assert same.columns == ["a", "b", "y"]
    with pytest.raises(XentlearnInputError, match="FileSource needs a target column"):
        FileSource(path, target=None, **options)


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_files_grouped_by_label_are_named_for_mini_batch_training(tmp_path, budget):
    # Sorted by label, rows shuffled a window at a time reach a mini-batch solver one
    # class after another: the model ended 0.72 accurate where shuffled rows gave 0.85.
    import warnings

    from xentlearn import LogisticRegression
    from xentlearn.data import LabelOrderWarning, TableFiles

    rng = np.random.default_rng(0)
    x = rng.standard_normal(3000)
    y = np.where(x + rng.logistic(size=3000) > 0, "p", "n")
    table = pa.table({"x": x, "y": y})
    pq.write_table(table.take(np.argsort(y, kind="stable")), tmp_path / "sorted.parquet",
                   row_group_size=250)
    pq.write_table(table, tmp_path / "shuffled.parquet", row_group_size=250)
    options = dict(target="y", shuffle_buffer_rows=128, batch_rows=128, memory_budget=budget)
    model = LogisticRegression(solver="adam", max_iter=3, batch_size=32, random_state=0)
    with pytest.warns(LabelOrderWarning, match=r"grouped by label: mini-batches are shuffled "
                                               r"within a buffer of about 128 rows"):
        model.fit(TableFiles(tmp_path / "sorted.parquet", **options))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelOrderWarning)
        model.fit(TableFiles(tmp_path / "shuffled.parquet", **options))
        model.set_params(solver="lbfgs", batch_size="auto").fit(
            TableFiles(tmp_path / "sorted.parquet", **options))
        # Shuffled rows of 100 classes: windows of 128 rows differ from the data by chance
        # alone (a plain distance of the shares said "grouped").
        many = pa.table({"x": x, "y": rng.integers(0, 100, 3000)})
        pq.write_table(many, tmp_path / "many.parquet", row_group_size=250)
        model.set_params(solver="adam", batch_size=32).fit(
            TableFiles(tmp_path / "many.parquet", **options))
