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

from ._common import _SCALARS, _const, binary, binary_operator, promoted, public

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
    """``input ** exponent``, elementwise.

    With a number as `exponent` the gradient is ``c * x**(c-1)`` (0 for ``c == 0``); with a
    tensor exponent both sides get gradients, which are 0 rather than NaN at ``input == 0``
    where the limit is 0, as in PyTorch. Operands broadcast and promote as in PyTorch (a
    Python number does not widen a tensor's dtype: float32 * 2.0 stays float32).

    Parameters
    ----------
    input : Tensor or number
        The base.
    exponent : Tensor or number
        The exponent; broadcasts against `input`.

    Returns
    -------
    Tensor
        The powers.

    Notes
    -----
    PyTorch equivalent: :func:`torch.pow` (same semantics); also ``x ** y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = gk.pow(x, 2)
    >>> y
    tensor([1., 4., 9.], grad_fn=<PowScalarBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    >>> 2 ** gk.tensor([1.0, 3.0])
    tensor([2., 8.])
    """
    a, b = promoted(input, exponent)
    if isinstance(b, _SCALARS):
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


@public()
def square(input: Tensor) -> Tensor:
    """``input * input``, elementwise.

    Its gradient is ``2 * input``.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.square` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([-1.0, 0.5, 3.0], requires_grad=True)
    >>> x.square()
    tensor([1.  , 0.25, 9.  ], grad_fn=<PowScalarBackward0>)
    >>> x.square().sum().backward()
    >>> x.grad
    tensor([-2.,  1.,  6.])
    """
    return PowScalar.apply(input, 2)


@public()
def add(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other``, elementwise.

    Operands broadcast and promote as in PyTorch (a Python number does not widen a tensor's
    dtype: float32 * 2.0 stays float32). Where an operand was broadcast, its gradient is
    summed back to its shape.

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.
    alpha : number, optional
        Multiplier for `other`. Default: 1.

    Returns
    -------
    Tensor
        The sum, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.add` (same semantics); also ``x + y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> b = gk.tensor([10.0, 20.0], requires_grad=True)
    >>> c = a + b
    >>> c
    tensor([[11., 22.],
            [13., 24.]], grad_fn=<AddBackward0>)
    >>> c.sum().backward()
    >>> b.grad  # b was broadcast over 2 rows
    tensor([2., 2.])
    >>> gk.add(gk.tensor([1.0, 2.0]), gk.tensor([1.0, 1.0]), alpha=2)
    tensor([3., 4.])
    """
    return binary(Add, input, other if alpha == 1 else other * alpha)


@public("sub", "subtract")
def sub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other``, elementwise. ``subtract`` is an alias.

    Operands broadcast and promote as in PyTorch (a Python number does not widen a
    tensor's dtype: float32 * 2.0 stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.
    alpha : number, optional
        Multiplier for `other`. Default: 1.

    Returns
    -------
    Tensor
        The difference, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sub` (same semantics); also ``x - y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([5.0, 6.0], requires_grad=True)
    >>> gk.sub(a, gk.tensor([1.0, 2.0]))
    tensor([4., 4.], grad_fn=<SubBackward0>)
    >>> a.sub(1.0, alpha=2)
    tensor([3., 4.], grad_fn=<SubBackward0>)
    """
    return binary(Sub, input, other if alpha == 1 else other * alpha)


@public("mul", "multiply")
def mul(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input * other``, elementwise. ``multiply`` is an alias.

    Operands broadcast and promote as in PyTorch (a Python number does not widen a tensor's
    dtype: float32 * 2.0 stays float32). The gradient of each operand is the incoming
    gradient times the other.

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The product, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.mul` (same semantics); also ``x * y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> b = gk.tensor([4.0, 5.0, 6.0])
    >>> y = a * b
    >>> y
    tensor([ 4., 10., 18.], grad_fn=<MulBackward0>)
    >>> y.sum().backward()
    >>> a.grad
    tensor([4., 5., 6.])
    """
    return binary(Mul, input, other)


@public("div", "divide", "true_divide")
def div(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input / other``, elementwise (true division). Aliases: ``divide``, ``true_divide``.

    Integer operands give the default float dtype. Operands broadcast and promote as in
    PyTorch (a Python number does not widen a tensor's dtype: float32 * 2.0 stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The quotient, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.div` (same semantics, without `rounding_mode`;
    see :func:`floor_divide`); also ``x / y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> b = gk.tensor([2.0, 4.0], requires_grad=True)
    >>> (a / b).sum().backward()
    >>> a.grad
    tensor([0.5 , 0.25])
    >>> b.grad
    tensor([-0.25 , -0.125])
    >>> gk.tensor([1, 2]) / 2
    tensor([0.5, 1. ])
    """
    return binary(Div, input, other)


for _cls in (Add, Sub, Mul, Div):  # Tensor's + - * / and their reflected forms
    binary_operator(_cls)
    binary_operator(_cls, reflected=True)
del _cls


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
    """Exponential ``e ** input``, elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.exp` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([0.0, 1.0], requires_grad=True)
    >>> y = x.exp()
    >>> y
    tensor([1.    , 2.7183], grad_fn=<ExpBackward0>)
    >>> y.sum().backward()
    >>> x.grad  # exp is its own derivative
    tensor([1.    , 2.7183])
    """
    return Exp.apply(input)


@public()
def log(input: Tensor) -> Tensor:
    """Natural logarithm, elementwise.

    The gradient is ``1 / input``. Integer inputs give the default float dtype. log(0) is
    -inf; of a negative number, NaN.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.log` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 4.0], requires_grad=True)
    >>> x.log()
    tensor([0.    , 0.6931, 1.3863], grad_fn=<LogBackward0>)
    >>> x.log().sum().backward()
    >>> x.grad
    tensor([1.  , 0.5 , 0.25])
    """
    return Log.apply(input)


@public()
def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm, elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.log2` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, 2.0, 8.0]).log2()
    tensor([0., 1., 3.])
    """
    return Log.apply(input) * (1 / math.log(2))


