"""nn under PyTorch's names (issue 8): containers (Sequential, ModuleList, ModuleDict,
Identity), buffers, traversal, forward hooks, the layers of Karpathy's lectures, and a
nanoGPT-style model written once and run with gradkit and with torch.

Each test states its expectations outright, so it runs without torch; where torch is
installed, the same calls are made on torch and must agree.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
# The libraries each test runs on: gradkit always, torch when installed.
LIBS = [gk] + ([torch] if torch is not None else [])


def _t(lib, data):
    return lib.tensor(np.asarray(data, dtype=np.float64))


# ---- containers ------------------------------------------------------------------------------
@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_module_list_as_torch(lib):
    n = lib.nn
    ml = n.ModuleList([n.Linear(2, 2) for _ in range(3)] + [n.ReLU(), n.ReLU(), n.Tanh()])
    del ml[1]
    assert type(ml.pop(-1)).__name__ == "Tanh"
    ml.insert(1, n.Tanh())
    ml[0] = n.Identity()
    both = ml + [n.ReLU()]
    ml += [n.GELU()]
    assert repr(ml) == """ModuleList(
  (0): Identity()
  (1): Tanh()
  (2): Linear(in_features=2, out_features=2, bias=True)
  (3-4): 2 x ReLU()
  (5): GELU(approximate='none')
)"""
    assert list(ml.state_dict()) == ["2.weight", "2.bias"]  # renumbered after del and insert
    assert isinstance(both, n.ModuleList) and len(both) == 6 and both[5] is not ml[5]
    assert [type(m).__name__ for m in ml[1:3]] == ["Tanh", "Linear"]
    assert ml[-1] is ml[5] and ml.get_submodule("2") is ml[2]
    with pytest.raises(IndexError, match="index 6 is out of range"):
        ml[6]
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(n.ReLU())
    assert repr(n.ModuleList()) == "ModuleList()"


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_sequential_as_torch(lib):
    n = lib.nn
    s = n.Sequential(n.Linear(2, 3), n.ReLU(), n.Linear(3, 1))
    del s[1]
    s.insert(1, n.Tanh()).insert(-1, n.ReLU())
    s[0] = n.Linear(2, 3, bias=False)
    assert [type(m).__name__ for m in s] == ["Linear", "Tanh", "ReLU", "Linear"]
    assert list(s.state_dict()) == ["0.weight", "3.weight", "3.bias"]
    assert isinstance(s[1:], n.Sequential) and list(s[1:]._modules) == ["1", "2", "3"]
    joined = s + n.Sequential(n.Sigmoid())
    assert len(joined) == 5 and joined[4].__class__.__name__ == "Sigmoid"
    assert repr(2 * n.Sequential(n.ReLU())) == "Sequential(\n  (0): ReLU()\n  (1): ReLU()\n)"
    first = s[0]
    assert s.pop(0) is first and list(s._modules) == ["0", "1", "2"]
    s.append(n.Tanh()).extend([n.ReLU()])
    assert len(s) == 5
    with pytest.raises(IndexError, match="index 10 is out of range"):
        s[10]
    with pytest.raises(ValueError, match="only objects of Sequential class"):
        s + [n.ReLU()]
    x = _t(lib, [[0.5, -1.0]])
    chain = n.Sequential(n.Identity(), n.Identity(54, unused="arg"))
    assert chain(x) is x


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_module_dict_as_torch(lib):
    n = lib.nn
    d = n.ModuleDict({"b": n.ReLU(), "a": n.Linear(1, 2)})
    d.update([("c", n.Tanh())])
    d["b"] = n.GELU()  # replaced in place: keeps its position
    assert list(d) == list(d.keys()) == ["b", "a", "c"]
    assert [type(m).__name__ for m in d.values()] == ["GELU", "Linear", "Tanh"]
    assert [k for k, _ in d.items()] == ["b", "a", "c"] and len(d) == 3
    assert "a" in d and "z" not in d and d.a is d["a"]
    assert list(d.state_dict()) == ["a.weight", "a.bias"]
    assert type(d.pop("a")).__name__ == "Linear" and "a" not in d and not hasattr(d, "a")
    del d["b"]
    assert repr(d) == "ModuleDict(\n  (c): Tanh()\n)"
    d.update(n.ModuleDict({"x": n.ReLU()}))
    assert list(d) == ["c", "x"]
    with pytest.raises(KeyError, match="attribute 'update' already exists"):
        d["update"] = n.ReLU()
    with pytest.raises(KeyError, match="contain"):
        d.update({"x.y": n.ReLU()})
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        d.update([("a",)])
    with pytest.raises(TypeError, match="iterable of key/value pairs"):
        d.update(3)
    with pytest.raises(KeyError):
        del d["missing"]
    with pytest.raises(NotImplementedError, match="forward"):
        d(_t(lib, [1.0]))
    d.clear()
    assert len(d) == 0 and not list(d.parameters())


# ---- buffers and traversal -------------------------------------------------------------------
def test_non_persistent_buffer_moves_with_to_but_is_not_saved(device):
    m = nn.Linear(2, 2)
    m.register_buffer("mask", gk.tensor(np.tril(np.ones((2, 2)))), persistent=False)
    m.register_buffer("count", gk.zeros(1, dtype=gk.float64))
    m.to(device, gk.float64)
    assert m.mask.device == device and m.mask.dtype == gk.float64
    assert m.count.device == device
    assert [n for n, _ in m.named_buffers()] == ["mask", "count"]
    assert list(m.state_dict()) == ["weight", "bias", "count"]
    m.load_state_dict(m.state_dict())  # strict: the non-persistent buffer is not asked for
    m.mask = gk.ones(2, 2, device=device)  # reassigning keeps it a non-persistent buffer
    assert "mask" not in m.state_dict() and m.get_buffer("mask") is m.mask
    m.register_buffer("mask", m.mask)  # registering again makes it persistent
    assert list(m.state_dict()) == ["weight", "bias", "mask", "count"]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_registration_errors_as_torch(lib):
    m = lib.nn.Linear(2, 2)
    for name, error in (("a.b", KeyError), ("", KeyError), (3, TypeError)):
        for register in (m.register_buffer, m.register_parameter, m.add_module):
            with pytest.raises(error):
                register(name, None)
    for register in (m.register_buffer, m.add_module):  # a parameter's name is taken
        with pytest.raises(KeyError, match="attribute 'weight' already exists"):
            register("weight", None)
    m.register_parameter("weight", None)  # but may be registered again as a parameter
    assert m.weight is None and list(m.state_dict()) == ["bias"]
    with pytest.raises(TypeError):
        m.register_buffer("q", 3)
    with pytest.raises(TypeError):
        m.register_parameter("q", lib.ones(2))


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_traversal_as_torch(lib):
    n = lib.nn

    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.body = n.Sequential(n.Linear(2, 3), n.Tanh())
            self.head = n.Linear(3, 3)
            self.again = self.head  # the same module twice
            self.register_buffer("scale", lib.ones(3))

    net = Net()
    assert [k for k, _ in net.named_children()] == ["body", "head"]
    assert len(list(net.children())) == 2
    assert [k for k, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert [k for k, _ in net.named_modules(remove_duplicate=False)] == [
        "", "body", "body.0", "body.1", "head", "again"]
    assert [k for k, _ in net.named_parameters()] == [
        "body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert [k for k, _ in net.named_parameters(remove_duplicate=False)] == [
        "body.0.weight", "body.0.bias", "head.weight", "head.bias", "again.weight", "again.bias"]
    assert [k for k, _ in net.named_parameters(prefix="net", recurse=False)] == []
    assert list(net.parameters(recurse=False)) == [] and len(list(net.buffers())) == 1
    assert list(net.state_dict()) == ["scale", "body.0.weight", "body.0.bias", "head.weight",
                                      "head.bias", "again.weight", "again.bias"]
    assert net.get_submodule("body.0") is net.body[0] and net.get_submodule("") is net
    assert net.get_parameter("body.0.bias") is net.body[0].bias
    assert net.get_buffer("scale") is net.scale
    with pytest.raises(AttributeError, match="Sequential has no attribute `7`"):
        net.get_submodule("body.7")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("head.weight")
    with pytest.raises(AttributeError, match="`scale` is not an nn.Parameter"):
        net.get_parameter("scale")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("head.weight")
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Tanh", "Sequential", "Linear", "Net"]  # children first
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.head.requires_grad_()
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True]


def test_train_reaches_children_through_their_own_train():
    calls = []

    class Logged(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    net = nn.Sequential(nn.Linear(1, 1), Logged())
    net.eval()
    net.train()
    assert calls == [False, True] and all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train(1)


# ---- forward hooks ---------------------------------------------------------------------------
@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_forward_hooks_as_torch(lib):
    log = []

    class Twice(lib.nn.Module):
        def forward(self, x, scale=1):
            if scale == 0:
                raise ValueError("boom")
            return x * 2 * scale

    m, x = Twice(), _t(lib, [1.0])
    pre = m.register_forward_pre_hook(lambda mod, args: log.append("pre") or args[0] + 1)
    m.register_forward_pre_hook(lambda mod, args: log.append("first"), prepend=True)
    post = m.register_forward_hook(lambda mod, args, out: out * 10)
    kw = m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3}),
                                     with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: log.append(kwargs), with_kwargs=True,
                            always_call=True)
    assert m(x).tolist() == [120.0]  # (1 + 1) * 2 * 3 * 10
    assert log == ["first", "pre", {"scale": 3}]
    kw.remove()
    log.clear()
    with pytest.raises(ValueError, match="boom"):
        m(x, scale=0)
    assert log == ["first", "pre", {"scale": 0}]  # always_call ran although forward raised
    pre.remove()
    post.remove()
    post.remove()  # removing twice is harmless
    with m.register_forward_hook(lambda mod, args, out: out + 100):
        assert m(x).tolist() == [102.0]
    assert m(x).tolist() == [2.0]
    assert len(m._forward_hooks) == 1 and len(m._forward_pre_hooks) == 1
    m.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        m(x)


def test_forward_hook_sees_activations_in_the_graph(device):
    """The lecture-4 use: keep each Tanh's output, then read its gradient."""
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(device, gk.float64)
    acts = {}

    def keep(module, args, out):
        out.retain_grad()
        acts[module] = out

    handles = [m.register_forward_hook(keep) for m in net if isinstance(m, nn.Tanh)]
    net(gk.ones(2, 3, dtype=gk.float64, device=device)).sum().backward()
    (out,) = acts.values()
    assert out.shape == (2, 4) and out.grad is not None and out.grad.device == device
    for h in handles:
        h.remove()
    acts.clear()
    net(gk.ones(2, 3, dtype=gk.float64, device=device))
    assert not acts


