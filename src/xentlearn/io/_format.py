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

Loading is bounded: :func:`read` decides from the zip's directory, the file's
size and the ``.npy`` headers alone whether a file is acceptable, before it
decompresses any array data. What it then decompresses is at most
``MAX_EXPANSION * file_size + EXPANSION_SLACK`` bytes, each byte once, into
arrays of exactly the checked sizes, and parsing ``meta.json`` is bounded by
the caps below; no quadratic pass runs over anything in the file. The rules
(``write`` keeps to them, so every file it produces is one ``read`` accepts):

- the path is a regular file; a FIFO, device, socket or directory is refused
  without being opened for reading (a FIFO would block);
- at most :data:`MAX_ENTRIES` zip entries and :data:`MAX_DIRECTORY_BYTES` of
  zip directory;
- the entries' declared uncompressed sizes sum to at most
  ``MAX_EXPANSION * file_size + EXPANSION_SLACK`` bytes (and at most
  :data:`MAX_TOTAL_BYTES`): deflate can expand 1000-fold, so a small file
  declaring gigabytes is refused before anything is decompressed. ``write``
  stores the entries uncompressed in the rare file that deflate shrinks more
  than that (an all-zero weight matrix), since a stored entry never expands;
- each ``.npy`` header is at most :data:`MAX_NPY_HEADER_BYTES` of plain
  characters, declares a non-negative shape and a dtype of a known kind, and
  header plus ``prod(shape) * itemsize`` equals the entry's size exactly;
- ``meta.json`` is at most :data:`MAX_META_BYTES` of UTF-8 JSON holding at most
  :data:`MAX_META_VALUES` values, of which at most :data:`MAX_META_CONTAINERS`
  are objects or arrays, nested at most :data:`MAX_META_DEPTH` deep; a scan of
  the bytes checks this before ``json`` parses them, so parsing is bounded too
  (a Python dict costs ~64 bytes, so containers are capped separately).

A caller that knows what the arrays must be (``estimators/_persistence.py``)
passes ``check`` to :func:`read`: it sees the metadata and every array header
before any array data is read.

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

Temporary files: :func:`write` writes ``.<name>.<8 random characters>.tmp``
next to the destination and renames it over the destination. A process killed
mid-write leaves that temporary behind; the next successful write of the same
path removes such leftovers (regular files of exactly that name pattern, and
only those no live writer holds: each writer keeps an exclusive ``flock`` on
its temporary, which the kernel releases when the process dies; on a file
system without locks, leftovers are kept rather than risk a live one).

This module knows nothing of estimators: ``estimators/_persistence.py`` maps an
estimator to ``(arrays, meta)`` and back.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from xentlearn.exceptions import ModelFileError, XentlearnInputError

try:  # POSIX; on Windows an open file cannot be deleted, which protects live temporaries
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None

FORMAT_NAME = "xentlearn-model"
FORMAT_VERSION = 1

META_ENTRY = "meta.json"
ARRAYS_DIR = "arrays/"
NPY_SUFFIX = ".npy"

# Decompression bound (see the module docstring): declared uncompressed bytes
# <= MAX_EXPANSION * file size + EXPANSION_SLACK. Float parameters barely
# compress and JSON about 4-fold, so 16 leaves room for sparse (L1) weights;
# the slack lets a tiny file hold a small all-zero array.
MAX_EXPANSION = 16
EXPANSION_SLACK = 2**20
# An absolute ceiling as well: a model far larger than any this library trains.
MAX_TOTAL_BYTES = 16 * 2**30
# A model holds a handful of arrays (a deep MLP and its optimizer state, a few
# hundred); capping the directory keeps zipfile's parse of it small.
MAX_ENTRIES = 1024
MAX_DIRECTORY_BYTES = 256 * MAX_ENTRIES
# .npy headers written by NumPy are ~128 bytes; 64 dimensions fit in 4 KiB.
MAX_NPY_HEADER_BYTES = 4096
# meta.json: hyperparameters, classes, preprocessing and the training history
# (~150 bytes and 7 values per epoch, so ~50,000 epochs fit).
MAX_META_BYTES = 8 * 2**20
MAX_META_VALUES = 2**20
MAX_META_CONTAINERS = 2**18
MAX_META_DEPTH = 64

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

# Opening never waits on a FIFO nor adopts a terminal (absent on Windows).
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)

