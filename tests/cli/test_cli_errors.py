"""Bad usage and bad input: exit status 2 and one clear line on stderr, never a traceback.

Every case runs through ``xentlearn.cli.main`` in-process (fast: the imports
are paid once), and a representative subset also runs the installed command
in a subprocess, as a user would; those are started together, since each
spends most of its second importing scikit-learn.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import xentlearn
from xentlearn.cli import main
from xentlearn.data import TableFiles
from tests.cli import make_table, run_cli, write_csv

# (id, arguments, a fragment the one line must contain); paths are relative to
# the fixture's folder. `model.xent` is a real model trained on train.csv.
CASES = [
    # usage
    ("no-command", [], "a command is required"),
    ("unknown-flag", ["train", "--bogus"], "unrecognized arguments: --bogus"),
    ("bad-int", ["train", "--max-iter", "many"], "--max-iter: expected a positive integer"),
    ("zero-int", ["train", "--max-iter", "0"], "expected a positive integer"),
    ("bad-batch-size", ["train", "--batch-size", "big"], "'auto', 'full' or a positive integer"),
    ("bad-choice", ["train", "--solver", "newton"], "expected one of sgd, adam"),
    ("out-of-range", ["train", "train.csv", "--target", "species", "--alpha", "-1"],
     "--alpha must be"),
    ("smoothing-range", ["train", "train.csv", "--target", "species", "--label-smoothing", "1.5"],
     "--label-smoothing"),
    ("data-without-target", ["train", "train.csv"], "--target COL is required"),
    ("target-without-data", ["train", "--target", "species"], "--target needs DATA"),
    ("mlp-option-on-linear", ["train", "train.csv", "--target", "species",
                              "--hidden-layer-sizes", "8"], "applies to --model mlp only"),
    ("linear-option-on-mlp", ["train", "train.csv", "--target", "species", "--model", "mlp",
                              "--no-fit-intercept"], "--fit-intercept applies to --model linear"),
    ("bad-layer-sizes", ["train", "--hidden-layer-sizes", "8,x"], "comma-separated positive"),
    ("class-weight-syntax", ["train", "--class-weight", "ant"], "LABEL=WEIGHT"),
    ("class-weight-label", ["train", "train.csv", "--target", "species", "--class-weight",
                            "dog=2"], "'dog', which is not a label of column 'species'"),
    ("drop-missing", ["train", "train.csv", "--target", "species", "--drop", "nope"],
     "--drop 'nope': no column 'nope' in 'train.csv'; it has 'x1', 'x2', 'color', 'species'"),
    ("drop-split-at-commas", ["train", "train.csv", "--target", "species", "--drop", "x1,nope"],
     "--drop 'x1,nope': no column 'nope' in 'train.csv' (the value was split at its commas "
     "into 'x1', 'nope'; a value that is exactly a column name is taken whole); it has 'x1', "),
    ("features-missing", ["train", "train.csv", "--target", "species", "--features", "x1",
                          "--features", "x3"],
     "--features 'x3': no column 'x3' in 'train.csv'; it has 'x1', 'x2', 'color', 'species'"),
    ("id-missing", ["train", "train.csv", "--target", "species", "--id", "zz"],
     "--id 'zz': no column 'zz' in 'train.csv'; it has 'x1', "),
    ("cv-id-missing", ["cv", "train.csv", "--target", "species", "--id", "zz"],
     "--id 'zz': no column 'zz' in 'train.csv'"),
    ("id-is-a-feature", ["train", "train.csv", "--target", "species", "--id", "x2",
                         "--features", "x1,x2"], "--id 'x2' is also one of --features"),
    ("bad-fraction", ["train", "train.csv", "--target", "species", "--validation-fraction", "1"],
     "--validation-fraction: expected a number strictly between 0 and 1"),
    ("bad-na-values", ["train", "train.csv", "--target", "species", "--na-values", "?,,-"],
     "expected comma-separated tokens"),
    ("cv-folds", ["cv", "train.csv", "--target", "species", "--folds", "1"],
     "--folds: expected an integer >= 2"),
    ("cv-without-target", ["cv", "train.csv"], "cv: --target COL is required"),
    ("cv-more-folds-than-rows", ["cv", "small.csv", "--target", "species", "--folds", "50"],
     "holds no rows: 'small.csv' has 40 row(s), 0.8 per fold on average (the folds outnumber "
     "the rows), and each row goes to a fold by a hash of the row, not in turn, so some folds "
     "get none; give fewer --folds"),
    ("cv-empty-fold", ["cv", "small.csv", "--target", "species", "--folds", "20"],
     "holds no rows: 'small.csv' has 40 row(s), 2 per fold on average, and each row"),
    *([] if importlib.util.find_spec("distributed") is None else [
    ("scheduler-address", ["train", "train.csv", "--target", "species", "--scheduler",
                           "notanaddress"],
     "--scheduler 'notanaddress' is not a Dask scheduler address (missing port number in "
     "address 'notanaddress'); expected one such as tcp://host:8786"),
    ("scheduler-scheme", ["train", "train.csv", "--target", "species", "--scheduler",
                          "foo://host:8786"],
     "--scheduler 'foo://host:8786' is not a Dask scheduler address (unknown address scheme"),
    ]),
    ("early-stopping-alone", ["train", "train.csv", "--target", "species", "--early-stopping"],
     "--early-stopping needs held-out rows: --validation-fraction 0.1 (or --validation DATA)"),
    ("lbfgs-minibatch", ["train", "train.csv", "--target", "species", "--batch-size", "10"],
     "--solver lbfgs needs the full batch; got --batch-size 10"),
    ("plot-format", ["train", "train.csv", "--target", "species", "--plot", "c.jpg"],
     ".png, .svg or .pdf"),
    ("out-folder-missing", ["train", "train.csv", "--target", "species", "--out", "no/m.xent"],
     "folder 'no' does not exist"),
    ("predict-out-format", ["predict", "model.xent", "new.csv", "--out", "p.txt"],
     "expected a .csv, .csv.gz, .parquet or .pq file"),
    ("evaluate-target-is-feature", ["evaluate", "model.xent", "new.csv", "--target", "x1"],
     "one of the model's feature columns"),
    # config files
    ("config-missing", ["train", "--config", "none.toml"], "does not exist"),
    ("config-syntax", ["train", "--config", "syntax.toml"], "cannot read config file"),
    ("config-unknown-key", ["train", "--config", "unknown.toml"], "unknown key 'epochs'"),
    ("config-wrong-type", ["train", "--config", "wrongtype.toml"],
     "key 'max_iter': expected a positive integer"),
    ("config-bool-type", ["train", "--config", "booltype.toml"], "expected true or false"),
    ("config-not-utf8", ["train", "--config", "latin1.toml"],
     "config file 'latin1.toml' is not UTF-8 text (byte 0xe9 at offset 16, line 2); "
     "re-save it as UTF-8"),
    # data
    ("data-missing", ["train", "nothing.csv", "--target", "species"], "does not exist"),
    ("data-extension", ["train", "notes.txt", "--target", "species"], "notes.txt"),
    ("target-column-missing", ["train", "train.csv", "--target", "kind"], "'kind'"),
    ("one-class", ["train", "oneclass.csv", "--target", "species"], "only one class"),
    ("one-class-plain", ["train", "onecode.csv", "--target", "code"],
     "target column 'code' has only one class (1); a classifier needs at least 2"),
    ("diverged", ["train", "train.csv", "--target", "species", "--solver", "sgd",
                  "--learning-rate-init", "1e30", "--quiet"],
     "Try a smaller learning rate (--learning-rate-init; the step size was 1e+30); the "
     "features are already standardised."),
    ("diverged-unstandardised", ["train", "train.csv", "--target", "species", "--solver", "sgd",
                                 "--learning-rate-init", "1e30", "--no-standardize", "--quiet"],
     "(--learning-rate-init; the step size was 1e+30), or standardise the features (drop "
     "--no-standardize)."),
    ("zero-weights", ["train", "zeroweights.csv", "--target", "species", "--sample-weight", "w"],
     "every training row has loss weight 0 (sample_weight times --class-weight); nothing to fit"),
    ("zero-weights-mlp", ["train", "zeroweights.csv", "--target", "species", "--sample-weight",
                          "w", "--model", "mlp", "--quiet"],
     "every training row has loss weight 0 (sample_weight times --class-weight); nothing to fit"),
    ("zero-class-weights", ["train", "train.csv", "--target", "species", "--class-weight",
                            "ant=0,bee=0,cat=0", "--alpha", "0.1"],
     "every training row has loss weight 0 (sample_weight times --class-weight); nothing to fit"),
    ("zero-weights-alpha", ["train", "zeroweights.csv", "--target", "species", "--sample-weight",
                            "w", "--alpha", "0.1"],
     "no row of positive weight (no rows, or sample_weight zero in every row)"),
    ("malformed-date", ["train", "baddate.csv", "--target", "species", "--dates", "expand"],
     "column 'day' holds dates, but '2024-13-45' is not one in the format '%Y-%m-%d' (first in "
     "row 2 of 'baddate.csv', counting rows after the header, blank lines not counted); fix it, "
     "or declare such values missing (--na-values)"),
    ("missing-values", ["train", "gaps.csv", "--target", "species"],
     "column 'x1' has 1 missing value(s)"),
    ("empty-csv", ["train", "empty.csv", "--target", "species"], "empty.csv"),
    ("duplicate-columns", ["train", "dup.csv", "--target", "species"],
     "'dup.csv' has 2 columns named 'x1': columns 1 and 3; column names must be unique"),
    ("duplicate-columns-predict", ["predict", "model.xent", "dup.csv"],
     "'dup.csv' has 2 columns named 'x1'"),
    ("latin1-csv", ["train", "latin1.csv", "--target", "species"],
     "'latin1.csv' is not UTF-8 text (byte 0xe9 at offset 46, line 3, column 'color'); "
     "re-save it as UTF-8"),
    ("utf16-csv", ["train", "utf16.csv", "--target", "species"],
     "'utf16.csv' is not UTF-8 text: it holds NUL bytes after a UTF-16 byte order mark (UTF-16 "
     "text, as Excel's \"Unicode Text\" and PowerShell save it?); re-save it as UTF-8"),
    ("utf16-csv-predict", ["predict", "model.xent", "utf16le.csv"],
     "'utf16le.csv' is not UTF-8 text: it holds NUL bytes (UTF-16 text"),
    ("latin1-csv-evaluate", ["evaluate", "model.xent", "latin1.csv"],
     "'latin1.csv' is not UTF-8 text (byte 0xe9 at offset 46, line 3"),
    ("long-row", ["predict", "model.xent", "longrow.csv", "--csv-block-bytes", "1K", "--out",
                  "p.csv"],
     "'longrow.csv': line 3 is 3012 bytes long, more than the CSV block size of 1024 bytes "
     "(every row must fit in one block); read it with a larger block: --csv-block-bytes 4096 "
     "or more"),
    ("block-size-range", ["evaluate", "model.xent", "new.csv", "--csv-block-bytes", "100"],
     "--csv-block-bytes must be an integer from 1024 to 2147483647 (bytes), got 100"),
    ("block-size-syntax", ["train", "--csv-block-bytes", "4 megs"],
     "--csv-block-bytes: expected a size in bytes such as 16777216, 16M, 1.5G or 1G"),
    ("predict-missing-feature", ["predict", "model.xent", "nocolor.csv"], "color"),
    ("evaluate-unknown-label", ["evaluate", "model.xent", "dog.csv", "--target", "species"],
     "'dog', which is not among"),
    ("evaluate-unknown-label-row", ["evaluate", "model.xent", "unseen.csv", "--target",
                                    "species"],
     "column 'species' holds the label 'dog', which is not among the model's classes [ant, "
     "bee, cat] (first in row 3 of 'unseen.csv', counting rows after the header, blank lines "
     "not counted)"),
    ("evaluate-missing-label", ["evaluate", "model.xent", "nolabel.csv", "--target", "species"],
     "target column 'species' has 1 missing label(s) (null or NaN; first in row 2 of "
     "'nolabel.csv', counting rows after the header, blank lines not counted); every row "
     "trained on or scored needs a label"),
    ("validation-unknown-label", ["train", "train.csv", "--target", "species", "--validation",
                                  "unseen.csv", "--quiet"],
     "target column 'species' holds the label 'dog', which is not among the classes ['ant', "
     "'bee', 'cat'] (first in row 3 of 'unseen.csv'"),
    ("evaluate-label-type", ["evaluate", "model.xent", "numlabel.csv", "--target", "code"],
     "column 'code' holds labels of another type than the model's classes [ant, bee, cat]"),
    # model files
    ("model-missing", ["info", "nothing.xent"], "does not exist"),
    ("model-corrupt", ["info", "corrupt.xent"], "corrupt.xent"),
    ("model-truncated", ["predict", "truncated.xent", "new.csv"], "truncated.xent"),
    ("model-foreign-zip", ["evaluate", "foreign.xent", "new.csv", "--target", "species"],
     "foreign.xent"),
    ("model-is-csv", ["info", "train.csv"], "not a xentlearn model file"),
    ("model-empty", ["info", "empty.xent"], "empty.xent"),
    ("model-is-folder", ["info", "."], "."),
    ("model-from-arrays", ["predict", "arrays.xent", "new.csv"], "trained in Python on arrays"),
]


# Cases also run as a real subprocess: one or more of each kind of failure.
SUBPROCESS_CASES = ("no-command", "bad-int", "out-of-range", "config-unknown-key",
                    "missing-values", "duplicate-columns", "latin1-csv", "predict-missing-feature", "evaluate-unknown-label",
                    "model-corrupt", "model-truncated", "model-foreign-zip", "model-is-csv")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("errors")
    train = make_table(120, seed=0)
    write_csv(train, folder / "train.csv")
    write_csv(make_table(40, seed=1), folder / "new.csv")
    write_csv(make_table(40, seed=2), folder / "small.csv")
    write_csv(train.drop_columns(["color"]), folder / "nocolor.csv")
    (folder / "notes.txt").write_text("x1,species\n1,ant\n")
    (folder / "oneclass.csv").write_text("x1,species\n1,ant\n2,ant\n")
    (folder / "gaps.csv").write_text("x1,species\n1,ant\n,bee\n3,cat\n")
    (folder / "onecode.csv").write_text("x1,code\n1,1\n2,1\n")
    (folder / "baddate.csv").write_text(
        "day,species\n2024-01-05,ant\n2024-13-45,bee\n2024-03-01,ant\n2024-04-11,bee\n")
    (folder / "utf16.csv").write_text("x1,x2,color,species\n0.1,100,red,ant\n",
                                      encoding="utf-16")
    (folder / "utf16le.csv").write_bytes("x1,x2,color\n0.1,100,red\n".encode("utf-16-le"))
    (folder / "unseen.csv").write_text("x1,x2,color,species\n0.1,100,red,ant\n"
                                       "0.2,90,blue,bee\n0.3,80,red,dog\n")
    (folder / "nolabel.csv").write_text("x1,x2,color,species\n0.1,100,red,ant\n"
                                        "0.2,90,blue,\n0.3,80,red,cat\n")
    (folder / "zeroweights.csv").write_text("x1,w,species\n1,0,ant\n2,0,bee\n3,0,ant\n")
    (folder / "empty.csv").write_text("x1,x2,color,species\n")
    (folder / "numlabel.csv").write_text("x1,x2,color,code\n0.1,100,red,3\n")
    (folder / "dog.csv").write_text("x1,x2,color,species\n0.1,100,red,dog\n")
    (folder / "syntax.toml").write_text("max_iter = = 3\n")
    (folder / "unknown.toml").write_text("epochs = 3\n")
    (folder / "wrongtype.toml").write_text('max_iter = "many"\n')
    (folder / "booltype.toml").write_text('early_stopping = "yes"\n')
    (folder / "latin1.toml").write_bytes("max_iter = 3\n# r\xe9glages\n".encode("latin-1"))
    (folder / "dup.csv").write_text("x1,x2,x1,color,species\n1,2,3,red,ant\n4,5,6,blue,bee\n")
    (folder / "latin1.csv").write_bytes(
        "x1,x2,color,species\n0.1,100,red,ant\n0.2,90,ros\xe9,bee\n".encode("latin-1"))
    (folder / "longrow.csv").write_text(
        "x1,x2,color,species\n0.1,100,red,ant\n0.2,90," + "b" * 3000 + ",bee\n")

    model = xentlearn.LogisticRegression(max_iter=3, solver="adam")
    with pytest.warns(Warning):      # ConvergenceWarning after 3 epochs: expected
        model.fit(TableFiles(folder / "train.csv", target="species"))
    model.save(folder / "model.xent")
    xentlearn.LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]).save(folder / "arrays.xent")
    blob = (folder / "model.xent").read_bytes()
    (folder / "truncated.xent").write_bytes(blob[: len(blob) // 2])
    (folder / "corrupt.xent").write_bytes(np.random.default_rng(0).bytes(len(blob)))
    (folder / "empty.xent").write_bytes(b"")
    with zipfile.ZipFile(folder / "foreign.xent", "w") as archive:
        archive.writestr("hello.txt", "not a model")
    return folder


@pytest.fixture(scope="module")
def subprocess_results(folder):
    arguments = {case_id: args for case_id, args, _ in CASES}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {case_id: pool.submit(run_cli, *arguments[case_id], cwd=folder, check=False)
                   for case_id in SUBPROCESS_CASES}
        return {case_id: future.result() for case_id, future in futures.items()}


def check_one_line_error(status: int, stdout: str, stderr: str, fragment: str) -> None:
    assert status == 2, (status, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("xentlearn"), lines[0]
    assert fragment in lines[0], lines[0]
    assert stdout == ""


@pytest.mark.parametrize(("args", "fragment"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_clear_line(folder, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(folder)
    status = main(args)
    captured = capsys.readouterr()
    check_one_line_error(status, captured.out, captured.err, fragment)


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_installed_command_exits_2_with_one_clear_line(subprocess_results, case_id):
    result = subprocess_results[case_id]
    fragment = {c[0]: c[2] for c in CASES}[case_id]
    check_one_line_error(result.returncode, result.stdout, result.stderr, fragment)


def test_library_messages_in_command_line_words():
    from xentlearn.cli._messages import flag_names

    # NumPy 2 scalar reprs in library messages: the plain value.
    assert flag_names("only one class (np.int64(1)); the first is np.float64(nan), "
                      "np.str_('a (b)'), np.True_") == (
        "only one class (1); the first is nan, 'a (b)', True")
    # Estimator parameters named bare: their flags, but not a quoted column name or a
    # model file's field.
    assert flag_names("a smaller learning rate (learning_rate_init; or max_grad_norm), "
                      "column 'max_iter', meta field 'params.batch_size'") == (
        "a smaller learning rate (--learning-rate-init; or --max-grad-norm), "
        "column 'max_iter', meta field 'params.batch_size'")
    # scikit-learn's constraints: no None to pass on the command line, "auto" as a value.
    assert flag_names("The 'learning_rate_init' parameter of MLPClassifier must be None or a "
                      "float in the range (0.0, inf). Got -1.0 instead.") == (
        "--learning-rate-init must be a float in the range (0.0, inf). Got -1.0 instead.")
    assert flag_names("The 'alpha' parameter of LogisticRegression must be a str among "
                      "{'auto'} or a float in the range [0.0, inf). Got -1.0 instead.") == (
        "--alpha must be 'auto' or a float in the range [0.0, inf). Got -1.0 instead.")
    assert flag_names("train with solver='lbfgs' (full batch), or raise shuffle_buffer_rows") == (
        "train with --solver lbfgs (full batch), or raise --shuffle-buffer-rows")
    # A NUL byte read from a file cannot be typed as a flag's value: no advice to try.
    assert flag_names("declare them, e.g. na_values=['\\x004']") == (
        "declare them, e.g. na_values=['\\x004']")


def test_impute_mean_accepts_missing_values(tmp_path):
    (tmp_path / "gaps.csv").write_text("x1,species\n1,ant\n,bee\n3,cat\n4,ant\n")
    result = run_cli("train", "gaps.csv", "--target", "species", "--impute", "mean",
                     "--max-iter", "3", "--solver", "adam", "--quiet", cwd=tmp_path)
    assert (tmp_path / "model.xent").is_file()
    # max_iter=3 is too few to converge: the warning is one tidy line, not Python's format,
    # in flag words, and it does not ask to scale features that train already standardises.
    assert result.stderr.startswith("xentlearn: warning: LogisticRegression reached --max-iter 3")
    assert "already standardised" in result.stderr and "StandardScaler" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_growing_loss_warning_in_flag_words(tmp_path):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 3))
    y = np.argmax(2 * X + rng.gumbel(size=X.shape), axis=1)
    lines = ["a,b,c,y"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y)]
    (tmp_path / "g.csv").write_text("\n".join(lines) + "\n")
    flags = ("g.csv", "--target", "y", "--model", "mlp", "--solver", "sgd",
             "--learning-rate-init", "50", "--max-iter", "30", "--quiet")
    result = run_cli("train", *flags, cwd=tmp_path)
    assert result.stderr.startswith("xentlearn: warning: MLPClassifier's training loss grew")
    assert result.stderr.splitlines()[0].endswith(
        "the steps are too large; lower --learning-rate-init (the features are already "
        "standardised)")
    result = run_cli("train", *flags, "--no-standardize", cwd=tmp_path)
    assert "lower --learning-rate-init, or standardise the features (drop --no-standardize)" \
        in result.stderr


def test_help_and_version_exit_0():
    for args in (["--help"], ["train", "--help"], ["--version"]):
        result = run_cli(*args, cwd=".")
        assert result.stderr == "" and result.stdout
    assert "--learning-rate-init" in run_cli("train", "--help", cwd=".").stdout


def test_unexpected_error_exits_1_with_one_line(folder, monkeypatch, capsys):
    from xentlearn.cli import _info

    def broken(args, out):
        raise RuntimeError("something inside\nbroke")

    monkeypatch.chdir(folder)
    monkeypatch.setattr(_info, "info", broken)
    monkeypatch.delenv("XENTLEARN_DEBUG", raising=False)
    assert main(["info", "model.xent"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "xentlearn: unexpected error: RuntimeError: something inside broke (set "
        "XENTLEARN_DEBUG=1 for the traceback; please report it)"]

    monkeypatch.setenv("XENTLEARN_DEBUG", "1")
    assert main(["info", "model.xent"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_row_longer_than_the_default_block_says_how_to_read_it(tmp_path, capsys):
    # A row of twice the default 4 MiB block (the case was a 1 GiB
    # line): the message names the line and the flag, not column types.
    note = "n" * (8 << 20)
    (tmp_path / "notes.csv").write_text(
        f"x1,note,species\n0.1,short,ant\n0.2,{note},bee\n0.3,short,ant\n")
    status = main(["train", str(tmp_path / "notes.csv"), "--target", "species", "--quiet",
                   "--out", str(tmp_path / "m.xent")])
    err = capsys.readouterr().err
    check_one_line_error(status, "", err, f"line 3 is {len(note) + 9} bytes long, more than "
                         "the CSV block size of 4194304 bytes")
    assert err.rstrip().endswith("read it with a larger block: --csv-block-bytes 16777216 or more")
    assert "column types" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.csv"]


def test_csv_block_bytes_reaches_the_tables_from_flag_and_config(tmp_path, monkeypatch):
    seen = []

    def fit(self, X, y=None, validation_data=None):
        seen.append((X.csv_block_bytes, validation_data.csv_block_bytes))
        raise KeyboardInterrupt          # stop here: the tables are all this test needs

    monkeypatch.setattr(xentlearn.LogisticRegression, "fit", fit)
    (tmp_path / "train.toml").write_text('csv_block_bytes = "64K"\n')
    args = ["train", "a.csv", "--validation", "b.csv", "--target", "y", "--quiet"]
    assert main([*args, "--csv-block-bytes", "16M"]) == 130
    assert main([*args, "--config", str(tmp_path / "train.toml")]) == 130
    assert seen == [(16 << 20, 16 << 20), (64 << 10, 64 << 10)]


def test_train_reads_long_rows_with_a_larger_block(tmp_path):
    note = "n" * 5000
    rows = [f"{i / 10},{note if i == 7 else 'short'},{'ab'[i % 2]}" for i in range(20)]
    (tmp_path / "notes.csv").write_text("x1,note,y\n" + "\n".join(rows) + "\n")
    # A 1 KiB block cannot hold line 9; an 8 KiB one can.
    failed = run_cli("train", "notes.csv", "--target", "y", "--quiet", "--csv-block-bytes", "1K",
                     cwd=tmp_path, check=False)
    assert failed.returncode == 2 and "--csv-block-bytes 8192 or more" in failed.stderr
    run_cli("train", "notes.csv", "--target", "y", "--quiet", "--csv-block-bytes", "8K",
            cwd=tmp_path)


def test_activation_choices_are_the_registry_names():
    from xentlearn.cli._options import ACTIVATIONS
    from xentlearn.models import ACTIVATIONS as REGISTRY

    assert ACTIVATIONS == tuple(REGISTRY)
