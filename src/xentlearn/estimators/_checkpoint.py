"""Checkpoints of a running fit (DESIGN §6): write, check and resume.

A checkpoint is a model-format file (``xentlearn.io``: a zip of .npy arrays and
JSON, no pickle, bounded loading) holding the ``TrainState`` and what makes it
belong to one fit: the estimator's hyperparameters, the data's shape, classes
and a fingerprint of its first rows, and the random generator's state at the
start of the fit. Resuming redoes the fit's deterministic prologue (validation
split, initialisation, preconditioner) from that generator state, checks the
data, then continues from the saved state: the result is bit-identical to a
run that was never interrupted.

Writes are atomic (``io.write``: a temporary file renamed over PATH), so a
killed process leaves the previous checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from xentlearn import io
from xentlearn._checks import python_scalar
from xentlearn._types import DataSource
from xentlearn.estimators._file_schema import CHECKPOINT_KIND
from xentlearn.estimators._persistence import nonfinite_state_entry
from xentlearn.exceptions import CheckpointError, ModelFileError, XentlearnInputError
from xentlearn.training import (TrainState, generator_from_state, rng_state, rng_state_from_json,
                                rng_state_to_json, state_from_parts, state_to_parts)

# Hyperparameters that do not change what training computes.
# sync_every: the Dask layout records the value a fit resolved (parameter or config key).
_IGNORED = ("verbose", "callbacks", "checkpoint", "checkpoint_interval", "sync_every")
# Rows hashed for the data fingerprint: enough to tell data sets apart, cheap to read.
_FINGERPRINT_ROWS = 1024


class Checkpoint:
    """The checkpoint of one fit: `due` (interval elapsed) and `save` for the loop.

    Parameters
    ----------
    path : path of the checkpoint file
    interval : float or None
        Seconds between mid-epoch saves; None saves at epoch ends only.
    fit_meta : dict
        Hyperparameters and the generator's state at the start of the fit.
    """

    def __init__(self, path, interval: float | None, fit_meta: dict):
        self.path = Path(path)
        self.interval = interval
        self.fit_meta = dict(fit_meta)
        self.stored: tuple[dict, dict] | None = None     # (arrays, meta) when resuming
        self._last = time.monotonic()

    @classmethod
    def open(cls, estimator, rng: np.random.Generator) -> "Checkpoint":
        """The checkpoint of `estimator`'s fit; reads PATH if it exists and refuses one of
        other hyperparameters (``CheckpointError`` naming them)."""
        params = _hyperparameters(estimator)
        name = type(estimator).__name__
        checkpoint = cls(estimator.checkpoint, estimator.checkpoint_interval,
                         {"estimator": name, "params": params, "start_rng_state": None})
        if checkpoint.path.exists():
            checkpoint.stored = checkpoint._read()
            meta = checkpoint.stored[1]
            fit = meta.get("fit")
            if not isinstance(fit, dict) or not isinstance(fit.get("params"), dict):
                raise CheckpointError(f"{checkpoint.path} is not a xentlearn checkpoint of a fit")
            if fit.get("estimator") != name:
                raise CheckpointError(
                    f"checkpoint {checkpoint.path} is of a {fit.get('estimator')} fit, not a "
                    f"{name} one: pass another checkpoint path, or delete the file")
            stored = _comparable(fit["params"])
            differ = sorted(set(params) | set(stored))
            differ = [k for k in differ if params.get(k) != stored.get(k)]
            if differ:
                shown = "; ".join(f"{k}: checkpoint {_shown(stored.get(k))}, now "
                                  f"{_shown(params.get(k))}" for k in differ[:5])
                raise CheckpointError(
                    f"checkpoint {checkpoint.path} was written with other hyperparameters "
                    f"({shown}): resume with the same ones, or delete the file to start over")
            # An int seed is a hyperparameter, compared above. None, a Generator or a
            # RandomState resume from the generator state stored at the checkpointed fit's
            # start: a generator object that fit advanced, given again after an interrupt,
            # continues that fit.
            checkpoint.fit_meta["start_rng_state"] = fit.get("start_rng_state")
        else:
            # Found now, not after the first epoch's work.
            folder = checkpoint.path.parent
            if not folder.is_dir():
                raise CheckpointError(f"checkpoint={str(checkpoint.path)!r}: there is no "
                                      f"folder {str(folder)!r} to write it in")
            checkpoint.fit_meta["start_rng_state"] = rng_state_to_json(rng_state(rng))
        return checkpoint

    @property
    def resuming(self) -> bool:
        return self.stored is not None

    def start_generator(self) -> np.random.Generator:
        """The generator in the state it had at the start of the checkpointed fit."""
        try:
            return generator_from_state(rng_state_from_json(self.fit_meta["start_rng_state"]))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise CheckpointError(f"checkpoint {self.path}: bad generator state ({exc})") from None

    def bind_data(self, source: DataSource, classes: np.ndarray, task: str,
                  validation: DataSource | None, params: dict, layout: dict) -> None:
        """Record (or, when resuming, check) the data's shape, classes and fingerprint, the
        validation data's rows and fingerprint, a digest of the starting parameters
        (a fresh initialisation is the same in a resumed fit; warm_start's are the user's)
        and the backend's `layout` (``Backend.layout``: a Dask fit's parts, workers and
        sync_every)."""
        data = {"n_samples": int(source.n_samples), "n_features": int(source.n_features),
                "task": task, "classes": [python_scalar(c) for c in classes],
                "fingerprint": fingerprint(source),
                "validation": None if validation is None else
                [int(validation.n_samples), fingerprint(validation)],
                "start": _digest(params), "layout": layout}
        if self.resuming:
            stored = self.stored[1]["fit"].get("data", {})
            if not isinstance(stored, dict) or not isinstance(stored.get("layout", {}), dict):
                raise CheckpointError(f"checkpoint {self.path}: its 'fit.data' is malformed; "
                                      "delete the file to start over")
            # First: a fit elsewhere may also see the same rows in another form.
            if stored.get("layout", layout) != layout:
                raise CheckpointError(
                    f"checkpoint {self.path} was written by a fit {_described(stored['layout'])}"
                    f"; this one runs {_described(layout)}, which would not continue it bit for "
                    "bit: resume it as it was written, or delete the file to start over")
            names = {"n_samples": "number of rows", "n_features": "number of features",
                     "task": "task", "classes": "classes",
                     "fingerprint": "first rows (fingerprint)",
                     "validation": "validation rows (number, fingerprint)"}
            for key, what in names.items():
                if key not in stored and key == "validation":
                    continue            # written before it was recorded
                if stored.get(key) != data[key]:
                    shown = ("" if key in ("fingerprint", "validation") else
                             f": checkpoint {stored.get(key)!r}, now {data[key]!r}")
                    raise CheckpointError(
                        f"checkpoint {self.path} was written for other data ({what} differ"
                        f"{shown}): resume on the same data, or delete the file to start over")
            if stored.get("start", data["start"]) != data["start"]:
                raise CheckpointError(
                    f"checkpoint {self.path} was written by a fit from other starting "
                    f"coefficients (warm_start): resume from the same ones, or delete the file "
                    f"to start over")
        self.fit_meta["data"] = data

    def restore(self, template: TrainState, batches_per_epoch: int | None = None) -> TrainState:
        """The saved state, checked entry by entry against `template` (a fresh initial state);
        a NaN or inf that training never stores (``nonfinite_state_entry``) is refused, and
        so is a position in the epoch past its `batches_per_epoch` (when given)."""
        arrays, meta = self.stored
        bad = nonfinite_state_entry(arrays, template, "state")
        if bad is not None:
            raise CheckpointError(
                f"checkpoint {self.path} cannot be resumed: {bad[0]} holds {bad[1]}; it was "
                f"left as it is: delete it to start over")
        try:
            state = state_from_parts(arrays, meta["state"], template)
        except (XentlearnInputError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint {self.path} does not fit this model ({exc}); delete it to start "
                f"over") from None
        # batch == batches_per_epoch: saved after the epoch's last step, before its end.
        if batches_per_epoch is not None and state.batch > batches_per_epoch:
            raise CheckpointError(
                f"checkpoint {self.path} does not fit this model (it is {state.batch} batches "
                f"into an epoch of {batches_per_epoch}); delete it to start over")
        return state

    def due(self) -> bool:
        return self.interval is not None and time.monotonic() - self._last >= self.interval

    def save(self, state: TrainState) -> None:
        arrays, state_meta = state_to_parts(state)
        # Stored, not deflated: written at every epoch end (an L-BFGS iteration), where
        # deflating the state's floats cost several times the rest of the write.
        io.write(self.path, arrays,
                 {"kind": CHECKPOINT_KIND, "fit": self.fit_meta, "state": state_meta},
                 compress=False)
        self._last = time.monotonic()

    def remove(self) -> None:
        """After a successful fit: the checkpoint is done with."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _read(self) -> tuple[dict, dict]:
        try:
            arrays, meta = io.read(self.path)
        except ModelFileError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} cannot be read ({exc}); it was left as it is: delete "
                f"it to start over") from None
        if meta.get("kind") != CHECKPOINT_KIND:
            what = ("a model file (xentlearn.load reads it)" if "estimator" in meta
                    else f"a xentlearn file of kind {meta.get('kind')!r}")
            raise CheckpointError(
                f"{self.path} is {what}, not a checkpoint; it was left as it is: pass "
                f"another checkpoint path")
        return arrays, meta


