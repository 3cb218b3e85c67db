"""softmax and log_softmax along an axis, shifted by the maximum (no overflow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradkit.autograd import Function

from ._common import _dim, public

if TYPE_CHECKING:
    from gradkit._typing import Array, DTypeLike, Grads
    from gradkit.tensor import Tensor


def _shifted(xp, x, axis):
    """x minus its maximum along axis: exp of it cannot overflow."""
    return x - xp.max(x, axis=axis, keepdims=True)


class LogSoftmax(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array, axis: int) -> Array:
        xp = self.xp
        self.axis = axis
        if x.size == 0:  # nothing to normalise (max would refuse an axis of size 0)
            return xp.zeros_like(x)
        shifted = _shifted(xp, x, axis)
        shifted -= xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        return shifted

    def backward(self, g: Tensor) -> Grads:
        return g - exp(self.output) * sum(g, axis=self.axis, keepdims=True)


class Softmax(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array, axis: int) -> Array:
        xp = self.xp
        self.axis = axis
        if x.size == 0:  # nothing to normalise (max would refuse an axis of size 0)
            return xp.zeros_like(x)
        e = xp.exp(_shifted(xp, x, axis))
        e /= xp.sum(e, axis=axis, keepdims=True)
        return e

    def backward(self, g: Tensor) -> Grads:
        y = self.output
        return y * (g - sum(g * y, axis=self.axis, keepdims=True))


@public()
def log_softmax(input: Tensor, dim: int | None = None, dtype: DTypeLike | None = None, *,
                axis: int | None = None) -> Tensor:
    """Logarithm of the softmax along a dimension (the last by default), computed stably.

    Computed as ``x - max - log(sum(exp(x - max)))``, so large inputs do not overflow;
    more accurate than ``softmax(x).log()``. Pair it with ``nll_loss`` for a
    cross-entropy.

    Parameters
    ----------
    input : Tensor
        Floating-point input (an integer input is computed in the default float dtype).
    dim : int, optional
        The dimension to normalise over. Default: the last (``-1``); PyTorch warns and
        guesses when it is omitted.
    dtype : dtype, optional
        If given, `input` is converted to it first.
    axis : int, optional
        Array API spelling of `dim` (pass one or the other).

    Returns
    -------
    Tensor
        Same shape as `input`; ``exp`` of it sums to 1 along `dim`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.log_softmax` (same semantics; `dim` defaults to -1).
    The gradient is ``g - softmax(x) * g.sum(dim, keepdim=True)``.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[0.0, 0.0], [1.0, 1.0]])
    >>> gk.log_softmax(x, dim=1)
    tensor([[-0.6931, -0.6931],
            [-0.6931, -0.6931]])
    >>> x.log_softmax(dim=1).exp().sum(dim=1)
    tensor([1., 1.])
    """
    x = input if dtype is None else input.to(dtype=dtype)
    return LogSoftmax.apply(x, axis=_dim(dim, axis, -1))


@public()
def softmax(input: Tensor, dim: int | None = None, dtype: DTypeLike | None = None, *,
            axis: int | None = None) -> Tensor:
    """Softmax along a dimension (the last by default): ``exp(x) / exp(x).sum(dim)``.

    The input is shifted by its maximum along `dim` first, so large values do not
    overflow.

    Parameters
    ----------
    input : Tensor
        Floating-point input (an integer input is computed in the default float dtype).
    dim : int, optional
        The dimension to normalise over. Default: the last (``-1``).
    dtype : dtype, optional
        If given, `input` is converted to it first.
    axis : int, optional
        Array API spelling of `dim` (pass one or the other).

    Returns
    -------
    Tensor
        Same shape as `input`, non-negative, summing to 1 along `dim`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.softmax` (same semantics; `dim` defaults to -1).
    The gradient is ``y * (g - (g * y).sum(dim, keepdim=True))`` with ``y`` the output.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 1.0], [0.0, 1000.0]], requires_grad=True)
    >>> y = gk.softmax(x, dim=1)
    >>> y
    tensor([[0.5, 0.5],
            [0. , 1. ]], grad_fn=<SoftmaxBackward0>)
    >>> y[0, 0].backward()
    >>> x.grad
    tensor([[ 0.25, -0.25],
            [ 0.  ,  0.  ]])
    """
    x = input if dtype is None else input.to(dtype=dtype)
    return Softmax.apply(x, axis=_dim(dim, axis, -1))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import exp  # noqa: E402
from .reduce import sum  # noqa: E402
