"""Creating tensors: constants, ranges and random draws on any device."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backends as _backends
from . import debug as _debug
from . import dtypes as _dt
from .tensor import Tensor

if TYPE_CHECKING:
    from ._typing import Array, DeviceLike, DTypeLike, Scalar, Shape
    from .backends import Backend


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _finish(array: Array, backend: Backend, requires_grad: bool) -> Tensor:
    t = Tensor._make(array, backend)
    return t.requires_grad_(True) if requires_grad else t


def _dtype_name(dtype: DTypeLike | None, default: str = "float32") -> str:
    return _dt.dtype(dtype).name if dtype is not None else default


def full(shape: Shape, fill_value: Scalar,
         dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    if dtype is None:
        dtype = "bool" if isinstance(fill_value, bool) else (
            "int64" if isinstance(fill_value, int) else "float32")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    array = b.xp.full(shape, fill_value, dtype=b.dtypes[_dtype_name(dtype)],
                      device=b.native_device)
    return _finish(array, b, requires_grad)


def zeros(*shape: int | Sequence[int],
          dtype: DTypeLike | None = None,
          device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.zeros(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def ones(*shape: int | Sequence[int],
         dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.ones(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def zeros_like(x: Tensor,
               dtype: DTypeLike | None = None,
               device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def ones_like(x: Tensor,
              dtype: DTypeLike | None = None,
              device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def empty(*shape: int | Sequence[int],
          dtype: DTypeLike | None = None,
          device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` whose values are unspecified (here: zeros), as torch.empty."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x: Tensor,
               dtype: DTypeLike | None = None,
               device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: Scalar,
              dtype: DTypeLike | None = None,
              device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1,
           dtype: DTypeLike | None = None,
           device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step) if v is not None)
        dtype = "int64" if ints else "float32"
    array = b.xp.arange(start, stop, step, dtype=b.dtypes[_dtype_name(dtype)],
                        device=b.native_device)
    return _finish(array, b, requires_grad)


def linspace(start: float, stop: float, num: int,
             dtype: DTypeLike | None = None,
             device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.linspace(start, stop, num, dtype=b.dtypes[_dtype_name(dtype)],
                          device=b.native_device)
    return _finish(array, b, requires_grad)


def eye(n: int, m: int | None = None,
        dtype: DTypeLike | None = None,
        device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.eye(n, m, dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


# ---- random draws: from the device's default generator or from generator= ------------
def randn(*shape: int | Sequence[int], generator: Generator | None = None,
          dtype: DTypeLike | None = None,
          device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal draws from the device's seeded generator (see manual_seed)."""
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"randn makes floating-point tensors, not {dtype}")
    return _finish(b.randn(_shape(shape), dtype, generator), b, requires_grad)


def rand(*shape: int | Sequence[int], generator: Generator | None = None,
         dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform draws in [0, 1) from the device's seeded generator."""
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"rand makes floating-point tensors, not {dtype}")
    return _finish(b.rand(_shape(shape), dtype, generator), b, requires_grad)


def randint(low: int = 0, high: int | Sequence[int] | None = None,
            size: Sequence[int] | None = None, *, generator: Generator | None = None,
            dtype: DTypeLike | None = None, device: DeviceLike = None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high), int64 by default: torch's randint(high, size) and
    randint(low, high, size), size a tuple."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high  # type: ignore[assignment]  # (torch's two signatures)
    elif high is None:  # randint(high, size=size)
        low, high = 0, low
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, not {size!r}")
    low, high = operator.index(low), operator.index(high)  # type: ignore[arg-type]
    if low >= high:
        raise ValueError(f"randint: low={low} must be less than high={high}")
    dtype = _dt.dtype(dtype) if dtype is not None else _dt.int64
    if dtype.kind in "iu" and not (np.iinfo(dtype.name).min <= low
                                   and high - 1 <= np.iinfo(dtype.name).max):
        raise ValueError(f"randint: [{low}, {high}) is outside the range of {dtype.name}")
    b = _backends.get_backend(device)
    return _finish(b.randint(low, high, _shape(size), dtype.name, generator), b, requires_grad)


def randperm(n: int, *, generator: Generator | None = None,
             device: DeviceLike = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    b = _backends.get_backend(device)
    return Tensor._make(b.permutation(n, generator), b)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """torch.multinomial: `num_samples` category indices per row of `input` (1-D, or 2-D
    with one distribution per row), drawn with probability proportional to the weights,
    which need not sum to 1. int64, on input's device, drawn there.

    Without replacement a row's indices are distinct and come in the order drawn. Weights
    that make no distribution raise ValueError: always on the CPU, on other devices in
    debug mode (checking reads them on the host). Without debug mode such a row gets the
    out-of-range index input.size(-1) there, never a plausible sample. Unlike torch's,
    drawing more samples without replacement than a row has nonzero weights is such an
    error, not a draw of zero-weight categories.
    """
    n = operator.index(num_samples)
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, not of shape {input.shape}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"multinomial: input must be floating point, not {input.dtype}")
    k = input.shape[-1]
    if n <= 0:
        raise ValueError(f"multinomial: num_samples={n} must be positive")
    if not replacement and n > k:
        raise ValueError(f"multinomial: cannot draw num_samples={n} without replacement "
                         f"from {k} categories")
    b = input.backend
    if _debug.checks_bounds(b):
        _check_weights(b.to_numpy(input.array), n, replacement)
    return Tensor._make(b.multinomial(input.array, n, bool(replacement), generator), b)


def _check_weights(w: np.ndarray, n: int, replacement: bool) -> None:
    """Raise ValueError, naming the first bad row, unless every row of the host weights
    `w` is a distribution to draw n samples from."""
    rows = w.reshape(-1, w.shape[-1])
    nonzero = np.count_nonzero(rows, axis=-1)
    with np.errstate(all="ignore"):  # the sum may overflow: that is one of the checks
        total = rows.sum(-1)
    checks = [((~np.isfinite(rows) | (rows < 0)).any(-1), "has a weight that is inf, nan or < 0"),
              (nonzero == 0, "sums to 0"),
              (~np.isfinite(total), "sums to inf"),
              (nonzero < (1 if replacement else n),
               f"has {{}} nonzero weights, fewer than num_samples={n} without replacement")]
    for bad, reason in checks:
        if bad.any():
            i = int(np.argmax(bad))
            where = f"row {i} of input" if w.ndim == 2 else "input"
            raise ValueError(f"multinomial: invalid distribution: {where} "
                             + reason.format(nonzero[i]))


def manual_seed(seed: int) -> Generator:
    """Seed the default generator of every device, so runs repeat exactly; returns the CPU's
    (gk.default_generator), as torch's does."""
    _backends.seed_all(_backends.check_seed(seed))
    return default_generator


def seed() -> int:
    """Seed every device's default generator with one fresh number from the OS; return it."""
    s = default_generator.seed()
    _backends.seed_all(s)
    return s


def initial_seed() -> int:
    """The seed of the default CPU generator."""
    return default_generator.initial_seed()


Generator = _backends.Generator
default_generator = _backends.get_backend("cpu").default_generator
