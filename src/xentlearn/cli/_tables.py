"""TableFiles arguments from the command line, and DATA paths in messages.

train and cv read tables with every data option (``table_options``); predict
and evaluate take the preprocessing from the model and only how to read the
files (``reading_options``).
"""

from __future__ import annotations

from typing import Any


def table_options(args) -> dict[str, Any]:
    """TableFiles options of train and cv (all but path, target, features, drop, weights)."""
    options: dict[str, Any] = {}
    if args.standardize is not None:
        options["standardize"] = args.standardize
    if args.impute is not None:
        options["impute"] = None if args.impute == "none" else args.impute
    for name in ("max_categories", "batch_rows", "shuffle_buffer_rows", "csv_block_bytes",
                 "memory_budget", "dates", "max_classes", "na_values"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options["split_seed"] = args.random_state or 0
    return options


def feature_columns(args, data, options: dict[str, Any]) -> dict[str, Any]:
    """TableFiles `features` and `drop` from --features, --drop and --id, checked against
    the columns of DATA (read only when one of them is given).

    Each value of --features and --drop is a column name, or several separated by
    commas; a value that is exactly a column name is taken whole, so a name
    holding a comma ("height, cm") can be given as it is. An --id column is
    never a feature. Errors name the flag, the value and the columns DATA has.
    """
    from xentlearn.cli._options import UsageError
    from xentlearn.data import TableFiles

    if args.features is None and not args.drop and args.id is None:
        return {}
    # Columns dropped (or not among --features) may differ between files: the names
    # given, whole or split at commas, are left out of the files' comparison.
    def named(values) -> list[str]:
        return [v for value in values or () for v in (value, value.strip(), *_split(value))]
    chosen_features = None if args.features is None else named(args.features)
    names = TableFiles(one_or_many(data), features=chosen_features,
                       drop=named(args.drop) + ([args.id] if args.id else []),
                       **options).schema().names
    where = describe_data([repr(str(path)) for path in data])

    def missing(flag: str, value: str, name: str) -> UsageError:
        split = "" if "," not in value else (
            f" (the value was split at its commas into "
            f"{', '.join(map(repr, _split(value)))}; a value that is exactly a column name "
            f"is taken whole)")
        return UsageError(f"{flag} {value!r}: no column {name!r} in {where}{split}; "
                          f"it has {', '.join(map(repr, names))}")

    if args.id is not None and args.id not in names:
        raise missing("--id", args.id, args.id)
    chosen: dict[str, list[str]] = {}
    for flag, values in (("--features", args.features), ("--drop", args.drop)):
        if not values:
            continue
        columns = []
        for value in values:
            whole = next((v for v in (value, value.strip()) if v in names), None)
            parts = [whole] if whole is not None else _split(value)
            if not parts:
                raise UsageError(f"{flag} {value!r}: expected column names such as A,B")
            for part in parts:
                if part not in names:
                    raise missing(flag, value, part)
            columns += parts
        chosen[flag] = list(dict.fromkeys(columns))
    features = chosen.get("--features")
    drop = list(dict.fromkeys(chosen.get("--drop", []) + ([args.id] if args.id else [])))
    both = [c for c in drop if c in (features or ())]
    if both:
        flag = "--id" if both[0] == args.id else "--drop"
        raise UsageError(f"{flag} {both[0]!r} is also one of --features: a column is a "
                         "feature or not")
    result: dict[str, Any] = {}
    if features is not None:
        result["features"] = features
    if drop:
        result["drop"] = drop
    return result


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


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
