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


# A delay (seconds) that no constructor outlives: see ProgressBar.__init__.
_NOT_YET = 3600.0


class ProgressBar:
    """A tqdm bar on stderr.

    Mini-batches: batches out of the epochs' total, with the loss, validation
    loss and learning rate. Full batch (L-BFGS): an iteration counter without
    a total (a quasi-Newton method usually converges long before max_iter, so
    a percentage of max_iter would mislead), with the loss and the largest
    gradient entry, the quantity that decides convergence; no learning rate.
    """

    def __init__(self, total_epochs: int, batches_per_epoch: int | None, enabled: bool,
                 unit: str = "batch", *, first_epoch: int = 1, batches_done: int = 0):
        """`total_epochs` epochs from `first_epoch` on, `batches_done` of its batches
        already taken (a run resumed from a checkpoint: the bar starts where it was)."""
        self._bar = None
        self._full_batch = batches_per_epoch is None
        if enabled:
            from tqdm.auto import tqdm

            total = None if self._full_batch else total_epochs * batches_per_epoch
            name = "iteration" if self._full_batch else "epoch"
            # Drawn only once it is ours to close: an interrupt (Ctrl-C, SIGTERM) that
            # arrives as the first line is written must find the bar closable, or
            # the line is finished after the CLI's "interrupted" instead of before.
            # tqdm draws nothing in its constructor while `delay` is unelapsed.
            bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True,
                       leave=True, desc=f"{name} {first_epoch}", initial=batches_done,
                       delay=_NOT_YET)
            self._bar = bar
            try:
                bar.delay = 0.0
                bar.refresh()
            except BaseException:
                bar.close()
                raise

    def batch_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def epoch_done(self, record: EpochRecord, max_gradient: float | None = None) -> None:
        if self._bar is None:
            return
        postfix = {"loss": f"{record.train_loss:.4g}"}
        if self._full_batch:
            if max_gradient is not None:
                postfix["max|grad|"] = f"{max_gradient:.2g}"
        else:
            postfix["lr"] = f"{record.learning_rate:.3g}"
        if record.val_loss is not None:
            postfix["val_loss"] = f"{record.val_loss:.4g}"
        self._bar.set_description(
            f"iteration {record.epoch}" if self._full_batch else f"epoch {record.epoch}",
            refresh=False)
        self._bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
