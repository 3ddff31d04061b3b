"""Model file format: exact round trips, atomic writes, and clear refusals.

Every damaged, foreign or hostile file must raise ModelFileError naming the
path and the problem; a pickle inside a file must never be unpickled.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from xentlearn.exceptions import ModelFileError, XentlearnInputError
from xentlearn.io import FORMAT_VERSION, read, write
from xentlearn.io import _format

# ---------------------------------------------------------------- helpers


def _npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _meta(**fields) -> bytes:
    return json.dumps({"format": "xentlearn-model", "format_version": FORMAT_VERSION, **fields}).encode()


def _zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _assert_model_error(path: Path, pattern: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=pattern) as excinfo:
        read(path)
    assert str(path) in str(excinfo.value), "the message must name the file"
    return excinfo.value


def _assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype  # includes byte order and string length
    assert got.shape == want.shape
    assert got.flags.f_contiguous == want.flags.f_contiguous
    assert got.tobytes(order="A") == want.tobytes(order="A")


def _other_files(directory: Path, keep: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name != keep)


# ---------------------------------------------------------------- round trips

ARRAYS = {
    "float64": np.array([[0.1, -0.0, np.nan], [np.inf, -np.inf, 5e-324]]),
    "float32": np.array([1.5, np.float32(1e-45), -3.4e38], dtype=np.float32),
    "float16": np.array([0.5, 65504.0], dtype=np.float16),
    "big_endian": np.array([1.0, 2.0], dtype=">f8"),
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "int8": np.array([-128, 127], dtype=np.int8),
    "uint64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "int64": np.array([-(2**63), 2**63 - 1], dtype=np.int64),
    "bool": np.array([True, False, True]),
    "unicode": np.array(["cat", "Katze", "猫", "🐈", ""]),
    "bytes": np.array([b"a", b"\x00\xff"]),
    "complex": np.array([1 + 2j, np.nan * 1j]),
    "scalar": np.array(3.25),
    "empty": np.zeros((0, 3), dtype=np.float32),
    "classes.v-2": np.array([3, 1, 2]),
}


def test_round_trip_is_bit_identical(tmp_path):
    path = tmp_path / "model.xent"
    write(path, ARRAYS, {})
    arrays, _ = read(path)
    assert list(arrays) == list(ARRAYS), "names and their order are kept"
    for name, want in ARRAYS.items():
        _assert_identical(arrays[name], want)


@pytest.mark.parametrize("compress, kind", [(True, zipfile.ZIP_DEFLATED),
                                             (False, zipfile.ZIP_STORED)])
def test_entries_are_deflated_or_stored_and_read_back_alike(tmp_path, compress, kind):
    path = tmp_path / "model.xent"
    write(path, ARRAYS, {"k": 1}, compress=compress)
    with zipfile.ZipFile(path) as zf:
        assert {info.compress_type for info in zf.infolist()} == {kind}
    arrays, meta = read(path)
    assert meta["k"] == 1
    for name, want in ARRAYS.items():
        _assert_identical(arrays[name], want)


def test_non_contiguous_views_are_stored_as_their_values(tmp_path):
    base = np.arange(20, dtype=np.float64).reshape(4, 5)
    view = base[::2, 1::2]
    write(tmp_path / "m", {"view": view}, {})
    np.testing.assert_array_equal(read(tmp_path / "m")[0]["view"], view)


def test_meta_round_trip_nested_json(tmp_path):
    meta = {
        "estimator": "MLPClassifier",
        "params": {"hidden_layer_sizes": [64, 32], "alpha": 1e-4, "tol": 1e-300, "random_state": None},
        "flags": [True, False, None],
        "big": 2**70,
        "exact": 0.1,
        "text": "naïve 猫",
        "nested": {"a": {"b": {"c": [[1, 2], [3.5]]}}},
    }
    path = tmp_path / "model.xent"
    write(path, {}, meta)
    arrays, got = read(path)
    assert arrays == {}
    assert got == {"format": "xentlearn-model", "format_version": FORMAT_VERSION, **meta}
    assert type(got["big"]) is int


def test_meta_numpy_values_become_plain_json(tmp_path):
    meta = {
        "f32": np.float32(0.5),
        "f64": np.float64(0.1),
        "i": np.int64(-7),
        "b": np.bool_(True),
        "s": np.str_("x"),
        "arr": np.arange(3),
        "grid": np.array([[1.5, 2.0]]),
        "labels": np.array(["a", "b"]),
        "pair": (1, 2),
    }
    path = tmp_path / "m"
    write(path, {}, meta)
    _, got = read(path)
    assert got["f32"] == 0.5 and type(got["f32"]) is float
    assert got["f64"] == 0.1 and type(got["f64"]) is float
    assert got["i"] == -7 and type(got["i"]) is int
    assert got["b"] is True
    assert got["s"] == "x"
    assert got["arr"] == [0, 1, 2]
    assert got["grid"] == [[1.5, 2.0]]
    assert got["labels"] == ["a", "b"]
    assert got["pair"] == [1, 2]


def test_meta_non_finite_floats_round_trip(tmp_path):
    write(tmp_path / "m", {}, {"nan": float("nan"), "inf": np.inf, "ninf": -np.inf})
    _, got = read(tmp_path / "m")
    assert math.isnan(got["nan"]) and got["inf"] == math.inf and got["ninf"] == -math.inf


def test_file_is_a_plain_zip_of_npy_and_json(tmp_path):
    """Other tools can inspect a model: np.load reads the arrays, json the meta."""
    path = tmp_path / "model.xent"
    write(path, {"W0": np.eye(2)}, {"k": 1})
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["arrays/W0.npy", "meta.json"]
        meta = json.loads(zf.read("meta.json"))
        np.testing.assert_array_equal(np.load(io.BytesIO(zf.read("arrays/W0.npy"))), np.eye(2))
    assert meta == {"format": "xentlearn-model", "format_version": 1, "k": 1}


def test_str_and_pathlike_paths(tmp_path):
    write(str(tmp_path / "a"), {"x": np.ones(2)}, {})
    np.testing.assert_array_equal(read(str(tmp_path / "a"))[0]["x"], np.ones(2))
    write(tmp_path / "b", {"x": np.zeros(2)}, {})
    np.testing.assert_array_equal(read(tmp_path / "b")[0]["x"], np.zeros(2))


def test_overwrite_replaces_the_old_model(tmp_path):
    path = tmp_path / "m"
    write(path, {"old": np.ones(3)}, {"v": 1})
    write(path, {"new": np.zeros(2)}, {"v": 2})
    arrays, meta = read(path)
    assert list(arrays) == ["new"] and meta["v"] == 2
    assert _other_files(tmp_path, "m") == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_follow_umask_or_the_replaced_file(tmp_path):
    old_mask = os.umask(0o027)
    try:
        write(tmp_path / "new", {}, {})
        assert os.stat(tmp_path / "new").st_mode & 0o777 == 0o640  # not the temp file's 0o600
        existing = tmp_path / "existing"
        existing.write_bytes(b"old")
        os.chmod(existing, 0o604)
        write(existing, {}, {})
        assert os.stat(existing).st_mode & 0o777 == 0o604
    finally:
        os.umask(old_mask)


# ---------------------------------------------------------------- atomic writes


class _Crash(Exception):
    pass


def _crash_on_second_array(monkeypatch):
    real = np.lib.format.write_array
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise _Crash("simulated crash after the first array")
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", flaky)


def _crash_in(module, name, exc_type=_Crash):
    def install(monkeypatch):
        def boom(*args, **kwargs):
            raise exc_type(f"simulated crash in {name}")

        monkeypatch.setattr(module, name, boom)

    return install


CRASHES = {
    "second array": (_crash_on_second_array, _Crash),
    "fsync": (_crash_in(os, "fsync", OSError), OSError),
    "replace": (_crash_in(os, "replace", OSError), OSError),
    "keyboard interrupt": (_crash_in(zipfile.ZipFile, "writestr", KeyboardInterrupt), KeyboardInterrupt),
}


@pytest.mark.parametrize("where", list(CRASHES))
def test_crash_mid_write_leaves_old_file_byte_identical(tmp_path, monkeypatch, where):
    path = tmp_path / "model.xent"
    write(path, {"W0": np.arange(6.0)}, {"version": "old"})
    before = path.read_bytes()

    install, exc_type = CRASHES[where]
    install(monkeypatch)
    with pytest.raises(exc_type, match="simulated crash"):
        write(path, {"W0": np.ones(50), "b0": np.zeros(5), "W1": np.ones(3)}, {"version": "new"})
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert _other_files(tmp_path, "model.xent") == [], "the temporary file must be removed"
    assert read(path)[1]["version"] == "old"


def test_crash_on_first_write_leaves_nothing(tmp_path, monkeypatch):
    _crash_on_second_array(monkeypatch)
    with pytest.raises(_Crash):
        write(tmp_path / "m", {"a": np.ones(2), "b": np.ones(2)}, {})
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write(tmp_path / "no" / "such" / "m", {}, {})


# ---------------------------------------------------------------- write refusals

BAD_INPUTS = {
    "object array": ({"x": np.array([1, "a", None], dtype=object)}, {}, "object dtype"),
    "ragged list": ({"x": [[1], [1, 2]]}, {}, "inhomogeneous|object dtype"),
    "structured": ({"x": np.zeros(2, dtype=[("a", "f8")])}, {}, "dtype"),
    "traversal name": ({"../evil": np.ones(1)}, {}, "array name '../evil' is not allowed"),
    "slash name": ({"a/b": np.ones(1)}, {}, "array name 'a/b' is not allowed"),
    "empty name": ({"": np.ones(1)}, {}, "array name '' is not allowed"),
    "hidden name": ({".x": np.ones(1)}, {}, r"array name '\.x' is not allowed"),
    "int name": ({0: np.ones(1)}, {}, "array name 0 is not allowed"),
    "reserved format": ({}, {"format": "x"}, "meta key 'format' is reserved"),
    "reserved version": ({}, {"format_version": 9}, "meta key 'format_version' is reserved"),
    "int key": ({}, {"class_weight": {1: 2.0}}, r"meta\['class_weight'\] has key 1 of type int"),
    "set": ({}, {"a": [1, {2}]}, r"meta\['a'\]\[1\] is a set"),
    "complex": ({}, {"c": 1j}, r"meta\['c'\] is a complex"),
    "object": ({}, {"o": object()}, r"meta\['o'\] is a object"),
    "datetime array": ({}, {"t": np.array(["2020-01-01"], dtype="M8[D]")}, "store it in `arrays`"),
    "meta not dict": ({}, ["a"], "meta must be a dict"),
    "arrays not dict": ([np.ones(1)], {}, "arrays must be a dict"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_write_refuses_bad_input_and_writes_nothing(tmp_path, case):
    arrays, meta, pattern = BAD_INPUTS[case]
    with pytest.raises((XentlearnInputError, ValueError), match=pattern):
        write(tmp_path / "m", arrays, meta)
    assert os.listdir(tmp_path) == []


def test_write_refuses_object_arrays_as_input_error(tmp_path):
    with pytest.raises(XentlearnInputError, match="never hold pickles"):
        write(tmp_path / "m", {"x": np.array([{}], dtype=object)}, {})


def test_write_refuses_more_than_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(_format, "MAX_TOTAL_BYTES", 100)
    with pytest.raises(XentlearnInputError, match="more than the 100 bytes"):
        write(tmp_path / "m", {"x": np.ones(13)}, {})
    write(tmp_path / "m", {"x": np.ones(12)}, {})  # 96 bytes fits


# ---------------------------------------------------------------- read refusals


def test_missing_path(tmp_path):
    _assert_model_error(tmp_path / "nope.xent", "does not exist")


def test_directory_path(tmp_path):
    _assert_model_error(tmp_path, "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    _assert_model_error(path, "is empty; it is not a xentlearn model file")


@pytest.mark.parametrize("content", [os.urandom(1000), b"PK", b"col1,col2\n1,2\n", b"\x93NUMPY"])
def test_random_or_other_bytes(tmp_path, content):
    path = tmp_path / "noise"
    path.write_bytes(content if not content.startswith(b"PK\x03\x04") else b"x" + content)
    _assert_model_error(path, "is not a xentlearn model file")


def test_npy_file_is_not_a_model(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.ones(3))
    _assert_model_error(path, "is not a xentlearn model file")


@pytest.fixture
def model_bytes(tmp_path) -> bytes:
    rng = np.random.default_rng(0)
    path = tmp_path / "good.xent"
    write(path, {"W0": rng.normal(size=(40, 5)), "b0": rng.normal(size=5)}, {"classes": [0, 1, 2]})
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.01, 0.25, 0.5, 0.75, 0.99, -22, -1])
def test_truncated_file(tmp_path, model_bytes, keep):
    cut = int(len(model_bytes) * keep) if isinstance(keep, float) else len(model_bytes) + keep
    assert 4 < cut < len(model_bytes)
    path = tmp_path / "cut.xent"
    path.write_bytes(model_bytes[:cut])
    _assert_model_error(path, "is corrupt or truncated")


def _entry_data_offset(data: bytes, entry: str) -> tuple[int, int]:
    """Offset and length of `entry`'s stored (compressed) bytes inside the zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(entry)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


