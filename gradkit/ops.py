"""Every differentiable primitive, forward and backward side by side, and the composite
ops built from them.

Each primitive is a Function (see autograd.py): `forward` works on raw arrays through
`self.xp` (the Array API namespace of the inputs' Backend); `backward` receives the
output's gradient as a Tensor and returns one gradient per input, written with these
same ops so that it can be differentiated again. Broadcasting is undone by the engine.
"""

from __future__ import annotations

import builtins
import math
import operator

from . import dtypes as _dt
from .autograd import Function, ShapeError
from .backends import common_backend
from .tensor import Tensor, tensor

_SCALARS = (int, float, bool)


def _const(like: Tensor | Function, array) -> Tensor:
    """A constant (never requires grad) on the same backend."""
    return Tensor._make(array, like.backend)


def _axes(axis, ndim):
    """`axis` (None, int or sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        if 0 <= axis < ndim:
            return (axis,)
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % builtins.max(ndim, 1))
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    """`shape` with the reduced `axes` kept as size 1 (keepdims=True)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


# ==== elementwise arithmetic ===========================================================
class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs[1] else None)


class Mul(Function):
    save_inputs = True

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)


class Div(Function):
    save_inputs = True

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.inputs
        ga = g / b if self.needs[0] else None
        gb = -(g * a) / (b * b) if self.needs[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class PowScalar(Function):
    """x ** c for a Python number c."""

    save_inputs = True

    def forward(self, x, c):
        return x * x if c == 2 else x**c

    def backward(self, g):
        x, c = self.inputs
        return g * (2 * x) if c == 2 else g * (c * x ** (c - 1)), None


class Pow(Function):
    """a ** b where b is a tensor (a may be a Python number)."""

    save_inputs = True
    save_output = True

    def forward(self, a, b):
        return a**b

    def backward(self, g):
        a, b = self.inputs
        ga = g * b * a ** (b - 1) if self.needs[0] else None
        gb = g * self.output * (log(a) if isinstance(a, Tensor) else math.log(a)) \
            if self.needs[1] else None
        return ga, gb


def pow(a, b):
    if isinstance(b, _SCALARS):
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


def square(x):
    return PowScalar.apply(x, 2)


# ==== elementwise functions ============================================================
class Exp(Function):
    save_output = True

    def forward(self, x):
        return self.xp.exp(x)

    def backward(self, g):
        return g * self.output


class Log(Function):
    save_inputs = True

    def forward(self, x):
        return self.xp.log(x)

    def backward(self, g):
        return g / self.inputs[0]


class Log1p(Function):
    save_inputs = True

    def forward(self, x):
        return self.xp.log1p(x)

    def backward(self, g):
        return g / (1 + self.inputs[0])


class Sqrt(Function):
    save_output = True

    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, g):
        return g / (2 * self.output)


class Tanh(Function):
    save_output = True

    def forward(self, x):
        return self.xp.tanh(x)

    def backward(self, g):
        return TanhGrad.apply(g, self.output)


class TanhGrad(Function):
    """g * (1 - y**2), tanh's backward as one node (it runs every training step)."""

    save_inputs = True

    def forward(self, g, y):
        out = y * y  # one allocation, then in place: g * (1 - y*y)
        out *= -1
        out += 1
        out *= g
        return out

    def backward(self, gg):
        g, y = self.inputs
        return (TanhGrad.apply(gg, y) if self.needs[0] else None,
                -2 * gg * g * y if self.needs[1] else None)


class Sigmoid(Function):
    save_output = True

    def forward(self, x):
        # 0.5 * (1 + tanh(x / 2)) is the logistic function without overflow for any x.
        y = self.xp.tanh(x * 0.5)
        y += 1
        y *= 0.5
        return y

    def backward(self, g):
        y = self.output
        return g * (y * (1 - y))


class Relu(Function):
    save_output = True

    def forward(self, x):
        return self.xp.maximum(x, 0)

    def backward(self, g):
        return ReluGrad.apply(g, self.output)


class ReluGrad(Function):
    """g where relu's output is positive, else 0: relu's backward as one node.

    A multiply by the 0/1 mask, not `where`: NumPy's where branches per element and is
    ~10x slower on random signs.
    """

    save_inputs = True

    def forward(self, g, y):
        mask = self.xp.astype(y > 0, g.dtype)
        mask *= g
        return mask

    def backward(self, gg):
        return ReluGrad.apply(gg, self.inputs[1]), None  # piecewise linear: no curvature


