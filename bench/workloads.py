"""The benchmark workloads, generated deterministically and cached under bench/.cache/.

W1  make_classification(n_samples=1_100_000, n_features=100, n_informative=20,
    random_state=0): binary; the first 1,000,000 rows train, the rest test.
W2  make_classification(n_samples=550_000, n_features=100, n_informative=30,
    n_classes=10, random_state=0): 10 classes; 500,000 train, 50,000 test.
W3  scikit-learn's digits (1,797 x 64, 10 classes), standardised; all rows train.
W4  a tf-idf-like CSR matrix, 200,000 x 2**18, ~48 non-zeros per row: Zipf-
    distributed token ids scattered over the columns by a fixed permutation,
    (1 + log tf) * idf values, rows L2-normalised; binary labels drawn from a
    sparse linear model (5% of the columns carry a weight). 180,000 train.

The fastest-peer workloads (PEERS.md; ``run.py --only fastest``), 200,000 x 100 dense:

W5  L2 binary, columns scaled 0.5-2: standard normal columns times factors drawn
    uniformly in [0.5, 2]; labels Bernoulli(sigmoid(0.5 x.w + 0.3)) with w a
    standard normal vector on a random 30% of the columns. alpha = 1/n (C=1).
W6  L2 softmax, 5 classes: columns as W5; labels argmax(0.5 x W + Gumbel noise),
    W (d, 5) standard normal on a random 30% of its rows. alpha = 1/n.
W7  L1 binary, alpha 1e-3 (bench/owlqn.py's data): correlated columns
    (covariance 0.5^|i-j|), 20 true non-zero weights, intercept 0.5, logistic noise.
W8  elastic net softmax, 5 classes, alpha 1e-3, l1_ratio 0.5: columns as W7,
    labels argmax(x W + Gumbel noise), W (d, 5) standard normal on 20 rows.

``--quick`` sizes: W1, W2 and W5-W8 with a tenth of the rows, W4 20,000 x 2**16.

Every workload is fitted on its train rows with the objective

    F(W, b) = mean_i CE(x_i W + b, y_i) + ||W||^2 / (2 n),      alpha = 1 / n,

which is scikit-learn's LogisticRegression(C=1) objective divided by n. Its
optimum ``f_opt`` comes from scikit-learn's lbfgs at tol=1e-10 and is cached
next to the data. W5-W8 use their own penalty,

    F(W, b) = mean_i CE(x_i W + b, y_i) + alpha (l1_ratio ||W||_1 + (1 - l1_ratio) ||W||^2 / 2),

and their ``f_opt`` is the lowest F that any solver reaches with tight tolerances
(xentlearn at tol 1e-10, and scikit-learn-intelex, glum or saga pushed as far as
they go; ``f_opt_solvers`` in the cached meta lists what each reached); the
coefficients of that best solution are cached too (``<tag>.coef.npy``), so that
the supports of L1 solutions can be compared. ``objective`` evaluates F the same way for every contender
(float64, log1p/exp and logsumexp), so gaps are comparable.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

CACHE = Path(__file__).resolve().parent / ".cache"

NAMES = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8")

# The penalty of each fastest-peer workload: (alpha, l1_ratio); alpha None is 1/n.
PENALTIES = {"W5": (None, 0.0), "W6": (None, 0.0), "W7": (1e-3, 1.0), "W8": (1e-3, 0.5)}


@dataclass
class Workload:
    name: str
    X: np.ndarray | sp.csr_matrix        # train rows
    y: np.ndarray                        # int64 labels 0..k-1
    X_test: np.ndarray | sp.csr_matrix | None
    y_test: np.ndarray | None
    n_classes: int
    penalty_alpha: float | None = None   # None: 1/n
    l1_ratio: float = 0.0
    quick: bool = False

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def alpha(self) -> float:
        return 1.0 / self.n if self.penalty_alpha is None else self.penalty_alpha

    def objective(self, W, b) -> float:
        """F at (W, b) with this workload's penalty (``objective``)."""
        return objective(self.X, self.y, W, b, self.n_classes, self.alpha, self.l1_ratio)

    @property
    def data_bytes(self) -> int:
        return sum(_nbytes(a) for a in (self.X, self.y, self.X_test, self.y_test) if a is not None)


