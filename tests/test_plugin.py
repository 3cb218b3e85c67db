"""The pytest plugin seen from outside: a user's test file run in a fresh pytest."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import gradkit as gk

USER_TESTS = '''
import pytest
from gradkit.testing import backend_params

@pytest.fixture
def doubled(device):
    return device * 2

def test_device(device, backend):
    assert backend.device == device

def test_own_fixture(doubled):
    assert len(doubled) % 2 == 0

@pytest.mark.parametrize("dev", backend_params(["numpy", "strict"]))
def test_helper(dev):
    assert dev in ("cpu", "strict:device1")

def test_fails_on_cpu(device):
    assert device != "cpu"

def test_plain():
    pass
'''


def _pytest(tmp_path, *args, env_backends=None):
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "GRADKIT_BACKENDS"}
    if env_backends is not None:
        env["GRADKIT_BACKENDS"] = env_backends
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args,
         str(tmp_path / "test_user.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _summary(out):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "gradkit backends" in line)
    return {line.split()[0]: line for line in lines[start + 1:start + 4]}


@pytest.fixture(scope="module")
def strict_ok():
    if not gk.is_available("strict"):
        pytest.skip(gk.availability("strict")[1])


def test_every_backend_collected_and_counted(tmp_path, strict_ok):
    code, out = _pytest(tmp_path)
    assert code == 1, out  # test_fails_on_cpu[numpy]
    summary = _summary(out)
    assert summary["numpy"].startswith("numpy   3 passed, 0 skipped, 1 failed"), out
    assert summary["strict"].startswith("strict  4 passed, 0 skipped, 0 failed"), out
    ok, reason = gk.availability("cupy")
    if not ok:
        assert summary["cupy"].startswith("cupy    0 passed, 3 skipped, 0 failed"), out
        assert reason in summary["cupy"] and reason in out  # the skip says why


def test_selection_option_wins_over_environment(tmp_path, strict_ok):
    code, out = _pytest(tmp_path, "--gradkit-backends=strict", env_backends="numpy")
    assert code == 0, out
    summary = _summary(out)
    assert "deselected" in summary["numpy"] and "not selected" in summary["numpy"]
    assert summary["strict"].startswith("strict  4 passed"), out
    assert "5 passed" in out and "deselected" in out


def test_selection_from_environment(tmp_path):
    code, out = _pytest(tmp_path, env_backends="numpy")
    assert code == 1 and "1 failed, 4 passed" in out, out
    assert "test_fails_on_cpu[numpy]" in out


def test_unknown_backend_is_a_usage_error(tmp_path):
    code, out = _pytest(tmp_path, "--gradkit-backends=numpy,tpu")
    assert code == 4 and "tpu" in out and "numpy, cupy, strict" in out, out
