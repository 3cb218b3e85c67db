"""Gradient utilities (torch.nn.utils): clipping by global norm or by value."""

from __future__ import annotations

import math
from collections.abc import Iterable

from gradkit.autograd import no_grad
from gradkit.backends import DeviceError
from gradkit.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _vector_norm(xp, a, p: float):
    """torch.linalg.vector_norm(a, p) of a non-empty array, computed on its device."""
    a = xp.abs(a)
    if p == math.inf:
        return xp.max(a)
    if p == -math.inf:
        return xp.min(a)
    if p == 0:  # the number of nonzero elements
        return xp.sum(xp.astype(a != 0, a.dtype))
    if p == 1:
        return xp.sum(a)
    if p == 2:
        return xp.sqrt(xp.sum(a * a))
    if p < 0:  # |0|**p is inf, so the norm is 0 (written so that NumPy does not warn)
        nonzero = a != 0
        return xp.where(xp.all(nonzero), xp.sum(xp.where(nonzero, a, 1.0) ** p) ** (1.0 / p),
                        0.0)
    return xp.sum(a**p) ** (1.0 / p)


@no_grad()
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their global norm is at most `max_norm`.

    The total norm is PyTorch's: the p-norm of the vector of each gradient's p-norm, for
    any p, inf and -inf included (for p = 0, as in PyTorch, that counts the gradients
    with a nonzero element). Empty gradients take no part. It is computed on the device,
    and every gradient is multiplied by min(1, max_norm / (norm + 1e-6)) without looking
    at the value on the host, so clipping never synchronises a GPU. Gradients are
    scaled in place, as PyTorch's (their version counters move); a gradient array that
    several parameters share is scaled once. Returns the total norm (before clipping)
    as a 0-d tensor.
    `error_if_nonfinite=True` checks the norm on the host (a synchronisation) and raises
    if it is nan or inf. A negative or NaN `max_norm` or a NaN `norm_type`, which
    PyTorch accepts and turns into flipped or NaN gradients, raise ValueError.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not 0.0 <= max_norm:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, not {max_norm}")
    if math.isnan(norm_type):
        raise ValueError("clip_grad_norm_: norm_type is nan")
    params = _grads(parameters)
    if not params:
        from gradkit import creation

        return creation.zeros(())
    backend = params[0].grad.backend
    xp = backend.xp
    for p in params:
        if p.grad.backend is not backend:
            raise DeviceError(f"clip_grad_norm_: gradients are on different devices, "
                              f"{backend.device} and {p.grad.backend.device}")
    with backend.scope:  # the gradients' GPU current (several GPUs)
        norms = [_vector_norm(xp, p.grad.array, norm_type) for p in params if p.grad.array.size]
        if not norms:
            total = xp.zeros((), dtype=params[0].grad.array.dtype, device=backend.native_device)
        else:
            dtype = xp.result_type(*norms)
            total = _vector_norm(xp, xp.stack([xp.astype(n, dtype) for n in norms]), norm_type)
        if error_if_nonfinite and not bool(xp.all(xp.isfinite(total))):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                               "gradients is non-finite, so it cannot be clipped")
        # minimum, not xp.clip: array-api-compat's clip for CuPy uses boolean masks (a sync)
        scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for grad in _distinct(params):
            g = grad.array  # scaled in place, no copy: then counted as a write
            g *= scale if g.dtype == scale.dtype else xp.astype(scale, g.dtype)
            grad._bump_version()
        return Tensor.wrap(total, backend)


def _distinct(params):
    """The gradients of `params`, each storage once (so none is scaled twice)."""
    seen = set()
    for p in params:
        if id(p.grad.array) not in seen:
            seen.add(id(p.grad.array))
            yield p.grad


@no_grad()
def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    A negative or NaN `clip_value`, which PyTorch accepts and turns every gradient
    into that value, raises ValueError."""
    clip_value = float(clip_value)
    if not 0.0 <= clip_value:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, not {clip_value}")
    for grad in _distinct(_grads(parameters)):
        xp = grad.backend.xp
        # maximum/minimum, not xp.clip: array-api-compat's clip for CuPy synchronises
        grad._write(xp.minimum(xp.maximum(grad.array, -clip_value), clip_value))
