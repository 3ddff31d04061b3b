"""The progress bar and interrupts: a bar is always closed before the interrupt propagates;
lines instead of a bar where stderr is a log."""

from __future__ import annotations

import pytest
import tqdm.std

from xentlearn.training import EpochRecord, ProgressBar
from xentlearn.training import _callbacks


@pytest.fixture
def terminal(monkeypatch):
    """stderr as a terminal: tqdm's bar (capsys's stream is none)."""
    monkeypatch.setattr(_callbacks, "_redraws_lines", lambda stream: True)


def record(epoch, loss, val_loss=None, learning_rate=0.001):
    return EpochRecord(epoch=epoch, train_loss=loss, val_loss=val_loss, val_accuracy=None,
                       learning_rate=learning_rate, seconds=0.1)


def test_an_interrupt_as_the_first_line_is_drawn_leaves_the_bar_closed(terminal, capsys,
                                                                        monkeypatch):
    # The CLI's SIGTERM test sends the signal as soon as it reads the bar's first line,
    # which arrives while the bar is being made: the bar must end its line (close) before
    # the interrupt leaves ProgressBar, or the CLI's "terminated" lands inside the bar's
    # line and the bar's own final line comes after it.
    draw = tqdm.std.tqdm.refresh

    def draw_then_interrupt(self, *args, **kwargs):
        draw(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(tqdm.std.tqdm, "refresh", draw_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ProgressBar(3, 10, enabled=True)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "epoch 1" in err and err.endswith("\n")


def test_a_bar_draws_its_first_line_when_made(terminal, capsys):
    bar = ProgressBar(2, 5, enabled=True)
    assert "epoch 1:   0%" in capsys.readouterr().err
    bar.batch_done()
    bar.close()
    assert capsys.readouterr().err.endswith("\n")


def test_a_resumed_run_starts_its_bar_where_it_was(terminal, capsys):
    # A checkpoint of epoch 12 and 40 of its batches: the bar says epoch 13, 40 done.
    bar = ProgressBar(18, 100, enabled=True, first_epoch=13, batches_done=40)
    bar.close()
    err = capsys.readouterr().err
    assert "epoch 13:" in err and "40/1800" in err
    ProgressBar(5, None, enabled=True, unit="iteration", first_epoch=7).close()
    assert "iteration 7" in capsys.readouterr().err


def test_a_full_batch_bar_shows_the_iteration_once(terminal, capsys):
    bar = ProgressBar(10, None, enabled=True, unit="iteration")
    bar.batch_done()
    bar.epoch_done(record(1, 0.5159, learning_rate=1.0), max_gradient=0.0065)
    bar.close()
    last = capsys.readouterr().err.split("\r")[-1].strip()
    assert last.startswith("iteration 1 (00:00, loss=0.5159, max|grad|=0.0065)"), last


def test_a_log_gets_whole_lines_the_first_then_one_every_few_seconds_and_the_last(
        capsys, monkeypatch):
    clock = iter([100.0, 100.5, 101.0, 106.0, 107.0, 107.5])
    monkeypatch.setattr(_callbacks.time, "monotonic", lambda: next(clock))
    bar = ProgressBar(5, 10, enabled=True, first_epoch=2)        # 100.0
    for epoch, at in zip(range(2, 6), ["00:00", "00:01", "00:06", "00:07"]):
        bar.batch_done()
        bar.epoch_done(record(epoch, 1.0 / epoch, val_loss=2.0 / epoch))
    bar.close()                                                   # 107.5
    assert capsys.readouterr().err.splitlines() == [
        "epoch 2/6: loss=0.5, lr=0.001, val_loss=1 (00:00)",     # the first
        "epoch 4/6: loss=0.25, lr=0.001, val_loss=0.5 (00:06)",  # 5 s after it
        "epoch 5/6: loss=0.2, lr=0.001, val_loss=0.4 (00:07)"]   # the last, at close
    assert "\r" not in capsys.readouterr().err


def test_a_log_of_full_batch_iterations_has_no_total_and_no_learning_rate(capsys):
    bar = ProgressBar(100, None, enabled=True, unit="iteration")
    bar.epoch_done(record(1, 0.75), max_gradient=0.25)
    bar.close()
    bar.close()                                                   # nothing twice
    assert capsys.readouterr().err == "iteration 1: loss=0.75, max|grad|=0.25 (00:00)\n"


def test_a_notebook_redraws_its_bar(monkeypatch):
    class Log:
        def isatty(self):
            return False

    assert not _callbacks._redraws_lines(Log())
    monkeypatch.setitem(__import__("sys").modules, "ipykernel", object())
    assert _callbacks._redraws_lines(Log())


def test_a_log_whose_reader_is_gone_does_not_end_training(monkeypatch):
    # `xentlearn train ... 2>&1 | head -1`: the next line's BrokenPipeError ended the fit,
    # and the CLI took it for a closed stdout: exit 0 and no model (review).
    class GoneReader:
        writes = 0

        def write(self, text):
            GoneReader.writes += 1
            raise BrokenPipeError

        def flush(self):
            pass

        def isatty(self):
            return False

    monkeypatch.setattr("sys.stderr", GoneReader())
    bar = ProgressBar(3, 2, enabled=True)
    for epoch in (1, 2, 3):
        bar.epoch_done(record(epoch, 0.5))
    bar.close()
    assert GoneReader.writes == 1
