"""Bad input gets an exception that names the problem and the values involved."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn

STRICT = "strict:device1"


def _other_device(device):
    """A second device to mix with `device` (skips when array-api-strict is missing)."""
    other = "cpu" if device != "cpu" else STRICT
    if not gk.is_available(other):
        pytest.skip(f"needs {other}: {gk.availability('strict')[1]}")
    return other


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / b,
    lambda a, b: gk.maximum(a, b), lambda a, b: gk.where(a > 0, a, b),
], ids=["add", "mul", "sub", "div", "maximum", "where"])
def test_shape_mismatch_names_both_shapes(device, op):
    a, b = gk.ones(2, 3, device=device), gk.ones(4, device=device)
    with pytest.raises(gk.ShapeError) as info:
        op(a, b)
    assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value)


def test_matmul_and_shape_ops_name_shapes(device):
    a, b = gk.ones(2, 3, device=device), gk.ones(4, 5, device=device)
    for call, shapes in [
        (lambda: a @ b, ["(2, 3)", "(4, 5)"]),
        (lambda: gk.concat([a, b]), ["(2, 3)", "(4, 5)"]),
        (lambda: gk.stack([a, b]), ["(2, 3)", "(4, 5)"]),
        (lambda: a.reshape(4, 2), ["(2, 3)", "(4, 2)"]),
        (lambda: gk.broadcast_to(a, (3, 3)), ["(2, 3)"]),
        (lambda: a.sum(axis=2), ["axis 2"]),
        (lambda: a.transpose(0, 2), ["dimensions", "(2, 3)"]),
    ]:
        with pytest.raises(gk.ShapeError) as info:
            call()
        for s in shapes:
            assert s in str(info.value), (s, str(info.value))


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: b * a, lambda a, b: a @ b, lambda a, b: a < b,
    lambda a, b: gk.concat([a, b]), lambda a, b: gk.maximum(a, b),
    lambda a, b: gk.linear(a[None], b[None]), lambda a, b: gk.linear(b[None], a[None]),
], ids=["add", "rmul", "matmul", "less", "concat", "maximum", "linear", "linear-weight"])
def test_device_mismatch_names_both_devices(device, op):
    other = _other_device(device)
    a = gk.ones(3, device=device, requires_grad=True)
    b = gk.ones(3, device=other)
    with pytest.raises(gk.DeviceError) as info:
        op(a, b)
    assert device in str(info.value) and other in str(info.value)


def test_device_mismatch_of_functional_arguments_names_them(device):
    """embedding's indices, an attention mask and class weights: each named as itself."""
    other = _other_device(device)
    w = gk.ones(3, 2, device=device)
    with pytest.raises(gk.DeviceError, match=f"embedding: weight is on {device} but input "
                                             f"is on {other}"):
        F.embedding(gk.tensor([0, 1], device=other), w)
    q = gk.ones(2, 2, device=device)
    with pytest.raises(gk.DeviceError, match=f"query is on {device} but attn_mask is on {other}"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=gk.ones(2, 2, device=other))
    with pytest.raises(gk.DeviceError, match=f"input is on {device} but weight is on {other}"):
        F.cross_entropy(w, gk.tensor([0, 1, 0], device=device), weight=gk.ones(2, device=other))


def test_backward_gradient_on_wrong_device_or_shape(device):
    other = _other_device(device)
    y = gk.ones(3, device=device, requires_grad=True) * 2
    with pytest.raises(gk.DeviceError) as info:
        y.backward(gk.ones(3, device=other))
    assert device in str(info.value) and other in str(info.value)
    with pytest.raises(gk.ShapeError) as info:
        y.backward(gk.ones(2, device=device))
    assert "(2,)" in str(info.value) and "(3,)" in str(info.value)


def test_backward_on_non_scalar_needs_grad(device):
    y = gk.ones(2, 3, device=device, requires_grad=True) * 2
    with pytest.raises(gk.GradkitError, match=r"scalar.*\(2, 3\)"):
        y.backward()
    y.backward(gk.ones(2, 3, device=device))  # with a gradient it works