@pytest.mark.parametrize("entry", ["arrays/W0.npy", "meta.json"])
def test_flipped_byte_is_detected(tmp_path, model_bytes, entry):
    start, size = _entry_data_offset(model_bytes, entry)
    damaged = bytearray(model_bytes)
    damaged[start + size // 2] ^= 0xFF
    path = tmp_path / "flipped.xent"
    path.write_bytes(bytes(damaged))
    _assert_model_error(path, "corrupt or truncated")


def test_flipped_byte_in_stored_array_data_is_caught_by_crc(tmp_path):
    """Uncompressed entries have no deflate checks: only the CRC can notice."""
    data = np.arange(64, dtype=np.float64)
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": _npy(data)})
    raw = bytearray(path.read_bytes())
    start, size = _entry_data_offset(bytes(raw), "arrays/x.npy")
    raw[start + size - 3] ^= 0x01
    path.write_bytes(bytes(raw))
    _assert_model_error(path, "corrupt or truncated")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_wrong_crc_is_detected(tmp_path, compression):
    """Intact data, wrong checksum: the CRC comparison itself must run."""
    path = _zip(
        tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": _npy(np.arange(500.0))}, compression
    )
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        crc = struct.pack("<I", zf.getinfo("arrays/x.npy").CRC)
    assert raw.count(crc) == 2, "local and central headers"
    path.write_bytes(raw.replace(crc, bytes([crc[0] ^ 1]) + crc[1:]))
    _assert_model_error(path, "corrupt or truncated: Bad CRC-32 for file 'arrays/x.npy'")


def test_plain_zip_without_meta_is_foreign(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, W0=np.ones(3))
    _assert_model_error(path, "no meta.json: foreign file")


@pytest.mark.parametrize(
    "meta",
    [
        json.dumps({"format": "other-tool", "format_version": 1}).encode(),
        json.dumps({"format_version": 1}).encode(),
        json.dumps(["xentlearn-model"]).encode(),
    ],
)
def test_other_format_is_foreign(tmp_path, meta):
    path = _zip(tmp_path / "m", {"meta.json": meta})
    _assert_model_error(path, "is a foreign file: meta.json has format")


def test_meta_that_is_not_json(tmp_path):
    path = _zip(tmp_path / "m", {"meta.json": b"\xff{not json"})
    _assert_model_error(path, "meta.json is not valid UTF-8 JSON")


def test_newer_format_version(tmp_path):
    path = _zip(
        tmp_path / "m",
        {"meta.json": _meta(format_version=FORMAT_VERSION + 1), "arrays/x.npy": _npy(np.ones(2))},
    )
    _assert_model_error(
        path,
        re.escape(
            f"was written by a newer xentlearn (format version {FORMAT_VERSION + 1}); "
            f"this version reads up to {FORMAT_VERSION}: upgrade xentlearn"
        ),
    )


@pytest.mark.parametrize("version", ["1", True, 0, -1, 1.0, None])
def test_invalid_format_version(tmp_path, version):
    path = _zip(tmp_path / "m", {"meta.json": _meta(format_version=version)})
    _assert_model_error(path, "format_version is .* expected a positive integer")


class _Payload:
    """Unpickling this object creates the directory `sentinel`."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.mkdir, (str(self.sentinel),))


@pytest.mark.parametrize("structured", [False, True])
def test_pickled_object_is_refused_and_never_unpickled(tmp_path, structured):
    sentinel = tmp_path / "pwned"
    if structured:
        hostile = np.empty(1, dtype=[("w", "f8"), ("o", "O")])
        hostile[0] = (1.0, _Payload(sentinel))
    else:
        hostile = np.empty(1, dtype=object)
        hostile[0] = _Payload(sentinel)
    payload = _npy(hostile, allow_pickle=True)
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/W0.npy": payload})

    _assert_model_error(path, "contains a pickled object; refusing to load it")
    assert not sentinel.exists(), "read() ran code from the file"

    # Control: the payload is live, so the assertion above could have failed.
    np.load(io.BytesIO(payload), allow_pickle=True)
    assert sentinel.exists()


def test_forged_array_header_is_refused_before_allocating(tmp_path):
    """A header claiming 8 TB must fail on the size check, not on allocation."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    buffer.write(np.ones(1).tobytes())
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": buffer.getvalue()})
    _assert_model_error(path, r"corrupt or truncated: entry 'arrays/x.npy' declares shape \(1000000000000,\)")


def test_array_entry_with_trailing_bytes(tmp_path):
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": _npy(np.ones(2)) + b"junk"})
    _assert_model_error(path, "corrupt or truncated: entry 'arrays/x.npy'")


def test_array_entry_that_is_not_npy(tmp_path):
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": b"definitely not npy"})
    _assert_model_error(path, "corrupt or truncated")


def test_unknown_top_level_entries_are_ignored(tmp_path):
    """Forward compatibility: optional extras from a later writer are skipped."""
    path = _zip(
        tmp_path / "m",
        {
            "meta.json": _meta(k=1),
            "README.txt": b"hello",
            "extras/plot.png": b"\x89PNG",
            "arrays/x.npy": _npy(np.arange(3)),
        },
    )
    arrays, meta = read(path)
    assert list(arrays) == ["x"] and meta["k"] == 1


@pytest.mark.parametrize("entry", ["arrays/x.txt", "arrays/sub/x.npy", "arrays/.npy", "arrays/x.npz"])
def test_unexpected_entries_under_arrays_are_refused(tmp_path, entry):
    path = _zip(tmp_path / "m", {"meta.json": _meta(), entry: _npy(np.ones(1))})
    _assert_model_error(path, f"unexpected entry '{re.escape(entry)}'")


def test_duplicate_entries_are_refused(tmp_path):
    path = tmp_path / "m"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names, which is the point
        _zip(path, {"meta.json": _meta()})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("meta.json", _meta(version="shadow"))
    _assert_model_error(path, "several entries named 'meta.json'")


def test_declared_size_over_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "m"
    write(path, {"zeros": np.zeros(10_000)}, {})
    monkeypatch.setattr(_format, "MAX_TOTAL_BYTES", 50_000)
    _assert_model_error(path, "may expand to at most 50000 bytes .*: refusing to decompress it")


def test_model_file_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        read(tmp_path / "missing")


# ---------------------------------------------------------------- bounded reading
#
# Each test below builds a hostile file and asserts that read() refuses it at
# once: within seconds and without allocating more than a small multiple of
# the file's size (tracemalloc sees Python and NumPy allocations).

# Generous for a loaded machine: the bugs these tests pin took 9 to 30 s, or hung.
_FAST_SECONDS = 3.0
_MEMORY_MULTIPLE, _MEMORY_SLACK = 4, 16 * 2**20


def _refused_quickly(path: Path, pattern: str, reader=None) -> ModelFileError:
    import time
    import tracemalloc

    reader = reader or read
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=pattern) as excinfo:
            reader(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < _FAST_SECONDS, f"refusal took {elapsed:.2f} s"
    bound = _MEMORY_MULTIPLE * os.path.getsize(path) + _MEMORY_SLACK
    assert peak < bound, f"refusal allocated {peak} bytes, more than {bound}"
    assert str(path) in str(excinfo.value), "the message must name the file"
    return excinfo.value


def _raw_zip(entries, *, directory_entries=None, eocd_count=None) -> bytes:
    """A zip built by hand, so declared sizes and counts can lie.

    entries: (name, stored bytes, compress_type, declared uncompressed size, crc)
    directory_entries: central-directory records to write (default: one per
    entry), as (name, index of the local entry they point to).
    """
    local = bytearray()
    offsets = []
    for name, data, method, size, crc in entries:
        offsets.append(len(local))
        encoded = name.encode()
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                             len(encoded), 0) + encoded + data
    if directory_entries is None:
        directory_entries = [(name, i) for i, (name, *_) in enumerate(entries)]
    central = bytearray()
    for name, index in directory_entries:
        _, data, method, size, crc = entries[index]
        encoded = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data),
                               size, len(encoded), 0, 0, 0, 0, 0, offsets[index]) + encoded
    count = len(directory_entries) if eocd_count is None else eocd_count
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                      len(central), len(local), 0)
    return bytes(local + central + end)


