"""Adam and AdamW (decoupled weight decay), with PyTorch's exact update rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradkit.backends.kernels import adam_scalars

from .optimizer import Optimizer, Params, _check_flags

if TYPE_CHECKING:
    from gradkit._typing import Array

__all__ = ["Adam", "AdamW", "adam_arrays", "adam_update"]


def adam_update(xp: Any, param: Array, grad: Array, m: Array, v: Array, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                step: int, max_v: Array | None = None) -> None:
    """Apply PyTorch's Adam or AdamW step to raw arrays, in place.

    ``param``, ``m``, ``v`` (and ``max_v``) are updated in place; the generic rule that a
    backend's fused kernel must agree with. ``grad`` is never modified.

    Parameters
    ----------
    xp : namespace
        The arrays' array namespace.
    param, grad : array
        The parameter and its gradient.
    m, v : array
        The first and second moment estimates.
    lr, beta1, beta2, eps, weight_decay : float
        As for :class:`Adam`.
    decoupled : bool
        AdamW's decoupled weight decay (True) or Adam's L2 penalty (False).
    step : int
        The step number, from 1.
    max_v : array, optional
        The running maximum of v (amsgrad).

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.optim.adam import adam_update
    >>> p, m, v = np.array([1.]), np.zeros(1), np.zeros(1)
    >>> adam_update(np, p, np.array([2.]), m, v, lr=0.1, beta1=0.9, beta2=0.999,
    ...             eps=1e-8, weight_decay=0.0, decoupled=False, step=1)
    >>> p.round(6)
    array([0.9])
    """
    return adam_arrays(xp, param, grad, m, v,
                       adam_scalars(lr, beta1, beta2, eps, weight_decay, decoupled, step),
                       (weight_decay != 0, decoupled), max_v)


def adam_arrays(xp: Any, param: Array, grad: Array, m: Array, v: Array, scalars: tuple,
                flags: tuple[bool, bool], max_v: Array | None = None) -> None:
    """Adam's array work: `adam_update` once its scalars are computed (the contract is
    `Optimizer._arrays`': each scalar the operand of one array operation).

    Parameters
    ----------
    xp : namespace
        The arrays' array namespace.
    param, grad, m, v, max_v : array
        As for `adam_update`.
    scalars : tuple
        `adam_scalars`' ``(lr / bias1, beta1, 1 - beta1, beta2, 1 - beta2, eps,
        sqrt(bias2), weight_decay or 0 when decoupled, 1 - lr * weight_decay or 1)``:
        Python floats or 0-d arrays.
    flags : tuple of bool
        ``(weight_decay != 0, decoupled)``: the branches.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.backends.kernels import adam_scalars
    >>> from gradkit.optim.adam import adam_arrays
    >>> p, m, v = np.array([1.]), np.zeros(1), np.zeros(1)
    >>> adam_arrays(np, p, np.array([2.]), m, v,
    ...             adam_scalars(0.1, 0.9, 0.999, 1e-8, 0.0, False, 1), (False, False))
    >>> p.round(6)
    array([0.9])
    """
    lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, bias2_sqrt, wd, decay = scalars
    decayed, decoupled = flags
    if decayed:
        if decoupled:
            param *= decay
        else:
            grad = grad + wd * param
    m *= beta1
    m += one_minus_beta1 * grad
    v *= beta2
    v += one_minus_beta2 * (grad * grad)
    if max_v is not None:
        max_v[...] = xp.maximum(max_v, v)
    denom = xp.sqrt(v if max_v is None else max_v)
    denom /= bias2_sqrt
    denom += eps
    param -= lr_t * (m / denom)


class Adam(Optimizer):
    """Adam, as :class:`torch.optim.Adam`.

    At step t, with ``g = grad`` (plus ``weight_decay * p`` for Adam; with
    ``decoupled_weight_decay=True``, as AdamW, p is instead first decayed by
    ``p *= 1 - lr * weight_decay``)::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                         (amsgrad; v_max replaces v below)
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``"step"`` (a host int, so the bias corrections need no device
    read), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and, with amsgrad, ``"max_exp_avg_sq"``.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0
        L2 penalty (decoupled with ``decoupled_weight_decay``).
    amsgrad : bool, default False
        Use the running maximum of v.
    foreach, capturable, fused : bool, optional
        Keyword only: choose an implementation in PyTorch, not the numbers; kept in the
        param groups. The update uses the backend's fused kernel where it has one (CuPy:
        one CUDA kernel; not with amsgrad), never with ``fused=False``.
    maximize : bool, default False
        Keyword only: maximise the objective instead.
    differentiable : bool, default False
        Keyword only: True is refused (the step runs in place, outside the graph).
    decoupled_weight_decay : bool, default False
        Keyword only: AdamW's weight decay.

    Raises
    ------
    ValueError
        If lr, eps or weight_decay is negative or NaN, or a beta is not in [0, 1).
    NotImplementedError
        If ``differentiable=True``.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.Adam`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> w = nn.Parameter(gk.tensor([1., -1.]))
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()                     # the first step moves each element by about lr
    >>> w
    Parameter containing:
    tensor([ 0.9, -0.9], requires_grad=True)
    >>> opt.state[w]["step"], list(opt.state[w])
    (1, ['step', 'exp_avg', 'exp_avg_sq'])
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

    _branches = ("weight_decay", "decoupled_weight_decay", "amsgrad", "maximize", "fused")

    def _update(self, group, p, state):
        if state is None:
            state = self.state[p] = {"step": 0, "exp_avg": self._zeros_state(p),
                                     "exp_avg_sq": self._zeros_state(p)}
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = self._zeros_state(p)
        fused = p.backend.fused_adam_update if group["fused"] is not False else None
        if fused is None or group["amsgrad"]:
            self._arrays(group, p, state, self._scalars(group, p, state))
            return
        state["step"] += 1
        beta1, beta2 = group["betas"]
        fused(p.array, self._grad(group, p), self._array(state["exp_avg"], p),
              self._array(state["exp_avg_sq"], p), group["lr"], beta1, beta2, group["eps"],
              group["weight_decay"], group["decoupled_weight_decay"], state["step"])

    def _splits(self, group, p, state):
        if type(self)._update is not Adam._update:  # (a subclass's own rule)
            return False
        fused = p.backend.fused_adam_update is not None and group["fused"] is not False
        return (state is not None and not (fused and not group["amsgrad"])
                and (not group["amsgrad"] or "max_exp_avg_sq" in state))

    def _scalars(self, group, p, state):
        state["step"] += 1
        beta1, beta2 = group["betas"]
        return adam_scalars(group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                            group["decoupled_weight_decay"], state["step"])

    def _arrays(self, group, p, state, scalars):
        max_v = self._array(state["max_exp_avg_sq"], p) if group["amsgrad"] else None
        adam_arrays(p.backend.xp, p.array, self._grad(group, p),
                    self._array(state["exp_avg"], p), self._array(state["exp_avg_sq"], p),
                    scalars, (group["weight_decay"] != 0, group["decoupled_weight_decay"]),
                    max_v)

    @staticmethod
    def _grad(group, p):
        return -p._grad.array if group["maximize"] else p._grad.array


class AdamW(Adam):
    """Adam with decoupled weight decay, as :class:`torch.optim.AdamW`.

    Before each Adam step ``p *= 1 - lr * weight_decay``. It is :class:`Adam` with
    ``decoupled_weight_decay=True`` (kept True when a state dict is loaded).

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 1e-2
        The decoupled weight decay (PyTorch's default).
    amsgrad : bool, default False
        Use the running maximum of v.
    maximize : bool, default False
        Keyword only; as for :class:`Adam`.
    foreach, capturable, fused : bool, optional
        Keyword only; as for :class:`Adam`.
    differentiable : bool, default False
        Keyword only; True is refused, as for :class:`Adam`.

    Raises
    ------
    ValueError
        If a hyper-parameter is out of range.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.AdamW`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> w = nn.Parameter(gk.tensor([1., -1.]))
    >>> opt = optim.AdamW([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()                     # decay by 1 - 0.1 * 0.01, then the Adam step
    >>> w
    Parameter containing:
    tensor([ 0.899, -0.899], requires_grad=True)
    """

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
        """Restore a state dict as :meth:`Optimizer.load_state_dict`, keeping the decay decoupled.

        Parameters
        ----------
        state_dict : dict
            As returned by ``state_dict()`` (of an Adam or an AdamW).

        Raises
        ------
        ValueError
            If the state dict does not fit this optimizer's parameters.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> w = nn.Parameter(gk.ones(2))
        >>> opt = optim.AdamW([w])
        >>> opt.load_state_dict(optim.Adam([w]).state_dict())
        >>> opt.param_groups[0]["decoupled_weight_decay"]
        True
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
