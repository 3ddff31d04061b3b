"""Things the loop calls once per epoch: user callbacks and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from xentlearn._types import Params


class EpochRecord(NamedTuple):
    """One line of the training history.

    train_loss is the objective (mean loss + penalty); for mini-batches, the
    average over the epoch's batches, each at the parameters it was computed
    with (scikit-learn's MLP reports the same). val_loss is the plain mean
    log-loss on the validation data, val_accuracy its weighted accuracy.
    """

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float


Callback = Callable[[EpochRecord, Params], bool | None]


def call_callbacks(callbacks: Sequence, record: EpochRecord, params: Params) -> bool:
    """Run every callback (a callable, or an object with ``on_epoch_end``); True if any says stop."""
    stop = False
    for callback in callbacks:
        fn = getattr(callback, "on_epoch_end", callback)
        stop = bool(fn(record, params)) or stop
    return stop


class ProgressBar:
    """A tqdm bar on stderr: epochs, batches, loss, validation loss, learning rate."""

    def __init__(self, total_epochs: int, batches_per_epoch: int, enabled: bool,
                 unit: str = "batch"):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_epochs * batches_per_epoch, unit=unit,
                             file=sys.stderr, dynamic_ncols=True, leave=True)
            self._bar.set_description("epoch 1")

    def batch_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def epoch_done(self, record: EpochRecord) -> None:
        if self._bar is None:
            return
        postfix = {"loss": f"{record.train_loss:.4g}", "lr": f"{record.learning_rate:.3g}"}
        if record.val_loss is not None:
            postfix["val_loss"] = f"{record.val_loss:.4g}"
        self._bar.set_description(f"epoch {record.epoch}", refresh=False)
        self._bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
