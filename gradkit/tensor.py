"""Tensor: a backend array, the Backend it lives on, and its place in the autograd graph."""

from __future__ import annotations

import math
import operator
import weakref

import numpy as np

from . import backends as _backends
from . import dtypes as _dt

_SCALARS = (int, float, bool)
_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul,
            "/=": operator.itruediv}


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    `array` is the raw backend array (numpy.ndarray, cupy.ndarray, ...), never copied.
    A tensor made by an op while recording holds that op's node in `_node`; leaves
    (made by the user) have none and collect gradients in `.grad`.
    """

    __slots__ = ("array", "backend", "requires_grad", "grad", "_node", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self.array, self.backend, self.grad, self._node = t.array, t.backend, None, None
        self.requires_grad = t.requires_grad

    @classmethod
    def _make(cls, array, backend, node=None):
        t = object.__new__(cls)
        t.array = array
        t.backend = backend
        t.grad = None
        t._node = node
        t.requires_grad = node is not None
        return t

    # ---- metadata --------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def size(self) -> int:
        return math.prod(self.array.shape)

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self) -> _dt.DType:
        return _dt.DTYPES[self.backend.dtype_name(self.array.dtype)]

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("requires_grad_() is for leaf tensors; use .detach() first")
        if requires_grad and not self.dtype.is_floating_point:
            raise TypeError(f"only floating-point tensors can require grad, not {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` during backward."""
        if self._node is None:
            return
        if self._node.retained is None:
            self._node.retained = []
        self._node.retained.append(weakref.ref(self))

    # ---- conversion --------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A host NumPy copy (a synchronisation on a GPU)."""
        return self.backend.to_numpy(self.array)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, not shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        default = self.dtype in (_dt.float32, _dt.int64, _dt.bool_)
        extra = "" if default else f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self._node is not None:
            extra += f", grad_fn=<{type(self._node).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __dlpack__(self, *args, **kwargs):
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory)."""
        return Tensor._make(self.array, self.backend)

    def __deepcopy__(self, memo):
        """copy.deepcopy: a leaf (of the same class, e.g. nn.Parameter) with its own copy
        of the data and grad on the same device; the Backend itself is shared."""
        if self._node is not None:
            raise RuntimeError("only leaf tensors support deepcopy; use .detach() first")
        t = object.__new__(type(self))
        memo[id(self)] = t
        t.array = self.backend.xp.asarray(self.array, copy=True)
        t.backend, t._node, t.requires_grad = self.backend, None, self.requires_grad
        t.grad = None if self.grad is None else self.grad.__deepcopy__(memo)
        return t

    def to(self, device=None, dtype=None) -> Tensor:
        """This tensor on `device` and/or in `dtype`; differentiable; self if nothing changes."""
        t = self
        if device is not None:
            backend = _backends.get_backend(device)
            if backend is not t.backend:
                t = _ops.ToDevice.apply(t, backend=backend)
        if dtype is not None:
            t = t.astype(dtype)
        return t

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        return self.to(f"cuda:{index}")

    def astype(self, dtype) -> Tensor:
        dtype = _dt.dtype(dtype)
        if dtype == self.dtype:
            return self
        return _ops.AsType.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(_dt.float32)

    def double(self) -> Tensor:
        return self.astype(_dt.float64)

    def long(self) -> Tensor:
        return self.astype(_dt.int64)

    # ---- autograd ------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d self / d leaf into every leaf's `.grad` (PyTorch's semantics)."""
        from .autograd import backward

        backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def zero_(self) -> Tensor:
        """Fill with zeros in place (not recorded)."""
        self.array = self.backend.xp.zeros_like(self.array)
        return self

    # ---- operators ---------------------------------------------------------------------
    def _other(self, other):
        if isinstance(other, (Tensor, *_SCALARS)):
            return other
        return tensor(other, device=self.backend)

    def __add__(self, other):
        return _ops.Add.apply(self, self._other(other))

    def __radd__(self, other):
        return _ops.Add.apply(self._other(other), self)

    def __sub__(self, other):
        return _ops.Sub.apply(self, self._other(other))

    def __rsub__(self, other):
        return _ops.Sub.apply(self._other(other), self)

    def __mul__(self, other):
        return _ops.Mul.apply(self, self._other(other))

    def __rmul__(self, other):
        return _ops.Mul.apply(self._other(other), self)

    def __truediv__(self, other):
        return _ops.Div.apply(self, self._other(other))

    def __rtruediv__(self, other):
        return _ops.Div.apply(self._other(other), self)

    def __pow__(self, other):
        return _ops.pow(self, self._other(other))

    def __rpow__(self, other):
        return _ops.pow(self._other(other), self)

    def __matmul__(self, other):
        return _ops.MatMul.apply(self, self._other(other))

    def __rmatmul__(self, other):
        return _ops.MatMul.apply(self._other(other), self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.Abs.apply(self)

    def __lt__(self, other):
        return _ops.compare("less", self, self._other(other))

    def __le__(self, other):
        return _ops.compare("less_equal", self, self._other(other))

    def __gt__(self, other):
        return _ops.compare("greater", self, self._other(other))

    def __ge__(self, other):
        return _ops.compare("greater_equal", self, self._other(other))

    def __eq__(self, other):
        return _ops.compare("equal", self, self._other(other))

    def __ne__(self, other):
        return _ops.compare("not_equal", self, self._other(other))

    def __invert__(self):
        return _ops.logical_not(self)

    def __and__(self, other):
        return _ops.compare("logical_and", self, self._other(other))

    def __or__(self, other):
        return _ops.compare("logical_or", self, self._other(other))

    # In place, as PyTorch: for updates outside the graph, e.g. a hand-written SGD step
    # `with gk.no_grad(): p -= lr * p.grad`. Inside the graph they are refused.
    def _inplace(self, other, op):
        from .autograd import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"in-place {op} on a tensor that requires grad would corrupt the graph; "
                "update parameters under `with gk.no_grad():`, or write `x = x + ...`")
        other = self._other(other)
        value = other
        if isinstance(other, Tensor):
            _backends.common_backend(f"in-place {op}", (self.backend, other.backend))
            value = other.array
        try:
            _INPLACE[op](self.array, value)
        except (TypeError, ValueError) as e:  # broadcasting into self, or a dtype change
            raise ValueError(f"in-place {op}: cannot apply shape {getattr(other, 'shape', ())} "
                             f"to a {self.dtype} tensor of shape {self.shape} in place ({e})"
                             ) from e
        return self

    def __iadd__(self, other):
        return self._inplace(other, "+=")

    def __isub__(self, other):
        return self._inplace(other, "-=")

    def __imul__(self, other):
        return self._inplace(other, "*=")

    def __itruediv__(self, other):
        return self._inplace(other, "/=")

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        _ops.setitem_(self, index, value)

    # ---- methods (each a thin call of the op of the same name in gradkit.ops) ----------
    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, correction=0):
        return _ops.var(self, axis=axis, keepdims=keepdims, correction=correction)

    def std(self, axis=None, keepdims=False, correction=0):
        return _ops.std(self, axis=axis, keepdims=keepdims, correction=correction)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _ops.argmin(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_axis=0):
        return self.reshape(*self.shape[:start_axis], -1)

    def transpose(self, *axes):
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.permute_dims(self, axes)

    def permute_dims(self, *axes):
        return self.transpose(*axes)

    @property
    def T(self):
        return _ops.permute_dims(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return _ops.matrix_transpose(self)

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    def exp(self):
        return _ops.Exp.apply(self)

    def log(self):
        return _ops.Log.apply(self)

    def log1p(self):
        return _ops.Log1p.apply(self)

    def tanh(self):
        return _ops.Tanh.apply(self)

    def sigmoid(self):
        return _ops.Sigmoid.apply(self)

    def relu(self):
        return _ops.Relu.apply(self)

    def sqrt(self):
        return _ops.Sqrt.apply(self)

    def abs(self):
        return _ops.Abs.apply(self)

    def square(self):
        return _ops.square(self)

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    def matmul(self, other):
        return self @ other


def _infer_dtype(data) -> str:
    """Python floats -> float32, ints -> int64, bools -> bool (PyTorch's defaults)."""
    if isinstance(data, bool):
        return "bool"
    if isinstance(data, int):
        return "int64"
    if isinstance(data, float):
        return "float32"
    arr = np.asarray(data)
    if arr.dtype == np.float64:
        return "float32"
    if arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        return "int64"
    if arr.dtype.kind == "b":
        return "bool"
    return _dt.dtype(arr.dtype).name


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new leaf tensor from a Python scalar/list, a NumPy array, a backend array or a Tensor.

    Arrays keep their dtype; Python floats become float32 and ints int64. The data is
    copied unless it is already a backend array of the requested device and dtype.
    """
    if isinstance(data, Tensor):
        data = data.array
    dtype_name = _dt.dtype(dtype).name if dtype is not None else None
    src = _backends.backend_of_array(data)
    if device is not None:
        target = _backends.get_backend(device)
    else:
        target = src or _backends.get_backend("cpu")
    if src is not None:  # an array of some backend: keeps its dtype
        _dt.dtype(src.dtype_name(data.dtype))  # refuse str/complex arrays, naming the choices
        array = data if src is target else target.transfer(data, src)
        if dtype_name is not None and target.dtype_name(array.dtype) != dtype_name:
            array = target.xp.astype(array, target.dtypes[dtype_name])
        elif array is data and not isinstance(data, np.generic):
            array = target.xp.asarray(array, copy=True)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
            data = [x.numpy() if isinstance(x, Tensor) else x for x in data]
        host = np.asarray(data, dtype=dtype_name or _infer_dtype(data))
        _dt.dtype(host.dtype)  # refuse object/str/complex data with a clear message
        array = target.asarray(host)
    if isinstance(array, np.generic):
        array = np.asarray(array)
    t = Tensor._make(array, target)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


from . import ops as _ops  # noqa: E402  (ops build on Tensor)
