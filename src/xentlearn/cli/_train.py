"""``xentlearn train``: fit a model on files (or the bundled digits), save it and report.

Besides the command: the Dask client of ``--scheduler``, the checks that the
output paths can be written and are distinct, the bundled digits written as
CSV, and the notes on restored weights and calibration in the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import TextIO

import numpy as np

from xentlearn.cli import _report
from xentlearn.cli._estimator import check_validation, make_estimator, score_table
from xentlearn.cli._messages import print_warnings
from xentlearn.cli._metrics import metrics_json, plain
from xentlearn.cli._options import UsageError
from xentlearn.cli._outputs import StagedOutputs, check_not_input, check_writable_file
from xentlearn.cli._tables import describe_data, feature_columns, one_or_many, table_options
from xentlearn.data import TableFiles

DEFAULT_MODEL = Path("model.xent")
DIGITS_TARGET = "digit"
# How long ``--scheduler`` waits to connect (distributed's timeout syntax).
SCHEDULER_TIMEOUT = "30s"


def train(args, out: TextIO) -> None:
    """Fit a model on files (or the bundled digits), save it, its history, and report.

    With ``--json`` the report goes to `out` as one JSON object and every
    other line (the digits notice) to stderr.
    """
    if args.checkpoint_interval is not None and args.checkpoint is None:
        # The estimator's own error names its parameters, and comes after the
        # bundled digits are written.
        raise UsageError("train: --checkpoint-interval needs --checkpoint PATH (the interval "
                         "says how often that file is also written inside an epoch)")
    model_path = args.out or DEFAULT_MODEL
    check_writable_file(model_path, "--out")
    history_path = args.history or _report.default_history_path(model_path)
    check_writable_file(history_path, "--history")
    if args.plot is not None:
        check_writable_file(args.plot, "--plot")
        _report.check_plot_path(args.plot)
    # The checkpoint is written every epoch, and read to resume.
    outputs = {"--out": model_path, "--history": history_path, "--plot": args.plot,
               "--checkpoint": args.checkpoint}
    _check_distinct(outputs)
    check_not_input("train", outputs, {"DATA": args.data, "--validation": args.validation,
                                       "--config": [args.config] if args.config else None})
    quiet = bool(args.quiet)
    text = sys.stderr if args.json else out

    if not args.data:
        for name in ("target", "validation", "features", "sample_weight", "drop", "id",
                     "validation_fraction"):
            if getattr(args, name) is not None and not (name == "target"
                                                        and args.target == DIGITS_TARGET):
                raise UsageError(
                    f"train: --{name.replace('_', '-')} needs DATA; without DATA, train uses "
                    "the bundled digits")
        data, validation = _write_digits(model_path, text if not quiet else None)
        target = DIGITS_TARGET
    else:
        if args.target is None:
            raise UsageError("train: --target COL is required with DATA (the label column)")
        data, validation, target = args.data, args.validation, args.target
    check_validation(args, validation, "train")

    options = table_options(args)
    train_table = TableFiles(one_or_many(data), target=target, sample_weight=args.sample_weight,
                             validation_fraction=args.validation_fraction,
                             **feature_columns(args, data, options), **options)
    validation_table = None if not validation else TableFiles(
        one_or_many(validation), target=target, sample_weight=args.sample_weight, **options)
    estimator = make_estimator(args, train_table, verbose=not quiet)
    # A checkpoint there now is resumed (one of another run is refused, and fit raises).
    checkpoint = estimator.get_params().get("checkpoint")
    resumed_from = checkpoint if checkpoint is not None and Path(checkpoint).exists() else None

    start = time.perf_counter()
    # The scores too are computed where the fit ran: on a cluster, by the workers.
    with _dask_client(getattr(args, "scheduler", None)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            estimator.fit(train_table, validation_data=validation_table)
        seconds = time.perf_counter() - start
        print_warnings(caught, args)
        with _written_before_scoring(estimator, model_path, history_path):
            scores = _scores(args, estimator, train_table, validation_table)
            if args.plot is not None:
                _write_plot(args.plot, estimator, scores, describe_data(data))

    if args.json:
        report = {
            "estimator": type(estimator).__name__,
            "classes": [plain(c) for c in estimator.classes_],
            "n_features": int(estimator.n_features_in_),
            "epochs": int(estimator.n_iter_), "seconds": seconds,
            "resumed_from": None if resumed_from is None else str(resumed_from),
            "restored_epoch": _restored_epoch(estimator),
            "temperature": _temperature(estimator),
            "model": str(model_path), "history": str(history_path),
            "plot": None if args.plot is None else str(args.plot),
            "train": None, "validation": None}
        report.update({name: metrics_json(m) for name, m in scores})
        print(json.dumps(report, indent=2), file=out)
        return
    if not quiet:
        name, detail = scores[-1]
        # max_iter counts iterations for lbfgs (DESIGN), epochs otherwise.
        steps = "iterations" if estimator.get_params()["solver"] == "lbfgs" else "epochs"
        print(f"\n{type(estimator).__name__}: {len(estimator.classes_)} classes, "
              f"{estimator.n_features_in_} features, {estimator.n_iter_} {steps} in "
              f"{seconds:.1f} s" + _restored_note(estimator)
              + ("" if resumed_from is None else f" (resumed from {resumed_from})") + "\n",
              file=out)
        print(_report.summary_table(scores), file=out)
        print("\n" + _report.metrics_report(detail, name) + "\n", file=out)
    print(f"model:   {model_path}", file=out)
    print(f"history: {history_path}", file=out)
    if args.plot is not None:
        print(f"plot:    {args.plot}", file=out)
    if not args.data and not quiet:
        print(f"\nNext: xentlearn evaluate {_quote(model_path)} {_quote(validation[0])} "
              f"--target {DIGITS_TARGET}", file=out)


def _scores(args, estimator, train_table, validation_table) -> list[tuple[str, _report.Metrics]]:
    """The metrics the report shows (and the plot needs), by the rows they score: with
    --validation-fraction, the two sides of the split."""
    if args.validation_fraction is not None:
        train_rows, validation_rows = train_table.split_validation()
    else:
        train_rows, validation_rows = train_table, validation_table
    report = not args.quiet or args.json
    scores = []
    if report:
        scores.append(("train", score_table(estimator, train_rows)))
    if validation_rows is not None and (report or args.plot is not None):
        scores.append(("validation", score_table(estimator, validation_rows)))
    if args.plot is not None and not scores:
        scores.append(("train", score_table(estimator, train_rows)))
    return scores


def _write_plot(path: Path, estimator, scores, data_name: str) -> None:
    """The loss curves, and the reliability diagram of the last scores."""
    name, shown = scores[-1]
    with StagedOutputs() as staged, staged.writing(path) as tmp:
        _report.plot_history(
            estimator.history_, tmp, file_format=path.suffix[1:],
            title=f"{type(estimator).__name__} on {data_name}",
            reliability=shown, reliability_name=name, restored_epoch=_restored_epoch(estimator),
            final_accuracy={n: m.accuracy for n, m in scores})


@contextlib.contextmanager
def _written_before_scoring(estimator, model_path, history_path):
    """Write the model and its history, then run the block (the scores and the plot).

    fit() has removed its checkpoint, so the trained model is on disk before
    the scoring pass: a kill (or Ctrl-C) during it loses the report and the
    plot, not the training. An error in the block puts back the files the two
    replaced, as every failed command leaves the user's files. The two are
    replaced together: neither unless both could be written (a full disk while
    writing the history leaves the old model).
    """
    outputs = StagedOutputs()
    try:
        with outputs.writing(model_path) as tmp:
            estimator.save(tmp)
        with outputs.writing(history_path) as tmp:
            _report.write_history(estimator.history_, tmp)
        outputs.commit(keep_replaced=True)
    except BaseException:
        outputs.discard()
        raise
    try:
        yield
    except Exception:
        outputs.restore()
        raise
    except BaseException:           # Ctrl-C, SIGTERM: the trained model stays, said so
        print(f"xentlearn: the trained model was written to {str(model_path)!r} (history "
              f"{str(history_path)!r}) before the interrupt; the report (and plot) is lost",
              file=sys.stderr)
        raise
    finally:
        outputs.discard()


@contextlib.contextmanager
def _dask_client(address: str | None):
    """A ``distributed.Client`` connected to `address` for the fit and the scores, closed
    after; nothing (and no import of dask) without an address.

    While the client is current, the estimator's fit on TableFiles runs on its
    workers (``xentlearn.data.TableFiles`` on a cluster: each worker reads and
    keeps its run of files; only parameters and sums travel), and so do its
    predictions for the scores (each worker reads files; only the predicted
    probabilities and the labels travel).
    """
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--scheduler needs the Dask extra: pip install 'xentlearn[dask]'") from None
    try:
        client = distributed.Client(address, timeout=SCHEDULER_TIMEOUT)
    except ValueError as error:
        _close_failed_client()
        # distributed's words for a malformed address ("missing port number in
        # address 'x'", "unknown address scheme") do not say which flag gave it.
        raise UsageError(f"--scheduler {address!r} is not a Dask scheduler address ({error}); "
                         "expected one such as tcp://host:8786") from None
    except (OSError, TimeoutError) as error:
        _close_failed_client()
        raise UsageError(f"--scheduler {address!r}: cannot reach the Dask scheduler there: "
                         f"{error}") from None
    with client:
        yield client


def _close_failed_client() -> None:
    """Close the client a failed ``distributed.Client(...)`` leaves as the default: it
    stays "connecting", and every later dask computation in this process (the next
    ``main`` call, a fit on files) would wait for it forever."""
    from distributed.client import _get_global_client

    client = _get_global_client()
    if client is not None and client.status != "running":
        client.close()


def _check_distinct(paths: dict[str, Path | None]) -> None:
    """Refuse two outputs with one name: the second would silently replace the first."""
    seen: dict[Path, str] = {}
    for flag, path in paths.items():
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        if key in seen:
            raise UsageError(f"train: {seen[key]} and {flag} name the same file "
                             f"{str(path)!r}; give them different names")
        seen[key] = flag


def _restored_epoch(estimator) -> int | None:
    """The epoch whose weights early stopping restored, or None."""
    params = estimator.get_params()
    if not (params.get("early_stopping") and params.get("restore_best_weights")):
        return None
    best = _report.best_epoch(estimator.history_, params.get("validation_metric", "log_loss"))
    return None if best is None or best == estimator.n_iter_ else best


def _restored_note(estimator) -> str:
    epoch = _restored_epoch(estimator)
    note = "" if epoch is None else f"; weights of the best epoch, {epoch}, restored"
    temperature = _temperature(estimator)
    if temperature is not None:
        note += f"; probabilities calibrated with temperature {temperature:.3g}"
    return note


def _temperature(estimator) -> float | None:
    value = getattr(estimator, "temperature_", None)
    return None if value is None else float(value)


def _write_digits(model_path: Path, out: TextIO | None) -> tuple[list[str], list[str]]:
    """Write scikit-learn's digits as train/validation CSV files next to the model.

    Training then goes through the same streamed-file path as a user's data,
    so the first command of the README exercises the real thing.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.int64)   # 0..16 grey levels: integers read back exactly
    rows = np.arange(len(y))
    train_rows, valid_rows = train_test_split(rows, test_size=0.25, stratify=y, random_state=0)
    folder = model_path.with_name(model_path.stem + "-digits")
    folder.mkdir(exist_ok=True)
    paths = {"train": folder / "train.csv", "valid": folder / "valid.csv"}
    for name, index in (("train", np.sort(train_rows)), ("valid", np.sort(valid_rows))):
        columns = {f"pixel_{j}": X[index, j] for j in range(X.shape[1])}
        columns[DIGITS_TARGET] = y[index]
        pa_csv.write_csv(pa.table(columns), paths[name])
    if out is not None:
        print(f"No DATA given: training on scikit-learn's digits (8x8 images, 10 classes), "
              f"written to {paths['train']} ({len(train_rows)} rows) and {paths['valid']} "
              f"({len(valid_rows)} rows), target column {DIGITS_TARGET!r}.\n", file=out)
    return [str(paths["train"])], [str(paths["valid"])]


def _quote(path) -> str:
    return shlex.quote(str(path))
