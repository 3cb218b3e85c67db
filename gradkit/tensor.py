"""Tensor: a backend array, the Backend it lives on, and its place in the autograd graph."""

from __future__ import annotations

import inspect
import math
import operator
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from . import backends as _backends
from . import dtypes as _dt
from .autograd import on_device  # defined before autograd imports this module

if TYPE_CHECKING:
    from ._tensor_methods import TensorMethods as _Methods
    from ._typing import Array, DeviceLike, DTypeLike, Scalar, TensorOrScalar
    from .autograd import AccumulateGrad, Function
    from .backends import Backend
    from .hooks import RemovableHandle
else:
    _Methods = object  # (the op table's methods are attached by gradkit/ops/__init__.py)

_SCALARS = (int, float, bool)
_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul,
            "/=": operator.itruediv}
_BINARY = {"+=": "Add", "-=": "Sub", "*=": "Mul", "/=": "Div"}  # the ops in gradkit.ops


_new_object = object.__new__  # (Tensor._make: a module global is read faster than object's)


class _Version:
    """The version counter of one storage, shared by every tensor that aliases it (views,
    `detach()`, `.data`). Each in-place write bumps it; a node of the graph remembers the
    versions of what it saved, and backward refuses to use a tensor changed since."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Tensor(_Methods):
    """An n-dimensional array that can record the operations applied to it (torch.Tensor).

    ``gk.Tensor(data)`` copies `data` into a float32 tensor (unless `dtype` says
    otherwise); ``gk.Tensor(2, 3)`` makes a zero-filled tensor of that shape. Most code
    makes tensors with :func:`gradkit.tensor` (which keeps integer data integer),
    :func:`gradkit.zeros`, :func:`gradkit.randn` and the other creation functions.

    A tensor made by an op while recording holds that op's node in `_node` (its
    `grad_fn`); leaves (made by the user) have none and collect gradients in `.grad`.
    `_vc` is the storage's version counter (made on first need) and `_base` the tensor
    a view was taken from.

    Parameters
    ----------
    *data : array_like or int
        One argument: the data (anything :func:`gradkit.tensor` takes). Or ints: the
        sizes of a zero-filled tensor.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for this tensor.

    Attributes
    ----------
    array : array
        The raw backend array (numpy.ndarray, cupy.ndarray, ...), never copied.
    backend : Backend
        The array library and device the tensor lives on.

    Raises
    ------
    TypeError
        If given neither one data argument nor int sizes, or if `requires_grad` is
        True for an integer dtype.

    See Also
    --------
    tensor : The usual way to make a tensor from data.

    Notes
    -----
    PyTorch equivalent: :class:`torch.Tensor`.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.Tensor([1, 2])
    tensor([1., 2.])
    >>> gk.Tensor(2, 3).shape
    (2, 3)
    """

    # (a dict: the public attributes' docstrings, which autodoc and tests/test_doctests.py read)
    __slots__ = {
        "array": """The raw backend array, never a copy: numpy.ndarray, cupy.ndarray, ...

        A numpy.ndarray on the CPU, a cupy.ndarray on a GPU, an array-api-strict array on
        the ``strict`` test backend. Tensors that share
        storage (views, :meth:`detach`, :attr:`data`) share it. Use it to hand data to
        the array library itself; a write into it is not seen by autograd (no version
        bump), so change values through the tensor instead.

        Notes
        -----
        gradkit-only: PyTorch has no attribute for the underlying storage. Its nearest,
        ``torch.Tensor.numpy()``, shares memory on the CPU and refuses CUDA tensors;
        here :meth:`numpy` always copies to the host and ``.array`` never copies.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0])
        >>> x.array
        array([1., 2.], dtype=float32)
        >>> x.detach().array is x.array
        True
        """,
        "backend": """The :class:`~gradkit.backends.Backend` the tensor lives on (library, device).

        It gives the array namespace (``backend.xp``), the device, the random generator
        and host conversion; library code asks it rather than branching on the device.

        Notes
        -----
        gradkit-only. PyTorch's nearest is ``torch.Tensor.device``; :attr:`device` is
        this backend's device string.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.zeros(2)
        >>> x.backend
        <Backend numpy on cpu>
        >>> x.backend.name, x.backend.device
        ('numpy', 'cpu')
        >>> gk.zeros(2, device="strict").backend
        <Backend strict on strict:device1>
        """,
        "_requires_grad": None, "_grad": None, "_node": None, "_vc": None, "_base": None,
        "_acc": None, "__weakref__": None,
    }
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__
    array: Array
    backend: Backend
    _requires_grad: bool
    _grad: Tensor | None
    _node: Function | None
    _vc: _Version | None
    _base: Tensor | None
    _acc: AccumulateGrad | None

    def __init__(self, *data: Any, dtype: DTypeLike | None = None, device: DeviceLike = None,
                 requires_grad: bool = False) -> None:
        # gk.Tensor(data) or gk.Tensor(2, 3), as torch.Tensor: float32 unless `dtype` says
        # otherwise (gk.tensor keeps integer data integer); documented in the class.
        if data and all(type(d) is int for d in data):  # sizes: zeros of that shape
            data = (np.zeros(data, dtype=np.float32),)
        if len(data) != 1:
            raise TypeError(f"Tensor() takes data or sizes, not {data!r}")
        t = tensor(data[0], dtype=dtype or _dt.float32, device=device,
                   requires_grad=requires_grad)
        self.array, self.backend, self._grad, self._node = t.array, t.backend, None, None
        self._vc = self._base = self._acc = None
        self._requires_grad = t._requires_grad

    @classmethod
    def _make(cls, array: Array, backend: Backend, node: Function | None = None) -> Tensor:
        t = _new_object(cls)
        t.array = array
        t.backend = backend
        t._grad = None
        t._node = node
        t._requires_grad = node is not None
        t._vc = t._base = t._acc = None
        return t

    @classmethod
    def wrap(cls, array: Array, backend: Backend) -> Tensor:
        """A constant tensor around a raw array of `backend`: no copy, no checks.

        How library code (nn, optim, data) turns the result of `backend.xp` work into a
        Tensor, outside the graph; users want :func:`gradkit.tensor` (a copy) or
        :func:`gradkit.as_tensor`.

        Parameters
        ----------
        array : array
            A raw array of `backend`'s library on its device.
        backend : Backend
            The backend that owns `array`.

        Returns
        -------
        Tensor
            A leaf that shares `array`'s memory and does not require grad.

        Notes
        -----
        gradkit-only (PyTorch has no such constructor).

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> gk.Tensor.wrap(np.array([1.0, 2.0]), gk.get_backend("cpu"))
        tensor([1., 2.], dtype=float64)
        """
        return cls._make(array, backend)

    @on_device
    def _write(self, array: Any) -> Tensor:
        """Write `array` (a raw array of this backend, or a scalar) into this tensor's
        storage and count the write: the one way library code changes `.array`'s values
        outside the ops (aliases see the new values; saved copies raise at backward)."""
        self.array[...] = array
        self._bump_version()
        return self

    def _rebind(self, array: Array, backend: Backend | None = None) -> Tensor:
        """Replace the storage itself (another device or dtype: Module.to), counting it as
        a write so that a graph which saved the old storage raises instead of using it."""
        self.array = array
        if backend is not None:
            self.backend = backend
            if self._acc is not None:
                self._acc.backend = backend  # where its gradients must now arrive
        self._bump_version()
        return self

    # ---- versions and aliasing ---------------------------------------------------------
    def _counter(self) -> _Version:
        vc = self._vc
        if vc is None:
            vc = self._vc = _Version()
        return vc

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's storage has had (PyTorch's `_version`)."""
        return 0 if self._vc is None else self._vc.value

    def _bump_version(self) -> None:
        """Record an in-place write to this tensor's storage."""
        (self._vc or self._counter()).value += 1

    def _alias(self, source: Tensor, view: bool = True) -> Tensor:
        """Make self share `source`'s storage bookkeeping: its version counter, and (for a
        view) its base."""
        self._vc = source._counter()
        if view:
            self._base = source if source._base is None else source._base
        return self

    # ---- metadata --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dim, a tuple of ints (torch.Tensor.shape, without torch.Size).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2, 3).shape
        (2, 3)
        """
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        """The number of dims (torch.Tensor.ndim).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2, 3).ndim
        2
        """
        return self.array.ndim

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self) -> _dt.DType:
        """The element type, a gradkit DType (torch.Tensor.dtype).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.0, 2.0]).dtype
        gradkit.float32
        >>> gk.tensor([1, 2]).dtype
        gradkit.int64
        """
        return _dt.DTYPES[self.backend.dtype_name(self.array.dtype)]

    @property
    def device(self) -> str:
        """The device the tensor lives on: "cpu", "cuda:0", "strict:device1", ...

        Unlike PyTorch's, a string, not a torch.device.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2).device
        'cpu'
        >>> gk.zeros(2, device="strict").device
        'strict:device1'
        """
        return self.backend.device

    @property
    def is_leaf(self) -> bool:
        """Whether the tensor was made by the user rather than by a recorded op.

        Leaves that require grad collect their gradient in `.grad` (torch.Tensor.is_leaf).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> x.is_leaf, (x * 2).is_leaf
        (True, False)
        """
        return self._node is None

    @property
    def grad_fn(self) -> Function | None:
        """The node of the graph that made this tensor, or None for a leaf.

        Notes
        -----
        PyTorch equivalent: :attr:`torch.Tensor.grad_fn`. Differences: the node is the op's
        :class:`Function` instance; the nodes of its inputs are ``grad_fn.edges`` (an
        AccumulateGrad for a leaf that requires grad, None for an input that needs no
        gradient): PyTorch's ``next_functions`` without the output indices.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * 2).grad_fn
        <MulBackward0 object>
        >>> x.grad_fn is None
        True
        """
        return self._node

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor (settable on leaves).

        Setting it is :meth:`requires_grad_`; only floating-point leaves can require grad.

        Notes
        -----
        PyTorch equivalent: :attr:`torch.Tensor.requires_grad` (same rules). Differences:
        turning it on for a tensor that is not floating point raises TypeError (PyTorch:
        RuntimeError).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0])
        >>> x.requires_grad
        False
        >>> x.requires_grad = True
        >>> (x * 2).requires_grad
        True
        """
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` in place and return self (``torch.Tensor.requires_grad_``).

        Parameters
        ----------
        requires_grad : bool, default True
            Whether backward should compute a gradient for this tensor.

        Returns
        -------
        Tensor
            The tensor itself.

        Raises
        ------
        RuntimeError
            If asked to turn it off on a non-leaf (use :meth:`detach`).
        TypeError
            If turning it on for a tensor that is not floating point.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.0, 2.0]).requires_grad_()
        tensor([1., 2.], requires_grad=True)
        """
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError(
                f"requires_grad can only be changed on leaf tensors; this one (shape "
                f"{self.shape}) is the output of {type(self._node).__name__}: use "
                ".detach() for a tensor outside the graph")
        if requires_grad and not self.dtype.is_floating_point:
            raise TypeError(f"only floating-point tensors can require grad, not {self.dtype} "
                            f"(shape {self.shape}); convert with .float() first")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient, or None before the first backward.

        A Tensor of this tensor's shape, dtype and device, which each backward adds to
        (set it to None, or use an optimizer's zero_grad, between steps). Assignments
        are checked here, not later inside an optimizer step: a non-Tensor raises
        TypeError, another device DeviceError, another shape ValueError, another dtype
        TypeError.

        Notes
        -----
        PyTorch equivalent: :attr:`torch.Tensor.grad`. Differences: an assigned gradient of
        the wrong shape raises ValueError, of the wrong dtype TypeError, on another device
        DeviceError (PyTorch raises RuntimeError for each); reading the gradient of a
        non-leaf that does not retain it gives None without PyTorch's warning.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4.])
        >>> x.grad = None
        """
        return self._grad

    @grad.setter
    def grad(self, g: Tensor | None) -> None:
        if g is not None:
            if not isinstance(g, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, not "
                                f"{type(g).__name__}; wrap it with gk.tensor(...)")
            if g.backend is not self.backend:
                raise _backends.DeviceError(f"assigned grad is on device {g.device} but the tensor "
                                            f"is on {self.device}")
            if g.shape != self.shape:
                raise ValueError(f"assigned grad has shape {g.shape} but the tensor has "
                                 f"shape {self.shape}")
            if g.dtype != self.dtype:
                raise TypeError(f"assigned grad has dtype {g.dtype} but the tensor has "
                                f"dtype {self.dtype}")
        self._grad = g

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def data(self) -> Tensor:
        """The same storage, detached from the graph (torch.Tensor.data).

        Unlike PyTorch's `.data`, writes through it bump the version counter, so
        backward still notices them. Assigning a Tensor on the same device replaces the
        storage (DeviceError for another device, TypeError for a non-Tensor).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> x.data
        tensor([1., 2.])
        """
        return Tensor._make(self.array, self.backend)._alias(self, view=False)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be set to a Tensor, not {type(value).__name__}")
        if value.backend is not self.backend:
            raise _backends.DeviceError(f"data is on {value.device} but the tensor is on "
                                        f"{self.device}")
        self.array = value.array
        self._bump_version()

    def _accumulator(self) -> AccumulateGrad:
        """The AccumulateGrad node this leaf's gradient flows into (made once)."""
        if self._acc is None:
            from .autograd import AccumulateGrad

            self._acc = AccumulateGrad(self)
        return self._acc

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient has been computed.

        For a leaf the gradient is the sum over all its uses, before it is added to
        `.grad`. A tensor the hook returns replaces the gradient.

        Parameters
        ----------
        hook : callable
            ``hook(grad) -> Tensor or None``.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.

        Raises
        ------
        RuntimeError
            If the tensor does not require grad.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.Tensor.register_hook`.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([20., 40.])
        >>> handle.remove()
        """
        from .hooks import RemovableHandle

        if not self._requires_grad:
            raise RuntimeError(f"cannot register a hook on a tensor (shape {self.shape}) "
                               "that does not require grad")
        node = self._node or self._accumulator()
        if node.hooks is None:
            node.hooks = OrderedDict()
        handle = RemovableHandle(node.hooks)
        node.hooks[handle.id] = hook
        return handle

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]
                                           ) -> RemovableHandle:
        """Call ``hook(tensor)`` after backward has added into this leaf's `.grad`.

        It runs during the backward pass, as soon as the leaf's gradient is complete,
        so work it starts (an all-reduce) overlaps the rest of the pass. Only
        :meth:`backward` runs it; :func:`gradkit.grad` writes no `.grad`.

        Parameters
        ----------
        hook : callable
            ``hook(tensor) -> None``; it reads ``tensor.grad``.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.

        Raises
        ------
        RuntimeError
            If the tensor is not a leaf that requires grad.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.Tensor.register_post_accumulate_grad_hook`.

        Examples
        --------
        >>> import gradkit as gk
        >>> w = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> seen = []
        >>> handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad))
        >>> (w * w).sum().backward()
        >>> seen
        [tensor([2., 4.])]
        >>> handle.remove()
        """
        from .hooks import RemovableHandle

        if not self._requires_grad or self._node is not None:
            why = "is not a leaf" if self._node is not None else "does not require grad"
            raise RuntimeError(f"register_post_accumulate_grad_hook needs a leaf tensor that "
                               f"requires grad; this one (shape {self.shape}) {why}")
        node = self._accumulator()
        if node.post_hooks is None:
            node.post_hooks = OrderedDict()
        handle = RemovableHandle(node.post_hooks)
        node.post_hooks[handle.id] = hook
        return handle

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` during backward.

        A no-op on leaves, which keep theirs anyway (torch.Tensor.retain_grad).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> y.retain_grad()
        >>> (y * y).sum().backward()
        >>> y.grad
        tensor([ 6., 12.])
        """
        if self._node is None:
            return
        if self._node.retained is None:
            self._node.retained = []
        self._node.retained.append(weakref.ref(self))

    # ---- conversion --------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array: a host copy on every backend.

        On a GPU this is a synchronisation. Unlike PyTorch's on the CPU, never a view:
        writing to it cannot change the tensor behind autograd's back (`x.array` is the
        raw array, without a copy). Unlike PyTorch's, it also works on tensors that
        require grad.

        Returns
        -------
        numpy.ndarray
            A new array of the tensor's shape and dtype.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        """
        host = self.backend.to_numpy(self.array)
        return host.copy() if host is self.array else host  # the NumPy backend's own array

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number (torch.Tensor.item).

        Returns
        -------
        float, int or bool

        Raises
        ------
        ValueError
            If the tensor has more than one element (or none).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([2.5]).item()
        2.5
        >>> gk.tensor([[1.0, 2.0]]).sum().item()
        3.0
        """
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, not shape {self.shape}")
        return self.backend.to_numpy(self.array).reshape(()).item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers (torch.Tensor.tolist).

        Returns
        -------
        list or scalar
            Nested lists, one level per dim; a number for a 0-d tensor.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([[1, 2], [3, 4]]).tolist()
        [[1, 2], [3, 4]]
        """
        return self.backend.to_numpy(self.array).tolist()

    # ---- NumPy interop: a Tensor in the graph or a TypeError, never an object array ----
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(x)`, `plt.imshow(x)`, scikit-learn: a read-only NumPy view of a CPU
        tensor that does not require grad (read-only so that NumPy code cannot change the
        tensor behind autograd's back); a new writable array when `copy` is True or
        `dtype` differs. Tensors that require grad or live on another device are refused."""
        if self.requires_grad:
            raise TypeError("cannot convert a tensor that requires grad to a NumPy array (the "
                            "result would leave the graph); use x.detach() first, or x.detach()"
                            ".numpy() for a copy")
        if not isinstance(self.array, np.ndarray):
            raise TypeError(f"cannot convert a tensor on {self.device} to a NumPy array "
                            "implicitly (a hidden device-to-host copy); use x.numpy() for a host "
                            "copy, or x.cpu() first")
        if copy or (dtype is not None and np.dtype(dtype) != self.array.dtype):
            if copy is False:
                raise ValueError(f"np.asarray(..., copy=False) would have to convert the "
                                 f"{self.dtype} tensor to {np.dtype(dtype)}, which copies")
            return np.array(self.array, dtype=dtype, copy=True)
        view = self.array.view()
        view.flags.writeable = False
        return view

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        """NumPy ufuncs on a Tensor (`np.exp(x)`, `ndarray * x`, `np.float32(2) * x`) run
        the matching gradkit op, through the Tensor's operators so they promote as those do;
        other ufuncs, ufunc methods (reduce, at, ...) and `out=` raise TypeError."""
        name = ufunc.__name__
        if method != "__call__":
            raise TypeError(f"numpy.{name}.{method} is not supported on gradkit Tensors (NumPy "
                            "would drop the autograd graph): use gk.sum, gk.max, ..., or "
                            "x.detach().numpy() for a NumPy result")
        if kwargs:
            raise TypeError(f"numpy.{name}(..., {', '.join(f'{k}=' for k in kwargs)}) is not "
                            f"supported on gradkit Tensors; call numpy.{name} without them and "
                            "assign the result")
        if len(inputs) == 1 and name in _UFUNC_METHODS:
            return getattr(self, _UFUNC_METHODS[name])()
        if len(inputs) == 2 and name in _UFUNC_FUNCTIONS:
            return getattr(_ops, _UFUNC_FUNCTIONS[name])(*inputs)
        if len(inputs) == 2 and name in _UFUNC_OPERATORS:
            a, b = inputs
            forward, reflected = _UFUNC_OPERATORS[name]
            x, method, other = (a, forward, b) if isinstance(a, Tensor) else (b, reflected, a)
            op = getattr(x, method, None)  # floor_divide and remainder: when Tensor has them
            if op is not None:
                return op(other)
        raise _numpy_unsupported(f"numpy.{name}", name)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any,
                           kwargs: Any) -> Any:
        """NumPy functions on a Tensor: those in _NUMPY_FUNCTIONS (concatenate, stack, sum,
        mean, max, min, where, reshape, transpose, clip) run the gradkit op and give a
        Tensor in the graph; np.shape, np.ndim, np.size and the memory checks answer about
        the tensor; the others raise TypeError."""
        handler = _NUMPY_FUNCTIONS.get(func)
        if handler is None:
            raise _numpy_unsupported(f"numpy.{func.__name__}", func.__name__)
        try:
            inspect.signature(handler).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"numpy.{func.__name__} on gradkit Tensors: {e}") from None
        return handler(*args, **kwargs)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.backend.to_numpy(self.array), separator=", ",
                               prefix="tensor(")
        default = self.dtype in (_dt.float32, _dt.int64, _dt.bool_)
        extra = "" if default else f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name()}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """Export for `torch.from_dlpack`, `np.from_dlpack`, ...: shares memory. Refused
        for tensors that require grad, with PyTorch's error (BufferError, as the Array API
        standard says for a failed export)."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.array.__dlpack_device__()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (torch.Tensor.detach).

        Shares memory and the version counter with self; does not require grad.

        Returns
        -------
        Tensor
            A leaf outside the graph.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * 2).detach()
        >>> y
        tensor([2., 4.])
        >>> y.requires_grad
        False
        """
        return Tensor._make(self.array, self.backend)._alias(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """copy.deepcopy: a leaf (of the same class, e.g. nn.Parameter) with its own copy
        of the data and grad on the same device; the Backend itself is shared."""
        if self._node is not None:
            raise RuntimeError("only leaf tensors support deepcopy; use .detach() first")
        t = object.__new__(type(self))
        memo[id(self)] = t
        t.array = self.backend.xp.asarray(self.array, copy=True)
        t.backend, t._node, t._requires_grad = self.backend, None, self._requires_grad
        t._vc = t._base = t._acc = None
        t._grad = None if self._grad is None else self._grad.__deepcopy__(memo)
        return t

    def to(self, device: DeviceLike | DTypeLike | Tensor = None, dtype: DTypeLike | None = None,
           non_blocking: bool = False, copy: bool = False) -> Tensor:
        """This tensor on another device and/or in another dtype (torch.Tensor.to).

        ``x.to("cuda")``, ``x.to(gk.float64)``, ``x.to("cuda", gk.float64)`` or
        ``x.to(other)`` (other's device and dtype). Differentiable: gradients flow back
        to self's device and dtype.

        Parameters
        ----------
        device : str, Backend, DType or Tensor, optional
            The target device, or a dtype (then `dtype` is not given), or a tensor whose
            device and dtype to take.
        dtype : DType or str, optional
            The target dtype.
        non_blocking : bool, default False
            Accepted for PyTorch compatibility; ignored.
        copy : bool, default False
            Return a copy even when nothing changes.

        Returns
        -------
        Tensor
            This tensor itself when nothing changes (and not `copy`), else a new one.

        Raises
        ------
        DeviceError
            If the device is unknown or unavailable here.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0])
        >>> x.to(gk.float64)
        tensor([1., 2.], dtype=float64)
        >>> x.to("strict")
        tensor([1., 2.], device='strict:device1')
        >>> x.to("cpu") is x
        True
        """
        if isinstance(device, Tensor):
            other = device
            device, dtype = other.backend, other.dtype
        elif _dt.is_dtype_like(device):
            device, dtype = None, device
        t = self
        if device is not None:
            backend = _backends.get_backend(device)  # type: ignore[arg-type]  # (no dtype now)
            if backend is not t.backend:
                t = _ops.ToDevice.apply(t, backend=backend)
        if dtype is not None:
            t = t.astype(dtype)
        return _ops.clone(t) if copy and t is self else t

    def cpu(self) -> Tensor:
        """This tensor on the CPU: ``x.to("cpu")`` (torch.Tensor.cpu).

        Returns
        -------
        Tensor
            Self if it already is on the CPU.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.0], device="strict").cpu()
        tensor([1.])
        """
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        """This tensor on GPU `index`: ``x.to(f"cuda:{index}")`` (torch.Tensor.cuda).

        Parameters
        ----------
        index : int, default 0
            The GPU's index.

        Returns
        -------
        Tensor

        Raises
        ------
        DeviceError
            If CuPy or that GPU is unavailable.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.0]).cuda()  # doctest: +SKIP
        tensor([1.], device='cuda:0')
        """
        return self.to(f"cuda:{index}")

    def astype(self, dtype: DTypeLike) -> Tensor:
        """This tensor converted to `dtype`; self if it already has it.

        Differentiable between floating dtypes. Like ``x.to(dtype)``.

        Parameters
        ----------
        dtype : DType or str
            The target dtype.

        Returns
        -------
        Tensor

        Raises
        ------
        TypeError
            If `dtype` is no dtype gradkit supports.

        Notes
        -----
        PyTorch has no ``Tensor.astype``; this is NumPy's and the Array API's name.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.5, 2.5]).astype(gk.int64)
        tensor([1, 2])
        """
        dtype = _dt.dtype(dtype)
        if dtype == self.dtype:
            return self
        return _ops.AsType.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        """This tensor as float32 (torch.Tensor.float).

        Returns
        -------
        Tensor
            Self if it already is float32.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1, 2]).float()
        tensor([1., 2.])
        """
        return self.astype(_dt.float32)

    def double(self) -> Tensor:
        """This tensor as float64 (torch.Tensor.double).

        Returns
        -------
        Tensor
            Self if it already is float64.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1, 2]).double()
        tensor([1., 2.], dtype=float64)
        """
        return self.astype(_dt.float64)

    def long(self) -> Tensor:
        """This tensor as int64 (torch.Tensor.long); floats are truncated toward zero.

        Returns
        -------
        Tensor
            Self if it already is int64.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.7, -1.7]).long()
        tensor([ 1, -1])
        """
        return self.astype(_dt.int64)

    # ---- autograd ------------------------------------------------------------------
    def backward(self, grad: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Compute d self / d leaf and add it to every leaf's `.grad` (torch.Tensor.backward).

        Gradients accumulate: call it twice and `.grad` holds the sum. The graph is
        freed afterwards unless `retain_graph` is True.

        Parameters
        ----------
        grad : Tensor or array_like, optional
            The gradient of some scalar with respect to self, of self's shape. Needed
            unless self has one element.
        retain_graph : bool, optional
            Keep the graph for another backward; defaults to `create_graph`.
        create_graph : bool, default False
            Record the backward pass too, so that the gradients can be differentiated
            again (second derivatives).

        Raises
        ------
        GradkitError
            If self does not require grad, if `grad` is missing for a tensor of more than
            one element, or if the graph was already freed by an earlier backward.
        ShapeError
            If `grad` does not have self's shape.
        DeviceError
            If `grad` is on another device.

        See Also
        --------
        grad : The gradients as a tuple, leaving `.grad` untouched.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4.])
        >>> (x * 3).backward(gk.tensor([1.0, 1.0]))
        >>> x.grad
        tensor([5., 7.])
        """
        from .autograd import backward

        backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def zero_(self) -> Tensor:
        """Fill with zeros in place and return self (``torch.Tensor.zero_``).

        The storage is written, as ``x[...] = 0``; views and aliases see the zeros.

        Returns
        -------
        Tensor
            The tensor itself.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.ones(2)
        >>> x.zero_()
        tensor([0., 0.])
        """
        return _ops.setitem_(self, Ellipsis, 0)

    # ---- operators ---------------------------------------------------------------------
    def _other(self, other: Any) -> Any:  # a Tensor, or a Python scalar as it is
        if isinstance(other, (Tensor, *_SCALARS)):
            return other
        return tensor(other, device=self.backend)

    if TYPE_CHECKING:  # + - * / and their reflected forms: gradkit/ops/elementwise.py
        # attaches them (`binary_operator`: the op's apply after type promotion, in one
        # call layer, since they are the hottest path of eager code)
        def __add__(self, other: TensorOrScalar) -> Tensor: ...
        def __radd__(self, other: TensorOrScalar) -> Tensor: ...
        def __sub__(self, other: TensorOrScalar) -> Tensor: ...
        def __rsub__(self, other: TensorOrScalar) -> Tensor: ...
        def __mul__(self, other: TensorOrScalar) -> Tensor: ...
        def __rmul__(self, other: TensorOrScalar) -> Tensor: ...
        def __truediv__(self, other: TensorOrScalar) -> Tensor: ...
        def __rtruediv__(self, other: TensorOrScalar) -> Tensor: ...

    def __pow__(self, other: TensorOrScalar) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: TensorOrScalar) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Tensor | Any) -> Tensor:
        return _ops.matmul(self, self._other(other))

    def __rmatmul__(self, other: Tensor | Any) -> Tensor:
        return _ops.matmul(self._other(other), self)

    def __neg__(self) -> Tensor:
        return _ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.Abs.apply(self)

    def __lt__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("less", self, other)

    def __le__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("less_equal", self, other)

    def __gt__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("greater", self, other)

    def __ge__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("greater_equal", self, other)

    # (elementwise, as PyTorch's: a bool tensor, where object's __eq__ gives a bool)
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare("equal", self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare("not_equal", self, other)

    def __invert__(self) -> Tensor:
        return _ops.logical_not(self)

    def __and__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("logical_and", self, other)

    def __or__(self, other: TensorOrScalar) -> Tensor:
        return _ops.compare("logical_or", self, other)

    # ---- in place, as PyTorch ---------------------------------------------------------
    # `x += y` and `x[i] = v` write x's storage and bump its version counter. Outside the
    # graph (no_grad, or nothing involved requires grad) that is all: the usual
    # `with gk.no_grad(): p -= lr * p.grad`. While recording, the write is recorded too:
    # x becomes the output of the op applied to its old self (PyTorch's rebase), so
    # `out = x @ w; out += b` differentiates like `out = x @ w + b`.
    @on_device
    def _in_place(self, other: Any, what: str, write: Callable[[], None],
                  op: Callable[[Tensor], Tensor]) -> Tensor:
        """Run `write()` on the storage, or, while recording, rebase self onto
        `op(old_self)` (computed out of place, then copied into the storage)."""
        from .autograd import is_grad_enabled

        if is_grad_enabled() and (self._requires_grad or (
                isinstance(other, Tensor) and other._requires_grad)):
            new = op(self._old_self(what))
            if new.shape != self.shape:
                raise _ShapeError(f"{what}: the result has shape {new.shape}, which cannot be "
                                  f"stored in place in a tensor of shape {self.shape}")
            if new.array.dtype != self.array.dtype:
                _check_cast(new.dtype, self.dtype, what)
                new = new.astype(self.dtype)
            self.array[...] = new.array  # the storage itself: views and aliases see it
            self._node, self._requires_grad = new._node, new._requires_grad
        else:
            write()
        self._bump_version()
        return self

    def _old_self(self, what: str) -> Tensor:
        """Self before an in-place op: the same storage and node, for the op to consume."""
        if self._node is None and self._requires_grad:
            raise RuntimeError(
                f"{what}: a leaf tensor that requires grad (shape {self.shape}) cannot be "
                "changed in place while the graph is recorded; update it under "
                "`with gk.no_grad():`, or write `x = x + ...`")
        if self._base is not None:
            base = self._base
            leaf = ", a leaf that requires grad" if base.is_leaf and base.requires_grad else ""
            raise RuntimeError(
                f"{what}: this tensor (shape {self.shape}) is a view of another tensor "
                f"(shape {base.shape}{leaf}), and gradkit does not record in-place changes "
                "through views; change a .clone() instead, or write the base directly "
                "(x[i] = x[i] + v)")
        old = Tensor._make(self.array, self.backend, self._node)
        old._requires_grad = self._requires_grad
        return old._alias(self, view=False)

    def _arith_in_place(self, other: Any, op: str) -> Tensor:
        other = _ops._operand(other, self)
        if isinstance(other, Tensor):
            _backends.common_backend(f"in-place {op}", (self.backend, other.backend))

        def write() -> None:
            value = other
            if isinstance(other, Tensor):
                value = other.array
                if value.dtype != self.array.dtype:
                    result = _dt.result_type(self, other)
                    _check_cast(_dt.float32 if op == "/=" and result.kind != "f" else result,
                                self.dtype, f"in-place {op}")
                    value = self.backend.xp.astype(value, self.array.dtype)
            elif self.dtype.kind != "f" and (op == "/=" or type(other) is float):
                _check_cast(_dt.float32, self.dtype, f"in-place {op}")
            try:
                _INPLACE[op](self.array, value)
            except (TypeError, ValueError) as e:  # broadcasting into self
                raise ValueError(f"in-place {op}: cannot apply shape "
                                 f"{getattr(other, 'shape', ())} to a {self.dtype} tensor of "
                                 f"shape {self.shape} in place ({e})") from e

        return self._in_place(other, f"in-place {op}", write,
                              lambda old: _ops.binary(getattr(_ops, _BINARY[op]), old, other))

    def __floordiv__(self, other: TensorOrScalar) -> Tensor:
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other: TensorOrScalar) -> Tensor:
        return _ops.floor_divide(other, self)

    def __mod__(self, other: TensorOrScalar) -> Tensor:
        return _ops.remainder(self, other)

    def __rmod__(self, other: TensorOrScalar) -> Tensor:
        return _ops.remainder(other, self)

    def __iadd__(self, other: TensorOrScalar) -> Tensor:
        return self._arith_in_place(other, "+=")

    def __isub__(self, other: TensorOrScalar) -> Tensor:
        return self._arith_in_place(other, "-=")

    def __imul__(self, other: TensorOrScalar) -> Tensor:
        return self._arith_in_place(other, "*=")

    def __itruediv__(self, other: TensorOrScalar) -> Tensor:
        return self._arith_in_place(other, "/=")

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: TensorOrScalar | Any) -> None:
        _ops.setitem_(self, index, value)

    # ---- methods -------------------------------------------------------------------------
    # Every op's method (x.sum(), x.view(), x.exp(), ...) is attached from gradkit.ops's
    # table (ops/_common.py: `public`); what follows is not an op.
    @property
    def T(self) -> Tensor:
        """The tensor with all dims reversed (PyTorch's and NumPy's .T); a view.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([[1, 2], [3, 4]]).T
        tensor([[1, 3],
                [2, 4]])
        """
        return _ops.permute_dims(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        """The last two dims swapped: a batch of matrices transposed (torch.Tensor.mT).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(5, 2, 3).mT.shape
        (5, 3, 2)
        """
        return _ops.matrix_transpose(self)

    @overload
    def size(self, dim: None = None) -> tuple[int, ...]: ...
    @overload
    def size(self, dim: int) -> int: ...

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or the size of one dim (torch.Tensor.size).

        Parameters
        ----------
        dim : int, optional
            A dim (negative counts from the end).

        Returns
        -------
        tuple of int or int
            The shape (a tuple, not a torch.Size) when `dim` is None.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.zeros(2, 3)
        >>> x.size()
        (2, 3)
        >>> x.size(-1)
        3
        """
        return self.shape if dim is None else self.array.shape[dim]

    def numel(self) -> int:
        """The number of elements (torch.Tensor.numel; `nelement` is the same).

        Returns
        -------
        int

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2, 3).numel()
        6
        """
        return math.prod(self.array.shape)

    nelement = numel

    def dim(self) -> int:
        """The number of dims, as `ndim` (torch.Tensor.dim).

        Returns
        -------
        int

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2, 3).dim()
        2
        """
        return self.array.ndim

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating-point one (torch.Tensor.is_floating_point).

        Returns
        -------
        bool

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2).is_floating_point(), gk.tensor([1, 2]).is_floating_point()
        (True, False)
        """
        return self.backend.is_float(self.array.dtype)

    def element_size(self) -> int:
        """The size of one element in bytes (torch.Tensor.element_size).

        Returns
        -------
        int

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(2).element_size(), gk.zeros(2, dtype=gk.float64).element_size()
        (4, 8)
        """
        return self.dtype.itemsize

    def int(self) -> Tensor:
        """This tensor as int32 (torch.Tensor.int); floats are truncated toward zero.

        Returns
        -------
        Tensor
            Self if it already is int32.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([1.5, 2.5]).int()
        tensor([1, 2], dtype=int32)
        """
        return self.astype(_dt.int32)

    def bool(self) -> Tensor:
        """This tensor as bool: nonzero is True (torch.Tensor.bool).

        Returns
        -------
        Tensor
            Self if it already is bool.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.tensor([0.0, 2.0]).bool()
        tensor([False,  True])
        """
        return self.astype(_dt.bool_)

    def masked_fill_(self, mask: Tensor | Any, value: TensorOrScalar) -> Tensor:
        """Write `value` where `mask` is True, in place, and return self.

        Recorded like the other in-place ops (see `_in_place`).

        Parameters
        ----------
        mask : Tensor or array_like of bool
            Broadcastable to self's shape.
        value : Tensor or scalar
            The value to write.

        Returns
        -------
        Tensor
            The tensor itself.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.Tensor.masked_fill_`.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0, 3.0])
        >>> x.masked_fill_(x > 1.5, 0.0)
        tensor([1., 0., 0.])
        """
        return _ops.setitem_(self, mask if isinstance(mask, Tensor) else tensor(mask), value)

    def fill_(self, value: TensorOrScalar) -> Tensor:
        """Fill with `value` in place and return self (``torch.Tensor.fill_``).

        Parameters
        ----------
        value : Tensor or scalar
            The value to write (a one-element tensor or a number).

        Returns
        -------
        Tensor
            The tensor itself.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.zeros(3).fill_(7.0)
        tensor([7., 7., 7.])
        """
        return _ops.setitem_(self, Ellipsis, value)

    def __format__(self, spec: str) -> str:
        """f"{t:.4f}" formats a one-element tensor's value, as PyTorch's."""
        if not spec:
            return str(self)
        if self.numel() != 1:
            raise TypeError(f"unsupported format string {spec!r} for a tensor of shape "
                            f"{self.shape}; format t.item() or t.tolist() instead")
        return format(self.item(), spec)



def _check_cast(result: _dt.DType, target: _dt.DType, what: str) -> None:
    if not _dt.can_cast(result, target):
        raise TypeError(f"{what}: the result type {result} can't be stored in place in a "
                        f"{target} tensor; convert it first (x = x.float())")


def _infer_dtype(data: Any) -> str:
    """Python floats -> float32, ints -> int64, bools -> bool (PyTorch's defaults); arrays
    of other libraries (torch, JAX, ...) keep their dtype."""
    if isinstance(data, bool):
        return "bool"
    if isinstance(data, int):
        return "int64"
    if isinstance(data, float):
        return "float32"
    arr = np.asarray(data)
    if not isinstance(data, (list, tuple)):
        return _dt.dtype(arr.dtype).name
    if arr.dtype == np.float64:
        return "float32"
    if arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        return "int64"
    if arr.dtype.kind == "b":
        return "bool"
    return _dt.dtype(arr.dtype).name


def tensor(data: Any, dtype: DTypeLike | None = None, device: DeviceLike = None,
           requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (torch.tensor).

    `data` may be a Python scalar or (nested) list, a NumPy array, a backend array, an
    array of another library (torch, JAX: anything NumPy can read) or a Tensor.

    Parameters
    ----------
    data : array_like or Tensor
        The values.
    dtype : DType or str, optional
        The dtype. By default arrays keep theirs; Python floats become float32, ints
        int64 and bools bool, as in PyTorch.
    device : str or Backend, optional
        "cpu", "cuda", "cuda:N" or "strict"; by default the device of a backend array,
        else the CPU.
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor
        A leaf that never shares memory with `data`.

    Raises
    ------
    TypeError
        If `data` holds values gradkit has no dtype for (strings, complex numbers,
        objects), or if `requires_grad` is True for an integer dtype.
    DeviceError
        If `device` is unknown or unavailable here.

    See Also
    --------
    as_tensor, from_numpy, from_dlpack : Tensors that share memory with their data.

    Notes
    -----
    PyTorch equivalent: :func:`torch.tensor`.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    >>> gk.tensor([1, 2])
    tensor([1, 2])
    >>> gk.tensor(3.5, dtype=gk.float64)
    tensor(3.5, dtype=float64)
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
            array = target.xp.astype(array, target.dtypes[dtype_name],
                                     device=target.native_device)
        elif array is data and not isinstance(data, np.generic):
            array = target.xp.asarray(array, copy=True, device=target.native_device)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
            data = _to_host(data)
        host = np.asarray(data, dtype=dtype_name or _infer_dtype(data))
        if not isinstance(data, (list, tuple, *_SCALARS)):  # torch, JAX, ...: np.asarray
            host = host.copy()  # may have given a view of their memory
        _dt.dtype(host.dtype)  # refuse object/str/complex data with a clear message
        array = target.asarray(host)
    if isinstance(array, np.generic):
        array = np.asarray(array)
    t = Tensor._make(array, target)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _flat(seq: Any) -> Iterator[Any]:
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _to_host(data: Any) -> Any:
    """Nested lists holding Tensors at any depth, with each Tensor's values on the host."""
    if isinstance(data, Tensor):
        return data.backend.to_numpy(data.array)
    if isinstance(data, (list, tuple)):
        return [_to_host(x) for x in data]
    return data


# ---- views: tensors that share memory with the data they are made from ----------------
def as_tensor(data: Any, dtype: DTypeLike | None = None, device: DeviceLike = None) -> Tensor:
    """`data` as a tensor, sharing its memory when device and dtype allow (torch.as_tensor).

    A NumPy, CuPy or other backend array, or any object with `__dlpack__` (torch, JAX),
    already on `device` (default: where it is) and of `dtype` (default: its own) is used
    without a copy, so writes to either show in both; otherwise it is converted (a copy).
    A Tensor is returned as it is, or as ``x.to(device, dtype)``, in the graph. Python
    data makes a new tensor, as :func:`tensor`.

    Parameters
    ----------
    data : array_like or Tensor
        The values.
    dtype : DType or str, optional
        The dtype; by default `data`'s own.
    device : str or Backend, optional
        The device; by default where `data` is (the CPU for Python data).

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        If `data` holds values gradkit has no dtype for.
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> a = np.array([1.0, 2.0], dtype=np.float32)
    >>> t = gk.as_tensor(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 2.])
    """
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    src = _backends.backend_of_array(data)
    if src is None and hasattr(data, "__dlpack__"):
        data = from_dlpack(data).array
        src = _backends.backend_of_array(data)
    if src is None:
        return tensor(data, dtype=dtype, device=device)
    _dt.dtype(src.dtype_name(data.dtype))  # refuse str/complex arrays, naming the choices
    target = src if device is None else _backends.get_backend(device)
    array = data if target is src else target.transfer(data, src)
    if isinstance(array, np.generic):  # a NumPy scalar: immutable, nothing to share
        array = np.asarray(array)
    if dtype is not None and target.dtype_name(array.dtype) != _dt.dtype(dtype).name:
        array = target.xp.astype(array, target.dtypes[_dt.dtype(dtype).name],
                                 device=target.native_device)
    return Tensor._make(array, target)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor that shares memory with a NumPy array (torch.from_numpy).

    Parameters
    ----------
    ndarray : numpy.ndarray
        The array, of a dtype gradkit supports.

    Returns
    -------
    Tensor
        A leaf on the CPU: writes to either show in both.

    Raises
    ------
    TypeError
        If `ndarray` is not a NumPy array, or of an unsupported dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> a = np.zeros(3, dtype=np.float32)
    >>> t = gk.from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0., 0.])
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, not {type(ndarray).__name__}; "
                        "gk.tensor copies any data, gk.as_tensor shares where it can")
    _dt.dtype(ndarray.dtype)  # refuse object/str/complex arrays, naming the choices
    return Tensor._make(ndarray, _backends.get_backend("cpu"))


