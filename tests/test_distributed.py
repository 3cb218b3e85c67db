"""gradkit.distributed, DistributedDataParallel and DistributedSampler, under mpiexec.

Each test starts `mpiexec -n N python tests/distributed_worker.py CASE` (2 ranks, and 3
to catch uneven shards) and reads rank 0's `RESULT` line; the worker checks its own
numbers and aborts every rank on a mismatch. `--sim` runs the NCCL path on the CuPy
simulator, one simulated GPU per rank. Needs mpi4py and an `mpiexec` (the `distributed`
extra: mpi4py and MPICH); skipped with the reason without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 120  # seconds for one mpiexec run: far above what any case takes


def _mpiexec() -> list[str]:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip('distributed tests need mpi4py and MPI: pip install -e ".[distributed]"')
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or \
        shutil.which("mpiexec")
    if exe is None:
        pytest.skip("distributed tests need an mpiexec (the mpich wheel provides one)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        return [exe, "--oversubscribe", "--allow-run-as-root"]
    return [exe]


def run(case: str, n: int = 2, *extra: str, expect_failure: bool = False):
    """Run a case on `n` ranks; return (rank 0's result dict, seconds, output)."""
    command = [*_mpiexec(), "-n", str(n), sys.executable, str(WORKER), case, *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    if expect_failure:
        assert proc.returncode != 0, output
        return None, seconds, output
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{output[-4000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, output
    return json.loads(lines[0][len("RESULT "):]), seconds, output


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_collectives(n, device):
    result, _, _ = run("collectives", n, "--device", device)
    assert len(result["errors"]) == 5


@pytest.mark.parametrize("case", ["sgd", "adamw", "sgd-no_sync", "adamw-no_sync"])
@pytest.mark.parametrize("bucket_mb", ["25", "0"])
def test_ranks_match_one_process_with_the_global_batch(case, bucket_mb):
    """The key property: N ranks with batch b take the steps of one process with N*b."""
    result, _, _ = run(case, 2, "--bucket-mb", bucket_mb)
    assert result["max_diff"] < 1e-10 and result["spread"] == 0.0
    assert result["buckets"] == (1 if bucket_mb == "25" else 6)  # 3 Linear layers


@pytest.mark.parametrize("case", ["sgd", "adamw-no_sync"])
def test_three_ranks_match_one_process(case):
    result, _, _ = run(case, 3, "--bucket-mb", "0.0005")  # buckets of 512 bytes
    assert result["max_diff"] < 1e-10 and result["spread"] == 0.0
    assert 1 < result["buckets"] < 6


def test_strict_device_ddp():
    result, _, _ = run("adamw", 2, "--device", "strict")
    assert result["max_diff"] < 1e-10


@pytest.mark.parametrize("n", [2, 3, 4])
def test_sampler_shards(n):
    result, _, _ = run("sampler", n)
    assert len(set(result["lengths"])) == 1 and result["lengths"][0] == -(-10 // n)


def test_failure_on_one_rank_ends_all_promptly():
    _, seconds, output = run("failure", 3, expect_failure=True)
    assert "rank 2 failed; aborting all ranks" in output
    assert "ValueError: rank-specific failure 1234" in output
    assert seconds < 30, f"the job took {seconds:.0f} s to end"


def test_sys_exit_with_an_error_on_one_rank_ends_all_promptly():
    _, seconds, output = run("exit", 3, expect_failure=True)
    assert "rank 2 exited with status 3; aborting all ranks" in output
    assert seconds < 30, f"the job took {seconds:.0f} s to end"


def test_unused_parameters_and_different_models():
    result, _, _ = run("unused", 2)
    assert "idle.weight" in result["message"]
    assert "rank 0 and rank 1 differ" in result["mismatch"]


def test_batchnorm_statistics_stay_local():
    result, _, _ = run("buffers", 2)
    assert result["spread_after_local_update"] > 0 and result["spread_after_broadcast"] == 0


# ---- the NCCL path, on the CuPy simulator ------------------------------------------------
def test_nccl_collectives_on_the_simulator():
    result, _, _ = run("collectives", 2, "--sim")
    # every collective went through NCCL (none fell back to MPI host copies)
    assert result["nccl_calls"].count("allReduce") == 8
    assert result["nccl_calls"][-3:] == ["broadcast", "allGather", "reduceScatter"]


@pytest.mark.parametrize("case,bucket_mb,calls", [("adamw", "25", 1), ("sgd-no_sync", "25", 1),
                                                   ("adamw", "0", 6)])
def test_nccl_ddp_on_the_simulator(case, bucket_mb, calls):
    result, _, _ = run(case, 2, "--sim", "--bucket-mb", bucket_mb)
    assert result["max_diff"] < 1e-10 and result["spread"] == 0.0
    assert result["nccl_calls_per_step"] == calls


def test_nccl_before_2_10_averages_by_sum_and_divide():
    """NCCL < 2.10 has no ncclAvg (the stand-in refuses it, as NCCL would)."""
    result, _, _ = run("collectives", 2, "--sim", "--nccl-version", "20903")
    assert result["nccl_calls"].count("allReduce") == 8
    result, _, _ = run("adamw", 2, "--sim", "--nccl-version", "20903")
    assert result["max_diff"] < 1e-10


def test_nccl_three_ranks_on_the_simulator():
    result, _, _ = run("adamw-no_sync", 3, "--sim")
    assert result["max_diff"] < 1e-10


def test_nccl_unused_parameters_on_the_simulator():
    run("unused", 2, "--sim")
