"""NumPy on the CPU: the reference backend, always present.

Allocator tuning, opt-in because it is process-wide: `tune_malloc()` (or
GRADKIT_MALLOC_TUNING=1 in the environment when gradkit is imported) asks glibc, on
Linux, to keep freed arrays up to 32 MiB in the heap instead of returning them to the
operating system. A training step frees and re-allocates the same temporaries every step;
without this each one is page-faulted in again (docs/performance.md measures what that
costs). The price: memory the process frees is kept for reuse by the process (up to 256
MiB at the top of the heap) rather than returned, for the whole process, gradkit or not.
Importing gradkit alone changes nothing.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import warnings
from typing import Any

import numpy as np

if np.lib.NumpyVersion(np.__version__) >= "2.3.0":
    xp_numpy = np  # NumPy 2.3+ implements the standard itself: no wrapper on the hot path
else:  # older NumPy deviates (2.1/2.2: count_nonzero gives a Python int; 1.x: no mT, ...)
    import array_api_compat.numpy as xp_numpy  # type: ignore[no-redef]  # one of the two

from .base import Array, Backend, Generator, Shape, host_op

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
MALLOC_TUNED = False  # whether tune_malloc() has taken effect in this process


def tune_malloc() -> bool:
    """Keep freed memory in the heap for reuse (glibc's mallopt, process-wide).

    See the module docstring for what it costs. Also turned on by
    GRADKIT_MALLOC_TUNING=1 in the environment when gradkit is imported.

    Returns
    -------
    bool
        Whether it took effect: False off Linux or off glibc.

    Examples
    --------
    >>> from gradkit.backends import tune_malloc
    >>> tune_malloc()  # doctest: +SKIP
    True
    """
    global MALLOC_TUNED
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    MALLOC_TUNED = bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(
        mallopt(m_trim_threshold, 256 << 20))
    return MALLOC_TUNED


def _malloc_tuning_requested() -> bool:
    """GRADKIT_MALLOC_TUNING from the environment: 1/true/yes/on (any case) opts in."""
    value = os.environ.get("GRADKIT_MALLOC_TUNING", "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        warnings.warn(f"GRADKIT_MALLOC_TUNING={value!r} is neither 1/true/yes/on nor "
                      "0/false/no/off; malloc is left alone", stacklevel=2)
    return False


if _malloc_tuning_requested():
    tune_malloc()


class NumpyBackend(Backend):
    """NumPy on the CPU: the reference backend, always present (device "cpu").

    Index bounds are always checked here (reading them is free on the host).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.get_backend("cpu")
    <Backend numpy on cpu>
    """

    name = "numpy"
    device = "cpu"
    scalar_types = (np.generic,)
    checks_bounds_cheaply = True

    def __init__(self) -> None:
        super().__init__(xp_numpy, "cpu")
        self._scipy_erf: Any = None  # looked up on first use: SciPy is optional

    def owns(self, array: object) -> bool:
        return isinstance(array, (np.ndarray, np.generic))

    def asarray(self, data: Any, dtype_name: str | None = None) -> Array:
        return np.asarray(data, dtype=dtype_name)

    def index_range(self, index: Array) -> tuple[int, int]:
        return int(index.min()), int(index.max())  # no stack and copy: ~5x faster

    @host_op
    def randn(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        return self._rng(generator).standard_normal(shape, dtype=dtype_name)

    @host_op
    def rand(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        return self._rng(generator).random(shape, dtype=dtype_name)

    def erf(self, x: Array) -> Array:
        """The error function: scipy.special.erf when SciPy is installed, else the generic one.

        Parameters
        ----------
        x : array
            A raw floating array.

        Returns
        -------
        array

        Examples
        --------
        >>> import numpy as np
        >>> import gradkit as gk
        >>> gk.get_backend("cpu").erf(np.array([0.0, 1.0]))
        array([0.        , 0.84270079])
        """
        if self._scipy_erf is None:
            try:
                from scipy.special import erf
            except ImportError:
                erf = False
            self._scipy_erf = erf
        # (asanyarray: a compiled step records through an ndarray subclass; keep it)
        return np.asanyarray(self._scipy_erf(x)) if self._scipy_erf else super().erf(x)

    def sum(self, x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:
        # np.add.reduce is np.sum without its Python-level wrapper (a microsecond per call
        # on small arrays, which the training step's bias gradients are); floats only, so
        # integer sums keep np.sum's promotion.
        if x.dtype.kind == "f":
            # (NumPy >= 2.1 stubs take keepdims only as Literal[True] or Literal[False];
            # older ones do not mind, hence unused-ignore)
            return np.add.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload,unused-ignore]
        return np.sum(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload,unused-ignore]

    def setitem(self, array: Array, index: Any, value: Any) -> None:
        array[index] = value

    def scatter_add(self, shape: tuple[int, ...], index: Any, values: Array) -> Array:
        out = np.zeros(shape, dtype=values.dtype)
        rows = index
        if type(index) is tuple and (len(index) == 1 or len(index) == 2 and index[1] is ...):
            rows = index[0]
        if isinstance(rows, np.ndarray) and rows.dtype.kind in "iu" and \
                values.shape == rows.shape + out.shape[1:]:
            # whole rows (an embedding's gradient): np.add.at on flat 1-d indices, its fast
            # path (4x here), adding in the same order; an index outside [-n, n) stays
            # outside the flat range, so add.at raises for it as for the rows
            n, width = out.shape[0], math.prod(out.shape[1:])
            rows = np.where(rows < 0, rows + n, rows)
            rows = np.where(rows < 0, n, rows)
            flat = np.reshape(rows, (-1, 1)) * width + np.arange(width)
            np.add.at(np.reshape(out, (-1,)), np.reshape(flat, (-1,)), np.reshape(values, (-1,)))
            return out
        np.add.at(out, index, values)
        return out
