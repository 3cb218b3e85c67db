"""python -m gradkit.selfcheck: it passes on every backend here, says what it checked, and
turns a broken op, a broken kernel or a check that raises into a FAIL and exit status 1."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk
import gradkit.ops.elementwise as elementwise
from gradkit import selfcheck
from gradkit.optim.adam import adam_update
from gradkit.testing import op_registry

NAMES = [name for name, _ in selfcheck.CHECKS]


def run_main(argv):
    lines = []
    code = selfcheck.main(argv, out=lines.append)
    return code, "\n".join(lines).split("\n")


def status_lines(lines):
    """check name -> (status, detail) from the output's check lines."""
    found = {}
    for line in lines:
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "SKIP"):
            name, _, detail = rest.partition(" ")
            assert name not in found, f"{name} reported twice"
            found[name] = (status, detail.strip())
    return found


def assert_passes(code, lines, device, quick):
    found = status_lines(lines)
    assert list(found) == NAMES, lines  # one line per check, in order
    assert code == 0, "\n".join(lines)
    assert not [n for n, (s, _) in found.items() if s == "FAIL"]
    canonical = gk.get_backend(device).device
    assert lines[0] == f"gradkit {gk.__version__} self-check on {canonical}, " + (
        "quick run (--quick)" if quick else "full run")
    assert lines[-1].startswith("OK: ") and lines[-1].endswith(f"on {canonical}.")
    assert found["ops.gradcheck"][0] == "PASS" and found["training_step"][0] == "PASS"
    assert found["save_load"][0] == "PASS" and found["determinism"][0] == "PASS"
    n_cases = len(op_registry.QUICK) if quick else len(op_registry.CASES)
    assert found["ops.forward"] == ("PASS", found["ops.forward"][1])
    assert found["ops.forward"][1].startswith(f"{n_cases} cases")
    assert found["ops.gradgradcheck"][0] == ("SKIP" if quick else "PASS")
    backend = gk.get_backend(device)
    if backend.fused_adam_update is None and backend.fused_sgd_update is None:
        assert found["fused_kernels"] == (
            "PASS", "no fused kernels on this backend (the optimizers' generic rules run)  "
                    + found["fused_kernels"][1].rsplit("  ", 1)[1])
    if backend.name != "cupy":
        assert found["second_gpu"][0] == "SKIP"
    guard = backend.host_sync_check or "nothing to detect"
    assert guard in found["training_step"][1]
    return found


def test_quick_selfcheck_passes_on_every_backend(device):
    code, lines = run_main(["--device", device, "--quick"])
    assert_passes(code, lines, device, quick=True)


def test_full_selfcheck_passes_on_the_cpu():
    """The full run on strict repeats tests/test_ops.py's work (the same registry checks),
    so only the CPU's runs here (4 s); the quick run above covers strict."""
    code, lines = run_main(["--device", "cpu"])
    assert_passes(code, lines, "cpu", quick=False)


