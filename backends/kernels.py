"""CUDA source of gradkit's fused kernels, kept apart from cupy_backend.py so that it can be
compile-checked (tests/test_kernels.py: CuPy's own generated source, compiled with NVRTC)
and simulated (tests/cupy_sim) on machines without a GPU.

Each kernel is a `Kernel`: the arguments of a cupy.ElementwiseKernel. Its generic version,
which the tests compare it with, is the optimizer's own rule (gradkit.optim.adam_update,
gradkit.optim.sgd_update); `adam_scalars` / `sgd_scalars` compute its scalar arguments
on the host exactly as that rule does.

Scalars are typed float64, not T: CuPy casts a scalar argument to its parameter's type on
the host (`CScalar.apply_dtype`, cupy/_core/_scalar.pyx), and for a float16 T that turns
eps = 1e-8 into 0 (defect 7). Inside, every kernel computes in `gradkit_acc<T>::type`:
double for double, float for float and float16 (loaded from and rounded back to half
only in memory), so float32 and float64 parameters get the generic rule's numbers (a
double scalar converted to T on the device rounds as NumPy's weak-scalar cast does).
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["ADAM", "KERNELS", "SGD", "SGD_MOMENTUM", "Kernel", "adam_scalars", "sgd_scalars"]


class Kernel(NamedTuple):
    """The arguments of cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble).

    Parameters
    ----------
    in_params, out_params : str
        The kernel's input and output parameter lists.
    operation : str
        The CUDA body, run per element.
    name : str
        The kernel's name.
    preamble : str, default ""
        CUDA code put before the kernel.

    Examples
    --------
    >>> from gradkit.backends.kernels import KERNELS
    >>> sorted(KERNELS)
    ['gradkit_adam', 'gradkit_sgd', 'gradkit_sgd_momentum']
    """

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str = ""


# The arithmetic type for elements of type T: half precision computes in float.
_ACC = """
template <typename X> struct gradkit_acc { typedef float type; };
template <> struct gradkit_acc<double> { typedef double type; };
"""

# Adam / AdamW, one pass, in the order of gradkit.optim.adam_update's operations:
# coupled weight decay (wd) adds to the gradient, decoupled decay multiplies the parameter
# by `decay`; lr_t = lr / (1 - beta1**step), bias2_sqrt = sqrt(1 - beta2**step).
ADAM = Kernel(
    "T grad, float64 lr_t, float64 beta1, float64 one_minus_beta1, float64 beta2, "
    "float64 one_minus_beta2, float64 eps, float64 bias2_sqrt, float64 wd, float64 decay",
    "T param, T m, T v",
    """
    typedef gradkit_acc<T>::type C;
    C g = (C)grad;
    if (wd != 0) g = g + (C)wd * (C)param;
    C p = (C)param * (C)decay;
    C m1 = (C)beta1 * (C)m + (C)one_minus_beta1 * g;
    C v1 = (C)beta2 * (C)v + (C)one_minus_beta2 * (g * g);
    C denom = sqrt(v1) / (C)bias2_sqrt + (C)eps;
    param = p - (C)lr_t * (m1 / denom);
    m = m1;
    v = v1;
    """,
    "gradkit_adam",
    _ACC,
)

# SGD without momentum: p -= lr * (grad + wd * p).
SGD = Kernel(
    "T grad, float64 lr, float64 wd",
    "T param",
    """
    typedef gradkit_acc<T>::type C;
    C g = (C)grad;
    if (wd != 0) g = g + (C)wd * (C)param;
    param = (C)param - (C)lr * g;
    """,
    "gradkit_sgd",
    _ACC,
)

# SGD with momentum: on the first step (`first`) the buffer becomes the undampened
# g = grad + wd * p (and `buf` is not read); later buf = momentum * buf + damp * g, with
# damp = 1 - dampening. Then p -= lr * (g + momentum * buf if nesterov else buf).
SGD_MOMENTUM = Kernel(
    "T grad, float64 lr, float64 momentum, float64 damp, float64 wd, bool nesterov, "
    "bool first",
    "T param, T buf",
    """
    typedef gradkit_acc<T>::type C;
    C g = (C)grad;
    if (wd != 0) g = g + (C)wd * (C)param;
    C b = first ? g : (C)momentum * (C)buf + (C)damp * g;
    buf = b;
    C d = nesterov ? g + (C)momentum * b : b;
    param = (C)param - (C)lr * d;
    """,
    "gradkit_sgd_momentum",
    _ACC,
)

KERNELS = {k.name: k for k in (ADAM, SGD, SGD_MOMENTUM)}


def adam_scalars(lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                 decoupled: bool, step: int) -> tuple[float, ...]:
    """ADAM's scalar arguments (lr_t ... decay), computed on the host as adam_update does.

    Parameters
    ----------
    lr, beta1, beta2, eps, weight_decay : float
        The optimizer's hyperparameters.
    decoupled : bool
        AdamW's decoupled weight decay.
    step : int
        The step number, from 1.

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> from gradkit.backends.kernels import adam_scalars
    >>> len(adam_scalars(0.1, 0.9, 0.999, 1e-8, 0.0, False, 1))
    9
    """
    bias1, bias2 = 1 - beta1**step, 1 - beta2**step
    wd = 0.0 if decoupled else weight_decay
    decay = 1 - lr * weight_decay if decoupled and weight_decay else 1.0
    return (float(lr / bias1), float(beta1), float(1 - beta1), float(beta2),
            float(1 - beta2), float(eps), math.sqrt(bias2), float(wd), float(decay))


def sgd_scalars(lr: float, momentum: float, weight_decay: float, nesterov: bool,
                dampening: float, first: bool) -> tuple[float | bool, ...]:
    """The scalar arguments of SGD_MOMENTUM (or, without momentum, of SGD).

    Parameters
    ----------
    lr, momentum, weight_decay : float
        The optimizer's hyperparameters.
    nesterov : bool
        Nesterov momentum.
    dampening : float
        Momentum dampening.
    first : bool
        Whether this is the first step (the buffer starts as the gradient).

    Returns
    -------
    tuple of float and bool

    Examples
    --------
    >>> from gradkit.backends.kernels import sgd_scalars
    >>> sgd_scalars(0.1, 0.0, 0.0, False, 0.0, True)
    (0.1, 0.0)
    """
    if not momentum:
        return float(lr), float(weight_decay)
    return (float(lr), float(momentum), float(1 - dampening), float(weight_decay),
            bool(nesterov), bool(first))
