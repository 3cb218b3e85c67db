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
    """Scale all gradients together so that their global norm is at most ``max_norm``.

    Every gradient is multiplied, in place, by ``min(1, max_norm / (total_norm + 1e-6))``.
    Call it between ``loss.backward()`` and ``optimizer.step()``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        The parameters whose ``.grad`` to clip (those without a gradient are skipped).
    max_norm : float
        The largest allowed total norm.
    norm_type : float, default 2.0
        The p of the p-norm; ``float("inf")`` and ``-inf`` included.
    error_if_nonfinite : bool, default False
        Check the norm on the host (a synchronisation) and raise if it is nan or inf.

    Returns
    -------
    Tensor
        The total norm before clipping, a 0-d tensor on the gradients' device.

    Raises
    ------
    ValueError
        If ``max_norm`` is negative or NaN, or ``norm_type`` is NaN (PyTorch accepts these
        and produces flipped or NaN gradients).
    RuntimeError
        With ``error_if_nonfinite``, if the total norm is nan or inf.
    DeviceError
        If the gradients are on different devices.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.utils.clip_grad_norm_`. The total norm is
    PyTorch's: the p-norm of the vector of each gradient's p-norm (for p = 0, as in
    PyTorch, that counts the gradients with a nonzero element); empty gradients take no
    part. It is computed on the device and never read on the host, so clipping never
    synchronises a GPU. A gradient array that several parameters share is scaled once.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> p = nn.Parameter(gk.zeros(2))
    >>> p.grad = gk.tensor([3., 4.])
    >>> nn.utils.clip_grad_norm_([p], max_norm=1.0)
    tensor(5.)
    >>> [round(g, 4) for g in p.grad.tolist()]
    [0.6, 0.8]
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

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        The parameters whose ``.grad`` to clip (those without a gradient are skipped).
    clip_value : float
        The largest allowed absolute value.

    Raises
    ------
    ValueError
        If ``clip_value`` is negative or NaN (PyTorch accepts these and turns every
        gradient into that value).

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.utils.clip_grad_value_`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> p = nn.Parameter(gk.zeros(2))
    >>> p.grad = gk.tensor([3., -0.5])
    >>> nn.utils.clip_grad_value_([p], 1.0)
    >>> p.grad
    tensor([ 1. , -0.5])
    """
    clip_value = float(clip_value)
    if not 0.0 <= clip_value:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, not {clip_value}")
    for grad in _distinct(_grads(parameters)):
        xp = grad.backend.xp
        # maximum/minimum, not xp.clip: array-api-compat's clip for CuPy synchronises
        grad._write(xp.minimum(xp.maximum(grad.array, -clip_value), clip_value))
