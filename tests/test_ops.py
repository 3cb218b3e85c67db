"""Every op of the registry on every backend: forward against NumPy, first and second
derivatives against finite differences (float64), and coverage of gradkit/ops.py."""

from __future__ import annotations

import inspect

import pytest

import gradkit as gk
from gradkit import ops
from gradkit.autograd import Function
from gradkit.testing import op_registry
from gradkit.testing.op_registry import (
    CASES,
    FAMILIES,
    NOT_COVERED,
    QUICK,
    check_forward,
    check_gradcheck,
    check_gradgradcheck,
    device_inputs,
)

DIFFERENTIABLE = [c for c in CASES if c.differentiable]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_forward_matches_numpy(case, device):
    check_forward(case, device)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=repr)
def test_gradcheck(case, mode, device):
    check_gradcheck(case, device, mode=mode)


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=repr)
def test_gradgradcheck(case, device):
    check_gradgradcheck(case, device)


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
        xs = device_inputs(case, device, requires_grad=True)
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


def test_every_family_has_a_quick_case():
    """The self-check's --quick runs QUICK: existing cases, every family represented."""
    by_name = {c.name: c for c in CASES}
    assert len(set(QUICK)) == len(QUICK)
    assert not [n for n in QUICK if n not in by_name], "QUICK names unknown cases"
    assert {by_name[n].family for n in QUICK} == set(FAMILIES)
    assert all(c.family in FAMILIES for c in CASES)


def test_checks_fail_loudly(monkeypatch):
    """A wrong forward, a wrong gradient and a double backward that does not raise are
    each reported as an AssertionError naming the case."""
    import dataclasses

    case = op_registry.BY_NAME["tanh"]
    wrong_ref = dataclasses.replace(case, ref=lambda x: x)
    with pytest.raises(AssertionError, match="tanh"):
        check_forward(wrong_ref, "cpu")
    wrong_grad = dataclasses.replace(case, fn=lambda x: gk.tanh(x) + (x * 1e-3).detach())
    check_forward(dataclasses.replace(wrong_grad, ref=lambda x: case.ref(x) + x * 1e-3), "cpu")
    with pytest.raises(AssertionError, match="gradcheck"):
        check_gradcheck(wrong_grad, "cpu")
    claims_no_double = dataclasses.replace(case, double_backward=False)
    with pytest.raises(AssertionError, match="did not raise"):
        check_gradgradcheck(claims_no_double, "cpu")

