"""Time one training step in gradkit against a hand-written NumPy floor and PyTorch.

Two kinds of config (--configs). The MLPs tiny, small, medium and large: one step is
forward, loss (softmax cross-entropy, or MSE for `tiny`), backward, SGD update, zero-grad.
The Zero to Hero lecture models makemore-mlp (lecture 3), bn-mlp (lecture 4's first
BatchNorm MLP), bn-deep (lecture 4's deep one), wavenet (lecture 6) and gpt (lecture 7,
small): built by examples/makemore.py's build_model, examples/gpt.py's define_gpt and,
for bn-deep, tutorial 5's layers, the same code for gradkit and PyTorch, trained on a fixed
batch of random tokens with SGD (makemore) or gpt.py's AdamW; only gradkit and torch run
them, as no NumPy floor is written for them. The implementations (--impls):

    gradkit        the library (nn.Sequential, F.cross_entropy / F.mse_loss, optim.SGD)
    gradkit-compiled  the same step through gk.compile (recorded once, then replayed)
    numpy          THE FLOOR: plain, idiomatic NumPy that allocates its temporaries
                   (h = x @ W.T + b, np.maximum, g @ W, W -= lr * gW); the "/floor" column
                   divides by it, and issue 4's targets are stated against it
    numpy-inplace  hand-tuned NumPy: preallocated buffers, in place (out=, +=); a
                   reference row beside the floor, not the floor
    torch          PyTorch, when installed (skipped with a note otherwise)
    chainer        Chainer 7.8, only with --chainer-venv PATH: the MLPs written with
                   Chainer's links, functions and SGD (examples/_chainer_worker.py), run by
                   the Python of that virtual environment (Chainer needs NumPy < 2, so it
                   lives apart from gradkit), from the same weights and data (an .npz)

Every implementation starts from the same float32 weights and data, drawn on the host
with a fixed NumPy seed (the lecture models' weights: their example's own initialisation,
made with gradkit after gk.manual_seed(seed)), so their losses must agree; the script
checks that over the first few steps and prints the agreement.

Each (implementation, config) runs in its own worker process (this script re-invoked
with --worker), interleaved over several rounds in rotating order, after warm-up steps.
The table reports the median over rounds of each worker's median ms/step, the ratios of
each row to the NumPy floor and to PyTorch, each worker's peak resident memory
(ru_maxrss), how much of it the step adds over the resident size after set-up, and the
minor page faults per step. For `large` it also prints the step's achieved GFLOP/s beside
the machine's own float32 matmul GFLOP/s, measured in the same run. On the CPU it prints
one line per config and gradkit row with issue 13's targets for the eager and the compiled
step against the floor and PyTorch (gradkit/torch for the lecture models) and whether this
run meets them, with the range of the same ratio within each round in brackets (how
settled the verdict is on a noisy machine)
(informational: the exit status reflects only errors and loss mismatches), and which
BLAS library each implementation multiplies with (OpenBLAS's kernel, through
threadpoolctl when it is installed).

    python examples/benchmark.py                          # all configs, 3 rounds
    python examples/benchmark.py --configs tiny,small --rounds 5 --json out.json
    python examples/benchmark.py --configs makemore-mlp,bn-mlp,wavenet,gpt --threads 1
    python examples/benchmark.py --smoke                  # a few seconds; used by the tests
    python examples/benchmark.py --device cuda            # on a GPU (floor via CuPy)
    python examples/benchmark.py --profile --configs tiny,medium   # where gradkit's step goes
    python examples/benchmark.py --configs medium,large --chainer-venv /work/chainer-venv

PyTorch runs with torch.set_num_threads(<CPUs this process may use>), the same count
NumPy's BLAS uses by default; --threads N gives both N threads (torch.set_num_threads, and
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS in the workers' environment).
`--device strict` runs gradkit on array-api-strict's simulated device, which refuses
non-standard calls and implicit host conversion: it checks the losses but times nothing,
as that backend is a test double.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import textwrap
import time
import types
from dataclasses import dataclass

import numpy as np

IMPLS = ("gradkit", "gradkit-compiled", "numpy", "numpy-inplace", "torch")
CHAINER = "chainer"  # an extra column, only with --chainer-venv (another Python runs it)
CHAINER_WORKER = "_chainer_worker.py"  # beside this script; imports neither gradkit nor us
CHAINER_SETUP = ("python3.11 -m venv PATH && PATH/bin/pip install 'numpy<2' 'setuptools<81' "
                 "wheel threadpoolctl && PATH/bin/pip install --no-build-isolation "
                 "chainer==7.8.1")
LR = 0.05
LOSS_RTOL = 1e-4  # float32, a few steps, different summation orders
MATMUL_N = 2048
# Issue 4's targets on a CPU: config -> (max gradkit/floor, max gradkit/torch); and on
# medium, gradkit's peak resident memory at most MEDIUM_RSS_TARGET x the floor's.
TARGETS = {"tiny": (3.0, 0.6), "small": (3.0, 0.6), "medium": (0.85, 0.9), "large": (1.02, 1.0)}
# Issue 13's: the eager step (tiny and small <= 1.0x torch) and the compiled one
EAGER_TARGETS = {"tiny": (None, 1.0), "small": (None, 1.0), "medium": (0.85, 0.9),
                 "large": (1.02, 1.0)}
COMPILED_TARGETS = {"tiny": (2.0, 0.6), "small": (2.0, 0.6), "medium": (0.7, None),
                    "large": (0.9, None)}
MEDIUM_RSS_TARGET = 1.3
INPLACE_NOTE = ("numpy-inplace: hand-tuned NumPy: preallocated buffers, in place; a reference "
                "row, not the floor (the floor is the plain `numpy` row).")


@dataclass(frozen=True)
class Config:
    name: str
    sizes: tuple  # layer widths, input first
    batch: int
    act: str  # "tanh" or "relu", between layers
    loss: str  # "mse" or "ce"
    steps: int  # timed steps per worker by default

    def flops(self) -> int:
        """Matmul FLOPs of one step: forward, weight-grad and input-grad products.

        2*m*n*k per product; three per layer, except that the first layer's input
        gradient is never computed (the data needs none).
        """
        total = 0
        for i, (n_in, n_out) in enumerate(zip(self.sizes, self.sizes[1:])):
            per = 2 * self.batch * n_in * n_out
            total += per * (2 if i == 0 else 3)
        return total


CONFIGS = {
    "tiny": Config("tiny", (2, 16, 16, 1), 100, "tanh", "mse", 2000),
    "small": Config("small", (784, 128, 10), 64, "relu", "ce", 1000),
    "medium": Config("medium", (784, 512, 512, 10), 256, "relu", "ce", 150),
    "large": Config("large", (784, 2048, 2048, 10), 1024, "relu", "ce", 12),
}


@dataclass(frozen=True)
class Lecture:
    """A Zero to Hero lecture model, built by the example that trains it.

    makemore.py's `build_model` (model: mlp, bn, wavenet) with its sizes for that model,
    lecture 4's deep MLP as tutorial 5 builds it (model: deep-bn; `deep_bn_mlp`, which no
    example trains), or gpt.py's `define_gpt` (model: gpt) with the sizes in `gpt`.
    Trained on a fixed batch of random token indices: SGD at the lectures' lr 0.1 for the
    makemore models, gpt.py's AdamW (its parameter groups, weight decay 0.1, betas
    (0.9, 0.99), lr 6e-3) for the GPT. Only gradkit and torch run these (no NumPy floor).
    """

    name: str
    model: str  # makemore.py's --model, "deep-bn" or "gpt"
    batch: int
    steps: int  # timed steps per worker by default
    gpt: tuple = ()  # the GPT's constructor arguments, as (name, value) pairs

    def flops(self):
        return None  # not counted: the achieved-GFLOP/s line is for `large` only


MAKEMORE_VOCAB = 27  # a-z and "."
MAKEMORE_LR = 0.1  # the lectures' (makemore.py trains at 0.2 with batch 128)
GPT_VOCAB = 65  # tiny Shakespeare's characters
GPT_LR = 6e-3  # gpt.py's default peak lr
# The makemore models at the lectures' batch of 32; the GPT at a size whose step takes
# tens of ms on a 2-core CPU (gpt.py's default: 4 layers, n_embd 128, block 64, batch 32).
LECTURES = {
    "makemore-mlp": Lecture("makemore-mlp", "mlp", 32, 2000),
    "bn-mlp": Lecture("bn-mlp", "bn", 32, 500),
    "bn-deep": Lecture("bn-deep", "deep-bn", 32, 300),
    "wavenet": Lecture("wavenet", "wavenet", 32, 500),
    "gpt": Lecture("gpt", "gpt", 16, 60, (("vocab_size", GPT_VOCAB), ("block_size", 64),
                                          ("n_layer", 2), ("n_head", 4), ("n_embd", 64),
                                          ("dropout", 0.0))),
}
LECTURE_IMPLS = ("gradkit", "gradkit-compiled", "torch")
LECTURE_TARGET = 0.8  # issue 13: each lecture model <= 0.8x PyTorch (1 thread and 2)
CONFIGS.update(LECTURES)


def impls_for(name, impls):
    """The implementations that run config `name`: the lecture models have no NumPy rows."""
    return [i for i in impls if name not in LECTURES or i in LECTURE_IMPLS]


def make_data(cfg: Config, seed: int):
    """Float32 weights (PyTorch's Linear init, weight (out, in)), inputs and targets.

    Drawn directly in float32, in place, so that set-up frees no large temporary: glibc
    raises its mmap and trim thresholds when a large block is freed, and a freed float64
    draw would silently spare every worker the page faults a plain step otherwise pays.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(cfg.sizes, cfg.sizes[1:]):
        bound = np.float32(1.0 / np.sqrt(n_in))
        w, b = (rng.random(shape, dtype=np.float32) for shape in ((n_out, n_in), (n_out,)))
        for a in (w, b):  # uniform on [-bound, bound)
            a *= 2 * bound
            a -= bound
        weights.append((w, b))
    x = rng.standard_normal((cfg.batch, cfg.sizes[0]), dtype=np.float32)
    if cfg.loss == "ce":
        y = rng.integers(0, cfg.sizes[-1], cfg.batch, dtype=np.int64)
    else:
        y = rng.standard_normal((cfg.batch, cfg.sizes[-1]), dtype=np.float32)
    return weights, x, y


# ---- the implementations: each returns (step, read_loss, synchronize) ----------------

class NumpyMLP:
    """The floor: forward, backward and SGD by hand in plain, idiomatic NumPy.

    What a NumPy user writes first: every operation returns a new array (h = x @ W.T + b,
    np.maximum, g @ W, W -= lr * gW), and the gradients are fresh arrays each step, so
    zero-grad has nothing to do. Its temporaries are freed and allocated again every
    step, page faults included; that is the cost a NumPy-backed library is held to.
    Works on CuPy unchanged (xp is numpy or cupy).
    """

    def __init__(self, xp, cfg: Config, weights, x, y):
        self.xp, self.cfg = xp, cfg
        self.params = [(xp.asarray(w), xp.asarray(b)) for w, b in weights]
        self.x, self.y = xp.asarray(x), xp.asarray(y)
        self.rows = xp.arange(cfg.batch)

    def step(self):
        xp, relu, last = self.xp, self.cfg.act == "relu", len(self.params) - 1
        acts = [self.x]  # the input of each layer
        h = self.x
        for i, (w, b) in enumerate(self.params):
            h = h @ w.T + b
            if i < last:
                h = xp.maximum(h, 0) if relu else xp.tanh(h)
                acts.append(h)
        if self.cfg.loss == "ce":
            z = h - h.max(axis=1, keepdims=True)
            e = xp.exp(z)
            s = e.sum(axis=1, keepdims=True)
            loss = xp.mean(xp.log(s[:, 0]) - z[self.rows, self.y])
            g = e / s
            g[self.rows, self.y] -= 1
            g /= len(g)
        else:
            d = h - self.y
            loss = xp.mean(d * d)
            g = d * (2.0 / d.size)
        grads = []
        for i in range(last, -1, -1):
            w, inp = self.params[i][0], acts[i]
            grads.append((g.T @ inp, g.sum(axis=0)))
            if i > 0:
                g = g @ w
                g = g * (inp > 0) if relu else g * (1 - inp * inp)
        for (w, b), (gw, gb) in zip(self.params, reversed(grads)):
            w -= LR * gw
            b -= LR * gb
        return loss


class InplaceNumpyMLP:
    """Hand-tuned NumPy: preallocated buffers, in place. A reference row, not the floor.

    The same step as NumpyMLP, but activations and gradients live in buffers allocated
    once and written with out= and in-place operators; the gradient buffers are
    overwritten every step, so zero-grad has nothing to do. It shows how far removing
    the temporaries (and their page faults) goes. Works on CuPy unchanged.
    """

    def __init__(self, xp, cfg: Config, weights, x, y):
        self.xp, self.cfg = xp, cfg
        self.params = [(xp.asarray(w), xp.asarray(b)) for w, b in weights]
        self.grads = [(xp.empty_like(w), xp.empty_like(b)) for w, b in self.params]
        self.x, self.y = xp.asarray(x), xp.asarray(y)
        n = cfg.batch
        dtype = self.x.dtype
        self.h = [xp.empty((n, w.shape[0]), dtype=dtype) for w, _ in self.params]
        self.dh = [xp.empty((n, w.shape[1]), dtype=dtype) for w, _ in self.params[1:]]
        self.rows = xp.arange(n)

    def step(self):
        xp, last = self.xp, len(self.params) - 1
        inp = self.x
        for i, ((w, b), h) in enumerate(zip(self.params, self.h)):
            xp.matmul(inp, w.T, out=h)
            h += b
            if i < last:
                if self.cfg.act == "relu":
                    xp.maximum(h, 0, out=h)
                else:
                    xp.tanh(h, out=h)
            inp = h
        g = self.h[-1]  # output, turned into d(loss)/d(output) in place
        if self.cfg.loss == "ce":
            g -= g.max(axis=1, keepdims=True)
            picked = g[self.rows, self.y]
            xp.exp(g, out=g)
            s = g.sum(axis=1, keepdims=True)
            loss = xp.mean(xp.log(s[:, 0]) - picked)
            g /= s
            g[self.rows, self.y] -= 1
            g *= 1.0 / g.shape[0]
        else:
            g -= self.y
            loss = xp.mean(g * g)
            g *= 2.0 / g.size
        for i in range(last, -1, -1):
            (w, _), (gw, gb) = self.params[i], self.grads[i]
            inp = self.x if i == 0 else self.h[i - 1]
            xp.matmul(g.T, inp, out=gw)
            g.sum(axis=0, out=gb)
            if i > 0:
                dh = self.dh[i - 1]
                xp.matmul(g, w, out=dh)
                if self.cfg.act == "relu":
                    dh *= inp > 0
                else:
                    dh *= 1 - inp * inp
                g = dh
        for (w, b), (gw, gb) in zip(self.params, self.grads):
            gw *= LR  # the gradient buffers are scratch until the next step
            w -= gw
            gb *= LR
            b -= gb
        return loss


def _numpy_builder(cls):
    """A builder of `cls` (NumpyMLP or InplaceNumpyMLP) on NumPy, or on CuPy for cuda."""

    def build(cfg, weights, x, y, device):
        if device.startswith("cuda"):
            import cupy  # noqa: TID251  (the floor on a GPU is CuPy; not library code)

            cupy.cuda.Device(_cuda_index(device)).use()  # this worker's current GPU
            mlp = cls(cupy, cfg, weights, x, y)
            return mlp.step, float, cupy.cuda.get_current_stream().synchronize
        return cls(np, cfg, weights, x, y).step, float, None

    return build


def build_torch(cfg, weights, x, y, device):
    import torch

    dev = device if device.startswith("cuda") and torch.cuda.is_available() else "cpu"
    layers = []
    for i, (w, b) in enumerate(weights):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU() if cfg.act == "relu" else torch.nn.Tanh())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    F = torch.nn.functional
    loss_fn = F.cross_entropy if cfg.loss == "ce" else F.mse_loss
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def step():
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    sync = torch.cuda.synchronize if dev != "cpu" else None
    return step, lambda loss: float(loss.detach()), sync


