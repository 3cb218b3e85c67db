"""The simulated GPU: device arrays over NumPy storage, devices, and the synchronisation count.

An `ndarray` holds a NumPy array (`_a`, its storage) and the id of the device it lives on
(`_dev`). Everything CuPy refuses is refused here the same way; everything that makes
CuPy wait for the GPU (a value read on the host) is counted as a synchronisation.

Stream capture (CUDA graphs, `_graph.py`): while the current stream is capturing, every
operation that computes is `record`ed, as a thunk that recomputes it from the storage of
the same argument arrays and writes the result into the storage of the same result
arrays; a graph launch runs the thunks in order. As on a GPU, capturing executes
nothing: the operation runs once for its result's shape and dtype, then arrays it wrote
in place get their old values back (`unwritten`) and new floating results hold NaN
(`record_call`), the garbage of fresh pool memory. What CuPy refuses while capturing
raises here too (`sync`, `refuse_in_capture`, `refuse_cublas`).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref

import numpy as np


class Config:
    """The simulated machine. `install()` sets it; tests may read and change it."""

    gpus = 1
    peer_access = False
    version = "14.2.0"
    syncs = 0  # host synchronisations counted so far
    last_sync = ""  # what caused the last one
    raise_on_sync = False  # every synchronisation raises (DeviceSynchronized)
    # CuPy 13.6 and 14.2 refuse cuBLAS calls on a capturing stream (cublas.setStream raises
    # NotImplementedError); True models a CuPy or a GEMM path that allows them
    cublas_in_capture = False

    @classmethod
    def major(cls) -> int:
        return int(cls.version.split(".")[0])


_local = threading.local()  # .device: the current device; .allow_sync: cupyx's switch;
# .streams: device -> the current stream (absent: the null stream); .allocator: using_allocator's


class DeviceSynchronized(RuntimeError):
    """cupyx.DeviceSynchronized: a synchronisation inside allow_synchronize(False)."""


class CUDARuntimeError(RuntimeError):
    """cupy_backends.cuda.api.runtime.CUDARuntimeError."""


def sync(what: str, kind: str = "d2h"):
    """Count a host synchronisation; raise where synchronising is forbidden.

    `kind` is "d2h" for a value copied to the host (CuPy checks capture itself and raises
    RuntimeError before any CUDA call) or "sync" for a stream/device synchronize (CUDA's
    cudaErrorStreamCaptureUnsupported, which also invalidates the capture)."""
    Config.syncs += 1
    Config.last_sync = what
    if Config.raise_on_sync or not getattr(_local, "allow_sync", True):
        raise DeviceSynchronized(f"simulated GPU: host synchronisation ({what}) where "
                                 "synchronisation is not allowed")
    capture = capturing()
    if capture is not None:
        if kind == "sync":
            capture.invalid = True
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported: operation not "
                                   "permitted when stream is capturing")
        # cupy/cuda/memory.pyx, MemoryPointer.copy_to_host_async
        raise RuntimeError("the current stream is capturing, so D2H transfers are disallowed")


# ---- stream capture ------------------------------------------------------------------------
def current_stream(dev: int | None = None):
    """The current stream of device `dev` (default: current); None for the null stream."""
    streams = getattr(_local, "streams", None)
    return None if streams is None else streams.get(get_device_id() if dev is None else dev)


def capturing():
    """The capture the current stream records into, or None."""
    stream = current_stream()
    return None if stream is None else stream._capture


def record(thunk):
    """Add `thunk` to the current stream's capture, if it is capturing."""
    capture = capturing()
    if capture is not None:
        capture.ops.append(thunk)


def refuse_in_capture(message: str, error=NotImplementedError):
    """What CuPy raises for a library call (cuBLAS, an H2D copy) on a capturing stream."""
    if capturing() is not None:
        raise error(message)


# CuPy functions that call cuBLAS for floating operands (cupy/_core/_routines_linalg.pyx:
# tensordot_core, matmul); a product of two vectors is a CUB or elementwise reduction.
CUBLAS_FUNCTIONS = {"matmul", "dot", "tensordot", "inner", "vdot", "einsum", "kron",
                    "__matmul__", "__rmatmul__", "__imatmul__"}


# Functions that write their first argument in place.
INPLACE_FUNCTIONS = {"copyto", "put", "place", "putmask", "fill_diagonal"}
_INPLACE_METHODS = {"sort", "partition", "put", "resize", "itemset", "setfield"}


