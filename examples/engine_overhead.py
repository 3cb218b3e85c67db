"""The engine's own cost per op: a chain of 1,000 adds of 1-element float32 tensors,
forward and backward, in microseconds per op, beside the same arithmetic in raw NumPy.

    python examples/engine_overhead.py [--ops 1000] [--repeats 50]

Two chains: `y = y + 1.0` (one leaf at the start) and `y = y + x` (the leaf x is used by
every op, so backward also accumulates 1,000 gradients into x.grad). The NumPy lines do
the same forward adds and, for backward, the adds a hand-written backward would do.
"""

import argparse
import statistics
import time

import _cli as cli
import numpy as np

import gradkit as gk


def chain_scalar(n):
    x = gk.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(n):
        y = y + 1.0
    y.sum().backward()


def chain_leaf(n):
    x = gk.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(n):
        y = y + x
    y.sum().backward()


def numpy_scalar(n):
    y = np.ones(1, np.float32)
    for _ in range(n):
        y = y + 1.0
    g = np.ones(1, np.float32)
    for _ in range(n):  # the gradient passes through each add unchanged
        g = g * 1.0


def numpy_leaf(n):
    x = np.ones(1, np.float32)
    y = x
    for _ in range(n):
        y = y + x
    g, gx = np.ones(1, np.float32), np.zeros(1, np.float32)
    for _ in range(n):
        gx = gx + g


def per_op_us(fn, n, repeats):
    fn(n)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - t)
    return statistics.median(times) / n * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=cli.count, default=1000, help="adds per chain (default 1000)")
    p.add_argument("--repeats", type=cli.count, default=50,
                   help="timed runs of each chain; the median is printed (default 50)")
    args = p.parse_args(argv)
    for name, gk_fn, np_fn in [("y = y + 1.0", chain_scalar, numpy_scalar),
                               ("y = y + x  ", chain_leaf, numpy_leaf)]:
        a = per_op_us(gk_fn, args.ops, args.repeats)
        b = per_op_us(np_fn, args.ops, args.repeats)
        print(f"{name}: gradkit {a:5.2f} us/op (forward + backward), "
              f"raw NumPy {b:5.2f} us/op, ratio {a / b:4.1f}")


if __name__ == "__main__":
    cli.run(main)