def build_gradkit(cfg, weights, x, y, device):
    import gradkit as gk
    import gradkit.nn.functional as F
    from gradkit import nn, optim

    gk.manual_seed(0)
    layers, state = [], {}
    for i, (w, b) in enumerate(weights):
        state[f"{len(layers)}.weight"] = gk.tensor(w, device=device)
        state[f"{len(layers)}.bias"] = gk.tensor(b, device=device)
        layers.append(nn.Linear(w.shape[1], w.shape[0], device=device))
        if i < len(weights) - 1:
            layers.append(nn.ReLU() if cfg.act == "relu" else nn.Tanh())
    model = nn.Sequential(*layers)
    model.load_state_dict(state)
    opt = optim.SGD(model.parameters(), lr=LR)
    loss_fn = F.cross_entropy if cfg.loss == "ce" else F.mse_loss
    xt, yt = gk.tensor(x, device=device), gk.tensor(y, device=device)

    def step():
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    sync = (lambda: gk.synchronize(device)) if device.startswith("cuda") else None
    return step, lambda loss: float(loss.numpy()), sync


BUILDERS = {"gradkit": build_gradkit, "numpy": _numpy_builder(NumpyMLP),
            "numpy-inplace": _numpy_builder(InplaceNumpyMLP), "torch": build_torch}


