"""``xentlearn train`` and ``info`` end to end: files, bundled data, config, history, plot."""

from __future__ import annotations

import csv
import json
import shlex

import numpy as np
import pytest

from xentlearn.cli import main
from tests.cli import (CLASSES, confusion_rows, make_table, run_cli, summary_row, write_csv,
                       write_parquet)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    train, valid = make_table(400, seed=0), make_table(150, seed=1)
    return {"folder": folder, "train": train, "valid": valid,
            "train_csv": write_csv(train, folder / "train.csv"),
            "valid_csv": write_csv(valid, folder / "valid.csv")}


def read_history(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_train_csv_numeric_categorical_string_target(tables, tmp_path):
    result = run_cli("train", tables["train_csv"], "--target", "species", "--validation",
                     tables["valid_csv"], "--solver", "adam", "--learning-rate-init", "0.05",
                     "--max-iter", "15", "--batch-size", "64", "--random-state", "0",
                     "--out", "m.xent", cwd=tmp_path)
    assert (tmp_path / "m.xent").is_file()
    _, train_acc, train_rows = summary_row(result.stdout, "train")
    val_loss, val_acc, val_rows = summary_row(result.stdout, "validation")
    assert (train_rows, val_rows) == (400, 150)
    # 3% label noise: a working model is well above chance (1/3) on both.
    assert train_acc > 0.85 and val_acc > 0.85
    assert 0.0 < val_loss < 0.6
    # The per-class table and the confusion matrix speak the string labels, and
    # the matrix accounts for every validation row.
    for label in CLASSES:
        assert f"\n{label} " in result.stdout
    confusion = confusion_rows(result.stdout, CLASSES)
    assert confusion.sum() == 150
    assert np.trace(confusion) / 150 == pytest.approx(val_acc, abs=1e-4)
    # The progress bar went to stderr while training.
    assert "epoch" in result.stderr and "val_loss" in result.stderr

    history = read_history(tmp_path / "m.history.csv")
    assert [int(r["epoch"]) for r in history] == list(range(1, 16))
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy",
                               "learning_rate", "seconds"}
    assert all(float(r["val_loss"]) > 0 and float(r["learning_rate"]) == 0.05 for r in history)
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])


def test_train_without_data_uses_bundled_digits_and_evaluate_command_works(tmp_path):
    result = run_cli("train", "--solver", "adam", "--max-iter", "8", "--learning-rate-init",
                     "0.01", "--random-state", "0", cwd=tmp_path)
    train_csv, valid_csv = tmp_path / "model-digits" / "train.csv", tmp_path / "model-digits" / "valid.csv"
    # 1797 digits split 75/25, one header line each.
    assert len(train_csv.read_text().splitlines()) == 1347 + 1
    assert len(valid_csv.read_text().splitlines()) == 450 + 1
    assert (tmp_path / "model.xent").is_file() and (tmp_path / "model.history.csv").is_file()
    assert summary_row(result.stdout, "validation")[1] > 0.85

    # The report ends with the command to run next; run it literally.
    next_line = [line for line in result.stdout.splitlines() if line.startswith("Next: ")][-1]
    command = shlex.split(next_line.removeprefix("Next: "))
    assert command[:2] == ["xentlearn", "evaluate"]
    evaluated = run_cli(*command[1:], cwd=tmp_path)
    assert summary_row(evaluated.stdout, "data")[1:] == summary_row(result.stdout,
                                                                     "validation")[1:]


