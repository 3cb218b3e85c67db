"""Backends: the only code in gradkit that knows NumPy, CuPy or array-api-strict.

`get_backend(device)` resolves a device spec ("cpu", "cuda", "cuda:1", "strict",
"strict:device2") to the Backend bound to that device; `backend_of_array` finds the
Backend of a raw array; `availability()` says which backends can run here and, for
those that cannot, why.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .base import (
    NO_SCOPE,
    Array,
    Backend,
    DeviceError,
    DeviceLike,
    Generator,
    GeneratorState,
    HostSyncError,
    check_seed,
)
from .numpy_backend import NumpyBackend, tune_malloc

__all__ = ["Backend", "NO_SCOPE", "DeviceError", "get_backend", "backend_of_array",
           "availability", "BACKEND_NAMES", "default_device", "seed_all", "common_backend",
           "backend_of_dlpack", "set_default_device", "tune_malloc", "Generator",
           "GeneratorState", "check_seed", "HostSyncError"]

BACKEND_NAMES = ("numpy", "cupy", "strict")
_DEFAULT_DEVICES = {"numpy": "cpu", "cupy": "cuda:0", "strict": "strict:device1"}


_lock = threading.Lock()
_backends: dict[str, Backend] = {}
_probes: dict[str, tuple[bool, str]] = {}
_numpy = NumpyBackend()
_backends["cpu"] = _numpy


def _probe_cupy() -> tuple[bool, str]:
    try:
        import cupy
    except Exception as e:  # CUDA library load errors are not always ImportError
        return False, f"cupy is not importable ({type(e).__name__}: {e})"
    try:
        if not cupy.cuda.is_available():
            return False, "cupy imports but no CUDA GPU answers (cupy.cuda.is_available() is False)"
        x = cupy.arange(4, dtype=cupy.float32)
        float((x * 2).sum())  # one tiny op, compiled and run: catches a missing NVRTC
        count = cupy.cuda.runtime.getDeviceCount()
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception as e:
        return False, f"CUDA GPU present but unusable ({type(e).__name__}: {e})"
    name = name.decode() if isinstance(name, bytes) else str(name)
    return True, f"CuPy {cupy.__version__}, {count} GPU(s): {name}"


def _probe_strict() -> tuple[bool, str]:
    try:
        import array_api_strict  # noqa: F401
    except Exception as e:
        return False, f"array-api-strict is not installed ({type(e).__name__}: {e})"
    return True, "available"


def availability(name: str) -> tuple[bool, str]:
    """Whether a backend can run here, and why not (``gk.availability``).

    Probes once per process (CuPy: imports it and runs one tiny kernel) and never
    raises or hangs for a known name.

    Parameters
    ----------
    name : {"numpy", "cupy", "strict"}
        A backend name (see BACKEND_NAMES).

    Returns
    -------
    tuple of (bool, str)
        (usable, reason): the reason says what was found, or why it is unusable.

    Raises
    ------
    DeviceError
        If `name` is no backend name.

    Notes
    -----
    gradkit-only; ``gk.cuda.is_available()`` is ``availability("cupy")[0]``.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.availability("numpy")
    (True, 'available')
    >>> ok, why = gk.availability("cupy")
    >>> isinstance(ok, bool) and isinstance(why, str)
    True
    """
    if name == "numpy":
        return True, "available"
    if name not in _probes:
        with _lock:
            if name not in _probes:
                probe = {"cupy": _probe_cupy, "strict": _probe_strict}.get(name)
                if probe is None:
                    raise DeviceError(f"unknown backend {name!r}; known: {BACKEND_NAMES}")
                _probes[name] = probe()
    return _probes[name]


def cuda_device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 when the cupy backend is unavailable).

    Returns
    -------
    int

    Examples
    --------
    >>> from gradkit.backends import cuda_device_count
    >>> cuda_device_count() >= 0
    True
    """
    if not availability("cupy")[0]:
        return 0
    import cupy

    return cupy.cuda.runtime.getDeviceCount()


def default_device(name: str) -> str:
    """The device string a backend name stands for in tests ("strict" -> "strict:device1").

    Parameters
    ----------
    name : {"numpy", "cupy", "strict"}
        A backend name.

    Returns
    -------
    str

    Examples
    --------
    >>> from gradkit.backends import default_device
    >>> default_device("numpy"), default_device("strict")
    ('cpu', 'strict:device1')
    """
    return _DEFAULT_DEVICES[name]


def set_default_device(name: str, device: str) -> None:
    """Make tests of backend `name` run on `device` (e.g. "cupy" on "cuda:1").

    Parameters
    ----------
    name : {"numpy", "cupy", "strict"}
        A backend name.
    device : str
        A device spec of that backend.

    Raises
    ------
    DeviceError
        If `device` is not a device of backend `name`, or no device spec at all.

    Examples
    --------
    >>> from gradkit.backends import default_device, set_default_device
    >>> set_default_device("strict", "strict:device1")
    >>> default_device("strict")
    'strict:device1'
    """
    canonical_name, _, canonical = _canonical(device)
    if canonical_name != name:
        raise DeviceError(f"device {device!r} is not a {name} device")
    _DEFAULT_DEVICES[name] = canonical


def _canonical(device: DeviceLike) -> tuple[str, str, str]:
    """(backend name, argument, canonical device string) for a device spec."""
    spec = str(device).strip().lower() if device is not None else "cpu"
    kind, _, arg = spec.partition(":")
    if kind == "cpu" and not arg:
        return "numpy", "", "cpu"
    if kind in ("cuda", "gpu"):
        if arg and not (arg.isascii() and arg.isdigit()):
            raise DeviceError(f"bad CUDA device {device!r}: expected 'cuda' or 'cuda:N'")
        index = int(arg or 0)  # "cuda:01" is "cuda:1": one backend per GPU
        return "cupy", str(index), f"cuda:{index}"
    if kind == "strict":
        arg = str(device).split(":", 1)[1] if ":" in str(device) else "device1"
        return "strict", arg, f"strict:{arg}"
    raise DeviceError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'strict'")


