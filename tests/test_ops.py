"""Every op of the registry on every backend: forward against NumPy, first and second
derivatives against finite differences (float64), and coverage of gradkit/ops.py."""

from __future__ import annotations

import inspect
import zlib

import numpy as np
import pytest
from op_registry import CASES, NOT_COVERED

import gradkit as gk
from gradkit import ops
from gradkit.autograd import Function

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-9, atol=1e-12)}
DIFFERENTIABLE = [c for c in CASES if c.differentiable]


def _host_inputs(case, dtype="float64"):
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    return [np.asarray(a, dtype=dtype) for a in case.inputs(rng)]


def _tensors(arrays, device, requires_grad):
    return [gk.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_forward_matches_numpy(case, device):
    for dtype in case.dtypes:
        arrays = _host_inputs(case, dtype)
        xs = _tensors(arrays, device, requires_grad=case.differentiable)
        out = case.fn(*xs)
        expected = np.asarray(case.ref(*arrays))
        assert out.device == device, f"{case.name} [{dtype}]: result left the device"
        assert out.shape == expected.shape, f"{case.name} [{dtype}]"
        assert out.dtype == expected.dtype, f"{case.name} [{dtype}]: {out.dtype}"
        tol = TOL.get(dtype, dict(rtol=0, atol=0))
        np.testing.assert_allclose(out.numpy(), expected, err_msg=f"{case.name} [{dtype}]", **tol)
        if not case.differentiable:
            assert not out.requires_grad
            continue
        # One backward in this dtype: gradients keep each input's shape, dtype and device.
        grads = gk.grad(out, xs, grad_outputs=gk.ones_like(out))
        for x, g in zip(xs, grads):
            assert (g.shape, g.dtype, g.device) == (x.shape, x.dtype, x.device), case.name


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=repr)
def test_gradcheck(case, mode, device):
    xs = _tensors(_host_inputs(case), device, requires_grad=True)
    assert gk.gradcheck(case.fn, xs, mode=mode, **case.check_kw)


@pytest.mark.filterwarnings("ignore:.*is not float64")  # astype_float32: float32 cotangents
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=repr)
def test_gradgradcheck(case, device):
    xs = _tensors(_host_inputs(case), device, requires_grad=True)
    if case.double_backward:
        assert gk.gradgradcheck(case.fn, xs, **case.check_kw)
    else:
        out = case.fn(*xs)
        with pytest.raises(gk.GradkitError, match="double backward"):
            gk.grad(out, xs, grad_outputs=gk.ones_like(out), create_graph=True)


def _public_functions():
    return {n for n, f in vars(ops).items() if inspect.isfunction(f)
            and f.__module__.startswith(ops.__name__ + ".") and not n.startswith("_")}


def test_registry_covers_every_public_op():
    covered = {n for c in CASES for n in c.covers} | set(NOT_COVERED)
    covered_functions = {id(getattr(ops, n)) for n in covered if hasattr(ops, n)}
    # an alias (gk.concat for gk.cat) is covered by a case of the function it names
    missing = {n for n in _public_functions() - covered
               if id(getattr(ops, n)) not in covered_functions}
    assert not missing, f"ops without a registry case: {sorted(missing)}"


def test_registry_covers_every_primitive(device, monkeypatch):
    """Run every case forward, backward and double backward, recording the Functions used."""
    seen = set()
    apply = Function.__dict__["apply"].__func__

    def recording_apply(cls, *args, **kwargs):
        seen.add(cls.__name__)
        return apply(cls, *args, **kwargs)

    monkeypatch.setattr(Function, "apply", classmethod(recording_apply))
    for case in DIFFERENTIABLE:
        xs = _tensors(_host_inputs(case), device, requires_grad=True)
        out = case.fn(*xs)
        grads = gk.grad(out, xs, grad_outputs=gk.ones_like(out),
                        create_graph=case.double_backward)
        second = [g.sum() for g in grads if g.requires_grad]
        if second:
            sum(second).backward()
    primitives = {n for n, c in vars(ops).items() if inspect.isclass(c)
                  and issubclass(c, Function) and c.__module__.startswith(ops.__name__ + ".")}
    if device == "cpu":
        primitives.discard("ToDevice")  # the round-trip case moves data only off the CPU
    assert not primitives - seen, f"primitives no case exercises: {sorted(primitives - seen)}"
