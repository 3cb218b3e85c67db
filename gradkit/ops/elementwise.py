"""Elementwise ops: arithmetic, functions (exp, tanh, ...), max/min of two tensors, clip,
where and comparisons. Binary ops broadcast (the engine sums their gradients down)."""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any

from gradkit import dtypes as _dt
from gradkit.autograd import Function, ShapeError, on_device
from gradkit.backends import common_backend
from gradkit.tensor import Tensor, tensor

from ._common import _SCALARS, _const, binary, promoted, public

if TYPE_CHECKING:

    from gradkit._typing import Array, Grads, TensorOrScalar


class Add(Function):
    broadcasts = True

    def forward(self, a: Array, b: Array) -> Array:
        return a + b

    def backward(self, g: Tensor) -> Grads:
        return g, g


class Sub(Function):
    broadcasts = True

    def forward(self, a: Array, b: Array) -> Array:
        return a - b

    def backward(self, g: Tensor) -> Grads:
        return g, (-g if self.needs[1] else None)


class Mul(Function):
    broadcasts = True
    save_inputs = ((1,), (0,))  # d/da reads b, d/db reads a

    def forward(self, a: Array, b: Array) -> Array:
        return a * b

    def backward(self, g: Tensor) -> Grads:
        a, b = self.inputs
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)


class Div(Function):
    broadcasts = True
    needs_float = True  # true division: ints give the default float
    save_inputs = ((1,), (0, 1))

    def forward(self, a: Array, b: Array) -> Array:
        return a / b

    def backward(self, g: Tensor) -> Grads:
        a, b = self.inputs
        ga = g / b if self.needs[0] else None
        gb = -(g * a) / (b * b) if self.needs[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a: Array) -> Array:
        return -a

    def backward(self, g: Tensor) -> Grads:
        return -g


class PowScalar(Function):
    """x ** c for a Python number c."""

    save_inputs = True

    def forward(self, x: Array, c: Any) -> Array:
        return x * x if c == 2 else x**c

    def backward(self, g: Tensor) -> Grads:
        x, c = self.inputs
        if c == 0:  # x**0 is constant: 0 also at x == 0, where c * x**(c-1) is 0 * inf
            return g * 0.0, None
        return g * (2 * x) if c == 2 else g * (c * x ** (c - 1)), None


class Pow(Function):
    """a ** b where b is a tensor (a may be a Python number)."""

    broadcasts = True
    save_inputs = True
    save_output = True

    def forward(self, a: Array, b: Array) -> Array:
        return a**b

    def backward(self, g: Tensor) -> Grads:
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


@public()
def pow(input: TensorOrScalar, exponent: TensorOrScalar) -> Tensor:
    a, b = promoted(input, exponent)
    if isinstance(b, _SCALARS):
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


@public()
def square(input: Tensor) -> Tensor:
    return PowScalar.apply(input, 2)


