"""The command line on tables as people have them (issue #14), end to end, in-process.

A "messy" customer table: an integer customer id and a text "Individual ID"
(one value per row), a date column written day first, an age column with "?"
for unknown, a constant country, a categorical plan, a spend, and a yes/no
target. Every test runs ``xentlearn.cli.main`` as the installed command would.
"""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

import numpy as np
import pytest

import xentlearn
from xentlearn.cli import main
from xentlearn.data import TableFiles
from tests.cli import make_table, summary_columns, write_csv

# new.csv has a plan ("gold") that training never saw: the Python API warns about it
# where these tests compare with it (the CLI's own report of it is tested below).
pytestmark = pytest.mark.filterwarnings("ignore::xentlearn.data.UnseenCategoryWarning")


def write_messy(path: Path, n: int, seed: int, *, plans=("basic", "pro", "family")) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["customer_id", "Individual ID", "signup", "age", "plan", "country",
                         "monthly_spend", "churned"])
        for i in range(n):
            age = int(rng.integers(18, 80))
            spend = float(rng.gamma(2.0, 30.0))
            plan = str(rng.choice(plans))
            signup = datetime.date(2020, 1, 1) + datetime.timedelta(days=int(rng.integers(1500)))
            logit = 0.06 * (50 - age) + 1.5 * (plan == "basic") - spend / 40
            churned = rng.random() < 1.0 / (1.0 + np.exp(-logit))
            writer.writerow([10_000 + 7 * i, f"IND-{rng.integers(10**9):09d}",
                             signup.strftime("%d/%m/%Y"), "?" if i % 17 == 3 else age, plan, "NZ",
                             f"{spend:.2f}", "yes" if churned else "no"])
    return path


