"""Reductions: sum, mean, prod, max/min (with indices along a dim), amax/amin, var/std,
logsumexp, argmax/argmin, all/any, histc."""

from __future__ import annotations

import builtins
import math
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from gradkit.autograd import Function, ShapeError, on_device
from gradkit.tensor import Tensor

from ._common import _axes, _const, _dim, _keepdim, _kept_shape, public

if TYPE_CHECKING:

    from gradkit._typing import Array, Dims, Grads


def _count_bools(xp, x: Array) -> Array:
    """Bools and every integer dtype as int64, as torch.sum/prod give them (the Array API
    refuses bool sums, and NumPy would sum uint8 into uint64, which gradkit lacks)."""
    key = (xp, x.dtype)  # (xp first: dtypes of two libraries are never compared)
    cast = _AS_INT64.get(key)
    if cast is None:  # (isdtype costs microseconds: once per dtype)
        cast = _AS_INT64[key] = bool(xp.isdtype(x.dtype, "bool") or (
            xp.isdtype(x.dtype, "integral") and x.dtype != xp.int64))
    return xp.astype(x, xp.int64) if cast else x


_AS_INT64: dict[Any, bool] = {}  # (xp, dtype) -> whether sums cast it to int64 first


class Sum(Function):
    def forward(self, x: Array, axis: Dims, keepdims: bool) -> Array:
        self.in_shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return self.backend.sum(_count_bools(self.xp, x), self.axes, keepdims)

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
        return self.xp.prod(_count_bools(self.xp, x), axis=self.axes, keepdims=keepdims)

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
    """Sum of the elements, over all dimensions or along `dim`.

    Parameters
    ----------
    input : Tensor
        The tensor to sum.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1 (so the result broadcasts against
        `input`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim` (pass one spelling or the other).

    Returns
    -------
    Tensor
        The sums; 0-d when every dimension is reduced.

    Raises
    ------
    ShapeError
        If a dimension is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sum`, with the same semantics: bool and integer
    inputs sum to int64. The gradient broadcasts the incoming gradient back to `input`'s
    shape.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> x.sum()
    tensor(10., grad_fn=<SumBackward0>)
    >>> x.sum(dim=1)
    tensor([3., 7.], grad_fn=<SumBackward0>)
    >>> x.sum(dim=0, keepdim=True)
    tensor([[4., 6.]], grad_fn=<SumBackward0>)
    >>> x.sum().backward()
    >>> x.grad
    tensor([[1., 1.],
            [1., 1.]])
    """
    return Sum.apply(input, axis=_dim(dim, axis), keepdims=_keepdim(keepdim, keepdims))