# The characters of a .npy header NumPy writes: a dict literal of strings,
# booleans and a tuple of integers. Without operators ("-", "+", "~", ...) the
# only nesting ast.literal_eval can meet is brackets, which are counted, so a
# hostile header cannot make the parser recurse deeply.
_NPY_HEADER_CHARS = re.compile(rb"[A-Za-z0-9_ '\"<>|=:,.(){}\[\]\n]*")
_NPY_HEADER_MAX_BRACKETS = 32
_NPY_MAGIC = b"\x93NUMPY"

# Temporaries: ".<name>." + 8 characters of tempfile's alphabet + ".tmp". Earlier
# versions named them through tempfile.NamedTemporaryFile, which gives the same form.
_TMP_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TMP_RANDOM = 8
_TMP_SUFFIX = ".tmp"

# Zip end records (APPNOTE 4.3.16, 4.3.15, 4.3.14), read as zipfile reads them.
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_EOCD_MAGIC, _EOCD64_LOCATOR_MAGIC, _EOCD64_MAGIC = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"


class MetadataTooLargeError(XentlearnInputError):
    """``meta`` given to :func:`write` is beyond the limits :func:`read` enforces."""


class ArrayHeader(NamedTuple):
    """What an ``arrays/<name>.npy`` entry declares, read without its data.

    shape : tuple of int
    dtype : numpy.dtype
    fortran_order : bool
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool


def write(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
          *, compress: bool = True) -> None:
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
    compress : bool, default True
        Deflate the entries (level 1: float parameters barely shrink, the
        zeros an L1 penalty leaves do). False stores them as they are: for
        files written again and again (checkpoints, at every epoch end), where
        deflating costs several times the rest of the write and saves little.

    Raises
    ------
    XentlearnInputError
        If a name, array or meta value cannot be stored, or the file would
        break a limit :func:`read` enforces (more than :data:`MAX_ENTRIES`
        arrays; a ``meta.json`` over :data:`MAX_META_BYTES`, values, containers
        or depth, as the subclass :class:`MetadataTooLargeError`); nothing is
        written.
    OSError
        If the file cannot be written; an existing file at `path` is left
        untouched and no temporary file remains.

    Notes
    -----
    The file is first written to a temporary file ``.<name>.<random>.tmp`` in
    the destination directory, flushed and ``fsync``-ed, then moved onto
    `path` with ``os.replace``, which is atomic on POSIX and Windows within
    one file system. A crash therefore leaves either the old file or the new
    one, never a mixture. The new file gets the permissions of the file it
    replaces, or ``0o666`` less the umask, as ``open`` would give.

    A process killed during a write (SIGKILL, power loss) cannot remove its
    temporary; the next successful write of the same `path` removes every
    leftover of that exact name pattern that is a regular file and that no
    live writer holds (writers keep an exclusive ``flock`` on their
    temporary; on Windows an open file cannot be deleted). Other files are
    never touched.

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
    basename = os.path.basename(path)
    # Checked here so that the error names `path`, not the temporary written first.
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory (give a file name in it, such "
                                "as model.xent)", path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "No such folder to write the file in", directory)
    mode = _target_mode(path)
    fd, tmp_name = _create_temporary(directory, basename)
    try:
        with open(fd, "w+b") as file:
            declared = _write_zip(file, prepared, meta_bytes,
                                  _COMPRESSION if compress else zipfile.ZIP_STORED)
            if compress and declared > _expansion_limit(os.fstat(file.fileno()).st_size):
                # Deflate shrank the arrays more than read() lets a file expand
                # (all-zero weights): stored entries cannot expand at all.
                file.seek(0)
                file.truncate()
                _write_zip(file, prepared, meta_bytes, zipfile.ZIP_STORED)
            file.flush()
            os.fsync(file.fileno())
            os.chmod(tmp_name, mode)
            if os.name == "posix":
                # Renamed while still locked, so another writer's clean-up never
                # sees this temporary unlocked. Windows cannot rename an open file.
                os.replace(tmp_name, path)
        if os.name != "posix":
            os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)
    _remove_stale_temporaries(directory, basename)


def read(
    path: str | os.PathLike,
    *,
    check: Callable[[dict[str, Any], dict[str, ArrayHeader]], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model file written by :func:`write`, without ever unpickling.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    check : callable ``check(meta, headers)``, optional
        Called once the metadata is parsed and every array header read, before
        any array data is decompressed: `meta` is the parsed ``meta.json``,
        `headers` maps each array name to its :class:`ArrayHeader`. It raises
        ``ModelFileError`` to refuse the file, so a caller that knows what the
        arrays must be refuses a wrong file without reading its arrays.

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
        With a message naming `path` and the problem: missing, or not a
        regular file ("is not a regular file", "is a directory"); not a zip
        ("is not a xentlearn model file"); corrupt or truncated zip, CRC
        mismatch or inconsistent array header ("is corrupt or truncated");
        more entries, uncompressed bytes or ``meta.json`` values than the
        limits in the module docstring ("refusing to decompress it"); no
        ``meta.json`` or another ``"format"`` ("foreign file"); a newer
        ``format_version`` ("was written by a newer xentlearn"); an array
        member holding a pickled object ("contains a pickled object; refusing
        to load it"); an unexpected member under ``arrays/``; or whatever
        `check` refuses. Never another exception type.
    """
    path = os.fspath(path)
    with _open_regular_file(path) as file:
        size = os.fstat(file.fileno()).st_size
        head = file.read(4)
        if not head:
            raise ModelFileError(f"'{path}' is empty; it is not a xentlearn model file")
        if head not in _ZIP_MAGICS:
            raise ModelFileError(f"'{path}' is not a xentlearn model file (it is not a zip archive)")
        try:
            _check_directory_size(file, size, path)
            file.seek(0)
            with zipfile.ZipFile(file) as zf:
                return _read_zip(zf, size, path, check)
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
            OSError,
        ) as exc:
            raise ModelFileError(f"model file '{path}' is corrupt or truncated: {exc}") from exc