def from_dlpack(obj: Any) -> Tensor:
    """A tensor that shares memory with any object with the DLPack protocol (torch.from_dlpack).

    `obj` may be a torch tensor, a NumPy or CuPy array, a JAX array or a gradkit Tensor.
    The tensor lands on the backend of obj's device (CPU memory: NumPy; CUDA memory:
    CuPy).

    Parameters
    ----------
    obj : object
        Anything with ``__dlpack__`` and ``__dlpack_device__``.

    Returns
    -------
    Tensor
        A leaf that shares `obj`'s memory.

    Raises
    ------
    TypeError
        If `obj` lacks the DLPack protocol or has a dtype gradkit lacks.
    DeviceError
        If `obj` lives on a device gradkit has no backend for.

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> a = np.array([1, 2, 3])
    >>> t = gk.from_dlpack(a)
    >>> a[0] = 7
    >>> t
    tensor([7, 2, 3])
    """
    backend = _backends.backend_of_dlpack(obj)
    array = backend.xp.from_dlpack(obj)
    _dt.dtype(backend.dtype_name(array.dtype))  # refuse dtypes gradkit lacks, naming the choices
    return Tensor._make(array, backend)


# ---- NumPy's functions on Tensors (see Tensor.__array_ufunc__ / __array_function__) ------
# Unary ufuncs -> the Tensor method of the same meaning.
_UFUNC_METHODS = {"negative": "__neg__", "positive": "__pos__", "absolute": "__abs__",
                  "exp": "exp", "log": "log", "log1p": "log1p", "sqrt": "sqrt", "tanh": "tanh",
                  "square": "square", "logical_not": "__invert__", "sin": "sin", "cos": "cos",
                  "tan": "tan", "log2": "log2", "log10": "log10", "isnan": "isnan",
                  "isfinite": "isfinite", "isinf": "isinf"}
