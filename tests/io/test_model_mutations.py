"""Mutated model files: load returns the saved model or raises ModelFileError, fast and small.

Hypothesis takes valid files of a few fitted models and damages them three ways:
the metadata (a field replaced by a value of another type, a huge or negative
number, NaN, nested junk; a field deleted or added), an array's ``.npy`` header
(shape, dtype, Fortran flag, raw bytes) and the archive (entries dropped,
duplicated, renamed, swapped, reordered, recompressed; bytes cut, added or
flipped). Each mutated file is written as a valid zip (right CRCs), so what is
tested is load's own checking, not the zip checksum.

Whatever the mutation, ``xentlearn.load`` must raise ``ModelFileError`` or
return a model, within ``_SECONDS`` and allocating at most ``_PEAK_BYTES``
(tracemalloc); never another exception. A returned model must predict what
the saved one predicts. Some mutations make a well-formed file of *another*
model, which no format check can tell from the original (a mean of the
preprocessing changed, a 2-D array's bytes reinterpreted in Fortran order, two
arrays of one shape swapped): for those the returned model must still work
(finite probabilities, labels among its classes) instead of being equal.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.exceptions import ModelFileError

_SECONDS = 3.0   # per load; generous for a loaded machine (a load takes milliseconds)
_PEAK_BYTES = 8 * 2**20
def _settings(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


class Base(NamedTuple):
    """A saved model: its entries (name, uncompressed bytes), meta, and what it predicts."""

    entries: list[tuple[str, bytes]]
    meta: dict[str, Any]
    X: Any
    proba: np.ndarray
    labels: np.ndarray


def _entries(raw: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _zip_bytes(entries, compressions=None) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns about duplicate names, which we want
        with zipfile.ZipFile(buffer, "w") as zf:
            for i, (name, data) in enumerate(entries):
                method = zipfile.ZIP_DEFLATED if compressions is None else compressions[i]
                zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Base]:
    import pandas as pd
    from sklearn.datasets import make_classification

    from tests.cli import make_table, write_csv
    from xentlearn.data import TableFiles

    folder = tmp_path_factory.mktemp("bases")
    X, y = make_classification(n_samples=80, n_features=5, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    csv = write_csv(make_table(60, seed=0), folder / "table.csv")
    models = {
        "binary": (LogisticRegression(class_weight="balanced"), frame, (y > 0).astype(int)),
        "multiclass": (LogisticRegression(class_weight={"a": 2.0}), X,
                       np.array(["a", "b", "c"], dtype=object)[y]),
        "mlp": (MLPClassifier(hidden_layer_sizes=(4, 3), max_iter=5, random_state=0), X, y),
        "files": (LogisticRegression(max_iter=20), TableFiles(csv, target="species"), None),
    }
    out = {}
    for name, (est, data, target) in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(data, target)
        path = folder / f"{name}.xent"
        est.save(path)
        entries = _entries(path.read_bytes())
        meta = json.loads(dict(entries)["meta.json"])
        X_test = TableFiles(csv) if name == "files" else data
        out[name] = Base(entries, meta, X_test, est.predict_proba(X_test), est.predict(X_test))
    return out


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mutated") / "model.xent"


def _load_bounded(path: Path):
    """load(path) -> model or None (ModelFileError), checking time and traced memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        try:
            model = xentlearn.load(path)
        except ModelFileError as error:
            assert str(path) in str(error)
            model = None
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < _SECONDS, f"load took {elapsed:.2f} s"
    assert peak < _PEAK_BYTES, f"load allocated {peak} bytes"
    return model


def _check_outcome(model, base: Base, may_change: bool) -> None:
    if model is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # e.g. feature names dropped from a mutated file
        proba, labels = model.predict_proba(base.X), model.predict(base.X)
    if not may_change:
        np.testing.assert_array_equal(proba, base.proba)
        np.testing.assert_array_equal(labels, base.labels)
        return
    assert proba.shape == base.proba.shape and np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0) or model._task == "multilabel"
    assert np.isin(np.asarray(labels).ravel(), model.classes_).all() or model._task == "multilabel"


def _run(base: Base, target: Path, raw: bytes, may_change: bool) -> None:
    target.write_bytes(raw)
    _check_outcome(_load_bounded(target), base, may_change)


# ---------------------------------------------------------------- metadata

