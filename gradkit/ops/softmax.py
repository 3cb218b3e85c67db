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
    """log(softmax(x)) along `dim` (the last by default), computed stably."""
    x = input if dtype is None else input.to(dtype=dtype)
    return LogSoftmax.apply(x, axis=_dim(dim, axis, -1))


@public()
def softmax(input: Tensor, dim: int | None = None, dtype: DTypeLike | None = None, *,
            axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim` (the last by default)."""
    x = input if dtype is None else input.to(dtype=dtype)
    return Softmax.apply(x, axis=_dim(dim, axis, -1))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import exp  # noqa: E402
from .reduce import sum  # noqa: E402
