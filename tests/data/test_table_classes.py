"""TableFiles.scan_classes: a target is class labels, or it is refused naming the column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn.data import TableFiles
from xentlearn.data._readers import iter_record_batches
from xentlearn.exceptions import XentlearnInputError


def write_labels(path, labels, *, n: int = 40):
    """A table of `n` rows: a feature x and a target cycling through `labels`."""
    labels = list(labels)
    column = [labels[i % len(labels)] for i in range(n)]
    table = pa.table({"x": np.arange(n) % 7 + 0.5, "label": column})
    if str(path).endswith(".parquet"):
        pq.write_table(table, path)
    else:
        import pyarrow.csv as pa_csv

        pa_csv.write_csv(table, path)
    return path


def kept_records(path, columns=("x", "label")):
    """(path, record batch) pairs, as FileSource.kept_records() hands them over."""
    return [(path, batch) for batch in iter_record_batches(path, list(columns), batch_rows=16)]


@pytest.mark.parametrize("name", ["half.csv", "half.parquet"])
def test_a_float_target_that_is_not_whole_numbers_is_refused(tmp_path, name):
    # labels 0.5 / 1.5 trained a two-class "classifier" (the Python API refuses the same y
    # as "Unknown label type: 'continuous'").
    path = write_labels(tmp_path / name, [0.5, 1.5])
    message = (r"target column 'label' holds non-integer numbers \(such as 0\.5; 2 distinct "
               r"values\): a classifier needs class labels.*regression target")
    with pytest.raises(XentlearnInputError, match=message):
        TableFiles(path, target="label").scan_classes()
    with pytest.raises(XentlearnInputError, match=message):
        TableFiles(path, target="label").scan_classes(kept_records(path), whole_files=True)


def test_max_classes_does_not_make_continuous_values_classes(tmp_path):
    # 201 distinct values such as -3.77 trained a 201-class model with max_classes=1000;
    # max_classes is for integer class codes.
    values = np.round(np.linspace(-4.0, 4.0, 201), 2)
    path = write_labels(tmp_path / "reg.csv", values, n=402)
    with pytest.raises(XentlearnInputError, match=r"non-integer numbers \(such as -3\.96;"):
        TableFiles(path, target="label", max_classes=1000).scan_classes()


def test_non_finite_float_labels_are_not_classes(tmp_path):
    path = write_labels(tmp_path / "inf.parquet", [1.0, float("inf")])
    with pytest.raises(XentlearnInputError, match=r"non-integer numbers \(such as inf;"):
        TableFiles(path, target="label").scan_classes()


def test_fit_refuses_a_continuous_target_and_keeps_whole_number_floats(tmp_path):
    from xentlearn import LogisticRegression

    path = write_labels(tmp_path / "reg.csv", np.random.default_rng(0).normal(size=40))
    with pytest.raises(XentlearnInputError, match="holds non-integer numbers"):
        LogisticRegression().fit(TableFiles(path, target="label"))
    # 1.0, 2.0 and -3.0 are class codes, as for scikit-learn, in either float width.
    for dtype in (np.float64, np.float32):
        path = tmp_path / f"codes_{np.dtype(dtype).name}.parquet"
        pq.write_table(pa.table({"x": np.arange(30) % 7 + 0.5,
                                 "label": np.array([1.0, 2.0, -3.0] * 10, dtype=dtype)}), path)
        np.testing.assert_array_equal(TableFiles(path, target="label").scan_classes(),
                                      [-3.0, 1.0, 2.0])
        model = LogisticRegression(max_iter=5).fit(TableFiles(path, target="label"))
        np.testing.assert_array_equal(model.classes_, [-3.0, 1.0, 2.0])
