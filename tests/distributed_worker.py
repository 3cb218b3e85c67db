"""One rank of a distributed test: `mpiexec -n N python tests/distributed_worker.py CASE`.

tests/test_distributed.py starts it. Each case checks its own results and raises on a
mismatch (an uncaught exception aborts every rank, see gradkit.distributed); rank 0
prints one JSON line, `RESULT {...}`, with what the test reports. `--sim` runs on the
CuPy simulator with one simulated GPU per rank and the `nccl` backend (its NCCL stand-in
reduces over MPI), so the NCCL code path runs without a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("case")
parser.add_argument("--sim", action="store_true", help="CuPy simulator + nccl backend")
parser.add_argument("--device", default="cpu", help="cpu or strict (mpi backend)")
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--bucket-mb", type=float, default=25)
parser.add_argument("--nccl-version", type=int, help="with --sim: the NCCL version simulated")
args = parser.parse_args()

if args.sim:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import cupy_sim
    from mpi4py import MPI

    cupy_sim.install(gpus=MPI.COMM_WORLD.Get_size())
    if args.nccl_version:
        cupy_sim._nccl.VERSION = args.nccl_version

import gradkit as gk  # noqa: E402
import gradkit.distributed as dist  # noqa: E402
import gradkit.nn.functional as F  # noqa: E402
from gradkit import nn, optim  # noqa: E402
from gradkit.data import DataLoader, DistributedSampler  # noqa: E402
from gradkit.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

dist.init_process_group("nccl" if args.sim else "mpi")
RANK, WORLD = dist.get_rank(), dist.get_world_size()
DEVICE = f"cuda:{dist.get_node_local_rank()}" if args.sim else args.device


def result(**values):
    if RANK == 0:
        print("RESULT " + json.dumps(values), flush=True)


def host(t):
    return np.asarray(t.detach().cpu().numpy())


def same_everywhere(t) -> float:
    """The largest difference between this rank's `t` and any other rank's."""
    everything = dist._group().comm.allgather(host(t))
    return max(float(np.max(np.abs(a - everything[0]))) for a in everything)


# ---- cases --------------------------------------------------------------------------------
def collectives():
    r, n = RANK, WORLD
    t = gk.tensor([1.0, 2.0, 3.0], dtype=gk.float64, device=DEVICE) * (r + 1)
    dist.all_reduce(t)
    total = sum(range(1, n + 1))
    np.testing.assert_array_equal(host(t), np.array([1.0, 2.0, 3.0]) * total)
    for op, expect in [(dist.ReduceOp.AVG, total / n), (dist.ReduceOp.MAX, n),
                       (dist.ReduceOp.MIN, 1), (dist.ReduceOp.PRODUCT, float(np.prod(
                           np.arange(1, n + 1))))]:
        t = gk.full((2, 3), float(r + 1), device=DEVICE)
        dist.all_reduce(t, op=op)
        np.testing.assert_allclose(host(t), np.full((2, 3), expect), rtol=1e-6)
    ints = gk.tensor([r, 10 * r], device=DEVICE)  # int64
    dist.all_reduce(ints, op=dist.ReduceOp.MAX)
    np.testing.assert_array_equal(host(ints), [n - 1, 10 * (n - 1)])
    # in place on a non-contiguous view: written back through it
    base = gk.zeros(4, 2, device=DEVICE) + r
    view = base.T
    dist.all_reduce(view)
    np.testing.assert_array_equal(host(base), np.full((4, 2), sum(range(n))))
    # async: nothing guaranteed before wait(), everything after
    t = gk.ones(5, device=DEVICE)
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    assert work.is_completed()
    np.testing.assert_array_equal(host(t), np.full(5, n))
    b = gk.full((3,), float(r), device=DEVICE)
    dist.broadcast(b, src=n - 1)
    np.testing.assert_array_equal(host(b), np.full(3, n - 1))
    out = [gk.zeros(2, device=DEVICE) for _ in range(n)]
    dist.all_gather(out, gk.full((2,), float(r), device=DEVICE))
    for k, o in enumerate(out):
        np.testing.assert_array_equal(host(o), [k, k])
    piece = gk.zeros(2, device=DEVICE)
    dist.reduce_scatter_tensor(piece, gk.arange(2 * n, device=DEVICE, dtype=gk.float32))
    np.testing.assert_array_equal(host(piece), n * np.arange(2 * r, 2 * r + 2))
    errors = []
    for call in (lambda: dist.all_reduce(t, op="mean"),
                 lambda: dist.broadcast(t, src=n),
                 lambda: dist.all_reduce(gk.tensor([1]), op=dist.ReduceOp.AVG),
                 lambda: dist.all_gather([t], t) if n > 1 else dist.all_gather([], t),
                 lambda: dist.init_process_group("mpi")):
        try:
            call()
        except (ValueError, RuntimeError) as e:
            errors.append(str(e))
        else:
            raise AssertionError("no error")
    dist.barrier()
    result(errors=errors, nccl_calls=_nccl_calls())


def _nccl_calls():
    if not args.sim:
        return None
    import cupy

    return list(cupy.cuda.nccl.calls)


def _model(seed):
    gk.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(),
                         nn.Linear(16, 3)).to(DEVICE, gk.float64)


def _optimizer(name, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    return optim.AdamW(params, lr=1e-2, weight_decay=1e-2)


def equivalence(opt_name, accumulate):
    """N ranks with batch b for k steps == one process with batch N*b (float64)."""
    b, steps = 4, args.steps
    rng = np.random.default_rng(0)  # the same data on every rank
    x = rng.standard_normal((WORLD * b * steps, 6))
    y = rng.integers(0, 3, WORLD * b * steps)

    # one process, global batch N*b, on every rank (cheap): the reference
    ref = _model(0)
    ref_opt = _optimizer(opt_name, ref.parameters())
    for xb, yb in DataLoader(x, y, batch_size=WORLD * b, device=DEVICE):
        ref_opt.zero_grad()
        F.cross_entropy(ref(xb), yb).backward()
        ref_opt.step()

    # N ranks: a different initialisation on each, which the broadcast replaces
    model = DDP(_model(0 if RANK == 0 else 100 + RANK), bucket_cap_mb=args.bucket_mb)
    opt = _optimizer(opt_name, model.parameters())
    sampler = DistributedSampler(len(x), shuffle=False)
    loader = DataLoader(x, y, batch_size=b, sampler=sampler, device=DEVICE)
    calls_before = len(_nccl_calls() or [])
    start = time.perf_counter()
    for xb, yb in loader:
        opt.zero_grad()
        if accumulate:  # two micro-batches: the first without all-reduce
            with model.no_sync():
                (F.cross_entropy(model(xb[:b // 2]), yb[:b // 2]) / 2).backward()
            (F.cross_entropy(model(xb[b // 2:]), yb[b // 2:]) / 2).backward()
        else:
            F.cross_entropy(model(xb), yb).backward()
        opt.step()
    elapsed = time.perf_counter() - start
    diff = max(float(np.max(np.abs(host(p) - host(q))))
               for p, q in zip(model.module.parameters(), ref.parameters()))
    spread = max(same_everywhere(p) for p in model.module.parameters())
    assert diff < 1e-10, f"rank {RANK}: parameters differ from one process by {diff}"
    assert spread == 0.0, f"ranks disagree by {spread}"
    calls = len(_nccl_calls() or []) - calls_before
    result(max_diff=diff, spread=spread, buckets=len(model._buckets), steps=steps,
           seconds=elapsed, nccl_calls_per_step=calls / steps if args.sim else None)


def sampler():
    n = 10  # uneven for N = 3 and 4
    shards = []
    for epoch in range(3):
        s = DistributedSampler(n, seed=5)
        s.set_epoch(epoch)
        shards.append(s.indices())
    gathered = dist._group().comm.allgather(shards)
    for epoch in range(3):
        per_rank = [g[epoch] for g in gathered]
        assert len({len(p) for p in per_rank}) == 1, "shards of different lengths"
        everything = np.concatenate(per_rank)
        assert set(everything.tolist()) == set(range(n)), "some examples are missing"
        assert len(everything) - n < WORLD, "padding beyond one round"
        if n % WORLD == 0:
            assert len(set(everything.tolist())) == n, "shards overlap"
    assert not all(np.array_equal(gathered[0][0], gathered[0][e]) for e in (1, 2)), \
        "set_epoch does not change the order"
    dropped = DistributedSampler(n, drop_last=True).indices()
    everyone = np.concatenate(dist._group().comm.allgather(dropped))
    assert len(set(everyone.tolist())) == len(everyone) == n - n % WORLD
    result(lengths=[len(g[0]) for g in gathered])


def failure():
    if RANK == WORLD - 1:
        time.sleep(0.5)
        raise ValueError("rank-specific failure 1234")
    dist.barrier()  # the other ranks wait here for a rank that never comes


def exit_with_error():
    if RANK == WORLD - 1:
        time.sleep(0.5)
        sys.exit(3)  # as argparse and scripts end on an error: no exception to see
    dist.barrier()


def unused():
    gk.manual_seed(0)
    model = DDP(nn.ModuleDict({"used": nn.Linear(2, 2), "idle": nn.Linear(2, 2)}).to(DEVICE))
    try:
        model.module["used"](gk.ones(3, 2, device=DEVICE)).sum().backward()
    except RuntimeError as e:
        message = str(e)
    else:
        raise AssertionError("no error for an unused parameter")
    assert "idle.weight" in message and "find_unused_parameters" in message, message
    lenient = DDP(nn.ModuleDict({"used": nn.Linear(2, 2), "idle": nn.Linear(2, 2)}).to(DEVICE),
                  find_unused_parameters=True)
    lenient.module["used"](gk.ones(3, 2, device=DEVICE)).sum().backward()
    assert float(lenient.module["idle"].weight.grad.abs().sum()) == 0.0
    try:
        DDP(nn.Linear(2, 2 + RANK).to(DEVICE))
    except ValueError as e:
        mismatch = str(e)
    else:
        raise AssertionError("no error for different models")
    assert "same model on every rank" in mismatch, mismatch
    moved = DDP(nn.Linear(2, 2).to(DEVICE))
    moved.to(dtype=gk.float64)
    try:
        moved(gk.ones(3, 2, dtype=gk.float64, device=DEVICE)).sum().backward()
    except RuntimeError as e:
        assert "before wrapping" in str(e), e
    else:
        raise AssertionError("no error for a model moved after wrapping")
    result(message=message, mismatch=mismatch)


def buffers():
    """BatchNorm: rank 0's running statistics reach every rank at each forward; the batch
    statistics stay local."""
    gk.manual_seed(RANK)
    model = DDP(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(DEVICE))
    bn = model.module[1]
    for _ in range(2):
        model(gk.randn(8, 3, device=DEVICE) + RANK).sum().backward()
    # after the last forward the running stats are this rank's own update of rank 0's
    spread = same_everywhere(bn.running_mean)
    assert WORLD == 1 or spread > 0, "running statistics were averaged, not kept local"
    bn.momentum = 0.0  # a forward that leaves them as the broadcast made them
    model(gk.randn(8, 3, device=DEVICE) + RANK)
    broadcast = max(same_everywhere(bn.running_mean), same_everywhere(bn.running_var))
    assert broadcast == 0.0, f"rank 0's running statistics did not reach every rank ({broadcast})"
    result(spread_after_local_update=spread, spread_after_broadcast=broadcast)


CASES = {"collectives": collectives, "sampler": sampler, "failure": failure,
         "exit": exit_with_error,
         "unused": unused, "buffers": buffers,
         "sgd": lambda: equivalence("sgd", False), "adamw": lambda: equivalence("adamw", False),
         "sgd-no_sync": lambda: equivalence("sgd", True),
         "adamw-no_sync": lambda: equivalence("adamw", True)}

CASES[args.case]()
dist.destroy_process_group()
