"""The ``xentlearn`` command: train, predict, evaluate, info and cv on CSV/Parquet files.

``main(argv)`` returns the exit status instead of calling ``sys.exit``, so it
can be tested in-process: 0 on success, 2 on bad usage or bad input (one line
on stderr, never a traceback), 1 on an unexpected error (one line; set the
environment variable ``XENTLEARN_DEBUG=1`` for the traceback), 130 on Ctrl-C
(SIGINT) and 143 on SIGTERM. A failed or interrupted command replaces none of
its output files and leaves no temporary file behind; but ``train``, once its
model is trained, writes the model and its history before the scoring pass of
its report, and keeps them when interrupted there (fit has removed its
checkpoint by then): an error there still puts the old files back.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from xentlearn.cli._messages import error_message, one_line, os_message, print_warnings

__all__ = ["main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is.

    A KeyboardInterrupt subclass, so everything that cleans up after Ctrl-C
    (``with`` blocks that remove temporary files, ``finally`` clauses) does
    the same after ``kill``, and ``except Exception`` in library code does
    not swallow it.
    """


def _raise_terminated(signum, frame) -> None:
    # One-shot: a second SIGTERM during the clean-up ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like SIGINT while the command runs, then restore the old handler.

    Python's default for SIGTERM is to die at once, without running
    ``finally`` blocks: a model half replaced, temporaries left. Only the
    main thread may set handlers (``main`` may run in a worker thread of an
    embedding program, which keeps its own handling then).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xentlearn`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        # Answered before the commands are imported: start-up is the whole cost here.
        from xentlearn import __version__

        print(f"xentlearn {__version__}")
        return 0
    from xentlearn.cli import _cv, _evaluate, _info, _predict, _train
    from xentlearn.cli._options import UsageError
    from xentlearn.cli._outputs import OutputError
    from xentlearn.cli._parser import parse_args

    commands = {"train": _train.train, "predict": _predict.predict,
                "evaluate": _evaluate.evaluate, "info": _info.info, "cv": _cv.cv}

    args = None
    with _sigterm_as_interrupt(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            args = parse_args(argv)
            if sys.stdout is None and _writes_to_stdout(args):
                raise UsageError(f"{args.command}: standard output is closed, so there is "
                                 "nowhere to write to" + (" (give --out FILE)"
                                                          if args.command == "predict" else ""))
            commands[args.command](args, sys.stdout)
            status = 0
        except SystemExit as done:      # --help and --version exit through argparse
            status = done.code if isinstance(done.code, int) else 0
        except UsageError as error:
            status = _fail(str(error))
        except ValueError as error:
            # Every input error of the library is a ValueError subclass
            # (XentlearnInputError, ModelFileError, DivergenceError, and
            # scikit-learn's InvalidParameterError for an out-of-range option).
            status = _fail(error_message(error, args))
        except BrokenPipeError:
            # `xentlearn info m.xent | head`: the reader left; that is not an error.
            # Point stdout at devnull so the interpreter's final flush stays quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 0
        except OutputError as error:
            status = _fail(str(error))
        except OSError as error:
            status = _fail(os_message(error))
        except Terminated:
            print("xentlearn: terminated (SIGTERM)", file=sys.stderr)
            status = 128 + signal.SIGTERM
        except KeyboardInterrupt:
            print("xentlearn: interrupted", file=sys.stderr)
            status = 130
        except Exception as error:  # noqa: BLE001 (the last resort: a bug, said in one line)
            if os.environ.get("XENTLEARN_DEBUG"):
                traceback.print_exc()
            print(f"xentlearn: unexpected error: {type(error).__name__}: "
                  f"{one_line(str(error))} (set XENTLEARN_DEBUG=1 for the traceback; "
                  "please report it)", file=sys.stderr)
            status = 1
    print_warnings(caught, args)
    return status


def _writes_to_stdout(args) -> bool:
    """Whether the command's results go to standard output (train's only with --json)."""
    if args.command == "predict":
        return getattr(args, "out", None) in (None, "-")
    if args.command == "train":
        return bool(args.json)
    return True


def _fail(message: str) -> int:
    message = one_line(message)
    if not message.startswith("xentlearn"):
        message = f"xentlearn: error: {message}"
    print(message, file=sys.stderr)
    return 2
