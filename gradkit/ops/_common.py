"""What every op family shares: constants on a backend, axis handling, PyTorch's type
promotion for two operands, and the table that makes each public op a `gk.*` function
and a Tensor method."""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gradkit import dtypes as _dt
from gradkit.autograd import Function, ShapeError
from gradkit.tensor import Tensor, tensor

if TYPE_CHECKING:
    from collections.abc import Callable


_SCALARS = (int, float, bool)
_F = TypeVar("_F", bound=Callable[..., Any])


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


def promoted(a: Any, b: Any) -> tuple[Any, Any]:
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


def binary(cls: type[Function], a: Any, b: Any) -> Tensor:
    """Apply the elementwise Function `cls` to two operands after type promotion."""
    if isinstance(a, Tensor):
        t, other = a, b
    else:
        t, other = b, a
    kind = type(other)  # the common cases first: a float tensor with a Python number,
    if kind is float or kind is int:  # or two tensors of one dtype, need no promotion
        if t.array.dtype in t.backend.float_dtypes:
            return cls.apply(a, b)
    elif isinstance(other, Tensor) and other.backend is t.backend and (
            other.array.dtype is t.array.dtype or other.array.dtype == t.array.dtype):
        return cls.apply(a, b)
    return cls.apply(*promoted(a, b))


def binary_operator(cls: type[Function],
                    reflected: bool = False) -> Callable[[Tensor, Any], Tensor]:
    """Tensor's operator for the elementwise Function `cls` (``__add__`` for Add;
    ``__radd__`` with `reflected`): `binary` in one call layer, since the operators are
    the hottest path of eager code."""
    apply = cls.apply

    def operator(self: Tensor, other: Any) -> Tensor:
        kind = type(other)  # the common cases first, as in `binary`
        if kind is float or kind is int:
            if self.array.dtype in self.backend.float_dtypes:
                return apply(self, other)
        elif isinstance(other, Tensor) and other.backend is self.backend and (
                other.array.dtype is self.array.dtype or other.array.dtype == self.array.dtype):
            return apply(self, other)
        return apply(*promoted(self, other))

    # (two bodies, not one with an `if reflected` inside: that branch costs ~140
    # instructions per op, measured with callgrind)
    def reflected_operator(self: Tensor, other: Any) -> Tensor:  # other + self, and so on
        kind = type(other)
        if kind is float or kind is int:
            if self.array.dtype in self.backend.float_dtypes:
                return apply(other, self)
        elif isinstance(other, Tensor) and other.backend is self.backend and (
                other.array.dtype is self.array.dtype or other.array.dtype == self.array.dtype):
            return apply(other, self)
        return apply(*promoted(other, self))

    if reflected:
        operator = reflected_operator
    name = f"__{'r' if reflected else ''}{_OPERATOR_NAMES[cls.__name__]}__"
    operator.__name__, operator.__qualname__ = name, f"Tensor.{name}"
    OPERATORS[name] = operator
    return operator


_OPERATOR_NAMES = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "truediv"}


# ==== the API table ======================================================================
# Every public op registers here once; gradkit/__init__.py exports FUNCTIONS as gk.<name>
# and ops/__init__.py attaches METHODS to Tensor. So adding an op touches its family file
# (and a registry case in gradkit/testing/op_registry.py), nothing else.
FUNCTIONS: dict = {}  # name -> gk.<name>
METHODS: dict = {}  # name -> Tensor.<name> (the same function: the tensor is its input)
OPERATORS: dict = {}  # "__add__" and the like -> Tensor's operator (binary_operator)


def public(*names: str, method: bool = True, function: bool = True) -> Callable[[_F], _F]:
    """Register the decorated function as gk.<name> and (method=True) Tensor.<name>,
    under each of `names` (its own name by default: aliases list several)."""
    def register(fn):
        for name in names or (fn.__name__,):
            if function:
                FUNCTIONS[name] = fn
            if method:
                METHODS[name] = fn
        return fn
    return register


def _dim(dim, axis, default=None):
    """PyTorch's `dim=` or its Array API alias `axis=` (not both)."""
    if axis is None:
        return default if dim is None else dim
    if dim is not None:
        raise TypeError(f"got both dim={dim!r} and axis={axis!r}; pass one of them")
    return axis


def _keepdim(keepdim, keepdims):
    """PyTorch's `keepdim=` or its Array API alias `keepdims=`."""
    return bool(keepdim if keepdims is None else keepdims)
