"""A CuPy simulator: the parts of CuPy gradkit uses, on NumPy, with CuPy's rules.

CuPy has no CPU mode, so without a GPU its code path never runs. `install()` puts a
stand-in `cupy` (with `cupy.cuda`, `cupy.random`, `cupyx`, ...) into `sys.modules`, and
gradkit's cupy backend then runs on it unchanged. What it imitates is what catches real
bugs (../shared/GPU-NOTES.md):

- no implicit host conversion (`np.asarray(x)` raises TypeError); NumPy arrays as
  operands of functions, operators and kernels raise TypeError ("Unsupported type");
  NumPy and Python scalars are fine;
- reductions return 0-d device arrays; `float(x)`, `bool(x)`, `.item()`, `.get()`,
  printing, boolean-mask indexing and data-dependent shapes (nonzero, unique) are
  host synchronisations: counted, and raising inside `cupyx.allow_synchronize(False)`
  or when `Config.raise_on_sync` is set;
- integer-array indices, `take` and `add.at` wrap out-of-range indices;
- arrays live on the device that was current when they were made; a kernel that uses an
  array of another device raises ValueError without peer access;
- `cupy.random.Generator` without permutation/shuffle/choice, its state in device memory;
- `ElementwiseKernel`'s argument and type rules, its body run by a NumPy reference
  registered under the kernel's name and source signature (`_kernel.py`, `kernel_refs.py`);
- CuPy 13 vs 14: the namespace and ndarray methods of each (names.json, recorded from
  the real packages), e.g. no `ndarray.mT` before 14;
- streams, events, memory pools and CUDA graphs by stream capture (`_graph.py`): what is
  issued on a capturing stream is recorded and replayed by `Graph.launch()` into the same
  arrays; host transfers, synchronisation and cuBLAS calls on a capturing stream raise
  as in CuPy.

It is test support, not a GPU emulator: numbers are NumPy's, nothing is asynchronous.
"""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np

from . import _core, _graph, _kernel, _nccl, _random
from ._core import (
    Config,
    CUDARuntimeError,
    Device,
    DeviceSynchronized,
    _wrap,
    allow_synchronize,
    call,
    check_device,
    get_device_id,
    ndarray,
    record_call,
    refuse_in_capture,
    rewrap,
    sync,
    unwrap,
)

__all__ = ["install", "Config", "synchronizations", "MODES"]

NAMES = json.loads((Path(__file__).with_name("names.json")).read_text())

# name -> keyword arguments of install(); the CI modes (tests/conftest.py, --cupy-sim)
MODES = {
    "1gpu": dict(gpus=1),
    "2gpu": dict(gpus=2, peer_access=False),
    "cupy13": dict(gpus=1, version="13.6.0"),
}

# Answers about dtypes and shapes: computed on the host, returned as they are.
_HOST = {"result_type", "can_cast", "promote_types", "issubdtype", "isdtype",
         "min_scalar_type", "common_type", "dtype", "finfo", "iinfo", "ndim", "shape", "size",
         "isscalar", "obj2sctype", "sctype2char", "issctype", "issubsctype", "mintypecode",
         "typename", "binary_repr", "base_repr", "may_share_memory", "shares_memory",
         "find_common_type", "get_printoptions", "set_printoptions", "printoptions",
         "broadcast_shapes", "iterable", "isfortran", "format_float_positional",
         "format_float_scientific"}
# Results whose shape depends on the values: CuPy reads a count on the host.
_SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract",
            "trim_zeros", "unique_all", "unique_counts", "unique_inverse", "unique_values"}