# ---- layers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_softmax_modules_as_torch(lib):
    n = lib.nn
    x = _t(lib, [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expected = np.array([[0.09003057317038046, 0.24472847105479764, 0.6652409557748219],
                         [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(n.Softmax(dim=1)(x).detach().numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(n.LogSoftmax(dim=-1)(x).detach().numpy(), np.log(expected),
                               rtol=1e-12)
    assert repr(n.Softmax(1)) == "Softmax(dim=1)" and repr(n.LogSoftmax()) == "LogSoftmax(dim=None)"
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        implicit = n.Softmax()(x)  # 2-D: PyTorch's legacy choice is dim 1
    np.testing.assert_allclose(implicit.detach().numpy(), expected, rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        implicit = n.LogSoftmax()(_t(lib, [0.0, 0.0]))  # 1-D: dim 0
    np.testing.assert_allclose(implicit.detach().numpy(), np.log([0.5, 0.5]), rtol=1e-12)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_flatten_as_torch(lib):
    n = lib.nn
    x = lib.zeros(2, 3, 4, 5)
    for (start, end), shape in {(1, -1): (2, 60), (0, 1): (6, 4, 5), (1, 2): (2, 12, 5),
                                (-2, -1): (2, 3, 20), (2, 2): (2, 3, 4, 5)}.items():
        assert tuple(n.Flatten(start, end)(x).shape) == shape
    assert tuple(n.Flatten(0)(lib.zeros(())).shape) == (1,)
    with pytest.raises(IndexError, match="Dimension out of range"):
        n.Flatten()(lib.zeros(3))
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        n.Flatten(2, 1)(x)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_embedding_signature_as_torch(lib):
    n = lib.nn
    weight = _t(lib, np.arange(6.0).reshape(3, 2))
    e = n.Embedding.from_pretrained(weight)
    assert not e.weight.requires_grad and e.num_embeddings == 3 and e.embedding_dim == 2
    np.testing.assert_array_equal(e(lib.tensor([2, 0])).detach().numpy(), [[4, 5], [0, 1]])
    trainable = n.Embedding.from_pretrained(weight, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and repr(trainable) == "Embedding(3, 2, padding_idx=1)"
    assert trainable.weight.detach().numpy()[1].tolist() == [2, 3]  # not zeroed, as PyTorch's
    assert repr(n.Embedding(4, 3, None, None, 1.0)) == "Embedding(4, 3, norm_type=1.0)"
    positional = n.Embedding(4, 3, None, None, 2.0, False, False, None, False, None,
                             lib.float64)
    assert positional.weight.dtype == lib.float64


def test_embedding_options_we_lack_raise():
    for kwargs in (dict(max_norm=1.0), dict(scale_grad_by_freq=True), dict(sparse=True)):
        with pytest.raises(NotImplementedError, match=next(iter(kwargs))):
            nn.Embedding(4, 3, **kwargs)
    with pytest.raises(gk.ShapeError if hasattr(gk, "ShapeError") else ValueError,
                       match=r"\(4, 3\)"):
        nn.Embedding(4, 3, _weight=gk.zeros(3, 3))


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_layer_signatures_and_reprs_as_torch(lib):
    n = lib.nn
    assert n.Linear(2, 3, True, None, lib.float64).weight.dtype == lib.float64
    assert repr(n.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(n.BatchNorm1d(4, 1e-3, 0.01, False)) == \
        "BatchNorm1d(4, eps=0.001, momentum=0.01, affine=False, bias=False, " \
        "track_running_stats=True)"
    assert repr(n.Dropout(0.2)) == "Dropout(p=0.2, inplace=False)"
    assert repr(n.ReLU()) == "ReLU()" and repr(n.Tanh()) == "Tanh()"
    assert repr(n.CrossEntropyLoss()) == "CrossEntropyLoss()" and repr(n.MSELoss()) == "MSELoss()"
    assert repr(n.Parameter(lib.ones(2))) == \
        "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    frozen = n.Parameter(lib.ones(2), requires_grad=False)
    assert repr(frozen) == "Parameter containing:\ntensor([1., 1.])" and not frozen.requires_grad
    assert repr(n.Identity()) == "Identity()"


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_legacy_loss_arguments_as_torch(lib):
    n = lib.nn
    x, y = _t(lib, [[1.0, 2.0], [0.5, 0.1]]), lib.tensor([1, 0])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        cases = [(n.CrossEntropyLoss(None, False), "sum"), (n.MSELoss(reduce=False), "none"),
                 (n.NLLLoss(None, True, -100, True), "mean"),
                 (n.BCEWithLogitsLoss(None, False), "sum")]
    for loss, reduction in cases:
        assert loss.reduction == reduction
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the modern spelling does not warn
        assert n.NLLLoss(reduction="sum").reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = n.CrossEntropyLoss(size_average=False)
    expected = math.log(1 + math.e**-1) + math.log(1 + math.e**-0.4)
    np.testing.assert_allclose(loss(x, y).item(), expected, rtol=1e-12)
    assert n.BCEWithLogitsLoss(None, None, None, "sum").reduction == "sum"


# ---- a nanoGPT-style model, written once for both libraries -------------------------------
def tiny_gpt(lib, vocab=11, block=8, n_embd=16, n_layer=2):
    """build-nanogpt's GPT in miniature: ModuleDict, ModuleList, a causal-mask buffer,
    weight tying, apply(init), GELU(tanh), LayerNorm, Embedding, cross_entropy."""
    n, F = lib.nn, lib.nn.functional

    class Block(n.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = n.LayerNorm(n_embd)
            self.c_attn = n.Linear(n_embd, 3 * n_embd)
            self.c_proj = n.Linear(n_embd, n_embd)
            self.ln_2 = n.LayerNorm(n_embd)
            self.mlp = n.Sequential(n.Linear(n_embd, 4 * n_embd), n.GELU(approximate="tanh"),
                                    n.Linear(4 * n_embd, n_embd), n.Dropout(0.0))
            self.softmax = n.Softmax(dim=-1)
            causal = np.where(np.tril(np.ones((block, block))) == 1, 0.0, -np.inf)
            self.register_buffer("bias", lib.tensor(causal), persistent=False)  # additive mask

        def forward(self, x):
            _, T, C = x.shape
            qkv = self.c_attn(self.ln_1(x))
            q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
            att = (q @ k.mT) * (1.0 / math.sqrt(C))
            att = att + self.bias[:T, :T]
            x = x + self.c_proj(self.softmax(att) @ v)
            return x + self.mlp(self.ln_2(x))

    class GPT(n.Module):
        def __init__(self):
            super().__init__()
            self.transformer = n.ModuleDict(dict(
                wte=n.Embedding(vocab, n_embd), wpe=n.Embedding(block, n_embd),
                h=n.ModuleList([Block() for _ in range(n_layer)]), ln_f=n.LayerNorm(n_embd)))
            self.lm_head = n.Linear(n_embd, vocab, bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # weight tying
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, (n.Linear, n.Embedding)):
                n.init.normal_(module.weight, mean=0.0, std=0.02)
                if getattr(module, "bias", None) is not None:
                    n.init.zeros_(module.bias)

        def forward(self, idx, targets):
            _, T = idx.shape
            pos = lib.arange(0, T, dtype=lib.int64, device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

        def configure_optimizers(self, lr, fused):
            params = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            groups = [{"params": [p for p in params.values() if p.ndim >= 2],
                       "weight_decay": 0.1},
                      {"params": [p for p in params.values() if p.ndim < 2],
                       "weight_decay": 0.0}]
            return lib.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)

    return GPT()


GPT_BLOCK_KEYS = ["ln_1.weight", "ln_1.bias", "c_attn.weight", "c_attn.bias", "c_proj.weight",
                  "c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.0.weight", "mlp.0.bias",
                  "mlp.2.weight", "mlp.2.bias"]
GPT_PARAMS = ["transformer.wte.weight", "transformer.wpe.weight",
              *[f"transformer.h.{i}.{k}" for i in range(2) for k in GPT_BLOCK_KEYS],
              "transformer.ln_f.weight", "transformer.ln_f.bias"]


def _batch(rng, n=3, t=8, vocab=11):
    return rng.integers(0, vocab, (n, t)), rng.integers(0, vocab, (n, t))


def test_tiny_gpt_builds_and_trains(device):
    gk.manual_seed(0)
    model = tiny_gpt(gk).to(device, gk.float64)
    assert [k for k, _ in model.named_parameters()] == GPT_PARAMS  # the tied weight once
    assert list(model.state_dict()) == GPT_PARAMS + ["lm_head.weight"]  # mask not saved
    assert model.transformer.h[1].bias.device == device  # the buffer moved with to()
    assert model.lm_head.weight is model.transformer.wte.weight
    opt = model.configure_optimizers(3e-3, fused=device.startswith("cuda"))
    idx, targets = (gk.tensor(a, device=device) for a in _batch(np.random.default_rng(0)))
    losses = []
    for _ in range(5):
        _, loss = model(idx, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(11), abs=0.05)  # small init: near uniform
    assert losses[-1] < losses[0]


@needs_torch
def test_tiny_gpt_matches_torch(device):
    theirs = tiny_gpt(torch).double()
    ours = tiny_gpt(gk).to(device, gk.float64)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    topt, opt = theirs.configure_optimizers(3e-3, None), ours.configure_optimizers(3e-3, None)
    rng = np.random.default_rng(1)
    for _ in range(3):
        idx, targets = _batch(rng)
        tlogits, tloss = theirs(torch.tensor(idx), torch.tensor(targets))
        logits, loss = ours(gk.tensor(idx, device=device), gk.tensor(targets, device=device))
        np.testing.assert_allclose(logits.detach().numpy(), tlogits.detach().numpy(),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
        topt.zero_grad(), opt.zero_grad()
        tloss.backward(), loss.backward()
        topt.step(), opt.step()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-8,
                                   atol=1e-11, err_msg=name)
