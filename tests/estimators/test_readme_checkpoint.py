"""The README's checkpoint example runs as written, without a warning (tests/test_readme.py
runs every block but lets warnings pass: a ConvergenceWarning there told readers that the
example itself was wrong)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_checkpoint_example_runs_without_a_warning(tmp_path, monkeypatch, capsys):
    blocks = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(),
                                             flags=re.S) if "checkpoint=" in block]
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)                  # it writes fit.ckpt while it trains
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(blocks[0], "README.md[checkpoint example]", "exec"), {})
    assert capsys.readouterr().out.endswith("epochs; checkpoint left behind: False\n")
    assert list(tmp_path.iterdir()) == []
