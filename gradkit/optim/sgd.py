"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

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
        if lr < 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, group, p, state):
        grad = p.grad.array
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
