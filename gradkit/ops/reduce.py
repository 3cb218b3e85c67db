"""Reductions: sum, mean, prod, max/min (with indices along a dim), amax/amin, var/std,
logsumexp, argmax/argmin, all/any, histc."""

from __future__ import annotations

import builtins
import math
import warnings
from typing import TYPE_CHECKING, NamedTuple, overload

from gradkit.autograd import Function, ShapeError, on_device
from gradkit.tensor import Tensor

from ._common import _axes, _const, _dim, _keepdim, _kept_shape, public

if TYPE_CHECKING:

    from gradkit._typing import Array, Dims, Grads


class Sum(Function):
    def forward(self, x: Array, axis: Dims, keepdims: bool) -> Array:
        self.in_shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return self.backend.sum(x, self.axes, keepdims)

    def backward(self, g: Tensor) -> Grads:
        if not self.keepdims and self.axes != tuple(range(len(self.axes))):
            g = reshape(g, _kept_shape(self.in_shape, self.axes))  # re-align with the input
        return broadcast_to(g, self.in_shape)


class Mean(Sum):
    def forward(self, x: Array, axis: Dims, keepdims: bool) -> Array:
        out = super().forward(x, axis, keepdims)
        n = math.prod(x.shape[a] for a in self.axes)
        self.scale = 1.0 / n if n else math.nan  # the mean of nothing is NaN (as PyTorch)
        out *= self.scale
        return out

    def backward(self, g: Tensor) -> Grads:
        return super().backward(g * self.scale)


class Prod(Function):
    """The product along axes. d/dx_i = product of the others: out / x_i where x_i != 0;
    at a single zero the product of the rest; 0 where two or more are zero."""

    save_inputs = True

    def forward(self, x: Array, axis: Dims, keepdims: bool) -> Array:
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        return self.xp.prod(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g: Tensor) -> Grads:
        x = self.inputs[0]
        zero = x == 0
        others = prod(where(zero, 1.0, x), self.axes, True)  # the product of the nonzeros
        zeros = sum(zero.float(), self.axes, True)
        grad = where(zeros == 0, others / where(zero, 1.0, x),
                     where(zero & (zeros == 1), others, 0.0))
        if not self.keepdims:
            g = reshape(g, _kept_shape(x.shape, self.axes))
        return g * grad


class Max(Function):
    """Max values along axes; the gradient is shared evenly among tied maxima, and a NaN
    (which is the max) takes it all, shared among the NaNs (as torch.max)."""

    save_inputs = True
    save_output = True

    def forward(self, x: Array, axis: Dims, keepdims: bool) -> Array:
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        if builtins.any(x.shape[a] == 0 for a in self.axes):
            raise ShapeError(f"max over an axis of size 0: shape {tuple(x.shape)}, "
                             f"axes {self.axes}")
        return self.xp.max(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g: Tensor) -> Grads:
        xp, x = self.xp, self.inputs[0].array
        kept = _kept_shape(x.shape, self.axes)
        out = xp.reshape(self.out, kept)
        mask = xp.astype((x == out) | (xp.isnan(x) & xp.isnan(out)), x.dtype)
        mask /= xp.sum(mask, axis=self.axes, keepdims=True)
        if not self.keepdims:
            g = reshape(g, kept)
        return g * _const(self, mask)


