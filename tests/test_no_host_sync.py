"""The training step never pulls a device value to the host.

On a GPU, `float(x)`, `bool(x)` (an `if` on a tensor), `.item()` or a NumPy conversion
inside the library would synchronise every step. array-api-strict already refuses
implicit NumPy conversion on its non-default device; the strict backend's
`no_host_sync()` also makes the Array's scalar conversions and the backend's explicit
host copy fail while a whole training step runs (forward, losses, backward, clipping,
optimizer, schedule), so any such call in gradkit's training path fails this test. It is
the same context manager the self-check (`python -m gradkit.selfcheck`) uses, which on
CuPy is `cupyx.allow_synchronize(False)`.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn, optim
from gradkit.backends import Backend, HostSyncError
from gradkit.testing import backend_params

# The devices that refuse synchronising: strict, and CuPy (a GPU, or the CuPy simulator
# with --cupy-sim, whose synchronisations raise inside allow_synchronize(False)).
DEVICES = backend_params(["strict", "cupy"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_training_step_has_no_host_transfer(opt_name, device):
    backend = gk.get_backend(device)
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.standard_normal((16, 8)).astype(np.float32), device=device)
    y = gk.tensor(rng.integers(0, 3, 16), device=device)
    target = gk.tensor(rng.standard_normal((16, 1)).astype(np.float32), device=device)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.1),
                          nn.Linear(16, 16), nn.LayerNorm(16), nn.Tanh(),
                          nn.Linear(16, 4)).to(device)
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
           if opt_name == "sgd" else optim.AdamW(model.parameters(), lr=1e-3))
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    before = [p.numpy().copy() for p in model.parameters()]
    with backend.no_host_sync():
        for _ in range(2):
            out = model(x)
            loss = (F.cross_entropy(out[:, :3], y, label_smoothing=0.1)
                    + F.mse_loss(out[:, 3:], target)
                    + F.binary_cross_entropy_with_logits(out[:, 3:], (target > 0).float()))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
    after = [p.numpy() for p in model.parameters()]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after)), "nothing was trained"
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("device", DEVICES)
def test_index_bounds_are_read_on_a_device_only_in_debug_mode(device):
    """Embedding, integer indexing and class targets on a device: no host read outside
    debug mode; in debug mode the check reads through the backend's explicit copy."""
    backend = gk.get_backend(device)
    emb = nn.Embedding(5, 4).to(device)
    idx = gk.tensor([[0, 4], [2, 1]], device=device)
    y = gk.tensor([0, 3], device=device)

    def step():
        h = emb(idx)[:, gk.tensor([1], device=device)]
        return F.cross_entropy(h.reshape(2, 4), y)

    before = gk.is_debug()
    try:
        gk.set_debug(False)
        with backend.no_host_sync():
            step().backward()
        gk.set_debug(True)
        with pytest.raises(HostSyncError, match="pulled to the host"), \
                backend.no_host_sync():
            step()
        assert np.isfinite(step().item())  # and with the host allowed, the check passes
    finally:
        gk.set_debug(before)


@pytest.mark.parametrize("device", DEVICES)
def test_a_boolean_mask_is_a_host_read(device):
    """CuPy sizes a masked selection by reading the mask's count on the host (a
    synchronisation); strict's no_host_sync refuses it too, so a CPU-only run finds it."""
    backend = gk.get_backend(device)
    if "allow_synchronize" not in backend.host_sync_check and backend.name == "cupy":
        pytest.skip(f"this CuPy cannot detect synchronisations: {backend.host_sync_check}")
    x = gk.tensor([1.5, 2.5], device=device)
    with pytest.raises(HostSyncError, match="pulled to the host"), backend.no_host_sync():
        x[x > 2.0]
    with backend.no_host_sync():
        y = x[gk.tensor([1], device=device)]  # an integer index is no host read
    assert x[x > 2.0].tolist() == y.tolist() == [2.5]


def test_no_host_sync_refuses_each_conversion_and_restores_them():
    ok, reason = gk.backends.availability("strict")
    if not ok:
        pytest.skip(reason)
    backend = gk.get_backend("strict:device1")
    x = backend.asarray(np.array([1.5]))
    zero_d = backend.xp.sum(x)
    conversions = [lambda: float(zero_d), lambda: bool(zero_d), lambda: int(zero_d),
                   lambda: complex(zero_d), lambda: backend.to_numpy(x),
                   lambda: gk.Tensor.wrap(x, backend).item()]
    with backend.no_host_sync():
        for convert in conversions:
            with pytest.raises(HostSyncError, match="strict:device1"):
                convert()
        with backend.no_host_sync():  # nested: still refused, and still after the inner one
            pass
        with pytest.raises(HostSyncError):
            float(zero_d)
    assert float(zero_d) == 1.5 and backend.to_numpy(x).tolist() == [1.5]
    assert "to_numpy" not in vars(backend)  # the method is the class's again
    with pytest.raises(HostSyncError), backend.no_host_sync():
        float(zero_d)
    assert bool(zero_d)  # restored after an exception too
    assert backend.host_sync_check


def test_no_host_sync_is_a_no_op_on_the_cpu():
    backend = gk.get_backend("cpu")
    assert backend.host_sync_check is None and Backend.no_host_sync is type(backend).no_host_sync
    with backend.no_host_sync():
        assert gk.tensor([2.0]).item() == 2.0


def test_no_host_sync_on_every_backend(backend):
    """Where a backend says it checks (`host_sync_check`), a host read inside raises
    HostSyncError (on CuPy: cupyx.allow_synchronize's DeviceSynchronized, converted);
    outside, and on the CPU, the same reads work."""
    x = gk.tensor([1.5, 2.5], device=backend.device)
    reads = [lambda: x.sum().item(), lambda: backend.to_numpy(x.array), lambda: x.tolist()]
    with backend.no_host_sync():
        for read in reads:
            if backend.host_sync_check is None:
                read()
            else:
                with pytest.raises(HostSyncError, match="pulled to the host"):
                    read()
        y = (x * 2).sum()  # device work itself is fine
    assert y.item() == 8.0 and [r() for r in reads][1].tolist() == [1.5, 2.5]