@public()
def add(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    return binary(Add, input, other if alpha == 1 else other * alpha)


@public("sub", "subtract")
def sub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    return binary(Sub, input, other if alpha == 1 else other * alpha)


@public("mul", "multiply")
def mul(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    return binary(Mul, input, other)


@public("div", "divide", "true_divide")
def div(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    return binary(Div, input, other)


# ==== elementwise functions ============================================================
class Exp(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array) -> Array:
        return self.xp.exp(x)

    def backward(self, g: Tensor) -> Grads:
        return g * self.output


class Log(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.xp.log(x)

    def backward(self, g: Tensor) -> Grads:
        return g / self.inputs[0]


class Log1p(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.xp.log1p(x)

    def backward(self, g: Tensor) -> Grads:
        return g / (1 + self.inputs[0])


class Sqrt(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array) -> Array:
        return self.xp.sqrt(x)

    def backward(self, g: Tensor) -> Grads:
        return g / (2 * self.output)


class Tanh(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array) -> Array:
        return self.xp.tanh(x)

    def backward(self, g: Tensor) -> Grads:
        return TanhGrad.apply(g, self.output)


class TanhGrad(Function):
    """g * (1 - y**2), tanh's backward as one node (it runs every training step)."""

    save_inputs = ((1,), (0, 1))

    def forward(self, g: Array, y: Array) -> Array:
        out = y * y  # one allocation, then in place: g * (1 - y*y)
        out *= -1
        out += 1
        out *= g
        return out

    def backward(self, gg: Tensor) -> Grads:
        g, y = self.inputs
        return (TanhGrad.apply(gg, y) if self.needs[0] else None,
                -2 * gg * g * y if self.needs[1] else None)


class Sigmoid(Function):
    needs_float = True
    save_output = True

    def forward(self, x: Array) -> Array:
        # 0.5 * (1 + tanh(x / 2)) is the logistic function without overflow for any x.
        y = self.xp.tanh(x * 0.5)
        y += 1
        y *= 0.5
        return y

    def backward(self, g: Tensor) -> Grads:
        y = self.output
        return g * (y * (1 - y))


class Relu(Function):
    save_output = True

    def forward(self, x: Array) -> Array:
        return self.xp.maximum(x, 0)

    def backward(self, g: Tensor) -> Grads:
        return ReluGrad.apply(g, self.output)


class ReluGrad(Function):
    """g where relu's output is positive, else 0: relu's backward as one node.

    A multiply by the 0/1 mask, not `where`: NumPy's where branches per element and is
    ~10x slower on random signs.
    """

    save_inputs = ((1,), ())

    def forward(self, g: Array, y: Array) -> Array:
        mask = self.xp.astype(y > 0, g.dtype)
        mask *= g
        return mask

    def backward(self, gg: Tensor) -> Grads:
        y = self.inputs[1]  # piecewise linear: no curvature, so nothing flows to y
        return (ReluGrad.apply(gg, y) if self.needs[0] else None), None


class Abs(Function):
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.xp.abs(x)

    def backward(self, g: Tensor) -> Grads:
        # sign(x) from two comparisons: 0 at 0 and at NaN (PyTorch's), and no xp.sign,
        # which array-api-compat implements for CuPy with a boolean mask (a host sync)
        x, xp, dtype = self.inputs[0].array, self.xp, g.array.dtype
        return g * _const(self, xp.astype(x > 0, dtype) - xp.astype(x < 0, dtype))


class Erf(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.backend.erf(x)

    def backward(self, g: Tensor) -> Grads:
        x = self.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * exp(-(x * x))


class Maximum(Function):
    """Elementwise max; at ties each side gets half the gradient (as PyTorch)."""

    broadcasts = True
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return self.xp.maximum(a, b)

    def backward(self, g: Tensor) -> Grads:
        return _choose(self, g, operator.gt)


class Minimum(Function):
    broadcasts = True
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return self.xp.minimum(a, b)

    def backward(self, g: Tensor) -> Grads:
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

    def forward(self, x: Array, lo: Any, hi: Any) -> Array:
        # maximum, then minimum (NaN stays NaN; hi wins where lo > hi, as PyTorch's), not
        # xp.clip: array-api-compat implements that for CuPy with boolean masks (host syncs)
        xp = self.xp
        if lo is None and hi is None:
            return xp.asarray(x, copy=True)
        y = x if lo is None else xp.maximum(x, lo)
        return y if hi is None else xp.minimum(y, hi)

    def backward(self, g: Tensor) -> Grads:
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

    def forward(self, cond: Array, a: Array, b: Array) -> Array:
        return self.xp.where(cond, a, b)

    def backward(self, g: Tensor) -> Grads:
        cond = self.inputs[0]
        zero = _const(self, self.xp.zeros_like(g.array))
        ga = Where.apply(cond, g, zero) if self.needs[1] else None
        gb = Where.apply(cond, zero, g) if self.needs[2] else None
        return None, ga, gb


class Sin(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.xp.sin(x)

    def backward(self, g: Tensor) -> Grads:
        return g * cos(self.inputs[0])


class Cos(Function):
    needs_float = True
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return self.xp.cos(x)

    def backward(self, g: Tensor) -> Grads:
        return -g * sin(self.inputs[0])


class Clone(Function):
    """A copy with its own storage, laid out in row-major order (so .view() can reshape
    it: what contiguous() relies on); the gradient passes through."""

    def forward(self, x: Array) -> Array:
        flat = self.xp.reshape(x, (-1,), copy=True)  # a fresh row-major run of memory
        return self.xp.reshape(flat, x.shape)

    def backward(self, g: Tensor) -> Grads:
        return g


# ---- public functions -----------------------------------------------------------------------
@public()
def exp(input: Tensor) -> Tensor:
    return Exp.apply(input)


@public()
def log(input: Tensor) -> Tensor:
    return Log.apply(input)


@public()
def log2(input: Tensor) -> Tensor:
    return Log.apply(input) * (1 / math.log(2))


@public()
def log10(input: Tensor) -> Tensor:
    return Log.apply(input) * (1 / math.log(10))


@public()
def log1p(input: Tensor) -> Tensor:
    return Log1p.apply(input)


@public()
def sqrt(input: Tensor) -> Tensor:
    return Sqrt.apply(input)


@public()
def rsqrt(input: Tensor) -> Tensor:
    return 1 / Sqrt.apply(input)


@public()
def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(input)


@public()
def sigmoid(input: Tensor) -> Tensor:
    return Sigmoid.apply(input)


@public()
def relu(input: Tensor) -> Tensor:
    return Relu.apply(input)


@public("abs", "absolute")
def abs(input: Tensor) -> Tensor:
    return Abs.apply(input)


@public()
def sin(input: Tensor) -> Tensor:
    return Sin.apply(input)


@public()
def cos(input: Tensor) -> Tensor:
    return Cos.apply(input)


@public()
def tan(input: Tensor) -> Tensor:
    return sin(input) / cos(input)


@public()
def erf(input: Tensor) -> Tensor:
    return Erf.apply(input)


@public("neg", "negative")
def neg(input: Tensor) -> Tensor:
    return Neg.apply(input)


@public()
def clone(input: Tensor, *, memory_format: object = None) -> Tensor:
    """A copy in new storage, in the graph (its gradient passes through)."""
    return Clone.apply(input)


@public()
def maximum(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    return binary(Maximum, input, other)


@public()
def minimum(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    return binary(Minimum, input, other)


@public("clamp", "clip")
def clamp(input: Tensor, min: TensorOrScalar | None = None,
          max: TensorOrScalar | None = None) -> Tensor:
    """Limit values to [min, max] (either may be None)."""
    return Clip.apply(input, min, max)


@public(method=False)
def where(condition: Tensor, input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """input where condition is true, else other; both broadcast and promote."""
    a, b = promoted(input, other)
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(condition, Tensor):
        condition = tensor(condition, device=ref.backend)
    if condition.dtype != _dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, not {condition.dtype}")
    return Where.apply(condition, a, b)


@public()
def masked_fill(input: Tensor, mask: Tensor, value: TensorOrScalar) -> Tensor:
    """`value` where `mask` is true, else input (out of place; masked_fill_ is in place)."""
    return where(mask, _dt_scalar(value, input), input)


def _dt_scalar(value, like):
    """A fill value: a Python number as it is, a 0-d tensor on like's device."""
    return value.to(like.backend) if isinstance(value, Tensor) else value


@public()
def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (the rest zero), in input's dtype."""
    return where(_triangle(input, diagonal, lower=True), input, _zero(input))


@public()
def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (the rest zero), in input's dtype."""
    return where(_triangle(input, diagonal, lower=False), input, _zero(input))


def _zero(x):
    return {"b": False, "f": 0.0}.get(x.dtype.kind, 0)




@on_device
def _triangle(x, diagonal, lower):
    if x.ndim < 2:
        raise ShapeError(f"tril/triu need at least 2 dims, not shape {x.shape}")
    xp, dev = x.backend.xp, x.backend.native_device
    rows = xp.arange(x.shape[-2], device=dev)[:, None]
    cols = xp.arange(x.shape[-1], device=dev)[None, :]
    keep = cols - rows <= diagonal if lower else cols - rows >= diagonal
    return _const(x, keep)


@public("floor_divide")
@on_device
def floor_divide(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """input // other, rounded toward -inf (outside the graph: its gradient is zero
    almost everywhere)."""
    a, b = promoted(input, other)
    ref = a if isinstance(a, Tensor) else b
    xp = ref.backend.xp
    return _const(ref, xp.floor_divide(a.array if isinstance(a, Tensor) else a,
                                       b.array if isinstance(b, Tensor) else b))


@public()
def remainder(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """input % other, with the sign of `other` (Python's and PyTorch's); differentiable in
    input (gradient 1), constant in other."""
    return input - floor_divide(input, other) * other


@public()
def isnan(input: Tensor) -> Tensor:
    return _const(input, input.backend.xp.isnan(input.array))


@public()
def isfinite(input: Tensor) -> Tensor:
    return _const(input, input.backend.xp.isfinite(input.array))


@public()
def isinf(input: Tensor) -> Tensor:
    return _const(input, input.backend.xp.isinf(input.array))


@public()
@on_device
def allclose(input: Tensor, other: TensorOrScalar, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether |input - other| <= atol + rtol * |other| everywhere: a Python bool (an
    explicit read from the device, as PyTorch's)."""
    a, b = promoted(input, other)
    xp = a.backend.xp
    close = xp.abs(a.array - b.array) <= atol + rtol * xp.abs(b.array)
    close = close | (a.array == b.array)  # equal infinities
    if equal_nan:
        close = close | (xp.isnan(a.array) & xp.isnan(b.array))
    return bool(a.backend.to_numpy(xp.all(close)))


@public()
@on_device
def equal(input: Tensor, other: Tensor) -> bool:
    """Whether both have the same shape and elements: a Python bool."""
    if input.shape != other.shape:
        return False
    return bool(input.backend.to_numpy(input.backend.xp.all(input.array == other.array)))


_COMPARE = {"less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
            "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
            "logical_and": operator.and_, "logical_or": operator.or_}




@on_device
def compare(name: str, a: Any, b: Any) -> Tensor:
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


@public()
def logical_not(input: Tensor) -> Tensor:
    return _const(input, input.backend.xp.logical_not(input.array))


def _comparison(name):
    def op(input, other):
        return compare(name, input, other)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"input {name.replace('_', ' ')} other, elementwise: a bool tensor."
    return op


for _torch_name, _name in (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"),
                           ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                           ("logical_and", "logical_and"), ("logical_or", "logical_or")):
    public(_torch_name)(_comparison(_name))

if TYPE_CHECKING:  # what the loop above registers, declared for type checkers
    def eq(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input == other, elementwise: a bool tensor."""

    def ne(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input != other, elementwise: a bool tensor."""

    def lt(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input < other, elementwise: a bool tensor."""

    def le(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input <= other, elementwise: a bool tensor."""

    def gt(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input > other, elementwise: a bool tensor."""

    def ge(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input >= other, elementwise: a bool tensor."""

    def logical_and(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input and other, elementwise: a bool tensor."""

    def logical_or(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        """input or other, elementwise: a bool tensor."""