def test_train_folder_of_parquet_files_mlp_and_info(tables, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    train = tables["train"]
    for i, start in enumerate(range(0, 400, 150)):
        write_parquet(train.slice(start, 150), folder / f"part-{i}.parquet")
    run_cli("train", folder, "--target", "species", "--model", "mlp", "--hidden-layer-sizes",
            "8,4", "--activation", "tanh", "--max-iter", "3", "--random-state", "1", "--quiet",
            "--out", "mlp.xent", cwd=tmp_path)
    described = json.loads(run_cli("info", "mlp.xent", "--json", cwd=tmp_path).stdout)
    assert described["estimator"] == "MLPClassifier"
    assert described["classes"] == list(CLASSES)
    # x1, x2 and the 3 one-hot colours feed the first layer.
    assert described["parameter_shapes"]["coefs_[0]"] == [5, 8]
    assert described["parameter_shapes"]["coefs_[2]"] == [4, 3]
    assert [c["name"] for c in described["features"]] == ["x1", "x2", "color"]
    assert described["features"][2]["kind"] == "categorical"
    assert sorted(described["features"][2]["categories"]) == ["blue", "green", "red"]
    assert described["params"]["activation"] == "tanh"
    assert described["training"]["epochs"] == 3
    assert described["training"]["final_val_loss"] is None   # no --validation given

    text = run_cli("info", "mlp.xent", cwd=tmp_path).stdout
    assert "MLPClassifier, 3 classes" in text and "classes: ant, bee, cat" in text
    assert "color" in text and "3 categories" in text and "coefs_[0] (5, 8)" in text


def test_config_file_keys_are_options_and_flags_override(tables, tmp_path):
    (tmp_path / "run.toml").write_text(
        f"""
        data = ["{tables['train_csv'].as_posix()}"]
        validation = "{tables['valid_csv'].as_posix()}"
        target = "species"
        model = "mlp"
        hidden_layer_sizes = [7]
        solver = "sgd"
        max-iter = 6
        learning_rate_init = 0.02
        class_weight = {{ ant = 2, bee = 1 }}
        dtype = "float32"
        early_stopping = false
        out = "from_config.xent"
        quiet = true
        """)
    run_cli("train", "--config", "run.toml", "--max-iter", "2", cwd=tmp_path)
    described = json.loads(run_cli("info", "from_config.xent", "--json", cwd=tmp_path).stdout)
    params = described["params"]
    assert params["max_iter"] == 2                       # the flag wins over the file
    assert params["hidden_layer_sizes"] == [7]
    assert params["solver"] == "sgd" and params["learning_rate_init"] == 0.02
    assert params["dtype"] == "float32"
    assert params["class_weight"] == {"ant": 2.0, "bee": 1.0}
    assert described["training"]["epochs"] == 2
    assert described["training"]["final_val_loss"] is not None   # validation came from the file


def test_class_weight_labels_match_integer_target_column(tmp_path):
    import pyarrow as pa

    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    table = pa.table({"x": x, "y": (x > 0).astype(np.int64)})
    data = write_csv(table, tmp_path / "ints.csv")
    run_cli("train", data, "--target", "y", "--class-weight", "1=3", "--max-iter", "5",
            "--quiet", cwd=tmp_path)
    described = json.loads(run_cli("info", "model.xent", "--json", cwd=tmp_path).stdout)
    # "1" on the command line is the integer class 1 of the CSV column.
    assert described["classes"] == [0, 1]
    assert described["params"]["class_weight"] == {"1": 3.0}


def test_plot_is_a_real_image_of_loss_accuracy_reliability_and_rate(tables, tmp_path,
                                                                    monkeypatch, capsys):
    import matplotlib.image

    monkeypatch.chdir(tmp_path)
    assert main(["train", str(tables["train_csv"]), "--target", "species", "--validation",
                 str(tables["valid_csv"]), "--solver", "adam", "--learning-rate", "cosine",
                 "--max-iter", "12", "--quiet", "--plot", "curves.png"]) == 0
    image = matplotlib.image.imread(tmp_path / "curves.png")      # float RGBA in [0, 1]
    # Three panels side by side, and a fourth row for the learning rate, which changes.
    assert image.shape[:2] == (650, 1500)
    rgb = (image[..., :3] * 255).round().astype(int)
    non_white = np.any(rgb < 250, axis=-1).mean()
    assert 0.01 < non_white < 0.5          # drawn on, but not a solid block

    def pixels_of(color):
        return int(np.all(np.abs(rgb - np.array(color)) <= 12, axis=-1).sum())

    # The train curve (tab:blue), the validation curves and reliability diagram
    # (tab:orange) and the learning rate (tab:green) are each drawn with many pixels.
    assert pixels_of((31, 119, 180)) > 200
    assert pixels_of((255, 127, 14)) > 400
    assert pixels_of((44, 160, 44)) > 100

    # (A constant learning rate has no panel: see the test below.)
    capsys.readouterr()


def test_plot_panels_log_loss_axis_restored_epoch_and_reliability(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from xentlearn.cli import _report
    from xentlearn.cli._metrics import score_batches

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)     # keep the figure to look at it
    # A loss that falls from 2 to 0.01 spans more than a decade: log axis.
    history = [{"epoch": e, "train_loss": 2.0 * 0.5 ** e, "val_loss": 2.1 * 0.6 ** e,
                "val_accuracy": min(0.5 + 0.05 * e, 0.9), "learning_rate": 0.1, "seconds": 0.0}
               for e in range(1, 9)]
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1], 200)
    truth = (rng.random(200) < proba[:, 1]).astype(int)
    metrics = score_batches([(proba.argmax(1), proba, truth)], np.array([0, 1]), target="y")
    _report.plot_history(history, tmp_path / "p.png", title="t", reliability=metrics,
                         restored_epoch=5, final_accuracy={"train": 0.8})
    (figure,) = figures
    loss, accuracy, reliability = figure.axes        # no learning-rate panel: it is constant
    assert tuple(figure.get_size_inches()) == (15, 5)
    assert loss.get_yscale() == "log" and accuracy.get_yscale() == "linear"
    for ax in (loss, accuracy):
        assert any("restored best epoch (5)" in label for label in ax.get_legend_handles_labels()[1])
    assert "ECE" in reliability.get_title()
    # The diagram's points are the calibration bins: mean confidence against accuracy.
    points = [line for line in reliability.get_lines() if line.get_label() == "validation data"]
    seen = metrics.bin_count > 0
    np.testing.assert_allclose(points[0].get_xdata(), metrics.bin_confidence[seen])
    np.testing.assert_allclose(points[0].get_ydata(), metrics.bin_accuracy[seen])
