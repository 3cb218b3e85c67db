"""gradkit: reverse-mode autograd over n-dimensional arrays, on NumPy (CPU) or CuPy (CUDA).

PyTorch's names and semantics: ``import gradkit as gk`` and use ``gk.tensor``,
``gk.zeros``, ``gk.randn``, ``gk.no_grad``, ``gk.grad``, ``gk.nn``, ``gk.optim``, ...

Examples
--------
>>> import gradkit as gk
>>> x = gk.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from .autograd import (
    Function,
    GradkitError,
    ShapeError,
    enable_grad,
    grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .backends import DeviceError, availability, get_backend
from .creation import (
    Generator,
    arange,
    default_generator,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    initial_seed,
    linspace,
    manual_seed,
    multinomial,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    seed,
    zeros,
    zeros_like,
)
from .debug import is_debug, set_debug
from .dtypes import (
    DType,
    bool_,
    can_cast,
    dtype,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    uint8,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .jit import CompileError, compile
from .ops import FUNCTIONS as _OPS
from .tensor import Tensor, tensor  # noqa: I001  (first: the rest builds on it)

globals().update(_OPS)  # every op: gk.sum, gk.cat, gk.tril, ... (gradkit/ops/, one table)
if TYPE_CHECKING:  # the same names for type checkers (tests/test_typing.py keeps them in step)
    from .backends.base import DeviceLike
    from .ops import (  # noqa: F401  (gk.<op>: what globals().update(_OPS) adds)
        abs,
        absolute,
        add,
        all,
        allclose,
        amax,
        amin,
        any,
        argmax,
        argmin,
        argsort,
        bmm,
        broadcast_to,
        cat,
        chunk,
        clamp,
        clip,
        clone,
        concat,
        concatenate,
        contiguous,
        cos,
        div,
        divide,
        eq,
        equal,
        erf,
        exp,
        expand,
        expand_dims,
        flatten,
        floor_divide,
        gather,
        ge,
        gt,
        histc,
        histogram,
        isfinite,
        isinf,
        isnan,
        le,
        linear,
        log,
        log1p,
        log2,
        log10,
        log_softmax,
        logical_and,
        logical_not,
        logical_or,
        logsumexp,
        lt,
        masked_fill,
        matmul,
        matrix_transpose,
        max,
        maximum,
        mean,
        min,
        minimum,
        mm,
        mul,
        multiply,
        ne,
        neg,
        negative,
        permute,
        permute_dims,
        pow,
        prod,
        relu,
        remainder,
        repeat,
        reshape,
        rsqrt,
        sigmoid,
        sin,
        sort,
        split,
        sqrt,
        square,
        squeeze,
        stack,
        std,
        sub,
        subtract,
        sum,
        swapaxes,
        swapdims,
        t,
        tan,
        tanh,
        topk,
        transpose,
        tril,
        triu,
        true_divide,
        unbind,
        unsqueeze,
        var,
        where,
    )
    from .ops.softmax import softmax  # (the function, not the module gradkit.ops.softmax)

# PyTorch's dtype names (gk.bool, gk.float, ... as in `import gradkit as torch`)
bool = bool_  # noqa: A001
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001
__version__ = "0.1.0"


def is_available(device: DeviceLike) -> builtins.bool:  # (gk.bool is a dtype)
    """Whether a device spec ("cuda", "cuda:1", "strict", ...) can be used here.

    Parameters
    ----------
    device : str or Backend
        The device spec.

    Returns
    -------
    bool
        False (never an error) for an unknown or unavailable device.

    Notes
    -----
    gradkit-only; for CUDA, :func:`gradkit.cuda.is_available` is PyTorch's spelling.
    :func:`gradkit.availability` says why a backend is unavailable.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.is_available("cpu"), gk.is_available("strict"), gk.is_available("tpu")
    (True, True, False)
    """
    try:
        get_backend(device)
    except DeviceError:
        return False
    return True


def synchronize(device: DeviceLike = None) -> None:
    """Wait until queued work on `device` is done; a no-op on the CPU.

    Parameters
    ----------
    device : str or Backend, optional
        The device, the CPU by default.

    Raises
    ------
    DeviceError
        If `device` is unknown or unavailable here.

    Notes
    -----
    Like :func:`torch.cuda.synchronize`, for any device.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.synchronize("cpu")
    """
    get_backend(device).synchronize()


# The layers above the core (each builds on everything imported before it).
from . import cuda, datasets, diagnostics, distributed, nn, optim, viz  # noqa: E402
from .data import DataLoader  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import as_tensor, from_dlpack, from_numpy  # noqa: E402  (views of memory)