# Host data in, device array out: explicit transfers, NumPy arrays allowed.
_FROM_HOST = {"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}


def synchronizations() -> int:
    """How many host synchronisations the simulated GPU has counted."""
    return Config.syncs


# ---- functions --------------------------------------------------------------------------
def _function(name, fn):
    if name in _HOST:
        def host(*args, **kwargs):
            dev = get_device_id()
            return fn(*[unwrap(a, dev) for a in args],
                      **{k: unwrap(v, dev) for k, v in kwargs.items()})
        f = host
    elif name in _FROM_HOST:
        def from_host(obj, dtype=None, copy=True if name == "array" else None, order="K",
                      **kwargs):
            dev = get_device_id()
            if isinstance(obj, ndarray):
                if obj._dev != dev:  # a copy between GPUs (cudaMemcpyPeer): always allowed
                    out = _wrap(np.array(obj._a, dtype=dtype, order=order), dev)
                    record_call(_copy_of, (obj, dtype, order), {}, out)
                    return out
                out = np.asarray(obj._a, dtype=dtype, order=order)
                if copy and np.may_share_memory(out, obj._a):
                    out = out.copy()
                if out is obj._a:
                    return obj
                out = _wrap(out, dev)
                record_call(_copy_of, (obj, dtype, order), {}, out)
                return out
            # cupy/cuda/memory.pyx, MemoryPointer.copy_from_host_async
            refuse_in_capture("the current stream is capturing, so H2D transfers are "
                              "disallowed", RuntimeError)
            if isinstance(obj, (list, tuple)):
                obj = [unwrap(o, dev) if isinstance(o, ndarray) else o for o in obj]
            return _wrap(np.array(obj, dtype=dtype, order=order), dev)
        f = from_host
    elif name == "where":
        def where(condition, x=None, y=None):
            if x is None and y is None:
                sync("where(condition)")
                return call(name, np.where, (condition,), {})
            return call(name, np.where, (condition, x, y), {})
        f = where
    elif name in _SYNCING:  # (cupy.where(condition) above too)
        def syncing(*args, **kwargs):
            sync(f"cupy.{name}")
            return call(name, fn, args, kwargs)
        f = syncing
    elif isinstance(fn, np.ufunc):
        return Ufunc(fn)
    else:
        def function(*args, **kwargs):
            return call(name, fn, args, kwargs)
        f = function
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"cupy.{name}, simulated with numpy.{name}."
    return f


class Ufunc:
    """cupy.ufunc: call, reduce, accumulate, outer, and `at` with wrapped indices."""

    def __init__(self, uf: np.ufunc):
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout, self.nargs = uf.nin, uf.nout, uf.nargs
        self.types = uf.types

    def __call__(self, *args, **kwargs):
        return call(self.__name__, self._uf, args, kwargs)

    def reduce(self, *args, **kwargs):
        return call(self.__name__, self._uf.reduce, args, kwargs)

    def accumulate(self, *args, **kwargs):
        return call(self.__name__, self._uf.accumulate, args, kwargs)

    def outer(self, *args, **kwargs):
        return call(self.__name__, self._uf.outer, args, kwargs)

    def at(self, a, indices, b=None):
        dev = get_device_id()
        check_device(a, dev)
        idx = _core.wrap_indices(indices, a.shape, dev)
        args = (a._a, idx) if b is None else (a._a, idx, unwrap(b, dev))
        saved = _core.snapshot((a,))
        self._uf.at(*args)
        record_call(self._replay_at, (a, indices, b, dev), {}, None)
        _core.unwritten(saved)

    def _replay_at(self, a, indices, b, dev):
        idx = _core.wrap_indices(indices, a.shape, dev)
        self._uf.at(*((a, idx) if b is None else (a, idx, b)))

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order)
    return np.asarray(a, order=order)


def get_array_module(*args):
    return sys.modules["cupy"] if any(isinstance(a, ndarray) for a in args) else np


def from_dlpack(obj, *, device=None, copy=None):
    if isinstance(obj, ndarray):
        return _wrap(obj._a, obj._dev)
    raise TypeError("the simulated GPU imports DLPack only from its own arrays")


def _copy_of(a, dtype, order):
    return np.array(a, dtype=dtype, order=order)


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()