def refuse_cublas(name: str, args):
    """cupy_backends/cuda/libs/cublas.pyx setStream's refusal on a capturing stream."""
    if capturing() is None or Config.cublas_in_capture:
        return
    arrays = [a for a in args if isinstance(a, ndarray)]
    if not arrays or np.result_type(*(a.dtype for a in arrays)).kind not in "fc":
        return  # integer products: CuPy's own kernel
    if all(a.ndim <= 1 for a in arrays):
        return  # a vector product: a reduction kernel
    raise NotImplementedError("calling cuBLAS API during stream capture is currently "
                              f"unsupported (cupy.{name.strip('_')})")


def storage(value):
    """`value` with device arrays replaced by their NumPy storage (no checks): a recorded
    operation's arguments, read anew at each replay."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, (list, tuple)):
        return type(value)(storage(v) for v in value)
    if isinstance(value, dict):
        return {k: storage(v) for k, v in value.items()}
    return value


def snapshot(targets):
    """Before an operation that writes `targets` (device arrays) in place: their values, to
    be put back by `unwritten` if the stream is capturing (None otherwise)."""
    if capturing() is None:
        return None
    return [(t, t._a.copy()) for t in targets if isinstance(t, ndarray)]


def unwritten(saved):
    """Undo the in-place writes of an operation that was only being captured."""
    if saved:
        for t, values in saved:
            t._a[...] = values


def poison(out):
    if isinstance(out, ndarray):
        if out._a.base is None and out.dtype.kind in "fc":  # fresh memory, not a view
            out._a.fill(np.nan)
    elif isinstance(out, (tuple, list)):
        for o in out:
            poison(o)


def write_back(out, result):
    """Replay: put a recomputed `result` into the storage of the captured result `out`
    (nothing to do where the operation wrote in place or returned a view)."""
    if isinstance(out, ndarray):
        if isinstance(result, np.ndarray) and (result is out._a or
                                               np.may_share_memory(result, out._a)):
            return
        out._a[...] = result
    elif isinstance(out, (tuple, list)):
        for o, r in zip(out, result):
            write_back(o, r)


def record_call(fn, args, kwargs, out):
    """Record `fn(*args, **kwargs)` (device arrays read at replay) whose result was `out`."""
    if capturing() is None:
        return

    def replay():
        with np.errstate(all="ignore"):
            write_back(out, fn(*storage(args), **storage(kwargs)))

    record(replay)
    if out is not None and not any(o is out for o in args):
        poison(out)


@contextlib.contextmanager
def allow_synchronize(allow: bool):
    """cupyx.allow_synchronize: with False, any synchronisation raises."""
    before = getattr(_local, "allow_sync", True)
    _local.allow_sync = allow
    try:
        yield
    finally:
        _local.allow_sync = before


def get_device_id() -> int:
    return getattr(_local, "device", 0)


class Device:
    """cupy.cuda.Device: a context manager that makes a GPU current."""

    def __init__(self, device=None):
        self.id = get_device_id() if device is None else int(device)
        if not 0 <= self.id < Config.gpus:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._stack = []

    def __int__(self):
        return self.id

    __index__ = __int__

    def __enter__(self):
        self._stack.append(get_device_id())
        _local.device = self.id
        return self

    def __exit__(self, *exc):
        _local.device = self._stack.pop()

    def use(self):
        _local.device = self.id

    def synchronize(self):
        sync("Device.synchronize", "sync")

    @property
    def compute_capability(self):
        return "90"

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("Device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def check_device(arr: ndarray, dev: int):
    """CuPy's _check_peer_access: an array used by a kernel on another device."""
    if arr._dev == dev:
        return
    msg = (f"The device where the array resides ({arr._dev}) is different from the "
           f"current device ({dev}).")
    if not Config.peer_access:
        raise ValueError(f"{msg} Peer access is unavailable between these devices.")
    warnings.warn(f"{msg} Peer access has been activated automatically.", stacklevel=3)


def _refuse_host(value):
    raise TypeError(f"Unsupported type {type(value)}")


def unwrap(value, dev: int, name: str = ""):
    """A kernel argument as NumPy sees it: device arrays (checked) to storage, NumPy arrays
    refused, sequences unwrapped element by element, scalars unchanged."""
    if isinstance(value, ndarray):
        check_device(value, dev)
        return value._a
    if isinstance(value, np.ndarray):
        _refuse_host(value)
    if isinstance(value, (list, tuple)) and any(
            isinstance(v, (ndarray, np.ndarray, list, tuple)) for v in value):
        return type(value)(unwrap(v, dev, name) for v in value)
    return value


