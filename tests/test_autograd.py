"""Autograd semantics (PyTorch's, as DESIGN.md states them), on every backend."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import Function


def t(data, device, dtype="float64", requires_grad=True):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=requires_grad)


# ---- accumulation and retention ------------------------------------------------------------
def test_leaf_grads_accumulate_until_zeroed(device):
    x = t([1.0, 2.0, 3.0], device)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0, 12.0])
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])
    x.grad.zero_()
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_non_leaf_grad_only_with_retain_grad(device):
    x = t([1.0, -2.0], device)
    y = x * 3
    z = y * y
    z.retain_grad()
    z.sum().backward()
    assert y.grad is None and not y.is_leaf
    np.testing.assert_allclose(z.grad.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.numpy())


def test_retain_graph_defaults_to_false(device):
    x = t([0.5, 1.5], device)
    y = (x.tanh() * x).sum()
    y.backward()
    with pytest.raises(gk.GradkitError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward(device):
    x = t([0.5, 1.5], device)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_create_graph_retains_graph(device):
    x = t([0.5, 1.5], device)
    y = (x**3).sum()
    y.backward(create_graph=True)
    y.backward()  # retain_graph defaulted to create_graph=True
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2)


def test_backward_through_freed_intermediate_is_clear(device):
    x = t([0.5, 1.5], device)
    h = x * x
    h.sum().backward()
    with pytest.raises(gk.GradkitError, match="retain_graph=True"):
        (h * 2).sum().backward()


# ---- gk.grad -----------------------------------------------------------------------------
def test_grad_returns_tuple_aligned_with_inputs(device):
    a, b, c = t([1.0, 2.0], device), t([3.0], device), t(2.0, device)
    out = (a * b * c).sum()
    gc, ga, gb = gk.grad(out, [c, a, b])
    np.testing.assert_allclose(ga.numpy(), [6.0, 6.0])
    np.testing.assert_allclose(gb.numpy(), [6.0])
    np.testing.assert_allclose(gc.numpy(), 9.0)
    assert ga.shape == a.shape and gb.shape == b.shape and gc.shape == c.shape
    assert a.grad is None and b.grad is None and c.grad is None


def test_grad_leaves_existing_grad_untouched(device):
    x = t([1.0, 2.0], device)
    (x * x).sum().backward()
    before = x.grad.numpy()
    (g,) = gk.grad((x**3).sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(x.grad.numpy(), before)


def test_grad_of_intermediate_and_unused(device):
    x, unused = t([1.0, 2.0], device), t([5.0], device)
    h = x * 2
    out = (h * h).sum()
    gh, gx, gu = gk.grad(out, [h, x, unused], allow_unused=True)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(gx.numpy(), 8 * x.numpy())
    assert gu is None
    with pytest.raises(gk.GradkitError, match="not used"):
        gk.grad((x * 2).sum(), [x, unused])


def test_higher_order_derivatives(device):
    x = t([0.3, -1.2, 2.0], device)
    (d1,) = gk.grad((x**3).sum(), x, create_graph=True)
    (d2,) = gk.grad(d1.sum(), x, create_graph=True)
    (d3,) = gk.grad(d2.sum(), x)
    np.testing.assert_allclose(d1.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(d2.numpy(), 6 * x.numpy())
    np.testing.assert_allclose(d3.numpy(), [6.0, 6.0, 6.0])

    y = x.numpy()
    (g,) = gk.grad(x.tanh().sum(), x, create_graph=True)
    (gg,) = gk.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), -2 * np.tanh(y) * (1 - np.tanh(y) ** 2))


def test_backward_create_graph_then_differentiate_grad(device):
    x = t([0.5, 2.0], device)
    (x.exp() * x).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()  # d/dx of (x + 1) e^x = (x + 2) e^x
    np.testing.assert_allclose(x.grad.numpy(), (x.numpy() + 2) * np.exp(x.numpy()))


def test_max_ties_share_gradient(device):
    x = t([1.0, 3.0, 3.0, -2.0], device)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])
    a, b = t([1.0, 2.0], device), t([1.0, 0.0], device)
    gk.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 0.0])


# ---- grad mode -------------------------------------------------------------------------------
def test_no_grad_context_and_decorators(device):
    x = t([1.0, 2.0], device)
    with gk.no_grad():
        assert not (x * 2).requires_grad
        assert not gk.is_grad_enabled()
    assert gk.is_grad_enabled() and (x * 2).requires_grad

    @gk.no_grad()
    def called(v):
        return v * 2

    @gk.no_grad
    def bare(v):
        return v * 2

    assert not called(x).requires_grad and not bare(x).requires_grad
    assert gk.is_grad_enabled()
    with gk.no_grad():
        with gk.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad


def test_no_grad_is_thread_local(device):
    x = t([1.0, 2.0], device)
    seen = {}

    def worker():
        seen["enabled"] = gk.is_grad_enabled()
        seen["requires_grad"] = (x * 2).requires_grad

    with gk.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert not (x * 2).requires_grad
    assert seen == {"enabled": True, "requires_grad": True}


# ---- graph size and lifetime ------------------------------------------------------------------
class _Counted(Function):
    """Identity that counts how often its backward runs (one node of a long chain)."""

    calls = 0

    def forward(self, x):
        return x

    def backward(self, g):
        type(self).calls += 1
        return g


def test_deep_chain_backpropagates_without_recursion(device):
    x = t([1.0, 2.0], device)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_backward_visits_each_node_once(device):
    """Linear time, counted: every node runs backward once, even when 2**n paths reach it."""
    for n in (2_000, 10_000):
        _Counted.calls = 0
        x = t([1.0], device)
        y = x
        for _ in range(n):
            y = _Counted.apply(y)
        y.sum().backward()
        assert _Counted.calls == n

    _Counted.calls = 0
    x = t([1.0], device)
    y = x
    for _ in range(60):  # a ladder of diamonds: 2**60 paths, 60 nodes of each kind
        y = _Counted.apply(y)
        y = y + y
    y.sum().backward()
    assert _Counted.calls == 60
    assert x.grad.numpy()[0] == 2.0**60


def test_graph_is_freed_after_backward(device):
    x = t([1.0, 2.0], device)
    h = x * 2  # saved by the Mul below
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    assert ref() is not None  # the graph keeps it for backward
    y.backward()
    assert ref() is None  # released by backward, with no garbage collection needed


def test_graph_is_kept_with_retain_graph_until_output_dies(device):
    x = t([1.0, 2.0], device)
    h = x * 2
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    y.backward(retain_graph=True)
    assert ref() is not None
    del y
    assert ref() is None


# ---- dtypes ---------------------------------------------------------------------------------
def test_gradients_have_their_leafs_dtype(device):
    x32 = t([1.0, 2.0], device, "float32")
    w64 = t([0.5, 3.0], device, "float64")
    y = (x32.astype(gk.float64) * w64).sum()
    assert y.dtype == gk.float64
    y.backward()
    assert x32.grad.dtype == gk.float32 and w64.grad.dtype == gk.float64
    (g32,) = gk.grad((x32.astype(gk.float64) ** 2).sum(), x32)
    assert g32.dtype == gk.float32


def test_weak_python_scalars_keep_dtype(device):
    x = t([1.0, 2.0], device, "float32")
    for y in (x * 2.0, 2.0 * x, x + 1, 1 - x, x / 3.0, 3.0 / x, x**2.0, 2.0**x, -x,
              gk.maximum(x, 0.5), gk.where(x > 1, x, 0.0), x.clip(0.0, 1.5), x.mean()):
        assert y.dtype == gk.float32, y
    (x * 2.0).sum().backward()
    assert x.grad.dtype == gk.float32


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_tensors_cannot_require_grad(device, dtype):
    with pytest.raises(TypeError, match=dtype):
        gk.tensor(np.zeros(3, dtype=dtype), device=device, requires_grad=True)
    with pytest.raises(TypeError, match=dtype):
        gk.zeros(3, dtype=dtype, device=device, requires_grad=True)
    with pytest.raises(TypeError):
        gk.tensor(np.zeros(3, dtype=dtype), device=device).requires_grad_()
    assert not gk.arange(3, device=device).requires_grad


def test_comparisons_have_no_grad(device):
    x = t([1.0, -2.0], device)
    for c in (x > 0, x <= 0, x == x, x != 0.5):
        assert c.dtype == gk.bool and not c.requires_grad


# ---- detach, devices, aliasing, in-place ------------------------------------------------------
def test_detach_cuts_the_graph(device):
    x = t([1.0, 2.0], device)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.device == device
    (x * d).sum().backward()  # d is a constant: d/dx (x * c) = c
    np.testing.assert_allclose(x.grad.numpy(), x.numpy())
    assert d.grad is None


def test_to_device_is_differentiable(device):
    other = "cpu" if device != "cpu" else "strict:device1"
    if not gk.is_available(other):
        pytest.skip(f"needs {other}: {gk.availability('strict')[1]}")
    x = t([1.0, 2.0], device)
    y = x.to(other)
    assert y.device == other and y.requires_grad and not y.is_leaf
    z = (y * y).sum().to(device)
    z.backward()
    assert x.grad.device == device
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    assert x.to(device) is x

    s = t([3.0], other)
    (s.to(device) * 2).sum().backward()
    assert s.grad.device == other
    np.testing.assert_allclose(s.grad.numpy(), [2.0])
    (g,) = gk.grad((x.to(other) ** 3).sum(), x, create_graph=True)  # differentiable twice
    (gg,) = gk.grad(g.sum(), x)
    assert gg.device == device
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


def test_shared_leaf_grads_do_not_alias(device):
    a, b = t([1.0, 2.0], device), t([3.0, 4.0], device)
    (a + b).sum().backward()
    with gk.no_grad():
        a.grad[0] = 100.0
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])

    c, d = t([1.0, 2.0], device), t([3.0, 4.0], device)
    g = gk.tensor(np.array([1.0, 1.0]), device=device)
    (c + d).backward(g)
    with gk.no_grad():
        c.grad[1] = -7.0
    np.testing.assert_allclose(d.grad.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0])

    # A view of one leaf's gradient handed to another leaf (reshape), and a broadcast
    # gradient (sum): each leaf still owns a writable gradient of its own.
    e, f, w = t(np.ones((2, 3)), device), t(np.ones(6), device), t(np.arange(6.0), device)
    ((e.reshape(6) + f) * w).sum().backward()
    with gk.no_grad():
        e.grad[0, 0] = -1.0
        f.grad[1] = -2.0
    np.testing.assert_allclose(e.grad.numpy(), [[-1, 1, 2], [3, 4, 5]])
    np.testing.assert_allclose(f.grad.numpy(), [0, -2, 2, 3, 4, 5])
    h = t(np.zeros(3), device)
    h.sum().backward()
    with gk.no_grad():
        h.grad[0] = 5.0
    np.testing.assert_allclose(h.grad.numpy(), [5.0, 1.0, 1.0])


def test_setitem_refused_on_tensors_that_require_grad(device):
    x = t([1.0, 2.0, 3.0], device)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with gk.no_grad():
        x[0] = 5.0
        x[1:] = gk.tensor(np.array([7.0, 8.0]), device=device)
    np.testing.assert_allclose(x.numpy(), [5.0, 7.0, 8.0])
    y = gk.zeros(2, 3, device=device)
    y[:, 1] = 2.0
    y[np.array([True, False])] = 1.0
    np.testing.assert_allclose(y.numpy(), [[1, 1, 1], [0, 2, 0]])


def test_backward_on_leaf_and_detached_results(device):
    x = t([2.0], device)
    x.backward()  # a scalar leaf: d x / d x = 1
    np.testing.assert_allclose(x.grad.numpy(), [1.0])
    with pytest.raises(gk.GradkitError, match="does not require grad"):
        (x.detach() * 2).sum().backward()


# ---- the checkers themselves catch wrong derivatives ---------------------------------------------
class _WrongSquare(Function):
    """x**2 with a backward that is right once but not differentiable correctly:
    2x enters as a constant, so the second derivative comes out 0 instead of 2."""

    save_inputs = True

    def forward(self, x):
        return x * x

    def backward(self, g):
        x = self.inputs[0]
        return g * gk.Tensor._make(2 * x.array, x.backend)


class _WrongScale(Function):
    def forward(self, x):
        return x * 3

    def backward(self, g):
        return g * 2.9  # off by a little


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_catches_wrong_gradients(device, mode):
    x = t(np.linspace(0.5, 1.5, 6).reshape(2, 3), device)
    assert gk.gradcheck(_WrongSquare.apply, [x], mode=mode)
    with pytest.raises(AssertionError, match="analytic"):
        gk.gradcheck(_WrongScale.apply, [x], mode=mode)
    with pytest.raises(AssertionError, match="analytic"):
        gk.gradgradcheck(_WrongSquare.apply, [x], mode=mode)
    assert gk.gradgradcheck(lambda v: v * v, [x], mode=mode)


def test_node_reached_by_a_path_that_returns_none_still_runs(device):
    # d2/da2 of sum(relu(a) * a) is 2 for a > 0. In the second backward, relu's own
    # backward node (ReluGrad) returns None for relu's output, which reaches the Relu
    # node by another path too: the engine must still count that edge as done.
    a = gk.tensor([0.3, 0.5], dtype=gk.float64, requires_grad=True, device=device)
    (g,) = gk.grad((a.relu() * a).sum(), a, create_graph=True)
    (h,) = gk.grad(g.sum(), a)
    np.testing.assert_allclose(g.numpy(), [0.6, 1.0])
    np.testing.assert_allclose(h.numpy(), [2.0, 2.0])


class _FirstOrderOnly(gk.Function):
    """An op whose backward is not made of differentiable ops (it works on raw arrays)."""

    save_inputs = True
    double_backward = False

    def forward(self, x):
        return x * x

    def backward(self, g):
        x = self.inputs[0]
        return gk.Tensor._make(2 * x.array * g.array, x.backend)


def test_op_without_double_backward_refuses_create_graph(device):
    x = gk.tensor([0.5, -1.5], dtype=gk.float64, requires_grad=True, device=device)
    (g,) = gk.grad(_FirstOrderOnly.apply(x).sum(), x)  # first order is fine
    np.testing.assert_allclose(g.numpy(), [1.0, -3.0])
    with pytest.raises(gk.GradkitError, match="does not support double backward"):
        gk.grad(_FirstOrderOnly.apply(x).sum(), x, create_graph=True)


def test_inplace_update_under_no_grad_changes_the_same_tensor(device):
    # micrograd-style manual SGD: the parameter object itself must change.
    p = gk.tensor([1.0, 2.0], requires_grad=True, device=device)
    (p * p).sum().backward()
    same = p
    with gk.no_grad():
        p -= 0.1 * p.grad
        p *= 2.0
    assert same is p and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(p.numpy(), [1.6, 3.2], rtol=1e-6)


def test_inplace_on_a_tensor_in_the_graph_is_refused(device):
    p = gk.tensor([1.0, 2.0], requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="in-place"):
        p += 1.0
    np.testing.assert_allclose(p.numpy(), [1.0, 2.0])  # untouched


def test_inplace_shape_error_names_both_shapes(device):
    x = gk.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        x += gk.ones(4, device=device)
    np.testing.assert_allclose(x.numpy(), np.zeros((2, 3)))


# ---- hooks and node names (PyTorch's) ---------------------------------------------------------
def test_tensor_hooks_see_and_replace_gradients(device):
    x = t([1.0, 2.0], device)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 3
    y.register_hook(lambda g: g * 10)  # a non-leaf hook that replaces the gradient
    (y.sum() + (x * x).sum()).backward()
    # the leaf hook sees the sum over both uses of x, after y's hook scaled its part
    np.testing.assert_allclose(seen[0], [30 + 2, 30 + 4])
    np.testing.assert_allclose(x.grad.numpy(), [32.0, 34.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        gk.zeros(2, device=device).register_hook(lambda g: g)


def test_every_edge_is_a_node_and_grad_fn_names_are_torchs(device):
    x = t([1.0, 2.0], device)
    y = x * 2
    assert y.grad_fn.name() == "MulBackward0" and "grad_fn=<MulBackward0>" in repr(y)
    (leaf_edge, _) = y.grad_fn.edges
    assert type(leaf_edge).__name__ == "AccumulateGrad" and leaf_edge.leaf() is x
    assert x.grad_fn is None and x.is_leaf


def test_post_accumulate_grad_hooks_run_during_backward(device):
    """They see the accumulated `.grad`, in the order the leaves complete (last layer
    first), before backward returns; queue_callback runs after all of them."""
    from gradkit.autograd import queue_callback

    w1 = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    w2 = gk.tensor([3.0], device=device, requires_grad=True)
    w1.grad = gk.tensor([10.0, 10.0], device=device)
    events = []
    w1.register_post_accumulate_grad_hook(lambda p: events.append(("w1", p.grad.tolist())))
    h = w2.register_post_accumulate_grad_hook(lambda p: (
        events.append(("w2", p.grad.tolist())),
        queue_callback(lambda: events.append(("done", w1.grad.tolist())))))
    ((w1 * w1).sum() * w2).sum().backward()
    assert events == [("w2", [5.0]), ("w1", [16.0, 22.0]), ("done", [16.0, 22.0])]
    h.remove()
    events.clear()
    (w1 * w2).sum().backward()
    assert [e[0] for e in events] == ["w1"]
    with pytest.raises(RuntimeError, match="needs a leaf"):
        (w1 * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="during backward"):
        queue_callback(print)
    gk.grad((w1 * w1).sum(), w1)  # grad() writes no .grad: no post hook
    assert [e[0] for e in events] == ["w1"]


def test_grad_runs_only_the_nodes_that_reach_its_inputs(device):
    """gk.grad(out, y) for a non-leaf y stops at y: the graph below it is neither run nor
    freed, so a later backward through it still works (as torch.autograd.grad)."""
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * x
    calls = []
    x.register_hook(lambda g: calls.append("x"))
    (gy,) = gk.grad((y * 3).sum(), y)
    assert gy.tolist() == [3.0, 3.0] and calls == []  # nothing below y ran
    (gx,) = gk.grad((y * y).sum(), x, retain_graph=True)  # y's own graph is still there
    assert gx.tolist() == [4.0, 32.0] and calls == ["x"]
    z = x * 2
    gy, gx = gk.grad((z * z).sum() + (y ** 3).sum(), [y, x])  # both, and through both paths
    assert gy.tolist() == [3.0, 48.0] and gx.tolist() == [8.0 + 6.0, 16.0 + 192.0]
    w = gk.tensor([0.3, 0.7], dtype=gk.float64, device=device, requires_grad=True)
    b = w * 2
    for _ in range(2):  # gradcheck on a non-leaf input, twice
        assert gk.gradcheck(lambda t: (t.sin() * t).sum(), [b])