# ---- the lecture models: built by examples/makemore.py and examples/gpt.py -------------

EXAMPLES = os.path.dirname(os.path.abspath(__file__))


def _load_example(name, module_name):
    """examples/<name>.py as a fresh module called `module_name` (once in sys.modules)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    if EXAMPLES not in sys.path:
        sys.path.append(EXAMPLES)  # the examples `import _cli` from their own folder
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _example(name, lib):
    """gpt.py, or makemore.py with its gradkit names bound to `lib`'s ("gradkit", "torch").

    makemore.py's docstring promises that everything but main() runs unchanged under
    `import torch as gk` (with torch.nn, torch.optim); its layer classes subclass nn.Module
    at import, so for PyTorch it is loaded while `gradkit`, `gradkit.nn` and
    `gradkit.nn.functional` name PyTorch's modules. gpt.py needs no such help:
    `define_gpt(torch)` takes the library as its argument.
    """
    if name == "gpt" or lib == "gradkit":
        return _load_example(name, f"_bench_{name}")
    import torch

    _load_example("_cli", "_cli")  # makemore.py's `import _cli`: with the real gradkit
    as_gradkit = types.ModuleType("gradkit")
    as_gradkit.__getattr__ = lambda attr: getattr(torch, attr)  # gk.tensor -> torch.tensor
    as_gradkit.datasets = None  # imported by makemore.py, used only in main()
    swap = {"gradkit": as_gradkit, "gradkit.nn": torch.nn,
            "gradkit.nn.functional": torch.nn.functional}
    saved = {key: sys.modules[key] for key in swap}
    sys.modules.update(swap)
    try:
        return _load_example(name, f"_bench_{name}_torch")
    finally:
        sys.modules.update(saved)


def deep_bn_mlp(lib, block_size, n_embd, n_hidden, depth=5):
    """Lecture 4's deep MLP, as docs/tutorials/05 builds it with `lib` (gradkit or torch):
    embed, flatten, then `depth` times Linear (no bias), BatchNorm1d, Tanh; Kaiming init
    with tanh's gain, the output layer scaled by 0.1."""
    nn = lib.nn
    layers = [nn.Embedding(MAKEMORE_VOCAB, n_embd), nn.Flatten()]
    fan_in = n_embd * block_size
    for _ in range(depth):
        layers += [nn.Linear(fan_in, n_hidden, bias=False), nn.BatchNorm1d(n_hidden), nn.Tanh()]
        fan_in = n_hidden
    model = nn.Sequential(*layers, nn.Linear(fan_in, MAKEMORE_VOCAB))
    with lib.no_grad():
        for layer in model[:-1]:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="tanh")
        model[-1].weight *= 0.1
    return model


