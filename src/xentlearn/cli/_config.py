"""The TOML file of ``train --config``: its keys are train's options, its values
converted as their flags would be."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from xentlearn.cli._options import ESTIMATOR_OPTIONS, UsageError

# Options of ``train`` that are not estimator parameters; with the estimator
# options they are the keys a --config file may hold.
_DATA_OPTIONS = {
    "data": "DATA", "target": "--target", "validation": "--validation",
    "validation_fraction": "--validation-fraction",
    "features": "--features", "drop": "--drop", "id": "--id",
    "sample_weight": "--sample-weight", "impute": "--impute", "na_values": "--na-values",
    "dates": "--dates", "standardize": "--standardize", "max_categories": "--max-categories",
    "max_classes": "--max-classes",
    "batch_rows": "--batch-rows", "shuffle_buffer_rows": "--shuffle-buffer-rows",
    "csv_block_bytes": "--csv-block-bytes", "memory_budget": "--memory-budget",
    "calibrate": "--calibrate",
    "model": "--model", "out": "--out", "history": "--history", "plot": "--plot",
    "quiet": "--quiet", "json": "--json",
    "scheduler": "--scheduler",
}


def config_keys() -> dict[str, str]:
    """Config key -> the flag it stands for."""
    keys = dict(_DATA_OPTIONS)
    keys.update({o.param: o.flag for o in ESTIMATOR_OPTIONS})
    return keys


def read_config(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Values of a ``--config`` TOML file (train's options), converted as their flags would
    be; keys of options `parser` lacks (cv has no --out) are left out.

    Keys are option names with ``_`` or ``-`` (``max_iter`` or ``max-iter``);
    a ``[train]`` table may hold them instead of the top level. Values are TOML
    types: ``max_iter = 50``, ``hidden_layer_sizes = [64, 32]``,
    ``class_weight = {a = 2, b = 1}``, ``early_stopping = true``,
    ``data = ["train.csv"]``. Relative paths are relative to the config file.
    """
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as error:
        # TOML is UTF-8 by definition; tomllib's own message names neither file nor line.
        raise UsageError(f"config file {str(path)!r} is not UTF-8 text "
                         f"({_bad_byte(error)}); re-save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"cannot read config file {str(path)!r}: {error}") from None
    if isinstance(table.get("train"), dict):
        table = table["train"]
    known = config_keys()
    actions = {a.dest: a for a in parser._actions}
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in known:
            raise UsageError(
                f"config file {str(path)!r}: unknown key {raw_key!r}; keys are the train "
                f"options: {', '.join(sorted(known))}")
        if key not in actions:      # a train option that cv leaves out (out, scheduler)
            continue
        where = f"config file {str(path)!r}, key {raw_key!r}"
        values[key] = _config_value(key, value, actions[key], where, path.parent)
    return values


def _bad_byte(error: UnicodeDecodeError) -> str:
    """Where decoding failed: 'byte 0xe9 at offset 12, line 2'."""
    data = error.object
    line = data.count(b"\n", 0, error.start) + 1
    return f"byte 0x{data[error.start]:02x} at offset {error.start}, line {line}"


def _config_value(key: str, value: Any, action: argparse.Action, where: str, base: Path) -> Any:
    if key in ("data", "validation"):
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) for v in items):
            raise UsageError(f"{where}: expected a path or a list of paths")
        return [str(base / v) for v in items]
    if key in ("out", "history", "plot", "checkpoint"):
        if not isinstance(value, str):
            raise UsageError(f"{where}: expected a path (a string)")
        return base / value
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false")
        return value
    if key in ("features", "drop"):
        # Column names, each as the flag's value: "a,b" or a list; split at commas
        # (unless it is a whole column name) when DATA's columns are known.
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) for v in items):
            raise UsageError(f"{where}: expected a column name or a list of column names")
        return items
    if key == "class_weight" and isinstance(value, dict):
        text = ",".join(f"{k}={v}" for k, v in value.items())
    elif key in ("hidden_layer_sizes", "na_values") and isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{where}: expected {action.metavar or 'a string or number'}, "
                         f"got {value!r}")
    else:
        text = str(value)
    if action.type is None:
        if action.choices is not None and text not in action.choices:
            raise UsageError(f"{where}: expected one of {', '.join(action.choices)}, got {text!r}")
        return text
    try:
        return action.type(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{where}: {error}") from None