@public()
def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm, elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.log10` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, 10.0, 100.0]).log10()
    tensor([0., 1., 2.])
    """
    return Log.apply(input) * (1 / math.log(10))


@public()
def log1p(input: Tensor) -> Tensor:
    """``log(1 + input)``, elementwise, accurate for small inputs.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.log1p` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([0.0, 1.0]).log1p()
    tensor([0.    , 0.6931])
    >>> gk.tensor([1e-10]).log1p()  # log(1 + 1e-10) would round to 0
    tensor([1.e-10])
    """
    return Log1p.apply(input)


@public()
def sqrt(input: Tensor) -> Tensor:
    """Square root, elementwise.

    The gradient is ``1 / (2 * sqrt(input))`` (inf at 0). Integer inputs give the default
    float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sqrt` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 4.0, 9.0], requires_grad=True)
    >>> x.sqrt()
    tensor([1., 2., 3.], grad_fn=<SqrtBackward0>)
    >>> x.sqrt().sum().backward()
    >>> x.grad
    tensor([0.5   , 0.25  , 0.1667])
    """
    return Sqrt.apply(input)


@public()
def rsqrt(input: Tensor) -> Tensor:
    """Reciprocal square root ``1 / sqrt(input)``, elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.rsqrt` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([4.0, 0.25]).rsqrt()
    tensor([0.5, 2. ])
    """
    return 1 / Sqrt.apply(input)


@public()
def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise.

    The gradient ``1 - tanh(x)**2`` is one fused node. Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.tanh` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([0.0, 100.0], requires_grad=True)
    >>> x.tanh()
    tensor([0., 1.], grad_fn=<TanhBackward0>)
    >>> x.tanh().sum().backward()
    >>> x.grad  # 1 - tanh(x)**2
    tensor([1., 0.])
    """
    return Tanh.apply(input)