def _makemore_sizes(cfg: Lecture):
    """block_size, n_embd and n_hidden of a makemore model: makemore.py's for its models,
    tutorial 5's for the deep one."""
    if cfg.model == "deep-bn":
        return dict(block_size=3, n_embd=10, n_hidden=100)
    config = _example("makemore", "gradkit").CONFIGS[cfg.model]
    return {k: config[k] for k in ("block_size", "n_embd", "n_hidden")}


def lecture_model(lib, cfg: Lecture):
    """cfg's model, made by its example's own code with `lib` (gradkit or torch)."""
    if cfg.model == "gpt":
        return _example("gpt", lib.__name__).define_gpt(lib)(**dict(cfg.gpt))
    if cfg.model == "deep-bn":
        return deep_bn_mlp(lib, **_makemore_sizes(cfg))
    makemore = _example("makemore", lib.__name__)
    return makemore.build_model(cfg.model, MAKEMORE_VOCAB, **_makemore_sizes(cfg))


def make_lecture_data(cfg: Lecture, seed: int):
    """The example's initial weights (its own init after gk.manual_seed(seed)), as host
    arrays by state_dict name, and a batch of random token indices from a NumPy seed:
    (batch, block) contexts and (batch,) next tokens for makemore, (batch, block) inputs
    and targets for the GPT. Every worker builds the weights with gradkit, the torch
    worker too (so its resident memory includes gradkit's modules)."""
    import gradkit as gk

    gk.manual_seed(seed)
    weights = {k: v.numpy() for k, v in lecture_model(gk, cfg).state_dict().items()}
    rng = np.random.default_rng(seed)
    if cfg.model == "gpt":
        opts = dict(cfg.gpt)
        x, y = (rng.integers(0, opts["vocab_size"], (cfg.batch, opts["block_size"]))
                for _ in range(2))
    else:
        x = rng.integers(0, MAKEMORE_VOCAB, (cfg.batch, _makemore_sizes(cfg)["block_size"]))
        y = rng.integers(0, MAKEMORE_VOCAB, cfg.batch)
    return weights, x, y


def _lecture_builder(lib_name):
    """A builder of the lecture models' training step in gradkit or torch (the same code)."""

    def build(cfg, weights, x, y, device):
        lib = importlib.import_module(lib_name)
        if lib_name == "torch":
            device = device if device.startswith("cuda") and lib.cuda.is_available() else "cpu"
        model = lecture_model(lib, cfg)
        model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
        model.to(device)
        model.train()
        xt, yt = lib.tensor(x, device=device), lib.tensor(y, device=device)
        if cfg.model == "gpt":  # gpt.py's optimizer (it also clips the gradient; not here)
            opt = model.configure_optimizers(weight_decay=0.1, learning_rate=GPT_LR,
                                             betas=(0.9, 0.99))
            forward = lambda: model(xt, yt)[1]  # noqa: E731
        else:
            opt = lib.optim.SGD(model.parameters(), lr=MAKEMORE_LR)
            forward = lambda: lib.nn.functional.cross_entropy(model(xt), yt)  # noqa: E731

        def step():
            loss = forward()
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        sync = None
        if device.startswith("cuda"):
            sync = lib.cuda.synchronize if lib_name == "torch" else lambda: lib.synchronize(device)
        return step, lambda loss: loss.item(), sync

    return build


LECTURE_BUILDERS = {"gradkit": _lecture_builder("gradkit"), "torch": _lecture_builder("torch")}


def _compiled(builder):
    """The gradkit step through gk.compile: recorded once, then replayed."""

    def build(cfg, weights, x, y, device):
        import gradkit as gk

        step, read_loss, sync = builder(cfg, weights, x, y, device)
        return gk.compile(step), read_loss, sync

    return build


BUILDERS["gradkit-compiled"] = _compiled(build_gradkit)
LECTURE_BUILDERS["gradkit-compiled"] = _compiled(LECTURE_BUILDERS["gradkit"])


def make_inputs(cfg, seed):
    """Weights, inputs and targets of any config."""
    return make_lecture_data(cfg, seed) if isinstance(cfg, Lecture) else make_data(cfg, seed)


class Unavailable(Exception):
    """An implementation that cannot run here (not installed): skipped with a note."""


def build(impl, cfg, weights, x, y, device, threads=None):
    """impl's (step, read_loss, synchronize) for cfg; torch with `threads` threads
    (default: the CPUs this process may use)."""
    try:
        if impl == "torch":
            import torch

            torch.set_num_threads(threads or _cpu_count())
        elif impl.startswith("gradkit"):
            from gradkit import nn, optim
    except ImportError as e:
        raise Unavailable(f"{impl} is not importable: {e}") from None
    if impl.startswith("gradkit") and not (hasattr(nn, "Linear") and hasattr(optim, "SGD")):
        raise Unavailable("gradkit.nn / gradkit.optim are not implemented yet")
    builders = LECTURE_BUILDERS if isinstance(cfg, Lecture) else BUILDERS
    return builders[impl](cfg, weights, x, y, device)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cuda_index(device: str) -> int:
    return int(device.partition(":")[2] or 0)


def _load() -> float:
    """The 1-minute load average, or 0 where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _rss_mb():
    """Current resident size in MB (Linux), or None where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ---- worker side ---------------------------------------------------------------------

def run_worker(impl, cfg, args):
    """Check the first losses, warm up, time the steps; return a result dict."""
    weights, x, y = make_inputs(cfg, args.seed)
    device = args.device if impl.startswith("gradkit") or args.device.startswith("cuda") else "cpu"
    step, read, sync = build(impl, cfg, weights, x, y, device, args.threads)
    base_mb = _rss_mb()
    losses = [read(step()) for _ in range(args.check)]
    timed = args.device != "strict"
    times = []
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    if timed:
        for _ in range(args.warmup):
            step()
        if sync:
            sync()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            if sync:
                sync()
            times.append(time.perf_counter() - t0)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = ru1.ru_maxrss / 1024  # KB on Linux
    return {
        "impl": impl, "config": cfg.name, "device": device, "losses": losses,
        "ms": statistics.median(times) * 1e3 if times else None,
        "ms_min": min(times) * 1e3 if times else None,
        "peak_rss_mb": peak_mb,
        "step_mb": peak_mb - base_mb if base_mb is not None else None,
        "faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / len(times) if times else None,
        "gpu_mb": _gpu_mb(impl) if device.startswith("cuda") else None,
        "blas": blas_summary(impl, device),
    }


