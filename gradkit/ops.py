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
import numbers
import operator
import warnings

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


# ==== operands and type promotion ====================================================
def _operand(x, like: Tensor):
    """A Tensor or Python scalar as it is; a NumPy scalar as a Python scalar (weak, as in
    PyTorch); other data (lists, arrays) as a tensor on `like`'s device."""
    if isinstance(x, Tensor) or type(x) in _SCALARS:
        return x
    if isinstance(x, numbers.Number) or type(x).__name__ == "bool_":  # NumPy scalars
        return x.item() if hasattr(x, "item") else float(x)
    return tensor(x, device=like.backend)


def promoted(a, b):
    """(a, b) ready for an elementwise op, on PyTorch's result dtype (torch.result_type):
    scalars are weak, so float32 * 2.0 and float32 * np.float64(2) stay float32, and
    int64 + float32 is float32. Tensors are cast (differentiably); scalars stay."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.backend is not b.backend or a.array.dtype == b.array.dtype:
            return a, b  # (two devices: the op itself raises, naming both)
    else:
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            a = tensor(a)
        tensor_side, other = (a, b) if isinstance(a, Tensor) else (b, a)
        other = _operand(other, tensor_side)
        kind = type(other)
        if (kind is float or kind is int) and (tensor_side.backend.is_float(
                tensor_side.array.dtype) or (
                kind is int and tensor_side.dtype.kind in "iu")):
            return (tensor_side, other) if tensor_side is a else (other, tensor_side)
        a, b = (tensor_side, other) if tensor_side is a else (other, tensor_side)
    dtype = _dt.result_type(a, b)
    return _cast(a, dtype), _cast(b, dtype)


def _cast(x, dtype):
    """A tensor in `dtype`; a scalar as the Python type of dtype's kind (True + int64
    tensor adds 1: the standard takes a bool scalar only with bool arrays)."""
    if isinstance(x, Tensor):
        return x.astype(dtype)
    return {"b": bool, "i": int, "u": int, "f": float}[dtype.kind](x)


def binary(cls, a, b):
    """Apply the elementwise Function `cls` to two operands after type promotion."""
    t, other = (a, b) if isinstance(a, Tensor) else (b, a)
    kind = type(other)  # the common cases first: a float tensor with a Python number,
    if kind is float or kind is int:  # or two tensors of one dtype, need no promotion
        if t.array.dtype in t.backend.float_dtypes:
            return cls.apply(a, b)
    elif isinstance(other, Tensor) and other.backend is t.backend and (
            other.array.dtype is t.array.dtype or other.array.dtype == t.array.dtype):
        return cls.apply(a, b)
    return cls.apply(*promoted(a, b))


# ==== elementwise arithmetic ===========================================================
class Add(Function):
    broadcasts = True

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    broadcasts = True

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs[1] else None)


class Mul(Function):
    broadcasts = True
    save_inputs = ((1,), (0,))  # d/da reads b, d/db reads a

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)


class Div(Function):
    broadcasts = True
    needs_float = True  # true division: ints give the default float
    save_inputs = ((1,), (0, 1))

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
        if c == 0:  # x**0 is constant: 0 also at x == 0, where c * x**(c-1) is 0 * inf
            return g * 0.0, None
        return g * (2 * x) if c == 2 else g * (c * x ** (c - 1)), None


class Pow(Function):
    """a ** b where b is a tensor (a may be a Python number)."""

    broadcasts = True
    save_inputs = True
    save_output = True

    def forward(self, a, b):
        return a**b

    def backward(self, g):
        # At a == 0 the formulas give 0 * inf = NaN: d/da where b == 0 and d/db where
        # b >= 0. PyTorch (and the limits) give 0 there. Only there: masking all of b == 0
        # would make d/db of d/da wrong at a != 0.
        a, b = self.inputs
        ga = g * where((a == 0) & (b == 0), 0.0, b * a ** (b - 1)) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            if isinstance(a, Tensor):
                gb = g * where((a == 0) & (b >= 0), 0.0, self.output * log(a))
            elif a == 0:
                gb = g * where(b >= 0, 0.0, self.output * -math.inf)
            else:
                gb = g * (self.output * (math.log(a) if a > 0 else math.nan))
        return ga, gb


def pow(a, b):
    a, b = promoted(a, b)
    if isinstance(b, _SCALARS):
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


def square(x):
    return PowScalar.apply(x, 2)


# ==== elementwise functions ============================================================
class Exp(Function):
    needs_float = True
    save_output = True

    def forward(self, x):
        return self.xp.exp(x)

    def backward(self, g):
        return g * self.output


class Log(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x):
        return self.xp.log(x)

    def backward(self, g):
        return g / self.inputs[0]


class Log1p(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x):
        return self.xp.log1p(x)

    def backward(self, g):
        return g / (1 + self.inputs[0])


class Sqrt(Function):
    needs_float = True
    save_output = True

    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, g):
        return g / (2 * self.output)


class Tanh(Function):
    needs_float = True
    save_output = True

    def forward(self, x):
        return self.xp.tanh(x)

    def backward(self, g):
        return TanhGrad.apply(g, self.output)


class TanhGrad(Function):
    """g * (1 - y**2), tanh's backward as one node (it runs every training step)."""

    save_inputs = ((1,), (0, 1))

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
    needs_float = True
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

    save_inputs = ((1,), ())

    def forward(self, g, y):
        mask = self.xp.astype(y > 0, g.dtype)
        mask *= g
        return mask

    def backward(self, gg):
        y = self.inputs[1]  # piecewise linear: no curvature, so nothing flows to y
        return (ReluGrad.apply(gg, y) if self.needs[0] else None), None


