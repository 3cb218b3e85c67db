"""CUDA graphs by stream capture: the cupy backend's `graph_capture()` (gk.compile's device side).

Each test captures work on the backend's raw arrays inside `session()`, launches the
graph, and compares with the same work done eagerly. They run on a GPU, and without one
on the CuPy simulator (`--cupy-sim=1gpu|2gpu|cupy13`), which imitates what CuPy refuses
while a stream is capturing; elsewhere the cupy backend is unavailable and they skip
with its probe's reason. On a GPU, capturing executes nothing: values appear at launch.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradkit.testing import backend_params

pytestmark = pytest.mark.parametrize("device", backend_params(["cupy"]))


def _host(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _linear(xp, x, w):
    """x @ w without cuBLAS (CuPy refuses cuBLAS calls while capturing): a reduction."""
    return xp.sum(x[:, :, None] * w[None, :, :], axis=1)


def _step(xp, x, w, b):
    """A training-like step on raw arrays: forward, a loss, a gradient, an in-place update."""
    h = xp.tanh(_linear(xp, x, w) + b)
    loss = xp.mean(h * h)
    g = _linear(xp, xp.permute_dims(x, (1, 0)), 2.0 * h * (1.0 - h * h)) / h.size
    w -= 0.1 * g
    return loss


def test_captured_step_replays_on_new_inputs(backend):
    import cupy

    xp, rng = backend.xp, np.random.default_rng(0)
    x0, x1, x2, w0, b0 = _host(rng, 8, 5), _host(rng, 8, 5), _host(rng, 8, 5), \
        _host(rng, 5, 3), _host(rng, 3)
    cap = backend.graph_capture()
    x, w, b = backend.asarray(x0), backend.asarray(w0), backend.asarray(b0)
    with cap.session():
        cap.begin()
        assert cap.capturing
        loss = _step(xp, x, w, b)
        launch = cap.end()
        assert not cap.capturing
    np.testing.assert_array_equal(backend.to_numpy(w), w0)  # capturing executes nothing

    ew, eb = backend.asarray(w0), backend.asarray(b0)
    for new in (x1, x2):  # replay twice: the update advances w in place each time
        with cap.session():
            x[...] = cupy.asarray(new)  # a host op: new values in the static input buffer
            launch()
        expected = _step(xp, backend.asarray(new), ew, eb)
        np.testing.assert_allclose(backend.to_numpy(loss), backend.to_numpy(expected),
                                   rtol=1e-5)
        np.testing.assert_allclose(backend.to_numpy(w), backend.to_numpy(ew), rtol=1e-5)
    assert not np.allclose(backend.to_numpy(w), w0)


def test_matmul_is_refused_while_capturing(backend):
    """CuPy 13.6 and 14.2 refuse every cuBLAS call on a capturing stream (see dev-notes)."""
    a = backend.asarray(np.ones((4, 3), np.float32))
    b = backend.asarray(np.ones((3, 2), np.float32))
    a @ b  # the cuBLAS handle is made outside the capture
    cap = backend.graph_capture()
    with pytest.raises(NotImplementedError, match="cuBLAS"):
        with cap.session():
            cap.begin()
            a @ b
    assert not cap.capturing
    with cap.session():  # the capture was abandoned: the object is usable again
        cap.begin()
        c = a * 2.0
        launch = cap.end()
        launch()
    np.testing.assert_array_equal(backend.to_numpy(c), np.full((4, 3), 2.0, np.float32))


@pytest.mark.parametrize("sync", ["float", "get", "mask", "synchronize", "from_host"])
def test_host_sync_while_capturing_raises(backend, sync):
    import cupy

    x = backend.asarray(np.arange(4.0, dtype=np.float32))
    act = {"float": lambda: float(x.sum()), "get": lambda: x.get(),
           "mask": lambda: x[x > 1.0],
           "synchronize": lambda: cupy.cuda.get_current_stream().synchronize(),
           "from_host": lambda: cupy.asarray(np.ones(3, np.float32))}[sync]
    cap = backend.graph_capture()
    # D2H/H2D copies: CuPy's RuntimeError; a synchronize: CUDA's cudaErrorStreamCapture...
    with pytest.raises(RuntimeError, match="capturing"):
        with cap.session():
            cap.begin()
            act()
    assert not cap.capturing


def test_session_restores_stream_and_allocator(backend):
    import cupy

    cap = backend.graph_capture()
    with backend.native_device:
        stream, allocator = cupy.cuda.get_current_stream(), cupy.cuda.get_allocator()
    with cap.session():
        assert cupy.cuda.get_current_stream() != stream
        assert cupy.cuda.get_allocator() is not allocator
    with pytest.raises(KeyError):
        with cap.session():
            cap.begin()
            raise KeyError("body")
    assert not cap.capturing
    with pytest.raises(RuntimeError, match="end()"):
        with cap.session():
            cap.begin()  # and no end(): an error, and the capture is abandoned
    with backend.native_device:
        assert cupy.cuda.get_current_stream() == stream
        assert cupy.cuda.get_allocator() is allocator


def test_usage_errors(backend):
    cap = backend.graph_capture()
    with pytest.raises(RuntimeError, match="outside session"):
        cap.begin()
    with cap.session():
        with pytest.raises(RuntimeError, match="without begin"):
            cap.end()
        cap.begin()
        with pytest.raises(RuntimeError, match="already"):
            cap.begin()
        launch = cap.end()
    with pytest.raises(RuntimeError, match="outside session"):
        launch()


def test_captured_memory_comes_from_the_private_pool(backend):
    cap = backend.graph_capture()
    x = backend.asarray(np.ones(1000, np.float32))
    pool = cap._pool
    with cap.session():
        eager = x * 2.0  # outside a capture: the allocator current before
        assert pool.used_bytes() == 0
        cap.begin()
        y = x * 3.0
        cap.end()
    assert pool.used_bytes() >= 4000
    del eager, y


def test_empty_capture_launches(backend):
    cap = backend.graph_capture()
    with cap.session():
        cap.begin()
        launch = cap.end()
        launch()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fused_sgd_kernel_replays(backend, momentum):
    rng = np.random.default_rng(1)
    p0, g0 = _host(rng, 6), _host(rng, 6)
    param, grad = backend.asarray(p0), backend.asarray(g0)
    buf = backend.fused_sgd_update(param, grad, None, 0.1, momentum, 0.0, False)  # eager
    eparam, egrad = backend.asarray(backend.to_numpy(param)), backend.asarray(g0)
    ebuf = None if buf is None else backend.asarray(backend.to_numpy(buf))
    cap = backend.graph_capture()
    with cap.session():
        cap.begin()
        backend.fused_sgd_update(param, grad, buf, 0.1, momentum, 0.0, False)
        launch = cap.end()
    for _ in range(2):
        with cap.session():
            launch()
        backend.fused_sgd_update(eparam, egrad, ebuf, 0.1, momentum, 0.0, False)
        np.testing.assert_array_equal(backend.to_numpy(param), backend.to_numpy(eparam))
        if buf is not None:
            np.testing.assert_array_equal(backend.to_numpy(buf), backend.to_numpy(ebuf))


def test_fused_adam_kernel_replays(backend):
    rng = np.random.default_rng(2)
    p0, g0 = _host(rng, 5), _host(rng, 5)
    arrays = [backend.asarray(a) for a in (p0, g0, np.zeros(5, np.float32),
                                            np.zeros(5, np.float32))]
    expected = [backend.asarray(a) for a in (p0, g0, np.zeros(5, np.float32),
                                              np.zeros(5, np.float32))]
    hyper = (1e-2, 0.9, 0.999, 1e-8, 0.0, False, 1)  # a step count baked in, as captured
    cap = backend.graph_capture()
    with cap.session():
        cap.begin()
        param, grad, m, v = arrays
        backend.fused_adam_update(param, grad, m, v, *hyper)
        launch = cap.end()
    for _ in range(2):
        with cap.session():
            launch()
        eparam, egrad, em, ev = expected
        backend.fused_adam_update(eparam, egrad, em, ev, *hyper)
        for a, e in zip(arrays, expected):
            np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(e))


def test_random_draws_replay_from_the_device_state(backend):
    """CuPy's Generator draws with device code from a state in device memory: a launch
    draws anew and advances the state, like the eager draws."""
    gen, eager = backend.new_rng(7), backend.new_rng(7)
    cap = backend.graph_capture()
    with cap.session():
        cap.begin()
        r = gen.standard_normal(16, dtype="float32")
        launch = cap.end()
    for _ in range(2):
        with cap.session():
            launch()
        np.testing.assert_array_equal(backend.to_numpy(r),
                                      backend.to_numpy(eager.standard_normal(16,
                                                                             dtype="float32")))


def test_capture_device_is_the_backends(backend):
    """With several GPUs (--cupy-sim=2gpu: the tests' device is cuda:1, device 0 current
    outside `backend.scope`) the capture runs on the backend's GPU."""
    import cupy

    x = backend.asarray(np.ones(3, np.float32))
    cap = backend.graph_capture()
    with cupy.cuda.Device(0):
        with cap.session():
            assert cupy.cuda.Device().id == backend.index
            cap.begin()
            y = x + 1.0
            launch = cap.end()
    with cupy.cuda.Device(0), cap.session():
        launch()
    assert y.device.id == backend.index
    np.testing.assert_array_equal(backend.to_numpy(y), np.full(3, 2.0, np.float32))