def _nbytes(a) -> int:
    if sp.issparse(a):
        return a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
    return a.nbytes


def _tag(name: str, quick: bool) -> str:
    return f"{name}{'-quick' if quick else ''}"


# ---------------------------------------------------------------- generation
def _make_w1(quick: bool):
    from sklearn.datasets import make_classification

    n, n_train = (110_000, 100_000) if quick else (1_100_000, 1_000_000)
    X, y = make_classification(n_samples=n, n_features=100, n_informative=20, random_state=0)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], 2


def _make_w2(quick: bool):
    from sklearn.datasets import make_classification

    n, n_train = (55_000, 50_000) if quick else (550_000, 500_000)
    X, y = make_classification(n_samples=n, n_features=100, n_informative=30, n_classes=10,
                               random_state=0)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], 10


def _make_w3(quick: bool):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X, y, None, None, 10


def make_tfidf(n_rows: int, n_cols: int, tokens_per_row: int = 51, seed: int = 0):
    """A deterministic tf-idf-like CSR matrix and labels from a sparse linear model."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_cols + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)                          # Zipf-Mandelbrot, exponent 1
    cdf = np.cumsum(p / p.sum())
    lengths = rng.poisson(tokens_per_row, n_rows).clip(1)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    token_rank = np.searchsorted(cdf, rng.random(indptr[-1]), side="right").clip(max=n_cols - 1)
    column_of_rank = rng.permutation(n_cols)
    cols = column_of_rank[token_rank].astype(np.int32)
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), lengths)
    tf = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n_rows, n_cols))
    tf.sum_duplicates()
    df = np.bincount(tf.indices, minlength=n_cols)
    idf = np.log((1 + n_rows) / (1 + df)) + 1.0
    tf.data = (1.0 + np.log(tf.data)) * idf[tf.indices]
    norms = np.sqrt(np.add.reduceat(tf.data ** 2, tf.indptr[:-1]))
    tf.data /= np.repeat(norms, np.diff(tf.indptr))
    w = rng.standard_normal(n_cols) * (rng.random(n_cols) < 0.05)
    logits = 10.0 * (tf @ w)
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    return tf, y


def _make_w4(quick: bool):
    n, n_train, d = (20_000, 18_000, 2 ** 16) if quick else (200_000, 180_000, 2 ** 18)
    X, y = make_tfidf(n, d)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], 2


def _peer_rows(quick: bool) -> int:
    return 20_000 if quick else 200_000


def _gaussian_scaled(rng, n, d):
    X = rng.standard_normal((n, d))
    X *= rng.uniform(0.5, 2.0, d)
    return X


def _gaussian_correlated(rng, n, d):
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    return rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T


def _make_w5(quick: bool):
    rng = np.random.default_rng(5)
    n, d = _peer_rows(quick), 100
    w = rng.standard_normal(d) * (rng.random(d) < 0.3)
    Z = rng.standard_normal((n, d))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(0.5 * (Z @ w) + 0.3)))).astype(np.int64)
    X = Z * rng.uniform(0.5, 2.0, d)
    return X, y, None, None, 2


def _make_w6(quick: bool):
    rng = np.random.default_rng(6)
    n, d, k = _peer_rows(quick), 100, 5
    W = rng.standard_normal((d, k)) * (rng.random(d) < 0.3)[:, None]
    Z = rng.standard_normal((n, d))
    y = (0.5 * (Z @ W) + rng.gumbel(size=(n, k))).argmax(axis=1).astype(np.int64)
    X = Z * rng.uniform(0.5, 2.0, d)
    return X, y, None, None, k


def _make_w7(quick: bool):
    rng = np.random.default_rng(0)
    n, d = _peer_rows(quick), 100
    X = _gaussian_correlated(rng, n, d)
    beta = np.zeros(d)
    beta[rng.choice(d, 20, replace=False)] = rng.normal(size=20)
    y = (X @ beta + 0.5 + rng.logistic(size=n) > 0).astype(np.int64)
    return X, y, None, None, 2


def _make_w8(quick: bool):
    rng = np.random.default_rng(8)
    n, d, k = _peer_rows(quick), 100, 5
    X = _gaussian_correlated(rng, n, d)
    W = np.zeros((d, k))
    W[rng.choice(d, 20, replace=False)] = rng.normal(size=(20, k))
    y = (X @ W + rng.gumbel(size=(n, k))).argmax(axis=1).astype(np.int64)
    return X, y, None, None, k


_MAKERS = {"W1": _make_w1, "W2": _make_w2, "W3": _make_w3, "W4": _make_w4, "W5": _make_w5,
           "W6": _make_w6, "W7": _make_w7, "W8": _make_w8}


# ---------------------------------------------------------------- cache
def _save(path: Path, a) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        if sp.issparse(a):
            sp.save_npz(f, a, compressed=False)
        else:
            np.save(f, np.ascontiguousarray(a))
    os.replace(tmp, path)


def _load(path: Path):
    if path.name.endswith(".npz"):
        return sp.load_npz(path).tocsr()
    return np.load(path)


def ensure(name: str, quick: bool, log=print) -> None:
    """Generate the workload and its optimum if the cache lacks them."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = _tag(name, quick)
    meta_path = CACHE / f"{tag}.json"
    if not meta_path.exists():
        start = time.perf_counter()
        X, y, X_test, y_test, k = _MAKERS[name](quick)
        ext = ".npz" if sp.issparse(X) else ".npy"
        _save(CACHE / f"{tag}.X{ext}", X)
        _save(CACHE / f"{tag}.y.npy", y.astype(np.int64))
        if X_test is not None:
            _save(CACHE / f"{tag}.X_test{ext}", X_test)
            _save(CACHE / f"{tag}.y_test.npy", y_test.astype(np.int64))
        meta = {"name": name, "quick": quick, "ext": ext, "has_test": X_test is not None,
                "n_classes": k, "shape": list(X.shape),
                "nnz_per_row": (X.nnz / X.shape[0]) if sp.issparse(X) else None}
        meta_path.write_text(json.dumps(meta))
        log(f"  generated {tag} {tuple(X.shape)} in {time.perf_counter() - start:.1f}s")
    if "f_opt" not in json.loads(meta_path.read_text()):
        w = load(name, quick)
        start = time.perf_counter()
        meta = json.loads(meta_path.read_text())
        if name in PENALTIES:
            f_opt, coef, reached = _reference(w)
            _save(CACHE / f"{tag}.coef.npy", coef)
            meta.update(f_opt=f_opt, f_opt_solvers=reached, alpha=w.alpha, l1_ratio=w.l1_ratio)
            log(f"  optimum of {tag}: f_opt={f_opt:.12g} (lowest of {reached}, "
                f"{time.perf_counter() - start:.1f}s)")
        else:
            f_opt, n_iter = _optimum(w)
            meta.update(f_opt=f_opt, f_opt_n_iter=n_iter, f_opt_solver="sklearn lbfgs tol=1e-10")
            log(f"  optimum of {tag}: f_opt={f_opt:.12g} ({n_iter} lbfgs iterations, "
                f"{time.perf_counter() - start:.1f}s)")
        meta_path.write_text(json.dumps(meta))


