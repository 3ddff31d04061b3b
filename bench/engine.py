"""Engine benchmark (issue: training engine): xentlearn's loop against a hand-written PyTorch loop.

Measures, in one run and alternating the contenders so drift hits both:
  1. epoch time of mini-batch (256) training, same optimizer (SGD + Nesterov
     momentum), for a linear softmax model and a 1-hidden-layer MLP (64, relu);
  2. full-batch loss+gradient time of the linear model over the time to read X once.
Prints ratios (xentlearn / peer; lower is better). Not part of the timed test suite.

    .venv/bin/python bench/engine.py [--n 200000] [--d 100] [--k 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from xentlearn import optimizers
from xentlearn.data import ArraySource
from xentlearn.models import MLP, Linear
from xentlearn.objective import Objective, make_loss
from xentlearn.penalties import Penalty
from xentlearn.training import fit_loop, parallel_map


def _data(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    W = rng.standard_normal((d, k)).astype(dtype)
    y = (X @ W + rng.gumbel(size=(n, k))).argmax(axis=1).astype(np.intp)
    return X, y


def _ours_epoch(model, X, y, lr):
    objective = Objective(model, make_loss("multiclass"), Penalty(1e-4), "multiclass")
    params = model.init(np.random.default_rng(0), X.dtype)
    source = ArraySource(X, y)
    start = time.perf_counter()
    fit_loop(objective, optimizers.sgd(lr, momentum=0.9, nesterov=True), source, params,
             max_epochs=1, batch_size=256, rng=np.random.default_rng(0))
    return time.perf_counter() - start


def _torch_epoch(hidden, X, y, lr):
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    d, k = X.shape[1], int(y.max()) + 1
    layers = ([torch.nn.Linear(d, k)] if hidden is None else
              [torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, k)])
    net = torch.nn.Sequential(*layers).to(Xt.dtype)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    order = torch.randperm(len(Xt), generator=gen)
    for i in range(0, len(Xt), 256):
        idx = order[i:i + 256]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def _full_batch_gradient(X, y, k):
    task = "binary" if k == 1 else "multiclass"
    model = Linear(X.shape[1], k)
    objective = Objective(model, make_loss(task), Penalty(1e-4), task)
    params = model.init(np.random.default_rng(0), X.dtype)
    source = ArraySource(X, y)
    start = time.perf_counter()
    with parallel_map() as map_fn:   # the training loop's path: both cores, one BLAS thread
        objective.value_and_grad(params, source.batches(None), map_fn=map_fn)
    return time.perf_counter() - start


def _read_once(X):
    start = time.perf_counter()
    X.sum(axis=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"n={args.n} d={args.d} k={args.k}, torch threads {torch.get_num_threads()}")
    for dtype in (np.float32, np.float64):
        X, y = _data(args.n, args.d, args.k, dtype)
        rows = []
        for name, hidden in (("linear", None), ("mlp(64)", 64)):
            model = Linear(args.d, args.k) if hidden is None else MLP(args.d, (hidden,), args.k)
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(_ours_epoch(model, X, y, 0.01))
                theirs.append(_torch_epoch(hidden, X, y, 0.01))
            o, t = statistics.median(ours), statistics.median(theirs)
            rows.append((f"mini-batch 256 epoch, {name}", o, t, "torch loop"))
        y_binary = (y % 2).astype(dtype)
        for k, targets, label in ((args.k, y, f"softmax k={args.k}"), (1, y_binary, "binary")):
            grads, reads = [], []
            for _ in range(max(5, args.repeats)):
                grads.append(_full_batch_gradient(X, targets, k))
                reads.append(_read_once(X))
            rows.append((f"full-batch loss+grad, {label}", statistics.median(grads),
                         statistics.median(reads), "one read of X"))
        print(f"\n{np.dtype(dtype).name}")
        print(f"  {'measure':36s} {'xentlearn':>10s} {'peer':>10s} {'ratio':>7s}  peer")
        for label, o, t, peer in rows:
            print(f"  {label:36s} {o * 1e3:9.1f}ms {t * 1e3:9.1f}ms {o / t:7.2f}  {peer}")


if __name__ == "__main__":
    main()
