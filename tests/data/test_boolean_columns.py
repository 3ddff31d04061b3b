"""Boolean feature columns: 1 and 0, not standardised, alike from CSV, Parquet and DataFrames.

The behaviour this pins was already so (an audit asked whether booleans became 0/1
silently); these tests keep it explicit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

N = 80


def _flags() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(3)
    flag = rng.random(N) < 0.3
    x = rng.standard_normal(N)
    labels = ["yes" if f ^ (rng.random() < 0.1) else "no" for f in flag]
    return flag, x, labels


def _csv(path, flag, x, labels, spell) -> None:
    path.write_text("flag,x,label\n" + "".join(
        f"{spell(f, i)},{float(v)!r},{y}\n" for i, (f, v, y) in enumerate(zip(flag, x, labels))))


def _fit(table):
    return LogisticRegression(alpha=0.1, max_iter=50).fit(table)


def test_a_boolean_column_is_1_and_0_from_every_source(tmp_path):
    flag, x, labels = _flags()
    pq.write_table(pa.table({"flag": flag, "x": x, "label": labels}), tmp_path / "b.parquet")
    # pyarrow's spellings, mixed, and 1/0 among them: still one bool column.
    spellings = ("true", "True", "TRUE", "1"), ("false", "False", "FALSE", "0")
    _csv(tmp_path / "b.csv", flag, x, labels, lambda f, i: spellings[not f][i % 4])
    models = [_fit(TableFiles(tmp_path / name, target="label"))
              for name in ("b.parquet", "b.csv")]
    for model in models:
        pre = model._preprocessor
        assert pre.kinds_[0] == "bool" and pre.stds_["flag"] == 1.0
        assert pre.means_["flag"] == pytest.approx(flag.mean())
        assert pre.describe()[0]["text"] == "true = 1, false = 0"
    # The same preprocessing, so the same model, and each predicts alike on every source.
    np.testing.assert_allclose(models[0].coef_, models[1].coef_, rtol=1e-10)
    frame = pd.DataFrame({"flag": flag, "x": x})
    expected = models[0].predict_proba(TableFiles(tmp_path / "b.parquet"))
    for model in models:
        for data in (TableFiles(tmp_path / "b.csv"), TableFiles(tmp_path / "b.parquet"), frame):
            np.testing.assert_allclose(model.predict_proba(data), expected, rtol=1e-10)


@pytest.mark.parametrize("spell, kind", [
    (lambda f, i: "yes" if f else "no", "categorical"),
    (lambda f, i: "T" if f else "F", "categorical"),
    (lambda f, i: "1" if f else "0", "numeric"),
], ids=["yes-no", "T-F", "1-0"])
def test_other_spellings_are_text_or_numbers(tmp_path, spell, kind):
    flag, x, labels = _flags()
    _csv(tmp_path / "s.csv", flag, x, labels, spell)
    pre = _fit(TableFiles(tmp_path / "s.csv", target="label"))._preprocessor
    assert pre.kinds_[0] == kind
    if kind == "numeric":                       # a number: standardised
        assert pre.stds_["flag"] == pytest.approx(flag.std())


def test_bool_in_one_file_and_numbers_in_another_is_refused(tmp_path):
    flag, x, labels = _flags()
    pq.write_table(pa.table({"flag": flag[:40], "x": x[:40], "label": labels[:40]}),
                   tmp_path / "a.parquet")
    pq.write_table(pa.table({"flag": flag[40:].astype(float), "x": x[40:],
                             "label": labels[40:]}), tmp_path / "b.parquet")
    with pytest.raises(XentlearnInputError, match=r"column 'flag' is double in '.*b\.parquet' "
                                                  r"but bool in '.*a\.parquet'; expected the "
                                                  r"same kind"):
        _fit(TableFiles(tmp_path, target="label"))


def test_text_given_to_a_boolean_column_is_named_as_such(tmp_path):
    flag, x, labels = _flags()
    pq.write_table(pa.table({"flag": flag, "x": x, "label": labels}), tmp_path / "b.parquet")
    model = _fit(TableFiles(tmp_path / "b.parquet", target="label"))
    _csv(tmp_path / "yn.csv", flag, x, labels, lambda f, i: "yes" if f else "no")
    with pytest.raises(XentlearnInputError,
                       match=r"column 'flag' was boolean \(true = 1, false = 0\) when the "
                             r"preprocessing was fitted but now holds string values"):
        model.predict(TableFiles(tmp_path / "yn.csv"))


def test_a_boolean_column_takes_true_false_1_0_as_any_type_and_nothing_else(tmp_path):
    # 7.5 given to a boolean feature weighed 7.5 times true, silently; "False" read by
    # pandas as text failed though a CSV reader reads it as a boolean.
    flag, x, labels = _flags()
    pq.write_table(pa.table({"flag": flag, "x": x, "label": labels}), tmp_path / "b.parquet")
    model = _fit(TableFiles(tmp_path / "b.parquet", target="label"))
    expected = model.predict_proba(pd.DataFrame({"flag": flag, "x": x}))
    for given in (flag.astype(float), flag.astype(int), np.where(flag, " TRUE", "false"),
                  np.where(flag, "1", "0"), np.where(flag, "1.0", "0.0"),
                  np.where(flag, 1.0, -0.0), pd.Categorical(np.where(flag, "true", "false"))):
        np.testing.assert_array_equal(
            model.predict_proba(pd.DataFrame({"flag": given, "x": x})), expected)
    with pytest.raises(XentlearnInputError, match=r"column 'flag' was boolean .* now holds "
                                                  r"double values that are not true or false, "
                                                  r"such as 7.5"):
        model.predict(pd.DataFrame({"flag": np.where(flag, 7.5, 0.0), "x": x}))
    _csv(tmp_path / "n.csv", flag, x, labels, lambda f, i: "2" if i == 5 else int(f))
    with pytest.raises(XentlearnInputError, match=r"such as 2 \(first in row 6 of .*n.csv"):
        model.predict(TableFiles(tmp_path / "n.csv"))
    # A Parquet column written from a pandas Categorical is dictionary-encoded: its row.
    words = pd.Categorical(np.where(flag, "true", "false"))
    words[7] = "false"
    pd.DataFrame({"flag": words.add_categories("yes"), "x": x}).assign(
        flag=lambda f: f["flag"].where(np.arange(N) != 7, "yes")).to_parquet(tmp_path / "c.pq")
    with pytest.raises(XentlearnInputError, match=r"such as 'yes' \(first in row 8 of "):
        model.predict(TableFiles(tmp_path / "c.pq"))
