"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
@pytest.mark.filterwarnings("error")     # a user running an example sees no warning either
def test_readme_example_runs(index, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)    # examples may write files
    exec(compile(BLOCKS[index], f"README.md[block {index}]", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_importing_xentlearn_and_the_registry_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys, xentlearn; from xentlearn.estimators import SOLVERS, LEARNING_RATES; "
            "print('sklearn' in sys.modules, 'pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