# The flags that make the messy table trainable.
CLEAN = ["--dates", "expand", "--na-values", "?", "--impute", "mean",
         "--drop", "Individual ID", "country", "--id", "customer_id"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    write_messy(folder / "customers.csv", 300, seed=0)
    write_messy(folder / "new.csv", 60, seed=1, plans=("basic", "pro", "gold"))
    return folder


@pytest.fixture
def cli(folder, monkeypatch, capsys):
    """Run ``xentlearn ARGS`` in the fixture folder: (stdout, stderr), status checked."""
    monkeypatch.chdir(folder)

    def run(*args, status=0):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        assert code == status, (code, captured.out, captured.err)
        return captured.out, captured.err

    return run


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xentlearn: error: "), err
    return lines[0]


def read_csv(path):
    import pyarrow.csv as pa_csv

    return pa_csv.read_csv(path)


# ----------------------------------------------------------------- columns
def test_column_names_holding_commas_are_taken_whole(cli, folder):
    # A value that is exactly a column name is one column; otherwise it is split at
    # its commas. Before, "b, col" always split, and no way to name the column was left.
    (folder / "commas.csv").write_text(
        '"a col","b, col","c",label\n'
        + "".join(f"{i / 10},{'uv'[i % 2]},{i % 3},{'ny'[(i // 2) % 2]}\n" for i in range(24)))

    def columns(*flags, config=None):
        args = ["train", "commas.csv", "--target", "label", *flags, "--quiet", "--out", "c.xent"]
        if config is not None:
            (folder / "commas.toml").write_text(config)
            args += ["--config", "commas.toml"]
        cli(*args)
        return xentlearn.load(folder / "c.xent").feature_columns_

    assert columns("--drop", "b, col") == ["a col", "c"]
    assert columns("--drop", "c", "b, col") == ["a col"]
    assert columns("--drop", "c,a col") == ["b, col"]
    assert columns("--drop", "c", "--drop", "b, col") == ["a col"]
    assert columns("--features", "b, col") == ["b, col"]
    assert columns("--features", "a col,c") == ["a col", "c"]
    assert columns("--features", "c", "--features", "b, col") == ["c", "b, col"]
    assert columns(config='drop = ["b, col", "c"]\n') == ["a col"]
    assert columns(config='features = "b, col"\n') == ["b, col"]
    _, err = cli("train", "commas.csv", "--target", "label", "--drop", "b,col", status=2)
    assert one_error_line(err) == (
        "xentlearn: error: --drop 'b,col': no column 'b' in 'commas.csv' (the value was split "
        "at its commas into 'b', 'col'; a value that is exactly a column name is taken whole); "
        "it has 'a col', 'b, col', 'c', 'label'")


def test_help_says_how_to_name_columns_and_what_id_does(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "a value that is exactly a column name is taken whole" in text
    # The model does not keep the --id column's name: predict needs --id again.
    assert "give predict --id COL to copy it into each prediction row" in text


def test_identifier_and_constant_columns_are_named_in_warnings(cli):
    _, err = cli("train", "customers.csv", "--target", "churned", "--dates", "expand",
                 "--na-values", "?", "--impute", "mean", "--quiet", "--out", "ids.xent")
    warnings = [line for line in err.splitlines() if line.startswith("xentlearn: warning:")]
    identifiers = next(w for w in warnings if "look like identifiers" in w)
    assert "'customer_id' (whole numbers, a distinct one in every row)" in identifiers
    assert "'Individual ID' (text, 300 distinct in 300 rows)" in identifiers
    assert "--drop customer_id 'Individual ID'" in identifiers      # a command to copy
    constant = next(w for w in warnings if "constant column" in w)
    assert "'country' (always 'NZ')" in constant and "--drop country" in constant
    # Dropped, they are not features, and no warning is left.
    _, err = cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet",
                 "--out", "clean.xent")
    assert "warning" not in err
    described, _ = cli("info", "clean.xent", "--json")
    assert [c["name"] for c in json.loads(described)["features"]] == [
        "signup", "age", "plan", "monthly_spend"]


def test_dates_are_refused_with_a_hint_or_expanded(cli, folder):
    _, err = cli("train", "customers.csv", "--target", "churned", "--na-values", "?",
                 "--impute", "mean", "--drop", "customer_id,Individual ID", "--quiet", status=2)
    line = one_error_line(err)
    assert "column 'signup' holds dates (such as '" in line
    assert "--drop signup" in line and "--dates expand" in line

    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "d.xent")
    described = json.loads(cli("info", "d.xent", "--json")[0])
    signup = described["features"][0]
    assert signup["kind"] == "date" and "read as %d/%m/%Y" in signup["description"]
    names = [c["feature"] for c in described["coefficients"]]
    assert {"signup.year", "signup.month", "signup.day_of_week", "signup.day_of_year"} <= set(names)
    # The saved model reads the dates back: file and DataFrame predictions agree.
    import pandas as pd

    model = xentlearn.load(folder / "d.xent")
    frame = pd.read_csv(folder / "new.csv", na_values=["?"])
    frame["signup"] = frame["signup"].astype(str)
    np.testing.assert_allclose(model.predict_proba(frame),
                               model.predict_proba(TableFiles(folder / "new.csv")), rtol=1e-12)
    # The expansion is the calendar's: 29/02/2024 is a Thursday, day 60 of 2024.
    pre = model.preprocessor_
    row = pd.DataFrame({"signup": ["29/02/2024"], "age": [40.0], "plan": ["pro"],
                        "monthly_spend": [10.0]})
    X = pre.transform(row)
    names = list(pre.get_feature_names_out())
    means, stds = pre.means_, pre.stds_
    for part, value in (("year", 2024), ("month", 2), ("day_of_week", 3), ("day_of_year", 60)):
        key = f"signup.{part}"
        assert X[0, names.index(key)] == pytest.approx((value - means[key]) / stds[key])


def test_na_values_keep_a_numeric_column_numeric(cli):
    _, err = cli("train", "customers.csv", "--target", "churned", "--dates", "expand",
                 "--impute", "mean", "--drop", "customer_id", "Individual ID", "country",
                 "--quiet", status=2)
    line = one_error_line(err)
    assert "column 'age' holds numbers except for 1 distinct value(s) that are not: '?'" in line
    assert "--na-values '?'" in line
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "na.xent")
    described = json.loads(cli("info", "na.xent", "--json")[0])
    age = described["features"][1]
    assert age["name"] == "age" and age["kind"] == "numeric"
    assert described["na_values"] == ["?"]
    # predict and evaluate read "?" as missing without being told: the model keeps it.
    out, _ = cli("evaluate", "na.xent", "new.csv", "--json")
    assert json.loads(out)["rows"] == 60


