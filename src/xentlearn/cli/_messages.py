"""Library messages in command-line words, each on one line.

Errors and warnings of the library speak Python (``max_iter=5``,
``drop=['a']``, "The 'tol' parameter of ..."); the command line's user
needs the flags (``--max-iter 5``, ``--drop a``, ``--tol``).
"""

from __future__ import annotations

import re
import shlex
import sys


def one_line(text: str) -> str:
    return " ".join(text.split())


def print_warnings(caught, args=None) -> None:
    """Each distinct warning once, on one line, in command-line words."""
    seen = set()
    for w in caught:
        message = one_line(plain_values(_cli_warning(w.message, args)))
        if message not in seen:
            seen.add(message)
            print(f"xentlearn: warning: {message}", file=sys.stderr)


def _cli_warning(warning: Warning, args=None) -> str:
    """A library warning reworded for the command line.

    ColumnWarning's ``drop=[...]`` becomes the ``--drop`` flag with its
    columns, and its other advice flags (``flag_names``). ConvergenceWarning's advice to scale the features is wrong here
    (train standardises them unless --no-standardize): it becomes advice the
    command line can follow.
    """
    message = str(warning)
    columns = getattr(warning, "columns", None)
    if columns is not None:
        # A ColumnWarning: its advice (drop=, na_values=, impute=) as flags.
        message = message.replace("drop=[...]", "--drop " + " ".join(map(shlex.quote, columns)))
        message = flag_names(message)
    if type(warning).__name__ == "LabelOrderWarning":
        message = flag_names(message)
    if type(warning).__name__ == "ConvergenceWarning":
        standardized = args is None or getattr(args, "standardize", None) is not False
        message = re.sub(r"max_iter=(\d+)", r"--max-iter \1", message)
        message = re.sub(r"tol=([\w.+-]+)", r"--tol \1", message)
        advice = ("increase --max-iter (the features are already standardised; for a "
                  "mini-batch solver a larger --learning-rate-init may help too)"
                  if standardized else
                  "increase --max-iter, or standardise the features (drop --no-standardize)")
        message = re.sub(r"; increase max_iter.*$", "; " + advice, message)
        message = re.sub(r"lower learning_rate_init, or scale the features.*$",
                         "lower --learning-rate-init" + (
                             " (the features are already standardised)" if standardized else
                             ", or standardise the features (drop --no-standardize)"), message)
    return message


# Estimator parameters that library messages may suggest as name=value; on the
# command line they are spelled --name value.
_SPOKEN_PARAMS = ("impute", "solver", "batch_size", "penalty", "learning_rate", "class_weight",
                  "max_iter", "early_stopping", "csv_block_bytes", "dates", "max_classes",
                  "max_categories", "validation_fraction")
# TableFiles fields that library messages name; the command line has a flag for each.
_TABLE_FIELDS = ("csv_block_bytes", "max_categories", "max_classes", "memory_budget", "na_values",
                 "shuffle_buffer_rows")


def error_message(error: Exception, args=None) -> str:
    """The one line ``main`` prints for a library error (a ValueError): its message in
    command-line words (``flag_names``).

    A DivergenceError's advice to standardise the features is wrong where
    train already standardises them (unless --no-standardize).
    """
    message = flag_names(str(error))
    if type(error).__name__ == "DivergenceError":
        standardized = args is None or getattr(args, "standardize", None) is not False
        message = re.sub(r", or standardise the features\.?$",
                         "; the features are already standardised." if standardized else
                         ", or standardise the features (drop --no-standardize).", message)
    return message


def flag_names(message: str) -> str:
    """A library error message in command-line words.

    scikit-learn's "The 'max_iter' parameter of X must be ..." becomes "--max-iter
    must be ...", a suggestion such as "impute='mean'" becomes "--impute mean", an
    estimator parameter named bare (``learning_rate_init``) its flag, and a NumPy
    scalar's repr (``np.int64(1)``, ``np.float64(nan)``) the plain value.
    """
    message = plain_values(message)
    # scikit-learn's constraints in flag words: no None to pass, "auto" not a set of str.
    message = re.sub(r"(The '\w+' parameter of \w+ must be) None or ", r"\1 ", message)
    message = re.sub(r"a str among \{'(\w+)'\}", r"'\1'", message)
    message = re.sub(r"The '(\w+)' parameter of \w+",
                     lambda m: "--" + m.group(1).replace("_", "-"), message)
    # "drop=['a b', 'c']" -> "--drop 'a b' c"; "na_values=['?']" -> "--na-values '?'"
    message = re.sub(r"\bdrop=\[([^\]]*)\]",
                     lambda m: "--drop " + " ".join(map(shlex.quote, _names(m.group(1)))),
                     message)
    # A value holding a control character (a NUL byte in the file) cannot be typed as a
    # flag's value: the library's words stay.
    message = re.sub(r"\bna_values=\[([^\]]*)\]",
                     lambda m: m.group(0) if not all(map(str.isprintable, _names(m.group(1))))
                     else "--na-values " + shlex.quote(",".join(_names(m.group(1)))), message)
    # "TableFiles(..., csv_block_bytes=8192)" -> "--csv-block-bytes 8192"
    message = re.sub(r"TableFiles\((?:\.\.\., )?(\w+=[\w.-]+)\)", r"\1", message)
    message = re.sub(rf"\b({'|'.join(_TABLE_FIELDS)})\b(?!=)",
                     lambda m: "--" + m.group(1).replace("_", "-"), message)
    message = re.sub(rf"\b({'|'.join(_SPOKEN_PARAMS)})=('?)([\w.-]+)\2",
                     lambda m: f"--{m.group(1).replace('_', '-')} {m.group(3)}", message)
    return _bare_flags(message)


def _bare_flags(message: str) -> str:
    """Estimator parameters named bare ("a smaller learning rate (learning_rate_init; ...")
    as their flags. Only names with an underscore, which read as no English word, and
    not inside quotes or a dotted name ('params.max_iter' of a model file's fields).
    """
    if "_" not in message:
        return message
    from xentlearn.cli._options import ESTIMATOR_OPTIONS

    names = sorted((o.param for o in ESTIMATOR_OPTIONS if "_" in o.param), key=len, reverse=True)
    return re.sub(rf"(?<![\w'\".=-])({'|'.join(names)})(?![\w'\"=(])",
                  lambda m: "--" + m.group(1).replace("_", "-"), message)


# np.float64(nan), np.int64(1), np.str_('a'), np.datetime64('2020-01-01'): the repr of a
# NumPy scalar since NumPy 2, which library messages show through {value!r}.
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:[a-z]+\d*_?)\(((?:[^()']|'[^']*')*)\)")


def plain_values(message: str) -> str:
    """NumPy scalar reprs in `message` as plain values: np.int64(1) -> 1, np.True_ -> True."""
    if "np." not in message:
        return message
    message = _NUMPY_SCALAR.sub(r"\1", message)
    return re.sub(r"\bnp\.(True|False)_", r"\1", message)


def _names(listed: str) -> list[str]:
    """The strings of a Python list's repr body ("'a', 'b c'")."""
    import ast

    try:
        names = ast.literal_eval(f"[{listed}]")
    except (ValueError, SyntaxError):
        return [listed]
    return [str(n) for n in names]


def os_message(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename!r}"
    return str(error)