class _Uncompiled:
    """RawKernel, ReductionKernel and fuse: not simulated (gradkit does not use them)."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("the CuPy simulator does not run RawKernel, "
                                  "ReductionKernel or fuse")


# ---- the modules --------------------------------------------------------------------------
def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


def _runtime():
    def get_device_count():
        return Config.gpus

    def set_device(i):
        Device(i).use()

    def can_access_peer(a, b):
        return int(Config.peer_access)

    def properties(i):
        Device(i)  # raises for a bad ordinal
        return {"name": b"gradkit CuPy simulator", "totalGlobalMem": 80 << 30,
                "major": 9, "minor": 0, "multiProcessorCount": 132}

    return _module("cupy.cuda.runtime", getDeviceCount=get_device_count,
                   getDevice=get_device_id, setDevice=set_device,
                   deviceCanAccessPeer=can_access_peer, getDeviceProperties=properties,
                   CUDARuntimeError=CUDARuntimeError, runtimeGetVersion=lambda: 12080,
                   driverGetVersion=lambda: 12080)


def install(gpus: int = 1, peer_access: bool = False, version: str = "14.2.0"):
    """Put the simulated `cupy` (and `cupyx`, `cupy_backends`) into sys.modules.

    Must run before anything imports cupy or array_api_compat.cupy. Calling it again
    reconfigures the machine (and the namespace of the CuPy version asked for).
    """
    Config.gpus, Config.peer_access, Config.version = gpus, peer_access, version
    _kernel.CUPY_VERSION = tuple(int(v) for v in version.split(".")[:2])
    Config.syncs, Config.raise_on_sync = 0, False
    names = NAMES[version.split(".")[0]]
    _core.add_methods(names["ndarray"])
    _random.add_draws(names["generator"])

    cupy = _module("cupy", __version__=version, __gradkit_simulator__=True,
                   __file__=__file__, ndarray=ndarray)
    cupy.__path__ = []  # a package, so `import cupy.cuda` works
    for n in names["cupy"]:
        if n in cupy.__dict__:
            continue
        value = getattr(np, n, None)
        if value is None:
            continue
        if isinstance(value, type) and not issubclass(value, np.ndarray) or not callable(value):
            cupy.__dict__[n] = value  # dtypes, constants, finfo, errstate...
        elif isinstance(value, types.ModuleType):
            continue
        else:
            cupy.__dict__[n] = _function(n, value)
    cupy.__dict__.update(
        asnumpy=asnumpy, get_array_module=get_array_module, from_dlpack=from_dlpack,
        is_available=lambda: True, get_default_memory_pool=lambda: _POOL,
        ElementwiseKernel=_kernel.ElementwiseKernel, RawKernel=_Uncompiled,
        ReductionKernel=_Uncompiled, fuse=_Uncompiled, AxisError=np.exceptions.AxisError)
    cupy.__all__ = [n for n in names["cupy"] if n in cupy.__dict__ and n not in
                    ("cuda", "random", "linalg", "fft", "testing", "sparse")]

    runtime = _runtime()
    g = _graph
    cuda = _module("cupy.cuda", Device=Device, runtime=runtime, is_available=lambda: True,
                   get_current_stream=g.get_current_stream, Stream=g.Stream,
                   ExternalStream=g.ExternalStream, Event=g.Event, Graph=g.Graph,
                   get_elapsed_time=g.get_elapsed_time, MemoryPool=g.MemoryPool,
                   get_allocator=g.get_allocator, set_allocator=g.set_allocator,
                   using_allocator=g.using_allocator, get_device_id=get_device_id)
    cuda.__path__ = []
    cuda.device = _module("cupy.cuda.device", Device=Device)
    cuda.stream = _module("cupy.cuda.stream", Stream=g.Stream, ExternalStream=g.ExternalStream,
                          Event=g.Event, get_current_stream=g.get_current_stream)
    cuda.graph = _module("cupy.cuda.graph", Graph=g.Graph)
    cuda.memory = _module("cupy.cuda.memory", MemoryPool=g.MemoryPool,
                          get_allocator=g.get_allocator, set_allocator=g.set_allocator)
    cuda.nccl = _module("cupy.cuda.nccl", **{n: getattr(_nccl, n) for n in dir(_nccl)
                                             if n.isupper() or n in _nccl.PUBLIC})
    random = _module("cupy.random", default_rng=_random.default_rng,
                     Generator=_random.Generator, XORWOW=_random.XORWOW)
    linalg = _module("cupy.linalg", **{n: _function(n, getattr(np.linalg, n))
                                       for n in names["linalg"] if hasattr(np.linalg, n)})
    linalg.__all__ = [n for n in names["linalg"] if hasattr(linalg, n)]
    fft = _module("cupy.fft", **{n: _function(n, getattr(np.fft, n))
                                 for n in dir(np.fft) if not n.startswith("_")})
    fft.__all__ = [n for n in dir(fft) if not n.startswith("_")]
    cupy.__dict__.update(cuda=cuda, random=random, linalg=linalg, fft=fft)

    special = _module("cupyx.scipy.special", erf=_erf)
    scipy = _module("cupyx.scipy", special=special)
    scipy.__path__ = []
    cupyx = _module("cupyx", allow_synchronize=allow_synchronize,
                    DeviceSynchronized=DeviceSynchronized, scipy=scipy,
                    __gradkit_simulator__=True)
    cupyx.__path__ = []
    backends_runtime = runtime  # the same functions, as in CuPy (array-api-compat uses both)
    modules = {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": runtime,
               "cupy.cuda.device": cuda.device, "cupy.cuda.stream": cuda.stream,
               "cupy.cuda.graph": cuda.graph, "cupy.cuda.memory": cuda.memory,
               "cupy.cuda.nccl": cuda.nccl,
               "cupy.random": random, "cupy.linalg": linalg, "cupy.fft": fft,
               "cupyx": cupyx, "cupyx.scipy": scipy, "cupyx.scipy.special": special,
               "cupy_backends": _module("cupy_backends"),
               "cupy_backends.cuda": _module("cupy_backends.cuda"),
               "cupy_backends.cuda.api": _module("cupy_backends.cuda.api"),
               "cupy_backends.cuda.api.runtime": backends_runtime}
    for name in list(sys.modules):  # a second install: forget modules built on the first
        if name.startswith(("array_api_compat.cupy", "gradkit.backends.cupy_backend")):
            del sys.modules[name]
    sys.modules.update(modules)
    return cupy


def _erf(x):
    """cupyx.scipy.special.erf: elementwise, in x's floating dtype, on x's device."""
    dev = get_device_id()
    out = rewrap(_erf_of(unwrap(x, dev)), dev)
    record_call(_erf_of, (x,), {}, out)
    return out


def _erf_of(a):
    return np.vectorize(math.erf, otypes=[np.float64])(a).astype(a.dtype)