def test_regression_target_exits_2_unless_max_classes_is_given(cli, folder):
    rng = np.random.default_rng(0)
    import pyarrow as pa

    x = rng.normal(size=400)
    codes = rng.integers(0, 150, size=400)             # 150 integer class codes
    write_csv(pa.table({"x": x, "price": np.round(50 + 10 * x + rng.normal(size=400), 2),
                        "code": codes, "word": [f"w{i % 12}" for i in range(400)]}),
              folder / "numbers.csv")
    _, err = cli("train", "numbers.csv", "--target", "price", "--drop", "code", "word",
                 status=2)
    line = one_error_line(err)
    assert "target column 'price' holds non-integer numbers (such as " in line
    assert "regression target" in line and "--max-classes" not in line
    # --max-classes is for integer class codes: it does not make prices classes.
    _, err = cli("train", "numbers.csv", "--target", "price", "--drop", "code", "word",
                 "--max-classes", "1000", status=2)
    assert "target column 'price' holds non-integer numbers" in one_error_line(err)
    _, err = cli("train", "numbers.csv", "--target", "code", "--drop", "price", "word",
                 status=2)
    assert "target column 'code' holds" in one_error_line(err)
    # Explicit --max-classes: integer codes are classes.
    cli("train", "numbers.csv", "--target", "code", "--drop", "price", "word",
        "--max-classes", "200", "--max-iter", "3", "--quiet", "--out", "codes.xent")
    assert len(xentlearn.load(folder / "codes.xent").classes_) == len(np.unique(codes))
    # --max-classes guards text targets too.
    _, err = cli("train", "numbers.csv", "--target", "word", "--drop", "code", "--max-classes",
                 "10", status=2)
    assert "target column 'word' has 12 distinct values" in one_error_line(err)


# ----------------------------------------------------------------- predict
@pytest.mark.parametrize("data", ["new.csv", "parts"])
def test_id_is_copied_into_each_prediction_row(cli, folder, data):
    import pyarrow.parquet as pq

    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "id.xent")
    new = read_csv(folder / "new.csv")
    if data == "parts":
        (folder / "parts").mkdir(exist_ok=True)
        pq.write_table(new.slice(0, 25), folder / "parts" / "a.parquet")
        pq.write_table(new.slice(25), folder / "parts" / "b.parquet")
    # 7-row record batches: the id stream and the prediction stream are cut differently.
    cli("predict", "id.xent", data, "--id", "customer_id", "--proba", "--batch-rows", "7",
        "--out", "p.csv")
    predicted = read_csv(folder / "p.csv")
    assert predicted.column_names[:2] == ["customer_id", "prediction"]
    assert predicted["customer_id"].to_pylist() == new["customer_id"].to_pylist()
    model = xentlearn.load(folder / "id.xent")
    np.testing.assert_array_equal(predicted["prediction"].to_numpy(zero_copy_only=False),
                                  model.predict(TableFiles(folder / "new.csv")))
    _, err = cli("predict", "id.xent", data, "--id", "nope", status=2)
    assert one_error_line(err).startswith(
        f"xentlearn: error: --id column 'nope' is not in "
        f"{'new.csv' if data == 'new.csv' else 'parts/a.parquet'!r}; it has 'customer_id', "
        "'Individual ID', ")


@pytest.mark.parametrize("out", ["p.csv", "p.parquet"])
def test_id_is_copied_as_written(cli, folder, out):
    # Read as numbers, 007 became 7 and a 17-digit id a float; a join back then fails.
    import pyarrow.parquet as pq

    ids = ["007", "0042", "0100", "9007199254740993", ""]
    rows = [f"{i},{x},{'ab'[x % 2]}" for x, i in enumerate(ids * 5)]
    (folder / "ids.csv").write_text("cust,x,label\n" + "\n".join(rows) + "\n")
    cli("train", "ids.csv", "--target", "label", "--id", "cust", "--quiet", "--out", "ids.xent")
    cli("predict", "ids.xent", "ids.csv", "--id", "cust", "--out", out)
    if out.endswith(".csv"):
        written = [line.split(",")[0] for line in (folder / out).read_text().splitlines()[1:]]
        assert written == [f'"{i}"' if i else "" for i in ids * 5]
    else:
        assert pq.read_table(folder / out)["cust"].to_pylist() == [i or None for i in ids * 5]


