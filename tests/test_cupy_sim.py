"""gradkit's CUDA path on the CuPy simulator (tests/cupy_sim): what only CuPy does.

These run when the suite runs with `--cupy-sim=MODE` (CI runs 1gpu, 2gpu and cupy13) and
skip otherwise. The first group checks the simulator itself against CuPy's documented
behaviour; the rest are the CUDA-path defects it found (issue 9), each a test that fails
without its fix: hidden synchronisations, wrapped indices, relabelled errors, device
placement with several GPUs, CuPy 13's missing `mT` (the whole suite in cupy13 mode).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn, optim

cupy = sys.modules.get("cupy")
pytestmark = [pytest.mark.cupy_sim, pytest.mark.skipif(
    not getattr(cupy, "__gradkit_simulator__", False),
    reason="runs on the CuPy simulator only (pytest --cupy-sim=1gpu|2gpu|cupy13)")]

if getattr(cupy, "__gradkit_simulator__", False):
    import cupy_sim
    from cupy_sim import Config


@pytest.fixture
def dev():
    return gk.backends.default_device("cupy")  # cuda:1 with two simulated GPUs


def syncs_during(fn):
    before = Config.syncs
    fn()
    return Config.syncs - before


# ---- the simulator does what CuPy does ------------------------------------------------------
def test_simulator_refuses_host_conversion_and_numpy_operands():
    x = cupy.arange(4.0)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        x + np.ones(4)
    with pytest.raises(TypeError, match="Unsupported type"):
        cupy.maximum(x, np.ones(4))
    assert isinstance(x.sum(), cupy.ndarray) and x.sum().shape == ()  # 0-d, not a scalar
    assert (x * 2.0).get().tolist() == [0.0, 2.0, 4.0, 6.0]  # scalars are fine


def test_simulator_counts_host_synchronisations():
    x = cupy.arange(4.0)
    assert syncs_during(lambda: x * 2 + 1) == 0
    assert syncs_during(lambda: float(x.sum())) == 1
    assert syncs_during(lambda: x[x > 1]) == 1  # a boolean mask's count is read on the host
    assert syncs_during(lambda: x[0].item()) == 1
    assert syncs_during(lambda: x.shape[0] + len(x)) == 0  # shapes live on the host
    with pytest.raises(cupy_sim.DeviceSynchronized):
        with sys.modules["cupyx"].allow_synchronize(False):
            bool(x.sum() > 0)


def test_simulator_wraps_out_of_range_indices():
    x = cupy.arange(5.0)
    assert x[cupy.asarray([5, -6])].get().tolist() == [0.0, 4.0]
    assert x.take(cupy.asarray([7])).get().tolist() == [2.0]
    out = cupy.zeros(3)
    cupy.add.at(out, cupy.asarray([3, 4]), 1.0)
    assert out.get().tolist() == [1.0, 1.0, 0.0]


def test_simulator_generator_has_no_permutation_and_keeps_state_on_the_device():
    rng = cupy.random.default_rng(0)
    assert not hasattr(rng, "permutation") and not hasattr(rng, "shuffle")
    state = rng.bit_generator._state.copy()
    a = rng.random(3).get()
    rng.bit_generator._state[...] = state
    np.testing.assert_array_equal(rng.random(3).get(), a)


def test_simulator_versions_and_devices():
    x = cupy.ones((2, 3))
    assert hasattr(x, "mT") == (Config.major() >= 14)
    if Config.gpus > 1:
        with cupy.cuda.Device(1):
            y = cupy.ones(3)
        assert y.device.id == 1 and cupy.ones(3).device.id == 0  # the current device
        with pytest.raises(ValueError, match="Peer access is unavailable"):
            y + 1  # a kernel on device 0 reading device 1's memory


# ---- defects the simulator found ------------------------------------------------------------
def test_clipping_and_abs_do_not_synchronise(dev):
    """Defect 2: clip and abs's backward went through array-api-compat's CuPy clip/sign,
    whose boolean masks read a count on the host."""
    x = gk.tensor([-2.0, 0.5, 3.0], device=dev, requires_grad=True)

    def clamp_and_abs():
        (x.clamp(-1.0, 1.0).sum() + x.abs().sum()).backward()

    assert syncs_during(clamp_and_abs) == 0
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 2.0, 1.0])
    model = nn.Linear(3, 2).to(dev)
    model(gk.ones(4, 3, device=dev)).sum().backward()
    assert syncs_during(lambda: nn.utils.clip_grad_norm_(model.parameters(), 0.1)) == 0
    assert syncs_during(lambda: nn.utils.clip_grad_value_(model.parameters(), 0.01)) == 0
    assert float(model.weight.grad.abs().max()) <= 0.01


def _step_model(dev):
    gk.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.1),
                         nn.Linear(16, 16), nn.LayerNorm(16), nn.Tanh(),
                         nn.Linear(16, 4)).to(dev)


def test_out_of_range_indices_give_nan_not_another_row(dev):
    """Defect 3: CuPy wraps an out-of-range integer index around (reading a plausible
    wrong row). Without debug mode gradkit fills those positions instead, at no
    synchronisation; with it, IndexError."""
    w = gk.arange(12.0, device=dev).reshape(4, 3).requires_grad_()
    idx = gk.tensor([0, 4, -5, -1], device=dev)
    before = Config.syncs
    rows = w[idx]
    emb = F.embedding(gk.tensor([[1, 4], [-1, 2]], device=dev), w)
    labels = gk.arange(4, device=dev)[idx]
    gathered = gk.gather(w, 1, gk.tensor([[0], [3], [2], [1]], device=dev))
    rows.sum().backward()
    assert Config.syncs == before
    got = rows.numpy()
    np.testing.assert_array_equal(got[[0, 3]], [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0]])
    assert np.isnan(got[[1, 2]]).all()
    np.testing.assert_array_equal(w.grad.numpy().sum(axis=1), [3.0, 0.0, 0.0, 3.0])
    e = emb.numpy()
    assert np.isnan(e[0, 1]).all() and np.isnan(e[1, 0]).all()  # 4 and -1: no such rows
    np.testing.assert_array_equal(e[1, 1], [6.0, 7.0, 8.0])
    assert labels.tolist() == [0, np.iinfo(np.int64).min, np.iinfo(np.int64).min, 3]
    assert np.isnan(gathered.numpy()[1, 0]) and gathered.numpy()[2, 0] == 8.0
    gk.set_debug(True)
    try:
        with pytest.raises(IndexError, match=r"outside \[0, 4\)"):
            F.embedding(gk.tensor([4], device=dev), w)
        with pytest.raises(IndexError, match="range over"):
            w[idx]
    finally:
        gk.set_debug(False)


def test_cupy_errors_keep_their_kind(dev):
    """Defect 5: a NumPy array handed to CuPy is a TypeError, arrays of two GPUs a
    DeviceError; gradkit used to call both a ShapeError."""

    class AddHost(gk.Function):
        def forward(self, x):
            return x + np.ones(x.shape, dtype=x.dtype)  # a host array: CuPy refuses it

        def backward(self, g):
            return g

    x = gk.ones(3, device=dev)
    with pytest.raises(TypeError, match="addhost: Unsupported type"):
        AddHost.apply(x)
    if Config.gpus > 1:
        class Scale(gk.Function):
            def forward(self, x, other):
                return x * other

            def backward(self, g):
                return g, None

        with cupy.cuda.Device(0):
            on_gpu0 = cupy.ones(3)
        with pytest.raises(gk.DeviceError, match="different from the current device"):
            Scale.apply(gk.ones(3, device="cuda:1"), on_gpu0)


@pytest.mark.skipif(not getattr(cupy, "__gradkit_simulator__", False)
                    or cupy.cuda.runtime.getDeviceCount() < 2, reason="needs two (simulated) GPUs")
def test_cuda_01_is_cuda_1():
    """Defect 6: one backend per GPU, however the index is written."""
    assert gk.get_backend("cuda:01") is gk.get_backend("cuda:1")
    assert gk.zeros(2, device="cuda:01").device == "cuda:1"


@pytest.mark.skipif(not getattr(cupy, "__gradkit_simulator__", False)
                    or cupy.cuda.runtime.getDeviceCount() < 2, reason="needs two (simulated) GPUs")
@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_everything_of_a_step_on_cuda_1_lives_on_gpu_1(opt_name):
    """Defect 4: with device 0 current, a model on cuda:1 used to get arrays made on GPU
    0 (creation, gradient seeds and sums, optimizer state, BatchNorm's counters, ...).
    Without peer access that raised; here every array must be on GPU 1."""
    assert cupy.cuda.runtime.getDevice() == 0
    model = _step_model("cuda:1")
    x = gk.randn(16, 8, device="cuda:1")
    y = gk.randint(0, 4, (16,), device="cuda:1")
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                     weight_decay=1e-4)
           if opt_name == "sgd" else optim.AdamW(model.parameters(), lr=1e-3))
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    arrays = [loss.array] + [t.array for t in model.state_dict().values()]
    arrays += [p.grad.array for p in model.parameters()]
    arrays += [s.array for st in opt.state.values() for s in st.values()
               if isinstance(s, gk.Tensor)]
    assert arrays and all(a.device.id == 1 for a in arrays)
    made = [gk.zeros(2, device="cuda:1"), gk.ones(2, device="cuda:1"),
            gk.arange(3, device="cuda:1"), gk.full((2,), 3.0, device="cuda:1"),
            gk.eye(2, device="cuda:1"), gk.tensor([1.0], device="cuda:1"),
            gk.randperm(4, device="cuda:1"), gk.zeros(2).to("cuda:1")]
    assert all(t.array.device.id == 1 for t in made)
    assert cupy.cuda.runtime.getDevice() == 0  # and the caller's current device is kept
