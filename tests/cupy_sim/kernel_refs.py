"""NumPy references for the bodies of gradkit's CUDA kernels (backends/kernels.py), which
the simulated ElementwiseKernel (_kernel.py) runs in place of the CUDA.

Each mimics its body's arithmetic in the body's types: C = gradkit_acc<T>::type is
float64 for float64 elements and float32 for float32 and float16 ones (converted on load,
rounded to the element type on store, as the CUDA does). Scalars arrive as float64 /
bool NumPy scalars (their parameters' types) and are converted to C as the body's `(C)`
casts do. One difference remains: the GPU may contract a * b + c into a fused
multiply-add (NVRTC's default), one rounding fewer than NumPy, so the simulator's numbers
can differ from a GPU's in the last bit.

Each is registered with the `signature` of the source it mimics: when a kernel's source
changes, the simulator refuses it until this file is reviewed and the new signature
(shown in its error) entered.
"""

from __future__ import annotations

import numpy as np

from ._kernel import register


def _acc(dtype):
    return np.float64 if dtype == np.float64 else np.float32


@register("gradkit_adam", "53293baf39d5b9be")
def adam(grad, lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, bias2_sqrt, wd,
         decay, param, m, v):
    C = _acc(param.dtype)
    g = grad.astype(C)
    if wd != 0:
        g = g + C(wd) * param.astype(C)
    p = param.astype(C) * C(decay)
    m1 = C(beta1) * m.astype(C) + C(one_minus_beta1) * g
    v1 = C(beta2) * v.astype(C) + C(one_minus_beta2) * (g * g)
    denom = np.sqrt(v1) / C(bias2_sqrt) + C(eps)
    param[...] = p - C(lr_t) * (m1 / denom)
    m[...] = m1
    v[...] = v1


@register("gradkit_sgd", "412e191389b34577")
def sgd(grad, lr, wd, param):
    C = _acc(param.dtype)
    g = grad.astype(C)
    if wd != 0:
        g = g + C(wd) * param.astype(C)
    param[...] = param.astype(C) - C(lr) * g


@register("gradkit_sgd_momentum", "d946f25c18dac3a4")
def sgd_momentum(grad, lr, momentum, damp, wd, nesterov, first, param, buf):
    C = _acc(param.dtype)
    g = grad.astype(C)
    if wd != 0:
        g = g + C(wd) * param.astype(C)
    b = g if first else C(momentum) * buf.astype(C) + C(damp) * g  # buf unread when first
    buf[...] = b
    d = g + C(momentum) * b if nesterov else b
    param[...] = param.astype(C) - C(lr) * d