def test_gradkit_training_step_captures_except_for_cublas(backend, device, monkeypatch):
    """A whole gradkit step (zero_grad, Linear, cross_entropy, backward, SGD with momentum)
    captured once and launched on new batches gives the eager step's numbers exactly, with
    the optimizer state made by an eager first step. With CuPy as it is, the Linear's
    matmul is refused (NotImplementedError); the simulator can model a cuBLAS path that
    capture allows (Config.cublas_in_capture), and then the rest of the step captures."""
    import sys

    import cupy

    import gradkit as gk
    import gradkit.nn.functional as F
    from gradkit import nn, optim

    simulated = getattr(sys.modules["cupy"], "__gradkit_simulator__", False)
    rng = np.random.default_rng(3)
    xs = [_host(rng, 4, 5) for _ in range(3)]
    ys = [rng.integers(0, 3, 4) for _ in range(3)]

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    model, opt = make()
    x, y = gk.tensor(xs[0], device=device), gk.tensor(ys[0], device=device)
    step(model, opt, x, y)  # eager: makes the momentum buffers, compiles the kernels
    cap = backend.graph_capture()
    if not simulated:
        with pytest.raises(NotImplementedError, match="cuBLAS"), cap.session():
            cap.begin()
            step(model, opt, x, y)
        return
    monkeypatch.setattr(cupy_sim_config(), "cublas_in_capture", True)
    with cap.session():
        cap.begin()
        loss = step(model, opt, x, y)
        launch = cap.end()
    eager, eager_opt = make()
    step(eager, eager_opt, gk.tensor(xs[0], device=device), gk.tensor(ys[0], device=device))
    for xn, yn in zip(xs[1:], ys[1:]):
        with cap.session():
            x.array[...] = cupy.asarray(xn)
            y.array[...] = cupy.asarray(yn)
            launch()
        expected = step(eager, eager_opt, gk.tensor(xn, device=device),
                        gk.tensor(yn, device=device))
        assert loss.item() == expected.item()
        for p, q in zip(model.parameters(), eager.parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


# ---- the simulator's stream capture (CuPy simulator only) -----------------------------------
def _simulator():
    import sys

    cupy = sys.modules.get("cupy")
    if not getattr(cupy, "__gradkit_simulator__", False):
        pytest.skip("checks the CuPy simulator (pytest --cupy-sim=1gpu|2gpu|cupy13)")
    return cupy


def _capture(cupy, body):
    """Run `body()` captured on a fresh non-blocking stream; (its result, the graph)."""
    s = cupy.cuda.Stream(non_blocking=True)
    with s:
        s.begin_capture()
        assert s.is_capturing()
        out = body()
        graph = s.end_capture()
    assert not s.is_capturing()
    return out, graph


@pytest.mark.cupy_sim
def test_simulator_capture_executes_nothing_and_launch_replays_in_place(backend):
    cupy = _simulator()
    a = cupy.arange(6.0).reshape(2, 3)
    b = cupy.ones(3)

    def body():
        c = a + b  # a fresh result
        v = c.T  # a view of it: sees the replayed values
        a[0, 0] = 10.0  # setitem, in place
        w = a
        w += 1.0  # an in-place operator
        return c, v, cupy.tanh(c, out=cupy.empty_like(c))

    (c, v, t), graph = _capture(cupy, body)
    assert a.get().tolist() == [[0, 1, 2], [3, 4, 5]]  # nothing executed
    assert np.isnan(c.get()).all() and np.isnan(t.get()).all()  # fresh memory: garbage
    graph.launch()
    np.testing.assert_array_equal(c.get(), [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(v.get(), [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_allclose(t.get(), np.tanh(c.get()))
    np.testing.assert_array_equal(a.get(), [[11, 2, 3], [4, 5, 6]])
    graph.launch()  # reads a's new values, writes the same arrays
    np.testing.assert_array_equal(c.get(), [[12, 3, 4], [5, 6, 7]])
    np.testing.assert_array_equal(a.get(), [[11, 3, 4], [5, 6, 7]])


@pytest.mark.cupy_sim
def test_simulator_capture_rules(backend, monkeypatch):
    cupy = _simulator()
    with pytest.raises(RuntimeError, match="default"):
        cupy.cuda.get_current_stream().begin_capture()
    other = cupy.cuda.Device((backend.index + 1) % 2) if cupy.cuda.runtime.getDeviceCount() > 1 \
        else None
    if other is not None:  # a stream is made current only on its own device
        s = cupy.cuda.Stream()
        with other, pytest.raises(RuntimeError, match="does not match"):
            with s:
                pass
    x = cupy.ones((2, 2), dtype=cupy.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    with s:
        s.begin_capture()
        with pytest.raises(NotImplementedError, match="cuBLAS"):
            cupy.matmul(x, x)
        cupy.matmul(x.astype(cupy.int64), x.astype(cupy.int64))  # integers: CuPy's kernel
        cupy.dot(x[0], x[1])  # two vectors: a reduction
        with pytest.raises(RuntimeError, match="capturing"):
            s.synchronize()
        with pytest.raises(RuntimeError, match="invalidated"):
            s.is_capturing()
        with pytest.raises(RuntimeError, match="Invalidated"):
            s.end_capture()
    monkeypatch.setattr(cupy_sim_config(), "cublas_in_capture", True)
    y, graph = _capture(cupy, lambda: x @ x)  # a CuPy that allowed cuBLAS
    graph.launch()
    np.testing.assert_array_equal(y.get(), np.full((2, 2), 2.0))


@pytest.mark.cupy_sim
def test_simulator_launch_into_a_capture_and_allocator(backend):
    cupy = _simulator()
    x = cupy.zeros(3)

    def inc():
        x[...] += 1.0

    _, inner = _capture(cupy, inc)
    _, outer = _capture(cupy, lambda: inner.launch())  # a child graph
    outer.launch()
    outer.launch()
    np.testing.assert_array_equal(x.get(), [2.0, 2.0, 2.0])
    pool = cupy.cuda.MemoryPool()
    with cupy.cuda.using_allocator(pool.malloc):
        assert cupy.cuda.get_allocator() == pool.malloc
        y = cupy.ones(1000, dtype=cupy.float32)
        assert pool.used_bytes() == 4096
        del y
        assert pool.used_bytes() == 0


@pytest.mark.cupy_sim
def test_simulator_session_joins_the_streams_by_events(backend):
    cupy = _simulator()
    cap = backend.graph_capture()
    side = cap._stream
    with cupy.cuda.Stream() as outer:
        with cap.session():
            pass
    assert side.waited_for == [outer]  # on entry: the side stream waits for the outer one
    assert outer.waited_for == [side]  # on exit: the outer stream waits for the side one


def cupy_sim_config():
    from cupy_sim import Config

    return Config