_JUNK_POOL = [
    None, True, False, 0, -1, 1, 2**63, 10**30, -(10**30), 10**400, 1e308, -1e308, 1e-320,
    math.nan, math.inf, -math.inf, 2e7, 15000, "", "x", "NaN", [], {}, [[[]]], [15000, 15000],
    {"a": [1, {"b": None}]}, [1, 2, 3], {"pairs": [[0, -1]]}, {"pairs": "x"},
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text("xyz0[]{}\"\\ é", max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=2), inner, max_size=3),
    max_leaves=8,
)
_JUNK = st.sampled_from(_JUNK_POOL) | _JSON


def _paths(value, prefix=()):
    """Every position in a JSON document, as a tuple of keys and indices."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):   # a few history records are enough
            yield from _paths(item, (*prefix, index))


def _mutate_meta(meta: dict, data) -> tuple[dict, bool]:
    meta = copy.deepcopy(meta)
    paths = [p for p in _paths(meta) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    operation = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="operation")
    if operation == "replace":
        parent[path[-1]] = data.draw(_JUNK, label="value")
    elif operation == "delete":
        del parent[path[-1]]
    else:
        container = parent[path[-1]]
        if isinstance(container, dict):
            container[data.draw(st.text("abcz_", min_size=1, max_size=4), label="key")] = data.draw(_JUNK)
        elif isinstance(container, list):
            container.append(data.draw(_JUNK, label="item"))
        else:
            parent[path[-1]] = [container, data.draw(_JUNK, label="item")]
    # The preprocessing's means, standard deviations, categories and flags are
    # free numbers and strings: changed, they describe another valid model.
    return meta, path[0] == "preprocessing"


@_settings(250)
@given(data=st.data())
def test_mutated_metadata(bases, target, data):
    name = data.draw(st.sampled_from(sorted(bases)), label="model")
    base = bases[name]
    meta, may_change = _mutate_meta(base.meta, data)
    text = json.dumps(meta, indent=1).encode()
    entries = [(entry, text if entry == "meta.json" else payload) for entry, payload in base.entries]
    _run(base, target, _zip_bytes(entries), may_change)


def test_metadata_junk_includes_what_json_cannot_convert(bases, target):
    """Explicit cases the strategy may miss: an integer of 400 digits, nesting at the limit."""
    from xentlearn import io as xio

    base = bases["binary"]
    deep = 0
    for _ in range(xio.MAX_META_DEPTH - 3):
        deep = [deep]
    for key, value in [("n_features_in", 10**400), ("history", deep), ("params", {"alpha": deep})]:
        meta = {**base.meta, key: value}
        entries = [(e, json.dumps(meta).encode() if e == "meta.json" else p) for e, p in base.entries]
        target.write_bytes(_zip_bytes(entries))
        assert _load_bounded(target) is None


# ---------------------------------------------------------------- .npy headers

_DESCRS = ["<f8", "<f4", ">f8", "<i8", "<u8", "|b1", "<c16", "<U3", "|S8", "<M8[D]", "|O", "|V8", "<f2", "<U1"]
_DIMS = st.integers(-2, 12) | st.sampled_from([2**31, 10**12, 2**63])


def _npy_parts(payload: bytes) -> tuple[dict, bytes, tuple[int, int]]:
    fp = io.BytesIO(payload)
    version = np.lib.format.read_magic(fp)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(fp)
    return ({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape},
            payload[fp.tell():], version)


def _npy_bytes(header_text: bytes, body: bytes, version=(1, 0)) -> bytes:
    length = len(header_text).to_bytes(2 if version == (1, 0) else 4, "little")
    return b"\x93NUMPY" + bytes(version) + length + header_text + body


def _header_text(fields: dict) -> bytes:
    text = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (
        fields["descr"], fields["fortran_order"], tuple(fields["shape"]))
    padding = 64 - (len(text) + 11) % 64
    return (text + " " * padding + "\n").encode("latin1")


def _mutate_header(payload: bytes, data) -> tuple[bytes, bool]:
    fields, body, version = _npy_parts(payload)
    operation = data.draw(st.sampled_from(["shape", "descr", "fortran", "text", "length", "magic"]),
                          label="operation")
    if operation == "shape":
        fields["shape"] = tuple(data.draw(st.lists(_DIMS, max_size=4), label="shape"))
    elif operation == "descr":
        fields["descr"] = data.draw(st.sampled_from(_DESCRS), label="descr")
    elif operation == "fortran":
        fields["fortran_order"] = not fields["fortran_order"]
    elif operation == "text":
        junk = data.draw(st.binary(max_size=80), label="header bytes")
        return _npy_bytes(junk, body, version), False
    elif operation == "length":
        header = _header_text(fields)
        length = data.draw(st.integers(0, 2**16 - 1), label="length")
        return b"\x93NUMPY\x01\x00" + length.to_bytes(2, "little") + header + body, False
    else:
        magic = data.draw(st.binary(min_size=8, max_size=8), label="magic")
        return magic + payload[8:], False
    # A new dtype of the same size, or the other memory order, reinterprets
    # valid bytes as other valid values.
    return _npy_bytes(_header_text(fields), body, version), operation in ("descr", "fortran")


@_settings(150)
@given(data=st.data())
def test_mutated_array_headers(bases, target, data):
    name = data.draw(st.sampled_from(sorted(bases)), label="model")
    base = bases[name]
    arrays = [i for i, (entry, _) in enumerate(base.entries) if entry.startswith("arrays/")]
    index = data.draw(st.sampled_from(arrays), label="entry")
    payload, may_change = _mutate_header(base.entries[index][1], data)
    entries = list(base.entries)
    entries[index] = (entries[index][0], payload)
    _run(base, target, _zip_bytes(entries), may_change)


# ---------------------------------------------------------------- archive layout

_NAMES = ["arrays/param.W9.npy", "arrays/extra.npy", "arrays/x.txt", "arrays/", "README.txt",
          "meta.json", "arrays/../meta.json", "arrays/param.b0.npy", "arrays/classes.npy"]


def _mutate_layout(base: Base, data) -> tuple[bytes, bool]:
    entries = list(base.entries)
    compressions = [zipfile.ZIP_DEFLATED] * len(entries)
    n = len(entries)
    operation = data.draw(st.sampled_from(
        ["drop", "duplicate", "rename", "swap", "reorder", "store", "extra", "cut", "append",
         "prepend", "flip"]), label="operation")
    index = data.draw(st.integers(0, n - 1), label="entry")
    may_change = False
    if operation == "drop":
        del entries[index], compressions[index]
    elif operation == "duplicate":
        entries.append(entries[index])
        compressions.append(zipfile.ZIP_DEFLATED)
    elif operation == "rename":
        entries[index] = (data.draw(st.sampled_from(_NAMES), label="name"), entries[index][1])
    elif operation == "swap":
        other = data.draw(st.integers(0, n - 1), label="other")
        (a, payload_a), (b, payload_b) = entries[index], entries[other]
        entries[index], entries[other] = (a, payload_b), (b, payload_a)
        may_change = True   # two arrays of one shape and dtype trade values
    elif operation == "reorder":
        entries = data.draw(st.permutations(entries), label="order")
    elif operation == "store":
        compressions[index] = zipfile.ZIP_STORED
    elif operation == "extra":
        entries.append((data.draw(st.sampled_from(_NAMES), label="name"),
                        data.draw(st.binary(max_size=64), label="payload")))
        compressions.append(zipfile.ZIP_DEFLATED)
    raw = _zip_bytes(entries, compressions)
    if operation == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="cut at")]
    elif operation == "append":
        raw += data.draw(st.binary(min_size=1, max_size=64), label="tail")
    elif operation == "prepend":
        raw = data.draw(st.binary(min_size=1, max_size=64), label="head") + raw
    elif operation == "flip":
        position = data.draw(st.integers(0, len(raw) - 1), label="position")
        raw = raw[:position] + bytes([raw[position] ^ data.draw(st.integers(1, 255))]) + raw[position + 1:]
    return raw, may_change


@_settings(150)
@given(data=st.data())
def test_mutated_archive_layout(bases, target, data):
    name = data.draw(st.sampled_from(sorted(bases)), label="model")
    base = bases[name]
    raw, may_change = _mutate_layout(base, data)
    _run(base, target, raw, may_change)


def test_unmutated_files_load_equal(bases, target):
    """The control: each base file, rezipped as the mutations rezip it, loads and predicts equal."""
    for base in bases.values():
        target.write_bytes(_zip_bytes(base.entries))
        model = _load_bounded(target)
        assert model is not None
        _check_outcome(model, base, may_change=False)
