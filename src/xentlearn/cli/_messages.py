"""Library warnings in command-line words, printed once each on stderr."""

from __future__ import annotations

import re
import shlex
import sys


def print_warnings(caught, args=None) -> None:
    """Each distinct warning once, on one line, in command-line words."""
    seen = set()
    for w in caught:
        message = " ".join(cli_warning(w.message, args).split())
        if message not in seen:
            seen.add(message)
            print(f"xentlearn: warning: {message}", file=sys.stderr)


def cli_warning(warning: Warning, args=None) -> str:
    """A library warning reworded for the command line.

    ColumnWarning's ``drop=[...]`` becomes the ``--drop`` flag with its
    columns. ConvergenceWarning's advice to scale the features is wrong here
    (train standardises them unless --no-standardize): it becomes advice the
    command line can follow.
    """
    message = str(warning)
    columns = getattr(warning, "columns", None)
    if columns is not None:
        message = message.replace("drop=[...]", "--drop " + " ".join(map(shlex.quote, columns)))
    if type(warning).__name__ == "ConvergenceWarning":
        standardized = args is None or getattr(args, "standardize", None) is not False
        message = re.sub(r"max_iter=(\d+)", r"--max-iter \1", message)
        message = re.sub(r"tol=([\w.+-]+)", r"--tol \1", message)
        advice = ("increase --max-iter (the features are already standardised; for a "
                  "mini-batch solver a larger --learning-rate-init may help too)"
                  if standardized else
                  "increase --max-iter, or standardise the features (drop --no-standardize)")
        message = re.sub(r"; increase max_iter.*$", "; " + advice, message)
    return message
