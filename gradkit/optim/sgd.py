"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gradkit.tensor import Tensor

from .optimizer import Optimizer, Params, _check_flags

if TYPE_CHECKING:
    from gradkit._typing import Array

__all__ = ["SGD", "sgd_update"]


def sgd_update(xp: Any, param: Array, grad: Array, buf: Array | None, lr: float, momentum: float,
               weight_decay: float, nesterov: bool, dampening: float = 0.0) -> Array | None:
    """PyTorch's SGD step on raw arrays of namespace `xp`, in place on `param` (and `buf`,
    the momentum buffer); the generic rule that a backend's fused kernel must agree with.

    Returns the momentum buffer: new on the first step (like PyTorch's, the undampened
    gradient), else `buf` itself. Written with in-place operators so that a step
    allocates as little as possible; `grad` is never modified (gradients may share memory).
    """
    if weight_decay:
        grad = grad + weight_decay * param
    if momentum:
        if buf is None:
            buf = xp.asarray(grad, copy=True)  # owned by the optimizer
        else:
            buf *= momentum
            buf += (1 - dampening) * grad if dampening else grad
        grad = grad + momentum * buf if nesterov else buf
    param -= lr * grad
    return buf


class SGD(Optimizer):
    """PyTorch's SGD. With g = grad + weight_decay * p:

        buf = g                                         (first step)
        buf = momentum * buf + (1 - dampening) * g      (later steps)
        p  -= lr * (g + momentum * buf if nesterov else buf)

    and simply p -= lr * g without momentum. State: "momentum_buffer" per parameter.

    `foreach` and `fused` choose an implementation in PyTorch, not the numbers: they are
    kept in the param groups, and the update is `sgd_update` or the backend's
    `fused_sgd_update` where it offers one (fused=False: never). differentiable=True is
    refused (the step runs in place, outside the graph).
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _check_hyperparameters(self, values):
        # PyTorch's checks, written so that NaN fails them too (`nan < 0` is False)
        lr, momentum, dampening = values["lr"], values["momentum"], values["dampening"]
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if math.isnan(dampening):
            raise ValueError(f"Invalid dampening value: {dampening}")
        if not 0.0 <= values["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {values['weight_decay']}")
        if values["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening "
                             f"(momentum={momentum}, dampening={dampening})")
        _check_flags(values)

    def _update(self, group, p, state):
        grad = p._grad.array
        if group["maximize"]:
            grad = -grad
        momentum = group["momentum"]
        buf = None
        if state is not None and state.get("momentum_buffer") is not None:
            buf = self._array(state["momentum_buffer"], p)
        args = (p.array, grad, buf, group["lr"], momentum, group["weight_decay"],
                group["nesterov"], group["dampening"])
        fused = p.backend.fused_sgd_update if group["fused"] is not False else None
        new_buf = fused(*args) if fused is not None else sgd_update(p.backend.xp, *args)
        if momentum and buf is None:
            self.state[p] = {"momentum_buffer": Tensor.wrap(new_buf, p.backend)}
