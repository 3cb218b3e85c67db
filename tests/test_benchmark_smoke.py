"""examples/benchmark.py must keep running: one smoke run, and its NumPy steps must be right.

No timing is asserted anywhere: the benchmark measures, the tests only keep it from rotting.
"""

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "benchmark.py"


def _gradkit_has_training_layers():
    from gradkit import nn, optim

    return hasattr(nn, "Linear") and hasattr(optim, "SGD")


def _run(*flags):
    proc = subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"benchmark {flags} exited {proc.returncode}:\n" \
                                 f"{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _rows(out):
    """(config, impl) -> the table row's cells."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0] != "config":
            rows[(cells[0], cells[1])] = cells
    return rows


def test_smoke_run_prints_the_table():
    out = _run("--smoke")
    assert "| config | impl" in out, out
    rows = _rows(out)
    assert rows[("tiny", "numpy")][3] == "1.00" and rows[("tiny", "numpy")][8] == "ref", out
    inplace = rows[("tiny", "numpy-inplace")]  # the hand-tuned reference row, beside the floor
    assert float(inplace[3]) > 0 and float(inplace[8]) <= 1e-4, out
    assert "preallocated buffers, in place" in out, out
    assert "LOSS MISMATCH" not in out and "ERROR" not in out, out
    if not _gradkit_has_training_layers():
        pytest.skip("gradkit.nn / gradkit.optim not implemented yet: the gradkit row is absent")
    gradkit = rows.get(("tiny", "gradkit"))
    assert gradkit is not None, out
    assert float(gradkit[2]) > 0  # a time was measured (its value is not judged)
    assert float(gradkit[8]) <= 1e-4  # its losses agree with the floor's
    assert "target tiny gradkit: gradkit/torch" in out, out  # target lines, informational
    assert "target tiny gradkit-compiled: gradkit-compiled/floor" in out, out
    compiled = rows.get(("tiny", "gradkit-compiled"))
    assert compiled is not None and float(compiled[8]) <= 1e-4, out  # the same losses


def test_smoke_run_of_a_lecture_model_with_one_thread():
    """makemore-mlp: a gradkit row (and a torch row, when PyTorch is installed) with no
    NumPy floor, losses that agree, and the BLAS each one multiplies with, one thread."""
    if not _gradkit_has_training_layers():
        pytest.skip("gradkit.nn / gradkit.optim not implemented yet")
    out = _run("--smoke", "--configs", "makemore-mlp", "--threads", "1")
    rows = _rows(out)
    gradkit = rows[("makemore-mlp", "gradkit")]
    assert float(gradkit[2]) > 0 and gradkit[3] == "-", out  # timed; no floor to divide by
    assert ("makemore-mlp", "numpy") not in rows and "numpy-inplace" not in out, out
    assert "LOSS MISMATCH" not in out and "ERROR" not in out, out
    assert "threads 1 (OPENBLAS_NUM_THREADS" in out, out
    assert "BLAS gradkit: numpy" in out, out
    if importlib.util.find_spec("torch") is not None:
        assert gradkit[8] != "ref" and float(gradkit[8]) <= 1e-4, out  # torch is the ref
        assert "BLAS torch: torch" in out and "1 thread\n" in out, out
        assert "target makemore-mlp gradkit: gradkit/torch" in out, out


@pytest.mark.parametrize("name", ["makemore-mlp", "bn-mlp", "bn-deep", "wavenet", "gpt"])
def test_lecture_models_give_gradkit_and_torch_the_same_losses(name):
    """Each lecture model, built by its example's code in both libraries (makemore.py's
    under torch's names), trains from the same weights and tokens to the same losses
    (on a batch of 4, to be quick)."""
    pytest.importorskip("torch")
    bench = _load_benchmark()
    cfg = dataclasses.replace(bench.CONFIGS[name], batch=4)
    weights, x, y = bench.make_inputs(cfg, seed=0)
    losses = {}
    for impl in ("gradkit", "torch"):
        step, read, _ = bench.build(impl, cfg, weights, x, y, "cpu")
        losses[impl] = [read(step()) for _ in range(3)]
    np.testing.assert_allclose(losses["gradkit"], losses["torch"], rtol=1e-4)
    assert losses["gradkit"][-1] < losses["gradkit"][0]  # it trains


def test_smoke_run_on_the_strict_device():
    """The whole gradkit training step runs on the standard-only, no-host-sync device."""
    from gradkit.backends import availability

    ok, why = availability("strict")
    if not ok:
        pytest.skip(f"strict backend unavailable: {why}")
    if not _gradkit_has_training_layers():
        pytest.skip("gradkit.nn / gradkit.optim not implemented yet")
    out = _run("--smoke", "--device", "strict", "--impls", "gradkit,numpy")
    gradkit = _rows(out)[("tiny", "gradkit (strict)")]
    assert gradkit[2] == "-"  # not timed
    assert float(gradkit[8]) <= 1e-4, out


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("gradkit_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _loss64(cfg, params, x, y):
    """The MLP's loss in float64, written plainly (no buffers), for finite differences."""
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i < len(params) - 1:
            h = np.maximum(h, 0) if cfg.act == "relu" else np.tanh(h)
    if cfg.loss == "mse":
        return np.mean((h - y) ** 2)
    h = h - h.max(axis=1, keepdims=True)
    logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