# ---------------------------------------------------------------- reading


def _open_regular_file(path: str):
    """The file at `path` opened for binary reading, or ModelFileError if it is not a regular file."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"model file '{path}' does not exist") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ModelFileError(f"cannot open model file '{path}': {reason}") from None
    _require_regular(status, path)
    # O_NONBLOCK: should `path` become a FIFO between the stat above and this
    # open, the open returns at once instead of waiting for a writer.
    flags = os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ModelFileError(f"model file '{path}' does not exist") from None
    except OSError as exc:
        raise ModelFileError(f"cannot open model file '{path}': {exc.strerror or exc}") from None
    try:
        _require_regular(os.fstat(fd), path)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_regular(status: os.stat_result, path: str) -> None:
    mode = status.st_mode
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"model file '{path}' is a directory, not a file")
    kind = (
        "a FIFO" if stat.S_ISFIFO(mode)
        else "a character device" if stat.S_ISCHR(mode)
        else "a block device" if stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "not a file"
    )
    raise ModelFileError(f"model file '{path}' is not a regular file (it is {kind}); refusing to read it")


def _expansion_limit(file_size: int) -> int:
    """The most uncompressed bytes a file of `file_size` bytes may declare."""
    return min(MAX_EXPANSION * file_size + EXPANSION_SLACK, MAX_TOTAL_BYTES)


def _check_directory_size(file, size: int, path: str) -> None:
    """Refuse a zip whose end record declares too many entries or too large a directory.

    The end records are located exactly as zipfile locates them, so the
    numbers checked are the ones zipfile then trusts. A file without end
    record is left to zipfile, which calls it corrupt.
    """
    declared = _declared_directory(file, size)
    if declared is None:
        return
    entries, directory_bytes = declared
    if entries > MAX_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
        raise ModelFileError(
            f"model file '{path}' declares {entries} zip entries in a {directory_bytes}-byte "
            f"directory; a model file has at most {MAX_ENTRIES} entries and "
            f"{MAX_DIRECTORY_BYTES} directory bytes: refusing to read it"
        )


def _declared_directory(file, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the zip end records, as zipfile reads them."""
    if size < _EOCD.size:
        return None
    file.seek(size - _EOCD.size)
    tail = file.read(_EOCD.size)
    if tail[:4] == _EOCD_MAGIC and tail[-2:] == b"\x00\x00":
        start = size - _EOCD.size
    else:
        # An archive comment (up to 64 KiB) follows the end record.
        first = max(size - 2**16 - _EOCD.size, 0)
        file.seek(first)
        tail = file.read(size - first)
        found = tail.rfind(_EOCD_MAGIC)
        if found < 0 or found + _EOCD.size > len(tail):
            return None
        start = first + found
        tail = tail[found : found + _EOCD.size]
    record = _EOCD.unpack(tail)
    entries, directory_bytes = record[4], record[5]
    # zip64: a locator right before the end record points to a zip64 end record
    # right before it, whose counts replace the 16/32-bit ones.
    if start >= _EOCD64_LOCATOR.size + _EOCD64.size:
        file.seek(start - _EOCD64_LOCATOR.size - _EOCD64.size)
        block = file.read(_EOCD64.size + _EOCD64_LOCATOR.size)
        if (
            block[_EOCD64.size : _EOCD64.size + 4] == _EOCD64_LOCATOR_MAGIC
            and block[:4] == _EOCD64_MAGIC
        ):
            record64 = _EOCD64.unpack(block[: _EOCD64.size])
            entries, directory_bytes = record64[7], record64[8]
    return entries, directory_bytes