def _digest(params: dict) -> str:
    """sha256 of the parameters' names, shapes, dtypes and bytes, in key order."""
    digest = hashlib.sha256()
    for key, value in params.items():
        value = np.ascontiguousarray(value)
        digest.update(f"{key}:{value.shape}:{value.dtype.str};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def fingerprint(source: DataSource) -> str:
    """sha256 of the first rows (features, targets, weights) in the source's block order."""
    digest = hashlib.sha256()
    rows = 0
    # Data on a Dask cluster cuts its first rows where they are (the same blocks).
    head = getattr(source, "head", None)
    for batch in (head(_FINGERPRINT_ROWS) if head is not None else source.batches(None)):
        take = min(batch.X.shape[0], _FINGERPRINT_ROWS - rows)
        X = batch.X[:take]
        if sp.issparse(X):
            X = X.tocsr()
            for part in (X.data, X.indices, X.indptr):
                digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(np.ascontiguousarray(X).tobytes())
        digest.update(np.ascontiguousarray(batch.targets[:take]).tobytes())
        if batch.sample_weight is not None:
            digest.update(np.ascontiguousarray(batch.sample_weight[:take]).tobytes())
        rows += take
        if rows >= _FINGERPRINT_ROWS:
            break
    return digest.hexdigest()


def _hyperparameters(estimator) -> dict:
    from xentlearn.estimators._persistence import _json_params

    params = _json_params(estimator)
    # The step training takes, not None: a default that changes between versions
    # must not change a resumed run silently.
    params["learning_rate_init"] = estimator._learning_rate_init()
    return _comparable({k: v for k, v in params.items() if k not in _IGNORED})


def _comparable(params: dict) -> dict:
    """`params` with class_weight's [label, weight] pairs in one order: the same dict
    given in another key order is the same hyperparameter."""
    weights = params.get("class_weight")
    if isinstance(weights, dict) and isinstance(weights.get("pairs"), list):
        try:
            pairs = sorted(weights["pairs"], key=lambda pair: (type(pair[0]).__name__,
                                                                str(pair[0])))
        except (TypeError, IndexError, KeyError):
            return params       # malformed: compared as stored, so it differs
        params = dict(params, class_weight={"pairs": pairs})
    return params


def _shown(value) -> str:
    """A hyperparameter as the user gave it: class_weight's pairs as a dict."""
    if isinstance(value, dict) and isinstance(value.get("pairs"), list):
        try:
            return repr({label: weight for label, weight in value["pairs"]})
        except (TypeError, ValueError):
            pass
    return repr(value)


def _described(layout: dict) -> str:
    """A backend layout in words: "on a Dask cluster (3 parts of 2000, 1000, 4000 rows;
    2 workers, parts [[0], [1, 2]]; sync_every 50)"."""
    if layout.get("backend") != "dask":
        return "in this process (not on a Dask cluster)"
    try:
        words = [f"{len(layout['part_rows'])} parts of {_rows(layout['part_rows'])}"]
        if "shards" in layout:
            n = len(layout["shards"])
            words.append(f"{n} worker{'' if n == 1 else 's'}, parts {layout['shards']}")
            words.append(f"sync_every {layout['sync_every']}")
    except (KeyError, TypeError):       # a layout the file holds, written by hand
        return "on a Dask cluster (a layout this version cannot read)"
    return f"on a Dask cluster ({'; '.join(words)})"


def _rows(rows: list[int], limit: int = 6) -> str:
    """'300, 300 rows', or '300, 300, ... rows, 3000 in all' past `limit` parts."""
    if len(rows) <= limit:
        return ", ".join(map(str, rows)) + " rows"
    return ", ".join(map(str, rows[:limit])) + f", ... rows, {sum(rows)} in all"
