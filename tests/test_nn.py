"""nn.Module and the layers on every backend: registration, modes, devices, state
dicts, printing, each layer's values and gradients, BatchNorm's running statistics,
initialisation, and parity with PyTorch when it is installed."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
RNG = np.random.default_rng


def t64(a, device, grad=False):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=grad)


class MLP(nn.Module):
    def __init__(self, device=None, dtype=None):
        super().__init__()
        self.fc1 = nn.Linear(4, 8, device=device, dtype=dtype)
        self.norm = nn.BatchNorm1d(8, device=device, dtype=dtype)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(8, 3, device=device, dtype=dtype))
        self.scale = nn.Parameter(gk.ones(3, device=device, dtype=dtype))

    def forward(self, x):
        return self.head(self.norm(self.fc1(x))) * self.scale


MLP_KEYS = ["scale", "fc1.weight", "fc1.bias", "norm.weight", "norm.bias", "norm.running_mean",
            "norm.running_var", "norm.num_batches_tracked", "head.1.weight", "head.1.bias"]


# ---- Module mechanics -------------------------------------------------------------------------
def test_parameters_and_submodules_register_in_order():
    m = MLP()
    assert [n for n, _ in m.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "norm.weight", "norm.bias", "head.1.weight",
        "head.1.bias"]
    assert list(m.state_dict()) == MLP_KEYS
    assert [type(c).__name__ for c in m.children()] == ["Linear", "BatchNorm1d", "Sequential"]
    assert [type(c).__name__ for c in m.modules()] == [
        "MLP", "Linear", "BatchNorm1d", "Sequential", "ReLU", "Linear"]
    assert [n for n, _ in m.named_buffers()] == [
        "norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]
    assert all(isinstance(p, nn.Parameter) and isinstance(p, gk.Tensor) for p in m.parameters())
    assert all(p.requires_grad and p.is_leaf for p in m.parameters())


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(m.parameters())) == 2
    assert len([x for x in m.modules() if x is lin]) == 1


def test_assignment_rules():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = gk.zeros(3, 2)  # a plain tensor where a Parameter is registered
    m.bias = None
    assert "bias" not in m.state_dict() and m.bias is None
    m.extra = nn.Parameter(gk.zeros(1))
    assert "extra" in dict(m.named_parameters())
    del m.extra
    assert "extra" not in dict(m.named_parameters())

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gk.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Forgetful()


def test_parameter_shares_memory_and_prints():
    t = gk.zeros(3)
    p = nn.Parameter(t)
    assert p.array is t.array and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter(gk.zeros(2), requires_grad=False).requires_grad is False


def test_deepcopy_gives_an_independent_model(device):
    m = MLP(device=device)
    twin = copy.deepcopy(m)
    assert list(twin.state_dict()) == MLP_KEYS
    assert all(isinstance(p, nn.Parameter) for p in twin.parameters())
    assert twin.fc1.weight is dict(twin.named_parameters())["fc1.weight"]
    assert twin.fc1.weight.device == device
    with twin.fc1.weight.backend.scope:
        twin.fc1.weight.array[...] = 0
    assert m.fc1.weight.numpy().any()


def test_train_eval_and_zero_grad():
    m = MLP()
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert m.head[1].training
    m(gk.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_to_moves_parameters_buffers_and_grads_in_place(device):
    m = MLP()
    m(gk.randn(5, 4)).sum().backward()
    before = {n: t.numpy() for n, t in m.state_dict().items()}
    params = list(m.parameters())
    assert m.to(device) is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]  # the same objects
    for name, t in m.state_dict().items():
        assert t.device == device, name
        np.testing.assert_array_equal(t.numpy(), before[name])
    assert all(p.grad.device == device for p in m.parameters())
    m.to(gk.float64)
    assert all(p.dtype == gk.float64 for p in m.parameters())
    assert m.norm.running_var.dtype == gk.float64
    assert m.norm.num_batches_tracked.dtype == gk.int64  # integers keep their dtype
    out = m(gk.randn(5, 4, dtype="float64", device=device))
    assert out.device == device and out.dtype == gk.float64
    with pytest.raises(TypeError, match="floating"):
        m.to(dtype="int32")


def test_layers_take_device_and_dtype(device):
    layers = [nn.Linear(3, 2, device=device, dtype="float64"),
              nn.BatchNorm1d(3, device=device, dtype="float64"),
              nn.LayerNorm(3, device=device, dtype="float64"),
              nn.Embedding(4, 3, device=device, dtype="float64")]
    for layer in layers:
        for name, t in layer.state_dict().items():
            assert t.device == device, (layer, name)
            assert t.dtype == ("int64" if name == "num_batches_tracked" else "float64")


# ---- state dicts ---------------------------------------------------------------------------------
def test_load_state_dict_accepts_numpy_and_tensors_and_copies(device):
    src, dst = MLP(), MLP(device=device)
    state = src.state_dict()
    mixed = {k: (v.numpy() if i % 2 else v) for i, (k, v) in enumerate(state.items())}
    mixed["fc1.weight"] = state["fc1.weight"].numpy().astype(np.float64)  # cast to float32
    result = dst.load_state_dict(mixed)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in dst.state_dict().items():
        assert v.device == device
        np.testing.assert_array_equal(v.numpy(), state[k].numpy())
    assert dst.fc1.weight.dtype == gk.float32
    # a copy: changing the source afterwards does not reach the model
    state["fc1.bias"].array[...] = 123.0
    assert not (dst.fc1.bias.numpy() == 123.0).any()


def test_strict_load_reports_every_problem_and_loads_nothing(device):
    m = MLP(device=device)
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    bad = {k: v.numpy() + 1 for k, v in MLP().state_dict().items()}
    del bad["fc1.bias"], bad["norm.running_var"]
    bad["fc2.weight"] = np.zeros(3)
    bad["head.1.weight"] = np.zeros((3, 9))
    with pytest.raises(nn.StateDictError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    for needle in ("'fc1.bias'", "'norm.running_var'", "'fc2.weight'", "head.1.weight",
                   "(3, 9)", "(3, 8)"):
        assert needle in msg
    assert isinstance(info.value, (RuntimeError, KeyError, ValueError))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])  # nothing was loaded


def test_non_strict_load(device):
    m = MLP(device=device)
    partial = {"fc1.bias": np.full(8, 2.0, np.float32), "other": np.zeros(1)}
    result = m.load_state_dict(partial, strict=False)
    assert "fc1.weight" in result.missing_keys and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(m.fc1.bias.numpy(), np.full(8, 2.0))
    with pytest.raises(nn.StateDictError, match="size mismatch"):
        m.load_state_dict({"fc1.bias": np.zeros(7)}, strict=False)


def test_non_persistent_buffers_are_not_saved():
    m = nn.Module()
    m.register_buffer("kept", gk.zeros(2))
    m.register_buffer("scratch", gk.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]


def test_repr():
    m = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.GELU(approximate="tanh"),
                      nn.BatchNorm1d(16), nn.LayerNorm(16), nn.Flatten(),
                      nn.Linear(16, 1, bias=False))
    assert repr(m) == """Sequential(
  (0): Linear(in_features=2, out_features=16, bias=True)
  (1): ReLU()
  (2): Dropout(p=0.1, inplace=False)
  (3): GELU(approximate='tanh')
  (4): BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (5): LayerNorm((16,), eps=1e-05, elementwise_affine=True, bias=True)
  (6): Flatten(start_dim=1, end_dim=-1)
  (7): Linear(in_features=16, out_features=1, bias=False)
)"""
    assert repr(MLP()).startswith("MLP(\n  (fc1): Linear(in_features=4, out_features=8")
    assert "(head): Sequential(\n    (0): ReLU()" in repr(MLP())


def test_containers():
    layers = [nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert list(seq) == layers
    named = nn.Sequential(OrderedDict(first=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(named.state_dict()) == ["first.weight", "first.bias"]
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 2)).extend([nn.ReLU()])
    ml.insert(0, nn.Tanh())
    assert [type(x).__name__ for x in ml] == ["Tanh", "Linear", "Linear", "ReLU"]
    assert list(ml.state_dict()) == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert ml[-1] is list(ml)[-1]
    with pytest.raises(IndexError):
        ml[4]


# ---- layers ---------------------------------------------------------------------------------
def test_linear_init_distribution_and_repeatability(device):
    gk.manual_seed(1)
    lin = nn.Linear(400, 300, device=device)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-b, b) has sd b/sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    gk.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(400, 300, device=device).weight.numpy(), w)


def test_embedding_and_layernorm_init(device):
    emb = nn.Embedding(1000, 50, padding_idx=3, device=device)
    w = emb.weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # N(0, 1)
    assert not w[3].any()
    ln = nn.LayerNorm((2, 3), device=device)
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("make", [
    lambda d: nn.Linear(4, 3, device=d, dtype="float64"),
    lambda d: nn.Linear(4, 3, bias=False, device=d, dtype="float64"),
    lambda d: nn.Sequential(nn.Linear(4, 5, device=d, dtype="float64"), nn.Tanh(),
                            nn.Linear(5, 2, device=d, dtype="float64"), nn.Sigmoid()),
    lambda d: nn.Sequential(nn.GELU(), nn.ReLU(), nn.Flatten(0)),
    lambda d: nn.LayerNorm(4, device=d, dtype="float64"),
    lambda d: nn.BatchNorm1d(4, device=d, dtype="float64"),
    lambda d: nn.BatchNorm1d(4, affine=False, track_running_stats=False, device=d,
                             dtype="float64"),
], ids=["linear", "linear_nobias", "mlp", "activations", "layernorm", "batchnorm",
        "batchnorm_plain"])
def test_layer_gradients(make, device):
    """gradcheck of the layer w.r.t. its input and every parameter at once."""
    layer = make(device)
    x = t64(RNG(1).standard_normal((3, 4)), device, grad=True)
    named = list(layer.named_parameters())

    def bind(values):  # make forward read `values` in place of the parameters
        for (name, _), value in zip(named, values):
            *path, attr = name.split(".")
            module = layer
            for step in path:
                module = module._modules[step]
            object.__setattr__(module, attr, value)

    def fn(x, *values):
        bind(values)
        return layer(x)

    try:
        assert gk.gradcheck(fn, [x] + [t64(p.numpy(), device, grad=True) for _, p in named])
    finally:
        bind([p for _, p in named])


def test_activation_and_shape_modules(device):
    x = t64(RNG(2).standard_normal((2, 3, 4)), device)
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(x.numpy()))
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-x.numpy())))
    np.testing.assert_allclose(nn.GELU()(x).numpy(), F.gelu(x).numpy())
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Identity()(x) is x
    with pytest.raises(ValueError):
        nn.GELU("fast")


def test_dropout_module_follows_training_mode(device):
    drop = nn.Dropout(0.5)
    x = gk.ones(1000, device=device)
    assert (drop(x).numpy() == 0).mean() > 0.4
    drop.eval()
    assert drop(x) is x


def _bn_reference(xs, momentum, eps=1e-5):
    """Outputs and running stats of BatchNorm1d over a sequence of batches, in NumPy."""
    mean, var, outs = np.zeros(xs[0].shape[1]), np.ones(xs[0].shape[1]), []
    for k, x in enumerate(xs, 1):
        axes = (0,) if x.ndim == 2 else (0, 2)
        bm, bv = x.mean(axis=axes), x.var(axis=axes)
        n = x.size // x.shape[1]
        shape = (-1,) if x.ndim == 2 else (-1, 1)
        outs.append((x - bm.reshape(shape)) / np.sqrt(bv.reshape(shape) + eps))
        m = 1 / k if momentum is None else momentum
        mean = (1 - m) * mean + m * bm
        var = (1 - m) * var + m * bv * n / (n - 1)
    return outs, mean, var


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(16, 3), (8, 3, 5)])
def test_batchnorm_train_eval_and_running_stats(momentum, shape, device):
    bn = nn.BatchNorm1d(3, momentum=momentum, device=device, dtype="float64")
    xs = [RNG(k).standard_normal(shape) * (k + 1) + k for k in range(4)]
    outs, mean, var = _bn_reference(xs, momentum)
    for x, expected in zip(xs, outs):
        out = bn(t64(x, device, grad=True))
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 4
    for buf in (bn.running_mean, bn.running_var):  # updated outside the graph, on the device
        assert buf.is_leaf and not buf.requires_grad and buf.device == device
    bn.eval()
    x = xs[0]
    view = (-1,) if x.ndim == 2 else (-1, 1)
    expected = (x - mean.reshape(view)) / np.sqrt(var.reshape(view) + 1e-5)
    np.testing.assert_allclose(bn(t64(x, device)).numpy(), expected, rtol=1e-10)
    assert bn.num_batches_tracked.item() == 4  # evaluation changes nothing


def test_batchnorm_without_running_stats_and_errors(device):
    bn = nn.BatchNorm1d(2, track_running_stats=False, device=device)
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    bn.eval()  # still normalises with the batch statistics
    out = bn(gk.tensor([[1.0, 2.0], [3.0, 6.0]], device=device)).numpy()
    np.testing.assert_allclose(out, [[-1, -1], [1, 1]], atol=1e-4)
    with pytest.raises(gk.ShapeError, match=r"\(N, 2\)"):
        bn(gk.zeros(4, 3, device=device))
    with pytest.raises(ValueError, match="more than 1 value"):
        nn.BatchNorm1d(2, device=device)(gk.zeros(1, 2, device=device))


def test_layernorm_and_embedding_modules(device):
    x = RNG(3).standard_normal((2, 5))
    ln = nn.LayerNorm(5, device=device, dtype="float64")
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(t64(x, device)).numpy(), expected, rtol=1e-10)
    emb = nn.Embedding(6, 2, device=device)
    out = emb(gk.tensor([[1, 5], [0, 1]], device=device))
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[[[1, 5], [0, 1]]])
    assert repr(nn.Embedding(6, 2, padding_idx=-1)) == "Embedding(6, 2, padding_idx=5)"


def test_loss_modules(device):
    x = t64(RNG(4).standard_normal((4, 3)), device)
    y = gk.tensor([0, 2, 1, 1], device=device)
    np.testing.assert_allclose(nn.CrossEntropyLoss()(x, y).numpy(), F.cross_entropy(x, y).numpy())
    np.testing.assert_allclose(nn.NLLLoss(reduction="sum")(F.log_softmax(x, axis=1), y).numpy(),
                               F.cross_entropy(x, y, reduction="sum").numpy())
    np.testing.assert_allclose(nn.MSELoss()(x, x * 0).numpy(), (x.numpy() ** 2).mean())
    t = t64(np.ones((4, 3)), device)
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(x, t).numpy(),
                               F.binary_cross_entropy_with_logits(x, t).numpy())


# ---- PyTorch parity -------------------------------------------------------------------------
def _torch_twin():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.GELU(),
                               torch.nn.Dropout(0.0), torch.nn.LayerNorm(8),
                               torch.nn.Linear(8, 3)).double()


def _gk_twin(device):
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.0),
                         nn.LayerNorm(8), nn.Linear(8, 3)).to(device, gk.float64)


@needs_torch
def test_state_dict_keys_shapes_dtypes_and_repr_match_torch():
    ours, theirs = _gk_twin("cpu"), _torch_twin()
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for k in theirs_sd:
        assert ours_sd[k].shape == tuple(theirs_sd[k].shape), k
        assert ours_sd[k].dtype.name == str(theirs_sd[k].dtype).replace("torch.", ""), k
    assert repr(ours) == repr(theirs)
    emb_t, emb_g = torch.nn.Embedding(5, 2, padding_idx=1), nn.Embedding(5, 2, padding_idx=1)
    assert repr(emb_g) == repr(emb_t)
    for kwargs in (dict(momentum=None), dict(bias=False), dict(affine=False)):
        assert repr(nn.BatchNorm1d(3, **kwargs)) == repr(torch.nn.BatchNorm1d(3, **kwargs))
        assert list(nn.BatchNorm1d(3, **kwargs).state_dict()) == \
            list(torch.nn.BatchNorm1d(3, **kwargs).state_dict())
    assert repr(nn.LayerNorm(3, bias=False)) == repr(torch.nn.LayerNorm(3, bias=False))


@needs_torch
def test_forward_backward_and_running_stats_match_torch(device):
    theirs, ours = _torch_twin(), _gk_twin(device)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = RNG(5).standard_normal((6, 4))
    y = np.array([0, 1, 2, 2, 1, 0])
    for _ in range(2):  # training mode: batch statistics, running stats updated
        tx = torch.tensor(x, requires_grad=True)
        torch.nn.functional.cross_entropy(theirs(tx), torch.tensor(y)).backward()
        gx = t64(x, device, grad=True)
        F.cross_entropy(ours(gx), gk.tensor(y, device=device)).backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12,
                                   err_msg=k)
    theirs.eval(), ours.eval()
    np.testing.assert_allclose(ours(t64(x, device)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


@needs_torch
def test_torch_loads_our_state_dict_and_init_statistics_agree():
    gk.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Linear(256, 512), torch.nn.Linear(256, 512)
    bound = 1 / math.sqrt(256)  # both U(-1/sqrt(in), 1/sqrt(in))
    for a, b in ((ours.weight.numpy(), theirs.weight.detach().numpy()),
                 (ours.bias.numpy(), theirs.bias.detach().numpy())):
        for sample in (a, b):
            assert np.abs(sample).max() <= bound
            assert abs(sample.std() - bound / math.sqrt(3)) < 0.1 * bound
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = RNG(6).standard_normal((3, 256)).astype(np.float32)
    np.testing.assert_allclose(ours(gk.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
