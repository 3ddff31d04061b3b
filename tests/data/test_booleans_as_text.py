"""A column of true/false with a few markers ("?") is told, as numbers with markers are."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pytest

from xentlearn.data._tabular import ColumnWarning, TabularPreprocessor


def _flags(n: int = 200, markers=None, spell=("true", "false"), seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    values = [spell[0] if v else spell[1] for v in rng.integers(0, 2, n)]
    for row, text in (markers or {}).items():
        values[row] = text
    return values


def _told(values: list[str], **kwargs) -> list[ColumnWarning]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pre = TabularPreprocessor(**kwargs).fit([pa.table({"flag": values})])
    return pre, [w.message for w in caught if isinstance(w.message, ColumnWarning)
                 and w.message.problem in ("booleans_as_text", "numbers_as_text")]


@pytest.mark.parametrize("spell", [("true", "false"), ("True", "False"), ("TRUE", "0")])
def test_booleans_with_a_few_markers_are_named(spell):
    values = _flags(markers={3: "?", 50: "?", 120: "-"}, spell=spell)
    pre, found = _told(values)
    assert pre.kinds_ == ["categorical"]
    assert len(found) == 1 and found[0].problem == "booleans_as_text", found
    assert found[0].columns == ["flag"]
    message = str(found[0])
    assert "'flag' ('?' in 2, '-' in 1 of 200 rows)" in message, message
    assert "one-hot encoded" in message and "na_values=['?', '-'] (and impute='mean')" in message
    assert "read as booleans" in message


def test_booleans_declared_missing_are_not_told_and_csv_reads_them(tmp_path):
    from xentlearn import LogisticRegression
    from xentlearn.data import TableFiles

    values = _flags(markers={3: "?", 50: "?"})
    path = tmp_path / "d.csv"
    path.write_text("flag,x,label\n" + "".join(
        f"{v},{i / 200},{'a' if i % 3 else 'b'}\n" for i, v in enumerate(values)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = LogisticRegression(max_iter=3).fit(TableFiles(path, target="label"))
    assert [w.message.problem for w in caught if isinstance(w.message, ColumnWarning)] \
        == ["booleans_as_text"]
    assert clf._preprocessor.kinds_[0] == "categorical"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = LogisticRegression(max_iter=3).fit(
            TableFiles(path, target="label", na_values=["?"], impute="mean"))
    assert not [w for w in caught if isinstance(w.message, ColumnWarning)]
    assert clf._preprocessor.kinds_[0] == "bool"


@pytest.mark.parametrize("values", [
    _flags(spell=("yes", "no"), markers={3: "?"}),            # not pyarrow's spellings
    _flags(markers={i: "?" for i in range(0, 200, 2)}),       # '?' in half the rows
    _flags(markers={i: f"t{i}" for i in range(4)}),          # more than 5 non-numbers in all
    _flags(markers={3: "7"}),                                 # a number: not booleans
], ids=["yes-no", "half-the-rows", "many-values", "a-number"])
def test_other_columns_are_not_taken_for_booleans(values):
    _, found = _told(values)
    assert [w for w in found if w.problem == "booleans_as_text"] == []


def test_cli_says_the_flag(tmp_path, capsys):
    from xentlearn.cli import main

    values = _flags(markers={3: "?", 50: "?"})
    path = tmp_path / "d.csv"
    path.write_text("flag,x,label\n" + "".join(
        f"{v},{i / 200},{'a' if i % 3 else 'b'}\n" for i, v in enumerate(values)))
    code = main(["train", str(path), "--target", "label", "--max-iter", "3", "--quiet",
                 "--out", str(tmp_path / "m.xent")])
    assert code == 0
    told = [line for line in capsys.readouterr().err.splitlines() if "of booleans" in line]
    assert len(told) == 1 and "'flag' ('?' in 2 of 200 rows)" in told[0], told
    assert "--na-values '?' (and --impute mean)" in told[0] and "na_values=" not in told[0]