def _zeros_deflated(n_bytes: int) -> tuple[bytes, int]:
    """(deflate stream, CRC-32) of n_bytes zero bytes, built 1 MiB at a time."""
    block = bytes(min(n_bytes, 2**20))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts, crc, left = [], 0, n_bytes
    while left:
        piece = block[: min(left, len(block))]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts), crc


def _read_in_thread(path: Path, fifo: Path) -> str:
    """read(path)'s ModelFileError message; fails the test if read blocks on `fifo`."""
    import threading

    outcome = []

    def attempt():
        try:
            read(path)
        except ModelFileError as exc:
            outcome.append(str(exc))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(_FAST_SECONDS)
    if thread.is_alive():  # release the blocked reader so the test run can go on
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"read() blocked on a FIFO ({outcome})")
    assert len(outcome) == 1 and isinstance(outcome[0], str), outcome
    assert str(path) in outcome[0]
    return outcome[0]


def test_fifo_is_refused_at_once(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: read must not open it."""
    fifo = tmp_path / "model.xent"
    os.mkfifo(fifo)
    assert "is not a regular file (it is a FIFO)" in _read_in_thread(fifo, fifo)


def test_symlink_to_fifo_and_devices_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "model.xent"
    link.symlink_to(fifo)
    assert "is not a regular file (it is a FIFO)" in _read_in_thread(link, fifo)
    if os.path.exists("/dev/null"):
        _refused_quickly(Path("/dev/null"), r"is not a regular file \(it is a character device\)")


def test_small_file_declaring_a_huge_array_is_refused_before_decompressing(tmp_path):
    """The issue's 4 MB file holding 4 GiB of zeros, at a size a test can build:
    a 2 GiB float64 array declared by a few KiB of deflate stream."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
    stream, _ = _zeros_deflated(2**22)  # the real stream may stop early: nothing is decompressed
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    head = compressor.compress(header.getvalue()) + compressor.flush(zlib.Z_FULL_FLUSH)
    raw = _raw_zip([
        ("meta.json", _meta(), zipfile.ZIP_STORED, len(_meta()), zlib.crc32(_meta())),
        ("arrays/W0.npy", head + stream, zipfile.ZIP_DEFLATED, len(header.getvalue()) + 2**31, 0),
    ])
    path = tmp_path / "bomb.xent"
    path.write_bytes(raw)
    assert len(raw) < 2**16
    _refused_quickly(path, r"declares \d{10} bytes uncompressed in a file of \d{4} bytes.* refusing to decompress it")


def test_valid_zip_that_expands_more_than_the_bound_is_refused(tmp_path):
    """A well-formed zip (right sizes, right CRC) of 16 MiB of zeros in ~16 KiB."""
    n_bytes = 2**24
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (n_bytes,)})
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header.getvalue()) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream, _ = _zeros_deflated(n_bytes)
    crc = zlib.crc32(header.getvalue())   # of the header, then the zeros
    block = bytes(2**20)
    for _ in range(n_bytes // len(block)):
        crc = zlib.crc32(block, crc)
    raw = _raw_zip([
        ("meta.json", _meta(), zipfile.ZIP_STORED, len(_meta()), zlib.crc32(_meta())),
        ("arrays/x.npy", head + stream, zipfile.ZIP_DEFLATED, len(header.getvalue()) + n_bytes, crc),
    ])
    path = tmp_path / "zeros.xent"
    path.write_bytes(raw)
    with zipfile.ZipFile(path) as zf:  # the control: it is a valid zip
        assert zf.testzip() is None
    _refused_quickly(path, "may expand to at most .* refusing to decompress it")


def test_many_entries_are_refused_from_the_end_record(tmp_path):
    """40,000 directory records (all pointing at one entry): refused before zipfile parses them."""
    entries = [("meta.json", _meta(), zipfile.ZIP_STORED, len(_meta()), zlib.crc32(_meta()))]
    directory = [(f"x{i}", 0) for i in range(40_000)]
    path = tmp_path / "many.xent"
    path.write_bytes(_raw_zip(entries, directory_entries=directory))
    _refused_quickly(path, f"declares 40000 zip entries .* at most {_format.MAX_ENTRIES} entries")


def test_end_record_understating_the_entries_is_still_bounded(tmp_path):
    entries = [("meta.json", _meta(), zipfile.ZIP_STORED, len(_meta()), zlib.crc32(_meta()))]
    directory = [(f"x{i}", 0) for i in range(40_000)]
    path = tmp_path / "lying.xent"
    path.write_bytes(_raw_zip(entries, directory_entries=directory, eocd_count=1))
    _refused_quickly(path, "declares 1 zip entries in a .*-byte directory")
    # A directory under the byte cap but with more records than MAX_ENTRIES.
    small = [(f"{i}", 0) for i in range(_format.MAX_ENTRIES + 1)]
    path.write_bytes(_raw_zip(entries, directory_entries=small, eocd_count=1))
    _refused_quickly(path, f"holds {_format.MAX_ENTRIES + 1} zip entries")


def test_duplicate_names_among_many_entries_are_found(tmp_path):
    entries = [("meta.json", _meta(), zipfile.ZIP_STORED, len(_meta()), zlib.crc32(_meta()))]
    directory = [("meta.json", 0)] + [(f"x{i}", 0) for i in range(900)] + [("x450", 0)]
    path = tmp_path / "dup.xent"
    path.write_bytes(_raw_zip(entries, directory_entries=directory))
    _refused_quickly(path, "several entries named 'x450'")


def _meta_entry_path(tmp_path: Path, text: bytes, compression=zipfile.ZIP_STORED) -> Path:
    return _zip(tmp_path / "m.xent", {"meta.json": text}, compression)


def test_millions_of_json_containers_are_refused_before_parsing(tmp_path):
    """The issue's 20 million '{}' at a tenth of the size: json would build 2M dicts."""
    junk = b"[" + b",".join([b"{}"] * 2_000_000) + b"]"
    text = _meta()[:-1] + b', "junk": ' + junk + b"}"
    # Stored: the file is as large as the text, so only the container cap refuses it.
    _refused_quickly(_meta_entry_path(tmp_path, text),
                     f"holds more than {_format.MAX_META_CONTAINERS} JSON objects and arrays")
    # Deflated, the same text is also far beyond what its file size allows.
    _refused_quickly(_meta_entry_path(tmp_path, text, zipfile.ZIP_DEFLATED), "refusing to decompress it")


def test_millions_of_json_values_are_refused_before_parsing(tmp_path):
    junk = b"[" + b",".join([b"1.5"] * (_format.MAX_META_VALUES + 10)) + b"]"
    text = _meta()[:-1] + b', "junk": ' + junk + b"}"
    _refused_quickly(_meta_entry_path(tmp_path, text), f"holds more than {_format.MAX_META_VALUES} JSON values")


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_is_refused_before_parsing(tmp_path, opener):
    depth = 100_000
    closer = b"]" if opener == b"[" else b"}"
    text = _meta()[:-1] + b', "deep": ' + opener * depth + b"1" + closer * depth + b"}"
    _refused_quickly(_meta_entry_path(tmp_path, text), f"nests JSON more than {_format.MAX_META_DEPTH} levels")


def test_brackets_and_escapes_inside_strings_do_not_count(tmp_path):
    """Category names like '[0, 10)' and escaped quotes are text, not nesting."""
    strings = ["[" * 100, "{" * 100 + '\\"[[[', 'quote \\" [[[ \\\\', "\\\\\\\\", '"' * 3]
    meta = {"labels": strings * 50, "nested": [[["ok"]]]}
    write(tmp_path / "m", {}, meta)
    assert read(tmp_path / "m")[1]["labels"] == strings * 50
    assert _format._json_size_problem(json.dumps({"s": "[" * 1000}).encode()) is None
    assert "levels deep" in _format._json_size_problem(b'{"s": "]\\\\"' + b"[" * 100 + b"]" * 100 + b"}")


def test_json_integer_too_long_to_convert_is_a_model_file_error(tmp_path):
    text = _meta()[:-1] + b', "n": 1' + b"0" * 6000 + b"}"
    _refused_quickly(_meta_entry_path(tmp_path, text), "meta.json is not valid UTF-8 JSON")


def _npy_with_header(header: bytes, data: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    length = struct.pack("<H" if version == (1, 0) else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + length + header + data


@pytest.mark.parametrize(
    "header, data, pattern",
    [
        # literal_eval would recurse once per minus sign (RecursionError).
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (" + b"-" * 3000 + b"1,), }\n", b"",
         "has a .npy header that NumPy does not write"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': " + b"(" * 100 + b")" * 100 + b", }\n", b"",
         "has a .npy header that NumPy does not write"),
        (b" " * 5000 + b"\n", b"", "has a 5001-byte .npy header"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (-1, -8), }\n", bytes(64),
         "has a .npy header that NumPy does not write"),  # no minus sign in a shape
        (b"{'descr': '|S0', 'fortran_order': False, 'shape': (1000000000000,), }\n", b"",
         "declares dtype |S0, which model files never hold"),
        (b"{'descr': '|V8', 'fortran_order': False, 'shape': (1,), }\n", bytes(8),
         "declares dtype |V8, which model files never hold"),
        (b"{'descr': ('<f8', (1000, 1000)), 'fortran_order': False, 'shape': (1,), }\n", bytes(8),
         "never hold"),
        (b"{'descr': '<f8', 'fortran_order': 2, 'shape': (1,), }\n", bytes(8), "fortran_order 2, which is not"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (True,), }\n", bytes(8), "not a tuple of integers"),
        (b"{'descr': 'abc', 'fortran_order': False, 'shape': (1,), }\n", bytes(8), "NumPy cannot read"),
        (b"[1, 2]\n", b"", "without exactly the keys"),
        # NumPy's own reader retries such a header through tokenize (TokenError).
        (b"{", b"", "unreadable .npy header"),
    ],
)
def test_hostile_npy_headers_are_refused(tmp_path, header, data, pattern):
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": _npy_with_header(header, data)})
    _refused_quickly(path, pattern)


