"""Adam and AdamW (decoupled weight decay), with PyTorch's exact update rules."""

from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """PyTorch's Adam. At step t, with g = grad (+ weight_decay * p for Adam; AdamW
    instead first decays p *= 1 - lr * weight_decay):

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: "step" (a host int: the bias corrections are computed on the
    host without reading the device), "exp_avg" (m) and "exp_avg_sq" (v).
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False):
        if amsgrad:
            raise NotImplementedError("amsgrad is not implemented")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=False,
                                      maximize=maximize))

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

    def _update(self, group, p, state):
        if state is None:
            state = self.state[p] = {"step": 0, "exp_avg": self._zeros_state(p),
                                     "exp_avg_sq": self._zeros_state(p)}
        state["step"] += 1
        grad = -p._grad.array if group["maximize"] else p._grad.array
        beta1, beta2 = group["betas"]
        p.backend.adam_update(p.array, grad, self._array(state["exp_avg"], p),
                              self._array(state["exp_avg_sq"], p), group["lr"], beta1, beta2,
                              group["eps"], group["weight_decay"], self._decoupled,
                              state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the step);
    weight_decay defaults to 1e-2 as PyTorch's."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