def _read_zip(
    zf: zipfile.ZipFile, size: int, path: str, check
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        # The end record understated the count; the directory-size cap bounded the parse.
        raise ModelFileError(
            f"model file '{path}' holds {len(infos)} zip entries; a model file has at most "
            f"{MAX_ENTRIES}: refusing to read it"
        )
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise ModelFileError(
                f"model file '{path}' is corrupt or truncated: it holds several entries named "
                f"{info.filename!r}"
            )
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise ModelFileError(
                f"model file '{path}' has an encrypted entry {info.filename!r}; it is not a model file"
            )
    total = sum(info.file_size for info in infos)
    limit = _expansion_limit(size)
    if total > limit:
        raise ModelFileError(
            f"model file '{path}' declares {total} bytes uncompressed in a file of {size} bytes; "
            f"a model file of that size may expand to at most {limit} bytes ({MAX_EXPANSION} x its "
            f"size + {EXPANSION_SLACK}, and never more than {MAX_TOTAL_BYTES}): refusing to "
            "decompress it"
        )

    meta = _read_meta(zf, path)

    entries: dict[str, zipfile.ZipInfo] = {}
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
        entries[name] = info
    headers = {name: _read_npy_header(zf, info, path) for name, info in entries.items()}
    if check is not None:
        check(meta, headers)
    arrays = {name: _read_npy(zf, info, headers[name], path) for name, info in entries.items()}
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
            f"more than the {MAX_META_BYTES} allowed; refusing to decompress it"
        )
    raw = zf.read(info)
    problem = _json_size_problem(raw)
    if problem:
        raise ModelFileError(f"model file '{path}': {META_ENTRY} {problem}; refusing to parse it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"model file '{path}': {META_ENTRY} is not valid UTF-8 JSON ({exc})") from None
    del raw
    try:
        meta = json.loads(text)
    # JSONDecodeError, and ValueError for an integer of more digits than
    # Python converts (sys.get_int_max_str_digits).
    except ValueError as exc:
        raise ModelFileError(f"model file '{path}': {META_ENTRY} is not valid UTF-8 JSON ({exc})") from None
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


def _json_size_problem(raw: bytes) -> str | None:
    """Why the JSON text `raw` is too large to parse, or None.

    Counts, outside strings, the containers ("[" and "{"), the values (at most
    one more than the commas and containers) and the nesting depth, without
    parsing. Escapes first: a backslash always pairs with the next character,
    so deleting "\\\\" pairs and then '\\"' pairs leaves only the quotes that
    open and close strings; a character is inside a string when an odd number
    of quotes precede it. On valid JSON the counts are exact. On invalid JSON
    they agree with ``json`` up to the first error, which is where ``json``
    stops, so they still bound what ``json.loads`` builds before it fails.
    """
    if len(raw) > MAX_META_BYTES:
        return f"is {len(raw)} bytes, more than the {MAX_META_BYTES} allowed"
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    containers = values = depth = max_depth = 0
    inside = False
    chunk_bytes = 2**20  # bounds the scan's temporaries to a few MiB
    for start in range(0, len(text), chunk_bytes):
        chars = np.frombuffer(text, np.uint8, count=min(chunk_bytes, len(text) - start), offset=start)
        quoted = np.logical_xor.accumulate(chars == ord('"'))
        if inside:
            quoted = ~quoted
        inside = bool(quoted[-1])
        outside = ~quoted
        opens = ((chars == ord("[")) | (chars == ord("{"))) & outside
        closes = ((chars == ord("]")) | (chars == ord("}"))) & outside
        n_opens, n_closes = int(np.count_nonzero(opens)), int(np.count_nonzero(closes))
        containers += n_opens
        values += n_opens + int(np.count_nonzero((chars == ord(",")) & outside))
        if containers > MAX_META_CONTAINERS or n_closes > MAX_META_CONTAINERS:
            return f"holds more than {MAX_META_CONTAINERS} JSON objects and arrays, the most allowed"
        if values > MAX_META_VALUES:
            return f"holds more than {MAX_META_VALUES} JSON values, the most allowed"
        brackets = opens | closes
        steps = np.where(opens[brackets], 1, -1).astype(np.int64)
        if steps.size:
            levels = depth + np.cumsum(steps)
            max_depth = max(max_depth, int(levels.max()))
            depth = int(levels[-1])
        if max_depth > MAX_META_DEPTH:
            return f"nests JSON more than {MAX_META_DEPTH} levels deep, the most allowed"
    return None


def _read_npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> ArrayHeader:
    """The header of an ``arrays/`` entry, checked against the entry's size; no data is read."""
    entry = info.filename

    def corrupt(problem: str) -> ModelFileError:
        return ModelFileError(f"model file '{path}' is corrupt or truncated: entry {entry!r} {problem}")

    with zf.open(info) as fp:
        magic = fp.read(len(_NPY_MAGIC) + 2)
        if len(magic) < len(_NPY_MAGIC) + 2 or not magic.startswith(_NPY_MAGIC):
            raise corrupt("is not a .npy array (no .npy magic)")
        version = (magic[-2], magic[-1])
        if version not in ((1, 0), (2, 0)):
            raise ModelFileError(
                f"model file '{path}': entry {entry!r} uses .npy format version {version}, "
                "which xentlearn model files never contain"
            )
        length_format = "<H" if version == (1, 0) else "<I"
        length_bytes = fp.read(struct.calcsize(length_format))
        if len(length_bytes) < struct.calcsize(length_format):
            raise corrupt("ends inside its .npy header")
        (header_length,) = struct.unpack(length_format, length_bytes)
        if header_length > MAX_NPY_HEADER_BYTES:
            raise corrupt(
                f"has a {header_length}-byte .npy header; NumPy writes at most {MAX_NPY_HEADER_BYTES}"
            )
        text = fp.read(header_length)
    if len(text) < header_length:
        raise corrupt("ends inside its .npy header")
    if not _NPY_HEADER_CHARS.fullmatch(text) or sum(text.count(c) for c in b"([{") > _NPY_HEADER_MAX_BRACKETS:
        raise corrupt("has a .npy header that NumPy does not write")
    # Parsed here rather than by np.lib.format.read_array_header_*: on a
    # header that is not a literal, NumPy retries through `tokenize`, whose
    # errors are of other types again.
    try:
        fields = ast.literal_eval(text.decode("latin1"))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise corrupt(f"has an unreadable .npy header ({type(exc).__name__}: {exc})") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise corrupt("has a .npy header without exactly the keys descr, fortran_order and shape")
    shape, fortran_order = fields["shape"], fields["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise corrupt(f"declares shape {shape!r}, which is not a tuple of integers")
    if not isinstance(fortran_order, bool):
        raise corrupt(f"declares fortran_order {fortran_order!r}, which is not a boolean")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    # NumPy reports a bad descriptor through several types; the descriptor is
    # a small literal (the character and bracket checks above), so nothing
    # else can go wrong in this call.
    except Exception as exc:  # noqa: BLE001
        raise corrupt(f"declares dtype {fields['descr']!r}, which NumPy cannot read ({exc})") from None
    if dtype.hasobject:
        raise ModelFileError(
            f"model file '{path}': entry {entry!r} contains a pickled object; refusing to load it"
        )
    if dtype.kind not in _ALLOWED_KINDS or dtype.itemsize == 0 or dtype.subdtype is not None:
        raise corrupt(f"declares dtype {dtype}, which model files never hold")
    if any(dim < 0 for dim in shape):
        raise corrupt(f"declares shape {shape} with a negative dimension")
    header_bytes = len(magic) + len(length_bytes) + header_length
    expected = header_bytes + math.prod(shape) * dtype.itemsize
    if info.file_size != expected:
        raise corrupt(
            f"declares shape {shape} of {dtype} ({expected} bytes with its header) but holds "
            f"{info.file_size} bytes"
        )
    return ArrayHeader(tuple(shape), dtype, bool(fortran_order))


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header: ArrayHeader, path: str) -> np.ndarray:
    entry = info.filename
    with zf.open(info) as fp:
        array = np.lib.format.read_array(fp, allow_pickle=False)
        # zipfile compares the CRC once an entry is read to its end. read_array
        # stops at the last array byte, which (after the size check of the
        # header) is the end, and today's zipfile notices that; one more read
        # makes the check independent of how zipfile detects end of entry.
        if fp.read(1):
            raise ModelFileError(
                f"model file '{path}' is corrupt or truncated: entry {entry!r} has trailing bytes"
            )
    if array.shape != header.shape or array.dtype != header.dtype:
        raise ModelFileError(
            f"model file '{path}' is corrupt or truncated: entry {entry!r} changed while read"
        )
    return array


# ---------------------------------------------------------------- writing


def _write_zip(file, prepared: Mapping[str, np.ndarray], meta_bytes: bytes, compression: int) -> int:
    """Write the zip to `file`; returns the sum of the entries' uncompressed sizes."""
    level = _COMPRESS_LEVEL if compression == zipfile.ZIP_DEFLATED else None
    with zipfile.ZipFile(file, "w", compression=compression, compresslevel=level) as zf:
        zf.writestr(META_ENTRY, meta_bytes)
        for name, array in prepared.items():
            # zipfile must know up front whether an entry streamed with
            # open("w") may pass 2 GiB; the .npy header adds < 64 KiB.
            big = array.nbytes >= 2**31 - 2**17
            with zf.open(ARRAYS_DIR + name + NPY_SUFFIX, "w", force_zip64=big) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)
    return sum(info.file_size for info in zf.infolist())