def get_backend(device: DeviceLike = None) -> Backend:
    """The Backend for a device spec (``gk.get_backend``).

    One Backend per device, made on first use (and seeded as :func:`gradkit.manual_seed`
    said).

    Parameters
    ----------
    device : str or Backend, optional
        "cpu" (also None, the default), "cuda" or "gpu" (GPU 0), "cuda:N", "strict"
        (array-api-strict's "device1"), "strict:NAME", or a Backend (returned as is).

    Returns
    -------
    Backend

    Raises
    ------
    DeviceError
        If the spec is malformed, names no device, or the device is unavailable here;
        the message says why.

    Notes
    -----
    gradkit-only: the counterpart of :class:`torch.device`, resolved to the library
    that serves it.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.get_backend("cpu")
    <Backend numpy on cpu>
    >>> gk.get_backend("strict")
    <Backend strict on strict:device1>
    >>> gk.get_backend("cuda:x")
    Traceback (most recent call last):
    ...
    gradkit.backends.base.DeviceError: bad CUDA device 'cuda:x': expected 'cuda' or 'cuda:N'
    """
    if device is None or device == "cpu":
        return _numpy
    if isinstance(device, Backend):
        return device
    name, arg, canonical = _canonical(device)
    backend = _backends.get(canonical)
    if backend is not None:
        return backend
    ok, reason = availability(name)
    if not ok:
        raise DeviceError(f"device {device!r} is unavailable: {reason}")
    with _lock:
        if canonical not in _backends:
            if name == "cupy":
                import cupy

                from .cupy_backend import CupyBackend

                count = cupy.cuda.runtime.getDeviceCount()
                if int(arg) >= count:
                    raise DeviceError(f"device {device!r} does not exist: {count} GPU(s) found")
                backend = CupyBackend(int(arg))
            else:
                from .strict_backend import StrictBackend

                try:
                    backend = StrictBackend(arg)
                except ValueError as e:
                    raise DeviceError(f"unknown strict device {arg!r}: {e}") from None
            backend.seed(_seed)
            _backends[canonical] = backend
        return _backends[canonical]


def common_backend(op: str, backends: Iterable[Backend]) -> Backend:
    """The one Backend shared by `backends` (of an op's inputs).

    Parameters
    ----------
    op : str
        The op's name, for the message.
    backends : iterable of Backend
        At least one.

    Returns
    -------
    Backend

    Raises
    ------
    DeviceError
        If two differ.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.backends import common_backend
    >>> cpu = gk.get_backend("cpu")
    >>> common_backend("add", [cpu, cpu])
    <Backend numpy on cpu>
    """
    first, *rest = backends
    for b in rest:
        if b is not first:
            raise DeviceError(f"{op}: tensors are on different devices, {first.device} and "
                              f"{b.device}; move one with .to(device)")
    return first


def backend_of_array(array: Array) -> Backend | None:
    """The Backend that owns a raw array, or None if it is no known array type.

    Parameters
    ----------
    array : object
        A NumPy, CuPy or array-api-strict array, or anything else.

    Returns
    -------
    Backend or None

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.backends import backend_of_array
    >>> backend_of_array(np.zeros(2))
    <Backend numpy on cpu>
    >>> backend_of_array([1, 2]) is None
    True
    """
    if _numpy.owns(array):
        return _numpy
    module = type(array).__module__
    if module.startswith("cupy"):
        return get_backend(f"cuda:{array.device.id}")
    if module.startswith("array_api_strict"):
        return get_backend(f"strict:{array.device._device}")
    return None


_DLPACK_CPU, _DLPACK_CUDA = 1, 2  # DLPack's device types (kDLCPU, kDLCUDA)


def backend_of_dlpack(obj: Any) -> Backend:
    """The Backend for the device an object with the DLPack protocol lives on.

    Parameters
    ----------
    obj : object
        Anything with ``__dlpack_device__``.

    Returns
    -------
    Backend
        NumPy's for CPU memory, CuPy's for CUDA memory.

    Raises
    ------
    TypeError
        If `obj` lacks the protocol.
    DeviceError
        If its memory is of another kind.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.backends import backend_of_dlpack
    >>> backend_of_dlpack(np.zeros(2))
    <Backend numpy on cpu>
    """
    try:
        kind, index = obj.__dlpack_device__()
    except AttributeError:
        raise TypeError(f"from_dlpack needs an object with __dlpack__ and __dlpack_device__ "
                        f"(a torch tensor, a NumPy or CuPy array, ...), not "
                        f"{type(obj).__name__}") from None
    if kind == _DLPACK_CPU:
        return _numpy
    if kind == _DLPACK_CUDA:
        return get_backend(f"cuda:{index}")
    raise DeviceError(f"from_dlpack: DLPack device type {kind} (index {index}) has no gradkit "
                      f"backend; gradkit takes CPU ({_DLPACK_CPU}) and CUDA ({_DLPACK_CUDA}) "
                      "memory")


def seed_all(seed: int) -> None:
    """Reseed every backend created so far, and those created later.

    What :func:`gradkit.manual_seed` does after checking the seed.

    Parameters
    ----------
    seed : int
        A nonnegative seed (see check_seed).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.backends import seed_all
    >>> seed_all(5)
    >>> gk.initial_seed()
    5
    """
    global _seed
    _seed = seed
    for b in _backends.values():
        b.seed(seed)


_seed: int | None = None