def meta(name: str, quick: bool) -> dict:
    return json.loads((CACHE / f"{_tag(name, quick)}.json").read_text())


def load(name: str, quick: bool) -> Workload:
    tag = _tag(name, quick)
    m = meta(name, quick)
    ext = m["ext"]
    X = _load(CACHE / f"{tag}.X{ext}")
    y = _load(CACHE / f"{tag}.y.npy")
    X_test = y_test = None
    if m["has_test"]:
        X_test = _load(CACHE / f"{tag}.X_test{ext}")
        y_test = _load(CACHE / f"{tag}.y_test.npy")
    alpha, l1_ratio = PENALTIES.get(name, (None, 0.0))
    return Workload(name, X, y, X_test, y_test, m["n_classes"], alpha, l1_ratio, quick)


def reference_coef(name: str, quick: bool) -> np.ndarray:
    """W (d, k') of the best solution found for a fastest-peer workload."""
    return np.load(CACHE / f"{_tag(name, quick)}.coef.npy")


def _optimum(w: Workload):
    import warnings

    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=1.0, tol=1e-10, max_iter=20_000).fit(w.X, w.y)
    W, b = clf.coef_.T, clf.intercept_
    return objective(w.X, w.y, W, b, w.n_classes), int(np.max(clf.n_iter_))