def test_command_line_quick_on_cpu():
    proc = subprocess.run([sys.executable, "-m", "gradkit.selfcheck", "--quick", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.rstrip("\n").split("\n")
    assert_passes(proc.returncode, lines, "cpu", quick=True)
    assert lines[1] == "  device: cpu (--device)"
    assert proc.stderr == ""


def test_default_device_is_said(monkeypatch):
    monkeypatch.setattr(selfcheck, "CHECKS", selfcheck.CHECKS[-1:])  # second_gpu: instant
    code, lines = run_main([])
    assert code == 0
    if gk.cuda.is_available():
        assert lines[1].startswith("  device: cuda:0 (the default, as a CUDA GPU answers")
    else:
        assert lines[1].startswith("  device: cpu (the default, as no CUDA GPU is usable: ")
        assert gk.backends.availability("cupy")[1] in lines[1]


def test_unusable_device_exits_2():
    if gk.cuda.device_count() >= 8:
        pytest.skip("this machine has a cuda:7")
    code, lines = run_main(["--device", "cuda:7"])
    assert code == 2
    assert lines == [lines[0]] and lines[0].startswith("gradkit self-check: cannot use device "
                                                       "'cuda:7': ")


def test_a_broken_backward_fails_with_the_case_named(monkeypatch):
    def wrong_backward(self, g):  # d tanh = 1 - tanh^2, not 1
        return g * 1.0

    monkeypatch.setattr(elementwise.Tanh, "backward", wrong_backward)
    code, lines = run_main(["--device", "cpu", "--quick"])
    assert code == 1
    found = status_lines(lines)
    assert found["ops.forward"][0] == "PASS"
    status, detail = found["ops.gradcheck"]
    assert status == "FAIL" and detail.startswith("1 of 34 cases failed: tanh"), detail
    assert any(line.strip().startswith("tanh: GradcheckError: gradcheck: output 0")
               for line in lines)
    assert list(found) == NAMES  # the run went on after the failure
    assert lines[-1].startswith("FAILED: ") and "failed" in lines[-1]


def test_a_wrong_reference_fails_the_forward(monkeypatch):
    index = next(i for i, c in enumerate(op_registry.CASES) if c.name == "exp")
    wrong = dataclasses.replace(op_registry.CASES[index], ref=lambda x: np.exp(x) * 1.001)
    cases = list(op_registry.CASES)
    cases[index] = wrong
    monkeypatch.setattr(op_registry, "CASES", cases)
    monkeypatch.setitem(op_registry.BY_NAME, "exp", wrong)
    monkeypatch.setattr(selfcheck, "CHECKS", selfcheck.CHECKS[:1])
    code, lines = run_main(["--device", "cpu"])
    assert code == 1
    assert status_lines(lines)["ops.forward"] == (
        "FAIL", f"1 of {len(op_registry.CASES)} cases failed: exp  " + lines[3].rsplit("  ", 1)[1])
    assert lines[4].startswith("      exp: AssertionError")


def test_a_check_that_raises_is_a_fail_and_the_run_goes_on(monkeypatch):
    def boom(run):
        raise RuntimeError("the device caught fire")

    checks = [("boom", boom)] + [c for c in selfcheck.CHECKS if c[0] == "second_gpu"]
    monkeypatch.setattr(selfcheck, "CHECKS", checks)
    code, lines = run_main(["--device", "cpu", "--timeout", "0"])
    assert code == 1
    found = status_lines(lines)
    assert found["boom"] == ("FAIL", found["boom"][1])
    assert found["boom"][1].startswith("raised an exception")
    assert "      RuntimeError: the device caught fire" in lines
    assert found["second_gpu"][0] == "SKIP"
    code, lines = run_main(["--device", "cpu", "--verbose"])
    assert any(line.startswith("      Traceback (most recent call last)") for line in lines)


def test_fused_kernels_are_compared_with_the_generic_rules(monkeypatch):
    backend = gk.get_backend("cpu")
    monkeypatch.setattr(backend, "fused_adam_update", lambda *a: adam_update(backend.xp, *a))
    run = selfcheck.Run("cpu", backend)
    result = selfcheck.run_check(run, "fused_kernels", selfcheck.check_fused_kernels)
    assert result.status == "PASS"
    assert result.detail.startswith("fused_adam_update matches adam_update (float32, float64)")
    assert "not offered: fused_sgd_update" in result.detail

    def off_by_a_bit(p, g, m, v, lr, *rest):
        adam_update(backend.xp, p, g, m, v, lr * 1.01, *rest)

    monkeypatch.setattr(backend, "fused_adam_update", off_by_a_bit)
    result = selfcheck.run_check(run, "fused_kernels", selfcheck.check_fused_kernels)
    assert result.status == "FAIL" and "fused_adam_update vs adam_update" in "\n".join(
        result.lines)


def test_second_device_check_trains_on_another_device():
    """The multi-GPU check's body, on a second simulated device (no two GPUs here)."""
    ok, reason = gk.backends.availability("strict")
    if not ok:
        pytest.skip(reason)
    detail = selfcheck.check_other_device("strict:device2")
    assert detail.startswith("AdamW and SGD train on strict:device2")


def test_placement_problems_finds_a_tensor_off_the_device():
    model, opt, _ = selfcheck.train("cpu", "adamw", steps=1)
    assert selfcheck.placement_problems("cpu", model, opt) == []
    if not gk.backends.availability("strict")[0]:
        return
    p = next(iter(model.parameters()))
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].to("strict")
    problems = selfcheck.placement_problems("cpu", model, opt)
    assert problems == ["optimizer state exp_avg of 0.weight is on strict:device1 (array "
                        "array_api_strict._array_object), not cpu"]


def test_a_host_sync_in_the_training_step_fails_it(monkeypatch):
    """A float() of a device value inside the step is what no_host_sync exists to catch."""
    ok, reason = gk.backends.availability("strict")
    if not ok:
        pytest.skip(reason)
    original = gk.nn.utils.clip_grad_norm_

    def syncing_clip(parameters, max_norm, **kw):
        total = original(parameters, max_norm, **kw)
        float(total.array)  # a host read, as a careless `if norm > x:` would do
        return total

    monkeypatch.setattr(gk.nn.utils, "clip_grad_norm_", syncing_clip)
    result = selfcheck.run_check(selfcheck.Run("strict:device1", gk.get_backend("strict")),
                                 "training_step", selfcheck.check_training_step)
    assert result.status == "FAIL"
    assert "HostSyncError: a device value was pulled to the host" in result.lines[0]


def test_the_watchdog_ends_a_hanging_run():
    code = ("import time, gradkit.selfcheck as s\n"
            "s.CHECKS.insert(0, ('hang', lambda run: time.sleep(60)))\n"
            "raise SystemExit(s.main(['--device', 'cpu', '--timeout', '1']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=50)
    assert proc.returncode == 1
    assert "Timeout" in proc.stderr  # faulthandler's report, with where it hung
    assert "hang" not in proc.stdout  # it never got to print the check's line


def test_the_package_imports_pytest_only_in_the_plugin():
    """Users run the registry and the self-check without pytest installed."""
    import gradkit

    # (the plugin's helpers import pytest; the CuPy backend needs CuPy, which an installed
    # gradkit lists among its modules, an editable one not)
    names = [m.name for m in pkgutil.walk_packages(gradkit.__path__, "gradkit.")
             if m.name not in ("gradkit.testing.plugin", "gradkit.backends.cupy_backend")]
    assert "gradkit.selfcheck" in names and "gradkit.testing.op_registry" in names
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'pytest' not in sys.modules, name + ' imported pytest'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    importlib.import_module("gradkit.selfcheck")
