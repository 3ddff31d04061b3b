"""Model file format: exact round trips, atomic writes, and clear refusals.

Every damaged, foreign or hostile file must raise ModelFileError naming the
path and the problem; a pickle inside a file must never be unpickled.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import warnings
import zipfile
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
    _assert_model_error(path, "more than the 50000 bytes a model file may hold; refusing to decompress")


def test_model_file_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        read(tmp_path / "missing")