class Abs(Function):
    save_inputs = True

    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, g):
        return g * _const(self, self.xp.sign(self.inputs[0].array))


class Erf(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x):
        return self.backend.erf(x)

    def backward(self, g):
        x = self.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * exp(-(x * x))


class Maximum(Function):
    """Elementwise max; at ties each side gets half the gradient (as PyTorch)."""

    broadcasts = True
    save_inputs = True

    def forward(self, a, b):
        return self.xp.maximum(a, b)

    def backward(self, g):
        return _choose(self, g, operator.gt)


class Minimum(Function):
    broadcasts = True
    save_inputs = True

    def forward(self, a, b):
        return self.xp.minimum(a, b)

    def backward(self, g):
        return _choose(self, g, operator.lt)


def _choose(fn, g, wins):
    """Gradients of max/min(a, b): to the winning side, split evenly at ties. Each side
    gets all of it unless it loses or ties, so a NaN passes it to both (as PyTorch)."""
    xp = fn.xp
    a, b = (x.array if isinstance(x, Tensor) else x for x in fn.inputs)
    dtype = g.array.dtype
    half_tie = 0.5 * xp.astype(a == b, dtype)
    ga = g * _const(fn, 1 - xp.astype(wins(b, a), dtype) - half_tie) if fn.needs[0] else None
    gb = g * _const(fn, 1 - xp.astype(wins(a, b), dtype) - half_tie) if fn.needs[1] else None
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

    broadcasts = True
    save_inputs = ((), (0,), (0,))  # both gradients read only the condition

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


# ==== shape ===========================================================================
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


# ==== linear algebra =======================================================================
class MatMul(Function):
    """a @ b, or with transpose_a / transpose_b: mT(a) @ b, a @ mT(b), ... (for >= 2-d).

    The transpose flags let backward (and Linear) multiply by a transposed matrix without
    a separate transpose node: BLAS reads the transposed layout directly.
    """

    broadcasts = True  # batch dimensions broadcast
    save_inputs = ((1,), (0,))

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
        a, b = self.inputs  # only what a needed gradient reads: a for gb, b for ga
        ta, tb = self.ta, self.tb
        if len(self.shapes[0]) == 1 or len(self.shapes[1]) == 1:
            return self._vector_backward(g, a, b)
        ga = gb = None
        if self.needs[0]:  # d(op(a)) = g @ op(b)^T, then undo op on a
            ga = matmul(b, g, tb, True) if ta else matmul(g, b, False, not tb)
        if self.needs[1]:  # d(op(b)) = op(a)^T @ g, then undo op on b
            gb = matmul(g, a, True, ta) if tb else matmul(a, g, not ta, False)
        return ga, gb

    def _vector_backward(self, g, a, b):
        """Vectors become matrices for the products, then lose that axis again."""
        a_vec, b_vec = len(self.shapes[0]) == 1, len(self.shapes[1]) == 1
        g2 = g
        if a_vec:
            g2 = expand_dims(g2, -1 if b_vec else -2)
        if b_vec:
            g2 = expand_dims(g2, -1)
        ga = gb = None
        if self.needs[0]:
            ga = matmul(g2, reshape(b, (-1, 1)) if b_vec else b, False, True)
            if a_vec:
                ga = squeeze(ga, -2)
        if self.needs[1]:
            gb = matmul(reshape(a, (1, -1)) if a_vec else a, g2, True, False)
            if b_vec:
                gb = squeeze(gb, -1)
        return ga, gb


class Linear(Function):
    """x @ weight.T + bias in one node: the layer every MLP repeats, kept lean."""

    save_inputs = ((1,), (0,), ())  # d/dx reads weight, d/dweight reads x

    def forward(self, x, w, b):
        if x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input of shape {tuple(x.shape)} does not fit a weight of "
                             f"shape {tuple(w.shape)} (in_features {w.shape[1]})")
        y = x @ w.mT
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w, _ = self.inputs  # the bias's gradient reads neither
        gx = matmul(g, w) if self.needs[0] else None
        gw = gb = None
        if self.needs[1]:
            g2 = g if g.ndim == 2 else reshape(g, (-1, g.shape[-1]))
            x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
            gw = matmul(g2, x2, True, False)
        if self.needs[2]:
            gb = sum(g, axis=0 if g.ndim == 2 else tuple(range(g.ndim - 1)))
        return gx, gw, gb


