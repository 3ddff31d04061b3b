"""Output files written all or nothing: temporaries first, then moved onto their names.

``train`` writes a model, a history CSV and maybe a plot; ``predict`` a file of
predictions. Each is first written to a temporary file in its own folder, and
only once every one of them is complete and flushed to disk are they moved
onto their names with ``os.replace`` (atomic within one file system). A
failure part-way (a full disk, Ctrl-C, SIGTERM) therefore replaces none of the
user's files and leaves no temporary behind, and its message names the file
that could not be written. (``train`` commits its model and history before the
scoring pass of its report, keeping the files they replace aside,
``commit(keep_replaced=True)``: an error after puts them back, an interrupt
keeps the trained model.)

The temporaries live in a hidden staging folder next to the outputs,
``.xentlearn-staging-<random>``, which the writing process holds an exclusive
``flock`` on. A process killed outright (SIGKILL, power loss) cannot remove its
folder; the next command that writes into the same folder removes every
staging folder whose lock nobody holds (the kernel drops a dead process's
locks), and never one that a live command is using.

The new files get the permission bits of the files they replace, or
``0o666`` less the umask, as ``open`` would give: ``mkstemp`` alone would
make them private (0o600), unlike every other file a user's tools write.

``check_writable_file`` refuses an output path that cannot be written before
any work starts (minutes of training, say), and ``check_not_input`` one that
names a file the command reads (``--out data.csv`` would replace the data).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from xentlearn.exceptions import XentlearnInputError

try:
    import fcntl
except ImportError:     # Windows: no flock; staging folders of killed runs stay
    fcntl = None

STAGING_PREFIX = ".xentlearn-staging-"
# A staging folder without its lock file is being created, or was left by a run
# killed in that instant: only the latter is this old.
_UNLOCKED_GRACE_SECONDS = 60.0


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


def check_writable_file(path: Path, flag: str) -> None:
    """Refuse early (before minutes of training) an output path that cannot be written."""
    if path.is_dir():
        raise XentlearnInputError(f"{flag} {str(path)!r} is a folder; expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise XentlearnInputError(f"{flag} {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise XentlearnInputError(f"{flag} {str(path)!r}: folder {str(parent)!r} is not writable")


def check_not_input(command: str, outputs: Mapping[str, object],
                    inputs: Mapping[str, Sequence[object] | None]) -> None:
    """Refuse an output path that names a file the command reads, or a new file in a
    folder it reads, before anything is read.

    `outputs` maps a flag (``--out``) to its path or None; `inputs` maps what
    the command reads (``DATA``, ``--validation``, ``MODEL``) to its paths, a
    folder standing for every file in it. Without this, ``predict m.xent
    data.csv --out data.csv`` replaced the data with its predictions, and
    status 0 said all was well. Two paths are one file when
    ``os.path.samefile`` says so (other spellings, symbolic and hard links),
    or, where one does not exist, when their resolved names are equal.

    A new file in a DATA or ``--validation`` folder changes that input for
    every later run: ``predict m.xent data --out data/pred.csv`` and the next
    ``train data`` read the predictions as training rows (or refuse the
    folder, whose files no longer share their columns; a model or a plot
    there is neither CSV nor Parquet, refused too). It is refused as well,
    unless its name starts with '.' or '_', which a data folder is read
    without.
    """
    from xentlearn.cli._options import UsageError

    read: list[tuple[str, Path, Path | None]] = []    # (role, file, folder it is listed in)
    folders: list[tuple[str, Path]] = []
    for role, paths in inputs.items():
        for path in paths or ():
            path = Path(path)
            if path.is_dir():
                folders.append((role, path))
                with contextlib.suppress(OSError):
                    # The files a data folder is read for (list_data_files skips
                    # names starting with '.' or '_', and subfolders).
                    read.extend((role, child, path) for child in sorted(path.iterdir())
                                if not child.name.startswith((".", "_")) and not child.is_dir())
            else:
                read.append((role, path, None))
    for flag, output in outputs.items():
        if output is None:
            continue
        for role, path, folder in read:
            if _same_file(Path(output), path):
                what = (f"the {role} file {str(path)!r}" if folder is None else
                        f"{str(path)!r}, a file of the {role} folder {str(folder)!r}")
                raise UsageError(
                    f"{command}: {flag} {str(output)!r} is {what}, which {command} reads; "
                    f"writing it would replace that file: give {flag} another name")
    for flag, output in outputs.items():
        if output is None or Path(output).name.startswith((".", "_")):
            continue
        for role, folder in folders:
            if _same_file(Path(output).parent, folder):
                raise UsageError(
                    f"{command}: {flag} {str(output)!r} is in the {role} folder "
                    f"{str(folder)!r}, which {command} reads; every later run over that "
                    f"folder would read it too, as data (or refuse the folder for it): "
                    f"give {flag} a path outside the folder, or a name starting with '_' "
                    f"(a data folder is read without such names)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:         # one of them does not exist (or cannot be looked at)
        return os.path.realpath(a) == os.path.realpath(b)


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
        self._folders: dict[Path, tuple[Path, int | None]] = {}   # parent: (staging, lock fd)
        # (the file it replaced, kept in the staging folder, or None; final) per committed file
        self._replaced: list[tuple[Path | None, Path]] = []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def temporary(self, path: Path) -> Path:
        """A new empty temporary file for `path` (in the staging folder next to it), moved
        onto `path` by ``commit``."""
        path = Path(path)
        with naming(path):
            tmp = self._staging(path.parent) / path.name
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._files.append((tmp, path))
        return tmp

    def _staging(self, parent: Path) -> Path:
        """This run's staging folder in `parent`, made (and the abandoned ones removed)
        on first use."""
        if parent not in self._folders:
            remove_abandoned_staging(parent)
            folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
            lock = None
            if fcntl is not None:
                lock = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._folders[parent] = (folder, lock)
        return self._folders[parent][0]

    @contextlib.contextmanager
    def writing(self, path: Path) -> Iterator[Path]:
        """The temporary for `path`; an OSError while writing it names `path`."""
        tmp = self.temporary(path)
        with naming(path):
            yield tmp

    def commit(self, keep_replaced: bool = False) -> None:
        """Flush every temporary to disk, then move each onto its name.

        The renames happen only after every file is on disk, so an error
        (``fsync`` is where some file systems first report a full disk)
        replaces nothing. With `keep_replaced`, the files replaced are kept
        aside until ``discard`` (or put back by ``restore``), and an error
        while renaming puts back those already replaced.
        """
        try:
            for tmp, path in self._files:
                with naming(path):
                    with open(tmp, "rb") as file:
                        os.fsync(file.fileno())
                    os.chmod(tmp, _new_mode(path))
            for tmp, path in self._files:
                with naming(path):
                    kept = None
                    if keep_replaced and os.path.lexists(path):
                        kept = tmp.with_name(tmp.name + ".replaced")
                        os.replace(path, kept)
                    os.replace(tmp, path)
                    if keep_replaced:
                        self._replaced.append((kept, path))
        except BaseException:
            self.restore()
            raise
        self._fsync_folders(path for _, path in self._files)
        self._files = []
        if not keep_replaced:
            self._remove_staging()

    def restore(self) -> None:
        """Put back the files a ``commit(keep_replaced=True)`` replaced (remove those it
        created), and remove every temporary."""
        for kept, path in reversed(self._replaced):
            with contextlib.suppress(OSError):
                if kept is None:
                    os.remove(path)
                else:
                    os.replace(kept, path)
        self._fsync_folders(path for _, path in self._replaced)
        self.discard()

    def discard(self) -> None:
        """Remove every temporary not yet moved, and the replaced files kept aside;
        replaces nothing, puts nothing back."""
        self._files = []
        self._replaced = []
        self._remove_staging()

    @staticmethod
    def _fsync_folders(paths) -> None:
        for folder in dict.fromkeys(Path(path).parent for path in paths):
            _fsync_folder(folder)

    def _remove_staging(self) -> None:
        for folder, lock in self._folders.values():
            shutil.rmtree(folder, ignore_errors=True)
            if lock is not None:
                os.close(lock)
        self._folders = {}


def remove_abandoned_staging(parent: Path) -> None:
    """Delete the staging folders in `parent` that no live process holds; never raises."""
    if fcntl is None:
        return
    with contextlib.suppress(OSError):
        with os.scandir(parent) as scan:
            folders = [Path(entry.path) for entry in scan
                       if entry.name.startswith(STAGING_PREFIX)
                       and entry.is_dir(follow_symlinks=False)]
        for folder in folders:
            with contextlib.suppress(OSError):
                _remove_if_abandoned(folder)


def _remove_if_abandoned(folder: Path) -> None:
    try:
        lock = os.open(folder / ".lock", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if time.time() - os.lstat(folder).st_mtime > _UNLOCKED_GRACE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
        return
    try:
        # Succeeds only if no process holds the lock: its writer is gone.
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(folder, ignore_errors=True)
    except BlockingIOError:
        return
    finally:
        os.close(lock)


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
