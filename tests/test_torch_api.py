"""PyTorch's names and meanings where they differ from NumPy's or the Array API's (the
op registry checks the values and gradients of every op; this file checks the API's
shape: return types, errors, aliases), on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk


def test_transpose_swaps_two_dims_and_permute_reorders_all(device):
    x = gk.arange(6.0, device=device).view(2, 3)
    square = gk.arange(4.0, device=device).view(2, 2)
    np.testing.assert_array_equal(square.transpose(0, 1).numpy(), [[0, 2], [1, 3]])
    assert gk.arange(24, device=device).view(2, 3, 4).transpose(-2, -1).shape == (2, 4, 3)
    with pytest.raises(TypeError, match="permute"):
        x.transpose()
    with pytest.raises(TypeError, match="permute"):
        x.transpose(1, 0, 2)
    assert x.permute(1, 0).shape == (3, 2) and gk.permute_dims(x, (1, 0)).shape == (3, 2)


def test_var_and_std_default_to_bessels_correction(device):
    x = gk.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    assert x.var().item() == pytest.approx(5 / 3)
    assert x.var(unbiased=False).item() == pytest.approx(1.25)
    assert x.var(correction=0).item() == pytest.approx(1.25)
    assert gk.std(x, 0, keepdim=True).shape == (1,)


def test_max_along_a_dim_returns_values_and_indices(device):
    x = gk.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], device=device)
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert x.min(dim=0).indices.tolist() == [0, 1, 0]
    assert x.max().item() == 7.0 and x.max(axis=1).shape == (2,)  # axis=: values only
    assert gk.amax(x, 1).tolist() == [5.0, 7.0]


def test_size_numel_dim_and_format(device):
    x = gk.zeros(2, 3, device=device)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.numel() == x.nelement() == 6 and x.dim() == 2
    assert f"{gk.tensor(2.0, device=device):.3f}" == "2.000"
    with pytest.raises(TypeError, match="format"):
        f"{x:.3f}"


def test_to_takes_a_dtype_or_a_tensor_and_dtype_aliases(device):
    x = gk.zeros(2, device=device)
    assert x.to(gk.float64).dtype == gk.double
    assert x.to(gk.zeros(1, dtype=gk.long, device=device)).dtype == gk.int64
    assert gk.float is gk.float32 and gk.long is gk.int64 and gk.int is gk.int32


def test_view_shares_storage_or_refuses_and_reshape_copies_when_it_must(device):
    x = gk.arange(6.0, device=device).view(2, 3)
    v = x.view(3, 2)
    with gk.no_grad():
        v[0, 0] = -1.0
    assert x[0, 0].item() == -1.0 and x._version == v._version == 1
    with pytest.raises(gk.ShapeError, match="reshape|contiguous"):
        x.T.view(6)  # a transpose cannot be viewed flat: PyTorch raises too
    y = x.T.reshape(6)  # a copy: writing it must not touch x, nor count as x's write
    with gk.no_grad():
        y[0] = 100.0
    assert x[0, 0].item() == -1.0 and x._version == 1
    assert x.T.contiguous().view(6).tolist() == [-1.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_allclose_and_equal_return_python_bools(device):
    a = gk.tensor([1.0, 2.0, float("inf")], device=device)
    assert gk.allclose(a, a + 1e-9) is True
    assert gk.allclose(a, a * 1.01) is False
    nan = gk.tensor([float("nan")], device=device)
    assert not gk.allclose(nan, nan) and gk.allclose(nan, nan, equal_nan=True)
    assert gk.equal(a, a) is True and gk.equal(a, a[:2]) is False


def test_squeeze_leaves_other_dims_alone(device):
    x = gk.zeros(3, 1, 2, device=device)
    assert x.squeeze(0).shape == (3, 1, 2) and x.squeeze(1).shape == (3, 2)
    assert x.unsqueeze(-1).shape == (3, 1, 2, 1)


def test_fill_and_masked_fill_in_place_count_as_writes(device):
    x = gk.zeros(4, device=device)
    x.masked_fill_(gk.tensor([True, False, True, False], device=device), 2.0)
    assert x.tolist() == [2.0, 0.0, 2.0, 0.0] and x._version == 1
    x.fill_(3.0)
    assert x.tolist() == [3.0] * 4 and x._version == 2


def test_cuda_queries_agree_with_the_backend_probe():
    assert gk.cuda.is_available() == gk.is_available("cuda")
    assert (gk.cuda.device_count() > 0) == gk.cuda.is_available()
    gk.cuda.synchronize()  # harmless without a GPU


@pytest.mark.parametrize("values,dtype", [
    ([0, 1, 255, 7, 1], "uint8"), ([-128, 127, 0, -1, 127], "int8"),
    ([True, False, True], "bool"), ([1.0, math.nan, 2.0, -math.inf, math.inf, 2.0], "float32")],
    ids=["uint8", "int8", "bool", "float_nan_inf"])
def test_descending_sort_is_torchs_for_every_dtype(device, values, dtype):
    """Descending order used to sort -x: wrong for unsigned ints (-0 == 0, wraps) and the
    int minimum, an error for bools, and NaN last where PyTorch puts it first."""
    torch = pytest.importorskip("torch")
    x = gk.tensor(values, dtype=getattr(gk, dtype), device=device)
    t = torch.tensor(values, dtype=getattr(torch, dtype))
    assert gk.argsort(x, descending=True).tolist() == \
        torch.argsort(t, descending=True, stable=True).tolist()
    values_sorted = gk.sort(x, descending=True).values.tolist()
    expected = torch.sort(t, descending=True, stable=True).values.tolist()
    assert str(values_sorted) == str(expected)  # (str: nan == nan)


def test_linspace_takes_torchs_argument_names(device):
    x = gk.linspace(start=0.0, end=1.0, steps=5, device=device)
    assert x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and x.device == device


@pytest.mark.parametrize("bad", [-2**63 - 1, 2**64, 1.7, "1"])
def test_cuda_manual_seed_checks_the_seed_as_manual_seed_does(bad):
    with pytest.raises((TypeError, ValueError)):
        gk.cuda.manual_seed(bad)
    gk.cuda.manual_seed(-1)  # negatives are taken mod 2**64, as torch's
    assert gk.initial_seed() == 2**64 - 1