def test_npy_header_length_of_four_gigabytes_is_refused(tmp_path):
    npy = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b"{"
    path = _zip(tmp_path / "m", {"meta.json": _meta(), "arrays/x.npy": npy})
    _refused_quickly(path, "has a 4294967295-byte .npy header")


def test_check_sees_headers_before_any_array_data_is_read(tmp_path, monkeypatch):
    write(tmp_path / "m", {"W0": np.ones((3, 2), np.float32), "c": np.array(["a", "bb"])}, {"k": 1})
    seen = {}

    def refuse(meta, headers):
        seen.update(headers)
        raise ModelFileError("refused by check")

    def no_data(*args, **kwargs):
        raise AssertionError("array data read before check")

    monkeypatch.setattr(np.lib.format, "read_array", no_data)
    with pytest.raises(ModelFileError, match="refused by check"):
        read(tmp_path / "m", check=refuse)
    assert seen == {
        "W0": _format.ArrayHeader((3, 2), np.dtype(np.float32), False),
        "c": _format.ArrayHeader((2,), np.dtype("<U2"), False),
    }


# ---------------------------------------------------------------- what write guarantees read accepts


def test_very_compressible_arrays_are_stored_uncompressed(tmp_path):
    """Deflate shrinks zeros ~1000-fold, beyond what read lets a file expand."""
    zeros = np.zeros(2**20)
    write(tmp_path / "m", {"W0": zeros}, {})
    assert os.path.getsize(tmp_path / "m") > zeros.nbytes
    with zipfile.ZipFile(tmp_path / "m") as zf:
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_STORED}
    _assert_identical(read(tmp_path / "m")[0]["W0"], zeros)
    # Within the bound, deflate stays.
    write(tmp_path / "small", {"W0": np.zeros(10_000)}, {})
    assert os.path.getsize(tmp_path / "small") < 10_000


