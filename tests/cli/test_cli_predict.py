"""``xentlearn predict`` and ``evaluate`` end to end, checked against the Python API and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

import xentlearn
from xentlearn.data import TableFiles
from tests.cli import (CLASSES, confusion_rows, make_table, run_cli, summary_row, write_csv,
                       write_parquet)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by the CLI, and new data as CSV and Parquet (two Parquet parts)."""
    folder = tmp_path_factory.mktemp("predict")
    write_csv(make_table(300, seed=0), folder / "train.csv")
    new = make_table(130, seed=7)
    write_csv(new, folder / "new.csv")
    (folder / "parts").mkdir()
    write_parquet(new.slice(0, 60), folder / "parts" / "a.parquet")
    write_parquet(new.slice(60), folder / "parts" / "b.parquet")
    run_cli("train", "train.csv", "--target", "species", "--solver", "adam",
            "--learning-rate-init", "0.05", "--max-iter", "10", "--random-state", "0",
            "--quiet", cwd=folder)
    model = xentlearn.load(folder / "model.xent")
    return {"folder": folder, "new": new, "model": model,
            "labels": model.predict(TableFiles(folder / "new.csv")),
            "proba": model.predict_proba(TableFiles(folder / "new.csv"))}


def read_output(path):
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    return pq.read_table(path) if path.suffix == ".parquet" else pa_csv.read_csv(path)


@pytest.mark.parametrize("data", ["new.csv", "parts"])
@pytest.mark.parametrize("out", ["pred.csv", "pred.parquet"])
def test_predict_writes_one_row_per_input_row_in_order(trained, data, out):
    folder = trained["folder"]
    result = run_cli("predict", "model.xent", data, "--out", out, "--proba", cwd=folder)
    assert "130 predictions" in result.stdout
    table = read_output(folder / out)
    assert table.column_names == ["prediction"] + [f"proba_{c}" for c in CLASSES]
    # Same labels and probabilities, row for row, as the Python API on the same rows.
    np.testing.assert_array_equal(table["prediction"].to_numpy(zero_copy_only=False),
                                  trained["labels"])
    proba = np.column_stack([table[f"proba_{c}"].to_numpy() for c in CLASSES])
    np.testing.assert_allclose(proba, trained["proba"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_predict_without_proba_and_to_stdout(trained):
    folder = trained["folder"]
    result = run_cli("predict", "model.xent", "new.csv", cwd=folder)
    lines = result.stdout.splitlines()
    assert lines[0] == '"prediction"'
    assert [line.strip('"') for line in lines[1:]] == list(trained["labels"])


def test_predict_evaluate_info_train_json_with_stdout_closed(trained):
    import os
    import subprocess

    from tests.cli import XENTLEARN

    folder = trained["folder"]
    for command in (["predict", "model.xent", "new.csv"], ["evaluate", "model.xent", "new.csv"],
                    ["info", "model.xent"], ["train", "--json", "--out", "json.xent"]):
        closed = subprocess.run([str(XENTLEARN), *command], cwd=folder, stderr=subprocess.PIPE,
                                text=True, timeout=120, preexec_fn=lambda: os.close(1))
        assert closed.returncode == 2, (command, closed.stderr)
        assert f"{command[0]}: standard output is closed" in closed.stderr
    assert not (folder / "json.xent").exists()


def test_proba_columns_spell_classes_as_the_prediction_column(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    for labels, names in (([True, False], ["false", "true"]), ([3.0, -1.0], ["-1", "3"])):
        y = np.where(x > 0, labels[0], labels[1])
        lines = ["x,y"] + [f"{a},{b}" for a, b in zip(x, y)]
        (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
        run_cli("train", "t.csv", "--target", "y", "--quiet", cwd=tmp_path)
        out = run_cli("predict", "model.xent", "t.csv", "--proba", cwd=tmp_path).stdout
        header, first = out.splitlines()[:2]
        assert header == '"prediction",' + ",".join(f'"proba_{n}"' for n in names)
        assert first.split(",")[0] in names


def test_predict_failure_leaves_no_partial_output(trained, tmp_path):
    folder = trained["folder"]
    bad = trained["new"].drop_columns(["color"])
    write_csv(bad, tmp_path / "bad.csv")
    out = tmp_path / "pred.csv"
    result = run_cli("predict", folder / "model.xent", tmp_path / "bad.csv", "--out", out,
                     cwd=tmp_path, check=False)
    assert result.returncode == 2 and "color" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.csv"]    # nor a temporary file


def test_evaluate_matches_sklearn_metrics(trained):
    folder = trained["folder"]
    # No --target: the model remembers the label column it was trained on.
    result = run_cli("evaluate", "model.xent", "parts", cwd=folder)
    truth = trained["new"]["species"].to_numpy(zero_copy_only=False)
    loss, accuracy, rows = summary_row(result.stdout, "data")
    assert rows == 130
    # The report prints 4 decimals.
    assert loss == pytest.approx(log_loss(truth, trained["proba"], labels=list(CLASSES)),
                                 abs=5.1e-5)
    assert accuracy == pytest.approx(accuracy_score(truth, trained["labels"]), abs=5.1e-5)
    np.testing.assert_array_equal(confusion_rows(result.stdout, CLASSES),
                                  confusion_matrix(truth, trained["labels"], labels=CLASSES))
    for heading in ("precision", "recall", "f1", "support", "macro avg", "weighted avg"):
        assert heading in result.stdout


def test_module_entry_point_runs(trained):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "xentlearn.cli", "info", "model.xent"],
                            cwd=trained["folder"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LogisticRegression, 3 classes" in result.stdout