def _operands(name: str, args: tuple) -> list:
    """The interface for the ElementwiseKernel simulation: checked, unwrapped arguments."""
    dev = get_device_id()
    return [unwrap(a, dev, name) for a in args]


def _wrap(a: np.ndarray, dev: int | None = None) -> ndarray:
    """A device array around host storage `a` (no copy), on `dev` (default: current)."""
    out = object.__new__(ndarray)
    out._a = a
    out._dev = get_device_id() if dev is None else dev
    allocator = getattr(_local, "allocator", None)
    if allocator is not None and a.base is None:  # new memory, inside using_allocator
        memory = allocator(a.nbytes)
        free = getattr(memory, "free", None)
        if free is not None:
            weakref.finalize(out, free)
    return out


def rewrap(result, dev: int, sources=(), outs=None):
    """A NumPy result as CuPy would return it: arrays on the device (views stay on their
    base's device), NumPy and Python scalars as 0-d device arrays, tuples element-wise."""
    if isinstance(result, np.ndarray):
        if outs:
            for o in outs:
                if o._a is result:
                    return o
        for s in sources:
            if isinstance(s, ndarray) and result.base is not None and \
                    np.may_share_memory(result, s._a):
                return _wrap(result, s._dev)
        return _wrap(result, dev)
    if isinstance(result, (np.generic, bool, int, float, complex)) and not isinstance(
            result, (np.str_, np.bytes_)):
        return _wrap(np.asarray(result), dev)
    if isinstance(result, (tuple, list)):
        return type(result)(rewrap(r, dev, sources, outs) for r in result)
    return result


def call(name: str, fn, args, kwargs, sources=None):
    """Run NumPy's `fn` as CuPy's function `name` on the current device."""
    dev = get_device_id()
    if name in CUBLAS_FUNCTIONS:
        refuse_cublas(name, args)
    a = [unwrap(x, dev, name) for x in args]
    kw = {k: unwrap(v, dev, name) for k, v in kwargs.items()}
    outs = kwargs.get("out")
    outs = (outs if isinstance(outs, tuple) else (outs,)) if outs is not None else None
    saved = snapshot((*(outs or ()), *(args[:1] if name in INPLACE_FUNCTIONS else ())))
    with np.errstate(all="ignore"):  # a GPU never warns about inf or nan
        result = fn(*a, **kw)
    out = rewrap(result, dev, args if sources is None else sources,
                 [o for o in outs if isinstance(o, ndarray)] if outs else None)
    if name not in ("empty", "empty_like"):
        record_call(fn, args, kwargs, None if saved else out)
    elif saved is not None:  # no kernel: pool memory as it was, garbage
        poison(out)
    unwritten(saved)
    return out


# ---- indexing ------------------------------------------------------------------------------
def wrap_indices(index, shape, dev: int):
    """`index` for NumPy, with CuPy's wrapping of integer-array indices."""
    items = index if isinstance(index, tuple) else (index,)
    conv = []
    for item in items:
        if isinstance(item, ndarray):
            check_device(item, dev)
            item = item._a
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == np.bool_:
            sync("boolean mask indexing")
        conv.append(item)

    def width(i):
        if i is None or i is Ellipsis:
            return 0
        if isinstance(i, np.ndarray) and i.dtype == np.bool_:
            return max(i.ndim, 1)
        return 1

    ndim = len(shape)
    ell = next((k for k, i in enumerate(conv) if i is Ellipsis), None)
    axis = 0
    for k, item in enumerate(conv):
        if k == ell:
            axis = ndim - sum(width(i) for i in conv[k + 1:])
            continue
        if isinstance(item, np.ndarray) and item.dtype.kind in "iu" and axis < ndim \
                and shape[axis] > 0:
            conv[k] = item % shape[axis]
        axis += width(item)
    return tuple(conv) if isinstance(index, tuple) else conv[0]


_SYNC_METHODS = {"item", "tolist", "get", "tobytes", "tofile", "dump", "dumps"}


