"""gradkit's own suite: every test starts from gk.manual_seed(0), whatever runs before it.

The `device` and `backend` fixtures come from gradkit's pytest plugin
(pytest_gradkit.py), as they would in a user's suite.

`--cupy-sim=MODE` (or GRADKIT_CUPY_SIM=MODE) runs the cupy tests on the CuPy simulator
(tests/cupy_sim) instead of a GPU: `1gpu`; `2gpu`, two GPUs without peer access, device 0
current and the tests' tensors on cuda:1; `cupy13`, CuPy 13's API. CI runs each.
"""

import os

import pytest

import gradkit as gk


def pytest_addoption(parser):
    from cupy_sim import MODES

    parser.addoption("--cupy-sim", default=os.environ.get("GRADKIT_CUPY_SIM") or None,
                     choices=sorted(MODES), metavar="MODE",
                     help=f"run the cupy tests on the CuPy simulator: {', '.join(MODES)}")


def pytest_configure(config):
    config.addinivalue_line("markers", "cupy_sim: a test of the CuPy simulator itself "
                                       "(tests/cupy_sim), which CI runs in each --cupy-sim mode")
    mode = config.getoption("cupy_sim")
    if mode:
        import cupy_sim

        cupy_sim.install(**cupy_sim.MODES[mode])
        if cupy_sim.Config.gpus > 1:
            gk.backends.set_default_device("cupy", "cuda:1")


@pytest.fixture(autouse=True)
def _seed():
    gk.manual_seed(0)


@pytest.fixture(autouse=True)
def _raw_arrays_on_their_device(request):
    """A test that asks for `backend` works with its raw arrays as library code does:
    with the backend's device current (it matters with several GPUs, --cupy-sim=2gpu)."""
    if "backend" not in request.fixturenames:
        yield
        return
    with request.getfixturevalue("backend").scope:
        yield
