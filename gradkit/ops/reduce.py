"""Reductions: sum, mean, max/min (values), var/std, logsumexp, argmax/argmin."""

from __future__ import annotations

import math
import warnings

from gradkit.autograd import Function, ShapeError

from ._common import _axes, _const, _kept_shape


class Sum(Function):
    def forward(self, x, axis, keepdims):
        self.in_shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return self.backend.sum(x, self.axes, keepdims)

    def backward(self, g):
        if not self.keepdims and self.axes != tuple(range(len(self.axes))):
            g = reshape(g, _kept_shape(self.in_shape, self.axes))  # re-align with the input
        return broadcast_to(g, self.in_shape)


class Mean(Sum):
    def forward(self, x, axis, keepdims):
        out = super().forward(x, axis, keepdims)
        n = math.prod(x.shape[a] for a in self.axes)
        self.scale = 1.0 / n if n else math.nan  # the mean of nothing is NaN (as PyTorch)
        out *= self.scale
        return out

    def backward(self, g):
        return super().backward(g * self.scale)


class Max(Function):
    """Max values along axes; the gradient is shared evenly among tied maxima, and a NaN
    (which is the max) takes it all, shared among the NaNs (as torch.max)."""

    save_inputs = True
    save_output = True

    def forward(self, x, axis, keepdims):
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        if any(x.shape[a] == 0 for a in self.axes):
            raise ShapeError(f"max over an axis of size 0: shape {tuple(x.shape)}, "
                             f"axes {self.axes}")
        return self.xp.max(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        xp, x = self.xp, self.inputs[0].array
        kept = _kept_shape(x.shape, self.axes)
        out = xp.reshape(self.out, kept)
        mask = xp.astype((x == out) | (xp.isnan(x) & xp.isnan(out)), x.dtype)
        mask /= xp.sum(mask, axis=self.axes, keepdims=True)
        if not self.keepdims:
            g = reshape(g, kept)
        return g * _const(self, mask)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, correction=0):
    return _var(x, axis, keepdims, correction, "var")


def _var(x, axis, keepdims, correction, who):
    """Sum of squared deviations / (n - correction). With no degrees of freedom left
    that is x / 0, NaN or inf, with PyTorch's warning."""
    n = math.prod(x.shape[a] for a in _axes(axis, x.ndim))
    dof = n - correction
    if dof <= 0 or x.size == 0:
        warnings.warn(f"{who}(): degrees of freedom is <= 0. Correction should be strictly "
                      f"less than the reduction factor (input numel divided by output numel)."
                      f" (shape {x.shape}, axis {axis}, correction {correction})",
                      UserWarning, stacklevel=3)
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) * (1.0 / dof if dof > 0 else math.inf)


def std(x, axis=None, keepdims=False, correction=0):
    v = _var(x, axis, keepdims, correction, "std")
    # At v == 0, sqrt's gradient 1 / (2 sqrt(v)) = inf meets var's 0: NaN. PyTorch makes
    # std's gradient 0 there; so does rooting 1 instead and choosing 0 (no gradient flows).
    zero = v == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return -Max.apply(-x, axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    return _const(x, x.backend.xp.argmax(x.array, axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False):
    return _const(x, x.backend.xp.argmin(x.array, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    xp, axes = x.backend.xp, _axes(axis, x.ndim)
    if x.size:  # shift by the max, but by 0 where it is +-inf (inf - inf would be NaN)
        m = xp.max(x.array, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    else:  # nothing to sum: -inf, as PyTorch
        m = xp.zeros(_kept_shape(x.shape, axes), dtype=x.array.dtype,
                     device=x.backend.native_device)
    m = _const(x, m)
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else squeeze(out, _axes(axis, x.ndim))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import exp, log, sqrt, where  # noqa: E402
from .shape import broadcast_to, reshape, squeeze  # noqa: E402