class Abs(Function):
    save_inputs = True

    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, g):
        return g * _const(self, self.xp.sign(self.inputs[0].array))


class Erf(Function):
    save_inputs = True

    def forward(self, x):
        return self.backend.erf(x)

    def backward(self, g):
        x = self.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * exp(-(x * x))


class Maximum(Function):
    """Elementwise max; at ties each side gets half the gradient (as PyTorch)."""

    save_inputs = True

    def forward(self, a, b):
        return self.xp.maximum(a, b)

    def backward(self, g):
        return _choose(self, g, operator.gt)


class Minimum(Function):
    save_inputs = True

    def forward(self, a, b):
        return self.xp.minimum(a, b)

    def backward(self, g):
        return _choose(self, g, operator.lt)


def _choose(fn, g, wins):
    """Gradients of max/min(a, b): to the winning side, split evenly at ties."""
    xp = fn.xp
    a, b = (x.array if isinstance(x, Tensor) else x for x in fn.inputs)
    dtype = g.array.dtype
    share = xp.astype(wins(a, b), dtype) + 0.5 * xp.astype(a == b, dtype)
    ga = g * _const(fn, share) if fn.needs[0] else None
    gb = g * _const(fn, 1 - share) if fn.needs[1] else None
    return ga, gb


class Clip(Function):
    save_inputs = True

    def forward(self, x, lo, hi):
        return self.xp.clip(x, lo, hi)

    def backward(self, g):
        x, lo, hi = self.inputs
        inside = self.xp.ones_like(x.array, dtype=self.xp.bool)
        if lo is not None:
            inside = inside & (x.array >= lo)
        if hi is not None:
            inside = inside & (x.array <= hi)
        return g * _const(self, self.xp.astype(inside, g.array.dtype)), None, None


class Where(Function):
    """where(cond, a, b); cond is a constant boolean tensor."""

    save_inputs = True

    def forward(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def backward(self, g):
        cond = self.inputs[0]
        zero = _const(self, self.xp.zeros_like(g.array))
        ga = Where.apply(cond, g, zero) if self.needs[1] else None
        gb = Where.apply(cond, zero, g) if self.needs[2] else None
        return None, ga, gb


# ==== reductions =========================================================================
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
        self.scale = 1.0 / math.prod(x.shape[a] for a in self.axes)
        out *= self.scale
        return out

    def backward(self, g):
        return super().backward(g * self.scale)


class Max(Function):
    """Max values along axes; the gradient is shared evenly among tied maxima."""

    save_inputs = True
    save_output = True

    def forward(self, x, axis, keepdims):
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        if 0 in x.shape:
            raise ShapeError(f"max of an empty tensor of shape {tuple(x.shape)}")
        return self.xp.max(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        xp, x = self.xp, self.inputs[0].array
        kept = _kept_shape(x.shape, self.axes)
        out = xp.reshape(self.out, kept)
        mask = xp.astype(x == out, x.dtype)
        mask /= xp.sum(mask, axis=self.axes, keepdims=True)
        if not self.keepdims:
            g = reshape(g, kept)
        return g * _const(self, mask)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, correction=0):
    n = math.prod(x.shape[a] for a in _axes(axis, x.ndim))
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) * (1.0 / builtins.max(n - correction, 0))


