"""Principle 6 for autograd: in-place writes are versioned and checked, in-place ops on
non-leaf tensors are recorded, every gradient a backward returns is checked, and `.grad`
and `requires_grad` are validated where they are set. On every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradkit as gk
from gradkit import nn, optim
from gradkit.autograd import Function

MODIFIED = "modified by an in-place operation"


def t(data, device, requires_grad=True, dtype="float64"):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=requires_grad)


# ---- version counters ----------------------------------------------------------------------
def test_every_in_place_write_bumps_the_shared_version(device):
    x = t([1.0, 2.0, 3.0], device, requires_grad=False)
    views = [x.detach(), x.data, x[1:], x.reshape(3, 1), x[None]]
    assert x._version == 0
    x += 1.0
    x[0] = 5.0
    x.zero_()
    with gk.no_grad():
        views[2] *= 2.0  # through a view: the base's storage, the base's counter
    assert x._version == 4
    assert all(v._version == 4 for v in views)
    y = x * 1.0  # a new storage starts at 0
    assert y._version == 0


def test_issue_case_update_under_no_grad_before_backward_raises(device):
    w = t([1.0, 2.0], device)
    out = (w * w).sum()
    with gk.no_grad():
        w -= 10.0
    with pytest.raises(gk.GradkitError, match=MODIFIED) as e:
        out.backward()
    message = str(e.value)
    assert "Mul" in message and "(2,)" in message and "expected version 0" in message
    assert w.grad is None  # nothing was accumulated


@pytest.mark.parametrize("change", ["iadd", "setitem", "data", "data_assign", "view"])
def test_saved_input_changed_in_place_raises(device, change):
    x = t([1.0, 2.0, 3.0], device, requires_grad=False)  # data: saved by Linear for dW
    w = t([[0.5, -1.0, 2.0]], device)
    loss = gk.nn.functional.linear(x, w).sum()
    if change == "iadd":
        x += 1.0
    elif change == "setitem":
        x[0] = 7.0
    elif change == "data":
        d = x.data
        d -= 1.0
    elif change == "data_assign":
        x.data = gk.zeros(3, dtype="float64", device=device)
    else:
        v = x[:2]
        v *= 3.0
    with pytest.raises(gk.GradkitError, match="Linear"):
        loss.backward()


def test_saved_output_changed_in_place_raises(device):
    x = t([0.5, 1.0], device)
    y = x.exp()  # backward reads y itself
    loss = y.sum()
    with gk.no_grad():
        y += 1.0
    with pytest.raises(gk.GradkitError, match="output of Exp"):
        loss.backward()


def test_optimizer_step_between_forward_and_retained_backward_raises(device):
    # The second layer's weight is saved (its input requires grad); step() changes it.
    model = nn.Sequential(nn.Linear(3, 4, dtype=gk.float64, device=device), nn.Tanh(),
                          nn.Linear(4, 2, dtype=gk.float64, device=device))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = gk.ones(4, 3, dtype=gk.float64, device=device)
    loss = (model(x) ** 2).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(gk.GradkitError, match=MODIFIED):
        loss.backward()


def test_unread_saved_input_may_change(device):
    # w * 2 reads only the constant 2 for w's gradient: changing w is fine (as PyTorch).
    w = t([1.0, 2.0], device)
    loss = (w * 2.0).sum()
    with gk.no_grad():
        w -= 10.0
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0])


def test_data_is_detached_shares_storage_and_counts_writes(device):
    w = t([1.0, 2.0], device)
    d = w.data
    assert not d.requires_grad and d.is_leaf
    d[0] = 3.0
    np.testing.assert_allclose(w.numpy(), [3.0, 2.0])
    assert w._version == 1
    w.data = gk.tensor(np.array([9.0, 9.0]), device=device)
    assert w._version == 2 and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [9.0, 9.0])
    with pytest.raises(TypeError, match="Tensor"):
        w.data = np.zeros(2)


# ---- in-place ops recorded on non-leaf tensors (PyTorch's rebase) ----------------------------
def test_inplace_add_on_non_leaf_is_recorded(device):
    x = t([[1.0, 2.0], [3.0, 4.0]], device)
    w = t([[0.5, -1.0], [2.0, 1.0]], device)
    b = t([0.1, 0.2], device)
    out = x @ w
    out += b
    out *= 2.0
    assert not out.is_leaf and out.requires_grad
    (out * out).sum().backward()
    xn, wn, bn = x.numpy(), w.numpy(), b.numpy()
    g = 2 * (2 * (xn @ wn + bn)) * 2  # d/d(out) of sum(out**2), through *2
    np.testing.assert_allclose(b.grad.numpy(), g.sum(0))
    np.testing.assert_allclose(w.grad.numpy(), xn.T @ g)
    np.testing.assert_allclose(x.grad.numpy(), g @ wn.T)


def test_inplace_with_an_operand_that_requires_grad_makes_a_non_leaf(device):
    acc = gk.zeros(2, dtype=gk.float64, device=device)  # a constant leaf
    w = t([1.0, 3.0], device)
    acc += w * w
    acc[0] = acc[0] * 2.0
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 6.0])


def test_setitem_on_non_leaf_routes_gradients(device):
    x = t([1.0, 2.0, 3.0], device)
    v = t([10.0], device)
    y = x * 2.0
    y[1:2] = v * v
    (y * gk.tensor(np.array([1.0, 2.0, 3.0]), device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 6.0])  # the overwritten place: 0
    np.testing.assert_allclose(v.grad.numpy(), [40.0])


def test_inplace_that_overwrites_a_saved_tensor_raises_at_backward(device):
    x, c = t([1.0, 2.0], device), t([3.0, 4.0], device)
    y = x * 1.0
    y *= c  # Mul keeps the old y to differentiate w.r.t. c; the write then changes it
    with pytest.raises(gk.GradkitError, match="Mul"):
        y.sum().backward()


def test_inplace_refused_on_leaf_and_on_views_while_recording(device):
    w = t([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w += 1.0
    with pytest.raises(RuntimeError, match="view"):
        w[0] += 1.0  # w[0] is a view of a leaf that requires grad
    y = w * 2.0
    v = y[:1]
    with pytest.raises(RuntimeError, match="view"):
        v += 1.0
    np.testing.assert_allclose(w.numpy(), [1.0, 2.0])  # nothing was written
    np.testing.assert_allclose(y.numpy(), [2.0, 4.0])


def test_inplace_dtype_rules_follow_torch(device):
    i = gk.tensor([1, 2], device=device)
    with pytest.raises(TypeError, match="can't be stored"):
        i += 1.5
    with pytest.raises(TypeError, match="can't be stored"):
        i /= 2
    i += 2
    f = gk.zeros(2, device=device)
    f += gk.tensor(np.array([1.0, 2.0]), device=device)  # float64 into float32: allowed
    f += gk.tensor([1, 1], device=device)
    assert f.dtype == gk.float32
    np.testing.assert_allclose(f.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(i.numpy(), [3, 4])


# ---- gradient checks in the engine -------------------------------------------------------
class _ForgotTranspose(Function):
    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g.mT * 2  # wrong: (4, 3) for a (3, 4) input


class _IntGradient(Function):
    def forward(self, x):
        return x * 1

    def backward(self, g):
        return g.astype("int64")


class _BroadcastingScale(Function):
    broadcasts = True

    def forward(self, x, s):
        return x * s

    def backward(self, g):
        return g * 2.0, g  # s's gradient is summed down by the engine


def test_wrongly_shaped_gradient_raises_naming_op_input_and_shapes(device):
    x = gk.zeros(3, 4, dtype=gk.float64, device=device, requires_grad=True)
    with pytest.raises(gk.ShapeError, match=r"_ForgotTranspose.*\(4, 3\).*input 0.*\(3, 4\)"):
        _ForgotTranspose.apply(x).sum().backward()
    assert x.grad is None


def test_gradient_of_wrong_dtype_class_raises(device):
    x = gk.zeros(3, dtype=gk.float64, device=device, requires_grad=True)
    with pytest.raises(TypeError, match="_IntGradient.*int64"):
        _IntGradient.apply(x).sum().backward()


def test_ops_that_broadcast_have_gradients_summed(device):
    x = gk.ones(3, 4, dtype=gk.float64, device=device, requires_grad=True)
    s = gk.ones(4, dtype=gk.float64, device=device, requires_grad=True)
    _BroadcastingScale.apply(x, s).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), [3.0] * 4)


# ---- validation where values are set ---------------------------------------------------------
def test_grad_assignment_is_checked(device):
    w = gk.zeros(2, 3, device=device, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        w.grad = gk.zeros(3, 2, device=device)
    with pytest.raises(TypeError, match="ndarray"):
        w.grad = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="float"):
        w.grad = 1.0
    with pytest.raises(TypeError, match="float64"):
        w.grad = gk.zeros(2, 3, dtype=gk.float64, device=device)
    other = "strict:device2" if device == "cpu" else "cpu"
    if gk.is_available(other):
        with pytest.raises(gk.DeviceError, match="device"):
            w.grad = gk.zeros(2, 3, device=other)
    assert w.grad is None
    w.grad = gk.ones(2, 3, device=device)
    del w.grad
    assert w.grad is None


def test_requires_grad_attribute_is_checked(device):
    i = gk.tensor([1, 2], device=device)
    with pytest.raises(TypeError, match="int64"):
        i.requires_grad = True
    x = gk.zeros(2, device=device)
    x.requires_grad = True
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


# ---- property: in-place programs are right or raise ------------------------------------------
STEPS = st.lists(st.sampled_from(["iadd_const", "imul_const", "iadd_w", "imul_w", "exp",
                                  "keep", "setitem"]), min_size=1, max_size=8)


def _run(program, device, in_place):
    x = t([0.3, -0.2, 0.1], device)
    w = t([0.5, 1.5, -1.0], device)
    y, kept = x * 1.0, []
    for step in program:
        if step == "iadd_const":
            if in_place:
                y += 0.25
            else:
                y = y + 0.25
        elif step == "imul_const":
            if in_place:
                y *= 0.5
            else:
                y = y * 0.5
        elif step == "iadd_w":
            if in_place:
                y += w
            else:
                y = y + w
        elif step == "imul_w":
            if in_place:
                y *= w
            else:
                y = y * w
        elif step == "exp":
            y = (y * 0.1).exp()
        elif step == "keep":
            kept.append(y * w)
        elif step == "setitem":
            if in_place:
                y[1] = w[0] * 2.0
            else:
                y = gk.stack([y[0], w[0] * 2.0, y[2]])
    loss = y.sum() + sum(k.sum() for k in kept)
    loss.backward()
    return [np.zeros(3) if v.grad is None else v.grad.numpy() for v in (x, w)]


def _must_raise(program):
    """PyTorch's rule: an in-place write to a storage something saved raises at backward.
    Saved: exp's output, y kept by y * w, and y itself by `y *= w` (to differentiate
    w.r.t. w), which that very write then changes."""
    saved = False
    for step in program:
        if step == "imul_w":
            return True
        if step in ("iadd_const", "imul_const", "iadd_w", "setitem") and saved:
            return True
        if step in ("exp", "keep"):
            saved = True
    return False


@settings(max_examples=60, deadline=None,  # `device` is a plain string: safe to reuse
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=STEPS)
def test_in_place_program_raises_or_matches_out_of_place(device, program):
    expected = _run(program, device, in_place=False)
    if _must_raise(program):
        with pytest.raises(gk.GradkitError, match=MODIFIED):
            _run(program, device, in_place=True)
    else:
        got = _run(program, device, in_place=True)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_clipping_and_init_write_in_place_and_count(device):
    w = gk.zeros(2, 2, device=device, requires_grad=True)
    w.grad = gk.full((2, 2), 3.0, device=device)
    g, v = w.grad, w._version
    nn.utils.clip_grad_norm_([w], max_norm=1.0)
    assert w.grad is g and g._version == 1  # scaled in place, as PyTorch's
    np.testing.assert_allclose(g.numpy(), np.full((2, 2), 0.5), rtol=1e-5)
    nn.utils.clip_grad_value_([w], 0.25)
    assert w.grad is g and g._version == 2
    np.testing.assert_allclose(g.numpy(), np.full((2, 2), 0.25))
    alias = w.detach()
    nn.init.normal_(w)
    assert w._version == v + 1 and np.array_equal(alias.numpy(), w.numpy())