def test_second_backward_is_a_clear_error(device):
    x = gk.ones(3, device=device, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(gk.GradkitError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_without_graph(device):
    with pytest.raises(gk.GradkitError, match="does not require grad"):
        gk.ones(3, device=device).sum().backward()
    x = gk.ones(3, device=device, requires_grad=True)
    with gk.no_grad():
        y = (x * 2).sum()
    with pytest.raises(gk.GradkitError, match="no_grad"):
        y.backward()


def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(TypeError, match="int64"):
        gk.tensor([1, 2, 3], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        gk.tensor([True], device=device, requires_grad=True)


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "gpu:one", "cpu:1", "strict:nosuchdevice"])
def test_bad_device_strings(spec):
    with pytest.raises(gk.DeviceError) as info:
        gk.tensor([1.0], device=spec)
    assert spec.split(":")[-1] in str(info.value)
    assert not gk.is_available(spec)


def test_cuda_unavailable_message_carries_probe_reason():
    ok, reason = gk.availability("cupy")
    if ok:
        pytest.skip("a CUDA GPU is available here")
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(gk.DeviceError) as info:
            gk.zeros(2, device=spec)
        assert reason in str(info.value) and spec in str(info.value)
    assert not gk.is_available("cuda")


def test_unsupported_dtype_lists_choices(device):
    with pytest.raises(TypeError, match="float32"):
        gk.tensor(np.array(["a", "b"]), device=device)
    with pytest.raises(TypeError, match="complex"):
        gk.zeros(2, dtype="complex128", device=device)


def test_grad_input_must_require_grad(device):
    x = gk.ones(2, device=device)
    y = gk.ones(2, device=device, requires_grad=True)
    with pytest.raises(gk.GradkitError, match=r"\(2,\)"):
        gk.grad((x * y).sum(), [x])


def test_errors_are_not_bare_library_tracebacks(device):
    """A caller's mistake inside an op surfaces as gradkit's error, chained to the cause."""
    a, b = gk.ones(2, 3, device=device), gk.ones(3, 2, device=device)
    with pytest.raises(gk.ShapeError) as info:
        a * b
    assert "mul" in str(info.value)


# ---- index bounds ----------------------------------------------------------------------------
@pytest.fixture
def debug_mode():
    before = gk.is_debug()
    gk.set_debug(True)
    yield
    gk.set_debug(before)


def test_embedding_refuses_indices_outside_the_table_on_the_cpu():
    """PyTorch's embedding takes no negative indices; NumPy would wrap -1 to the last row."""
    emb = nn.Embedding(3, 2)
    for bad, shown in (([-1], "[-1, -1]"), ([0, 3], "[0, 3]"), ([[2, -2], [1, 0]], "[-2, 2]")):
        with pytest.raises(IndexError) as info:
            emb(gk.tensor(bad))
        assert f"indices range over {shown}, outside [0, 3)" in str(info.value)
        assert "num_embeddings=3" in str(info.value)
    np.testing.assert_array_equal(emb(gk.tensor([2, 0])).numpy(), emb.weight.numpy()[[2, 0]])
    assert emb(gk.tensor([], dtype="int64")).shape == (0, 2)


def test_index_bounds_are_checked_on_every_backend_in_debug_mode(device, debug_mode):
    w = gk.zeros(3, 2, device=device)
    with pytest.raises(IndexError, match=r"embedding: indices range over \[-1, 1\], outside "
                                         r"\[0, 3\) for num_embeddings=3"):
        F.embedding(gk.tensor([1, -1], device=device), w)
    for index, message in [
        (gk.tensor([0, 3], device=device), r"\[0, 3\], outside \[-3, 3\) for axis 0 of size 3"),
        (gk.tensor([-4], device=device), r"\[-4, -4\], outside \[-3, 3\) for axis 0"),
        ((slice(None), gk.tensor([[1], [2]], device=device)), r"axis 1 of size 2"),
        ((None, Ellipsis, gk.tensor([5], device=device)), r"axis 1 of size 2"),
        ((gk.tensor([0], device=device), gk.tensor([-3], device=device)), r"axis 1 of size 2"),
    ]:
        with pytest.raises(IndexError, match="getitem: indices range over .*" + message):
            w[index]
        with pytest.raises(IndexError, match=message):
            w[index] = 1.0
    np.testing.assert_array_equal(w[gk.tensor([-3, 2], device=device)].numpy(), 0.0)  # as NumPy
    x = gk.zeros(2, 3, device=device)
    for target in ([0, 3], [-1, 0]):
        for loss in (F.cross_entropy, F.nll_loss):
            with pytest.raises(IndexError, match=r"targets range over .* outside \[0, 3\) for "
                                                 r"3 classes \(ignore_index=-100\)"):
                loss(x, gk.tensor(target, device=device))
    assert np.isfinite(F.cross_entropy(x, gk.tensor([-100, 2], device=device)).item())
    assert np.isfinite(F.nll_loss(x, gk.tensor([7, 2], device=device), ignore_index=7).item())


def test_out_of_range_indices_without_debug_mode_never_read_another_row(device):
    """Issue 9: where bounds go unchecked (a GPU, strict: checking would synchronise),
    an out-of-range position is NaN / the dtype's minimum with no gradient, never a
    wrapped-around row (CuPy wraps); on the CPU it raises."""
    w = gk.arange(6.0, device=device).reshape(3, 2).requires_grad_()
    idx = gk.tensor([2, 3, -4, -1], device=device)
    checked = gk.get_backend(device).checks_bounds_cheaply
    if checked:
        for bad in (lambda: w[idx], lambda: F.embedding(gk.tensor([-1], device=device), w),
                    lambda: gk.gather(w, 1, gk.tensor([[2], [0], [0]], device=device))):
            with pytest.raises(IndexError):
                bad()
        return
    rows = w[idx]
    rows.sum().backward()
    np.testing.assert_array_equal(rows.numpy()[[0, 3]], [[4.0, 5.0], [4.0, 5.0]])
    assert np.isnan(rows.numpy()[[1, 2]]).all()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [0, 0], [2, 2]])  # none for NaNs
    emb = F.embedding(gk.tensor([[0, -1], [3, 1]], device=device), w).numpy()
    assert np.isnan(emb[0, 1]).all() and np.isnan(emb[1, 0]).all()
    np.testing.assert_array_equal(emb[1, 1], [2.0, 3.0])
    labels = gk.arange(3, device=device)[idx]
    assert labels.tolist() == [2, np.iinfo(np.int64).min, np.iinfo(np.int64).min, 2]
    picked = gk.gather(w, 1, gk.tensor([[1], [2], [0]], device=device)).numpy()
    assert picked[0, 0] == 1.0 and np.isnan(picked[1, 0]) and picked[2, 0] == 4.0