@pytest.mark.parametrize(
    "limit, meta, pattern",
    [
        ("MAX_META_CONTAINERS", {"h": [{}] * 100}, "more than 50 JSON objects and arrays"),
        ("MAX_META_VALUES", {"h": [0] * 100}, "more than 50 JSON values"),
        ("MAX_META_DEPTH", {"h": functools.reduce(lambda inner, _: [inner], range(60), 0)},
         "more than 50 levels deep"),
        ("MAX_META_BYTES", {"h": "x" * 100}, "bytes, more than the 50 allowed"),
    ],
)
def test_write_refuses_meta_that_read_would_refuse(tmp_path, monkeypatch, limit, meta, pattern):
    monkeypatch.setattr(_format, limit, 50)
    with pytest.raises(XentlearnInputError, match=pattern):
        write(tmp_path / "m", {}, meta)
    assert os.listdir(tmp_path) == []


def test_write_refuses_more_arrays_than_entries_allowed(tmp_path):
    arrays = {f"a{i}": np.zeros(1) for i in range(_format.MAX_ENTRIES)}
    with pytest.raises(XentlearnInputError, match="more than a model file holds"):
        write(tmp_path / "m", arrays, {})


# ---------------------------------------------------------------- stale temporaries


def _temporary_name(target: str, random_part: str = "k3x_9a0b") -> str:
    return f".{target}.{random_part}.tmp"


