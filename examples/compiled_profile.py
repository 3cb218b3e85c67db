"""Where a compiled step's time goes: every call of gk.compile's replay, timed and grouped by
NumPy function and first operand's shape; then the matrix products alone, in NumPy and (when
installed) in PyTorch on the same operands, beside PyTorch's whole step.

    python examples/compiled_profile.py small [--threads 2] [--steps 200] [--top 15]

CONFIG is one of examples/benchmark.py's configs (tiny, small, medium, large, makemore-mlp,
bn-mlp, bn-deep, wavenet, gpt), built by its builders: the benchmark's step and data, on the
CPU. The products line says how much of PyTorch's step NumPy's BLAS alone takes, the floor
under any target against PyTorch (docs/performance.md).
"""

import argparse
import collections
import functools
import os
import statistics
import time

import _cli as cli


def label(op):
    """A recorded call as `function shape`: `multiply 64x128`, `add.reduce 16x64x64`."""
    while isinstance(op, functools.partial) and op.func.__name__ in ("_into", "_mean_into"):
        op = op.args[1] if op.func.__name__ == "_into" else op.args[0]  # (what they run)
    func = op.func if isinstance(op, functools.partial) else op
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__name__", type(func).__name__)
    if type(owner).__name__ == "ufunc":  # a ufunc (its __call__) or one of its methods
        name = owner.__name__ + ("" if name == "__call__" else "." + name)
    operands = list(op.args) + list(op.keywords.get("out", ())) \
        if isinstance(op, functools.partial) else []
    arrays = [a for a in operands if hasattr(a, "shape") and hasattr(a, "dtype")]
    if not arrays:
        return name
    shape = max(arrays, key=lambda a: a.size).shape  # (the largest operand)
    return f"{name} {'x'.join(map(str, shape)) or '0-d'}"


def time_calls(step, program, steps):
    """Seconds per replay spent in each recorded call (the calls wrapped by timers)."""
    spent = [0.0] * len(program.ops)

    def timed(i, op):
        def run():
            t = time.perf_counter()
            op()
            spent[i] += time.perf_counter() - t
        return run

    ops, program.ops = program.ops, [timed(i, op) for i, op in enumerate(program.ops)]
    try:
        for _ in range(steps):
            step()
    finally:
        program.ops = ops
    return [s / steps for s in spent]


def median_ms(fn, steps):
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="a config of examples/benchmark.py (tiny, small, ..., gpt)")
    p.add_argument("--threads", type=cli.count, default=None,
                   help="BLAS and PyTorch threads (default: the libraries' own)")
    p.add_argument("--steps", type=cli.count, default=100, help="timed replays (default 100)")
    p.add_argument("--top", type=cli.count, default=15, help="groups listed (default 15)")
    args = p.parse_args(argv)
    if args.threads:  # (before NumPy loads its BLAS)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import benchmark as bm  # (imports NumPy)

    if args.config not in bm.CONFIGS:
        cli.fail(f"unknown config {args.config!r}; one of {', '.join(bm.CONFIGS)}")
    cfg = bm.CONFIGS[args.config]
    weights, x, y = bm.make_inputs(cfg, 0)
    step, _, _ = bm.build("gradkit-compiled", cfg, weights, x, y, "cpu", args.threads)
    for _ in range(5):  # eager, recorded, verified, then replays
        step()
    program = [p for p in step._programs.values() if not isinstance(p, int)][-1]
    whole = median_ms(step, args.steps)
    spent = time_calls(step, program, args.steps)
    groups, counts = collections.Counter(), collections.Counter()
    for op, s in zip(program.ops, spent):
        groups[label(op)] += s * 1e3
        counts[label(op)] += 1
    print(f"{args.config}: compiled step {whole:.3f} ms (median of {args.steps}); "
          f"{len(program.ops)} recorded calls, {sum(spent) * 1e3:.3f} ms timed one by one")
    for name, ms in groups.most_common(args.top):
        print(f"  {name:32s} {counts[name]:4d} calls {ms:8.3f} ms")

    products = [op for op in program.ops if label(op).startswith("matmul ")]
    numpy_ms = median_ms(lambda: [op() for op in products], args.steps)
    line = f"matrix products: {len(products)}, NumPy {numpy_ms:.3f} ms"
    try:
        import torch
    except ImportError:
        print(line + " (PyTorch is not installed: nothing to compare with)")
        return
    operands = [(torch.from_numpy(op.args[0]), torch.from_numpy(op.args[1]),
                 torch.from_numpy(op.keywords["out"][0])) for op in products]
    torch_ms = median_ms(lambda: [torch.matmul(a, b, out=o) for a, b, o in operands],
                         args.steps)
    torch_step, _, _ = bm.build("torch", cfg, weights, x, y, "cpu", args.threads)
    for _ in range(5):
        torch_step()
    torch_whole = median_ms(torch_step, args.steps)
    print(f"{line}, PyTorch on the same operands {torch_ms:.3f} ms; PyTorch's whole step "
          f"{torch_whole:.3f} ms: NumPy's products alone are {numpy_ms / torch_whole:.2f}x "
          f"of it, the compiled step {whole / torch_whole:.2f}x")


if __name__ == "__main__":
    cli.run(main)