# ---- public functions: PyTorch's signatures, with axis=/keepdims= accepted as aliases ------
@public()
def sum(input: Tensor, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor:
    return Sum.apply(input, axis=_dim(dim, axis), keepdims=_keepdim(keepdim, keepdims))


@public()
def mean(input: Tensor, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    return Mean.apply(input, axis=_dim(dim, axis), keepdims=_keepdim(keepdim, keepdims))


@public()
def var(input: Tensor, dim: Dims | bool = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor:
    """Variance with Bessel's correction by default (correction=1), as PyTorch's."""
    dim, correction = _var_args(dim, unbiased, correction)
    return _var(input, _dim(dim, axis), _keepdim(keepdim, keepdims), correction, "var")


@public()
def std(input: Tensor, dim: Dims | bool = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor:
    """Standard deviation, correction=1 by default, as PyTorch's."""
    dim, correction = _var_args(dim, unbiased, correction)
    v = _var(input, _dim(dim, axis), _keepdim(keepdim, keepdims), correction, "std")
    # At v == 0, sqrt's gradient 1 / (2 sqrt(v)) = inf meets var's 0: NaN. PyTorch makes
    # std's gradient 0 there; so does rooting 1 instead and choosing 0 (no gradient flows).
    zero = v == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))


def _var_args(dim, unbiased, correction):
    """(dim, correction) from PyTorch's two spellings: var(x, unbiased) and
    var(x, dim, *, correction=...)."""
    if isinstance(dim, bool):  # var(x, False): the old positional `unbiased`
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise TypeError("pass unbiased= or correction=, not both")
        correction = 1 if unbiased else 0
    return dim, 1 if correction is None else correction


def _var(x, axis, keepdims, correction, who):
    """Sum of squared deviations / (n - correction). With no degrees of freedom left
    that is x / 0, NaN or inf, with PyTorch's warning."""
    n = math.prod(x.shape[a] for a in _axes(axis, x.ndim))
    dof = n - correction
    if dof <= 0 or x.numel() == 0:
        warnings.warn(f"{who}(): degrees of freedom is <= 0. Correction should be strictly "
                      f"less than the reduction factor (input numel divided by output numel)."
                      f" (shape {x.shape}, axis {axis}, correction {correction})",
                      UserWarning, stacklevel=3)
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) * (1.0 / dof if dof > 0 else math.inf)


class MaxResult(NamedTuple):
    """(values, indices) of max/min along a dim, as torch.return_types.max."""

    values: Tensor
    indices: Tensor


@overload
def max(input: Tensor, dim: None = None, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor: ...
@overload
def max(input: Tensor, dim: Tensor, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor: ...
@overload
def max(input: Tensor, dim: int, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> MaxResult: ...


@public()
def max(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *,
        axis: Dims = None, keepdims: bool | None = None) -> Tensor | MaxResult:
    """As torch.max: the largest value; with `dim`, the named tuple (values, indices);
    with a tensor as second argument, the elementwise maximum. `axis=` (the Array API's
    spelling) gives the values only, like amax."""
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    keep = _keepdim(keepdim, keepdims)
    if dim is None:
        return Max.apply(input, axis=axis, keepdims=keep)
    return MaxResult(Max.apply(input, axis=dim, keepdims=keep), argmax(input, dim, keep))


@overload
def min(input: Tensor, dim: None = None, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor: ...
@overload
def min(input: Tensor, dim: Tensor, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor: ...
@overload
def min(input: Tensor, dim: int, keepdim: bool = False, *, axis: Dims = None,
        keepdims: bool | None = None) -> MaxResult: ...


@public()
def min(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *,
        axis: Dims = None, keepdims: bool | None = None) -> Tensor | MaxResult:
    """As torch.min (see max)."""
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    keep = _keepdim(keepdim, keepdims)
    if dim is None:
        return -Max.apply(-input, axis=axis, keepdims=keep)
    return MaxResult(-Max.apply(-input, axis=dim, keepdims=keep), argmin(input, dim, keep))


@public()
def amax(input: Tensor, dim: Dims = (), keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    """The largest values over `dim` (all dims by default); no indices."""
    dim = _dim(None if dim == () else dim, axis)
    return Max.apply(input, axis=dim, keepdims=_keepdim(keepdim, keepdims))


@public()
def amin(input: Tensor, dim: Dims = (), keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    dim = _dim(None if dim == () else dim, axis)
    return -Max.apply(-input, axis=dim, keepdims=_keepdim(keepdim, keepdims))


@public()
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None, keepdims: bool | None = None) -> Tensor:
    """Index of the largest value (of the flattened tensor when dim is None)."""
    return _arg("argmax", input, _dim(dim, axis), _keepdim(keepdim, keepdims))


@public()
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None, keepdims: bool | None = None) -> Tensor:
    return _arg("argmin", input, _dim(dim, axis), _keepdim(keepdim, keepdims))


def _arg(name, x, dim, keep):
    if dim is None and x.ndim > 1:
        x, keep = x.reshape(-1), False
    return _const(x, getattr(x.backend.xp, name)(x.array, axis=dim, keepdims=keep))


@public()
def logsumexp(input: Tensor, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
              keepdims: bool | None = None) -> Tensor:
    x, axis, keepdims = input, _dim(dim, axis), _keepdim(keepdim, keepdims)
    xp, axes = x.backend.xp, _axes(axis, x.ndim)
    if x.numel():  # shift by the max, but by 0 where it is +-inf (inf - inf would be NaN)
        m = xp.max(x.array, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    else:  # nothing to sum: -inf, as PyTorch
        m = xp.zeros(_kept_shape(x.shape, axes), dtype=x.array.dtype,
                     device=x.backend.native_device)
    m = _const(x, m)
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else squeeze(out, axes)


@public()
def all(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Whether every element (along dim) is true: a bool tensor, outside the graph."""
    xp = input.backend.xp
    return _const(input, xp.all(xp.astype(input.array, xp.bool), axis=dim, keepdims=keepdim))


@public()
def any(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    xp = input.backend.xp
    return _const(input, xp.any(xp.astype(input.array, xp.bool), axis=dim, keepdims=keepdim))


@public()
def prod(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """The product of the elements (along dim). Its gradient is the product of the other
    elements, computed without dividing by zero."""
    return Prod.apply(input, axis=dim, keepdims=keepdim)


@public()
@on_device
def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of the elements in `bins` equal-width bins over [min, max] (the data's range
    when both are 0), on the device; elements outside are ignored (torch.histc)."""
    xp, x = input.backend.xp, input.array
    if min == max:
        min, max = _data_range(input)
        if min == max:
            min, max = min - 1, max + 1
    flat = xp.reshape(x, (-1,))
    width = (max - min) / bins
    which = xp.astype(xp.floor((flat - min) / width), xp.int64)
    which = xp.where(flat == max, bins - 1, which)  # the top edge belongs to the last bin
    inside = (flat >= min) & (flat <= max)
    hits = (which[:, None] == xp.arange(bins, device=input.backend.native_device)[None, :])
    counts = xp.sum(xp.astype(hits & inside[:, None], x.dtype), axis=0)
    return _const(input, counts)


def _data_range(x):
    """(min, max) of x's elements as Python floats: an explicit read from the device."""
    xp = x.backend.xp
    lo, hi = x.backend.to_numpy(xp.stack([xp.min(x.array), xp.max(x.array)]))
    return builtins.float(lo), builtins.float(hi)


class HistogramResult(NamedTuple):
    hist: Tensor
    bin_edges: Tensor


@public()
def histogram(input: Tensor, bins: int = 100, *, range: tuple[float, float] | None = None,
              weight: Tensor | None = None, density: bool = False) -> HistogramResult:
    """(hist, bin_edges) over `bins` equal bins of `range` (the data's range by default),
    as torch.histogram; density=True divides by the total count times the bin width."""
    if weight is not None:
        raise NotImplementedError("histogram: weight= is not supported; use histc")
    lo, hi = (0, 0) if range is None else range
    xp, b = input.backend.xp, input.backend
    if lo == hi:
        lo, hi = _data_range(input)
    hist = histc(input, bins, lo, hi)
    edges = xp.linspace(lo, hi, bins + 1, dtype=input.array.dtype, device=b.native_device)
    if density:
        hist = hist / (sum(hist) * ((hi - lo) / bins))
    return HistogramResult(hist, _const(input, edges))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import exp, log, maximum, minimum, sqrt, where  # noqa: E402
from .shape import broadcast_to, reshape, squeeze  # noqa: E402