# Binary ufuncs -> (the operator, its reflection): np.multiply(a, x) is x.__rmul__(a).
_UFUNC_OPERATORS = {
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "divide": ("__truediv__", "__rtruediv__"),
    "floor_divide": ("__floordiv__", "__rfloordiv__"), "remainder": ("__mod__", "__rmod__"),
    "power": ("__pow__", "__rpow__"), "matmul": ("__matmul__", "__rmatmul__"),
    "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__"),
    "equal": ("__eq__", "__eq__"), "not_equal": ("__ne__", "__ne__"),
    "logical_and": ("__and__", "__and__"), "logical_or": ("__or__", "__or__"),
}
# Binary ufuncs -> the gk.* function of the same meaning.
_UFUNC_FUNCTIONS = {"maximum": "maximum", "minimum": "minimum"}


def _numpy_unsupported(what: str, name: str) -> TypeError:
    """The error for a NumPy function gradkit does not map, naming the gk.* op if any."""
    import gradkit  # complete by the time a NumPy function meets a Tensor

    hint = f"use gk.{name}" if hasattr(gradkit, name) else f"gradkit has no {name} op"
    return TypeError(f"{what} is not supported on gradkit Tensors (NumPy would drop the "
                     f"autograd graph): {hint}, or x.detach().numpy() for a NumPy result")


