"""CuPy on an NVIDIA GPU. Imported only after the probe in backends/__init__ succeeded.

Everything CuPy-specific in gradkit is in this file (and nccl.py, the NCCL collectives of
gradkit.distributed): device selection, transfers, the
device random generator and native kernels for the operations in backends/base.py,
each of which has a generic fallback there that the tests compare it with, the
fused optimizer kernels of backends/kernels.py, tested against gradkit.optim's rules,
and CUDA graphs by stream capture (`_CudaGraphCapture`, for gk.compile).
"""

from __future__ import annotations

import contextlib
import functools
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import cupy
import cupyx
import numpy as np
from array_api_compat import cupy as xp_cupy

from .base import (
    Array,
    Backend,
    Generator,
    GraphCapture,
    HostSyncError,
    Shape,
    host_op,
    refusing_to_numpy,
)
from .kernels import ADAM, SGD, SGD_MOMENTUM, adam_scalars, sgd_scalars

# CuPy's synchronisation detector (experimental, deprecated since CuPy 10 but present in
# 14): inside allow_synchronize(False), ndarray.get() (so asnumpy, item, float(), bool(),
# tolist, boolean-mask indexing) and Device.synchronize raise DeviceSynchronized. It may
# disappear in a later CuPy; no_host_sync then refuses only the backend's to_numpy.
_allow_synchronize = getattr(cupyx, "allow_synchronize", None)
_DeviceSynchronized = getattr(cupyx, "DeviceSynchronized", None)


def _elementwise(k: Any) -> Any:
    return cupy.ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name,
                                  preamble=k.preamble)


# One elementwise kernel per parameter and optimizer step instead of ~10 separate ones.
_adam_kernel = _elementwise(ADAM)
_sgd_kernel = _elementwise(SGD)
_sgd_momentum_kernel = _elementwise(SGD_MOMENTUM)


class _OnDevice:
    """An Array API namespace whose functions run with one GPU current (several GPUs)."""

    def __init__(self, xp: Any, device: Any) -> None:
        self._xp, self._device = xp, device

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._xp, name)
        if isinstance(value, types.ModuleType):  # xp.linalg, xp.fft
            value = _OnDevice(value, self._device)
        elif callable(value) and not isinstance(value, type):
            value = _on_device(value, self._device)
        setattr(self, name, value)  # looked up once
        return value


def _on_device(fn: Callable[..., Any], device: Any) -> Callable[..., Any]:
    @functools.wraps(fn)
    def on_device(*args: Any, **kwargs: Any) -> Any:
        with device:
            return fn(*args, **kwargs)

    return on_device


class _CudaGraphCapture:
    """One compiled step's CUDA graphs (backends/base.py GraphCapture), on one GPU.

    Owns a side stream (capture needs a stream other than the legacy default one) and a
    private memory pool. While capturing, CuPy allocates from that pool only: a graph
    replays into the addresses it was captured with, so its memory, even where the
    arrays were freed after capture, must never back another array. Outside a capture,
    work in a session allocates from the allocator that was current before, so that no
    eagerly made array can sit in memory a later launch overwrites. The pool lives as
    long as this object, which every launch function keeps alive.

    What CuPy refuses while a stream is capturing (docs/dev-notes.md, CUDA graphs):
    cuBLAS calls (so `@` and matmul of floating arrays), cuRAND's host API, host copies
    both ways (`float(x)`, `.get()`, `cupy.asarray(host data)`) and synchronising.
    """

    def __init__(self, device: Any) -> None:
        self._device = device
        with device:
            self._stream = cupy.cuda.Stream(non_blocking=True)
            self._entered = cupy.cuda.Event(disable_timing=True)
            self._left = cupy.cuda.Event(disable_timing=True)
        self._pool = cupy.cuda.MemoryPool()
        self._capturing = False

    @property
    def capturing(self) -> bool:
        """Whether the side stream is capturing (between begin() and end())."""
        return self._capturing

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """This GPU, the side stream and the capture-aware allocator, for the body.

        The side stream waits for the stream current before (events, no host wait), and
        that stream waits for the side stream afterwards. A capture left open by an
        exception is abandoned; one left open otherwise is an error."""
        with self._device:
            previous = cupy.cuda.get_current_stream()
            outer = cupy.cuda.get_allocator()

            def malloc(size: int) -> Any:
                return (self._pool.malloc if self._capturing else outer)(size)

            self._stream.wait_event(previous.record(self._entered))
            try:
                with self._stream, cupy.cuda.using_allocator(malloc):
                    try:
                        yield
                    except BaseException:
                        self._abandon()
                        raise
                    if self._capturing:
                        self._abandon()
                        raise RuntimeError("graph capture still under way at the end of "
                                           "session(): call end() first")
            finally:
                previous.wait_event(self._stream.record(self._left))

    def begin(self) -> None:
        """Start capturing on the side stream (CuPy's default, relaxed capture mode: the
        pool may still call cudaMalloc while capturing)."""
        if self._capturing:
            raise RuntimeError("begin(): a graph capture is already under way")
        if cupy.cuda.get_current_stream() != self._stream:
            raise RuntimeError("begin() outside session()")
        self._stream.begin_capture()
        self._capturing = True

    def end(self) -> Callable[[], None]:
        """Stop capturing; the function that launches the captured graph on the side stream."""
        if not self._capturing:
            raise RuntimeError("end() without begin()")
        self._capturing = False
        graph = self._stream.end_capture()
        return functools.partial(self._launch, graph)

    def _launch(self, graph: Any) -> None:
        if cupy.cuda.get_current_stream(self._device.id) != self._stream:
            raise RuntimeError("a captured CUDA graph launched outside session()")
        graph.launch(self._stream)

    def _abandon(self) -> None:
        if self._capturing:
            self._capturing = False
            try:
                self._stream.end_capture()
            except Exception:  # an invalidated capture: the body's error is what matters
                pass


