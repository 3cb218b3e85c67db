"""The Chainer 7.8 worker of examples/benchmark.py: one MLP training step, timed.

Run by benchmark.py with the Python of a separate virtual environment that has Chainer
(which needs NumPy < 2), never with gradkit's: so this file imports neither gradkit nor
anything of benchmark.py, only NumPy, Chainer and (if installed) threadpoolctl. It reads
the float32 weights, inputs and targets that benchmark.py drew from an .npz file (W0, b0,
W1, b1, ..., x, y), builds the same MLP with Chainer's own links and functions
(L.Linear, F.relu / F.tanh, F.softmax_cross_entropy / F.mean_squared_error,
optimizers.SGD), and prints one line, ``@@result {json}``, in the shape of
benchmark.py's other workers: the first losses, the median ms per step, peak resident
memory, how far the steps raised it, minor page faults per step and the BLAS it uses.

One step is forward, loss, clear the gradients, backward, SGD update (Chainer clears
before backward where the others zero after the update: the same work). Chainer runs
with its default configuration, as a user gets it.

    python examples/_chainer_worker.py DATA.npz --act relu --loss ce --lr 0.05 \\
        --steps 150 --warmup 15 --check 5
    python examples/_chainer_worker.py --matmul 2048    # this NumPy's matmul GFLOP/s
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np


def _rss_mb():
    """Current resident size in MB (Linux), or None where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _threads(n):
    return f"{n} thread" if n == 1 else f"{n} threads"


def blas_summary(chainer_version):
    """One line: Chainer's version and the BLAS (OpenBLAS's kernel) its NumPy runs."""
    head = f"chainer {chainer_version}, numpy {np.__version__}"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"{head}: kernel and threads unknown (threadpoolctl is not installed there)"
    infos = [i for i in threadpool_info() if i["user_api"] == "blas"]
    if not infos:
        return f"{head}: no BLAS found by threadpoolctl"
    return "; ".join(f"{head}: {i['internal_api']} {i['version']} kernel "
                     f"{i.get('architecture')}, {_threads(i['num_threads'])}" for i in infos)


def build(data, act, loss, lr):
    """(step, read_loss) of the MLP whose arrays `data` maps by name, trained with Chainer."""
    import chainer
    import chainer.functions as F
    import chainer.links as L

    n_layers = sum(1 for k in data if k.startswith("W"))
    links = []
    for i in range(n_layers):
        w, b = data[f"W{i}"], data[f"b{i}"]
        links.append(L.Linear(w.shape[1], w.shape[0], initialW=w, initial_bias=b))
    model = chainer.ChainList(*links)
    activation = F.relu if act == "relu" else F.tanh
    loss_fn = F.softmax_cross_entropy if loss == "ce" else F.mean_squared_error
    opt = chainer.optimizers.SGD(lr=lr)
    opt.setup(model)
    x, y = data["x"], data["y"]
    if any(link.W.dtype != x.dtype for link in links):
        raise TypeError(f"weights {links[0].W.dtype} and data {x.dtype} differ")

    def step():
        h = x
        for i, link in enumerate(links):
            h = link(h)
            if i < n_layers - 1:
                h = activation(h)
        out = loss_fn(h, y)
        model.cleargrads()
        out.backward()
        opt.update()
        return out

    return step, lambda out: float(out.array)


def run(args):
    import chainer

    with np.load(args.data) as npz:
        data = {k: npz[k] for k in npz.files}
    step, read = build(data, args.act, args.loss, args.lr)
    base_mb = _rss_mb()
    losses = [read(step()) for _ in range(args.check)]
    for _ in range(args.warmup):
        step()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = ru1.ru_maxrss / 1024  # KB on Linux
    return {
        "impl": "chainer", "config": args.config, "device": "cpu", "losses": losses,
        "ms": statistics.median(times) * 1e3, "ms_min": min(times) * 1e3,
        "peak_rss_mb": peak_mb,
        "step_mb": peak_mb - base_mb if base_mb is not None else None,
        "faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / len(times),
        "gpu_mb": None, "blas": blas_summary(chainer.__version__),
    }


def run_matmul(n, seed):
    """This NumPy's float32 matmul rate (n^3, median of 10 after 3 untimed): the BLAS
    Chainer multiplies with, beside benchmark.py's reference for gradkit's NumPy."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), dtype=np.float32)
    times = []
    for i in range(13):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return {"impl": "chainer-matmul", "gflops": 2 * n**3 / statistics.median(times) / 1e9}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?",
                   help=".npz with W0, b0, W1, b1, ..., x, y (float32; y int64 for ce)")
    p.add_argument("--matmul", type=int, default=None, metavar="N",
                   help="instead: time this NumPy's float32 N^3 matmul (GFLOP/s)")
    p.add_argument("--seed", type=int, default=0, help="of --matmul's random matrices")
    p.add_argument("--config", default="?", help="the config's name, echoed in the result")
    p.add_argument("--act", choices=("relu", "tanh"))
    p.add_argument("--loss", choices=("ce", "mse"))
    p.add_argument("--lr", type=float)
    p.add_argument("--steps", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--check", type=int)
    args = p.parse_args(argv)
    if args.matmul is None:
        missing = [f"--{k}" for k in ("act", "loss", "lr", "steps", "warmup", "check")
                   if getattr(args, k) is None] + (["DATA"] if args.data is None else [])
        if missing:
            p.error(f"a training run needs {', '.join(missing)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    result = run_matmul(args.matmul, args.seed) if args.matmul else run(args)
    print("@@result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
