"""The xentlearn model file: one zip of ``.npy`` arrays and a ``meta.json``.

Layout of a file written by :func:`write`::

    meta.json           {"format": "xentlearn-model", "format_version": 1, ...caller's meta}
    arrays/<name>.npy   one entry per array, NumPy's .npy format, never pickled

Why this layout: a zip of ``.npy`` members is what ``np.savez`` writes, so any
NumPy or zip tool can inspect a model, while JSON holds the small structured
facts (hyperparameters, class labels, versions) that arrays describe badly.

Loading can never run code. Every array goes through
``np.lib.format.read_array(..., allow_pickle=False)`` after its header has been
checked, so a member holding a pickled object array is refused before a single
byte of the pickle is read, and ``meta.json`` is parsed by ``json`` only.

Compatibility rules, read by :func:`read`:

- ``format_version`` newer than :data:`FORMAT_VERSION` is refused with a
  message asking to upgrade; older or equal versions are read.
- Entries outside ``arrays/`` other than ``meta.json`` are ignored. A later
  writer may add optional members (a README, a plot) without bumping the
  version; nothing ignored is ever parsed, so ignoring is safe. Anything a
  reader must understand comes with a version bump instead.
- Every entry inside ``arrays/`` must be a well-named ``.npy`` member; anything
  else there is refused, since a silently skipped parameter array would give a
  model that loads but predicts wrongly.

This module knows nothing of estimators: ``estimators/_persistence.py`` maps an
estimator to ``(arrays, meta)`` and back.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from xentlearn.exceptions import ModelFileError, XentlearnInputError

FORMAT_NAME = "xentlearn-model"
FORMAT_VERSION = 1

META_ENTRY = "meta.json"
ARRAYS_DIR = "arrays/"
NPY_SUFFIX = ".npy"

# Light zip-bomb guard: a model far larger than any this library trains is
# refused before anything is decompressed. The sizes come from the zip's own
# directory, so a lying directory is caught later by the header/size check
# and by zipfile's CRC and length checks.
MAX_TOTAL_BYTES = 16 * 2**30
MAX_META_BYTES = 64 * 2**20

# Names become zip member names; keeping them to one path component of plain
# characters rules out traversal ("../"), hidden files and case-folding surprises
# in tools that unpack the zip.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

# .npy dtypes that round-trip without pickle. Object ("O") would need pickle;
# structured/void ("V") could hide object fields and needs .npy version 3.0
# for non-latin field names, and no model needs it.
_ALLOWED_KINDS = frozenset("biufcUSmM")

# Deflate level 1: float parameters barely compress at any level, so a higher
# level only costs time; level 1 still shrinks the zero-heavy arrays L1 leaves.
_COMPRESSION = zipfile.ZIP_DEFLATED
_COMPRESS_LEVEL = 1

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def write(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write arrays and JSON metadata to one model file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its directory must exist. An existing file is
        replaced only once the new one is complete and flushed to disk.
    arrays : mapping of str to ndarray
        Arrays to store, each as ``arrays/<name>.npy``. Names match
        ``[A-Za-z0-9_][A-Za-z0-9_.-]*``. Any shape (0-d and empty included),
        C or Fortran order, dtype bool, int, uint, float, complex, bytes
        (``S``), unicode (``U``), datetime64 or timedelta64. Array-likes go
        through ``np.asarray``. Object and structured dtypes are refused.
    meta : mapping of str to JSON-serialisable values
        Stored in ``meta.json`` next to ``"format"`` and ``"format_version"``,
        which are reserved keys. NumPy scalars become Python scalars and NumPy
        arrays become nested lists; tuples become lists (JSON has no tuples).
        Dict keys must be ``str`` (JSON would silently stringify others).
        Non-finite floats are written as ``NaN``/``Infinity``, which
        Python's ``json`` reads back.

    Raises
    ------
    XentlearnInputError
        If a name, array or meta value cannot be stored; nothing is written.
    OSError
        If the file cannot be written; an existing file at `path` is left
        untouched and no temporary file remains.

    Notes
    -----
    The file is first written to a temporary file in the destination
    directory, flushed and ``fsync``-ed, then moved onto `path` with
    ``os.replace``, which is atomic on POSIX and Windows within one file
    system. A crash therefore leaves either the old file or the new one,
    never a mixture. The new file gets the permissions of the file it
    replaces, or ``0o666`` less the umask, as ``open`` would give.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from xentlearn.io import read, write
    >>> path = os.path.join(tempfile.mkdtemp(), "model.xent")
    >>> write(path, {"W0": np.eye(2)}, {"classes": ["a", "b"]})
    >>> arrays, meta = read(path)
    >>> arrays["W0"].tolist(), meta["classes"], meta["format_version"]
    ([[1.0, 0.0], [0.0, 1.0]], ['a', 'b'], 1)
    """
    path = os.fspath(path)
    prepared = _prepare_arrays(arrays)
    meta_bytes = _encode_meta(meta)

    directory = os.path.dirname(os.path.abspath(path))
    mode = _target_mode(path)
    tmp = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            with zipfile.ZipFile(tmp, "w", compression=_COMPRESSION, compresslevel=_COMPRESS_LEVEL) as zf:
                zf.writestr(META_ENTRY, meta_bytes)
                for name, array in prepared.items():
                    # zipfile must know up front whether an entry streamed with
                    # open("w") may pass 2 GiB; the .npy header adds < 64 KiB.
                    big = array.nbytes >= 2**31 - 2**17
                    with zf.open(ARRAYS_DIR + name + NPY_SUFFIX, "w", force_zip64=big) as entry:
                        np.lib.format.write_array(entry, array, allow_pickle=False)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    _fsync_directory(directory)


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model file written by :func:`write`, without ever unpickling.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    arrays : dict of str to ndarray
        Every ``arrays/<name>.npy`` member, bit-identical to what was written
        (dtype, shape, memory order), in the order they were written.
    meta : dict
        The parsed ``meta.json``: the caller's keys plus ``"format"`` and
        ``"format_version"`` (the version the file was written with, so a
        caller can migrate old files).

    Raises
    ------
    ModelFileError
        With a message naming `path` and the problem: missing or not a
        regular file; not a zip ("is not a xentlearn model file"); corrupt
        or truncated zip, CRC mismatch or inconsistent array header ("is
        corrupt or truncated"); no ``meta.json`` or another ``"format"``
        ("foreign file"); a newer ``format_version`` ("was written by a newer
        xentlearn"); an array member holding a pickled object ("contains a
        pickled object; refusing to load it"); an unexpected member under
        ``arrays/``; or sizes beyond :data:`MAX_TOTAL_BYTES`.
    """
    path = os.fspath(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise ModelFileError(f"model file '{path}' does not exist") from None
    except IsADirectoryError:
        raise ModelFileError(f"model file '{path}' is a directory, not a file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot open model file '{path}': {exc.strerror or exc}") from exc
    with file:
        head = file.read(4)
        if not head:
            raise ModelFileError(f"'{path}' is empty; it is not a xentlearn model file")
        if head not in _ZIP_MAGICS:
            raise ModelFileError(f"'{path}' is not a xentlearn model file (it is not a zip archive)")
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as zf:
                return _read_zip(zf, path)
        except ModelFileError:
            raise
        # zipfile and zlib report damage through many types; all of them mean
        # the bytes on disk are not the bytes that were written.
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            struct.error,
            ValueError,
            KeyError,
            OverflowError,
            NotImplementedError,
        ) as exc:
            raise ModelFileError(f"model file '{path}' is corrupt or truncated: {exc}") from exc


def _read_zip(zf: zipfile.ZipFile, path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    infos = zf.infolist()
    names = [info.filename for info in infos]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ModelFileError(
            f"model file '{path}' is corrupt or truncated: it holds several entries named {duplicates[0]!r}"
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise ModelFileError(
            f"model file '{path}' declares {total} bytes uncompressed, more than the "
            f"{MAX_TOTAL_BYTES} bytes a model file may hold; refusing to decompress it"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise ModelFileError(
                f"model file '{path}' has an encrypted entry {info.filename!r}; it is not a model file"
            )

    meta = _read_meta(zf, path)

    arrays: dict[str, np.ndarray] = {}
    for info in infos:
        if not info.filename.startswith(ARRAYS_DIR) or info.is_dir():
            continue
        stem = info.filename[len(ARRAYS_DIR) :]
        name = stem[: -len(NPY_SUFFIX)] if stem.endswith(NPY_SUFFIX) else ""
        if not _NAME_PATTERN.fullmatch(name):
            raise ModelFileError(
                f"model file '{path}' has an unexpected entry {info.filename!r}; entries under "
                f"{ARRAYS_DIR!r} must be named {ARRAYS_DIR}<name>{NPY_SUFFIX}"
            )
        arrays[name] = _read_npy(zf, info, path)
    return arrays, meta


def _read_meta(zf: zipfile.ZipFile, path: str) -> dict[str, Any]:
    try:
        info = zf.getinfo(META_ENTRY)
    except KeyError:
        raise ModelFileError(
            f"model file '{path}' has no {META_ENTRY}: foreign file, not written by xentlearn"
        ) from None
    if info.file_size > MAX_META_BYTES:
        raise ModelFileError(
            f"model file '{path}': {META_ENTRY} is {info.file_size} bytes, "
            f"more than the {MAX_META_BYTES} allowed"
        )
    raw = zf.read(info)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"model file '{path}': {META_ENTRY} is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(
            f"model file '{path}' is a foreign file: {META_ENTRY} has format {found!r}, "
            f"expected {FORMAT_NAME!r}"
        )
    version = meta.get("format_version")
    # bool is an int subclass; true/false is not a version.
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(
            f"model file '{path}' is corrupt: format_version is {version!r}, expected a positive integer"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file '{path}' was written by a newer xentlearn (format version {version}); "
            f"this version reads up to {FORMAT_VERSION}: upgrade xentlearn"
        )
    return meta


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> np.ndarray:
    entry = info.filename
    # First pass: the header only. It must not describe an object array (that
    # payload is a pickle) and must agree with the entry's size, so a forged
    # shape cannot make read_array allocate gigabytes before failing.
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ModelFileError(
                f"model file '{path}': entry {entry!r} uses .npy format version {version}, "
                "which xentlearn model files never contain"
            )
        header_bytes = fp.tell()
    if dtype.hasobject:
        raise ModelFileError(
            f"model file '{path}': entry {entry!r} contains a pickled object; refusing to load it"
        )
    expected = header_bytes + math.prod(shape) * dtype.itemsize
    if info.file_size != expected:
        raise ModelFileError(
            f"model file '{path}' is corrupt or truncated: entry {entry!r} declares shape {shape} "
            f"of {dtype} ({expected} bytes with its header) but holds {info.file_size} bytes"
        )
    with zf.open(info) as fp:
        try:
            array = np.lib.format.read_array(fp, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise ModelFileError(
                    f"model file '{path}': entry {entry!r} contains a pickled object; refusing to load it"
                ) from exc
            raise
        # zipfile compares the CRC once an entry is read to its end. read_array
        # stops at the last array byte, which (after the size check above) is
        # the end, and today's zipfile notices that; one more read makes the
        # check independent of how zipfile detects end of entry.
        if fp.read(1):
            raise ModelFileError(
                f"model file '{path}' is corrupt or truncated: entry {entry!r} has trailing bytes"
            )
    return array


def _prepare_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise XentlearnInputError(f"arrays must be a dict of name -> ndarray, got {type(arrays).__name__}")
    prepared: dict[str, np.ndarray] = {}
    total = 0
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
            raise XentlearnInputError(
                f"array name {name!r} is not allowed: use letters, digits, '_', '.' and '-', "
                "not starting with '.' or '-'"
            )
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise XentlearnInputError(
                f"array {name!r} has object dtype, which can only be stored by pickling; "
                "model files never hold pickles: convert it to a numeric or string dtype"
            )
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise XentlearnInputError(
                f"array {name!r} has dtype {array.dtype}, which model files do not store: "
                "use bool, int, uint, float, complex, bytes, str, datetime64 or timedelta64"
            )
        prepared[name] = array
        total += array.nbytes
    if total > MAX_TOTAL_BYTES:
        raise XentlearnInputError(
            f"arrays hold {total} bytes, more than the {MAX_TOTAL_BYTES} bytes a model file may hold"
        )
    return prepared


def _encode_meta(meta: Mapping[str, Any]) -> bytes:
    if not isinstance(meta, Mapping):
        raise XentlearnInputError(f"meta must be a dict, got {type(meta).__name__}")
    reserved = sorted({"format", "format_version"} & set(meta))
    if reserved:
        raise XentlearnInputError(f"meta key {reserved[0]!r} is reserved for the file format; rename it")
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **_to_json(meta, "meta")}
    return json.dumps(document, indent=1).encode("utf-8")


def _to_json(value: Any, where: str) -> Any:
    """Plain-JSON copy of `value`; `where` names the position for errors (meta['a'][0])."""
    # NumPy scalars first: np.float64 and np.str_ subclass float and str, and
    # .item() gives the plain Python value json writes without surprises.
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biufU":
            raise XentlearnInputError(f"{where} is a numpy {value.dtype} scalar, which JSON cannot hold")
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufU":
            raise XentlearnInputError(
                f"{where} is an ndarray of dtype {value.dtype}, which JSON cannot hold; "
                "store it in `arrays` instead"
            )
        return value.tolist()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise XentlearnInputError(
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON object keys must be "
                    "str (JSON would turn it into a string and the round trip would change it)"
                )
            out[key] = _to_json(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise XentlearnInputError(f"{where} is a {type(value).__name__}, which JSON cannot hold")


def _target_mode(path: str) -> int:
    """Permission bits for the new file: those of the file replaced, else 0o666 & ~umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o777
    return 0o666 & ~_umask()


def _umask() -> int:
    # Linux exposes the umask without changing it; the os.umask round trip
    # below briefly changes it, which races with threads creating files.
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open a
    # directory, and there the rename is already journaled.
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