def _reference(w: Workload):
    """(lowest F, its W (d, k'), {solver: F reached}) over solvers at tight tolerances."""
    import warnings

    from sklearn.linear_model import LogisticRegression as SkLR

    import xentlearn

    k = w.n_classes
    found = {}
    penalty = "l2" if w.l1_ratio == 0 else ("l1" if w.l1_ratio == 1 else "elasticnet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = xentlearn.LogisticRegression(alpha=w.alpha, penalty=penalty,
                                           l1_ratio=w.l1_ratio, tol=1e-10, max_iter=5000)
        clf.fit(w.X, w.y)
        found["xentlearn tol=1e-10"] = (clf.coef_.T, clf.intercept_)
        if w.l1_ratio == 0:
            try:
                from sklearnex.linear_model import LogisticRegression as SkxLR
            except ImportError:
                SkxLR = None
            if SkxLR is not None:
                ref = SkxLR(C=1.0 / (w.n * w.alpha), tol=1e-12, max_iter=5000).fit(w.X, w.y)
                found["sklearnex tol=1e-12"] = (ref.coef_.T, ref.intercept_)
            ref = SkLR(C=1.0 / (w.n * w.alpha), tol=1e-10, max_iter=20_000).fit(w.X, w.y)
            found["sklearn lbfgs tol=1e-10"] = (ref.coef_.T, ref.intercept_)
        elif k == 2:
            import glum

            ref = glum.GeneralizedLinearRegressor(
                family="binomial", alpha=w.alpha, l1_ratio=w.l1_ratio, gradient_tol=1e-12,
                max_iter=1000).fit(w.X, w.y)
            found["glum gradient_tol=1e-12"] = (ref.coef_[:, None], np.atleast_1d(ref.intercept_))
        else:
            ref = SkLR(C=1.0 / (w.n * w.alpha), l1_ratio=w.l1_ratio, solver="saga", tol=1e-9,
                       max_iter=3000, random_state=0).fit(w.X, w.y)
            found["sklearn saga tol=1e-9"] = (ref.coef_.T, ref.intercept_)
    values = {name: w.objective(W, b) for name, (W, b) in found.items()}
    best = min(values, key=values.get)
    return values[best], np.asarray(found[best][0], dtype=np.float64), values


# ---------------------------------------------------------------- the objective
def objective(X, y, W, b, n_classes: int, alpha: float | None = None,
              l1_ratio: float = 0.0) -> float:
    """mean CE + alpha (l1_ratio ||W||_1 + (1 - l1_ratio) ||W||^2 / 2) (alpha = 1/n and
    l1_ratio 0 by default), float64, one formula for all.

    W is (d, 1) or (d,) for binary (one sigmoid logit), (d, k) for k classes.
    """
    n = X.shape[0]
    alpha = 1.0 / n if alpha is None else alpha
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if n_classes == 2:
        z = np.asarray(X @ W.reshape(-1)).ravel() + b.reshape(-1)[0]
        # log(1 + e^z) - y z, stable: max(z, 0) + log1p(e^-|z|) - y z
        ce = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z
        loss = ce.mean()
    else:
        Z = np.asarray(X @ W) + b
        loss = (logsumexp(Z, axis=1) - Z[np.arange(n), y]).mean()
    return float(loss + alpha * (l1_ratio * np.abs(W).sum()
                                 + 0.5 * (1.0 - l1_ratio) * np.sum(W * W)))


def mlp_log_loss(X, y, params: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean softmax log-loss of a relu MLP given [(W_l (fan_in, fan_out), b_l), ...]."""
    A = X
    for W, b in params[:-1]:
        A = np.maximum(A @ W + b, 0)
    W, b = params[-1]
    Z = A @ W + b
    if Z.shape[1] == 1:                                 # one sigmoid logit
        z = Z[:, 0]
        return float((np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z).mean())
    return float((logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]).mean())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="generate and cache the workloads")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("names", nargs="*", default=list(NAMES))
    args = parser.parse_args()
    for nm in args.names:
        ensure(nm, args.quick)
        print(nm, meta(nm, args.quick))
