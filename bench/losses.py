"""Loss benchmark: xentlearn's value+gradient against torch forward+backward on CPU.

Times, in one run and alternating the contenders so that drift hits both:
  1. softmax_cross_entropy (mean, hard labels, with validation) vs
     torch.nn.functional.cross_entropy forward + backward, (n, k) logits;
  2. softmax_terms(out=...) (the engine's hot path: no validation, reused buffer);
  3. sigmoid_cross_entropy / sigmoid_terms on binary (n,) logits vs
     binary_cross_entropy_with_logits forward + backward.
Prints median seconds and ratios (xentlearn / torch; lower is better), and the
peak memory allocated by the numpy path in units of the logits' size
(numpy reports its allocations to tracemalloc). Not part of the test suite.

    .venv/bin/python bench/losses.py [--n 1000000] [--k 10] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F

from xentlearn.losses import (
    sigmoid_cross_entropy,
    sigmoid_terms,
    softmax_cross_entropy,
    softmax_terms,
)


def _median_times(contenders: dict, repeats: int) -> dict:
    times = {name: [] for name in contenders}
    for fn in contenders.values():      # warm-up (allocator, threads, caches)
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def _report(title: str, times: dict, peer: str) -> None:
    peer_median, peer_min = times[peer]
    for label, (median, best) in times.items():
        print(f"  {title} {label:24s} median {median * 1e3:7.1f} ms (ratio {median / peer_median:5.2f})"
              f"   min {best * 1e3:7.1f} ms (ratio {best / peer_min:5.2f})")


def _peak_in_logits(fn, nbytes: int) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak / nbytes


def _torch_step(loss_fn, zt, *args, **kwargs):
    def step():
        zt.grad = None
        loss = loss_fn(zt, *args, **kwargs)
        loss.backward()
        return loss.item(), zt.grad
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, k = args.n, args.k
    print(f"n={n} k={k} repeats={args.repeats} torch threads={torch.get_num_threads()} "
          f"numpy {np.__version__} torch {torch.__version__}")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        logits = rng.standard_normal((n, k)).astype(dtype)
        targets = rng.integers(0, k, n).astype(np.intp)
        out = np.empty_like(logits)
        zt = torch.from_numpy(logits).requires_grad_()
        yt = torch.from_numpy(targets.astype(np.int64))
        times = _median_times({
            "softmax_cross_entropy": lambda: softmax_cross_entropy(logits, targets),
            "softmax_terms(out=)": lambda: softmax_terms(logits, targets, out=out),
            "torch cross_entropy": _torch_step(F.cross_entropy, zt, yt),
        }, args.repeats)
        name = np.dtype(dtype).name
        _report(f"{name} softmax", times, "torch cross_entropy")
        nbytes = logits.nbytes
        print(f"  {name} softmax peak allocation, in logits sizes: "
              f"public {_peak_in_logits(lambda: softmax_cross_entropy(logits, targets), nbytes):.2f}, "
              f"terms(out=) {_peak_in_logits(lambda: softmax_terms(logits, targets, out=out), nbytes):.2f}")

        z1 = logits.reshape(-1)[:n].copy()
        t1 = (rng.random(n) < 0.5).astype(dtype)
        out1 = np.empty_like(z1)
        zt1 = torch.from_numpy(z1).requires_grad_()
        tt1 = torch.from_numpy(t1)
        times = _median_times({
            "sigmoid_cross_entropy": lambda: sigmoid_cross_entropy(z1, t1),
            "sigmoid_terms(out=)": lambda: sigmoid_terms(z1, t1, out=out1),
            "torch bce_with_logits": _torch_step(F.binary_cross_entropy_with_logits, zt1, tt1),
        }, args.repeats)
        _report(f"{name} sigmoid", times, "torch bce_with_logits")
        print(f"  {name} sigmoid peak allocation, in logits sizes: terms(out=) "
              f"{_peak_in_logits(lambda: sigmoid_terms(z1, t1, out=out1), z1.nbytes):.2f}")


if __name__ == "__main__":
    main()
