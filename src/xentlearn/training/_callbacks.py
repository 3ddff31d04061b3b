"""Things the loop calls once per epoch: user callbacks and the progress bar."""

from __future__ import annotations

import sys
import time
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
# Where stderr is a log file or a pipe: a line at most this often (seconds).
LOG_LINE_SECONDS = 5.0


class ProgressBar:
    """A tqdm bar on stderr, or lines in a log.

    Mini-batches: batches out of the epochs' total, with the loss, validation
    loss and learning rate. Full batch (L-BFGS): an iteration counter without
    a total (a quasi-Newton method usually converges long before max_iter, so
    a percentage of max_iter would mislead), with the loss and the largest
    gradient entry, the quantity that decides convergence; no learning rate.

    Where stderr is not a terminal (a log file, a pipe, a batch job's output)
    and not a notebook, a bar redrawn with carriage returns would make one
    endless line: it writes whole lines instead, as Keras's ``verbose=2`` does,
    "epoch 3/40: loss=0.5159, lr=0.001, val_loss=0.62 (00:04)": the first epoch,
    then at most one every ``LOG_LINE_SECONDS``, and the last.
    """

    def __init__(self, total_epochs: int, batches_per_epoch: int | None, enabled: bool,
                 unit: str = "batch", *, first_epoch: int = 1, batches_done: int = 0):
        """`total_epochs` epochs from `first_epoch` on, `batches_done` of its batches
        already taken (a run resumed from a checkpoint: the bar starts where it was)."""
        self._bar = None
        self._full_batch = batches_per_epoch is None
        self._lines = enabled and not _redraws_lines(sys.stderr)
        if self._lines:
            self._last_epoch = first_epoch - 1 + total_epochs
            self._started = self._written = time.monotonic()
            self._pending: str | None = None
            self._first = True
        elif enabled:
            from tqdm.auto import tqdm

            total = None if self._full_batch else total_epochs * batches_per_epoch
            name = "iteration" if self._full_batch else "epoch"
            # Drawn only once it is ours to close: an interrupt (Ctrl-C, SIGTERM) that
            # arrives as the first line is written must find the bar closable, or
            # the line is finished after the CLI's "interrupted" instead of before.
            # tqdm draws nothing in its constructor while `delay` is unelapsed.
            # Without a total, the description carries the count: "iteration 5 (00:02,
            # loss=0.52, max|grad|=0.0065)", not tqdm's "iteration 5: : 5iteration [...]".
            bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True,
                       leave=True, desc=f"{name} {first_epoch}", initial=batches_done,
                       delay=_NOT_YET,
                       bar_format="{desc} ({elapsed}{postfix})" if self._full_batch else None)
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
        if self._bar is None and not self._lines:
            return
        postfix = {"loss": f"{record.train_loss:.4g}"}
        if self._full_batch:
            if max_gradient is not None:
                postfix["max|grad|"] = f"{max_gradient:.2g}"
        else:
            postfix["lr"] = f"{record.learning_rate:.3g}"
        if record.val_loss is not None:
            postfix["val_loss"] = f"{record.val_loss:.4g}"
        if self._lines:
            self._log_line(record.epoch, postfix)
            return
        if self._full_batch:
            self._bar.set_description_str(f"iteration {record.epoch}", refresh=False)
        else:
            self._bar.set_description(f"epoch {record.epoch}", refresh=False)
        self._bar.set_postfix(postfix, refresh=False)

    def _log_line(self, epoch: int, postfix: dict[str, str]) -> None:
        now = time.monotonic()
        minutes, seconds = divmod(int(now - self._started), 60)
        self._pending = (f"iteration {epoch}" if self._full_batch else
                         f"epoch {epoch}/{self._last_epoch}") + ": " + ", ".join(
            f"{key}={value}" for key, value in postfix.items()) + f" ({minutes:02d}:{seconds:02d})"
        if self._first or now - self._written >= LOG_LINE_SECONDS:
            self._write_pending(now)

    def _write_pending(self, now: float) -> None:
        if self._pending is not None:
            try:
                print(self._pending, file=sys.stderr, flush=True)
            except (BrokenPipeError, ValueError):
                # The reader of the log is gone (`2>&1 | head`), or it is closed: training
                # goes on, unreported, rather than ending with it.
                self._lines = False
        self._pending, self._written, self._first = None, now, False

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._lines:
            self._write_pending(time.monotonic())


def _redraws_lines(stream) -> bool:
    """Whether `stream` shows a bar redrawn with carriage returns: a terminal, or a
    Jupyter notebook (whose stderr is no terminal, but its output redraws)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):       # no isatty, or closed
        pass
    return "ipykernel" in sys.modules
