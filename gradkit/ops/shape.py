"""Shape ops: reshape/view, permutations, broadcasting and its gradient (sum_to),
squeeze/unsqueeze, concatenation and stacking. Reshape, permutations and broadcasting
return views of their input (they share its storage and version counter)."""

from __future__ import annotations

import builtins
import math

from gradkit import dtypes as _dt
from gradkit.autograd import Function, ShapeError

from ._common import _axes


class Reshape(Function):
    view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return self.xp.reshape(x, shape)

    def backward(self, g):
        return reshape(g, self.in_shape)


class PermuteDims(Function):
    view = True

    def forward(self, x, axes):
        self.axes = axes
        return self.xp.permute_dims(x, axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return permute_dims(g, tuple(inverse))


class BroadcastTo(Function):
    view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return self.xp.broadcast_to(x, shape)

    def backward(self, g):
        return sum_to(g, self.in_shape)


class SumTo(Function):
    """Sum a broadcast array back down to `shape`: the gradient of broadcasting."""

    def forward(self, x, shape):
        self.in_shape = x.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
        y = self.xp.sum(x, axis=axes, keepdims=True) if axes else x
        return self.xp.reshape(y, shape)

    def backward(self, g):
        return broadcast_to(g, self.in_shape)


class Concat(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concat(arrays, axis=axis)

    def backward(self, g):
        grads, start = [], 0
        axis = self.axis % g.ndim
        for size, need in zip(self.sizes, self.needs):
            index = (slice(None),) * axis + (slice(start, start + size),)
            grads.append(getitem(g, index) if need else None)
            start += size
        return tuple(grads)


def reshape(x, shape):
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    if -1 in shape and x.size == 0:
        raise ShapeError(f"cannot reshape an empty tensor of shape {x.shape} to {shape}")
    known = math.prod(s for s in shape if s != -1)
    if (-1 not in shape and known != x.size) or (-1 in shape and (known == 0 or x.size % known)):
        raise ShapeError(f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                         f"to {shape}")
    return Reshape.apply(x, shape=shape)


def permute_dims(x, axes):
    axes = tuple(a % builtins.max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"permute_dims: axes {axes} are not a permutation of a tensor of "
                         f"{x.ndim} dimensions (shape {x.shape})")
    return PermuteDims.apply(x, axes=axes)


def transpose(x, axes=None):
    return x.transpose(*(axes or ()))


def matrix_transpose(x):
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose needs at least 2 dimensions, not shape {x.shape}")
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return PermuteDims.apply(x, axes=tuple(axes))


def broadcast_to(x, shape):
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return BroadcastTo.apply(x, shape=shape)


def sum_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else SumTo.apply(x, shape=shape)


def expand_dims(x, axis):
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None):
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        axes = _axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]} (shape {x.shape})")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


def concat(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat needs at least one tensor")
    ref = tensors[0].shape
    ax = axis % builtins.max(len(ref), 1)
    for t in tensors[1:]:
        if len(t.shape) != len(ref) or any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ShapeError(f"concat along axis {axis}: shapes {ref} and {t.shape} differ "
                             "outside that axis")
    dtype = _dt.result_type(*tensors)
    return Concat.apply(*(t.astype(dtype) for t in tensors), axis=axis)


def stack(tensors, axis=0):
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return concat([expand_dims(t, axis) for t in tensors], axis=axis)


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .index import getitem  # noqa: E402
