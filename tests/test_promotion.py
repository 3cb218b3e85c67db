"""Type promotion is PyTorch's (torch.result_type), on every backend: Python and NumPy
scalars are weak, zero-dim tensors count only for a higher category, int-only inputs of
float ops give float32, and Linear/matmul refuse mixed float dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn

try:
    import torch
except ImportError:  # the parity test below skips
    torch = None

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float32", "float64"]


def test_issue_cases_keep_float32(device):
    x = gk.ones(3, device=device, requires_grad=True)
    for y in (x * np.float64(2), x * (1 / np.sqrt(3)), np.float64(2) * x,
              x + gk.tensor([1, 2, 3], device=device), x * gk.arange(3, device=device),
              x * gk.tensor(2.0, dtype=gk.float64, device=device), gk.maximum(x, np.float64(0)),
              gk.where(x > 0, x, np.float64(1.0))):
        assert y.dtype == gk.float32, y
    # NumPy's operators and ufuncs reach the Tensor's: a NumPy scalar stays weak, while a
    # float64 ndarray is a dimensioned float64 operand, so it promotes (as in torch)
    assert np.multiply(np.float64(2), x).dtype == gk.float32
    assert (np.float64(2) + x).dtype == gk.float32
    assert (np.ones(3) * x).dtype == gk.float64
    (x * np.float64(2) + gk.arange(3, device=device)).sum().backward()
    assert x.grad.dtype == gk.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_integer_inputs_of_float_ops_give_float32(device):
    i = gk.tensor([1, 4, 9], device=device)
    for y in (i.sqrt(), i.exp(), i.log(), i.tanh(), i.sigmoid(), i / 2, i / i, 1 / i,
              i * 0.5, i ** 0.5, gk.softmax(i, -1)):
        assert y.dtype == gk.float32, y
    np.testing.assert_allclose(i.sqrt().numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 2.0, 4.5])
    assert (i * 2).dtype == gk.int64 and (i + True).dtype == gk.int64
    assert (gk.tensor([True, False], device=device) + 1).dtype == gk.int64


def test_sum_and_prod_of_bools_count_as_int64(device):
    # torch.sum/prod of a bool tensor give int64 (the idiom (pred == y).sum()); the Array
    # API refuses bool sums, so array-api-strict raised TypeError here
    b = gk.tensor([[True, False, True], [True, True, True]], device=device)
    for y, expected in ((b.sum(), 5), (gk.sum(b, dim=1), [2, 3]), (b.prod(), 0),
                        (b.prod(dim=1), [0, 1])):
        assert y.dtype == gk.int64, y
        assert y.tolist() == expected


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_sum_and_prod_of_integers_are_int64(device, dtype):
    # as torch.sum/prod; NumPy sums uint8 into uint64, a dtype gradkit does not have
    x = gk.tensor([[1, 2, 3], [4, 5, 6]], dtype=getattr(gk, dtype), device=device)
    for y, expected in ((x.sum(), 21), (x.sum(dim=0), [5, 7, 9]), (x.prod(), 720),
                        (x.prod(dim=1), [6, 120])):
        assert y.dtype == gk.int64, y
        assert y.tolist() == expected


def test_mixed_dimensioned_tensors_promote(device):
    f32 = gk.ones(2, device=device)
    f64 = gk.ones(2, dtype=gk.float64, device=device)
    i32 = gk.ones(2, dtype=gk.int32, device=device)
    u8 = gk.ones(2, dtype=gk.uint8, device=device)
    i8 = gk.ones(2, dtype=gk.int8, device=device)
    assert (f32 + f64).dtype == gk.float64
    assert (i32 + f32).dtype == gk.float32
    assert (u8 + i8).dtype == gk.int16
    assert (i32 + 5).dtype == gk.int32
    assert (i32 + gk.tensor(5, device=device)).dtype == gk.int32  # zero-dim int64: lower
    assert (i32 + gk.tensor(5.0, dtype=gk.float64, device=device)).dtype == gk.float64
    assert gk.concat([f32, i32]).dtype == gk.float32
    assert (f32 < f64).dtype == gk.bool


def test_linear_and_matmul_refuse_mixed_float_dtypes(device):
    layer = nn.Linear(3, 2, device=device)
    x64 = gk.ones(4, 3, dtype=gk.float64, device=device)
    with pytest.raises(TypeError, match="float64.*float32"):
        layer(x64)
    with pytest.raises(TypeError, match="same dtype"):
        x64 @ gk.ones(3, 2, device=device)
    assert layer(x64.float()).dtype == gk.float32


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_result_type_matches_torch():
    def torch_operand(kind, dtype):
        if kind == "scalar":
            return {"bool": True, "float": 2.5, "int": 3}[dtype]
        shape = (2,) if kind == "tensor" else ()
        return torch.ones(shape, dtype=getattr(torch, dtype))

    def gk_operand(kind, dtype):
        if kind == "scalar":
            return {"bool": True, "float": 2.5, "int": 3}[dtype]
        return gk.ones((2,) if kind == "tensor" else (), dtype=dtype)

    operands = [(k, d) for k in ("tensor", "zero-dim") for d in DTYPES]
    operands += [("scalar", d) for d in ("bool", "int", "float")]
    for a, b in itertools.product(operands, repeat=2):
        if a[0] == b[0] == "scalar":
            continue
        expected = str(torch.result_type(torch_operand(*a), torch_operand(*b))).split(".")[1]
        got = gk.result_type(gk_operand(*a), gk_operand(*b))
        assert got == expected, (a, b, got, expected)
    assert gk.result_type(gk.ones(2), np.float64(1)) == "float32"