class ndarray:
    """cupy.ndarray, simulated: NumPy storage on one simulated GPU."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 100
    __array_ufunc__ = None  # NumPy defers to us, and our operators refuse NumPy arrays
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = np.empty(shape, dtype, order=order)
        self._dev = get_device_id()

    # -- what lives on the host -----------------------------------------------------------
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, newshape):  # in place, never a copy (CuPy's _ndarray_shape_setter)
        try:
            try:
                self._a = self._a.reshape(newshape, copy=False)  # NumPy >= 2.1
            except TypeError:  # NumPy 2.0: no copy keyword; a view's shape is settable
                view = self._a.view()
                view.shape = newshape
                self._a = view
        except (ValueError, AttributeError):
            raise AttributeError("Incompatible shape for in-place modification. Use "
                                 "`.reshape()` to make a copy with the desired shape.") from None

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)

    @property
    def device(self):
        return Device(self._dev)

    @property
    def base(self):
        return None if self._a.base is None else _wrap(self._a.base, self._dev)

    @property
    def data(self):
        return _MemoryPointer(self)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        sync("repr")
        return repr(self._a)

    def __str__(self):
        sync("str")
        return str(self._a)

    def __format__(self, spec):
        sync("format")
        return format(self._a, spec)

    # -- host conversions: refused implicitly, synchronising explicitly ---------------------
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __bool__(self):
        sync("bool()")
        return bool(self._a)

    def __float__(self):
        sync("float()")
        return float(self._a)

    def __int__(self):
        sync("int()")
        return int(self._a)

    def __complex__(self):
        sync("complex()")
        return complex(self._a)

    def get(self, stream=None, order="C", out=None, blocking=True):
        sync("ndarray.get")
        return np.array(self._a, order=order)

    def set(self, arr, stream=None):
        refuse_in_capture("the current stream is capturing, so H2D transfers are disallowed",
                          RuntimeError)
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, not {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        self._a[...] = arr

    def item(self, *args):
        sync("ndarray.item")
        return self._a.item(*args)

    def tolist(self):
        sync("ndarray.tolist")
        return self._a.tolist()

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __dlpack_device__(self):
        return (2, self._dev)

    def __dlpack__(self, stream=None, **kwargs):
        # NumPy's capsule; consumers ask __dlpack_device__ first and see CUDA memory
        return self._a.__dlpack__()

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self._a.ctypes.data, False), "strides": None
                if self._a.flags.c_contiguous else self.strides}

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, index):
        dev = get_device_id()
        idx = wrap_indices(index, self.shape, dev)
        result = self._a[idx]
        if isinstance(result, np.ndarray) and np.may_share_memory(result, self._a):
            return _wrap(result, self._dev)  # a view: no kernel, stays on its device
        check_device(self, dev)
        out = rewrap(result, dev)
        record_call(_gather, (self, index, dev), {}, out)
        return out

    def __setitem__(self, index, value):
        dev = get_device_id()
        check_device(self, dev)
        if isinstance(value, np.ndarray):
            _refuse_host(value)  # CuPy refuses assignment from CPU arrays (gh-2079)
        idx = wrap_indices(index, self.shape, dev)
        saved = snapshot((self,))
        self._a[idx] = unwrap(value, dev)
        record_call(_scatter, (self, index, value, dev), {}, None)
        unwritten(saved)

    # -- methods CuPy's ndarray shares with NumPy's ----------------------------------------
    @property
    def T(self):
        return _wrap(self._a.T, self._dev)

    @property
    def mT(self):
        if Config.major() < 14:
            raise AttributeError("'cupy._core.core._ndarray_base' object has no attribute 'mT' "
                                 f"(simulating CuPy {Config.version})")
        if self.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return _wrap(np.swapaxes(self._a, -1, -2), self._dev)

    @property
    def real(self):
        return _wrap(self._a.real, self._dev)

    @property
    def imag(self):
        return _wrap(self._a.imag, self._dev)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        check_device(self, get_device_id())
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        out = _wrap(self._a.astype(dtype, order=order, copy=True))
        record_call(_call_method("astype"), (self, dtype), {"order": order}, out)
        return out

    def copy(self, order="C"):
        check_device(self, get_device_id())
        out = _wrap(self._a.copy(order=order))
        record_call(_call_method("copy"), (self,), {"order": order}, out)
        return out

    def take(self, indices, axis=None, out=None):
        dev = get_device_id()
        check_device(self, dev)
        idx = unwrap(indices, dev)
        n = self.size if axis is None else self.shape[axis]
        if isinstance(idx, (np.ndarray, int, np.integer)) and n > 0:
            idx = np.mod(idx, n)  # CuPy's take wraps
        out = rewrap(self._a.take(idx, axis=axis), dev)
        record_call(_take, (self, indices, axis), {}, out)
        return out

    def fill(self, value):
        if isinstance(value, np.ndarray):
            _refuse_host(value)
        check_device(self, get_device_id())
        saved = snapshot((self,))
        self._a.fill(unwrap(value, get_device_id()))
        record_call(_call_method("fill"), (self, value), {}, None)
        unwritten(saved)

    def nonzero(self):
        sync("ndarray.nonzero")
        return rewrap(self._a.nonzero(), get_device_id())

    def __reduce__(self):  # pickling reads the data: a synchronisation, as in CuPy
        sync("pickle")
        return (_unpickle, (self._a.copy(), self._dev))


# Replays of indexing kernels (on storage): index arrays read anew, wrapped again.
def _gather(a, index, dev):
    return a[wrap_indices(index, a.shape, dev)]


def _scatter(a, index, value, dev):
    a[wrap_indices(index, a.shape, dev)] = value


def _take(a, indices, axis):
    n = a.size if axis is None else a.shape[axis]
    if isinstance(indices, (np.ndarray, int, np.integer)) and n > 0:
        indices = np.mod(indices, n)
    return a.take(indices, axis=axis)


def _unpickle(a, dev):
    return _wrap(a, dev)


class _MemoryPointer:
    """The `data` of an array: its device and address."""

    def __init__(self, arr):
        self.device_id = arr._dev
        self.ptr = arr._a.__array_interface__["data"][0]
        self.device = Device(arr._dev)


def _method(name):
    def method(self, *args, **kwargs):
        dev = get_device_id()
        a = [unwrap(x, dev, name) for x in args]
        kw = {k: unwrap(v, dev, name) for k, v in kwargs.items()}
        saved = snapshot((kwargs.get("out"), *((self,) if name in _INPLACE_METHODS else ())))
        with np.errstate(all="ignore"):
            result = getattr(self._a, name)(*a, **kw)
        if isinstance(result, np.ndarray) and np.may_share_memory(result, self._a):
            return _wrap(result, self._dev)  # a view (reshape, transpose, ...)
        check_device(self, dev)
        out = rewrap(result, dev)
        record_call(_call_method(name), (self, *args), kwargs, None if saved else out)
        unwritten(saved)
        return out

    method.__name__ = name
    return method


def _call_method(name):
    def call_method(a, *args, **kwargs):
        return getattr(a, name)(*args, **kwargs)
    return call_method


def _operator(name, inplace=False):
    def op(self, other):
        dev = get_device_id()
        check_device(self, dev)
        if isinstance(other, np.ndarray):
            _refuse_host(other)
        if isinstance(other, (list, tuple)):
            return NotImplemented
        if name in CUBLAS_FUNCTIONS:
            refuse_cublas(name, (self, other))
        o = unwrap(other, dev)
        saved = snapshot((self,)) if inplace else None
        with np.errstate(all="ignore"):
            result = getattr(self._a, name)(o)
        if result is NotImplemented:
            return result
        out = self if inplace else rewrap(result, dev)
        record_call(_call_method(name), (self, other), {}, out)
        unwritten(saved)
        return out

    op.__name__ = name
    return op


def _unary(name):
    def op(self):
        check_device(self, get_device_id())
        with np.errstate(all="ignore"):
            out = rewrap(getattr(self._a, name)(), get_device_id())
        record_call(_call_method(name), (self,), {}, out)
        return out

    op.__name__ = name
    return op


_BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
           "xor", "lshift", "rshift", "divmod")
for _n in _BINARY:
    setattr(ndarray, f"__{_n}__", _operator(f"__{_n}__"))
    setattr(ndarray, f"__r{_n}__", _operator(f"__r{_n}__"))
    if _n != "divmod":
        setattr(ndarray, f"__i{_n}__", _operator(f"__i{_n}__", inplace=True))
for _n in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_n}__", _operator(f"__{_n}__"))
for _n in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_n}__", _unary(f"__{_n}__"))

_OWN = set(vars(ndarray))


def add_methods(names):
    """Give ndarray CuPy's methods (of this version) that NumPy's ndarray also has."""
    for n in names:
        if n not in _OWN and not n.startswith("__") and hasattr(np.ndarray, n) \
                and callable(getattr(np.ndarray, n)) and n not in _SYNC_METHODS:
            setattr(ndarray, n, _method(n))


ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"
