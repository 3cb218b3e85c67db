"""nn.functional on every backend: values against NumPy (and PyTorch when installed),
gradients against finite differences (float64), numerical stability, and erf."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit.backends.base import Backend

try:
    import torch
except ImportError:  # the PyTorch comparisons are skipped
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
RNG = np.random.default_rng


def t64(a, device, grad=True):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=grad)


def close(t, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=atol)


# ---- erf ------------------------------------------------------------------------------------
ERF_GRID = np.concatenate([np.linspace(-30, 30, 120001), np.geomspace(1e-300, 1e3, 3000),
                           -np.geomspace(1e-300, 1e3, 3000), [0.0, -0.0, 1e308, -1e308]])
ERF_REF = np.array([math.erf(v) for v in ERF_GRID])


def test_generic_erf_matches_math_erf_in_float64(backend):
    x = backend.asarray(ERF_GRID, "float64")
    got = backend.to_numpy(Backend.erf(backend, x))
    assert got.dtype == np.float64
    rel = np.abs(got - ERF_REF) / np.maximum(np.abs(ERF_REF), 1e-300)
    assert rel.max() < 1e-14, ERF_GRID[np.argmax(rel)]
    assert np.signbit(got[ERF_GRID.size - 3])  # erf(-0.0) == -0.0


def test_backend_erf_matches_generic_and_keeps_dtype(backend):
    for dtype, tol in (("float64", 1e-14), ("float32", 2e-7)):
        x = backend.asarray(ERF_GRID[::7].astype(dtype), dtype)
        native, generic = backend.erf(x), Backend.erf(backend, x)
        assert backend.dtype_name(native.dtype) == dtype
        assert backend.dtype_name(generic.dtype) == dtype
        np.testing.assert_allclose(backend.to_numpy(native), backend.to_numpy(generic),
                                   rtol=tol, atol=tol)


def test_erf_special_values(backend):
    x = backend.asarray(np.array([np.inf, -np.inf, np.nan, 0.0]), "float64")
    for erf in (backend.erf, lambda a: Backend.erf(backend, a)):
        out = backend.to_numpy(erf(x))
        np.testing.assert_array_equal(out[:2], [1.0, -1.0])
        assert np.isnan(out[2]) and out[3] == 0.0


# ---- activations ---------------------------------------------------------------------------
def _gelu_ref(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "gelu": (F.gelu, lambda x: _gelu_ref(x, "none")),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: _gelu_ref(x, "tanh")),
    "softplus": (F.softplus, lambda x: np.logaddexp(0, x)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values_and_gradients(name, device):
    fn, ref = ACTIVATIONS[name]
    x = RNG(1).standard_normal((3, 4)) * 2
    x[0, 0] = 0.3  # keep relu's kink away from the finite differences
    close(fn(t64(x, device, grad=False)), ref(x))
    assert gk.gradcheck(fn, [t64(x, device)])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(gk.ones(2), approximate="fast")


@needs_torch
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate, device):
    x = RNG(2).standard_normal(50) * 4
    expected = torch.nn.functional.gelu(torch.tensor(x), approximate=approximate).numpy()
    close(F.gelu(t64(x, device, grad=False), approximate=approximate), expected, rtol=1e-12)


@needs_torch
def test_softplus_beta_threshold_match_torch(device):
    x = np.linspace(-30, 30, 61)
    expected = torch.nn.functional.softplus(torch.tensor(x), beta=2.0, threshold=5.0).numpy()
    close(F.softplus(t64(x, device, grad=False), beta=2.0, threshold=5.0), expected)


# ---- softmax family ------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(axis, device):
    x = RNG(3).standard_normal((3, 5))
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    sm = e / e.sum(axis=axis, keepdims=True)
    close(F.softmax(t64(x, device, False), axis=axis), sm)
    close(F.log_softmax(t64(x, device, False), axis=axis), np.log(sm))
    close(F.softmax(t64(x, device, False), dim=axis), sm)  # PyTorch's keyword
    assert gk.gradcheck(lambda t: F.log_softmax(t, axis=axis) * 1.5, [t64(x, device)])
    assert gk.gradcheck(lambda t: F.softmax(t, axis=axis), [t64(x, device)])


def test_softmax_family_is_stable_for_huge_logits(device):
    x = gk.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], device=device, requires_grad=True)
    sm, lsm = F.softmax(x), F.log_softmax(x)
    np.testing.assert_allclose(sm.numpy(), [[1, 0, 0], [1 / 3] * 3], atol=1e-7)
    np.testing.assert_allclose(lsm.numpy()[0, :2], [0.0, -1e4], rtol=1e-6)
    assert np.isfinite(lsm.numpy()).all()


# ---- losses -----------------------------------------------------------------------------------
def _ce_ref(x, y, reduction="mean"):
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    per = -logp[np.arange(len(y)), y]
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_values_and_gradients(reduction, device):
    x = RNG(4).standard_normal((6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    target = gk.tensor(y, device=device)
    out = F.cross_entropy(t64(x, device, False), target, reduction=reduction)
    close(out, _ce_ref(x, y, reduction))
    assert gk.gradcheck(lambda t: F.cross_entropy(t, target, reduction=reduction),
                        [t64(x, device)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_fused_node_gives_the_bits_of_log_softmax_and_nll(dtype, device):
    """The common case runs as one SoftmaxCrossEntropy node; its loss and gradient are
    bit for bit those of log_softmax followed by nll_loss (the ops it fuses)."""
    rng = RNG(7)
    cases = [((6, 4), "mean", -100), ((6, 4), "sum", -100), ((5, 3, 2), "mean", 1),
             ((4,), "sum", -100)]
    for shape, reduction, ignore in cases:
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        axis = 1 if len(shape) > 1 else 0
        y = rng.integers(0, shape[axis], shape[:axis] + shape[axis + 1:])
        target = gk.tensor(y, device=device)
        got = []
        for fused in (True, False):
            xt = gk.tensor(x, device=device, requires_grad=True)
            loss = (F.cross_entropy(xt, target, reduction=reduction, ignore_index=ignore)
                    if fused else F.nll_loss(F.log_softmax(xt, dim=axis), target,
                                             reduction=reduction, ignore_index=ignore))
            loss.backward()
            got.append((loss.numpy(), xt.grad.numpy()))
        assert got[0][0].tobytes() == got[1][0].tobytes(), (shape, reduction)
        assert got[0][1].tobytes() == got[1][1].tobytes(), (shape, reduction)
    assert type(F.cross_entropy(t64([[1.0, 2.0]], device), gk.tensor([1], device=device))
                .grad_fn).__name__ == "SoftmaxCrossEntropy"


def test_cross_entropy_second_derivative(device):
    x = t64(RNG(8).standard_normal((4, 3)), device)
    target = gk.tensor([0, 2, 1, 1], device=device)
    assert gk.gradgradcheck(lambda t: F.cross_entropy(t, target), [x])
    assert gk.gradgradcheck(lambda t: F.cross_entropy(t, target, reduction="sum",
                                                      ignore_index=1), [x])


def test_cross_entropy_gradient_is_softmax_minus_onehot(device):
    x = RNG(5).standard_normal((5, 3))
    y = np.array([2, 0, 1, 1, 0])
    xt = t64(x, device)
    F.cross_entropy(xt, gk.tensor(y, device=device)).backward()
    e = np.exp(x - x.max(1, keepdims=True))
    expected = e / e.sum(1, keepdims=True)
    expected[np.arange(5), y] -= 1
    close(xt.grad, expected / 5)


def test_cross_entropy_is_finite_for_huge_logits(device):
    x = gk.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]], device=device, requires_grad=True)
    loss = F.cross_entropy(x, gk.tensor([1, 2], device=device))
    loss.backward()
    np.testing.assert_allclose(loss.item(), (2e4 + math.log(2)) / 2, rtol=1e-6)
    assert np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_of_a_single_sample_and_of_spatial_input(device):
    x = RNG(6).standard_normal((2, 3, 4))  # (N, C, d): classes on axis 1
    y = RNG(7).integers(0, 3, (2, 4))
    flat_x = np.moveaxis(x, 1, -1).reshape(-1, 3)
    close(F.cross_entropy(t64(x, device, False), gk.tensor(y, device=device)),
          _ce_ref(flat_x, y.reshape(-1)))
    single = F.cross_entropy(t64(x[0, :, 0], device, False), gk.tensor(y[0, 0], device=device))
    close(single, _ce_ref(x[:1, :, 0], y[:1, 0]))


def test_cross_entropy_ignore_index(device):
    x = RNG(8).standard_normal((5, 3))
    y = np.array([0, -100, 2, -100, 1])
    kept = y != -100
    loss = F.cross_entropy(t64(x, device, False), gk.tensor(y, device=device))
    close(loss, _ce_ref(x[kept], y[kept]))
    # an ignore_index that is also a class index
    loss = F.cross_entropy(t64(x, device, False), gk.tensor([0, 1, 2, 1, 1], device=device),
                           ignore_index=1)
    close(loss, _ce_ref(x[[0, 2]], np.array([0, 2])))


def test_cross_entropy_out_of_range_target_raises_or_gives_nan(device, backend):
    """Where bounds are checked (the CPU) a bad target raises, as PyTorch's; on a device
    outside debug mode that would need the host, so the loss is NaN, never garbage."""
    x = gk.zeros(2, 3, device=device)
    if backend.checks_bounds_cheaply:
        for bad in ([0, 3], [0, -1]):
            for reduction in ("mean", "sum", "none"):
                with pytest.raises(IndexError, match=r"targets range over .*outside \[0, 3\)"):
                    F.cross_entropy(x, gk.tensor(bad, device=device), reduction=reduction)
        return
    for reduction in ("mean", "sum"):
        loss = F.cross_entropy(x, gk.tensor([0, 3], device=device), reduction=reduction)
        assert math.isnan(loss.item())
    per = F.cross_entropy(x, gk.tensor([0, -1], device=device), reduction="none").numpy()
    assert np.isfinite(per[0]) and np.isnan(per[1])


def test_cross_entropy_errors_name_the_shapes_and_devices(device):
    x = gk.zeros(4, 3, device=device)
    with pytest.raises(gk.ShapeError, match=r"\(3,\).*\(4, 3\)"):
        F.cross_entropy(x, gk.tensor([0, 1, 2], device=device))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, gk.zeros(4, dtype="bool", device=device))
    with pytest.raises(gk.ShapeError, match="probability targets"):
        F.cross_entropy(x, gk.zeros(4, 2, device=device))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, gk.tensor([0, 1, 2, 0], device=device), reduction="avg")
    if device != "cpu":
        with pytest.raises(gk.DeviceError, match="cpu"):
            F.cross_entropy(x, gk.tensor([0, 1, 2, 0]))


@needs_torch
@pytest.mark.parametrize("options", [
    dict(label_smoothing=0.2),
    dict(weight=[1.0, 2.0, 0.5]),
    dict(weight=[1.0, 2.0, 0.5], label_smoothing=0.1, ignore_index=1),
    dict(weight=[1.0, 2.0, 0.5], reduction="none"),
    dict(label_smoothing=0.3, reduction="sum"),
    dict(weight=[1.0, 2.0, 0.5], reduction="sum"),
])
def test_cross_entropy_options_match_torch(options, device):
    x = RNG(9).standard_normal((6, 3))
    y = np.array([0, 1, 2, 2, 1, options.get("ignore_index", -100)])
    kwargs = dict(options)
    tkwargs = dict(options)
    if "weight" in kwargs:
        kwargs["weight"] = t64(kwargs["weight"], device, False)
        tkwargs["weight"] = torch.tensor(tkwargs["weight"], dtype=torch.float64)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(y), **tkwargs)
    expected.sum().backward()
    xt = t64(x, device)
    got = F.cross_entropy(xt, gk.tensor(y, device=device), **kwargs)
    got.sum().backward()
    close(got, expected.detach().numpy())
    close(xt.grad, tx.grad.numpy())


@needs_torch
def test_cross_entropy_with_probability_targets_matches_torch(device):
    x = RNG(10).standard_normal((4, 3))
    p = RNG(11).dirichlet(np.ones(3), 4)
    expected = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p),
                                                 label_smoothing=0.1)
    close(F.cross_entropy(t64(x, device, False), t64(p, device, False), label_smoothing=0.1),
          expected.numpy())


def test_nll_loss(device):
    logp = np.log(RNG(12).dirichlet(np.ones(4), 3))
    y = np.array([3, 0, 1])
    target = gk.tensor(y, device=device)
    close(F.nll_loss(t64(logp, device, False), target), -logp[np.arange(3), y].mean())
    assert gk.gradcheck(lambda t: F.nll_loss(t, target, reduction="sum"), [t64(logp, device)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, device):
    a, b = RNG(13).standard_normal((2, 3, 2))
    ref = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]((a - b) ** 2)
    close(F.mse_loss(t64(a, device, False), t64(b, device, False), reduction=reduction), ref)
    assert gk.gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction),
                        [t64(a, device), t64(b, device)])


def test_mse_loss_warns_when_shapes_broadcast():
    with pytest.warns(UserWarning, match="broadcast"):
        F.mse_loss(gk.zeros(4, 1), gk.zeros(4))


def _bce_ref(x, t, pos_weight=1.0):
    return (1 - t) * x + (1 + (pos_weight - 1) * t) * np.logaddexp(0, -x)


def test_bce_with_logits_values_gradients_and_stability(device):
    x = RNG(14).standard_normal((3, 4)) * 3
    t = RNG(15).random((3, 4))
    close(F.binary_cross_entropy_with_logits(t64(x, device, False), t64(t, device, False)),
          _bce_ref(x, t).mean())
    assert gk.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"),
                        [t64(x, device), t64(t, device)])
    big = gk.tensor([1e4, -1e4, 0.0], device=device, requires_grad=True)
    target = gk.tensor([0.0, 1.0, 1.0], device=device)
    loss = F.binary_cross_entropy_with_logits(big, target, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4, math.log(2)], rtol=1e-6)
    loss.sum().backward()
    # d/dx = sigmoid(x) - t, exactly, even at x = 0 where max/abs have kinks
    np.testing.assert_allclose(big.grad.numpy(), [1.0, -1.0, -0.5], atol=1e-7)


@needs_torch
def test_bce_with_logits_weights_match_torch(device):
    x = RNG(16).standard_normal((5, 2))
    t = (RNG(17).random((5, 2)) > 0.5).astype(np.float64)
    w, pw = RNG(18).random((5, 2)), np.array([2.0, 0.5])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), weight=torch.tensor(w), pos_weight=torch.tensor(pw))
    got = F.binary_cross_entropy_with_logits(t64(x, device, False), t64(t, device, False),
                                             t64(w, device, False),
                                             pos_weight=t64(pw, device, False))
    close(got, expected.numpy())


@needs_torch
def test_binary_cross_entropy_matches_torch(device):
    p = RNG(19).random(6) * 0.98 + 0.01
    t = RNG(20).random(6)
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t))
    close(F.binary_cross_entropy(t64(p, device, False), t64(t, device, False)), expected.numpy())


# ---- layers as functions -------------------------------------------------------------------------
def test_linear(device):
    x, w, b = RNG(21).standard_normal((3, 4)), RNG(22).standard_normal((2, 4)), RNG(23).random(2)
    close(F.linear(t64(x, device, False), t64(w, device, False), t64(b, device, False)),
          x @ w.T + b)
    close(F.linear(t64(x, device, False), t64(w, device, False)), x @ w.T)
    assert gk.gradcheck(F.linear, [t64(x, device), t64(w, device), t64(b, device)])


def test_dropout_identity_when_not_training_or_p_zero(device):
    x = gk.randn(4, 5, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout_statistics_and_gradient(device):
    p = 0.3
    x = gk.ones(200, 500, device=device, requires_grad=True)
    y = F.dropout(x, p)
    values = y.numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 100k draws: sd of the fraction ~ 0.0015
    np.testing.assert_allclose(values[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(values.mean() - 1) < 0.02  # inverted dropout keeps the mean
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the gradient is the mask


def test_dropout_is_repeatable_with_manual_seed(device):
    gk.manual_seed(3)
    a = F.dropout(gk.ones(50, device=device)).numpy()
    gk.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(gk.ones(50, device=device)).numpy(), a)


def _norm_ref(x, axes, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def test_layer_norm(device):
    x = RNG(24).standard_normal((2, 3, 4))
    w, b = RNG(25).random((3, 4)), RNG(26).random((3, 4))
    close(F.layer_norm(t64(x, device, False), (4,)), _norm_ref(x, (2,)))
    close(F.layer_norm(t64(x, device, False), (3, 4), t64(w, device, False),
                       t64(b, device, False)), _norm_ref(x, (1, 2)) * w + b)
    def ln(a, c, d):
        return F.layer_norm(a, 4, c, d)
    inputs = [t64(x, device), t64(w[0], device), t64(b[0], device)]
    assert gk.gradcheck(ln, inputs) and gk.gradgradcheck(ln, inputs)
    two = [t64(x, device), t64(w, device), t64(b, device)]  # over two trailing axes
    assert gk.gradcheck(lambda a, c, d: F.layer_norm(a, (3, 4), c, d), two)
    y = F.layer_norm(t64(x, device), 4)
    assert y.grad_fn.name() == "LayerNormalizeBackward0"  # one node, not seven
    with pytest.raises(gk.ShapeError, match="normalized_shape"):
        F.layer_norm(t64(x, device, False), (3,))


def test_batch_norm_function_train_and_eval(device):
    x = RNG(27).standard_normal((8, 3, 2)) * 2 + 1
    rm, rv = gk.zeros(3, dtype="float64", device=device), gk.ones(3, dtype="float64", device=device)
    out = F.batch_norm(t64(x, device, False), rm, rv, training=True, momentum=0.1)
    close(out, _norm_ref(x, (0, 2)))
    close(rm, 0.1 * x.mean(axis=(0, 2)))
    close(rv, 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1))
    evaluated = F.batch_norm(t64(x, device, False), rm, rv, training=False)
    close(evaluated, (x - rm.numpy()[:, None]) / np.sqrt(rv.numpy()[:, None] + 1e-5))
    w, b = RNG(28).random(3), RNG(29).random(3)
    def bn(a, c, d):
        return F.batch_norm(a, None, None, c, d, training=True)
    for shape in (x[:4, :, 0], x[:4]):  # (N, C) and (N, C, L); second order too (one node)
        inputs = [t64(shape, device), t64(w, device), t64(b, device)]
        assert gk.gradcheck(bn, inputs) and gk.gradgradcheck(bn, inputs)
    y = F.batch_norm(t64(x[:4], device), None, None, training=True)
    assert y.grad_fn.name() == "BatchNormalizeBackward0"  # one node, not eleven


def test_embedding_values_gradient_and_padding(device):
    w = RNG(30).standard_normal((5, 3))
    idx = np.array([[0, 4, 4], [2, 0, 1]])
    weight = t64(w, device)
    out = F.embedding(gk.tensor(idx, device=device), weight)
    assert out.shape == (2, 3, 3)
    close(out, w[idx])
    (out * gk.tensor(np.arange(3.0), device=device)).sum().backward()
    expected = np.zeros_like(w)
    np.add.at(expected, idx.reshape(-1), np.tile(np.arange(3.0), (6, 1)))  # repeats add up
    close(weight.grad, expected)
    weight.grad = None
    F.embedding(gk.tensor(idx, device=device), weight, padding_idx=4).sum().backward()
    counts = np.bincount(idx.reshape(-1), minlength=5).astype(float)
    counts[4] = 0  # the padding row gets no gradient
    close(weight.grad, np.repeat(counts[:, None], 3, axis=1))
    assert gk.gradcheck(lambda t: F.embedding(gk.tensor(idx, device=device), t),
                        [t64(w, device)])
    with pytest.raises(TypeError, match="integer"):
        F.embedding(gk.zeros(2, device=device), weight)
