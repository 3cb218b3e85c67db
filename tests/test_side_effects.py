"""Importing gradkit, or having it installed, changes nothing outside gradkit (issue 10).

The pytest plugin is loaded in every pytest run of the environment, so it must not
import gradkit until a test uses it; malloc tuning is process-wide, so it is opt-in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest_gradkit
from gradkit import backends


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "GRADKIT_MALLOC_TUNING"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=120)


def test_the_plugins_backend_names_are_gradkits():
    assert pytest_gradkit.BACKEND_NAMES == backends.BACKEND_NAMES


def test_importing_gradkit_leaves_malloc_alone_unless_asked():
    code = "import gradkit.backends.numpy_backend as nb; print(nb.MALLOC_TUNED)"
    assert _python(code).stdout.strip() == "False"
    for off in ("0", "false", "No", "off", ""):
        assert _python(code, GRADKIT_MALLOC_TUNING=off).stdout.strip() == "False", off
    garbage = _python(code, GRADKIT_MALLOC_TUNING="maybe")
    assert garbage.stdout.strip() == "False" and "GRADKIT_MALLOC_TUNING='maybe'" in garbage.stderr
    glibc = sys.platform.startswith("linux") and _python(
        "import ctypes; ctypes.CDLL('libc.so.6').mallopt").returncode == 0
    for on in ("1", "true", "YES", "On"):
        out = _python(code, GRADKIT_MALLOC_TUNING=on).stdout.strip()
        assert out == str(bool(glibc)), on
    explicit = _python("import gradkit as gk; print(gk.backends.tune_malloc())").stdout.strip()
    assert explicit == str(bool(glibc))


def test_a_pytest_run_that_does_not_use_gradkit_does_not_import_it(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(textwrap.dedent("""
        import sys

        def test_nothing_of_gradkit_was_imported():
            assert not [m for m in sys.modules if m.split(".")[0] == "gradkit"]
        """))
    (tmp_path / "test_uses_gradkit.py").write_text(textwrap.dedent("""
        import sys

        def test_the_device_fixture_still_works(device):
            import gradkit as gk
            assert gk.ones(2, device=device).device == device
        """))
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
           str(tmp_path), "--gradkit-backends=numpy"]
    alone = subprocess.run(run + [str(tmp_path / "test_unrelated.py")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "gradkit backends" not in alone.stdout  # no summary section without its tests
    both = subprocess.run(run + [str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert both.returncode == 0, both.stdout + both.stderr
    assert "numpy   1 passed" in both.stdout