class MSELoss(Function):
    """mean((a - b)**2) (or the sum) in one node: the regression loss of every demo."""

    save_inputs = True

    def forward(self, a, b, reduction):
        d = a - b
        d *= d
        out = self.backend.sum(d, None, False)
        n = math.prod(d.shape) if reduction == "mean" else 1
        n = n or math.nan  # the mean of nothing is NaN (as PyTorch)
        self.scale = 2.0 / n
        return out / n if n != 1 else out

    def backward(self, g):
        a, b = self.inputs
        ga = MSEGrad.apply(g, a, b, scale=self.scale)
        return (ga if self.needs[0] else None), (-ga if self.needs[1] else None)


class MSEGrad(Function):
    """(a - b) * g * scale, MSELoss's backward as one node."""

    save_inputs = ((1, 2), (0,), (0,))

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
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is b.backend and \
            a.array.dtype is not b.array.dtype and a.array.dtype != b.array.dtype:
        raise TypeError(f"matmul: operands must have the same dtype, got {a.dtype} (shape "
                        f"{a.shape}) and {b.dtype} (shape {b.shape}); convert one with .to()")
    return MatMul.apply(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, one node of the graph (nn.Linear's forward). As PyTorch's,
    it refuses an input of another dtype than the weight instead of promoting."""
    dt = weight.array.dtype  # (identity first: NumPy's dtype == is slow)
    if (input.array.dtype is not dt and input.array.dtype != dt) or (
            bias is not None and bias.array.dtype is not dt and bias.array.dtype != dt):
        raise TypeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                        + (f" and bias ({bias.dtype})" if bias is not None else "")
                        + " must have the same dtype; convert the input with "
                        f".to({weight.dtype}) or the layer with .to(dtype=...)")
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
        # Ints, slices, None and Ellipsis select a view; integer arrays and masks copy.
        self.view = isinstance(index, tuple) and not any(hasattr(i, "dtype") for i in index)
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


class SetItem(Function):
    """x with x[index] replaced by v, out of place: what `x[index] = v` records in the
    graph (PyTorch's index_put). x's gradient is g with the written region zeroed; v's
    is g[index], summed down if v was broadcast into the region."""

    broadcasts = True

    def forward(self, x, v, index, advanced):
        self.index, self.advanced = index, advanced
        out = self.xp.asarray(x, copy=True)
        self.backend.setitem(out, index, v)
        return out

    def backward(self, g):
        gx = SetItem.apply(g, 0.0, index=self.index, advanced=self.advanced) \
            if self.needs[0] else None
        gv = GetItem.apply(g, index=self.index, advanced=self.advanced) \
            if self.needs[1] else None
        return gx, gv


def getitem(x, index):
    idx, advanced = _index(x, index)
    return GetItem.apply(x, index=idx, advanced=advanced)


def setitem_(x, index, value):
    """`x[index] = value`, in place (see Tensor._in_place): recorded as a SetItem node
    while x or value is part of the graph, a plain write otherwise. The value takes x's
    dtype, as PyTorch's."""
    idx, advanced = _index(x, index)
    if isinstance(value, Tensor):
        common_backend("setitem", (x.backend, value.backend))
        if value.array.dtype != x.array.dtype:
            value = value.astype(x.dtype)
    elif type(value) not in _SCALARS:
        value = tensor(value, dtype=x.dtype, device=x.backend)

    def write():
        x.backend.setitem(x.array, idx, value.array if isinstance(value, Tensor) else value)

    return x._in_place(value, "in-place setitem", write,
                       lambda old: SetItem.apply(old, value, index=idx, advanced=advanced))


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
    needs_float = True
    save_output = True

    def forward(self, x, axis):
        xp = self.xp
        self.axis = axis
        if x.size == 0:  # nothing to normalise (max would refuse an axis of size 0)
            return xp.zeros_like(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        shifted -= xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        return shifted

    def backward(self, g):
        return g - exp(self.output) * sum(g, axis=self.axis, keepdims=True)


class Softmax(Function):
    needs_float = True
    save_output = True

    def forward(self, x, axis):
        xp = self.xp
        self.axis = axis
        if x.size == 0:  # nothing to normalise (max would refuse an axis of size 0)
            return xp.zeros_like(x)
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


def maximum(a, b):
    return binary(Maximum, a, b)


def minimum(a, b):
    return binary(Minimum, a, b)


def clip(x, min=None, max=None):
    return Clip.apply(x, min, max)


def where(condition, a, b):
    a, b = promoted(a, b)
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
    a, b = promoted(a, b)
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