def test_next_write_removes_temporaries_of_killed_writes(tmp_path):
    """SIGKILL between writing the temporary and renaming it, as a crashed save would."""
    import subprocess
    import sys

    path = tmp_path / "model.xent"
    script = (
        "import os, signal, numpy as np\n"
        "from xentlearn.io import write\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"write({str(path)!r}, {{'W0': np.arange(1000.0)}}, {{}})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr
    leftovers = _other_files(tmp_path, "model.xent")
    assert len(leftovers) == 1 and re.fullmatch(r"\.model\.xent\.[a-z0-9_]{8}\.tmp", leftovers[0])
    assert zipfile.is_zipfile(tmp_path / leftovers[0]), "killed after the temporary was complete"

    write(path, {"W0": np.ones(3)}, {})
    assert os.listdir(tmp_path) == ["model.xent"]


def test_cleanup_removes_only_regular_files_of_our_pattern(tmp_path):
    target = "model.xent"
    stale = [_temporary_name(target, r) for r in ("abcdefgh", "0123_xyz", "zzzzzzzz")]
    for name in stale:
        (tmp_path / name).write_bytes(b"partial zip")
    outside = tmp_path / "outside"
    outside.write_bytes(b"not ours")
    kept = {
        _temporary_name(target, "abcdefg"): "file",      # 7 random characters
        _temporary_name(target, "ABCDEFGH"): "file",     # not tempfile's alphabet
        _temporary_name("other.xent"): "file",           # another target
        _temporary_name(target) + ".keep": "file",
        "model.xent.abcdefgh.tmp": "file",               # not hidden
        _temporary_name(target, "dirdirdi"): "dir",
        _temporary_name(target, "linklink"): "link",
    }
    for name, kind in kept.items():
        if kind == "file":
            (tmp_path / name).write_bytes(b"someone else's")
        elif kind == "dir":
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).symlink_to(outside)

    write(tmp_path / target, {"x": np.ones(2)}, {})
    assert sorted(os.listdir(tmp_path)) == sorted([target, "outside", *kept])
    assert outside.read_bytes() == b"not ours"