def _threads(n):
    return f"{n} thread" if n == 1 else f"{n} threads"


def blas_summary(impl, device):
    """One line: the BLAS library (and OpenBLAS's kernel) this worker multiplies with."""
    if device.startswith("cuda"):
        return "cuBLAS"
    if impl == "torch":
        import torch

        config = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=(\w+)", config)
        mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
        isa = re.search(r"CPU capability usage: (\w+)", config)
        return (f"torch {torch.__version__}: BLAS {blas[1] if blas else 'unknown'}"
                f"{' ' + mkl[1] if mkl else ''}, CPU capability {isa[1] if isa else 'unknown'}, "
                f"{_threads(torch.get_num_threads())}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # the build's BLAS; the kernel chosen at run time is unknown
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return (f"numpy {np.__version__}: {blas.get('name')} {blas.get('version')} "
                "(kernel and threads unknown: threadpoolctl is not installed)")
    return "; ".join(f"numpy {np.__version__}: {i['internal_api']} {i['version']} kernel "
                     f"{i.get('architecture')}, {_threads(i['num_threads'])}"
                     for i in threadpool_info() if i["user_api"] == "blas")


def _gpu_mb(impl):
    """GPU memory the worker's allocator holds at the end (its pool never shrinks)."""
    if impl == "torch":
        import torch

        return torch.cuda.max_memory_reserved() / 2**20
    import cupy  # noqa: TID251  (gradkit and the floor allocate through CuPy's pool)

    return cupy.get_default_memory_pool().total_bytes() / 2**20


def run_matmul(args):
    """The machine's own float32 matmul rate: MATMUL_N^3, median of a few."""
    n = MATMUL_N
    rng = np.random.default_rng(args.seed)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    xp, sync = np, None
    if args.device.startswith("cuda"):
        import cupy  # noqa: TID251  (the reference matmul on a GPU; not library code)

        cupy.cuda.Device(_cuda_index(args.device)).use()
        xp, a, b = cupy, cupy.asarray(a), cupy.asarray(b)
        sync = cupy.cuda.get_current_stream().synchronize
    c = xp.empty((n, n), dtype=xp.float32)
    times = []
    for i in range(13):
        t0 = time.perf_counter()
        xp.matmul(a, b, out=c)
        if sync:
            sync()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return {"impl": "matmul", "gflops": 2 * n**3 / statistics.median(times) / 1e9}


def write_chainer_data(cfg, args):
    """make_data's arrays as the .npz the Chainer worker reads: W0, b0, W1, b1, ..., x, y."""
    weights, x, y = make_data(cfg, args.seed)
    arrays = {"x": x, "y": y}
    for i, (w, b) in enumerate(weights):
        arrays[f"W{i}"], arrays[f"b{i}"] = w, b
    np.savez(args.npz, **arrays)


def worker_main(args):
    if args.worker == "chainer-data":
        write_chainer_data(CONFIGS[args.configs], args)
        return
    try:
        if args.worker == "matmul":
            result = run_matmul(args)
        else:
            result = run_worker(args.worker, CONFIGS[args.configs], args)
    except Unavailable as e:
        result = {"impl": args.worker, "skipped": str(e)}
    print("@@result " + json.dumps(result), flush=True)


# ---- parent side ---------------------------------------------------------------------

def spawn(what, config, args):
    """Run one worker process; a result dict, or {"error": ...} naming what went wrong."""
    if what in (CHAINER, "chainer-matmul"):
        return spawn_chainer(what, config, args)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", what,
           "--configs", config or "tiny", "--device", args.device, "--seed", str(args.seed),
           "--steps", str(args.steps_for(config)), "--warmup", str(args.warmup_for(config)),
           "--check", str(args.check)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return _run_worker_process(what, cmd, args)


def _run_worker_process(what, cmd, args):
    """Run a worker's command line; its `@@result` line parsed, or {"error": ...}."""
    env = None
    if args.threads:  # read by OpenBLAS, OpenMP and MKL when they load
        env = {**os.environ, **{f"{lib}_NUM_THREADS": str(args.threads)
                                for lib in ("OPENBLAS", "OMP", "MKL")}}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("@@result "):
            return json.loads(line[len("@@result "):])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
    return {"impl": what, "error": f"worker exited with {proc.returncode}:\n{tail}"}


def spawn_chainer(what, config, args):
    """Run the Chainer worker (examples/_chainer_worker.py) with --chainer-venv's Python.

    It cannot import gradkit or this script (NumPy < 2 there), so the weights, inputs and
    targets drawn here (make_data, the same seed as every other worker) reach it through
    a temporary .npz file; it answers with the same `@@result` line as the others.
    "chainer-matmul" measures that NumPy's own float32 matmul (MATMUL_N^3) instead.
    """
    import tempfile

    worker = os.path.join(EXAMPLES, CHAINER_WORKER)
    if what == "chainer-matmul":
        cmd = [args.chainer_python, worker, "--matmul", str(MATMUL_N), "--seed", str(args.seed)]
        return _run_worker_process(what, cmd, args)
    cfg = CONFIGS[config]
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-chainer-") as folder:
        data = os.path.join(folder, f"{config}.npz")
        # Written by a child process: drawn here, the arrays would raise this process's
        # peak resident size, which every later worker inherits as its ru_maxrss start.
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "chainer-data",
               "--configs", config, "--seed", str(args.seed), "--npz", data]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.isfile(data):
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            return {"impl": what, "error": f"writing its data failed ({proc.returncode}):\n{tail}"}
        cmd = [args.chainer_python, worker, data, "--config", config, "--act", cfg.act,
               "--loss", cfg.loss, "--lr", repr(LR), "--steps", str(args.steps_for(config)),
               "--warmup", str(args.warmup_for(config)), "--check", str(args.check)]
        return _run_worker_process(what, cmd, args)


