"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gradkit.tensor import Tensor

from .optimizer import Optimizer, Params, _check_flags

if TYPE_CHECKING:
    from gradkit._typing import Array

__all__ = ["SGD", "sgd_arrays", "sgd_update"]


def sgd_update(xp: Any, param: Array, grad: Array, buf: Array | None, lr: float, momentum: float,
               weight_decay: float, nesterov: bool, dampening: float = 0.0) -> Array | None:
    """Apply PyTorch's SGD step to raw arrays, in place on ``param`` (and ``buf``).

    The generic rule that a backend's fused kernel must agree with; written with in-place
    operators so a step allocates little. ``grad`` is never modified.

    Parameters
    ----------
    xp : namespace
        The arrays' array namespace.
    param, grad : array
        The parameter (updated in place) and its gradient.
    buf : array or None
        The momentum buffer (None before the first step).
    lr, momentum, weight_decay : float
        As for :class:`SGD`.
    nesterov : bool
        Use Nesterov momentum.
    dampening : float, default 0.0
        As for :class:`SGD`.

    Returns
    -------
    array or None
        The momentum buffer: new on the first step (the undampened gradient, as
        PyTorch's), else ``buf`` itself; None without momentum.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.optim.sgd import sgd_update
    >>> p = np.array([1., 2.])
    >>> sgd_update(np, p, np.array([1., 1.]), None, lr=0.5, momentum=0.0,
    ...            weight_decay=0.0, nesterov=False)
    >>> p
    array([0.5, 1.5])
    """
    flags = (weight_decay != 0, momentum != 0, bool(nesterov), dampening != 0)
    return sgd_arrays(xp, param, grad, buf, (lr, momentum, 1 - dampening, weight_decay),
                      flags)


def sgd_arrays(xp: Any, param: Array, grad: Array, buf: Array | None, scalars: tuple,
               flags: tuple[bool, bool, bool, bool]) -> Array | None:
    """SGD's array work: `sgd_update` once its scalars are computed (the contract is
    `Optimizer._arrays`': each scalar the operand of one array operation).

    Parameters
    ----------
    xp : namespace
        The arrays' array namespace.
    param, grad, buf : array
        As for `sgd_update`.
    scalars : tuple
        ``(lr, momentum, 1 - dampening, weight_decay)``: Python floats or 0-d arrays.
    flags : tuple of bool
        ``(weight_decay != 0, momentum != 0, nesterov, dampening != 0)``: the branches.

    Returns
    -------
    array or None
        The momentum buffer, as for `sgd_update`.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.optim.sgd import sgd_arrays
    >>> p = np.array([1., 2.])
    >>> sgd_arrays(np, p, np.array([1., 1.]), None, (0.5, 0.0, 1.0, 0.0),
    ...            (False, False, False, False))
    >>> p
    array([0.5, 1.5])
    """
    lr, momentum, damp, weight_decay = scalars
    decayed, with_momentum, nesterov, dampened = flags
    if decayed:
        grad = grad + weight_decay * param
    if with_momentum:
        if buf is None:  # the first step: the buffer is the undampened gradient
            buf = xp.asarray(grad, copy=True)  # owned by the optimizer
        else:
            buf *= momentum
            buf += damp * grad if dampened else grad
        grad = grad + momentum * buf if nesterov else buf
    param -= lr * grad
    return buf


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, as :class:`torch.optim.SGD`.

    With ``g = grad + weight_decay * p``::

        buf = g                                         (first step)
        buf = momentum * buf + (1 - dampening) * g      (later steps)
        p  -= lr * (g + momentum * buf if nesterov else buf)

    and simply ``p -= lr * g`` without momentum. State: ``"momentum_buffer"`` per
    parameter.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        The learning rate.
    momentum : float, default 0
        The momentum factor.
    dampening : float, default 0
        Dampening of the momentum.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    nesterov : bool, default False
        Use Nesterov momentum (needs momentum > 0 and zero dampening).
    maximize : bool, default False
        Keyword only: maximise the objective instead.
    foreach, fused : bool, optional
        Keyword only: choose an implementation in PyTorch, not the numbers; kept in the
        param groups. ``fused=False`` never uses a backend's fused kernel.
    differentiable : bool, default False
        Keyword only: True is refused (the step runs in place, outside the graph).

    Raises
    ------
    ValueError
        If lr, momentum or weight_decay is negative or NaN, dampening is NaN, or Nesterov
        is asked without momentum or with dampening.
    NotImplementedError
        If ``differentiable=True``.
    RuntimeError
        If ``fused`` is combined with ``foreach`` or ``differentiable``.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.SGD`. Differences: ``differentiable=True`` is
    not supported.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> w = nn.Parameter(gk.tensor([1., 2.]))
    >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w.shape, list(opt.state[w])
    ((2,), ['momentum_buffer'])
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

    _branches = ("momentum", "weight_decay", "nesterov", "dampening", "maximize", "fused")

    def _update(self, group, p, state):
        buf = self._buffer(p, state)
        grad = -p._grad.array if group["maximize"] else p._grad.array
        fused = p.backend.fused_sgd_update if group["fused"] is not False else None
        if fused is None:
            new_buf = sgd_arrays(p.backend.xp, p.array, grad, buf,
                                 self._scalars(group, p, state), self._flags(group))
        else:
            new_buf = fused(p.array, grad, buf, group["lr"], group["momentum"],
                            group["weight_decay"], group["nesterov"], group["dampening"])
        if group["momentum"] and buf is None:
            self.state[p] = {"momentum_buffer": Tensor.wrap(new_buf, p.backend)}

    def _splits(self, group, p, state):
        if type(self)._update is not SGD._update:  # (a subclass's own rule)
            return False
        fused = p.backend.fused_sgd_update is not None and group["fused"] is not False
        return not fused and (not group["momentum"] or self._buffer(p, state) is not None)

    def _scalars(self, group, p, state):
        return (group["lr"], group["momentum"], 1 - group["dampening"], group["weight_decay"])

    def _arrays(self, group, p, state, scalars):
        grad = -p._grad.array if group["maximize"] else p._grad.array
        return sgd_arrays(p.backend.xp, p.array, grad, self._buffer(p, state), scalars,
                          self._flags(group))

    @staticmethod
    def _flags(group):
        return (group["weight_decay"] != 0, group["momentum"] != 0, bool(group["nesterov"]),
                group["dampening"] != 0)

    def _buffer(self, p, state):
        """p's momentum buffer (on p's device and dtype), None before the first step."""
        if state is None:
            return None
        buf = state.get("momentum_buffer")
        return None if buf is None else self._array(buf, p)
