"""The progress bar and interrupts: a bar is always closed before the interrupt propagates."""

from __future__ import annotations

import pytest
import tqdm.std

from xentlearn.training import ProgressBar


def test_an_interrupt_as_the_first_line_is_drawn_leaves_the_bar_closed(capsys, monkeypatch):
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


def test_a_bar_draws_its_first_line_when_made(capsys):
    bar = ProgressBar(2, 5, enabled=True)
    assert "epoch 1:   0%" in capsys.readouterr().err
    bar.batch_done()
    bar.close()
    assert capsys.readouterr().err.endswith("\n")


def test_a_resumed_run_starts_its_bar_where_it_was(capsys):
    # A checkpoint of epoch 12 and 40 of its batches: the bar says epoch 13, 40 done.
    bar = ProgressBar(18, 100, enabled=True, first_epoch=13, batches_done=40)
    bar.close()
    err = capsys.readouterr().err
    assert "epoch 13:" in err and "40/1800" in err
    ProgressBar(5, None, enabled=True, unit="iteration", first_epoch=7).close()
    assert "iteration 7" in capsys.readouterr().err