class CupyBackend(Backend):
    """CuPy on one NVIDIA GPU (device "cuda:N"); made by ``get_backend("cuda:N")``.

    Parameters
    ----------
    index : int, default 0
        The GPU's index.

    Attributes
    ----------
    index : int
        The GPU's index.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.get_backend("cuda")  # doctest: +SKIP
    <Backend cupy on cuda:0>
    """

    name = "cupy"
    device_error_hints = ("different from the current device", "Peer access")

    def __init__(self, index: int = 0) -> None:
        super().__init__(xp_cupy, cupy.cuda.Device(index))
        self.index = index
        self.device = f"cuda:{index}"
        if cupy.cuda.runtime.getDeviceCount() > 1:
            # CuPy allocates and launches on the *current* GPU. With several GPUs, every
            # `xp` function makes this one current, and code that combines arrays with
            # operators (op forwards, backward, optimizer steps) runs in `scope`.
            self.scope = self.native_device
            self.xp = _OnDevice(xp_cupy, self.native_device)

    def owns(self, array: object) -> bool:
        return isinstance(array, cupy.ndarray) and array.device.id == self.index

    def asarray(self, data: Any, dtype_name: str | None = None) -> Array:
        with self.native_device:
            return cupy.asarray(data, dtype=dtype_name)

    def to_numpy(self, array: Array) -> np.ndarray:
        return cupy.asnumpy(array)

    def transfer(self, array: Array, src: Backend) -> Array:
        if isinstance(src, CupyBackend):
            with self.native_device:
                return cupy.asarray(array)  # peer copy
        return self.asarray(src.to_numpy(array))

    def synchronize(self) -> None:
        with self.native_device:
            cupy.cuda.get_current_stream().synchronize()

    host_sync_check = ("cupyx.allow_synchronize(False), to_numpy refused"
                       if _allow_synchronize is not None else
                       "to_numpy refused (this CuPy has no cupyx.allow_synchronize)")

    @contextlib.contextmanager
    def no_host_sync(self) -> Iterator[None]:
        """cupyx.allow_synchronize(False) (this thread, every GPU) where CuPy has it, and
        this backend's to_numpy refused; a detected synchronisation raises HostSyncError.
        CuPy's detector sees what CuPy itself declares (a device-to-host copy, a device
        synchronize), not a synchronisation inside a library it calls."""
        with contextlib.ExitStack() as stack:
            if _allow_synchronize is not None:
                with warnings.catch_warnings():  # its deprecation warning, on every entry
                    warnings.filterwarnings("ignore", message=".*allow_synchronize")
                    stack.enter_context(_allow_synchronize(False))
            stack.enter_context(refusing_to_numpy(self))
            try:
                yield
            except Exception as e:
                if _DeviceSynchronized is not None and isinstance(e, _DeviceSynchronized):
                    raise HostSyncError(f"a device value was pulled to the host (CuPy "
                                        f"detected a synchronisation) on {self.device} "
                                        f"inside no_host_sync()") from e
                raise

    @host_op
    def matmul(self, a: Array, b: Array) -> Array:
        # A host op: while gradkit.compile captures a CUDA graph, a product (cuBLAS, which
        # CuPy refuses during capture) runs by itself between two graphs.
        return a @ b

    def graph_capture(self) -> GraphCapture:
        """A new `_CudaGraphCapture` on this GPU (one per compiled step)."""
        return _CudaGraphCapture(self.native_device)

    def describe(self) -> str:
        try:
            props = cupy.cuda.runtime.getDeviceProperties(self.index)
            name = props["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            gpu = (f"{name}, compute capability {props['major']}.{props['minor']}, "
                   f"{props['totalGlobalMem'] / 2**30:.0f} GiB")
            runtime = cupy.cuda.runtime.runtimeGetVersion()
            driver = cupy.cuda.runtime.driverGetVersion()
            cuda = f"CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}, " \
                   f"driver {driver // 1000}.{driver % 1000 // 10}"
        except Exception as e:  # a report line must not fail
            gpu, cuda = f"(device properties unavailable: {e})", ""
        return f"cupy {cupy.__version__} on {self.device}: {gpu}" + (f"; {cuda}" if cuda else "")

    # The random draws stay on the GPU: CuPy's generator keeps its state in device memory.
    def new_rng(self, seed: int) -> Any:
        with self.native_device:
            return cupy.random.default_rng(seed)

    def rng_state(self, rng: Any) -> Any:
        # CuPy's BitGenerator keeps its cuRAND states in the int8 device array `_state`
        # (CuPy 13 and 14) and cannot be copied or pickled (it holds a lock): snapshot that.
        with self.native_device:
            return rng.bit_generator._state.copy()

    def set_rng_state(self, rng: Any, state: Any) -> None:
        with self.native_device:
            rng.bit_generator._state[...] = state

    def randn(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        with self.native_device:
            return self._rng(generator).standard_normal(shape, dtype=dtype_name)

    def rand(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        with self.native_device:
            return self._rng(generator).random(shape, dtype=dtype_name)

    def randint(self, low: int, high: int, shape: Shape, dtype_name: str,
                generator: Generator | None = None) -> Array:
        with self.native_device:
            return self._rng(generator).integers(low, high, shape).astype(dtype_name)

    def bernoulli_mask(self, shape: Shape, keep: float, dtype_name: str,
                       generator: Generator | None = None) -> Array:
        with self.native_device:
            u = self._rng(generator).random(shape, dtype=dtype_name)
            # A NumPy scalar, not a 0-d NumPy array: CuPy refuses to mix in host arrays.
            return (u < keep).astype(dtype_name) * np.dtype(dtype_name).type(1 / keep)

    def permutation(self, n: int, generator: Generator | None = None) -> Array:
        # cupy.random.Generator has no permutation(): sort uniform keys instead.
        with self.native_device:
            return cupy.argsort(self._rng(generator).random(n)).astype("int64")

    def multinomial(self, weights: Array, n: int, replacement: bool,
                    generator: Generator | None = None) -> Array:
        with self.native_device:  # the generic version, on this GPU
            return super().multinomial(weights, n, replacement, generator)

    def erf(self, x: Array) -> Array:
        from cupyx.scipy.special import erf  # imported on first use: it compiles kernels

        with self.native_device:
            return erf(x)

    def setitem(self, array: Array, index: Any, value: Any) -> None:
        with self.scope:
            array[index] = value  # CuPy's setitem takes integer arrays (last write wins)

    def scatter_add(self, shape: tuple[int, ...], index: Any, values: Array) -> Array:
        if isinstance(index, tuple) and index and index[-1] is Ellipsis:
            index = index[:-1] if len(index) > 2 else index[0]  # a trailing ... means nothing
        with self.native_device:
            out = cupy.zeros(shape, dtype=values.dtype)
            cupy.add.at(out, index, values)
            return out

    def fused_sgd_update(self, param: Array, grad: Array, buf: Array | None, lr: float,
                         momentum: float, weight_decay: float, nesterov: bool,
                         dampening: float = 0.0) -> Array | None:
        """gradkit.optim.sgd_update in one CUDA kernel, in place on `param` (and `buf`).

        Returns the momentum buffer, as sgd_update: made here on the first step (buf is
        None: it becomes the undampened gradient), else `buf` itself; none without
        momentum. `grad` is only read."""
        with self.native_device:
            if not momentum:
                _sgd_kernel(grad, *sgd_scalars(lr, 0, weight_decay, False, 0, False), param)
                return buf
            first = buf is None
            if first:
                buf = cupy.empty_like(param)  # written, not read, by the first step
            _sgd_momentum_kernel(grad, *sgd_scalars(lr, momentum, weight_decay, nesterov,
                                                    dampening, first), param, buf)
            return buf

    def fused_adam_update(self, param: Array, grad: Array, m: Array, v: Array,
                          lr: float, beta1: float, beta2: float, eps: float,
                          weight_decay: float, decoupled: bool, step: int) -> None:
        """gradkit.optim.adam_update (without amsgrad) in one CUDA kernel, in place."""
        with self.native_device:
            _adam_kernel(grad, *adam_scalars(lr, beta1, beta2, eps, weight_decay, decoupled,
                                             step), param, m, v)
