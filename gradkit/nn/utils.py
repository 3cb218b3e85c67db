"""Gradient utilities (torch.nn.utils): clipping by global norm or by value."""

from __future__ import annotations

import math

from gradkit.autograd import no_grad
from gradkit.backends import DeviceError
from gradkit.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their global norm is at most `max_norm`.

    The norm is computed on the device, and every gradient is multiplied by
    min(1, max_norm / (norm + 1e-6)) without looking at the value on the host, so
    clipping never synchronises a GPU. Gradients are replaced (`p.grad = p.grad * s`),
    never modified in place, since gradient tensors may share memory. Returns the total
    norm (before clipping) as a 0-d tensor. `error_if_nonfinite=True` checks the norm on
    the host (a synchronisation) and raises if it is nan or inf.
    """
    params = _grads(parameters)
    if not params:
        from gradkit import creation

        return creation.zeros(())
    backend = params[0].grad.backend
    xp = backend.xp
    total = None
    for p in params:
        g = p.grad
        if g.backend is not backend:
            raise DeviceError(f"clip_grad_norm_: gradients are on different devices, "
                              f"{backend.device} and {g.backend.device}")
        a = xp.abs(g.array)
        if norm_type == math.inf:
            part = xp.max(a) if a.size else xp.zeros((), dtype=a.dtype,
                                                      device=backend.native_device)
            total = part if total is None else xp.maximum(total, part)
        else:
            part = xp.sum(a * a) if norm_type == 2 else xp.sum(a**norm_type)
            total = part if total is None else total + part
    if norm_type != math.inf:
        total = xp.sqrt(total) if norm_type == 2 else total ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.all(xp.isfinite(total))):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           "gradients is non-finite, so it cannot be clipped")
    scale = xp.clip(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        g = p.grad.array
        s = scale if g.dtype == scale.dtype else xp.astype(scale, g.dtype)
        p.grad = Tensor._make(g * s, backend)
    return Tensor._make(total, backend)


@no_grad()
def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] (out of place)."""
    for p in _grads(parameters):
        xp = p.grad.backend.xp
        p.grad = Tensor._make(xp.clip(p.grad.array, min=-clip_value, max=clip_value),
                              p.grad.backend)
