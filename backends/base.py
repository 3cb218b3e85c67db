"""The Backend interface: everything gradkit needs from an array library, in one place.

A Backend is bound to one device. Code under gradkit/ calls only `backend.xp` (an Array
API namespace) and the methods below; the few operations the standard lacks or that a
library does much faster natively are methods here, with a generic fallback written in
`xp` that every backend can use and that the tests compare the native versions with.
Optimizer update rules are not here but in gradkit/optim; a backend may only offer a
fused kernel for one (`fused_adam_update`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias

import numpy as np

# A raw array of some backend's library (numpy.ndarray, cupy.ndarray, an array-api-strict
# Array): typed as Any, since gradkit never imports the optional libraries' types.
Array: TypeAlias = Any
Shape: TypeAlias = "int | Sequence[int]"
# What names a device: "cpu", "cuda", "cuda:1", "strict", a Backend, or None (the CPU)
DeviceLike: TypeAlias = "str | Backend | None"

# Set by gradkit.compile while it records a step, None otherwise (see `host_op`).
HOST_OP_HOOK: Callable[[Callable[..., Any], tuple, dict], Any] | None = None
HOST_READ_HOOK: Callable[[Any], None] | None = None  # raises on a recorded array read


def host_op(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function that must run again at every replay of a compiled step.

    Random draws (fresh numbers from the generator), bounds checks (they read indices on
    the host) and an optimizer's step (it reads the current learning rate): gradkit.compile
    records a call of such a function as one call, run with what is current at each
    replay, instead of recording the array calls it makes. Costs one global read otherwise.

    Parameters
    ----------
    fn : callable
        The function or method.

    Returns
    -------
    callable
        `fn`, wrapped.

    Examples
    --------
    >>> from gradkit.backends.base import host_op
    >>> @host_op
    ... def draw(n):
    ...     return n
    >>> draw(3)
    3
    """
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        hook = HOST_OP_HOOK
        if hook is None:
            return fn(*args, **kwargs)
        return hook(fn, args, kwargs)

    return run


DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")


class DeviceError(ValueError):
    """A device spec that names no usable device, or tensors on two devices in one op.

    A ValueError; ``gk.DeviceError``. PyTorch raises RuntimeError for these.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.zeros(2, device="tpu")
    Traceback (most recent call last):
    ...
    gradkit.backends.base.DeviceError: unknown device 'tpu': expected 'cpu', 'cuda', ...
    >>> gk.zeros(2) + gk.zeros(2, device="strict")
    Traceback (most recent call last):
    ...
    gradkit.backends.base.DeviceError: add: tensors are on different devices, cpu and ...
    """


