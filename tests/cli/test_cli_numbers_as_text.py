"""The command line on a column of codes with a few '?' (UCI style): a warning in flags."""

from __future__ import annotations

import json

import numpy as np

from xentlearn.cli import main


def _write(path, n: int = 300) -> None:
    rng = np.random.default_rng(0)
    lines = ["size,nuclei,label"]
    for i in range(n):
        nuclei = "?" if i in (5, 120, 250) else str(rng.integers(1, 11))
        lines.append(f"{rng.normal():.4f},{nuclei},{'benign' if i % 3 else 'malignant'}")
    path.write_text("\n".join(lines) + "\n")


def test_a_few_question_marks_in_a_column_of_codes_are_told_in_flags(tmp_path, monkeypatch,
                                                                     capsys):
    _write(tmp_path / "cells.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "cells.csv", "--target", "label", "--quiet", "--out", "m.xent"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if "numbers that also hold a few text values" in line]
    assert len(warnings) == 1, warnings
    line = warnings[0]
    assert line.startswith("xentlearn: warning: ") and "'nuclei' ('?' in 3 of 300 rows)" in line
    assert "--na-values '?' (and --impute mean)" in line and "na_values=" not in line, line
    # The advice followed: the column is numeric, and nothing is said.
    assert main(["train", "cells.csv", "--target", "label", "--na-values", "?", "--impute",
                 "mean", "--quiet", "--out", "n.xent"]) == 0
    assert "numbers that also hold" not in capsys.readouterr().err
    assert main(["info", "n.xent", "--json"]) == 0
    features = json.loads(capsys.readouterr().out)["features"]
    assert [f["kind"] for f in features] == ["numeric", "numeric"]


def test_the_na_values_help_tells_booleans_and_parquet_text(capsys):
    # Since 2ee23fb true/false with a marker is told too; since f2fc873 a Parquet text
    # column of numbers is numeric only with declared tokens.
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    help_ = text[text.index("--na-values '?,NA,-' extra text"):text.index("--impute {none,mean} missing values")]
    assert "in a column of true/false, a warning too" in help_, help_
    assert ("Declared, the column is numeric, as is a Parquet text column of numbers "
            "(undeclared, it stays categories)") in help_, help_
    assert ("a CSV column of true/false is boolean (a Parquet text one: categories true, "
            "false)") in help_, help_


def test_a_parquet_folder_of_text_and_numbers_needs_na_values(tmp_path, monkeypatch, capsys):
    # pandas wrote the column as string in the file with '?' and as double in the other.
    from tests.data.test_text_and_numbers_files import pandas_folders

    pandas_folders(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "parquet", "--target", "label", "--quiet", "--out", "m.xent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xentlearn: error: column 'nuclei' is double in "), err
    assert "declare them, e.g. --na-values '?' (and --impute mean), and it is read as numbers" \
        in err, err
    assert main(["train", "parquet", "--target", "label", "--na-values", "?", "--impute",
                 "mean", "--quiet", "--out", "m.xent"]) == 0
    capsys.readouterr()
    assert main(["info", "m.xent", "--json"]) == 0
    features = json.loads(capsys.readouterr().out)["features"]
    assert [f["kind"] for f in features] == ["numeric", "numeric"]
