"""The Backend layer: native operations against their generic fallbacks and NumPy, device
resolution, probing, transfers and random numbers, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit import backends
from gradkit.backends import Backend, DeviceError
from gradkit.optim.adam import adam_update
from gradkit.optim.sgd import sgd_update


def _native(backend, method):
    """Whether `backend` overrides the generic Backend.<method>."""
    return getattr(type(backend), method) is not getattr(Backend, method)


def _cases(b):
    """(shape, device index, host index) triples of the forms GetItem passes on."""
    dup = np.array([0, 2, 0, 3, 2, 2])
    return [
        ((5,), (b.asarray(dup),), (dup,)),
        ((4, 3), (b.asarray(dup), Ellipsis), (dup, Ellipsis)),
        ((3, 4), (slice(None), b.asarray(dup), Ellipsis), (slice(None), dup, Ellipsis)),
        ((4, 3), (b.asarray(dup), b.asarray(dup % 3), Ellipsis), (dup, dup % 3, Ellipsis)),
        ((4, 3), (b.asarray(dup.reshape(2, 3)), Ellipsis), (dup.reshape(2, 3), Ellipsis)),
        ((2, 4, 3), (1, b.asarray(dup), Ellipsis), (1, dup, Ellipsis)),
    ]


def test_scatter_add_accumulates_duplicates(backend):
    rng = np.random.default_rng(0)
    for shape, index, host in _cases(backend):
        gathered = np.zeros(shape)[host].shape
        values = rng.standard_normal(gathered)
        expected = np.zeros(shape)
        np.add.at(expected, host, values)
        out = backend.scatter_add(shape, index, backend.asarray(values))
        np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12, atol=1e-12)
        generic = Backend.scatter_add(backend, shape, index, backend.asarray(values))
        np.testing.assert_allclose(backend.to_numpy(generic), expected, rtol=1e-12, atol=1e-12)


def test_numpy_native_scatter_add_equals_generic_fallback():
    b = backends.get_backend("cpu")
    assert _native(b, "scatter_add")
    rng = np.random.default_rng(1)
    for shape, index, host in _cases(b):
        values = rng.standard_normal(np.zeros(shape)[host].shape).astype(np.float32)
        native = b.scatter_add(shape, index, values)
        generic = Backend.scatter_add(b, shape, index, values)
        assert native.dtype == generic.dtype == np.float32
        np.testing.assert_allclose(native, generic, rtol=1e-6, atol=1e-6)


def test_numpy_scatter_add_of_whole_rows_is_add_at_exactly():
    """The embedding-gradient case (whole rows at integer indices, negative ones too) takes
    a flat 1-d add.at: the same sums in the same order, bit for bit, and an index out of
    range still raises instead of wrapping."""
    b = backends.get_backend("cpu")
    rng = np.random.default_rng(3)
    rows = rng.integers(-7, 7, (5, 9))
    for index in (rows, (rows,), (rows, Ellipsis)):
        values = rng.standard_normal((5, 9, 4, 3)).astype(np.float32)
        expected = np.zeros((7, 4, 3), np.float32)
        np.add.at(expected, index, values)
        got = b.scatter_add((7, 4, 3), index, values)
        assert got.dtype == np.float32 and np.array_equal(got, expected)
    for bad in (7, -8):
        with pytest.raises(IndexError):
            b.scatter_add((7, 2), np.array([0, bad]), np.ones((2, 2), np.float32))


def test_setitem_matches_numpy_last_write_wins(backend):
    """Native setitem and the generic one-hot fallback both write as NumPy does."""
    rng = np.random.default_rng(2)
    for shape, index, host in _cases(backend):
        values = rng.standard_normal(np.zeros(shape)[host].shape)
        start = rng.standard_normal(shape)
        expected = start.copy()
        expected[host] = values
        for setitem in (backend.setitem, lambda *a: Backend.setitem(backend, *a)):
            out = backend.asarray(start)
            setitem(out, index, backend.asarray(values))
            np.testing.assert_array_equal(backend.to_numpy(out), expected)
        out = backend.asarray(start)
        Backend.setitem(backend, out, index, 7.0)  # a scalar broadcast into every place
        expected[host] = 7.0
        np.testing.assert_array_equal(backend.to_numpy(out), expected)


def test_getitem_matches_numpy_indexing(backend):
    x = np.arange(36.0).reshape(3, 3, 4)
    arr = backend.asarray(x)
    idx = np.array([2, 0, 2])
    for host, dev in [
        ((idx, Ellipsis), (backend.asarray(idx), Ellipsis)),
        ((slice(None), idx), (slice(None), backend.asarray(idx))),
        ((None, Ellipsis, np.array([3, 3])), (None, Ellipsis, backend.asarray(np.array([3, 3])))),
        ((slice(0, 1), slice(None), idx[:2].reshape(1, 2)),
         (slice(0, 1), slice(None), backend.asarray(idx[:2].reshape(1, 2)))),
        ((np.array([1, 0, 1]), idx, 3),
         (backend.asarray(np.array([1, 0, 1])), backend.asarray(idx), 3)),
        ((1, idx, Ellipsis), (1, backend.asarray(idx), Ellipsis)),
        ((slice(None), 2, idx), (slice(None), 2, backend.asarray(idx))),
        ((idx, 0, slice(1, 3)), (backend.asarray(idx), 0, slice(1, 3))),
        ((1, 2, idx), (1, 2, backend.asarray(idx))),
    ]:
        out = backend.to_numpy(backend.getitem(arr, dev))
        np.testing.assert_array_equal(out, x[host])


def test_erf_matches_math_erf(backend):
    grid = np.concatenate([np.linspace(-6, 6, 241), [-30.0, -0.46875, 0.0, 0.46875, 4.0, 30.0]])
    expected = np.array([math.erf(v) for v in grid])
    out = backend.erf(backend.asarray(grid))
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-14, atol=1e-15)
    generic = Backend.erf(backend, backend.asarray(grid))
    np.testing.assert_allclose(backend.to_numpy(generic), expected, rtol=1e-14, atol=1e-15)
    out32 = backend.erf(backend.asarray(grid, "float32"))
    assert backend.dtype_name(out32.dtype) == "float32"
    np.testing.assert_allclose(backend.to_numpy(out32), expected, rtol=1e-6, atol=1e-7)


# ---- optimizer updates: generic against PyTorch's rules, native against generic ---------------
def _sgd_reference(p, grads, lr, momentum, weight_decay, nesterov):
    buf = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def _adam_reference(p, grads, lr, b1, b2, eps, weight_decay, decoupled):
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for step, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**step)) / (np.sqrt(v / (1 - b2**step)) + eps)
    return p


SGD_CONFIGS = [(0.1, 0.0, 0.0, False), (0.05, 0.9, 0.0, False), (0.05, 0.9, 1e-2, True)]
ADAM_CONFIGS = [(1e-2, 0.9, 0.999, 1e-8, 0.0, False), (1e-2, 0.8, 0.99, 1e-6, 0.1, False),
                (1e-2, 0.9, 0.999, 1e-8, 0.1, True)]


def _generic(rule):
    """The optimizer's own update rule, called like a backend's fused kernel."""
    return lambda b, *args: rule(b.xp, *args)


def _fused(b, name):
    """The backend's fused kernel for an update rule, called with the backend first, or
    None where it offers none."""
    kernel = getattr(b, f"fused_{name}_update")
    return None if kernel is None else (lambda b, *args: kernel(*args))


def _run_sgd(update, b, p0, grads, cfg):
    lr, momentum, wd, nesterov = cfg
    p, buf = b.asarray(p0.copy()), None
    for g in grads:
        dev_g = b.asarray(g)
        buf = update(b, p, dev_g, buf, lr, momentum, wd, nesterov)
        np.testing.assert_array_equal(b.to_numpy(dev_g), g)  # the gradient is not modified
    return b.to_numpy(p)


def _run_adam(update, b, p0, grads, cfg):
    lr, b1, b2, eps, wd, decoupled = cfg
    p, m, v = b.asarray(p0.copy()), b.asarray(np.zeros_like(p0)), b.asarray(np.zeros_like(p0))
    for step, g in enumerate(grads, 1):
        update(b, p, b.asarray(g), m, v, lr, b1, b2, eps, wd, decoupled, step)
    return b.to_numpy(p)


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_update(backend, cfg):
    rng = np.random.default_rng(2)
    p0, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(4)]
    expected = _sgd_reference(p0, grads, *cfg)
    generic = _run_sgd(_generic(sgd_update), backend, p0, grads, cfg)
    np.testing.assert_allclose(generic, expected, rtol=1e-12, atol=1e-12)
    if _fused(backend, "sgd"):
        native = _run_sgd(_fused(backend, "sgd"), backend, p0, grads, cfg)
        np.testing.assert_allclose(native, generic, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=str)
def test_adam_update(backend, cfg):
    rng = np.random.default_rng(3)
    p0, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(4)]
    expected = _adam_reference(p0, grads, *cfg)
    generic = _run_adam(_generic(adam_update), backend, p0, grads, cfg)
    np.testing.assert_allclose(generic, expected, rtol=1e-10, atol=1e-12)
    if _fused(backend, "adam"):
        native = _run_adam(_fused(backend, "adam"), backend, p0, grads, cfg)
        np.testing.assert_allclose(native, generic, rtol=1e-6, atol=1e-9)


# ---- probing and resolution ---------------------------------------------------------------------
def test_cupy_probe_never_raises_and_gives_a_reason():
    ok, reason = gk.availability("cupy")
    assert isinstance(ok, bool) and isinstance(reason, str) and reason
    assert backends._probe_cupy()[0] == ok  # probing again is safe too
    if not ok:
        assert not gk.is_available("cuda") and not gk.is_available("cuda:0")


def test_availability_of_every_backend():
    for name in backends.BACKEND_NAMES:
        ok, reason = backends.availability(name)
        assert isinstance(ok, bool) and reason
    assert backends.availability("numpy") == (True, "available")
    with pytest.raises(DeviceError, match="tpu"):
        backends.availability("tpu")


def test_cuda_device_indices_are_canonical():
    """Issue 9: "cuda:01" and "cuda:1" are one GPU, so one backend (no GPU needed)."""
    assert backends._canonical("cuda:01") == backends._canonical("cuda:1") == \
        ("cupy", "1", "cuda:1")
    assert backends._canonical("CUDA") == ("cupy", "0", "cuda:0")
    for bad in ("cuda:-1", "cuda:1.0", "cuda:١"):  # an Arabic-Indic digit: isdigit() but no GPU
        with pytest.raises(gk.DeviceError):
            backends._canonical(bad)


def test_get_backend_resolution():
    cpu = backends.get_backend("cpu")
    assert cpu is backends.get_backend(None) is backends.get_backend(" CPU ")
    assert cpu.name == "numpy" and cpu.device == "cpu" and backends.get_backend(cpu) is cpu
    assert [backends.default_device(n) for n in ("numpy", "strict")] == \
        ["cpu", "strict:device1"]
    assert backends.default_device("cupy") in ("cuda:0", "cuda:1")  # cuda:1: --cupy-sim=2gpu
    if gk.is_available("strict"):
        s = backends.get_backend("strict")
        assert s is backends.get_backend("strict:device1") and s.device == "strict:device1"
        s2 = backends.get_backend("strict:device2")
        assert s2 is not s and s2.device == "strict:device2"
        arr = s.asarray(np.ones(2))
        assert backends.backend_of_array(arr) is s
        assert backends.backend_of_array(s2.transfer(arr, s)) is s2
    assert backends.backend_of_array(np.ones(2)) is cpu
    assert backends.backend_of_array([1.0]) is None


def test_tensor_backend_is_the_devices(device, backend):
    x = gk.tensor([1.0, 2.0], device=device)
    assert x.backend is backend and x.device == device == backend.device
    assert backend.owns(x.array) and backends.backend_of_array(x.array) is backend


# ---- moving data and random numbers -----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "uint8"])
def test_host_round_trip_keeps_dtype(backend, dtype):
    host = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
    arr = backend.asarray(host)
    assert backend.dtype_name(arr.dtype) == dtype
    back = backend.to_numpy(arr)
    assert isinstance(back, np.ndarray) and back.dtype == dtype
    np.testing.assert_array_equal(back, host)
    assert backend.dtype_name(backend.asarray(host.astype("float64"), dtype).dtype) == dtype


def test_transfer_between_numpy_and_strict(backend):
    if not gk.is_available("strict"):
        pytest.skip(gk.availability("strict")[1])
    cpu, strict = backends.get_backend("cpu"), backends.get_backend("strict:device1")
    host = np.arange(4.0, dtype=np.float32)
    on_strict = strict.transfer(host, cpu)
    assert strict.owns(on_strict) and not cpu.owns(on_strict)
    back = cpu.transfer(on_strict, strict)
    assert cpu.owns(back) and back.dtype == np.float32
    np.testing.assert_array_equal(back, host)
    mine = backend.transfer(on_strict, strict)
    assert backend.owns(mine)


def test_random_numbers_are_seeded(backend):
    draws = []
    for _ in range(2):
        backend.seed(123)
        draws.append([backend.to_numpy(backend.randn((3, 2), "float32")),
                      backend.to_numpy(backend.rand((4,), "float64")),
                      backend.to_numpy(backend.permutation(7)),
                      backend.to_numpy(backend.bernoulli_mask((50,), 0.8, "float32"))])
    for a, b in zip(*draws):
        np.testing.assert_array_equal(a, b)
    normal, uniform, perm, mask = draws[0]
    assert normal.dtype == np.float32 and uniform.dtype == np.float64
    assert ((uniform >= 0) & (uniform < 1)).all()
    assert sorted(perm.tolist()) == list(range(7))
    assert set(np.unique(mask).tolist()) <= {0.0, np.float32(1 / 0.8)}


def test_manual_seed_repeats_draws(device):
    gk.manual_seed(5)
    a = gk.randn(3, device=device).numpy()
    gk.manual_seed(5)
    np.testing.assert_array_equal(gk.randn(3, device=device).numpy(), a)


def test_synchronize_is_harmless(backend, device):
    backend.synchronize()
    gk.synchronize(device)