def chainer_python(venv):
    """The Python of the virtual environment `venv` (or `venv` itself if it is one), checked
    to import Chainer and NumPy; a one-line setup error naming what is wrong otherwise."""
    setup = f"build one with: {CHAINER_SETUP.replace('PATH', venv)}"
    if os.path.isdir(venv):
        found = [os.path.join(venv, *rel) for rel in (("bin", "python"),
                                                      ("Scripts", "python.exe"))]
        python = next((f for f in found if os.path.isfile(f)), None)
        if python is None:
            _setup_error(f"--chainer-venv {venv}: not a virtual environment (no bin/python "
                         f"in it); {setup}")
    elif os.path.isfile(venv) and os.access(venv, os.X_OK):
        python = venv  # a Python executable given directly
    elif os.path.exists(venv):
        _setup_error(f"--chainer-venv {venv}: neither a virtual environment nor a Python "
                     f"executable; {setup}")
    else:
        _setup_error(f"--chainer-venv {venv}: no such directory; {setup}")
    probe = "import chainer, numpy; print(chainer.__version__, numpy.__version__)"
    try:
        proc = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                              timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        _setup_error(f"--chainer-venv {venv}: its Python ({python}) does not run: {e}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        _setup_error(f"--chainer-venv {venv}: its Python ({python}) cannot import Chainer "
                     f"and NumPy ({last}); {setup}")
    return python


def agreement(results, impls):
    """Max relative difference of each impl's loss trajectory to the reference's."""
    ref_impl = next((i for i in ("numpy", "numpy-inplace", "torch", "gradkit")
                     if results.get(i)), None)
    out = {}
    for impl in impls:
        if results.get(impl) and ref_impl:
            ref = np.asarray(results[ref_impl]["losses"], dtype=np.float64)
            got = np.asarray(results[impl]["losses"], dtype=np.float64)
            out[impl] = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)))
    return ref_impl, out


def summarize(runs, args, impls):
    """Per config and impl: medians over rounds, ratios, agreement."""
    summary = {}
    for name in args.config_list:
        rows = {}
        for impl in impls:
            got = [r for r in runs if r.get("config") == name and r["impl"] == impl]
            if not got:
                continue
            ms = [r["ms"] for r in got if r["ms"] is not None]
            rows[impl] = {
                "device": got[0]["device"], "losses": got[0]["losses"],
                "ms": statistics.median(ms) if ms else None,
                "ms_rounds": ms,
                "ms_by_round": {r["round"]: r["ms"] for r in got
                                if r["ms"] is not None and "round" in r},
                "peak_rss_mb": max(r["peak_rss_mb"] for r in got),
                "step_mb": max((r["step_mb"] for r in got if r["step_mb"] is not None),
                               default=None),
                "faults_per_step": statistics.median(r["faults_per_step"] for r in got)
                if ms else None,
                "gpu_mb": got[0].get("gpu_mb"), "blas": got[0].get("blas"),
            }
        ref, agree = agreement(rows, impls)
        for impl, row in rows.items():
            row["loss_rel_diff"] = agree.get(impl)
            row["loss_ref"] = ref
            for other in ("numpy", "torch", *([CHAINER] if CHAINER in impls else [])):
                mine, theirs = row["ms"], rows.get(other, {}).get("ms")
                row[f"ratio_{other}"] = mine / theirs if mine and theirs else None
            flops = CONFIGS[name].flops()
            row["gflops"] = flops / (row["ms"] * 1e-3) / 1e9 if row["ms"] and flops else None
        summary[name] = rows
    return summary


def _fmt_ms(ms):
    if ms is None:
        return "-"
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(summary, impls):
    with_chainer = any(CHAINER in rows for rows in summary.values())
    head = ["config", "impl", "ms/step", "/floor", "/torch", *(["/chainer"] * with_chainer),
            "peak RSS MB", "step MB", "faults/step", "loss rel.diff"]
    lines = []
    for name, rows in summary.items():
        for impl in impls:
            if impl not in rows:
                continue
            r = rows[impl]
            label = impl if r["device"] == "cpu" else f"{impl} ({r['device']})"
            diff = "ref" if impl == r["loss_ref"] else _fmt(r["loss_rel_diff"], ".1e")
            chainer = [_fmt(r.get("ratio_chainer"), ".2f")] if with_chainer else []
            lines.append([name, label, _fmt_ms(r["ms"]), _fmt(r["ratio_numpy"], ".2f"),
                          _fmt(r["ratio_torch"], ".2f"), *chainer, _fmt(r["peak_rss_mb"], ".0f"),
                          _fmt(r["step_mb"], ".1f"), _fmt(r["faults_per_step"], ".0f"), diff])
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    fmt_row = lambda row: "| " + " | ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + (":" if i >= 2 else "-")
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt_row(head), sep, *map(fmt_row, lines)])


def target_lines(summary):
    """One line per config and gradkit row: issue 13's targets for the eager and the
    compiled step (against the NumPy floor and PyTorch; gradkit/torch for the lecture
    models), met or not (judged on the ratio as printed, to two decimals, as the targets
    are stated)."""
    lecture = {name: (None, LECTURE_TARGET) for name in LECTURES}
    lines = []
    for impl, targets in (("gradkit", {**EAGER_TARGETS, **lecture}),
                          ("gradkit-compiled", {**COMPILED_TARGETS, **lecture})):
        for name, rows in summary.items():
            row, floor = rows.get(impl), rows.get("numpy")
            if name not in targets or not row or row["ms"] is None:
                continue
            parts = []
            for (key, label), limit in zip((("ratio_numpy", "floor"), ("ratio_torch", "torch")),
                                           targets[name]):
                if limit is None:
                    continue
                got = row[key]
                verdict = "n/a" if got is None else "met" if round(got, 2) <= limit else "NOT met"
                spread = _round_range(row, rows.get("numpy" if label == "floor" else label))
                parts.append(f"{impl}/{label} {_fmt(got, '.2f')}{spread} (<= {limit}: {verdict})")
            if name == "medium" and floor and impl == "gradkit":
                ratio = row["peak_rss_mb"] / floor["peak_rss_mb"]
                verdict = "met" if round(ratio, 2) <= MEDIUM_RSS_TARGET else "NOT met"
                parts.append(f"peak RSS gradkit/floor {ratio:.2f} "
                             f"(<= {MEDIUM_RSS_TARGET:g}: {verdict})")
            lines.append(f"target {name} {impl}: " + "; ".join(parts))
    return lines


def _round_range(row, other):
    """` [lo-hi in N rounds]`: the ratio of `row` to `other` within each round (the two
    workers ran minutes apart at most, so the machine's drift mostly cancels): how
    settled the median ratio is. Empty with fewer than two rounds."""
    mine, theirs = row.get("ms_by_round", {}), (other or {}).get("ms_by_round", {})
    ratios = [mine[r] / theirs[r] for r in mine if theirs.get(r)]
    if len(ratios) < 2:
        return ""
    return f" [{min(ratios):.2f}-{max(ratios):.2f} in {len(ratios)} rounds]"