class _NoScope:
    """The scope of a backend whose device needs no selecting: enters and leaves at once."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NO_SCOPE"


NO_SCOPE = _NoScope()


class HostSyncError(RuntimeError):
    """A device value was pulled to the host inside `Backend.no_host_sync()`.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0], device="strict")
    >>> with x.backend.no_host_sync():
    ...     x.item()
    Traceback (most recent call last):
    ...
    gradkit.backends.base.HostSyncError: a device value was pulled to the host ...
    """


@contextlib.contextmanager
def refusing_to_numpy(backend: Backend) -> Iterator[None]:
    """A context inside which `backend.to_numpy` raises HostSyncError.

    `to_numpy` is the library's explicit way to the host: this is the part of
    `no_host_sync` that every device backend shares.

    Parameters
    ----------
    backend : Backend
        The backend whose `to_numpy` to refuse.

    Yields
    ------
    None

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> from gradkit.backends.base import refusing_to_numpy
    >>> b = gk.get_backend("cpu")
    >>> with refusing_to_numpy(b):
    ...     b.to_numpy(np.zeros(1))
    Traceback (most recent call last):
    ...
    gradkit.backends.base.HostSyncError: a device value was pulled to the host ...
    """

    def refuse(*args: object, **kwargs: object) -> np.ndarray:
        raise HostSyncError(f"a device value was pulled to the host ({backend.name} backend's "
                            f"to_numpy) on {backend.device} inside no_host_sync()")

    missing = object()
    saved = backend.__dict__.get("to_numpy", missing)
    backend.to_numpy = refuse  # type: ignore[method-assign]  # an instance attribute, removed below
    try:
        yield
    finally:
        if saved is missing:
            del backend.to_numpy
        else:
            backend.to_numpy = saved  # type: ignore[method-assign]


class GraphCapture(Protocol):
    """Records device work once and replays it cheaply: a backend's CUDA graphs.

    `Backend.graph_capture()` makes one per compiled step (gk.compile). Every recording
    and every replay runs inside `session()`; within it, the work between `begin()` and
    `end()` is captured, and the function `end()` returns launches it again. Work outside
    a begin/end pair (host ops: an optimizer step reading the learning rate, copying a
    new batch into a static input buffer) runs eagerly, in stream order with the
    launches. A replay reads and writes the very memory the recording used: arrays a
    graph reads must stay alive and be written in place.

    Notes
    -----
    gradkit-only; PyTorch's counterpart is torch.cuda.CUDAGraph with torch.cuda.graph.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.get_backend("cpu").graph_capture() is None  # NumPy records no graphs
    True
    """

    @property
    def capturing(self) -> bool:
        """Whether a capture is under way (between `begin()` and `end()`)."""
        ...

    def session(self) -> contextlib.AbstractContextManager[None]:
        """The context of a recording and of every replay (device, stream, memory)."""
        ...

    def begin(self) -> None:
        """Start capturing, inside `session()`."""
        ...

    def end(self) -> Callable[[], None]:
        """Stop capturing; return the function that launches what was captured."""
        ...


class Backend:
    """One array library bound to one device: everything gradkit needs from it.

    Code under gradkit/ calls only `xp` (an Array API namespace) and the methods here.
    Get one with :func:`gradkit.get_backend`; a tensor's is ``x.backend``.

    Parameters
    ----------
    xp : module
        The library's Array API namespace.
    native_device : object
        The library's device object (the `device=` of its functions).

    Attributes
    ----------
    name : str
        "numpy", "cupy" or "strict".
    device : str
        gradkit's device string: "cpu", "cuda:0", "strict:device1".
    xp : module
        The Array API namespace.
    native_device : object
        The library's device object.
    dtypes : dict of str to object
        gradkit dtype name -> the library's dtype object.
    default_generator : Generator
        The generator draws use without `generator=`.
    scope : context manager
        Makes this backend's device current (NO_SCOPE where nothing needs selecting).

    Notes
    -----
    gradkit-only: PyTorch's dispatcher has no user-visible counterpart.

    Examples
    --------
    >>> import gradkit as gk
    >>> b = gk.get_backend("cpu")
    >>> b
    <Backend numpy on cpu>
    >>> b.name, b.device
    ('numpy', 'cpu')
    >>> gk.tensor([1.0]).backend is b
    True
    """

    name: str = "?"  # "numpy", "cupy" or "strict"
    device: str = "?"  # gradkit's device string: "cpu", "cuda:0", "strict:device1"
    scalar_types: tuple[type, ...] = ()  # what a reduction may return instead of a 0-d array
    # The context that makes this backend's device current: CuPy allocates and launches
    # on the current GPU, so with several GPUs every piece of code that makes or combines
    # arrays of a tensor runs inside `with backend.scope:` (ops, backward, optimizer
    # steps, in-place writes, creation). NO_SCOPE where nothing needs selecting; hot paths
    # test `scope is NO_SCOPE` to skip even that.
    scope = NO_SCOPE
    # Whether reading an index array's range on the host is free (the CPU): then gradkit
    # checks index bounds always; elsewhere only in debug mode (gradkit/debug.py).
    checks_bounds_cheaply = False
    # Fragments of this library's messages for arrays of two devices in one operation,
    # which gradkit then reports as a DeviceError (not as a shape problem)
    device_error_hints: tuple[str, ...] = ()
    # Optional fused optimizer kernels, None where the backend has none. The update rules
    # themselves belong to gradkit/optim (sgd_update, adam_update, in `xp`); a kernel here
    # takes the same arguments less `xp`, updates the arrays in place as they do, and is
    # tested against them. The CuPy backend fuses Adam into one CUDA kernel.
    fused_sgd_update: Callable[..., Array] | None = None
    fused_adam_update: Callable[..., None] | None = None

    def __init__(self, xp: Any, native_device: Any) -> None:
        self.xp = xp
        # (the class defaults that every op reads, as the instance's own attributes, which
        # CPython 3.11 reads several times faster than a class's)
        self.scope, self.scalar_types = self.scope, self.scalar_types
        # the types of what op forwards have returned that are not scalar_types (a cache
        # of `isinstance(out, scalar_types)`, for Function.apply)
        self.array_types: set[type] = set()
        self.native_device = native_device
        # gradkit dtype name -> this library's dtype object
        self.dtypes = {n: getattr(xp, n) for n in DTYPE_NAMES if hasattr(xp, n)}
        # The generator draws use without generator= (gk.manual_seed seeds it); unseeded,
        # it takes a fresh seed from the OS on first use.
        self.default_generator = Generator(self)._reset(None)
        # cache: dtype object -> name (numpy's .name is slow)
        self._dtype_names: dict[Any, str] = {}
        # The floating dtype objects seen so far: a tuple, whose `in` tests identity first
        # (a NumPy dtype's hash is computed anew on every call).
        self.float_dtypes: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"<Backend {self.name} on {self.device}>"

    # ---- dtypes -------------------------------------------------------------------
    def dtype_name(self, array_dtype: Any) -> str:
        """The standard name ("float32", ...) of one of this library's dtypes.

        Parameters
        ----------
        array_dtype : object
            A dtype object of this library.

        Returns
        -------
        str

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.dtype_name(np.dtype("int64"))
        'int64'
        """
        try:
            return self._dtype_names[array_dtype]
        except KeyError:
            name = self._dtype_names[array_dtype] = self._name_of(array_dtype)
            if name[0] == "f":
                self.float_dtypes += (array_dtype,)
            return name

    def is_float(self, array_dtype: Any) -> bool:
        """Whether one of this library's dtypes is floating point (cached, hot path).

        Parameters
        ----------
        array_dtype : object
            A dtype object of this library.

        Returns
        -------
        bool

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.is_float(np.dtype("float32")), b.is_float(np.dtype("int8"))
        (True, False)
        """
        return array_dtype in self.float_dtypes or self.dtype_name(array_dtype)[0] == "f"

    def _name_of(self, array_dtype: Any) -> str:
        return array_dtype.name  # NumPy and CuPy use numpy.dtype

    def to_float(self, array: Array) -> Array:
        """`array` in the default float32 if its dtype is bool or integer, else unchanged.

        For ops whose result is floating point, as PyTorch's sqrt of an int tensor.

        Parameters
        ----------
        array : array
            A raw array of this backend.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.to_float(np.array([1, 2]))
        array([1., 2.], dtype=float32)
        """
        if self.is_float(array.dtype):
            return array
        return self.xp.astype(array, self.dtypes["float32"])

    # ---- moving data ------------------------------------------------------------
    def asarray(self, data: Any, dtype_name: str | None = None) -> Array:
        """An array on this device from a host NumPy array or a Python scalar or list.

        Parameters
        ----------
        data : array_like
            Host data.
        dtype_name : str, optional
            A gradkit dtype name; by default the library infers it.

        Returns
        -------
        array
            A raw array of this backend.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.asarray([1, 2], "float32")
        array([1., 2.], dtype=float32)
        """
        dtype = self.dtypes[dtype_name] if dtype_name else None
        return self.xp.asarray(data, dtype=dtype, device=self.native_device)

    def to_numpy(self, array: Array) -> np.ndarray:
        """The values of a raw array on the host, as a NumPy array.

        A copy from a device (a synchronisation on a GPU), the array itself when it
        already is a NumPy array. Tensor.numpy() copies that case, so a user never gets
        a view; the library's own read-only uses (repr, save) do not.

        Parameters
        ----------
        array : array
            A raw array of this backend.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("strict")
        >>> b.to_numpy(b.asarray([1.0, 2.0]))
        array([1., 2.])
        """
        if HOST_READ_HOOK is not None:
            HOST_READ_HOOK(array)
        return np.asarray(array)

    def owns(self, array: object) -> bool:
        """Whether `array` is an array of this backend's library on this device.

        Parameters
        ----------
        array : object
            Anything.

        Returns
        -------
        bool

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> gk.get_backend("cpu").owns(np.zeros(2)), gk.get_backend("strict").owns(np.zeros(2))
        (True, False)
        """
        raise NotImplementedError

    def transfer(self, array: Array, src: Backend) -> Array:
        """`array`, which lives on `src`, copied onto this backend's device.

        Parameters
        ----------
        array : array
            A raw array of `src`.
        src : Backend
            The backend `array` lives on.

        Returns
        -------
        array
            A raw array of this backend.

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> s = gk.get_backend("strict")
        >>> s.owns(s.transfer(np.array([1.0]), gk.get_backend("cpu")))
        True
        """
        return self.asarray(src.to_numpy(array))

    def synchronize(self) -> None:
        """Wait for queued device work; a no-op on the CPU.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.synchronize()
        """

    # What no_host_sync() enforces here, in words; None where it checks nothing.
    host_sync_check: str | None = None

    def no_host_sync(self) -> contextlib.AbstractContextManager[None]:
        """A context manager inside which pulling a device value to the host raises
        (`float(x)`, `bool(x)`, `.item()`, a NumPy conversion, `to_numpy`), as far as this
        backend can tell: HostSyncError, or the array library's own error. gradkit's
        training path must run inside it (principle 5); the tests and the self-check
        (`python -m gradkit.selfcheck`) wrap a training step in it. This version checks
        nothing: on the CPU there is no host transfer to find. `host_sync_check` says
        what a backend's version enforces.

        Returns
        -------
        context manager

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], device="strict")
        >>> with x.backend.no_host_sync():
        ...     y = (x * 2).sum()
        >>> y.item()
        6.0
        """
        return contextlib.nullcontext()

    def describe(self) -> str:
        """One line about the array library and device, for reports (the self-check).

        Returns
        -------
        str

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.get_backend("cpu").describe()
        'numpy ... on cpu'
        """
        module = getattr(self.xp, "__name__", type(self.xp).__name__)
        version = getattr(self.xp, "__version__", "")
        return f"{module} {version}".strip() + f" on {self.device}"

    def graph_capture(self) -> GraphCapture | None:
        """A new recorder of device work as CUDA graphs, or None where there are none.

        gk.compile asks once per compiled step; a backend without graphs (NumPy, the
        strict test double) gives None and the step is replayed op by op instead.

        Returns
        -------
        GraphCapture or None

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.get_backend("cpu").graph_capture() is None
        True
        """
        return None

    def index_range(self, index: Array) -> tuple[int, int]:
        """The smallest and largest value of a non-empty integer array, as host ints.

        An explicit host copy, so a synchronisation on a GPU.

        Parameters
        ----------
        index : array
            A raw integer array of this backend, not empty.

        Returns
        -------
        tuple of int
            (min, max).

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("strict")
        >>> b.index_range(b.asarray([3, 1, 2]))
        (1, 3)
        """
        xp = self.xp
        lo, hi = self.to_numpy(xp.stack([xp.min(index), xp.max(index)])).tolist()
        return lo, hi

    # ---- random numbers -----------------------------------------------------------
    # Each draw takes `generator`, a Generator bound to this device, or None for the
    # default one. Its native generator (`new_rng`) is NumPy's on the host; GPU backends
    # override the three native-generator methods and the draws to stay on the device.
    def seed(self, seed: int | None) -> None:
        """Reseed the default generator (None: a fresh seed from the OS on first use).

        Parameters
        ----------
        seed : int or None
            A nonnegative seed, or None.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.seed(3)
        >>> b.default_generator.initial_seed()
        3
        """
        self.default_generator._reset(seed)

    def new_rng(self, seed: int) -> Any:
        """This library's random generator, seeded, on this device.

        Parameters
        ----------
        seed : int
            A nonnegative seed.

        Returns
        -------
        object
            NumPy's ``numpy.random.Generator`` here; CuPy's on the GPU.

        Examples
        --------
        >>> import gradkit as gk
        >>> rng = gk.get_backend("cpu").new_rng(0)
        >>> type(rng).__name__
        'Generator'
        """
        return np.random.default_rng(seed)

    def rng_state(self, rng: Any) -> Any:
        """A snapshot of a native generator's state (a fresh dict on the host).

        Parameters
        ----------
        rng : object
            A generator made by `new_rng`.

        Returns
        -------
        object
            What `set_rng_state` takes.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.rng_state(b.new_rng(0))["bit_generator"]
        'PCG64'
        """
        return rng.bit_generator.state

    def set_rng_state(self, rng: Any, state: Any) -> None:
        """Restore a native generator's state from `rng_state`.

        Parameters
        ----------
        rng : object
            A generator made by `new_rng`.
        state : object
            What `rng_state` returned.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> rng = b.new_rng(0)
        >>> state = b.rng_state(rng)
        >>> first = rng.random()
        >>> b.set_rng_state(rng, state)
        >>> rng.random() == first
        True
        """
        rng.bit_generator.state = state

    def _rng(self, generator: Generator | None = None) -> Any:
        """The native generator of `generator` (default: this device's default one)."""
        if generator is None:
            generator = self.default_generator
        elif not isinstance(generator, Generator):
            raise TypeError(f"generator must be a gradkit Generator, not "
                            f"{type(generator).__name__}")
        elif generator.device != self.device:
            raise DeviceError(f"a Generator on {generator.device} cannot draw on {self.device}: "
                              f"use one made with Generator(device={self.device!r})")
        return generator._native()

    @host_op
    def randn(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        """Standard normal draws, as `dtype_name` (what :func:`gradkit.randn` uses).

        Parameters
        ----------
        shape : int or sequence of int
            The shape.
        dtype_name : str
            A gradkit dtype name.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw array of this backend.

        Raises
        ------
        TypeError
            If `generator` is no Generator.
        DeviceError
            If `generator` is on another device.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.randn((2, 3), "float32").shape
        (2, 3)
        """
        return self.asarray(self._rng(generator).standard_normal(shape).astype(dtype_name))

    @host_op
    def rand(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        """Uniform draws in [0, 1), as `dtype_name` (what :func:`gradkit.rand` uses).

        Parameters
        ----------
        shape : int or sequence of int
            The shape.
        dtype_name : str
            A gradkit dtype name.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw array of this backend.

        Raises
        ------
        TypeError
            If `generator` is no Generator.
        DeviceError
            If `generator` is on another device.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.rand((4,), "float64").dtype
        dtype('float64')
        """
        return self.asarray(self._rng(generator).random(shape).astype(dtype_name))

    @host_op
    def randint(self, low: int, high: int, shape: Shape, dtype_name: str,
                generator: Generator | None = None) -> Array:
        """Integers uniform in [low, high), as `dtype_name`.

        Parameters
        ----------
        low, high : int
            The range, `high` excluded.
        shape : int or sequence of int
            The shape.
        dtype_name : str
            A gradkit dtype name.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw array of this backend.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.randint(0, 10, (3,), "int64").shape
        (3,)
        """
        return self.asarray(self._rng(generator).integers(low, high, shape).astype(dtype_name))

    @host_op
    def bernoulli_mask(self, shape: Shape, keep: float, dtype_name: str,
                       generator: Generator | None = None) -> Array:
        """1/keep where a uniform draw is below `keep`, else 0 (inverted dropout's mask).

        Parameters
        ----------
        shape : int or sequence of int
            The shape.
        keep : float
            The probability of keeping an element, in (0, 1].
        dtype_name : str
            A gradkit dtype name.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw array of this backend, of values 0 and 1/keep.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> sorted(set(b.bernoulli_mask((100,), 0.5, "float32").tolist()))
        [0.0, 2.0]
        """
        u = self._rng(generator).random(shape)
        return self.asarray(((u < keep) / keep).astype(dtype_name))

    @host_op
    def permutation(self, n: int, generator: Generator | None = None) -> Array:
        """A random permutation of 0, ..., n-1, int64 (what :func:`gradkit.randperm` uses).

        Parameters
        ----------
        n : int
            The number of elements.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw int64 array of this backend.

        Examples
        --------
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> sorted(b.permutation(4).tolist())
        [0, 1, 2, 3]
        """
        return self.asarray(self._rng(generator).permutation(n).astype("int64"))

    @host_op
    def multinomial(self, weights: Array, n: int, replacement: bool,
                    generator: Generator | None = None) -> Array:
        """`n` category indices (int64) per row of `weights` (1-D or 2-D, floating).

        Standard-only, on the device. With replacement, inverse CDF: a uniform draw
        scaled to the row's total falls between two running sums. Without, the
        exponential race (Gumbel top-k): category i's key is E_i / w_i for standard
        exponential E_i; the n smallest keys are a draw without replacement, in draw
        order. A row that is no distribution (a weight negative, inf or nan; a zero or
        overflowing total; fewer nonzero weights than `n` without replacement) gets the
        out-of-range index K (the number of categories), never a plausible one; the
        caller checks the weights on the host where that is cheap.

        Parameters
        ----------
        weights : array
            A raw floating array of this backend, 1-D or 2-D.
        n : int
            How many indices per row.
        replacement : bool
            Whether an index may be drawn more than once.
        generator : Generator, optional
            A Generator on this device; the default generator by default.

        Returns
        -------
        array
            A raw int64 array of shape ``weights.shape[:-1] + (n,)``.

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.multinomial(np.array([0.0, 1.0, 0.0]), 2, True)
        array([1, 1])
        """
        xp = self.xp
        k = weights.shape[-1]
        rows = tuple(weights.shape[:-1])
        u = self.rand(rows + ((n,) if replacement else (k,)), self.dtype_name(weights.dtype),
                      generator)
        positive = weights > 0
        ok = (xp.all(xp.isfinite(weights) & (weights >= 0), axis=-1)
              & (xp.count_nonzero(positive, axis=-1) >= (1 if replacement else n)))
        if replacement:
            cdf = xp.cumulative_sum(weights, axis=-1)
            total = cdf[..., -1:]
            ok = ok & xp.isfinite(total[..., 0])
            # u * total rounds up to total once in a while: keep it below, so that the
            # draw never lands past the last category with nonzero weight.
            u = xp.minimum(u * total, xp.nextafter(total, xp.zeros_like(total)))
            if weights.ndim == 1:
                idx = xp.searchsorted(cdf, u, side="right")
            else:  # the standard's searchsorted is 1-D: count the running sums <= u
                # (memory rows * n * K: fine for sampling loops and batches of few draws)
                idx = xp.count_nonzero(cdf[..., None, :] <= u[..., None], axis=-1)
        else:
            e = -xp.log1p(-u)  # standard exponential, finite for u in [0, 1)
            keys = xp.where(positive, e / xp.where(positive, weights, 1.0), xp.inf)
            idx = xp.argsort(keys, axis=-1)[..., :n]
        idx = xp.where(ok[..., None], xp.astype(idx, self.dtypes["int64"]), k)
        return idx

    # ---- operations the standard lacks (or that a library does faster natively) --------
    def sum(self, x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:
        """Sum with xp.sum over a tuple of axes; a hook so NumPy can skip its Python wrapper.

        Parameters
        ----------
        x : array
            A raw array of this backend.
        axis : int or tuple of int or None
            The axes to sum over; None for all.
        keepdims : bool
            Keep the summed axes with size 1.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.sum(np.ones((2, 3)), (1,), False)
        array([3., 3.])
        """
        return self.xp.sum(x, axis=axis, keepdims=keepdims)

    def getitem(self, array: Array, index: Any) -> Array:
        """Index as NumPy's ``array[index]``, kept within the standard where possible.

        The standard takes integer arrays only when every axis gets an integer or an
        integer array. NumPy's common case of one integer array among slices (an
        embedding lookup `w[idx]`, `x[:, idx]`, `x[i, idx]`) becomes basic indexing and
        `take`; other forms are passed on as they are.

        Parameters
        ----------
        array : array
            A raw array of this backend.
        index : object
            Any index NumPy accepts (ints, slices, None, Ellipsis, integer or bool arrays).

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.getitem(np.arange(6).reshape(2, 3), (slice(None), np.array([2, 0])))
        array([[2, 0],
               [5, 3]])
        """
        xp = self.xp
        items = index if isinstance(index, tuple) else (index,)
        if items[-1] is Ellipsis and len(items) - 1 == array.ndim and all(
                isinstance(i, int) or hasattr(i, "dtype") for i in items[:-1]):
            return array[items[:-1]]  # every axis addressed: the standard wants no Ellipsis
        arrays = [k for k, i in enumerate(items) if hasattr(i, "dtype")]
        block = sorted(arrays + [k for k, i in enumerate(items) if isinstance(i, int)])
        if (len(arrays) != 1 or not xp.isdtype(items[arrays[0]].dtype, "integral")
                or block[-1] - block[0] != len(block) - 1):
            return array[index]  # NumPy moves the result axes (or more arrays): as given
        k = arrays[0]
        idx = items[k]
        consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
        axis = sum(array.ndim - consumed if i is Ellipsis else 0 if isinstance(i, int) else 1
                   for i in items[:k])
        basic = items[:k] + (slice(None),) + items[k + 1:]
        y = array[basic if any(i is Ellipsis for i in items) else basic + (Ellipsis,)]
        out = xp.take(y, xp.reshape(idx, (-1,)) if idx.ndim != 1 else idx, axis=axis)
        if idx.ndim != 1:
            out = xp.reshape(out, y.shape[:axis] + tuple(idx.shape) + y.shape[axis + 1:])
        return out

    def setitem(self, array: Array, index: Any, value: Any) -> None:
        """Write ``array[index] = value`` in place, with NumPy's semantics for integer arrays.

        The standard's setitem takes only ints, slices and masks. The generic version
        reads the flat positions `index` selects (as getitem does) and writes through a
        one-hot `where`, the last write winning at a repeated position, as in NumPy.
        Memory is O(len(positions) * size): fine for tests, which is what it is for.

        Parameters
        ----------
        array : array
            A raw array of this backend, written in place.
        index : object
            Any index NumPy accepts.
        value : array or scalar
            Broadcastable to ``array[index]``.

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> a = np.zeros(3)
        >>> b.setitem(a, np.array([0, 2]), 5.0)
        >>> a
        array([5., 0., 5.])
        """
        items = index if isinstance(index, tuple) else (index,)
        xp = self.xp
        if not any(hasattr(i, "dtype") and xp.isdtype(i.dtype, "integral") for i in items):
            array[index] = value
            return
        dev = self.native_device
        size = math.prod(array.shape)
        numbers = xp.reshape(xp.arange(size, device=dev), array.shape)
        selected = self.getitem(numbers, index)
        positions = xp.reshape(selected, (-1,))
        n = positions.shape[0]
        if n == 0:
            return
        values = xp.asarray(value, dtype=array.dtype, device=dev)
        values = xp.reshape(xp.broadcast_to(values, selected.shape), (-1,))
        hit = positions[:, None] == xp.arange(size, device=dev)[None, :]
        order = xp.reshape(xp.arange(n, device=dev), (n, 1))
        last = xp.max(xp.where(hit, order, -1), axis=0)  # the last write to each element
        written = xp.take(values, xp.clip(last, min=0))
        flat = xp.where(last >= 0, written, xp.reshape(array, (-1,)))
        array[...] = xp.reshape(flat, array.shape)

    def scatter_add(self, shape: tuple[int, ...], index: Any, values: Array) -> Array:
        """Zeros of `shape` with `values` added at `index`; duplicate indices accumulate.

        The generic version is standard-only: it numbers the target's elements, reads
        the numbers at `index` (any index `x[index]` accepts) and turns them into a
        one-hot matrix, so the sum is a matrix product. Memory is O(len(values) * size):
        fine for tests, which is what it is for.

        Parameters
        ----------
        shape : tuple of int
            The shape of the result.
        index : object
            Any index ``x[index]`` accepts, selecting where `values` go.
        values : array
            A raw array of this backend, of the selection's shape.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.scatter_add((3,), np.array([0, 0, 2]), np.array([1.0, 2.0, 3.0]))
        array([3., 0., 3.])
        """
        xp = self.xp
        size = math.prod(shape)
        positions = self.getitem(
            xp.reshape(xp.arange(size, device=self.native_device), shape), index)
        positions = xp.reshape(positions, (-1,))
        onehot = positions[:, None] == xp.arange(size, device=self.native_device)[None, :]
        flat = xp.reshape(values, (1, -1)) @ xp.astype(onehot, values.dtype)
        return xp.reshape(flat, shape)

    def matmul(self, a: Array, b: Array) -> Array:
        """``a @ b``: every matrix product of the ops goes through here.

        So that a backend can run it its own way where the operator cannot be used: CuPy
        refuses cuBLAS while a CUDA graph is being captured, so gradkit.compile runs each
        product by itself between two graphs there.

        Parameters
        ----------
        a, b : array
            Raw arrays of this backend that `@` accepts.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> gk.get_backend("cpu").matmul(np.eye(2), np.array([[1.0], [2.0]]))
        array([[1.],
               [2.]])
        """
        return a @ b

    def erf(self, x: Array) -> Array:
        """The error function, elementwise, in x's floating dtype (standard-only).

        W. J. Cody's rational Chebyshev approximations (Math. Comp. 1969; netlib
        specfun CALERF), evaluated on all three intervals and chosen with `where`:
        erf directly for ``|x| <= 0.46875``, erfc on (0.46875, 4] and beyond 4. Each
        interval sees its argument clipped into range, so no branch overflows; the
        result agrees with math.erf to ~1e-16 in float64.

        Parameters
        ----------
        x : array
            A raw floating array of this backend.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> b = gk.get_backend("cpu")
        >>> b.erf(np.array([0.0, 1.0]))
        array([0.        , 0.84270079])
        """
        xp = self.xp
        y = xp.abs(x)
        xs = xp.clip(x, min=-_ERF_SMALL, max=_ERF_SMALL)
        small = xs * _cody_ratio(xs * xs, _ERF_A, _ERF_B)
        y2 = xp.clip(y, min=_ERF_SMALL, max=4.0)
        erfc2 = _exp_minus_square(xp, y2) * _cody_ratio(y2, _ERF_C, _ERF_D)
        y3 = xp.clip(y, min=4.0, max=_ERF_BIG)  # erfc(y) underflows to 0 beyond _ERF_BIG
        t = 1.0 / (y3 * y3)
        erfc3 = _exp_minus_square(xp, y3) * ((_SQRT_1_PI - t * _cody_ratio(t, _ERF_P, _ERF_Q)) / y3)
        big = (0.5 - xp.where(y <= 4.0, erfc2, erfc3)) + 0.5
        return xp.where(y <= _ERF_SMALL, small, xp.where(x < 0, -big, big))


# ---- Generator --------------------------------------------------------------------------
_TORCH_DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()


class GeneratorState(NamedTuple):
    """What Generator.get_state returns: opaque, for set_state on the same device.

    Parameters
    ----------
    device : str
        The Generator's device.
    seed : int
        Its initial seed.
    state : object
        The native generator's state (on the device for CuPy).

    Examples
    --------
    >>> import gradkit as gk
    >>> state = gk.Generator().manual_seed(1).get_state()
    >>> state.device, state.seed
    ('cpu', 1)
    """

    device: str
    seed: int
    state: object  # the native generator's state (on the device for CuPy)


class Generator:
    """PyTorch's torch.Generator: a seeded stream of random numbers bound to one device.

    Pass it as `generator=` to gk.randn, gk.rand, gk.randint, gk.randperm, gk.multinomial
    or F.dropout to draw from it instead of the device's default generator (which
    gk.manual_seed seeds), leaving that one's sequence alone. It draws from its device's
    own library: NumPy's PCG64 for cpu and strict (whose draws are then copied onto the
    simulated device), CuPy's cuRAND XORWOW on the GPU, in GPU memory. A new Generator
    starts from torch's default seed. The same seed repeats the same draws on the same
    device; the numbers are not torch's, nor equal across devices.

    Parameters
    ----------
    device : str or Backend, default "cpu"
        The device it draws on.

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Notes
    -----
    PyTorch equivalent: :class:`torch.Generator`.

    Examples
    --------
    >>> import gradkit as gk
    >>> g = gk.Generator().manual_seed(42)
    >>> a = gk.randn(3, generator=g)
    >>> b = gk.randn(3, generator=g.manual_seed(42))
    >>> bool((a == b).all())
    True
    >>> gk.Generator("strict")
    <gradkit.Generator on strict:device1, initial_seed=67280421310721>
    """

    _backend: Backend
    _seed: int | None
    _rng: Any  # the native generator, made on first use

    def __init__(self, device: DeviceLike = "cpu") -> None:
        if isinstance(device, Backend):
            self._backend = device
        else:
            from . import get_backend  # the package imports this module first

            self._backend = get_backend(device)
        self._reset(_TORCH_DEFAULT_SEED)

    def __repr__(self) -> str:
        return f"<gradkit.Generator on {self.device}, initial_seed={self.initial_seed()}>"

    @property
    def device(self) -> str:
        """The device it draws on, as a string.

        Notes
        -----
        PyTorch equivalent: :attr:`torch.Generator.device`. Differences: a string, not a
        :class:`torch.device`.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.Generator().device
        'cpu'
        """
        return self._backend.device

    def manual_seed(self, seed: int) -> Generator:
        """Seed it and return it (torch.Generator.manual_seed).

        Parameters
        ----------
        seed : int
            Any int in [-2**63, 2**64); negatives are taken mod 2**64, as torch's.

        Returns
        -------
        Generator
            The generator itself.

        Raises
        ------
        TypeError
            If `seed` is not an int.
        ValueError
            If `seed` is outside [-2**63, 2**64).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.Generator().manual_seed(-1).initial_seed()
        18446744073709551615
        """
        return self._reset(check_seed(seed))

    def seed(self) -> int:
        """Seed it with a fresh, nondeterministic number from the OS (torch.Generator.seed).

        Returns
        -------
        int
            The new seed.

        Examples
        --------
        >>> import gradkit as gk
        >>> g = gk.Generator()
        >>> s = g.seed()
        >>> g.initial_seed() == s
        True
        """
        seed = secrets.randbits(64)
        self._reset(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed the current stream started from (torch.Generator.initial_seed).

        Returns
        -------
        int

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.Generator().initial_seed()
        67280421310721
        """
        if self._seed is None:
            self._seed = secrets.randbits(64)
        return self._seed

    def get_state(self) -> GeneratorState:
        """A snapshot of its state: set_state(it) repeats the draws made since.

        Returns
        -------
        GeneratorState

        Notes
        -----
        PyTorch equivalent: :meth:`torch.Generator.get_state`. Differences: PyTorch returns
        the raw state as a uint8 tensor (a ByteTensor); this is an opaque named tuple, to
        give back to :meth:`set_state`.

        Examples
        --------
        >>> import gradkit as gk
        >>> g = gk.Generator().manual_seed(0)
        >>> state = g.get_state()
        >>> a = gk.rand(3, generator=g)
        >>> b = gk.rand(3, generator=g.set_state(state))
        >>> bool((a == b).all())
        True
        """
        return GeneratorState(self.device, self.initial_seed(),
                              self._backend.rng_state(self._native()))

    def set_state(self, new_state: GeneratorState) -> Generator:
        """Restore a state from `get_state` and return self (torch.Generator.set_state).

        Parameters
        ----------
        new_state : GeneratorState
            What `get_state` returned, on a Generator of the same device.

        Returns
        -------
        Generator
            The generator itself.

        Raises
        ------
        TypeError
            If `new_state` is not a GeneratorState.
        DeviceError
            If it comes from a Generator on another device.

        Examples
        --------
        >>> import gradkit as gk
        >>> g = gk.Generator()
        >>> g.set_state(gk.Generator().manual_seed(5).get_state()).initial_seed()
        5
        """
        if not isinstance(new_state, GeneratorState):
            raise TypeError(f"set_state takes what get_state returned, not "
                            f"{type(new_state).__name__}")
        if new_state.device != self.device:
            raise DeviceError(f"set_state: the state is from a Generator on {new_state.device}, "
                              f"this one is on {self.device}")
        self._seed = new_state.seed
        self._backend.set_rng_state(self._native(), new_state.state)
        return self

    def _reset(self, seed: int | None) -> Generator:
        self._seed, self._rng = seed, None  # the native generator is made on first use
        return self

    def _native(self) -> Any:
        if self._rng is None:
            self._rng = self._backend.new_rng(self.initial_seed())
        return self._rng


def check_seed(seed: Any) -> int:
    """A seed as torch.manual_seed takes it: an int in [-2**63, 2**64), made nonnegative.

    Parameters
    ----------
    seed : int
        Anything with ``__index__`` except a bool.

    Returns
    -------
    int
        `seed` mod 2**64.

    Raises
    ------
    TypeError
        If `seed` is not an int (or is a bool).
    ValueError
        If `seed` is outside [-2**63, 2**64).

    Examples
    --------
    >>> from gradkit.backends import check_seed
    >>> check_seed(7), check_seed(-1)
    (7, 18446744073709551615)
    """
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"manual_seed expects an int, not {type(seed).__name__} ({seed!r})")
    seed = seed.__index__()
    if not -2**63 <= seed < 2**64:
        raise ValueError(f"seed {seed} is outside [-2**63, 2**64)")
    return seed % 2**64


# ---- erf: W. J. Cody's coefficients (netlib specfun, CALERF), highest order first --------
_ERF_SMALL, _ERF_BIG = 0.46875, 26.543
_SQRT_1_PI = 0.56418958354775628695  # 1/sqrt(pi)
_ERF_A = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
          3.77485237685302021e02, 3.20937758913846947e03)
_ERF_B = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
          6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
          1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_ERF_D = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
          1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERF_Q = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)


def _cody_ratio(t, num, den):
    """num(t) / den(t) for coefficient tuples of equal length, highest order first,
    in Cody's nesting (the constant terms are added last)."""
    xnum, xden = num[0] * t, den[0] * t
    for a, b in zip(num[1:-1], den[1:-1]):
        xnum = (xnum + a) * t
        xden = (xden + b) * t
    return (xnum + num[-1]) / (xden + den[-1])


def _exp_minus_square(xp, y):
    """exp(-y*y) without the rounding error of squaring y: y is split at a multiple of
    1/16 so that the large part of y*y is exact (Cody's trick)."""
    head = xp.floor(y * 16.0) / 16.0
    return xp.exp(-head * head) * xp.exp(-(y - head) * (y + head))