def test_array_library_errors_keep_their_kind(device):
    """Issue 9: an error raised inside a forward is reported with the op's name as what
    it is; a TypeError (an operand the array library refuses) used to become a
    ShapeError. Operands that do not broadcast stay a ShapeError."""

    class AddHost(gk.Function):
        def forward(self, x):
            return x + object()  # no array library adds an arbitrary object

        def backward(self, g):
            return g

    with pytest.raises(TypeError, match="addhost: ") as info:
        AddHost.apply(gk.ones(3, device=device))
    assert not isinstance(info.value, gk.ShapeError)
    with pytest.raises(gk.ShapeError, match="add: .*input shapes: \\(3,\\), \\(2,\\)"):
        gk.ones(3, device=device) + gk.ones(2, device=device)


def test_debug_mode_is_read_from_the_environment_at_import():
    code = "import gradkit; print(gradkit.is_debug())"
    for value, expected in (("1", "True"), ("0", "False"), ("", "False")):
        env = dict(os.environ, GRADKIT_DEBUG=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
        assert out.strip() == expected, (value, out)


# ---- every exception class a user can meet is public ---------------------------------------
# exceptions that stay inside one tool and never reach a caller: the self-check's checks
# raise them and its runner catches them (python -m gradkit.selfcheck)
_INTERNAL_EXCEPTIONS = {"gradkit.selfcheck.Skip", "gradkit.selfcheck.CheckFailed"}


def test_gradcheck_error_is_gk_gradcheck_error():
    class Wrong(gk.Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g * 3

    x = gk.tensor([1.0, 2.0], dtype=gk.float64, requires_grad=True)
    with pytest.raises(gk.GradcheckError, match="analytic 3 vs numeric 2"):
        gk.gradcheck(Wrong.apply, x)
    assert issubclass(gk.GradcheckError, AssertionError)


def test_every_exception_class_is_a_public_name():
    import importlib
    import inspect
    import pkgutil

    from public_api import public_names

    public = {id(obj) for obj in public_names().values()}
    missing = []
    for info in pkgutil.walk_packages(gk.__path__, "gradkit."):
        if info.name == "gradkit.backends.cupy_backend":
            continue  # imports CuPy
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name and not name.startswith("_")
                    and f"{info.name}.{name}" not in _INTERNAL_EXCEPTIONS
                    and id(obj) not in public):
                missing.append(f"{info.name}.{name}")
    assert not missing, "exception classes not exported under a public name: " + ", ".join(missing)
