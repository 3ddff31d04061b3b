"""On a cluster (a file per worker task, partial preprocessors merged on the client), a
Parquet column written as string in one file ('?' in it) and as double in another trains
as numbers with na_values, as on one machine, and its words are refused alike."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.test_text_and_numbers_files import pandas_folders, pandas_frame
from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("text_first", [True, False], ids=["text-first", "numbers-first"])
def test_the_folder_trains_as_numbers_on_the_cluster(client, tmp_path, text_first):
    parquet, csv = pandas_folders(tmp_path, text_first)
    options = dict(target="label", na_values=["?"], impute="mean")
    on_cluster = LogisticRegression(max_iter=30).fit(TableFiles(parquet, **options))
    preprocessor = on_cluster._preprocessor
    assert preprocessor.kinds_ == ["numeric", "numeric"]
    # The CSV folder on the cluster: the same preprocessing, to rounding of the merges.
    from_csv = LogisticRegression(max_iter=30).fit(TableFiles(csv, **options))
    for name in ("nuclei", "size"):
        assert preprocessor.means_[name] == pytest.approx(from_csv._preprocessor.means_[name])
        assert preprocessor.stds_[name] == pytest.approx(from_csv._preprocessor.stds_[name])
    np.testing.assert_allclose(on_cluster.predict_proba(TableFiles(parquet)),
                               from_csv.predict_proba(TableFiles(csv)), rtol=1e-6)


def test_words_in_the_text_file_are_refused_on_the_cluster(client, tmp_path):
    parquet, _ = pandas_folders(tmp_path)
    frame = pandas_frame(80, marks=(3,), seed=1)
    frame.loc[7, "nuclei"] = "big"
    frame.to_parquet(parquet / "a.parquet")
    with pytest.raises(XentlearnInputError, match=r"not numbers \('big'\)"):
        LogisticRegression(max_iter=3).fit(TableFiles(parquet, target="label", na_values=["?"],
                                                      impute="mean"))


def test_labels_of_two_kinds_across_files_are_refused_on_the_cluster(client, tmp_path):
    # The client's schema check names the files, as on one machine (72e41b6).
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=40), "y": [str(v) for v in rng.integers(0, 2, 40)]}
                 ).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"x": rng.normal(size=40), "y": rng.integers(0, 2, 40).astype(float)}
                 ).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(XentlearnInputError, match=r"target column 'y' holds numbers"):
        LogisticRegression().fit(TableFiles(tmp_path, target="y", na_values=["?"]))
