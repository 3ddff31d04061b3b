"""TableFiles arguments from the command line, and DATA paths in messages.

train and cv read tables with every data option (``table_options``); predict
and evaluate take the preprocessing from the model and only how to read the
files (``reading_options``).
"""

from __future__ import annotations

from typing import Any


def table_options(args) -> dict[str, Any]:
    """TableFiles options of train and cv (all but path, target, features, weights)."""
    options: dict[str, Any] = {}
    if args.standardize is not None:
        options["standardize"] = args.standardize
    if args.impute is not None:
        options["impute"] = None if args.impute == "none" else args.impute
    for name in ("max_categories", "batch_rows", "shuffle_buffer_rows", "csv_block_bytes",
                 "memory_budget", "dates", "max_classes", "na_values"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    # An --id column is never a feature.
    drop = list(args.drop or []) + ([args.id] if args.id is not None else [])
    if drop:
        options["drop"] = list(dict.fromkeys(drop))
    options["split_seed"] = args.random_state or 0
    return options


def reading_options(args) -> dict[str, Any]:
    """TableFiles options of predict and evaluate (the model adds its own na_values)."""
    options: dict[str, Any] = {"batch_rows": args.batch_rows or 65536}
    if args.csv_block_bytes is not None:
        options["csv_block_bytes"] = args.csv_block_bytes
    if args.na_values is not None:
        options["na_values"] = args.na_values
    return options


def one_or_many(paths):
    return paths[0] if len(paths) == 1 else list(paths)


def describe_data(paths) -> str:
    return ", ".join(str(p) for p in paths[:3]) + (f" (+{len(paths) - 3} more)"
                                                   if len(paths) > 3 else "")