def _as_tensors(items: Any) -> list[Tensor]:
    """`items` as Tensors, the non-Tensors moved to the device of the first Tensor."""
    ref = next(x for x in items if isinstance(x, Tensor))
    return [x if isinstance(x, Tensor) else tensor(x, device=ref.backend) for x in items]


def _refuse(func: str, **options: Any) -> None:
    """TypeError for NumPy-only options a caller gave (out=, dtype=, ...)."""
    given = [k for k, v in options.items() if v is not None]
    if given:
        raise TypeError(f"numpy.{func}(..., {', '.join(k + '=' for k in given)}) is not "
                        "supported on gradkit Tensors; leave them out and convert the result")


# Each with NumPy's signature (the arguments gradkit can honour), giving a Tensor.
def _np_concatenate(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _refuse("concatenate", out=out, dtype=dtype, casting=casting)
    tensors = _as_tensors(list(arrays))
    if axis is None:
        return _ops.concat([_ops.reshape(t, (-1,)) for t in tensors], axis=0)
    return _ops.concat(tensors, axis=axis)


def _np_stack(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _refuse("stack", out=out, dtype=dtype, casting=casting)
    return _ops.stack(_as_tensors(list(arrays)), axis=axis)


def _reduction(name, op):
    def reduce(a, axis=None, dtype=None, out=None, keepdims=False):
        _refuse(name, dtype=dtype, out=out)
        return getattr(_ops, op)(a, axis=axis, keepdims=keepdims)

    return reduce


def _extremum(name, op):
    def reduce(a, axis=None, out=None, keepdims=False):
        _refuse(name, out=out)
        return getattr(_ops, op)(a, axis=axis, keepdims=keepdims)

    return reduce


def _np_where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("numpy.where(condition) with one argument is not supported on gradkit "
                        "Tensors; use numpy.where(condition, x, y) or x.detach().numpy()")
    return _ops.where(condition, x, y)


def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    _refuse("reshape", order=None if order == "C" else order, copy=copy)
    return _ops.reshape(a, shape if shape is not None else newshape)


def _np_transpose(a, axes=None):
    return _ops.permute_dims(a, tuple(reversed(range(a.ndim))) if axes is None else tuple(axes))


def _np_clip(a, a_min=None, a_max=None, out=None):
    _refuse("clip", out=out)
    return _ops.clip(a, a_min, a_max)


def _np_size(a, axis=None):
    return a.numel() if axis is None else a.shape[axis]


def _memory_check(func):
    """np.may_share_memory / np.shares_memory (scikit-learn asks): about the raw arrays."""

    def check(a, b, max_work=None):
        a, b = (x.array if isinstance(x, Tensor) else x for x in (a, b))
        return func(a, b, max_work=max_work)

    return check


_NUMPY_FUNCTIONS = {
    np.concatenate: _np_concatenate, np.stack: _np_stack,
    np.sum: _reduction("sum", "sum"), np.mean: _reduction("mean", "mean"),
    np.max: _extremum("max", "max"), np.amax: _extremum("amax", "max"),
    np.min: _extremum("min", "min"), np.amin: _extremum("amin", "min"),
    np.where: _np_where, np.reshape: _np_reshape, np.transpose: _np_transpose,
    np.clip: _np_clip,
    # about the tensor, not computed from its values: plain Python results
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: _np_size,
    np.may_share_memory: _memory_check(np.may_share_memory),
    np.shares_memory: _memory_check(np.shares_memory),
}


from . import ops as _ops  # noqa: E402  (ops build on Tensor)
from .autograd import ShapeError as _ShapeError  # noqa: E402