@pytest.mark.parametrize("mlp", ["NumpyMLP", "InplaceNumpyMLP"])
@pytest.mark.parametrize("act,loss", [("tanh", "mse"), ("relu", "ce")])
def test_numpy_steps_match_finite_differences(mlp, act, loss):
    """The floor (NumpyMLP) is the reference for every loss check, and the hand-tuned
    InplaceNumpyMLP is shown beside it: each one's SGD step must follow the true gradient
    (recovered from the update as (w_before - w_after) / lr)."""
    bench = _load_benchmark()
    cfg = bench.Config("check", (3, 5, 4), 6, act, loss, 1)
    weights, x, y = bench.make_data(cfg, seed=1)
    weights = [(w.astype(np.float64), b.astype(np.float64)) for w, b in weights]
    x = x.astype(np.float64)
    y = y if loss == "ce" else y.astype(np.float64)
    before = [(w.copy(), b.copy()) for w, b in weights]
    floor = getattr(bench, mlp)(np, cfg, [(w.copy(), b.copy()) for w, b in weights], x, y)
    loss0 = float(floor.step())
    assert loss0 == pytest.approx(_loss64(cfg, before, x, y), rel=1e-12)
    eps = 1e-6
    for (w, b), (w1, b1) in zip(before, floor.params):
        for arr0, arr1 in ((w, w1), (b, b1)):
            got = (arr0 - arr1) / bench.LR
            want = np.zeros_like(arr0)
            for idx in np.ndindex(arr0.shape):
                orig = arr0[idx]
                arr0[idx] = orig + eps
                up = _loss64(cfg, before, x, y)
                arr0[idx] = orig - eps
                down = _loss64(cfg, before, x, y)
                arr0[idx] = orig
                want[idx] = (up - down) / (2 * eps)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_plain_and_inplace_numpy_agree_over_steps(name):
    """The floor and the hand-tuned row compute the same training run in float32."""
    bench = _load_benchmark()
    cfg = bench.CONFIGS[name]
    weights, x, y = bench.make_data(cfg, seed=0)
    runs = []
    for cls in (bench.NumpyMLP, bench.InplaceNumpyMLP):
        mlp = cls(np, cfg, [(w.copy(), b.copy()) for w, b in weights], x, y)
        runs.append(([float(mlp.step()) for _ in range(5)], mlp.params))
    (loss_a, params_a), (loss_b, params_b) = runs
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for pa, pb in zip(params_a, params_b):
        for a, b in zip(pa, pb):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_target_lines_show_the_ratio_in_each_round():
    """Beside a target's median ratio, the range of the ratios within each round, where
    the two workers ran close in time: how settled the verdict is on a noisy machine."""
    bm = _load_benchmark()
    row = {"ms": 2.0, "ratio_numpy": 0.5, "ratio_torch": 1.0,
           "ms_by_round": {0: 2.0, 1: 3.0, 2: 1.0}}
    torch_row = {"ms": 2.0, "ms_by_round": {0: 2.0, 1: 2.0, 2: 2.0}}
    floor = {"ms": 4.0, "ms_by_round": {0: 4.0, 1: 4.0}}
    summary = {"small": {"gradkit-compiled": row, "torch": torch_row, "numpy": floor}}
    (line,) = bm.target_lines(summary)
    assert "gradkit-compiled/floor 0.50 [0.50-0.75 in 2 rounds] (<= 2.0: met)" in line, line
    assert "gradkit-compiled/torch 1.00 [0.50-1.50 in 3 rounds] (<= 0.6: NOT met)" in line, line
    assert bm._round_range({"ms_by_round": {0: 1.0}}, torch_row) == ""  # one round: nothing