@public()
def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-input))``, elementwise.

    Computed as ``0.5 * (1 + tanh(x / 2))``, which cannot overflow. Integer inputs give the
    default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sigmoid` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([0.0, 100.0, -100.0], requires_grad=True)
    >>> x.sigmoid()
    tensor([0.5, 1. , 0. ], grad_fn=<SigmoidBackward0>)
    >>> x.sigmoid().sum().backward()
    >>> x.grad  # sigmoid(x) * (1 - sigmoid(x))
    tensor([0.25, 0.  , 0.  ])
    """
    return Sigmoid.apply(input)


@public()
def relu(input: Tensor) -> Tensor:
    """Rectified linear unit ``max(input, 0)``, elementwise.

    The gradient is 1 where the output is positive, else 0 (0 at 0, as PyTorch).

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape and dtype as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.relu` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> x.relu()
    tensor([0., 0., 2.], grad_fn=<ReluBackward0>)
    >>> x.relu().sum().backward()
    >>> x.grad
    tensor([0., 0., 1.])
    """
    return Relu.apply(input)


@public("abs", "absolute")
def abs(input: Tensor) -> Tensor:
    """Absolute value, elementwise. ``absolute`` is an alias.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape and dtype as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.abs` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([-1.5, 0.0, 2.0], requires_grad=True)
    >>> x.abs()
    tensor([1.5, 0. , 2. ], grad_fn=<AbsBackward0>)
    >>> x.abs().sum().backward()
    >>> x.grad  # sign(x), 0 at 0
    tensor([-1.,  0.,  1.])
    """
    return Abs.apply(input)


@public()
def sin(input: Tensor) -> Tensor:
    """Sine (of radians), elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sin` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([0.0], requires_grad=True)
    >>> x.sin()
    tensor([0.], grad_fn=<SinBackward0>)
    >>> x.sin().backward()
    >>> x.grad  # cos(0)
    tensor([1.])
    """
    return Sin.apply(input)


@public()
def cos(input: Tensor) -> Tensor:
    """Cosine (of radians), elementwise.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.cos` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([0.0]).cos()
    tensor([1.])
    """
    return Cos.apply(input)


@public()
def tan(input: Tensor) -> Tensor:
    """Tangent (of radians), elementwise: ``sin(input) / cos(input)``.

    Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.tan` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([0.0]).tan()
    tensor([0.])
    """
    return sin(input) / cos(input)


@public()
def erf(input: Tensor) -> Tensor:
    """Gauss error function, elementwise.

    The gradient is ``2 / sqrt(pi) * exp(-input**2)``. Integer inputs give the default float dtype.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.erf` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([0.0, 100.0, -100.0]).erf()
    tensor([ 0.,  1., -1.])
    """
    return Erf.apply(input)


@public("neg", "negative")
def neg(input: Tensor) -> Tensor:
    """``-input``, elementwise. ``negative`` is an alias.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        Same shape and dtype as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.neg` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> -gk.tensor([1.0, -2.0])
    tensor([-1.,  2.])
    """
    return Neg.apply(input)


@public()
def clone(input: Tensor, *, memory_format: object = None) -> Tensor:
    """A copy of `input` in new storage, in the graph (its gradient passes through).

    The copy is laid out in row-major order, so ``.view()`` can reshape it.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    memory_format : optional
        Accepted for compatibility and ignored.

    Returns
    -------
    Tensor
        Same shape, dtype and values as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.clone` (same semantics; `memory_format` is ignored).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x.clone()
    >>> y
    tensor([1., 2.], grad_fn=<CloneBackward0>)
    >>> y[0] = 5.0  # writes the copy, not x
    >>> x
    tensor([1., 2.], requires_grad=True)
    """
    return Clone.apply(input)


@public()
def maximum(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Elementwise maximum of two tensors.

    Where the two are equal each gets half the gradient; a NaN wins. Operands broadcast and
    promote as in PyTorch (a Python number does not widen a tensor's dtype: float32 * 2.0
    stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The larger of each pair, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.maximum` (same semantics; also takes a number).

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([1.0, 5.0, 3.0], requires_grad=True)
    >>> y = gk.maximum(a, gk.tensor([2.0, 2.0, 3.0]))
    >>> y
    tensor([2., 5., 3.], grad_fn=<MaximumBackward0>)
    >>> y.sum().backward()
    >>> a.grad
    tensor([0. , 1. , 0.5])
    """
    return binary(Maximum, input, other)


@public()
def minimum(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Elementwise minimum of two tensors.

    Where the two are equal each gets half the gradient; a NaN wins. Operands broadcast and
    promote as in PyTorch (a Python number does not widen a tensor's dtype: float32 * 2.0
    stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The smaller of each pair, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.minimum` (same semantics; also takes a number).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.minimum(gk.tensor([1.0, 5.0]), gk.tensor([2.0, 2.0]))
    tensor([1., 2.])
    """
    return binary(Minimum, input, other)