def std(x, axis=None, keepdims=False, correction=0):
    return sqrt(var(x, axis=axis, keepdims=keepdims, correction=correction))


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return -Max.apply(-x, axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    return _const(x, x.backend.xp.argmax(x.array, axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False):
    return _const(x, x.backend.xp.argmin(x.array, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    m = Max.apply(x, axis=axis, keepdims=True).detach()
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else squeeze(out, _axes(axis, x.ndim))


# ==== shape ===========================================================================
class Reshape(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        return self.xp.reshape(x, shape)

    def backward(self, g):
        return reshape(g, self.in_shape)


class PermuteDims(Function):
    def forward(self, x, axes):
        self.axes = axes
        return self.xp.permute_dims(x, axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return permute_dims(g, tuple(inverse))


class BroadcastTo(Function):
    def forward(self, x, shape):
        return self.xp.broadcast_to(x, shape)

    def backward(self, g):
        return g  # the engine sums it back down to the input's shape


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
    return Concat.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return concat([expand_dims(t, axis) for t in tensors], axis=axis)


# ==== linear algebra =======================================================================
class MatMul(Function):
    """a @ b, or with transpose_a / transpose_b: mT(a) @ b, a @ mT(b), ... (for >= 2-d).

    The transpose flags let backward (and Linear) multiply by a transposed matrix without
    a separate transpose node: BLAS reads the transposed layout directly.
    """

    save_inputs = True

    def forward(self, a, b, transpose_a=False, transpose_b=False):
        self.ta, self.tb = transpose_a, transpose_b
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul needs at least 1-d operands, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        if transpose_a:
            a = a.mT
        if transpose_b:
            b = b.mT
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             "fit (inner dimensions differ)")
        return a @ b

    def backward(self, g):
        a, b = self.inputs
        ta, tb = self.ta, self.tb
        if a.ndim == 1 or b.ndim == 1:
            return self._vector_backward(g, a, b)
        ga = gb = None
        if self.needs[0]:  # d(op(a)) = g @ op(b)^T, then undo op on a
            ga = matmul(b, g, tb, True) if ta else matmul(g, b, False, not tb)
        if self.needs[1]:  # d(op(b)) = op(a)^T @ g, then undo op on b
            gb = matmul(g, a, True, ta) if tb else matmul(a, g, not ta, False)
        return ga, gb

    def _vector_backward(self, g, a, b):
        """Vectors become matrices for the products, then lose that axis again."""
        a2 = a if a.ndim > 1 else reshape(a, (1, -1))
        b2 = b if b.ndim > 1 else reshape(b, (-1, 1))
        g2 = g
        if a.ndim == 1:
            g2 = expand_dims(g2, -1 if b.ndim == 1 else -2)
        if b.ndim == 1:
            g2 = expand_dims(g2, -1)
        ga = gb = None
        if self.needs[0]:
            ga = matmul(g2, b2, False, True)
            if a.ndim == 1:
                ga = squeeze(ga, -2)
        if self.needs[1]:
            gb = matmul(a2, g2, True, False)
            if b.ndim == 1:
                gb = squeeze(gb, -1)
        return ga, gb


class Linear(Function):
    """x @ weight.T + bias in one node: the layer every MLP repeats, kept lean."""

    save_inputs = True

    def forward(self, x, w, b):
        if x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input of shape {tuple(x.shape)} does not fit a weight of "
                             f"shape {tuple(w.shape)} (in_features {w.shape[1]})")
        y = x @ w.mT
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w, b = self.inputs
        gx = matmul(g, w) if self.needs[0] else None
        gw = gb = None
        if self.needs[1]:
            g2 = g if g.ndim == 2 else reshape(g, (-1, g.shape[-1]))
            x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
            gw = matmul(g2, x2, True, False)
        if b is not None and self.needs[2]:
            gb = sum(g, axis=0 if g.ndim == 2 else tuple(range(g.ndim - 1)))
        return gx, gw, gb


class MSELoss(Function):
    """mean((a - b)**2) (or the sum) in one node: the regression loss of every demo."""

    save_inputs = True

    def forward(self, a, b, reduction):
        d = a - b
        d *= d
        out = self.backend.sum(d, None, False)
        n = builtins.max(math.prod(d.shape), 1) if reduction == "mean" else 1
        self.scale = 2.0 / n
        return out / n if n != 1 else out

    def backward(self, g):
        a, b = self.inputs
        ga = MSEGrad.apply(g, a, b, scale=self.scale)
        return (ga if self.needs[0] else None), (-ga if self.needs[1] else None)


class MSEGrad(Function):
    """(a - b) * g * scale, MSELoss's backward as one node."""

    save_inputs = True

    def forward(self, g, a, b, scale):
        self.scale = scale
        d = a - b
        d *= g * scale
        return d

    def backward(self, gg):
        g, a, b = self.inputs
        s = self.scale
        gd = gg * (g * s)  # d/da; d/db is its negative
        gg_g = sum(gg * (a - b)) * s if self.needs[0] else None
        return gg_g, (gd if self.needs[1] else None), (-gd if self.needs[2] else None)


def matmul(a, b, transpose_a=False, transpose_b=False):
    return MatMul.apply(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, one node of the graph (nn.Linear's forward)."""
    return Linear.apply(input, weight, bias)


# ==== indexing ===========================================================================
def _index(x: Tensor, index):
    """An index for x's array: Tensors/lists become arrays on x's backend, and a tuple
    without Ellipsis gets a trailing one (the standard wants every axis addressed).
    Returns (index, advanced) where advanced says integer arrays are involved.

    Integer arrays may be negative (from the end, as NumPy's and PyTorch's). In debug
    mode their bounds are checked here on every backend; otherwise NumPy raises by
    itself and a GPU's indexing wraps (see docs/architecture.md).
    """
    items = index if isinstance(index, tuple) else (index,)
    out, masks, advanced = [], set(), False
    for item in items:
        if isinstance(item, Tensor):
            if item.backend is not x.backend:
                item = item.to(x.backend)
            kind = item.dtype.kind
            item = item.array
        elif isinstance(item, (list,)) or type(item).__module__.startswith("numpy"):
            host = tensor(item, device=x.backend)
            kind, item = host.dtype.kind, host.array
        elif item is None or item is Ellipsis or isinstance(item, (int, slice)):
            out.append(item)
            continue
        else:
            raise IndexError(f"unsupported index {item!r} of type {type(item).__name__}; use "
                             "ints, slices, None, Ellipsis, integer or boolean arrays")
        if kind == "b":
            masks.add(len(out))
        elif kind in "iu":
            advanced = True
        else:
            raise IndexError(f"index arrays must be integer or bool, not {kind!r}")
        out.append(item)
    if masks and len(out) == 1:
        return out[0], False
    if not any(item is Ellipsis for item in out):
        out.append(Ellipsis)
    if any(isinstance(item, slice) for item in out):
        _clamp_slices(out, x.shape, masks)
    if advanced:
        from .debug import check_index_bounds, is_debug

        if is_debug():
            for k, axis in _axes_addressed(out, len(x.shape), masks).items():
                if hasattr(out[k], "dtype") and k not in masks:
                    n = x.shape[axis]
                    check_index_bounds(x.backend, out[k], -n, n, "getitem: indices",
                                       f"axis {axis} of size {n}")
    return tuple(out), advanced


def _axes_addressed(items, ndim, masks):
    """{k: the first axis of x that items[k] addresses}, for every item but the Ellipsis
    (which must be among the items). A boolean mask (its position in `masks`) addresses
    as many axes as it has, None none, anything else one."""
    def width(k):
        return 0 if items[k] is None else items[k].ndim if k in masks else 1

    cut = next(k for k, item in enumerate(items) if item is Ellipsis)
    positions, axis = {}, 0
    for k in range(cut):  # before the Ellipsis, axes count from the left
        positions[k] = axis
        axis += width(k)
    axis = ndim
    for k in range(len(items) - 1, cut, -1):  # after it, from the right
        axis -= width(k)
        positions[k] = axis
    return positions


def _clamp_slices(items, shape, masks):
    """Clamp slice bounds into the axis, in place, as NumPy does (the standard leaves
    out-of-range bounds unspecified, and array-api-strict refuses them)."""
    for k, axis in _axes_addressed(items, len(shape), masks).items():
        item = items[k]
        if isinstance(item, slice) and (item.step or 1) > 0 and 0 <= axis < len(shape):
            n = shape[axis]
            start, stop = item.start, item.stop
            if start is not None and not -n <= start <= n:
                start = n if start > 0 else None
            if stop is not None and not -n <= stop <= n:
                stop = n if stop > 0 else 0
            items[k] = slice(start, stop, item.step)


class GetItem(Function):
    def forward(self, x, index, advanced):
        self.in_shape, self.index, self.advanced = x.shape, index, advanced
        return self.backend.getitem(x, index) if advanced else x[index]

    def backward(self, g):
        return ScatterAdd.apply(g, shape=self.in_shape, index=self.index,
                                advanced=self.advanced)


class ScatterAdd(Function):
    """zeros(shape) with `values` added at `index`: the gradient of x[index].

    Repeated integer indices accumulate (the backend's scatter-add); slices, ints and
    boolean masks address each element once, so a plain assignment does.
    """

    def forward(self, values, shape, index, advanced):
        self.index, self.advanced = index, advanced
        if advanced:
            return self.backend.scatter_add(shape, index, values)
        out = self.xp.zeros(shape, dtype=values.dtype, device=self.backend.native_device)
        if isinstance(index, tuple) and any(i is None for i in index):
            # The standard's setitem takes no new axes (None): drop them from both sides.
            index = tuple(i for i in index if i is not None)
            values = self.xp.reshape(values, out[index].shape)
        out[index] = values
        return out

    def backward(self, g):
        return GetItem.apply(g, index=self.index, advanced=self.advanced)


def getitem(x, index):
    idx, advanced = _index(x, index)
    return GetItem.apply(x, index=idx, advanced=advanced)


def setitem_(x, index, value):
    """In-place assignment; only for tensors outside the graph (data preparation)."""
    from .autograd import is_grad_enabled

    if x.requires_grad and is_grad_enabled():
        raise RuntimeError("in-place assignment to a tensor that requires grad would corrupt "
                           "the graph; build a new tensor (gk.where, gk.concat) or use no_grad")
    idx, _ = _index(x, index)
    v = value.array if isinstance(value, Tensor) else value
    if not isinstance(v, _SCALARS) and not x.backend.owns(v):
        v = tensor(v, dtype=x.dtype, device=x.backend).array
    x.array[idx] = v


# ==== dtype and device =======================================================================
class AsType(Function):
    def forward(self, x, dtype):
        self.in_dtype = self.backend.dtype_name(x.dtype)
        return self.xp.astype(x, self.backend.dtypes[dtype.name])

    def backward(self, g):
        return g.astype(self.in_dtype)


class ToDevice(Function):
    def forward(self, x, backend):
        self.src = self.backend
        return backend.transfer(x, self.backend)

    def backward(self, g):
        return g.to(self.src)

    @classmethod
    def apply(cls, x, backend):
        out = super().apply(x, backend=backend)
        out.backend = backend  # the result lives on the target device
        if out._node is not None:
            out._node.backend, out._node.xp = backend, backend.xp
        return out


# ==== softmax family ===================================================================
class LogSoftmax(Function):
    save_output = True

    def forward(self, x, axis):
        xp = self.xp
        self.axis = axis
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        shifted -= xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        return shifted

    def backward(self, g):
        return g - exp(self.output) * sum(g, axis=self.axis, keepdims=True)


class Softmax(Function):
    save_output = True

    def forward(self, x, axis):
        xp = self.xp
        self.axis = axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        e /= xp.sum(e, axis=axis, keepdims=True)
        return e

    def backward(self, g):
        y = self.output
        return y * (g - sum(g * y, axis=self.axis, keepdims=True))


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis=axis)


def softmax(x, axis=-1):
    return Softmax.apply(x, axis=axis)


# ==== functional names for the elementwise ops ====
def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def log1p(x):
    return Log1p.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return Relu.apply(x)


def abs(x):
    return Abs.apply(x)


def erf(x):
    return Erf.apply(x)


def _pair(a, b):
    """Two operands of a binary function, at least one a Tensor."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = tensor(a)
    if not isinstance(a, (Tensor, *_SCALARS)):
        a = tensor(a, device=b.backend)
    if not isinstance(b, (Tensor, *_SCALARS)):
        b = tensor(b, device=a.backend)
    return a, b


def maximum(a, b):
    return Maximum.apply(*_pair(a, b))


def minimum(a, b):
    return Minimum.apply(*_pair(a, b))


def clip(x, min=None, max=None):
    return Clip.apply(x, min, max)


def where(condition, a, b):
    a, b = _pair(a, b)
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(condition, Tensor):
        condition = tensor(condition, device=ref.backend)
    if condition.dtype != _dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, not {condition.dtype}")
    return Where.apply(condition, a, b)


_COMPARE = {"less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
            "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
            "logical_and": operator.and_, "logical_or": operator.or_}


def compare(name, a, b):
    """A comparison or logical op: a bool tensor, outside the graph."""
    a, b = _pair(a, b)
    ref = a if isinstance(a, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        common_backend(name, (a.backend, b.backend))
    try:
        out = _COMPARE[name](a.array if isinstance(a, Tensor) else a,
                             b.array if isinstance(b, Tensor) else b)
    except ValueError as e:
        raise ShapeError(f"{name}: {e} (shapes {getattr(a, 'shape', ())} and "
                         f"{getattr(b, 'shape', ())})") from e
    return _const(ref, out)


def logical_not(x):
    return _const(x, x.backend.xp.logical_not(x.array))
