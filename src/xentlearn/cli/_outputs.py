"""Output files written all or nothing: temporaries first, then moved onto their names.

``train`` writes a model, a history CSV and maybe a plot; ``predict`` a file of
predictions. Each is first written to a temporary file in its own folder, and
only once every one of them is complete and flushed to disk are they moved
onto their names with ``os.replace`` (atomic within one file system). A
failure part-way (a full disk, Ctrl-C, SIGTERM) therefore replaces none of the
user's files and leaves no temporary behind, and its message names the file
that could not be written.

The new files get the permission bits of the files they replace, or
``0o666`` less the umask, as ``open`` would give: ``mkstemp`` alone would
make them private (0o600), unlike every other file a user's tools write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(OSError):
    """An output file could not be written; the message names it and the reason."""

    def __str__(self) -> str:
        return f"cannot write {self.filename!r}: {self.strerror}"


def output_error(path: Path, error: OSError) -> OutputError:
    """`error` (raised while writing a temporary for `path`) as an error naming `path`.

    pyarrow's messages wrap the system's ("Error writing bytes to file. Detail:
    [errno 28] No space left on device"); the errno's own words are shorter.
    """
    if isinstance(error, OutputError):
        return error
    reason = os.strerror(error.errno) if error.errno else (error.strerror or str(error))
    return OutputError(error.errno or errno.EIO, reason, str(path))


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Turn any OSError raised inside into an ``OutputError`` naming `path`."""
    try:
        yield
    except OSError as error:
        raise output_error(path, error) from None


class StagedOutputs:
    """Temporaries for output files, moved onto their names together at the end.

    Use as a context manager: a clean exit commits every file (``commit``),
    an exception (KeyboardInterrupt included) removes every temporary
    (``discard``) and replaces nothing.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with StagedOutputs() as outputs:
    ...     with outputs.writing(folder / "a.txt") as tmp:
    ...         _ = tmp.write_text("a")
    ...     with outputs.writing(folder / "b.txt") as tmp:
    ...         _ = tmp.write_text("b")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []      # (temporary, final)

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def temporary(self, path: Path) -> Path:
        """A new empty temporary file next to `path`, moved onto it by ``commit``."""
        path = Path(path)
        with naming(path):
            # ".part", not io.write's ".tmp": a save of the same name by another
            # process removes unlocked ".<name>.<8 characters>.tmp" files as
            # leftovers, and these are unlocked while alive.
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                        dir=path.parent)
        os.close(fd)
        self._files.append((Path(name), path))
        return Path(name)

    @contextlib.contextmanager
    def writing(self, path: Path) -> Iterator[Path]:
        """The temporary for `path`; an OSError while writing it names `path`."""
        tmp = self.temporary(path)
        with naming(path):
            yield tmp

    def commit(self) -> None:
        """Flush every temporary to disk, then move each onto its name.

        The renames happen only after every file is on disk, so an error
        (``fsync`` is where some file systems first report a full disk)
        replaces nothing.
        """
        try:
            for tmp, path in self._files:
                with naming(path):
                    with open(tmp, "rb") as file:
                        os.fsync(file.fileno())
                    os.chmod(tmp, _new_mode(path))
            for tmp, path in self._files:
                with naming(path):
                    os.replace(tmp, path)
        except BaseException:
            self.discard()
            raise
        for folder in dict.fromkeys(path.parent for _, path in self._files):
            _fsync_folder(folder)
        self._files = []

    def discard(self) -> None:
        """Remove every temporary not yet moved; replaces nothing."""
        for tmp, _ in self._files:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self._files = []


def _new_mode(path: Path) -> int:
    """Permission bits for `path`: those of the file it replaces, else 0o666 & ~umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o777
    return 0o666 & ~_umask()


def _umask() -> int:
    # Linux shows the umask without changing it; the os.umask round trip
    # below briefly changes it, which would race with threads creating files.
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status", encoding="ascii") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    # Makes the renames themselves durable on POSIX; Windows cannot open a
    # folder, and there the rename is already journaled.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