def _prepare_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise XentlearnInputError(f"arrays must be a dict of name -> ndarray, got {type(arrays).__name__}")
    if len(arrays) >= MAX_ENTRIES:  # meta.json is one more entry
        raise XentlearnInputError(
            f"{len(arrays)} arrays are more than a model file holds ({MAX_ENTRIES - 1})"
        )
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
        if array.dtype.kind not in _ALLOWED_KINDS or array.dtype.itemsize == 0:
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
    encoded = json.dumps(document, indent=1).encode("utf-8")
    problem = _json_size_problem(encoded)
    if problem:
        raise MetadataTooLargeError(
            f"meta would be a {META_ENTRY} that {problem}, so the file could not be read back; "
            "store large data in `arrays`"
        )
    return encoded


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


# ---------------------------------------------------------------- temporaries


def _create_temporary(directory: str, basename: str) -> tuple[int, str]:
    """A new, locked ``.<basename>.<random>.tmp`` in `directory`: (descriptor, path)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        random_part = "".join(secrets.choice(_TMP_ALPHABET) for _ in range(_TMP_RANDOM))
        name = os.path.join(directory, f".{basename}.{random_part}{_TMP_SUFFIX}")
        try:
            fd = os.open(name, flags, 0o600)
        except FileExistsError:
            continue
        if _lock_held(fd, name):
            return fd, name
        os.close(fd)
    raise FileExistsError(f"could not create a temporary file next to '{os.path.join(directory, basename)}'")


def _lock_held(fd: int, name: str) -> bool:
    """Lock our new temporary; False if another writer's clean-up removed it first."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        # A file system without locks: write unlocked; clean-ups never delete
        # a temporary they cannot lock, so this one is safe while it lives.
        return True
    # Between our create and our lock, a clean-up may have locked and deleted
    # the file (it looked abandoned); then the name is gone or someone else's.
    try:
        current = os.stat(name)
    except OSError:
        return False
    status = os.fstat(fd)
    return (current.st_dev, current.st_ino) == (status.st_dev, status.st_ino)


def _remove_stale_temporaries(directory: str, basename: str) -> None:
    """Delete abandoned temporaries of `basename` in `directory`; never raises."""
    pattern = re.compile(
        re.escape(f".{basename}.") + f"[{re.escape(_TMP_ALPHABET)}]{{{_TMP_RANDOM}}}" + re.escape(_TMP_SUFFIX)
    )
    try:
        with os.scandir(directory) as scan:
            names = [entry.name for entry in scan if pattern.fullmatch(entry.name)]
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            _remove_if_abandoned(os.path.join(directory, name))


def _remove_if_abandoned(name: str) -> None:
    if fcntl is None:
        # Windows: deleting a file another process holds open fails, so a live
        # writer's temporary survives this.
        if stat.S_ISREG(os.lstat(name).st_mode):
            os.unlink(name)
        return
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | _O_NONBLOCK | _O_NOCTTY
    fd = os.open(name, flags)  # O_NOFOLLOW: a symlink is refused, never followed
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return
        # Succeeds only if no process holds the lock: the writer died (the
        # kernel drops a dead process's locks) or never locked (older versions).
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        current = os.lstat(name)
        if (current.st_dev, current.st_ino) == (status.st_dev, status.st_ino):
            os.unlink(name)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- file system


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