def threads_note(args):
    """How many threads the workers' BLAS and torch were given."""
    if args.threads:
        return (f"{args.threads} (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS, "
                "torch.set_num_threads)")
    return f"BLAS default, torch {_cpu_count()}"


def _setup_error(message):
    """One `error:` line on stderr and exit status 2: a setup problem, not a bug."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def check_setup(args):
    """Before any worker runs: the device is usable and --json can be written (and, for
    --profile --threads, threadpoolctl is there to limit this process's BLAS threads)."""
    if args.profile and args.threads:
        try:
            import threadpoolctl  # noqa: F401
        except ImportError:
            _setup_error("--profile --threads limits the BLAS threads with threadpoolctl: "
                         "pip install threadpoolctl")
    if args.chainer_venv and not args.profile:
        if args.device != "cpu":
            _setup_error(f"--chainer-venv: Chainer runs on the CPU only here, not on --device "
                         f"{args.device}; leave --chainer-venv out there")
        args.chainer_python = chainer_python(args.chainer_venv)
    if args.device != "cpu":
        import gradkit as gk

        try:
            gk.get_backend(args.device)
        except gk.DeviceError as e:
            hint = ""
            if args.device.strip().lower().startswith(("cuda", "gpu")):
                hint = ('; for a CUDA GPU install CuPy with the extra matching your CUDA '
                        'version: pip install "gradkit[cuda12]" or "gradkit[cuda13]", then run '
                        'python -m gradkit.selfcheck to see what works on this machine')
            _setup_error(f"--device {args.device}: gradkit cannot use it here: {e}{hint}")
    if args.json:
        path = os.path.abspath(args.json)
        folder = os.path.dirname(path)
        if os.path.isdir(path):
            _setup_error(f"--json {args.json} is a directory; pass a file name")
        if not os.path.isdir(folder):
            _setup_error(f"--json {args.json}: the folder {folder} does not exist")
        try:  # a file in it can be made: os.access is not enough (root, read-only mounts)
            with open(os.path.join(folder, f".benchmark-write-test-{os.getpid()}"), "w"):
                pass
            os.remove(os.path.join(folder, f".benchmark-write-test-{os.getpid()}"))
        except OSError as e:
            _setup_error(f"--json {args.json}: cannot write into {folder} ({e.strerror or e})")


def parent_main(args):
    impls = args.impl_list
    check_setup(args)
    t_start, load = time.perf_counter(), _load()
    runs, skipped, errors, matmul, chainer_matmul = [], {}, [], [], []
    for r in range(args.rounds):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        for name in args.config_list:
            for impl in impls_for(name, order):
                if impl in skipped:
                    continue
                res = spawn(impl, name, args)
                load = max(load, _load())
                if "skipped" in res:
                    skipped[impl] = res["skipped"]
                elif "error" in res:
                    errors.append(f"{impl} on {name}: {res['error']}")
                else:
                    runs.append({**res, "round": r})
                if args.verbose:
                    print(f"round {r} {name:12s} {impl:13s} {_fmt_ms(res.get('ms'))} ms",
                          file=sys.stderr)
        if "large" in args.config_list and args.device != "strict":
            res = spawn("matmul", None, args)
            if "gflops" in res:
                matmul.append(res["gflops"])
            else:
                errors.append(f"matmul reference: {res.get('error')}")
            if CHAINER in impls:  # the same product with Chainer's NumPy and its BLAS
                res = spawn("chainer-matmul", None, args)
                if "gflops" in res:
                    chainer_matmul.append(res["gflops"])
                else:
                    errors.append(f"chainer's matmul reference: {res.get('error')}")
    summary = summarize(runs, args, impls)

    print(f"gradkit step benchmark: device {args.device}, {args.rounds} round(s), "
          f"{_cpu_count()} CPU(s), numpy {np.__version__}, Python {platform.python_version()}, "
          f"threads {threads_note(args)}, float32")
    print(table(summary, impls))
    print(textwrap.fill(
          "ms/step: median over rounds of each worker's median step. /floor, /torch"
          f"{', /chainer' if CHAINER in impls else ''}: the row's "
          "ms/step over theirs. peak RSS: the worker's ru_maxrss; step MB: how far the steps "
          "raised it above the resident size after set-up; faults/step: minor page faults "
          f"per timed step. loss rel.diff: max relative difference of the first {args.check} "
          "losses to the ref row's.", width=100))
    if any("numpy-inplace" in rows for rows in summary.values()):
        print(textwrap.fill(f"note: {INPLACE_NOTE}", width=100))
    blas = {}
    for rows in summary.values():
        for impl, row in rows.items():
            blas.setdefault(impl, row["blas"])
    for impl, line in blas.items():
        print(f"BLAS {impl}: {line}")
    if args.device == "cpu":
        for line in target_lines(summary):
            print(line)
    failed = bool(errors)
    for name, rows in summary.items():
        for impl, row in rows.items():
            if row["loss_rel_diff"] is not None and row["loss_rel_diff"] > LOSS_RTOL:
                print(f"LOSS MISMATCH on {name}: {impl} differs from {row['loss_ref']} by "
                      f"{row['loss_rel_diff']:.2e} > {LOSS_RTOL:g}: {row['losses']} vs "
                      f"{rows[row['loss_ref']]['losses']}")
                failed = True
    if "large" in summary and matmul:
        peak = statistics.median(matmul)
        rates = ", ".join(f"{impl} {row['gflops']:.0f}" for impl, row in summary["large"].items()
                          if row["gflops"])
        chainer_rate = ""
        if chainer_matmul:
            chainer_rate = (f"; with chainer's NumPy {statistics.median(chainer_matmul):.0f} "
                            "GFLOP/s")
        print(textwrap.fill(
            f"large: {CONFIGS['large'].flops() / 1e9:.1f} GFLOP of matmul per step; achieved "
            f"GFLOP/s: {rates}; machine float32 matmul ({MATMUL_N}^3, "
            f"{'NumPy' if args.device == 'cpu' else 'CuPy'}): {peak:.0f} GFLOP/s"
            f"{chainer_rate}", width=100))
    for name, rows in summary.items():
        gpu = ", ".join(f"{impl} {row['gpu_mb']:.0f}" for impl, row in rows.items()
                        if row["gpu_mb"] is not None)
        if gpu:
            print(f"{name}: GPU memory held by each worker's allocator at the end (MB): {gpu}")
    for impl, why in skipped.items():
        print(f"note: {impl} skipped: {why}")
    for e in errors:
        print(f"ERROR: {e}")
    if load > _cpu_count() + 1:  # one worker at a time uses at most all CPUs
        print(f"note: the 1-minute load average reached {load:.1f} on {_cpu_count()} CPU(s): "
              "other processes competed with the workers, so these times are noisy")
    print(f"total {time.perf_counter() - t_start:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if not callable(v)},
                       "cpus": _cpu_count(), "numpy": np.__version__,
                       "python": platform.python_version(), "matmul_gflops": matmul,
                       **({"chainer_matmul_gflops": chainer_matmul} if CHAINER in impls
                          else {}),
                       "skipped": skipped, "errors": errors, "summary": summary,
                       "targets": target_lines(summary) if args.device == "cpu" else [],
                       "runs": runs}, f, indent=1)
    return 1 if failed else 0


