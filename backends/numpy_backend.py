"""NumPy on the CPU: the reference backend, always present.

Allocator setting (said here because it is process-wide): on Linux with glibc, creating
this backend (importing gradkit) calls mallopt so that freed arrays up to 32 MiB stay in
the heap instead of going back to the operating system. A training step frees and
re-allocates the same temporaries every step; without this each one is page-faulted in
again, which costs a plain NumPy step about a quarter of its time. Memory the process
frees is then reused by the process rather than returned (up to 256 MiB at the top of the
heap is kept). Set GRADKIT_MALLOC_TUNING=0 in the environment to leave malloc alone.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

import numpy as np

if np.lib.NumpyVersion(np.__version__) >= "2.1.0":
    xp_numpy = np  # NumPy 2.1+ implements the standard itself: no wrapper on the hot path
else:  # pragma: no cover - older NumPy
    import array_api_compat.numpy as xp_numpy  # type: ignore[no-redef]  # one of the two

from .base import Array, Backend, Generator, Shape


def _keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse (see the module docstring); True if set."""
    if os.environ.get("GRADKIT_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))


MALLOC_TUNED = _keep_freed_memory()


class NumpyBackend(Backend):
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

    def randn(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        return self._rng(generator).standard_normal(shape, dtype=dtype_name)

    def rand(self, shape: Shape, dtype_name: str, generator: Generator | None = None) -> Array:
        return self._rng(generator).random(shape, dtype=dtype_name)

    def erf(self, x: Array) -> Array:
        """scipy.special.erf when SciPy is installed (one fast ufunc), else the generic one."""
        if self._scipy_erf is None:
            try:
                from scipy.special import erf
            except ImportError:
                erf = False
            self._scipy_erf = erf
        return np.asarray(self._scipy_erf(x)) if self._scipy_erf else super().erf(x)

    def sum(self, x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:
        # np.add.reduce is np.sum without its Python-level wrapper (a microsecond per call
        # on small arrays, which the training step's bias gradients are); floats only, so
        # integer sums keep np.sum's promotion.
        if x.dtype.kind == "f":
            # (NumPy's stubs take keepdims only as Literal[True] or Literal[False])
            return np.add.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]
        return np.sum(x, axis=axis, keepdims=keepdims)

    def setitem(self, array: Array, index: Any, value: Any) -> None:
        array[index] = value

    def scatter_add(self, shape: tuple[int, ...], index: Any, values: Array) -> Array:
        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, index, values)
        return out
