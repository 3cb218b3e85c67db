"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import math

from gradkit.tensor import Tensor

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's SGD. With g = grad + weight_decay * p:

        buf = g                                         (first step)
        buf = momentum * buf + (1 - dampening) * g      (later steps)
        p  -= lr * (g + momentum * buf if nesterov else buf)

    and simply p -= lr * g without momentum. State: "momentum_buffer" per parameter.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

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

    def _update(self, group, p, state):
        grad = p._grad.array
        if group["maximize"]:
            grad = -grad
        momentum = group["momentum"]
        buf = None
        if state is not None and state.get("momentum_buffer") is not None:
            buf = self._array(state["momentum_buffer"], p)
        new_buf = p.backend.sgd_update(p.array, grad, buf, group["lr"], momentum,
                                       group["weight_decay"], group["nesterov"],
                                       group["dampening"])
        if momentum and buf is None:
            self.state[p] = {"momentum_buffer": Tensor._make(new_buf, p.backend)}