# ---- profile mode --------------------------------------------------------------------

def _time_steps(cfg, args, steps):
    """Median ms/step of gradkit on `cfg`, after warm-up (the step builder too)."""
    weights, x, y = make_inputs(cfg, args.seed)
    step, _, sync = build("gradkit", cfg, weights, x, y, args.device)
    for _ in range(max(3, steps // 10)):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, step, sync


def profile_main(args):
    """Split each gradkit step into framework overhead and array work, then cProfile it.

    The overhead is estimated as the time of the same graph (depth, activation, loss,
    batch of 2) on arrays 2 wide, where the array work is negligible; the rest of the
    real step is array work. cProfile then names the hottest functions. Its tottime of
    an op's forward includes the array operators it runs inline (@, +=), so for large
    configs the top forwards are where the array work happens. The lecture models get the
    cProfile only. With --threads, the BLAS threads are limited through threadpoolctl.
    """
    import cProfile
    import pstats

    if args.threads:
        from threadpoolctl import threadpool_limits  # checked by check_setup

        threadpool_limits(args.threads)
    for name in args.config_list:
        cfg = CONFIGS[name]
        steps = args.steps_for(name)
        ms, step, sync = _time_steps(cfg, args, steps)
        if isinstance(cfg, Lecture):
            print(f"\n=== {name}: {ms:.3f} ms/step ===")
        else:
            narrow = Config(f"{name}-narrow",
                            (2,) * (len(cfg.sizes) - 1) + (min(cfg.sizes[-1], 2),),
                            2, cfg.act, cfg.loss, steps)
            overhead, _, _ = _time_steps(narrow, args, max(steps, 200))
            share = min(overhead / ms, 1.0)
            print(f"\n=== {name}: {ms:.3f} ms/step; the same graph on 2-wide arrays: "
                  f"{overhead:.3f} ms, so framework overhead ~{100 * share:.0f} %, "
                  f"array work ~{100 * (1 - share):.0f} % ===")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(steps):
            step()
        if sync:
            sync()
        prof.disable()
        stats = pstats.Stats(prof)
        print(f"cProfile over {steps} steps (its own overhead inflates the Python side):")
        stats.sort_stats("tottime").print_stats(args.profile_top)


# ---- command line --------------------------------------------------------------------

def _whole(text, least):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
    return value


def _count(text):
    """An int >= 1 for argparse."""
    return _whole(text, 1)


def _natural(text):
    """An int >= 0 for argparse."""
    return _whole(text, 0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=None, help=f"comma list of {','.join(CONFIGS)}")
    p.add_argument("--impls", default=",".join(IMPLS),
                   help=f"comma list of {','.join(IMPLS)} (numpy is the floor), and "
                        f"{CHAINER} with --chainer-venv")
    p.add_argument("--chainer-venv", default=None, metavar="PATH",
                   help="also run Chainer 7.8 (the MLPs only, on the CPU) with the Python of "
                        "this virtual environment, as the column 'chainer'; build it with: "
                        + CHAINER_SETUP.replace("%", "%%"))
    p.add_argument("--rounds", type=_count, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--steps", type=_count, default=None,
                   help="timed steps per worker (default per config: "
                        + ", ".join(f"{c.name} {c.steps}" for c in CONFIGS.values()) + ")")
    p.add_argument("--warmup", type=_natural, default=None, help="untimed steps (default steps/10)")
    p.add_argument("--check", type=_count, default=None, help="steps whose losses are compared")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, or strict (no timing)")
    p.add_argument("--seed", type=int, default=0, help="NumPy seed of weights and data")
    p.add_argument("--threads", type=_count, default=None,
                   help="BLAS and torch threads in the workers (OPENBLAS_NUM_THREADS, "
                        "OMP_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads); default: "
                        "BLAS's own default, torch as many as the usable CPUs")
    p.add_argument("--smoke", action="store_true", help="tiny, one round, few steps")
    p.add_argument("--json", default=None, metavar="PATH", help="write all results here")
    p.add_argument("--profile", action="store_true", help="cProfile gradkit in this process")
    p.add_argument("--profile-top", type=_count, default=20, help="functions listed by --profile")
    p.add_argument("--verbose", "-v", action="store_true", help="log each worker to stderr")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--npz", default=None, help=argparse.SUPPRESS)  # chainer-data's output
    args = p.parse_args(argv)

    if args.smoke:
        args.configs = args.configs or "tiny"
        args.rounds = args.rounds or 1
        args.steps = args.steps or 20
        args.warmup = args.warmup if args.warmup is not None else 2
        args.check = args.check or 3
    args.configs = args.configs or ",".join(CONFIGS)
    args.rounds = args.rounds or 3
    args.check = args.check or 5
    args.config_list = [c.strip() for c in args.configs.split(",") if c.strip()]
    args.impl_list = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = [c for c in args.config_list if c not in CONFIGS]
    if args.chainer_venv and CHAINER not in args.impl_list:
        args.impl_list.append(CHAINER)  # --chainer-venv asks for the column
    unknown += [i for i in args.impl_list if i not in (*IMPLS, CHAINER)]
    if unknown:
        p.error(f"unknown config or impl {unknown}; configs {list(CONFIGS)}, impls "
                f"{[*IMPLS, CHAINER]}")
    if CHAINER in args.impl_list and not args.chainer_venv:
        p.error(f"--impls {CHAINER} needs --chainer-venv PATH, a virtual environment with "
                f"Chainer 7.8 (build it with: {CHAINER_SETUP})")
    args.steps_for = lambda name: args.steps or CONFIGS[name or "tiny"].steps
    args.warmup_for = lambda name: (args.warmup if args.warmup is not None
                                    else max(3, args.steps_for(name) // 10))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    try:
        if args.profile:
            check_setup(args)
            profile_main(args)
            return 0
        return parent_main(args)
    except KeyboardInterrupt:  # Ctrl-C: the workers stop with it; one line, exit status 130
        print("interrupted: no results (each configuration is measured to the end or not "
              "at all)", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