def test_unseen_categories_are_counted_and_reported_once_per_column(cli, folder):
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "u.xent")
    n_gold = sum(1 for row in read_csv(folder / "new.csv")["plan"].to_pylist() if row == "gold")
    assert n_gold > 5
    _, err = cli("predict", "u.xent", "new.csv", "--batch-rows", "4", "--out", "u.csv")
    lines = [line for line in err.splitlines() if "not seen in training" in line]
    assert lines == [f"xentlearn: warning: column 'plan': {n_gold} row(s) hold values not seen "
                     f"in training (such as 'gold'); they are encoded as no category (all zeros)"]


def test_threshold_sets_the_binary_decision(cli, folder):
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "t.xent")
    cli("predict", "t.xent", "new.csv", "--threshold", "0.2", "--proba", "--out", "t.csv")
    predicted = read_csv(folder / "t.csv")
    p_yes = predicted["proba_yes"].to_numpy()
    labels = predicted["prediction"].to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(labels, np.where(p_yes >= 0.2, "yes", "no"))
    assert 0 < (labels == "yes").sum() and (p_yes[labels == "yes"] < 0.5).any()
    # evaluate counts the same labels.
    report = json.loads(cli("evaluate", "t.xent", "new.csv", "--threshold", "0.2", "--json")[0])
    truth = read_csv(folder / "new.csv")["churned"].to_numpy(zero_copy_only=False)
    from sklearn.metrics import confusion_matrix

    assert report["threshold"] == 0.2
    assert report["confusion_matrix"] == confusion_matrix(truth, labels,
                                                          labels=["no", "yes"]).tolist()
    # A multiclass model has no threshold.
    write_csv(make_table(90, seed=0), folder / "three.csv")
    cli("train", "three.csv", "--target", "species", "--quiet", "--out", "three.xent")
    _, err = cli("predict", "three.xent", "three.csv", "--threshold", "0.3", status=2)
    assert "--threshold applies to binary models; this one has 3 classes" in one_error_line(err)


# ----------------------------------------------------------------- validation, cv
def test_validation_fraction_holds_out_rows_for_early_stopping_and_calibration(cli, folder):
    out, err = cli("train", "customers.csv", "--target", "churned", *CLEAN,
                   "--validation-fraction", "0.25", "--early-stopping", "--calibrate",
                   "--model", "mlp", "--hidden-layer-sizes", "8", "--max-iter", "30",
                   "--random-state", "3", "--json", "--out", "vf.xent")
    report = json.loads(out)
    n_train, n_valid = report["train"]["rows"], report["validation"]["rows"]
    assert n_train + n_valid == 300 and 45 <= n_valid <= 105     # 75 expected
    assert report["temperature"] is not None and report["temperature"] > 0
    model = xentlearn.load(folder / "vf.xent")
    assert all(r["val_loss"] is not None for r in model.history_)
    # The held-out rows are the same on every run with the same seed.
    again = json.loads(cli("train", "customers.csv", "--target", "churned", *CLEAN,
                           "--validation-fraction", "0.25", "--model", "mlp",
                           "--hidden-layer-sizes", "8", "--max-iter", "2", "--random-state",
                           "3", "--json", "--out", "vf2.xent")[0])
    assert again["validation"]["rows"] == n_valid
    for flag in ("--early-stopping", "--calibrate"):
        _, err = cli("train", "customers.csv", "--target", "churned", *CLEAN, flag, status=2)
        assert f"{flag} needs held-out rows: --validation-fraction" in one_error_line(err)
    _, err = cli("train", "customers.csv", "--target", "churned", "--validation", "new.csv",
                 "--validation-fraction", "0.2", status=2)
    assert "not both" in one_error_line(err)


