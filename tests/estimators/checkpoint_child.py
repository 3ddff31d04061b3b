"""The fits that test_checkpoint_kill.py SIGKILLs: run as a script (the child process),
or imported (the uninterrupted reference, computed in the test's own process)."""

from __future__ import annotations

import sys
import warnings

import numpy as np


def data():
    from sklearn.datasets import make_classification

    return make_classification(n_samples=2000, n_features=12, n_informative=8, n_classes=3,
                               random_state=0)


def make(case: str, checkpoint):
    from xentlearn import LogisticRegression, MLPClassifier

    est = {
        "lbfgs MLP": lambda: MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs",
                                           max_iter=120, tol=0.0, random_state=0),
        "lbfgs linear": lambda: LogisticRegression(max_iter=60, tol=0.0),
        "sgd": lambda: MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", batch_size=16,
                                     max_iter=10, tol=0.0, random_state=1),
        "adam early stopping": lambda: MLPClassifier(
            hidden_layer_sizes=(16,), batch_size=16, max_iter=12, early_stopping=True,
            n_iter_no_change=50, random_state=2),
        "adam mid-epoch": lambda: MLPClassifier(hidden_layer_sizes=(16,), batch_size=8,
                                                max_iter=4, tol=0.0, random_state=3,
                                                checkpoint_interval=0.01),
        "adam parquet": lambda: MLPClassifier(hidden_layer_sizes=(16,), batch_size=16,
                                              max_iter=6, tol=0.0, random_state=4,
                                              checkpoint_interval=0.02),
    }[case]()
    # The uninterrupted reference has no checkpoint, so no interval either (it needs one).
    interval = est.checkpoint_interval if checkpoint is not None else None
    return est.set_params(checkpoint=checkpoint, checkpoint_interval=interval)


def write_parquet(path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    X, y = data()
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])},
                             "label": np.array(["a", "b", "c"])[y]}), path, row_group_size=500)


def fit(case: str, checkpoint, parquet=None) -> np.ndarray:
    """The flat parameters after the fit."""
    from xentlearn.data import TableFiles

    est = make(case, checkpoint)
    args = data() if parquet is None else (
        TableFiles(parquet, target="label", batch_rows=400, shuffle_buffer_rows=700),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(*args)
    return np.concatenate([p.ravel() for p in est._attributes_to_params().values()])


if __name__ == "__main__":
    case, checkpoint, out, *rest = sys.argv[1:]
    import xentlearn  # noqa: F401  (imported before the signal that training starts)

    print("fitting", flush=True)
    np.save(out, fit(case, checkpoint, rest[0] if rest else None))
