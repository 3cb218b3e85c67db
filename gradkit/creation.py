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
    """A tensor of `shape` filled with `fill_value` (torch.full).

    Parameters
    ----------
    shape : int or sequence of int
        The shape.
    fill_value : scalar
        The value of every element.
    dtype : DType or str, optional
        By default bool for a bool, int64 for an int, float32 for a float (PyTorch's).
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.full((2, 2), 7.0)
    tensor([[7., 7.],
            [7., 7.]])
    >>> gk.full(3, 1)
    tensor([1, 1, 1])
    """
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
    """A tensor of zeros (torch.zeros): ``gk.zeros(2, 3)`` or ``gk.zeros((2, 3))``.

    Parameters
    ----------
    *shape : int or sequence of int
        The sizes, as separate ints or one tuple or list.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.zeros(2, 3)
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    >>> gk.zeros((2,), dtype=gk.int64)
    tensor([0, 0])
    """
    b = _backends.get_backend(device)
    array = b.xp.zeros(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def ones(*shape: int | Sequence[int],
         dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (torch.ones): ``gk.ones(2, 3)`` or ``gk.ones((2, 3))``.

    Parameters
    ----------
    *shape : int or sequence of int
        The sizes, as separate ints or one tuple or list.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.ones(2)
    tensor([1., 1.])
    >>> gk.ones((2, 1), requires_grad=True)
    tensor([[1.],
            [1.]], requires_grad=True)
    """
    b = _backends.get_backend(device)
    array = b.xp.ones(_shape(shape), dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


def zeros_like(x: Tensor,
               dtype: DTypeLike | None = None,
               device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Zeros of `x`'s shape, dtype and device (torch.zeros_like).

    Parameters
    ----------
    x : Tensor
        The tensor whose shape to take.
    dtype : DType or str, optional
        The dtype; by default `x`'s.
    device : str or Backend, optional
        The device; by default `x`'s.
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.zeros_like(gk.tensor([[1, 2], [3, 4]]))
    tensor([[0, 0],
            [0, 0]])
    """
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def ones_like(x: Tensor,
              dtype: DTypeLike | None = None,
              device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Ones of `x`'s shape, dtype and device (torch.ones_like).

    Parameters
    ----------
    x : Tensor
        The tensor whose shape to take.
    dtype : DType or str, optional
        The dtype; by default `x`'s.
    device : str or Backend, optional
        The device; by default `x`'s.
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.ones_like(gk.zeros(2, dtype=gk.float64))
    tensor([1., 1.], dtype=float64)
    """
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def empty(*shape: int | Sequence[int],
          dtype: DTypeLike | None = None,
          device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are unspecified; here zeros (torch.empty).

    Parameters
    ----------
    *shape : int or sequence of int
        The sizes, as separate ints or one tuple or list.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Notes
    -----
    Differences: PyTorch leaves the memory uninitialised; gradkit fills it with zeros,
    so no code can come to depend on garbage values.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.empty(2, 3).shape
    (2, 3)
    """
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x: Tensor,
               dtype: DTypeLike | None = None,
               device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """An unspecified tensor (here zeros) of `x`'s shape, dtype and device (torch.empty_like).

    Parameters
    ----------
    x : Tensor
        The tensor whose shape to take.
    dtype : DType or str, optional
        The dtype; by default `x`'s.
    device : str or Backend, optional
        The device; by default `x`'s.
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.empty_like(gk.tensor([1, 2, 3])).shape
    (3,)
    """
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: Scalar,
              dtype: DTypeLike | None = None,
              device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """`fill_value` in `x`'s shape, dtype and device (torch.full_like).

    Parameters
    ----------
    x : Tensor
        The tensor whose shape to take.
    fill_value : scalar
        The value of every element.
    dtype : DType or str, optional
        The dtype; by default `x`'s.
    device : str or Backend, optional
        The device; by default `x`'s.
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.full_like(gk.zeros(3), 0.5)
    tensor([0.5, 0.5, 0.5])
    """
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1,
           dtype: DTypeLike | None = None,
           device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop) (torch.arange): ``arange(5)``, ``arange(1, 4)``.

    Parameters
    ----------
    start : int or float
        The first value; with `stop` omitted, the end (and the start is 0).
    stop : int or float, optional
        The end, excluded.
    step : int or float, default 1
        The spacing.
    dtype : DType or str, optional
        int64 when every given bound is an int, else float32 (PyTorch's).
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor
        1-D.

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> gk.arange(0, 1, 0.25)
    tensor([0.  , 0.25, 0.5 , 0.75])
    """
    b = _backends.get_backend(device)
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step) if v is not None)
        dtype = "int64" if ints else "float32"
    array = b.xp.arange(start, stop, step, dtype=b.dtypes[_dtype_name(dtype)],
                        device=b.native_device)
    return _finish(array, b, requires_grad)


def linspace(start: float, end: float, steps: int,
             dtype: DTypeLike | None = None,
             device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included (torch.linspace).

    Parameters
    ----------
    start, end : float
        The first and last values.
    steps : int
        How many values.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor
        1-D, of `steps` elements.

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.linspace(0, 1, 5)
    tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    b = _backends.get_backend(device)
    array = b.xp.linspace(start, end, steps, dtype=b.dtypes[_dtype_name(dtype)],
                          device=b.native_device)
    return _finish(array, b, requires_grad)


def eye(n: int, m: int | None = None,
        dtype: DTypeLike | None = None,
        device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A matrix with ones on the diagonal and zeros elsewhere (torch.eye).

    Parameters
    ----------
    n : int
        The number of rows.
    m : int, optional
        The number of columns; `n` by default.
    dtype : DType or str, optional
        The dtype; float32 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor
        Of shape (n, m).

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    b = _backends.get_backend(device)
    array = b.xp.eye(n, m, dtype=b.dtypes[_dtype_name(dtype)], device=b.native_device)
    return _finish(array, b, requires_grad)


# ---- random draws: from the device's default generator or from generator= ------------
def randn(*shape: int | Sequence[int], generator: Generator | None = None,
          dtype: DTypeLike | None = None,
          device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Draws from the standard normal distribution (torch.randn).

    From the device's default generator (seeded by :func:`manual_seed`) or `generator`.

    Parameters
    ----------
    *shape : int or sequence of int
        The sizes, as separate ints or one tuple or list.
    generator : Generator, optional
        Draw from this Generator (on the same device) instead of the device's default.
    dtype : DType or str, optional
        float32 (the default) or float64.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        If `dtype` is not floating point, or `generator` is no Generator.
    DeviceError
        If `device` is unavailable, or `generator` is on another device.

    Notes
    -----
    Differences: the numbers are not torch's for the same seed, nor equal across
    devices; the same seed repeats them on the same device.

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> w = gk.randn(2, 3, requires_grad=True)
    >>> w.shape, w.dtype
    ((2, 3), gradkit.float32)
    """
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"randn makes floating-point tensors, not {dtype}")
    return _finish(b.randn(_shape(shape), dtype, generator), b, requires_grad)


def rand(*shape: int | Sequence[int], generator: Generator | None = None,
         dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Draws from the uniform distribution on [0, 1) (torch.rand).

    From the device's default generator (seeded by :func:`manual_seed`) or `generator`.

    Parameters
    ----------
    *shape : int or sequence of int
        The sizes, as separate ints or one tuple or list.
    generator : Generator, optional
        Draw from this Generator (on the same device) instead of the device's default.
    dtype : DType or str, optional
        float32 (the default) or float64.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Whether backward should compute a gradient for the new tensor.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        If `dtype` is not floating point, or `generator` is no Generator.
    DeviceError
        If `device` is unavailable, or `generator` is on another device.

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> u = gk.rand(1000)
    >>> bool(((u >= 0) & (u < 1)).all())
    True
    """
    b = _backends.get_backend(device)
    dtype = _dtype_name(dtype)
    if dtype not in ("float32", "float64"):
        raise TypeError(f"rand makes floating-point tensors, not {dtype}")
    return _finish(b.rand(_shape(shape), dtype, generator), b, requires_grad)


def randint(low: int = 0, high: int | Sequence[int] | None = None,
            size: Sequence[int] | None = None, *, generator: Generator | None = None,
            dtype: DTypeLike | None = None, device: DeviceLike = None,
            requires_grad: bool = False) -> Tensor:
    """Random integers uniform in [low, high) (torch.randint).

    Both of torch's signatures: ``randint(high, size)`` and ``randint(low, high, size)``.

    Parameters
    ----------
    low : int, default 0
        The smallest value (or `high`, with two positional arguments).
    high : int
        One above the largest value.
    size : tuple of int
        The shape.
    generator : Generator, optional
        Draw from this Generator (on the same device) instead of the device's default.
    dtype : DType or str, optional
        int64 by default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".
    requires_grad : bool, default False
        Only floating dtypes can require grad.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        If `size` is not a tuple or list.
    ValueError
        If `low` >= `high`, or the range does not fit `dtype`.

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> gk.randint(10, (2, 3)).shape
    (2, 3)
    >>> bool((gk.randint(5, 8, (100,)) >= 5).all())
    True
    """
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
    """A random permutation of 0, ..., n-1, int64 (torch.randperm).

    Parameters
    ----------
    n : int
        The number of elements.
    generator : Generator, optional
        Draw from this Generator (on the same device) instead of the device's default.
    device : str or Backend, optional
        "cpu" (the default), "cuda", "cuda:N" or "strict".

    Returns
    -------
    Tensor
        1-D, int64.

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> sorted(gk.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    b = _backends.get_backend(device)
    return Tensor._make(b.permutation(n, generator), b)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Category indices drawn with probability proportional to weights (torch.multinomial).

    `num_samples` indices per row of `input` (1-D, or 2-D with one distribution per
    row); the weights need not sum to 1. Without replacement a row's indices are
    distinct and come in the order drawn.

    Parameters
    ----------
    input : Tensor
        Non-negative floating-point weights, 1-D or 2-D.
    num_samples : int
        How many indices to draw per row.
    replacement : bool, default False
        Whether an index may be drawn more than once.
    generator : Generator, optional
        Draw from this Generator (on input's device) instead of the device's default.

    Returns
    -------
    Tensor
        Of dtype int64, on input's device (drawn there), of shape
        ``input.shape[:-1] + (num_samples,)``.

    Raises
    ------
    ValueError
        If `input` is not 1-D or 2-D, `num_samples` is not positive or exceeds the
        categories without replacement, or the weights make no distribution (checked
        always on the CPU, elsewhere in debug mode).
    TypeError
        If `input` is not floating point.

    Notes
    -----
    Differences: weights that make no distribution raise ValueError on the CPU and, on
    other devices, in debug mode (checking reads them on the host). Without debug mode
    such a row gets the out-of-range index ``input.size(-1)`` there, never a plausible
    sample. Unlike torch's, drawing more samples without replacement than a row has
    nonzero weights is such an error, not a draw of zero-weight categories.

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> gk.multinomial(gk.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
    tensor([1, 1])
    >>> gk.multinomial(gk.tensor([[1.0, 1.0], [0.0, 3.0]]), 1).shape
    (2, 1)
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
    """Seed the default generator of every device, so runs repeat exactly (torch.manual_seed).

    Devices first used later are seeded with it too.

    Parameters
    ----------
    seed : int
        Any int in [-2**63, 2**64); negatives are taken mod 2**64, as in torch.

    Returns
    -------
    Generator
        The CPU's default generator (``gk.default_generator``), as torch's does.

    Raises
    ------
    TypeError
        If `seed` is not an int.
    ValueError
        If `seed` is outside [-2**63, 2**64).

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(0)
    >>> a = gk.randn(3)
    >>> _ = gk.manual_seed(0)
    >>> bool((gk.randn(3) == a).all())
    True
    """
    _backends.seed_all(_backends.check_seed(seed))
    return default_generator


def seed() -> int:
    """Seed every device's default generator with a fresh number from the OS (torch.seed).

    Returns
    -------
    int
        The seed used, which :func:`manual_seed` repeats.

    Examples
    --------
    >>> import gradkit as gk
    >>> s = gk.seed()
    >>> gk.initial_seed() == s
    True
    """
    s = default_generator.seed()
    _backends.seed_all(s)
    return s


def initial_seed() -> int:
    """The seed of the default CPU generator (torch.initial_seed).

    Returns
    -------
    int

    Examples
    --------
    >>> import gradkit as gk
    >>> _ = gk.manual_seed(42)
    >>> gk.initial_seed()
    42
    """
    return default_generator.initial_seed()


Generator = _backends.Generator
default_generator = _backends.get_backend("cpu").default_generator
"""The CPU's default Generator, which draws use without `generator=` (torch.default_generator).

:func:`manual_seed` seeds it (and the other devices' default generators).
"""
