"""Creating tensors: constants, ranges and random draws on any device."""

from __future__ import annotations

from . import backends as _backends
from . import dtypes as _dt
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _finish(array, backend, requires_grad):
    t = Tensor._make(array, backend)
    return t.requires_grad_(True) if requires_grad else t


def _dtype_name(dtype, default="float32"):
    return _dt.dtype(dtype).name if dtype is not None else default


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    if dtype is None:
        dtype = "bool" if isinstance(fill_value, bool) else (
            "int64" if isinstance(fill_value, int) else "float32")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    array = b.xp.full(shape, fill_value, dtype=b.dtypes[_dtype_name(dtype)],
                      device=b.native_device)
    return _finish(array, b, requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.zeros(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.ones(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of `shape` whose values are unspecified (here: zeros), as torch.empty."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step) if v is not None)
        dtype = "int64" if ints else "float32"
    array = b.xp.arange(start, stop, step, dtype=b.dtypes[_dtype_name(dtype)],
                        device=b.native_device)
    return _finish(array, b, requires_grad)


def linspace(start, stop, num, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.linspace(start, stop, num, dtype=b.dtypes[_dtype_name(dtype)],
                          device=b.native_device)
    return _finish(array, b, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    b = _backends.get_backend(device)
    array = b.xp.eye(n, m, dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal draws from the device's seeded generator (see manual_seed)."""
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"randn makes floating-point tensors, not {dtype}")
    return _finish(b.randn(_shape(shape), dtype), b, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform draws in [0, 1) from the device's seeded generator."""
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"rand makes floating-point tensors, not {dtype}")
    return _finish(b.rand(_shape(shape), dtype), b, requires_grad)


def randperm(n, device=None) -> Tensor:
    b = _backends.get_backend(device)
    return Tensor._make(b.permutation(n), b)


def manual_seed(seed: int) -> None:
    """Seed the random generator of every device, so runs repeat exactly."""
    _backends.seed_all(int(seed))