def test_cv_scores_each_fold_with_a_model_trained_on_the_others(cli, folder):
    out, err = cli("cv", "customers.csv", "--target", "churned", *CLEAN, "--folds", "3",
                   "--json")
    report = json.loads(out)
    assert report["folds"] == 3 and sum(report["rows"]) == 300
    assert min(report["rows"]) > 60                        # 100 expected per fold
    assert set(report["metrics"]) == {"log_loss", "accuracy", "balanced_accuracy", "brier",
                                      "calibration_error", "roc_auc", "pr_auc"}
    for key, entry in report["metrics"].items():
        assert entry["mean"] == pytest.approx(np.mean(entry["folds"]))
        assert entry["std"] == pytest.approx(np.std(entry["folds"]))
        assert [fold[key] for fold in report["per_fold"]] == entry["folds"]
    assert err.count("fold ") == 3                          # progress lines on stderr
    # The first fold's score is that of a model fitted on the other rows by hand.
    from xentlearn.data import RowSplit
    from xentlearn.cli._cv import _CV_SALT

    held_out = RowSplit(0 ^ _CV_SALT, 0.0, 1 / 3)
    table = TableFiles(folder / "customers.csv", target="churned", dates="expand",
                       na_values=["?"], impute="mean",
                       drop=["Individual ID", "country", "customer_id"])
    import dataclasses

    model = xentlearn.LogisticRegression().fit(
        dataclasses.replace(table, row_filters=(held_out._replace(inside=False),)))
    test = dataclasses.replace(table, row_filters=(held_out,))
    assert model.score(test) == pytest.approx(report["per_fold"][0]["accuracy"])
    text, _ = cli("cv", "customers.csv", "--target", "churned", *CLEAN, "--folds", "3",
                  "--quiet")
    assert "3-fold cross-validation" in text and "roc_auc" in text and "fold3" in text
    # cv takes train's config file; train's outputs in it are left out.
    (folder / "run.toml").write_text(
        'data = ["customers.csv"]\ntarget = "churned"\ndates = "expand"\nna_values = ["?"]\n'
        'impute = "mean"\ndrop = ["Individual ID", "country", "customer_id"]\n'
        'out = "never.xent"\ncheckpoint = "never.ckpt"\njson = true\n')
    configured, _ = cli("cv", "--config", "run.toml", "--folds", "3")
    assert json.loads(configured)["per_fold"] == report["per_fold"]
    assert not (folder / "never.xent").exists()
    # A class of one row is in one fold only: its model never saw it (it was named as an
    # unknown label, as evaluate names a label of other data).
    lines = (folder / "customers.csv").read_text().splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("churned")] = "solo"
    (folder / "solo.csv").write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    _, err = cli("cv", "solo.csv", "--target", "churned", *CLEAN, "--folds", "3", "--quiet",
                 status=2)
    assert "holds every row of the class(es) 'solo', so the model trained on the other " \
           "folds never saw them" in one_error_line(err)


