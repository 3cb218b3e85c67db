"""What data-parallel training costs and gains: step time and all-reduce time per step.

    python examples/distributed_benchmark.py                # 784-512-512-10, 1 and 2 ranks
    python examples/distributed_benchmark.py --ranks 1,2,4 --batch 128 --steps 50
    python examples/distributed_benchmark.py --device cuda  # one GPU per rank, NCCL

Runs `mpiexec -n N` on this script (--worker) for each configuration: N ranks, each with
`--batch` examples per step of the medium benchmark MLP (784-512-512-10, float32, SGD
with momentum), wrapped in DistributedDataParallel with buckets of 25 MiB (the whole
model's gradients in one all-reduce) or 0 (one all-reduce per parameter). Every rank
runs with one BLAS thread; the 1-rank rows show what the same per-rank work costs alone,
and `1 rank, N threads` what one process makes of all the cores. Printed per row: the
median step time (ms), the time spent in the gradient all-reduces per step (launch and
wait, ms), the collective calls per step, and examples per second over all ranks.
Needs the distributed extra (mpi4py, MPICH). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
unset for the workers (../shared/GPU-NOTES.md: native BLAS kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = (784, 512, 512, 10)


def worker(args) -> None:
    import numpy as np

    import gradkit as gk
    import gradkit.distributed as dist
    import gradkit.nn.functional as F
    from gradkit import nn, optim
    from gradkit.nn.parallel import DistributedDataParallel

    on_gpu = args.device.startswith("cuda")
    dist.init_process_group("nccl" if on_gpu else "mpi")
    rank = dist.get_rank()
    device = f"cuda:{dist.get_node_local_rank()}" if on_gpu else args.device
    gk.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(SIZES) - 2 else [])
    model = DistributedDataParallel(nn.Sequential(*layers).to(device),
                                    bucket_cap_mb=args.bucket_mb)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = gk.tensor(rng.standard_normal((args.batch, SIZES[0]), dtype=np.float32), device=device)
    y = gk.tensor(rng.integers(0, SIZES[-1], args.batch), device=device)

    # time the gradient all-reduces: each launch, and each wait at the end of backward
    engine = dist._group().engine(gk.get_backend(device))
    comm = {"seconds": 0.0, "calls": 0}
    launch = engine.all_reduce

    def timed_launch(*a, **k):
        t0 = time.perf_counter()
        work = launch(*a, **k)
        finish = work._finish

        def timed_finish():
            t1 = time.perf_counter()
            if finish is not None:
                finish()
            comm["seconds"] += time.perf_counter() - t1
        work._finish = timed_finish
        comm["seconds"] += time.perf_counter() - t0
        comm["calls"] += 1
        return work
    engine.all_reduce = timed_launch

    times, comm_times, calls = [], [], []
    for step in range(args.warmup + args.steps):
        comm["seconds"], comm["calls"] = 0.0, 0
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        gk.synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
            comm_times.append(comm["seconds"])
            calls.append(comm["calls"])
    # every rank's medians; rank 0 reports the slowest rank (the step waits for it)
    mine = (statistics.median(times), statistics.median(comm_times), max(calls))
    everyone = dist._group().comm.gather(mine, root=0)
    if rank == 0:
        step_s = max(e[0] for e in everyone)
        print("RESULT " + json.dumps(dict(step_ms=1e3 * step_s,
                                          comm_ms=1e3 * max(e[1] for e in everyone),
                                          calls=max(e[2] for e in everyone),
                                          examples_per_s=dist.get_world_size() * args.batch
                                          / step_s)), flush=True)
    dist.destroy_process_group()


def mpiexec() -> list[str]:
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or \
        shutil.which("mpiexec")
    if exe is None:
        sys.exit('error: no mpiexec: pip install "gradkit[distributed]"')
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    return [exe, "--oversubscribe", "--allow-run-as-root"] if "Open MPI" in version else [exe]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help="cpu (MPI) or cuda (NCCL, a GPU per rank)")
    p.add_argument("--ranks", default="1,2", help="comma-separated rank counts (default 1,2)")
    p.add_argument("--batch", type=int, default=256, help="examples per rank (default 256)")
    p.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--bucket-mb", type=float, default=25, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cores = os.cpu_count() or 1
    rows = []
    for n in [int(r) for r in args.ranks.split(",")]:
        threads_options = [1] if n > 1 or args.device != "cpu" else sorted({1, cores})
        for threads in threads_options:
            for bucket_mb in (25.0, 0.0):
                if n == 1 and bucket_mb == 0.0:
                    continue  # one rank: nothing to reduce either way
                run_env = dict(env, OMP_NUM_THREADS=str(threads),
                               OPENBLAS_NUM_THREADS=str(threads))
                cmd = [*mpiexec(), "-n", str(n), sys.executable, __file__, "--worker",
                       "--device", args.device, "--batch", str(args.batch),
                       "--steps", str(args.steps), "--warmup", str(args.warmup),
                       "--bucket-mb", str(bucket_mb)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode or not lines:
                    sys.exit(f"error: {' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
                result = json.loads(lines[0][7:])
                label = f"{n} rank{'s' if n > 1 else ''}" + \
                    (f", {threads} threads" if threads > 1 else "")
                rows.append((label, "one per parameter" if bucket_mb == 0 else "25 MiB", result))
    print(f"model {'-'.join(map(str, SIZES))}, {args.batch} examples per rank and step, "
          f"{args.device}, median of {args.steps} steps")
    print("| ranks | buckets | step ms | all-reduce ms/step | collective calls/step "
          "| examples/s |\n|---|---|---|---|---|---|")
    for label, buckets, r in rows:
        print(f"| {label} | {buckets} | {r['step_ms']:.2f} | {r['comm_ms']:.2f} | "
              f"{r['calls']} | {r['examples_per_s']:.0f} |")


if __name__ == "__main__":
    main()
