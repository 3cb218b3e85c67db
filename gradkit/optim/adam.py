"""Adam and AdamW (decoupled weight decay), with PyTorch's exact update rules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .optimizer import Optimizer, Params, _check_flags

if TYPE_CHECKING:
    from gradkit._typing import Array

__all__ = ["Adam", "AdamW", "adam_update"]


def adam_update(xp: Any, param: Array, grad: Array, m: Array, v: Array, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                step: int, max_v: Array | None = None) -> None:
    """PyTorch's Adam (decoupled=False) or AdamW (decoupled=True) step on raw arrays of
    namespace `xp`, in place on `param`, `m`, `v` (and `max_v`, the running maximum of v
    with amsgrad); the generic rule that a backend's fused kernel must agree with.
    `step` is the step number, from 1; `grad` is never modified."""
    if weight_decay:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * (grad * grad)
    if max_v is not None:
        max_v[...] = xp.maximum(max_v, v)
    bias1 = 1 - beta1**step
    bias2 = 1 - beta2**step
    denom = xp.sqrt(v if max_v is None else max_v)
    denom /= math.sqrt(bias2)
    denom += eps
    param -= (lr / bias1) * (m / denom)


class Adam(Optimizer):
    """PyTorch's Adam. At step t, with g = grad (+ weight_decay * p for Adam; AdamW, or
    decoupled_weight_decay=True, instead first decays p *= 1 - lr * weight_decay):

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                         (amsgrad; v_max replaces v below)
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: "step" (a host int: the bias corrections are computed on the
    host without reading the device), "exp_avg" (m), "exp_avg_sq" (v) and, with amsgrad,
    "max_exp_avg_sq".

    `foreach`, `fused` and `capturable` choose an implementation in PyTorch, not the
    numbers: they are kept in the param groups, and the update is `adam_update` or the
    backend's `fused_adam_update` where it offers one (the CuPy backend: one CUDA kernel;
    not with amsgrad; fused=False: never). differentiable=True is refused (the step runs
    in place, outside the graph).
    """

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_hyperparameters(self, values):
        # PyTorch's checks, written so that NaN fails them too (`nan < 0` is False)
        betas = values["betas"]
        if not 0.0 <= values["lr"]:
            raise ValueError(f"Invalid learning rate: {values['lr']}")
        if not 0.0 <= values["eps"]:
            raise ValueError(f"Invalid epsilon value: {values['eps']}")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), not {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if not 0.0 <= values["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {values['weight_decay']}")
        _check_flags(values)

    def _update(self, group, p, state):
        if state is None:
            state = self.state[p] = {"step": 0, "exp_avg": self._zeros_state(p),
                                     "exp_avg_sq": self._zeros_state(p)}
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = self._zeros_state(p)
        state["step"] += 1
        grad = -p._grad.array if group["maximize"] else p._grad.array
        beta1, beta2 = group["betas"]
        args = (p.array, grad, self._array(state["exp_avg"], p),
                self._array(state["exp_avg_sq"], p), group["lr"], beta1, beta2, group["eps"],
                group["weight_decay"], group["decoupled_weight_decay"], state["step"])
        fused = p.backend.fused_adam_update if group["fused"] is not False else None
        if group["amsgrad"]:
            adam_update(p.backend.xp, *args, max_v=self._array(state["max_exp_avg_sq"], p))
        elif fused is not None:
            fused(*args)
        else:
            adam_update(p.backend.xp, *args)


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the step);
    weight_decay defaults to 1e-2, as PyTorch's (which is Adam with
    decoupled_weight_decay=True, kept True when a state dict is loaded)."""

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