@public()
def mean(input: Tensor, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    """Mean of the elements, over all dimensions or along `dim`.

    Parameters
    ----------
    input : Tensor
        A floating-point tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1 (so the result broadcasts against
        `input`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim` (pass one spelling or the other).

    Returns
    -------
    Tensor
        The means; the mean of no elements is NaN.

    Raises
    ------
    ShapeError
        If a dimension is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.mean` (same semantics). Each element's gradient is
    ``1 / n`` for ``n`` elements averaged.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> x.mean()
    tensor(2.5, grad_fn=<MeanBackward0>)
    >>> x.mean(dim=0)
    tensor([2., 3.], grad_fn=<MeanBackward0>)
    >>> x.mean().backward()
    >>> x.grad
    tensor([[0.25, 0.25],
            [0.25, 0.25]])
    """
    return Mean.apply(input, axis=_dim(dim, axis), keepdims=_keepdim(keepdim, keepdims))


@public()
def var(input: Tensor, dim: Dims | bool = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor:
    """Variance over all dimensions or along `dim`, with Bessel's correction by default.

    Computes ``sum((x - x.mean(dim))**2) / (n - correction)``.

    Parameters
    ----------
    input : Tensor
        A floating-point tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them. A bool here is the old
        positional `unbiased` (``x.var(False)``), as in PyTorch.
    unbiased : bool, optional
        Old spelling of the correction: True is ``correction=1``, False ``correction=0``.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1. Default: False.
    correction : float, optional
        Subtracted from the count of elements in the divisor. Default: 1.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        The variances. With ``n - correction <= 0`` the result is NaN or inf and a
        ``UserWarning`` is issued, as in PyTorch.

    Raises
    ------
    TypeError
        If both `unbiased` and `correction` are given.

    Notes
    -----
    PyTorch equivalent: :func:`torch.var` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 3.0, 4.0])
    >>> x.var()
    tensor(1.6666666)
    >>> x.var(correction=0)
    tensor(1.25)
    >>> gk.tensor([[1.0, 3.0], [2.0, 2.0]]).var(dim=1)
    tensor([2., 0.])
    """
    dim, correction = _var_args(dim, unbiased, correction)
    return _var(input, _dim(dim, axis), _keepdim(keepdim, keepdims), correction, "var")


@public()
def std(input: Tensor, dim: Dims | bool = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None, axis: Dims = None,
        keepdims: bool | None = None) -> Tensor:
    """Standard deviation over all dimensions or along `dim` (correction 1 by default).

    The square root of :func:`var`. Where the variance is 0 the gradient is 0 (not NaN),
    as in PyTorch.

    Parameters
    ----------
    input : Tensor
        A floating-point tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them. A bool here is the old
        positional `unbiased`.
    unbiased : bool, optional
        Old spelling of the correction: True is ``correction=1``, False ``correction=0``.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1. Default: False.
    correction : float, optional
        Subtracted from the count of elements in the divisor. Default: 1.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        The standard deviations.

    Raises
    ------
    TypeError
        If both `unbiased` and `correction` are given.

    Notes
    -----
    PyTorch equivalent: :func:`torch.std` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 3.0], [2.0, 2.0]], requires_grad=True)
    >>> s = x.std(dim=1, correction=0)
    >>> s
    tensor([1., 0.], grad_fn=<WhereBackward0>)
    >>> s.sum().backward()
    >>> x.grad
    tensor([[-0.5,  0.5],
            [ 0. ,  0. ]])
    """
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
    """Maximum: of all elements, or (values, indices) along `dim`, or elementwise with a tensor.

    - ``max(input)``: the largest element, a 0-d tensor.
    - ``max(input, dim, keepdim=False)``: a named tuple ``(values, indices)`` of the
      maxima along `dim` and their positions.
    - ``max(input, other)`` with a tensor `other`: the elementwise :func:`maximum`.

    Gradient: shared evenly among tied maxima; a NaN is the maximum and takes it.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or Tensor, optional
        The dimension to reduce, or a tensor to compare with elementwise.
    keepdim : bool, optional
        Keep the reduced dimension with size 1. Default: False.
    axis : int or tuple of int, optional
        Array API spelling: reduces like :func:`amax` and returns the values only.
    keepdims : bool, optional
        Array API spelling of `keepdim`.

    Returns
    -------
    Tensor or MaxResult
        A tensor, or with an int `dim` the named tuple ``(values, indices)``; the
        indices are int64 and outside the graph.

    Raises
    ------
    ShapeError
        If a reduced dimension has size 0.

    Notes
    -----
    PyTorch equivalent: :func:`torch.max` (same semantics; where values tie, the index
    returned is the first one).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 5.0], [4.0, 2.0]], requires_grad=True)
    >>> x.max()
    tensor(5., grad_fn=<MaxBackward0>)
    >>> values, indices = x.max(dim=1)
    >>> values
    tensor([5., 4.], grad_fn=<MaxBackward0>)
    >>> indices
    tensor([1, 0])
    >>> gk.max(x, gk.tensor([3.0, 3.0]))
    tensor([[3., 5.],
            [4., 3.]], grad_fn=<MaximumBackward0>)
    >>> y = gk.tensor([2.0, 2.0, 1.0], requires_grad=True)
    >>> y.max().backward()  # tied maxima share the gradient
    >>> y.grad
    tensor([0.5, 0.5, 0. ])
    """
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
    """Minimum: of all elements, or (values, indices) along `dim`, or elementwise with a tensor.

    The mirror of :func:`max`: ``min(input)``, ``min(input, dim, keepdim=False)`` (a named
    tuple ``(values, indices)``) or ``min(input, other)`` (the elementwise
    :func:`minimum`). The gradient is shared evenly among tied minima.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or Tensor, optional
        The dimension to reduce, or a tensor to compare with elementwise.
    keepdim : bool, optional
        Keep the reduced dimension with size 1. Default: False.
    axis : int or tuple of int, optional
        Array API spelling: reduces like :func:`amin` and returns the values only.
    keepdims : bool, optional
        Array API spelling of `keepdim`.

    Returns
    -------
    Tensor or MaxResult
        A tensor, or with an int `dim` the named tuple ``(values, indices)``.

    Raises
    ------
    ShapeError
        If a reduced dimension has size 0.

    Notes
    -----
    PyTorch equivalent: :func:`torch.min` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> x.min()
    tensor(1.)
    >>> x.min(dim=0)
    MaxResult(values=tensor([1., 2.]), indices=tensor([0, 1]))
    """
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    keep = _keepdim(keepdim, keepdims)
    if dim is None:
        return -Max.apply(-input, axis=axis, keepdims=keep)
    return MaxResult(-Max.apply(-input, axis=dim, keepdims=keep), argmin(input, dim, keep))


@public()
def amax(input: Tensor, dim: Dims = (), keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    """Largest values over `dim` (all dimensions by default), without indices.

    Unlike :func:`max` it accepts several dimensions and never returns indices. The
    gradient is shared evenly among tied maxima.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1 (so the result broadcasts against
        `input`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim` (pass one spelling or the other).

    Returns
    -------
    Tensor
        The maxima.

    Raises
    ------
    ShapeError
        If a reduced dimension has size 0 or is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.amax` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 3.0], [3.0, 2.0]], requires_grad=True)
    >>> x.amax(dim=1)
    tensor([3., 3.], grad_fn=<MaxBackward0>)
    >>> x.amax().backward()
    >>> x.grad
    tensor([[0. , 0.5],
            [0.5, 0. ]])
    """
    dim = _dim(None if dim == () else dim, axis)
    return Max.apply(input, axis=dim, keepdims=_keepdim(keepdim, keepdims))


@public()
def amin(input: Tensor, dim: Dims = (), keepdim: bool = False, *, axis: Dims = None,
         keepdims: bool | None = None) -> Tensor:
    """Smallest values over `dim` (all dimensions by default), without indices.

    The mirror of :func:`amax`; the gradient is shared evenly among tied minima.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1 (so the result broadcasts against
        `input`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim` (pass one spelling or the other).

    Returns
    -------
    Tensor
        The minima.

    Raises
    ------
    ShapeError
        If a reduced dimension has size 0 or is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.amin` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([[1.0, 3.0], [4.0, 2.0]]).amin(dim=0)
    tensor([1., 2.])
    """
    dim = _dim(None if dim == () else dim, axis)
    return -Max.apply(-input, axis=dim, keepdims=_keepdim(keepdim, keepdims))


@public()
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None, keepdims: bool | None = None) -> Tensor:
    """Index of the largest value, of the flattened tensor or along `dim`.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int, optional
        The dimension to reduce. Default: None, the index into the flattened tensor.
    keepdim : bool, optional
        Keep the reduced dimension with size 1 (only with `dim`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        int64 indices, outside the graph (no gradient).

    Notes
    -----
    PyTorch equivalent: :func:`torch.argmax` (same semantics; among ties the first index).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> x.argmax()
    tensor(1)
    >>> x.argmax(dim=1)
    tensor([1, 0])
    """
    return _arg("argmax", input, _dim(dim, axis), _keepdim(keepdim, keepdims))


@public()
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None, keepdims: bool | None = None) -> Tensor:
    """Index of the smallest value, of the flattened tensor or along `dim`.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int, optional
        The dimension to reduce. Default: None, the index into the flattened tensor.
    keepdim : bool, optional
        Keep the reduced dimension with size 1 (only with `dim`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        int64 indices, outside the graph (no gradient).

    Notes
    -----
    PyTorch equivalent: :func:`torch.argmin` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> x.argmin()
    tensor(0)
    >>> x.argmin(dim=0, keepdim=True)
    tensor([[0, 1]])
    """
    return _arg("argmin", input, _dim(dim, axis), _keepdim(keepdim, keepdims))


def _arg(name, x, dim, keep):
    if dim is None and x.ndim > 1:
        x, keep = x.reshape(-1), False
    return _const(x, getattr(x.backend.xp, name)(x.array, axis=dim, keepdims=keep))


@public()
def logsumexp(input: Tensor, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
              keepdims: bool | None = None) -> Tensor:
    """``log(sum(exp(input)))`` over all dimensions or along `dim`, computed stably.

    The input is shifted by its maximum (0 where that is infinite), so large values do
    not overflow. Its gradient is the softmax of `input` along `dim`.

    Parameters
    ----------
    input : Tensor
        A floating-point tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1 (so the result broadcasts against
        `input`). Default: False.
    axis, keepdims : optional
        Array API spellings of `dim` and `keepdim` (pass one spelling or the other).

    Returns
    -------
    Tensor
        The results; over no elements, ``-inf``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.logsumexp` (same semantics; PyTorch requires `dim`).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[0.0, 0.0], [100.0, 100.0]], requires_grad=True)
    >>> y = x.logsumexp(dim=1)  # exp(100) overflows float32; this does not
    >>> gk.allclose(y, gk.tensor([0.6931, 100.6931]), atol=1e-4)  # log(2), 100 + log(2)
    True
    >>> y.sum().backward()
    >>> x.grad
    tensor([[0.5, 0.5],
            [0.5, 0.5]])
    """
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
    """Whether every element (along `dim`) is true (nonzero).

    Parameters
    ----------
    input : Tensor
        The input tensor, of any dtype.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1. Default: False.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.all` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 0.0], [2.0, 3.0]])
    >>> x.all()
    tensor(False)
    >>> x.all(dim=1)
    tensor([False,  True])
    """
    xp = input.backend.xp
    return _const(input, xp.all(xp.astype(input.array, xp.bool), axis=dim, keepdims=keepdim))


@public()
def any(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Whether any element (along `dim`) is true (nonzero).

    Parameters
    ----------
    input : Tensor
        The input tensor, of any dtype.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1. Default: False.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.any` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 0.0], [0.0, 0.0]])
    >>> x.any()
    tensor(True)
    >>> x.any(dim=1)
    tensor([ True, False])
    """
    xp = input.backend.xp
    return _const(input, xp.any(xp.astype(input.array, xp.bool), axis=dim, keepdims=keepdim))


@public()
def prod(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Product of the elements, over all dimensions or along `dim`.

    Its gradient is the product of the other elements, computed without dividing by
    zero (so it is right where elements are 0).

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or tuple of int, optional
        The dimension(s) to reduce. Default: all of them.
    keepdim : bool, optional
        Keep the reduced dimensions with size 1. Default: False.

    Returns
    -------
    Tensor
        The products.

    Notes
    -----
    PyTorch equivalent: :func:`torch.prod` (same semantics; PyTorch's takes a single
    `dim`).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0], [0.0, 3.0]], requires_grad=True)
    >>> x.prod(dim=1)
    tensor([2., 0.], grad_fn=<ProdBackward0>)
    >>> x.prod(dim=1).sum().backward()
    >>> x.grad
    tensor([[2., 1.],
            [3., 0.]])
    """
    return Prod.apply(input, axis=dim, keepdims=keepdim)


@public()
@on_device
def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Histogram: counts of the elements in `bins` equal-width bins over [`min`, `max`].

    Elements outside the range are ignored; the top edge belongs to the last bin. When
    `min` equals `max` (both 0 by default), the data's own range is used (a read from the
    device), widened to ``[v - 1, v + 1]`` for a constant tensor, as torch.histc does.

    Parameters
    ----------
    input : Tensor
        The input tensor (flattened).
    bins : int, optional
        Number of bins. Default: 100.
    min, max : float, optional
        The range. Default: 0 and 0, the data's minimum and maximum.

    Returns
    -------
    Tensor
        1-d, `bins` counts in `input`'s dtype, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.histc` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 5.0])
    >>> gk.histc(x, bins=4, min=0, max=2)
    tensor([1., 1., 1., 2.])
    """
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


def _data_range(x, empty=(0.0, 0.0)):
    """(min, max) of x's elements as Python floats: an explicit read from the device;
    `empty` for a tensor without elements."""
    if x.numel() == 0:
        return empty
    xp = x.backend.xp
    lo, hi = x.backend.to_numpy(xp.stack([xp.min(x.array), xp.max(x.array)]))
    return builtins.float(lo), builtins.float(hi)


class HistogramResult(NamedTuple):
    hist: Tensor
    bin_edges: Tensor


@public()
def histogram(input: Tensor, bins: int = 100, *, range: tuple[float, float] | None = None,
              weight: Tensor | None = None, density: bool = False) -> HistogramResult:
    """Histogram with its bin edges: ``(hist, bin_edges)`` over `bins` equal-width bins.

    Parameters
    ----------
    input : Tensor
        The input tensor (flattened).
    bins : int, optional
        Number of bins. Default: 100.
    range : tuple of float, optional
        ``(min, max)`` of the bins. Default: the data's minimum and maximum. A range of
        width zero (``min == max``, or a constant tensor without `range`) is widened to
        ``(min - 0.5, max + 0.5)``, as torch.histogram and numpy.histogram do.
    weight : None
        Not supported (must be None).
    density : bool, optional
        Divide the counts by the total count times the bin width, so the histogram
        integrates to 1. Default: False.

    Returns
    -------
    HistogramResult
        Named tuple ``(hist, bin_edges)``: `bins` counts and ``bins + 1`` edges, outside
        the graph.

    Raises
    ------
    NotImplementedError
        If `weight` is given.

    Notes
    -----
    PyTorch equivalent: :func:`torch.histogram` (same semantics, without `weight`).

    Examples
    --------
    >>> import gradkit as gk
    >>> hist, edges = gk.histogram(gk.tensor([0.0, 1.0, 1.0, 3.0]), bins=2)
    >>> hist
    tensor([3., 1.])
    >>> edges
    tensor([0. , 1.5, 3. ])
    """
    if weight is not None:
        raise NotImplementedError("histogram: weight= is not supported; use histc")
    xp, b = input.backend.xp, input.backend
    # an empty tensor has no range: [0, 1], as torch.histogram and numpy.histogram
    lo, hi = _data_range(input, (0.0, 1.0)) if range is None else map(builtins.float, range)
    if lo == hi:  # no width: one unit around the value (PyTorch's and NumPy's histogram)
        lo, hi = lo - 0.5, hi + 0.5
    hist = histc(input, bins, lo, hi)
    edges = xp.linspace(lo, hi, bins + 1, dtype=input.array.dtype, device=b.native_device)
    if density:
        hist = hist / (sum(hist) * ((hi - lo) / bins))
    return HistogramResult(hist, _const(input, edges))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import exp, log, maximum, minimum, sqrt, where  # noqa: E402
from .shape import broadcast_to, reshape, squeeze  # noqa: E402
