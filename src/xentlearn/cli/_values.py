"""Value types of the command line: the text a user typed -> the value an option takes.

Each converter raises ``argparse.ArgumentTypeError`` with a message that names
the accepted values; argparse adds the flag name, and a ``--config`` file's
values go through the same converters (the message then names the key).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


# Binary multiples, as a user reads sizes: 64K is 65536 bytes.
_SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
                  "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}


def byte_size(text: str) -> int:
    """'65536', '64K', '16M', '1G' or '1.5G' (binary multiples; 'MiB' and 'MB' also read)
    -> bytes (a fraction of a byte rounded down)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or match[2].upper() not in _SIZE_SUFFIXES or (
            "." in match[1] and not match[2]):
        raise argparse.ArgumentTypeError(
            f"expected a size in bytes such as 16777216, 16M, 1.5G or 1G, got {text!r}")
    whole, _, fraction = match[1].partition(".")
    multiple = _SIZE_SUFFIXES[match[2].upper()]
    # Exact arithmetic: 1.5G is 1610612736 bytes, not a float's rounding of it.
    return int(whole) * multiple + int(fraction or "0") * multiple // 10 ** len(fraction)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def float_or_auto(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        return finite_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def batch_size(text: str) -> str | int:
    if text in ("auto", "full"):
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', 'full' or a positive integer, got {text!r}") from None


def penalty(text: str) -> str:
    if text not in ("l2", "l1", "elasticnet", "none"):
        raise argparse.ArgumentTypeError(
            f"expected one of l2, l1, elasticnet, none, got {text!r}")
    return text


def class_weight(text: str) -> str | dict[str, float]:
    """'balanced' or 'label=weight,label=weight' (labels kept as text until the classes are known)."""
    if text == "balanced":
        return text
    weights: dict[str, float] = {}
    for item in text.split(","):
        label, sep, weight = item.partition("=")
        if not sep or not label.strip():
            raise argparse.ArgumentTypeError(
                f"expected 'balanced' or LABEL=WEIGHT pairs such as 'a=2,b=1', got {text!r}")
        try:
            value = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"weight of class {label.strip()!r} is not a number: {weight!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(
                f"weight of class {label.strip()!r} must be a finite number >= 0, got {weight!r}")
        weights[label.strip()] = value
    return weights


def layer_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 64,32, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 64,32, got {text!r}")
    return sizes


def fraction(text: str) -> float:
    value = finite_float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number strictly between 0 and 1, got {text!r}")
    return value


def folds(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return value


def max_classes(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return value


def tokens(text: str) -> list[str]:
    """'?,NA,-' -> ['?', 'NA', '-'] (spaces around each token are dropped)."""
    tokens = [t.strip() for t in text.split(",")]
    if not all(tokens):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated tokens such as '?,NA,-', got {text!r}")
    return tokens


def dtype(text: str) -> str:
    if text not in ("float32", "float64"):
        raise argparse.ArgumentTypeError(f"expected float32 or float64, got {text!r}")
    return text


def choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(choices)}, got {text!r}")
        return text
    return convert