@pytest.mark.skipif(not hasattr(_format, "fcntl") or _format.fcntl is None, reason="flock is POSIX")
def test_cleanup_spares_a_temporary_a_live_writer_holds(tmp_path):
    import fcntl

    live = tmp_path / _temporary_name("model.xent")
    with open(live, "wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # what a writer in progress holds
        write(tmp_path / "model.xent", {"x": np.ones(2)}, {})
        assert live.exists()
    write(tmp_path / "model.xent", {"x": np.ones(2)}, {})
    assert not live.exists()


def test_write_holds_a_lock_on_its_temporary_while_writing(tmp_path, monkeypatch):
    """A concurrent write's clean-up must not delete a temporary being written."""
    real = np.lib.format.write_array
    other_target = tmp_path / "model.xent"
    survived = []

    def write_array_then_cleanup(*args, **kwargs):
        real(*args, **kwargs)
        if not survived:
            temporaries = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
            _format._remove_stale_temporaries(str(tmp_path), "model.xent")
            survived.append(all((tmp_path / n).exists() for n in temporaries) and len(temporaries) == 1)

    monkeypatch.setattr(np.lib.format, "write_array", write_array_then_cleanup)
    write(other_target, {"x": np.ones(2)}, {})
    assert survived == [True]
    assert os.listdir(tmp_path) == ["model.xent"]


def test_writing_to_a_folder_or_into_a_missing_folder_names_the_path(tmp_path):
    """The error named the temporary written first ('.savedir.x1y2z3.tmp' -> 'savedir');
    nothing is left behind."""
    with pytest.raises(IsADirectoryError, match=rf"Is a directory .*: '{re.escape(str(tmp_path))}'$"):
        write(tmp_path, {"W0": np.eye(2)}, {})
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError,
                       match=rf"No such folder to write the file in: '{re.escape(str(missing))}'$"):
        write(missing / "m.xent", {"W0": np.eye(2)}, {})
    assert list(tmp_path.iterdir()) == []