@public("clamp", "clip")
def clamp(input: Tensor, min: TensorOrScalar | None = None,
          max: TensorOrScalar | None = None) -> Tensor:
    """Limit the values of `input` to [`min`, `max`], elementwise. ``clip`` is an alias.

    The gradient is 1 where ``min <= input <= max`` and 0 outside. Where ``min > max``
    the result is `max`; NaN stays NaN.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    min : number or Tensor, optional
        Lower bound (None: no lower bound).
    max : number or Tensor, optional
        Upper bound (None: no upper bound).

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.clamp` (same semantics; PyTorch refuses both bounds
    None, here that gives a copy).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    >>> y = x.clamp(min=-1.0, max=1.0)
    >>> y
    tensor([-1. ,  0.5,  1. ], grad_fn=<ClipBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([0., 1., 0.])
    >>> gk.clip(gk.tensor([-2.0, 2.0]), min=0.0)
    tensor([0., 2.])
    """
    return Clip.apply(input, min, max)


@public(method=False)
def where(condition: Tensor, input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Elements of `input` where `condition` is true, else of `other`.

    The three broadcast together, and `input` and `other` promote to a common dtype.
    Gradients flow to `input` where the condition holds and to `other` elsewhere.

    Parameters
    ----------
    condition : Tensor
        A bool tensor (or data convertible to one).
    input : Tensor or number
        Chosen where `condition` is true.
    other : Tensor or number
        Chosen where `condition` is false.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Raises
    ------
    TypeError
        If `condition` is not boolean.

    Notes
    -----
    PyTorch equivalent: :func:`torch.where` (the three-argument form). A function only,
    not a Tensor method (PyTorch's ``x.where(cond, y)`` takes the condition second).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    >>> y = gk.where(x > 0, x, 0.0)
    >>> y
    tensor([0., 2., 0.], grad_fn=<WhereBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([0., 1., 0.])
    """
    a, b = promoted(input, other)
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(condition, Tensor):
        condition = tensor(condition, device=ref.backend)
    if condition.dtype != _dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, not {condition.dtype}")
    return Where.apply(condition, a, b)


@public()
def masked_fill(input: Tensor, mask: Tensor, value: TensorOrScalar) -> Tensor:
    """`input` with `value` where `mask` is true (out of place).

    The in-place version is ``masked_fill_``. `input` gets no gradient where it is
    filled.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    mask : Tensor
        A bool tensor that broadcasts to `input`'s shape.
    value : number or Tensor
        The fill value (a number, or a 0-d tensor).

    Returns
    -------
    Tensor
        Same shape as `input`.

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.masked_fill` (same semantics). Typical use:
    a causal attention mask, ``scores.masked_fill(mask == 0, float("-inf"))``.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.masked_fill(gk.tensor([[False, True], [False, False]]), -1.0)
    tensor([[ 1., -1.],
            [ 3.,  4.]])
    """
    return where(mask, _dt_scalar(value, input), input)


def _dt_scalar(value, like):
    """A fill value: a Python number as it is, a 0-d tensor on like's device."""
    return value.to(like.backend) if isinstance(value, Tensor) else value


@public()
def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions; the rest set to zero.

    Parameters
    ----------
    input : Tensor
        A tensor of at least 2 dimensions (a batch of matrices).
    diagonal : int, optional
        Which diagonal to keep up to: 0 the main one, positive above it, negative below.
        Default: 0.

    Returns
    -------
    Tensor
        Same shape and dtype as `input`.

    Raises
    ------
    ShapeError
        If `input` has fewer than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.tril` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tril(gk.ones(3, 3))
    tensor([[1., 0., 0.],
            [1., 1., 0.],
            [1., 1., 1.]])
    >>> gk.ones(2, 3).tril(diagonal=1)
    tensor([[1., 1., 0.],
            [1., 1., 1.]])
    """
    return where(_triangle(input, diagonal, lower=True), input, _zero(input))


@public()
def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions; the rest set to zero.

    Parameters
    ----------
    input : Tensor
        A tensor of at least 2 dimensions (a batch of matrices).
    diagonal : int, optional
        Which diagonal to keep from: 0 the main one, positive above it, negative below.
        Default: 0.

    Returns
    -------
    Tensor
        Same shape and dtype as `input`.

    Raises
    ------
    ShapeError
        If `input` has fewer than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.triu` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.triu(gk.ones(3, 3), diagonal=1)
    tensor([[0., 1., 1.],
            [0., 0., 1.],
            [0., 0., 0.]])
    """
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
    """``input // other``, elementwise, rounded toward minus infinity.

    Outside the graph: its gradient is zero almost everywhere, so the result does not
    require grad. Operands broadcast and promote as in PyTorch (a Python number does not widen a
    tensor's dtype: float32 * 2.0 stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The floored quotient, of the broadcast shape and promoted dtype.

    Notes
    -----
    PyTorch equivalent: :func:`torch.floor_divide` (same semantics; also
    ``torch.div(a, b, rounding_mode="floor")`` and ``x // y``).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.floor_divide(gk.tensor([7, -7]), 2)
    tensor([ 3, -4])
    """
    a, b = promoted(input, other)
    ref = a if isinstance(a, Tensor) else b
    xp = ref.backend.xp
    return _const(ref, xp.floor_divide(a.array if isinstance(a, Tensor) else a,
                                       b.array if isinstance(b, Tensor) else b))


@public()
def remainder(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input % other``, elementwise, with the sign of `other` (Python's modulo).

    Differentiable in `input` (gradient 1); constant in `other`. Operands broadcast and
    promote as in PyTorch (a Python number does not widen a tensor's dtype: float32 * 2.0
    stays float32).

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast against each other.

    Returns
    -------
    Tensor
        The remainder, of the broadcast shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.remainder` (same semantics); also ``x % y``.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.remainder(gk.tensor([7, -7]), 3)
    tensor([1, 2])
    >>> gk.tensor([5.5, -0.5]).remainder(2)
    tensor([1.5, 1.5])
    """
    return input - floor_divide(input, other) * other


@public()
def isnan(input: Tensor) -> Tensor:
    """Which elements are NaN.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.isnan` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, float("nan"), float("inf")]).isnan()
    tensor([False,  True, False])
    """
    return _const(input, input.backend.xp.isnan(input.array))


@public()
def isfinite(input: Tensor) -> Tensor:
    """Which elements are finite (not inf, -inf or NaN).

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.isfinite` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, float("nan"), float("inf")]).isfinite()
    tensor([ True, False, False])
    """
    return _const(input, input.backend.xp.isfinite(input.array))


@public()
def isinf(input: Tensor) -> Tensor:
    """Which elements are inf or -inf.

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.isinf` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, float("-inf"), float("inf")]).isinf()
    tensor([False,  True,  True])
    """
    return _const(input, input.backend.xp.isinf(input.array))


@public()
@on_device
def allclose(input: Tensor, other: TensorOrScalar, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether ``|input - other| <= atol + rtol * |other|`` holds everywhere.

    Parameters
    ----------
    input : Tensor
        The tensor to check.
    other : Tensor or number
        The reference; broadcasts against `input`.
    rtol : float, optional
        Relative tolerance. Default: 1e-05.
    atol : float, optional
        Absolute tolerance. Default: 1e-08.
    equal_nan : bool, optional
        Count NaNs in the same place as equal. Default: False.

    Returns
    -------
    bool
        A Python bool (an explicit read from the device).

    Notes
    -----
    PyTorch equivalent: :func:`torch.allclose` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.allclose(gk.tensor([1.0, 2.0]), gk.tensor([1.0, 2.000001]))
    True
    >>> gk.tensor([1.0]).allclose(gk.tensor([1.1]))
    False
    """
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
    """Whether two tensors have the same shape and the same elements.

    Parameters
    ----------
    input, other : Tensor
        The tensors to compare.

    Returns
    -------
    bool
        A Python bool (an explicit read from the device); compare :func:`eq`, which gives a
        bool tensor.

    Notes
    -----
    PyTorch equivalent: :func:`torch.equal` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.equal(gk.tensor([1.0, 2.0]), gk.tensor([1.0, 2.0]))
    True
    >>> gk.equal(gk.tensor([1.0, 2.0]), gk.tensor([[1.0, 2.0]]))
    False
    """
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
    """Elementwise logical NOT (zero is false).

    Parameters
    ----------
    input : Tensor
        The input tensor.

    Returns
    -------
    Tensor
        A bool tensor, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.logical_not` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([True, False]).logical_not()
    tensor([False,  True])
    """
    return _const(input, input.backend.xp.logical_not(input.array))


# name -> (the operator, what the doctest prints for [1., 2., 3.] vs 2, or for
# [True, True, False] vs [True, False, False] with the logical ones)
_COMPARE_DOCS = {
    "equal": ("==", "[False,  True, False]"), "not_equal": ("!=", "[ True, False,  True]"),
    "less": ("<", "[ True, False, False]"), "less_equal": ("<=", "[ True,  True, False]"),
    "greater": (">", "[False, False,  True]"),
    "greater_equal": (">=", "[False,  True,  True]"),
    "logical_and": ("and", "[ True, False, False]"),
    "logical_or": ("or", "[ True,  True, False]")}


def _comparison_doc(torch_name, name):
    """The numpydoc docstring of a comparison or logical op."""
    symbol, out = _COMPARE_DOCS[name]
    if name.startswith("logical"):
        summary = f"Elementwise logical {symbol.upper()} (nonzero is true)."
        example = (f"gk.tensor([True, True, False]).{torch_name}("
                   "gk.tensor([True, False, False]))")
    else:
        summary = f"``input {symbol} other``, elementwise."
        example = f"gk.tensor([1.0, 2.0, 3.0]).{torch_name}(2)"
    return f"""{summary}

    Parameters
    ----------
    input : Tensor or number
        The first operand.
    other : Tensor or number
        The second operand; the two broadcast and promote to a common dtype.

    Returns
    -------
    Tensor
        A bool tensor of the broadcast shape, outside the graph (no gradient).

    Raises
    ------
    ShapeError
        If the shapes do not broadcast.

    Notes
    -----
    PyTorch equivalent: :func:`torch.{torch_name}` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> {example}
    tensor({out})
    """


def _comparison(name, torch_name):
    def op(input, other):
        return compare(name, input, other)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = _comparison_doc(torch_name, name)
    return op


__test__ = {}  # the generated docstrings' examples, for doctest (gk.eq, ...)
for _torch_name, _name in (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"),
                           ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                           ("logical_and", "logical_and"), ("logical_or", "logical_or")):
    __test__[_torch_name] = public(_torch_name)(_comparison(_name, _torch_name))

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