# ----------------------------------------------------------------- reports
def test_train_and_evaluate_json_have_stable_keys_equal_to_sklearn(cli, folder):
    from sklearn import metrics

    out, _ = cli("train", "customers.csv", "--target", "churned", *CLEAN, "--json",
                 "--out", "j.xent")
    report = json.loads(out)
    keys = {"rows", "log_loss", "accuracy", "balanced_accuracy", "brier", "calibration_error",
            "roc_auc", "pr_auc", "auc_error_bound", "threshold", "per_class", "classes",
            "confusion_matrix"}
    assert set(report["train"]) == keys and report["validation"] is None
    assert report["model"] == "j.xent" and report["epochs"] >= 1
    out, _ = cli("evaluate", "j.xent", "new.csv", "--json")
    scored = json.loads(out)
    assert keys <= set(scored)
    model = xentlearn.load(folder / "j.xent")
    table = TableFiles(folder / "new.csv")
    proba, labels = model.predict_proba(table), model.predict(table)
    truth = read_csv(folder / "new.csv")["churned"].to_numpy(zero_copy_only=False)
    y = (truth == "yes").astype(int)
    assert scored["log_loss"] == pytest.approx(metrics.log_loss(truth, proba))
    assert scored["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(truth, labels))
    assert scored["brier"] == pytest.approx(metrics.brier_score_loss(y, proba[:, 1]))
    assert scored["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, proba[:, 1]))
    assert scored["pr_auc"] == pytest.approx(metrics.average_precision_score(y, proba[:, 1]))
    assert scored["per_class"]["yes"]["support"] == int(y.sum())
    # The text report shows the same numbers, 4 decimals.
    text, _ = cli("evaluate", "j.xent", "new.csv")
    row = summary_columns(text, "data")
    for column, key in (("balanced-acc", "balanced_accuracy"), ("brier", "brier"),
                        ("ECE", "calibration_error"), ("roc-auc", "roc_auc"),
                        ("pr-auc", "pr_auc")):
        assert row[column] == pytest.approx(scored[key], abs=5.1e-5)


def test_info_lists_coefficients_by_feature_name_largest_first(cli, folder):
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "c.xent")
    described = json.loads(cli("info", "c.xent", "--json")[0])
    model = xentlearn.load(folder / "c.xent")
    names = list(model.preprocessor_.get_feature_names_out())
    coefficients = described["coefficients"]
    assert sorted(c["feature"] for c in coefficients) == sorted(names)
    magnitudes = [abs(c["coef"]) for c in coefficients]
    assert magnitudes == sorted(magnitudes, reverse=True)
    for c in coefficients:
        assert c["coef"] == model.coef_[0, names.index(c["feature"])]
    assert described["positive_class"] == "yes" and described["target"] == "churned"
    text, _ = cli("info", "c.xent", "--top", "3")
    assert "classes: no, yes (column 'churned')\n" in text
    assert "coefficients by feature, largest |coef| first, the 3 largest of 9" in text
    assert f"\n{coefficients[0]['feature']} " in text
    assert "standardised: (x - " in text and "one-hot, 3 categories: basic, family, pro" in text
    # Multiclass: one coefficient per class and feature.
    write_csv(make_table(90, seed=0), folder / "three.csv")
    cli("train", "three.csv", "--target", "species", "--quiet", "--out", "three.xent")
    described = json.loads(cli("info", "three.xent", "--json")[0])
    first = described["coefficients"][0]
    assert set(first["coef"]) == {"ant", "bee", "cat"}


def test_memory_budget_decides_only_where_the_rows_are_read_from(cli, folder):
    # Decoded once and kept (the default budget) or streamed on every pass (0): the same
    # model bit for bit; the flag reads sizes as --csv-block-bytes does.
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out", "kept.xent")
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out",
        "streamed.xent", "--memory-budget", "0")
    cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet", "--out",
        "small.xent", "--memory-budget", "1K")
    out, _ = cli("train", "customers.csv", "--target", "churned", *CLEAN, "--out",
                 "fraction.xent", "--memory-budget", "1.5G")       # a fraction of a unit
    assert " iterations in " in out                                  # lbfgs counts iterations
    kept, streamed, small, fraction = (xentlearn.load(folder / f"{name}.xent")
                                       for name in ("kept", "streamed", "small", "fraction"))
    assert kept.n_iter_ > 1
    np.testing.assert_array_equal(kept.coef_, streamed.coef_)
    np.testing.assert_array_equal(kept.coef_, small.coef_)
    np.testing.assert_array_equal(kept.coef_, fraction.coef_)
    _, err = cli("train", "customers.csv", "--target", "churned", "--memory-budget", "lots",
                 status=2)
    assert err.count("\n") == 1 and "argument --memory-budget: expected a size" in err


def test_a_folder_whose_files_differ_in_a_column_dropped(cli, folder):
    # One export has an extra column: --drop it (or name --features) and the folder trains;
    # predict reads the model's columns only.
    (folder / "mixed").mkdir(exist_ok=True)
    (folder / "mixed" / "1.csv").write_text("x,label\n1,a\n2,b\n3,a\n4,b\n")
    (folder / "mixed" / "2.csv").write_text("x,label,note\n5,a,hi\n6,b,yo\n")
    _, err = cli("train", "mixed", "--target", "label", "--quiet", status=2)
    assert "extra ['note']" in one_error_line(err)
    cli("train", "mixed", "--target", "label", "--drop", "note", "--quiet", "--out", "mx.xent")
    cli("train", "mixed", "--target", "label", "--features", "x", "--quiet", "--out", "mx.xent")
    out, _ = cli("predict", "mx.xent", "mixed")
    assert len(out.splitlines()) == 1 + 6


def test_a_target_class_that_marks_a_missing_label_is_named(cli, folder):
    # "?" as a label became a class, silently (found by review).
    (folder / "marks.csv").write_text("x,label\n1,no\n2,?\n3,yes\n4,no\n5,yes\n6,?\n")
    _, err = cli("train", "marks.csv", "--target", "label", "--quiet", "--out", "marks.xent")
    assert ("xentlearn: warning: target column 'label' has the class(es) '?', which usually "
            "mark a missing label: the model learns to predict them as a class; if they mean "
            "unknown, remove those rows") in err
    _, err = cli("train", "customers.csv", "--target", "churned", *CLEAN, "--quiet",
                 "--out", "clean.xent")
    assert "missing label" not in err
