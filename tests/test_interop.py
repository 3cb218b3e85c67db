"""NumPy and other libraries meet Tensors: NumPy functions give a Tensor in the graph or a
TypeError, never an object array; copies and views are explicit (gk.tensor and x.numpy()
copy, gk.as_tensor, gk.from_numpy and gk.from_dlpack share); DLPack export refuses
tensors that require grad."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def leaf(values, device):
    return gk.tensor(values, device=device, requires_grad=True)


def grad_of(fn, x):
    x.grad = None
    fn(x).sum().backward()
    return x.grad.numpy()


# ---- NumPy ufuncs ----------------------------------------------------------------------------
@pytest.mark.parametrize("np_fn, gk_fn", [
    (np.exp, gk.exp), (np.log, gk.log), (np.log1p, gk.log1p), (np.sqrt, gk.sqrt),
    (np.tanh, gk.tanh), (np.abs, gk.abs), (np.absolute, gk.abs), (np.square, gk.square),
    (np.negative, lambda x: -x), (np.positive, lambda x: x),
    (lambda x: np.add(x, 2.0), lambda x: x + 2.0),
    (lambda x: np.subtract(2.0, x), lambda x: 2.0 - x),
    (lambda x: np.multiply(np.float32(3), x), lambda x: 3.0 * x),
    (lambda x: np.divide(1.0, x), lambda x: 1.0 / x),
    (lambda x: np.true_divide(x, 4.0), lambda x: x / 4.0),
    (lambda x: np.power(x, 3), lambda x: x**3),
    (lambda x: np.maximum(x, 1.5), lambda x: gk.maximum(x, 1.5)),
    (lambda x: np.minimum(1.5, x), lambda x: gk.minimum(x, 1.5)),
    (lambda x: np.matmul(x, x), lambda x: x @ x),
    (lambda x: np.multiply(x, x), lambda x: x * x),
], ids=["exp", "log", "log1p", "sqrt", "tanh", "abs", "absolute", "square", "negative",
        "positive", "add", "rsubtract", "rmultiply_np_scalar", "rdivide", "true_divide",
        "power", "maximum", "rminimum", "matmul", "multiply_self"])
def test_numpy_ufuncs_give_tensors_in_the_graph(device, np_fn, gk_fn):
    x = leaf([0.5, 1.0, 2.0], device)
    y = np_fn(x)
    assert isinstance(y, gk.Tensor) and y.device == device and y.requires_grad
    expected = gk_fn(x)
    assert y.dtype == expected.dtype
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad_of(np_fn, x), grad_of(gk_fn, x), rtol=1e-6)


@pytest.mark.parametrize("other", [
    np.ones(3, dtype=np.float32), np.ones(3), np.float32(2), np.float64(2), np.int64(2), 2.0,
], ids=["ndarray_f32", "ndarray_f64", "np_float32", "np_float64", "np_int64", "float"])
def test_numpy_operands_on_the_left_give_what_the_tensor_operators_give(device, other):
    # np.multiply(a, x) and `a * x` are routed to x.__rmul__(a): the same dtype and value.
    x = leaf([1.0, 2.0, 3.0], device)
    cases = [(lambda: other * x, x.__rmul__), (lambda: other + x, x.__radd__),
             (lambda: other - x, x.__rsub__), (lambda: other / x, x.__rtruediv__),
             (lambda: np.multiply(other, x), x.__rmul__), (lambda: np.power(other, x), x.__rpow__),
             (lambda: np.less(other, x), x.__gt__), (lambda: np.greater_equal(other, x), x.__le__)]
    for call, operator in cases:
        expected = operator(other)
        got = call()
        assert isinstance(got, gk.Tensor) and got.device == device
        assert got.dtype == expected.dtype and got.requires_grad == expected.requires_grad
        np.testing.assert_allclose(got.numpy(), expected.numpy())


def test_ndarray_matmul_tensor_stays_in_the_graph(device):
    w = leaf(np.arange(6.0).reshape(2, 3), device)
    y = np.ones((4, 2)) @ w  # same dtype: matmul refuses mixed ones, as torch
    assert isinstance(y, gk.Tensor) and y.shape == (4, 3)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((2, 3), 4.0))


def test_unsupported_numpy_ufuncs_raise_type_error(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(TypeError, match=r"numpy\.sinh .*gradkit has no sinh op"):
        np.sinh(x)
    with pytest.raises(TypeError, match=r"numpy\.add\.reduce .*gk\.sum"):
        np.add.reduce(x)
    with pytest.raises(TypeError, match=r"numpy\.multiply\.outer"):
        np.multiply.outer(x, x)
    with pytest.raises(TypeError, match=r"numpy\.exp\(\.\.\., out=\)"):
        np.exp(x, out=np.empty(2, dtype=np.float32))
    with pytest.raises(TypeError, match=r"numpy\.add\(\.\.\., out=\)"):
        a = np.zeros(2, dtype=np.float32)
        a += x  # an in-place NumPy update would leave the graph
    with pytest.raises(TypeError, match="dtype="):
        np.add(x, 1.0, dtype=np.float64)


# ---- NumPy functions ------------------------------------------------------------------------
@pytest.mark.parametrize("np_fn, gk_fn", [
    (lambda x: np.concatenate([x, x]), lambda x: gk.concat([x, x])),
    (lambda x: np.concatenate([x, x], axis=1), lambda x: gk.concat([x, x], axis=1)),
    (lambda x: np.concatenate([x, x], axis=None), lambda x: gk.concat([x.reshape(-1)] * 2)),
    (lambda x: np.stack([x, x], axis=1), lambda x: gk.stack([x, x], axis=1)),
    (np.sum, gk.sum),
    (lambda x: np.sum(x, axis=0, keepdims=True), lambda x: x.sum(axis=0, keepdims=True)),
    (lambda x: np.mean(x, 1), lambda x: x.mean(axis=1)),
    (np.max, gk.max), (lambda x: np.amin(x, axis=0), lambda x: gk.min(x, axis=0)),
    (lambda x: np.where(x > 2.5, x, 0.0), lambda x: gk.where(x > 2.5, x, 0.0)),
    (lambda x: np.reshape(x, (3, 2)), lambda x: x.reshape(3, 2)),
    (lambda x: np.reshape(x, -1), lambda x: x.reshape(-1)),
    (np.transpose, lambda x: gk.permute_dims(x, (1, 0))),
    (lambda x: np.clip(x, 1.5, 4.5), lambda x: gk.clip(x, 1.5, 4.5)),
], ids=["concatenate", "concatenate_axis1", "concatenate_flat", "stack", "sum", "sum_keepdims",
        "mean", "max", "amin", "where", "reshape", "reshape_flat", "transpose", "clip"])
def test_numpy_functions_give_tensors_in_the_graph(device, np_fn, gk_fn):
    x = leaf(np.arange(1.0, 7.0).reshape(2, 3), device)
    y = np_fn(x)
    assert isinstance(y, gk.Tensor) and y.device == device and y.requires_grad
    np.testing.assert_allclose(y.numpy(), gk_fn(x).numpy())
    np.testing.assert_allclose(grad_of(np_fn, x), grad_of(gk_fn, x))


def test_numpy_concatenate_takes_arrays_next_to_tensors(device):
    x = leaf([1.0, 2.0], device)
    y = np.concatenate([np.zeros(1, dtype=np.float32), x])
    assert isinstance(y, gk.Tensor) and y.tolist() == [0.0, 1.0, 2.0]


def test_numpy_metadata_functions_answer_about_the_tensor(device):
    x = leaf(np.ones((2, 3)), device)
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6 and np.size(x, 1) == 3


def test_unsupported_numpy_functions_raise_type_error(device):
    x = leaf([3.0, 1.0, 2.0], device)
    with pytest.raises(TypeError, match=r"numpy\.cumsum .*gradkit has no cumsum op"):
        np.cumsum(x)
    with pytest.raises(TypeError, match=r"numpy\.argmax .*use gk\.argmax"):
        np.argmax(x)
    with pytest.raises(TypeError, match=r"numpy\.sum\(\.\.\., out=\)"):
        np.sum(x, out=np.empty((), dtype=np.float32))
    with pytest.raises(TypeError, match=r"numpy\.sum on gradkit Tensors: .*where"):
        np.sum(x, where=np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match=r"numpy\.where\(condition\)"):
        np.where(x > 1.5)


# ---- np.asarray and friends -----------------------------------------------------------------
def test_asarray_of_a_tensor_without_grad(device):
    y = gk.tensor([1.0, 2.0], device=device)
    if device != "cpu":
        with pytest.raises(TypeError, match=r"strict:device1|cuda.*\.numpy\(\).*\.cpu\(\)"):
            np.asarray(y)
        with pytest.raises(TypeError, match=r"\.numpy\(\)"):
            np.array([y, y])
        return
    a = np.asarray(y)
    assert type(a) is np.ndarray and a.dtype == np.float32 and a.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 5.0  # a view, read-only: NumPy cannot change the tensor behind autograd's back
    b = np.array(y)  # copy=True
    b[0] = 5.0
    assert y.tolist() == [1.0, 2.0]
    assert np.asarray(y, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.array([y, y]), [[1.0, 2.0], [1.0, 2.0]])
    assert np.asarray(y).dtype != object and np.asarray(gk.tensor(3.0)).shape == ()


@pytest.mark.skipif(not NUMPY2, reason="copy= arrived with NumPy 2")
def test_asarray_copy_argument():
    y = gk.tensor([1.0, 2.0])
    assert np.shares_memory(np.asarray(y, copy=False), y.array)
    c = np.asarray(y, copy=True)
    assert not np.shares_memory(c, y.array) and c.flags.writeable
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(y, dtype=np.float64, copy=False)


def test_asarray_refuses_tensors_that_require_grad(device):
    x = leaf([1.0, 2.0], device)
    for call in (lambda: np.asarray(x), lambda: np.array([x, x]), lambda: np.asarray(x * 2)):
        with pytest.raises(TypeError, match=r"requires grad.*detach\(\)"):
            call()
    assert np.asarray(x.detach()).tolist() == [1.0, 2.0] if device == "cpu" else True


def test_matplotlib_and_scikit_learn_take_cpu_tensors():
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    img = gk.rand(4, 5)
    fig, ax = plt.subplots()
    try:
        np.testing.assert_array_equal(ax.imshow(img).get_array(), img.numpy())
        ax.plot(img[0], img[1])
    finally:
        plt.close(fig)
    x = gk.randn(20, 3)
    y = x @ gk.tensor([1.0, 2.0, 3.0])
    np.testing.assert_allclose(LinearRegression().fit(x, y).coef_, [1, 2, 3], rtol=1e-4)
    assert StandardScaler().fit_transform(x).shape == (20, 3)
    with pytest.raises(TypeError, match="requires grad"):
        StandardScaler().fit(gk.randn(5, 2, requires_grad=True))


# ---- DLPack -----------------------------------------------------------------------------------
def test_dlpack_export_refuses_tensors_that_require_grad(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(BufferError, match=r"require gradient, use tensor\.detach\(\)"):
        x.__dlpack__()  # as PyTorch's (BufferError: the Array API standard's export error)
    x.detach().__dlpack__()  # exporting the data alone is fine


def test_dlpack_export_shares_memory_with_numpy_and_torch():
    y = gk.tensor([1.0, 2.0])
    a = np.from_dlpack(y)
    assert np.shares_memory(a, y.array)
    torch = pytest.importorskip("torch")
    t = torch.from_dlpack(y)
    t[0] = 7.0
    assert y.tolist() == [7.0, 2.0]


# ---- copies: gk.tensor and x.numpy() --------------------------------------------------------
def test_numpy_is_a_writable_copy_on_every_backend(device):
    y = gk.tensor([1.0, 2.0], device=device)
    a = y.numpy()
    assert isinstance(a, np.ndarray) and a.flags.writeable
    a[0] = 99.0
    assert y.tolist() == [1.0, 2.0]
    assert repr(y).startswith("tensor([1., 2.]")


def test_tensor_always_copies(device):
    host = np.array([1.0, 2.0], dtype=np.float32)
    src = gk.tensor([1.0, 2.0], device=device)
    made = [gk.tensor(host, device=device), gk.tensor(src, device=device),
            gk.tensor(src.array, device=device), gk.tensor(src), gk.tensor(src.array),
            gk.Tensor(src)]
    host[0] = 99.0
    with src.backend.scope:  # its GPU current, as library code writes raw arrays
        src.array[0] = 99.0  # a write to the raw source array (any backend)
    for t in made:
        assert t.tolist() == [1.0, 2.0]
    assert gk.tensor(np.float32(3), device=device).tolist() == 3.0
    assert gk.tensor(np.float64(3)).dtype == gk.float64  # NumPy scalars keep their dtype


def test_tensor_of_nested_lists_holding_tensors(device):
    a = leaf(1.0, device)
    x = gk.tensor([[a, a * 2], [3.0, 4.0]], device=device)  # values only, as PyTorch's
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and not x.requires_grad
    assert x.device == device and x.dtype == gk.float32


def test_tensor_copies_torch_tensors_and_keeps_their_dtype(device):
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0])
    x = gk.tensor(t, device=device)
    t[0] = 99.0  # gk.tensor(torch_tensor) shared torch's memory on the CPU
    assert x.tolist() == [1.0, 2.0] and x.device == device
    assert gk.tensor(torch.tensor([1.0], dtype=torch.float64)).dtype == gk.float64
    assert gk.tensor(torch.tensor([1], dtype=torch.int32)).dtype == gk.int32


def test_tensor_copies_jax_arrays():
    jnp = pytest.importorskip("jax.numpy")
    x = gk.tensor(jnp.asarray([1.0, 2.0], dtype=jnp.float32))
    assert x.dtype == gk.float32 and x.tolist() == [1.0, 2.0] and x.array.flags.writeable


# ---- views: gk.as_tensor, gk.from_numpy, gk.from_dlpack ------------------------------------
def test_from_numpy_shares_memory_both_ways():
    a = np.array([1.0, 2.0], dtype=np.float32)
    x = gk.from_numpy(a)
    assert x.device == "cpu" and x.dtype == gk.float32 and not x.requires_grad
    a[0] = 5.0
    assert x.tolist() == [5.0, 2.0]
    with gk.no_grad():
        x += 1.0
    assert a.tolist() == [6.0, 3.0]
    assert gk.from_numpy(np.arange(3)).dtype == gk.int64


@pytest.mark.parametrize("bad", [[1.0, 2.0], np.float32(1.0), 3.0, np.array([1j])],
                         ids=["list", "np_scalar", "float", "complex"])
def test_from_numpy_refuses_what_is_not_a_supported_ndarray(bad):
    with pytest.raises(TypeError, match=r"ndarray|unsupported dtype"):
        gk.from_numpy(bad)


def test_as_tensor_shares_when_device_and_dtype_allow(device):
    src = gk.tensor([1.0, 2.0], device=device)
    shared = gk.as_tensor(src.array)
    assert shared.array is src.array and shared.device == device
    assert gk.as_tensor(src.array, device=device).array is src.array
    converted = gk.as_tensor(src.array, dtype=gk.float64)
    assert converted.dtype == gk.float64 and converted.array is not src.array
    host = np.array([1.0, 2.0], dtype=np.float32)
    on_device = gk.as_tensor(host, device=device)
    host[0] = 5.0
    assert on_device.tolist() == ([5.0, 2.0] if device == "cpu" else [1.0, 2.0])
    assert gk.as_tensor([1.0, 2.0], device=device).dtype == gk.float32  # Python data: new
    x = leaf([1.0, 2.0], device)
    assert gk.as_tensor(x) is x
    y = gk.as_tensor(x, dtype=gk.float64)  # a conversion stays in the graph, as PyTorch's
    y.sum().backward()
    assert y.dtype == gk.float64 and x.grad.tolist() == [1.0, 1.0]


def test_as_tensor_and_from_dlpack_share_torch_memory():
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0])
    a, b = gk.as_tensor(t), gk.from_dlpack(t)
    t[0] = 9.0
    assert a.tolist() == [9.0, 2.0] and b.tolist() == [9.0, 2.0]
    assert a.device == "cpu" and a.dtype == gk.float32
    assert gk.as_tensor(torch.tensor([1.0], dtype=torch.float64)).dtype == gk.float64
    with pytest.raises(BufferError, match="require"):
        gk.from_dlpack(torch.ones(2, requires_grad=True))


def test_from_dlpack_shares_numpy_and_gradkit_memory():
    a = np.array([1.0, 2.0])
    x = gk.from_dlpack(a)
    a[1] = 8.0
    assert x.tolist() == [1.0, 8.0] and x.dtype == gk.float64
    y = gk.tensor([1.0, 2.0])
    assert np.shares_memory(gk.from_dlpack(y).array, y.array)
    with pytest.raises(BufferError, match="require gradient"):
        gk.from_dlpack(gk.tensor([1.0], requires_grad=True))
    with pytest.raises(TypeError, match=r"__dlpack__.*list"):
        gk.from_dlpack([1.0, 2.0])
