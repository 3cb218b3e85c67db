"""Learning-rate schedules, as torch.optim.lr_scheduler.

Each scheduler sets `group["lr"]` of its optimizer from a closed-form function of the
epoch count (`lr_at(base_lr, t)`), PyTorch's formulas. Call `step()` once per epoch
(or per iteration) after `optimizer.step()`. Schedules compose through SequentialLR
(e.g. linear warm-up, then cosine decay) or LambdaLR; two schedulers driving one
optimizer directly overwrite each other rather than multiply (PyTorch's chaining).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence

from gradkit.backends.base import host_op

from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR",
           "CosineAnnealingLR", "SequentialLR", "OneCycleLR"]


class LRScheduler:
    """Base class of the learning-rate schedulers, as :class:`torch.optim.lr_scheduler.LRScheduler`.

    It remembers each group's initial lr (``"initial_lr"``) and, at every ``step()``, sets
    ``lr = lr_at(initial_lr, epoch)``: a closed-form function of the epoch count.
    Constructing a scheduler performs its first step (epoch 0). Call ``step()`` once per
    epoch (or per iteration) after ``optimizer.step()``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh. Resuming (``last_epoch >= 0``)
        needs ``"initial_lr"`` in every group: load the optimizer's state dict first.

    Raises
    ------
    TypeError
        If ``optimizer`` is not an Optimizer.
    KeyError
        If resuming and a group has no ``"initial_lr"``.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.LRScheduler`. Differences: two
    schedulers driving one optimizer overwrite each other rather than multiply
    (PyTorch's chaining); compose them with :class:`SequentialLR` or :class:`LambdaLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> class Halving(lr_scheduler.LRScheduler):
    ...     def lr_at(self, base_lr, epoch):
    ...         return base_lr / 2 ** epoch
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = Halving(opt)
    >>> opt.step()
    >>> sched.step()
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise KeyError("resuming a scheduler (last_epoch >= 0) needs 'initial_lr' in every "
                           "param group: load the optimizer's state dict first")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        Subclasses override it.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float

        Raises
        ------
        NotImplementedError
            In the base class.

        Notes
        -----
        gradkit-only: PyTorch's schedulers compute each lr from the previous one
        (``get_lr``); some also have this closed form, as ``_get_closed_form_lr``. The
        scheduler calls it at every ``step()``; calling it yourself changes nothing.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.optim import lr_scheduler
        >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
        >>> sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> [sched.lr_at(1.0, epoch) for epoch in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
        >>> sched.last_epoch, opt.param_groups[0]["lr"]
        (0, 1.0)
        """
        raise NotImplementedError

    @host_op
    def step(self) -> None:
        """Advance one epoch and set every group's ``lr`` for it.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.lr_scheduler.LRScheduler.step`. Differences:
        no `epoch` argument (deprecated in PyTorch); no warning when called before
        ``optimizer.step()``; and the lr comes from the closed form ``lr_at(initial_lr,
        epoch)``, so a change made to ``group["lr"]`` elsewhere is overwritten at the next
        step instead of carried on (PyTorch's chainable form).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.optim import lr_scheduler
        >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
        >>> sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched.step()
        >>> sched.last_epoch, opt.param_groups[0]["lr"]
        (1, 0.5)
        """
        self.last_epoch += 1
        self._apply(self.last_epoch)

    def _apply(self, epoch: int) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """Return the learning rates the last ``step()`` set, one per group.

        Returns
        -------
        list of float

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.lr_scheduler.LRScheduler.get_last_lr` (same
        semantics).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.optim import lr_scheduler
        >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=0.1)
        >>> lr_scheduler.StepLR(opt, step_size=10).get_last_lr()
        [0.1]
        """
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Return the scheduler's state as plain numbers (no optimizer, no functions).

        Returns
        -------
        dict

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.lr_scheduler.LRScheduler.state_dict`.
        Differences: LambdaLR's functions are never saved (PyTorch saves the attributes of
        those that are callable objects rather than functions).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.optim import lr_scheduler
        >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=0.1)
        >>> sd = lr_scheduler.StepLR(opt, step_size=10).state_dict()
        >>> sd["last_epoch"], sd["base_lrs"]
        (0, [0.1])
        """
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas", "_schedulers")}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()``.

        Parameters
        ----------
        state_dict : dict

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.lr_scheduler.LRScheduler.load_state_dict`
        (same semantics: it restores the scheduler's attributes, not the optimizer's lr,
        which the optimizer's own state dict holds).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.optim import lr_scheduler
        >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=0.1)
        >>> a = lr_scheduler.StepLR(opt, step_size=10)
        >>> for _ in range(3):
        ...     a.step()
        >>> b = lr_scheduler.StepLR(opt, step_size=10)
        >>> b.load_state_dict(a.state_dict())
        >>> b.last_epoch
        3
        """
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """Set ``lr = initial_lr * lr_lambda(epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    lr_lambda : callable or list of callable
        A function of the epoch, or one per param group.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Raises
    ------
    ValueError
        If a list of functions does not have one per group.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.LambdaLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.5, 0.3333, 0.25, 0.2]
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups)
        self.lr_lambdas: list[Callable[[int], float]] = list(lr_lambda) \
            if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n  # type: ignore[list-item]
        if len(self.lr_lambdas) != n:
            raise ValueError(f"expected {n} lr_lambdas, got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def _apply(self, epoch: int) -> None:
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base * fn(epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Decay the lr by ``gamma`` every ``step_size`` epochs.

    ``lr = initial_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    step_size : int
        The period of the decay, in epochs, at least 1.
    gamma : float, default 0.1
        The decay factor.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Raises
    ------
    ValueError
        If `step_size` is less than 1.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.StepLR`. Differences: a
    `step_size` below 1 raises here; PyTorch accepts it and then raises
    ZeroDivisionError at the first ``step()`` (for 0) or decays every ``|step_size|``
    epochs while its closed form grows the lr (for a negative one).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be at least 1, got {step_size} (PyTorch "
                             "raises ZeroDivisionError at the first step for 0)")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        ``base_lr * gamma ** (epoch // step_size)``.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float
        """
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Decay the lr by ``gamma`` at each milestone epoch.

    ``lr = initial_lr * gamma ** (number of milestones reached)``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    milestones : sequence of int
        The epochs at which to decay (sorted here).
    gamma : float, default 0.1
        The decay factor.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.MultiStepLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.1, 0.1, 0.01, 0.01]
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        ``base_lr * gamma ** (number of milestones <= epoch)``.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float
        """
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """Decay the lr by ``gamma`` every epoch.

    ``lr = initial_lr * gamma ** epoch``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    gamma : float
        The decay factor.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.ExponentialLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.5, 0.25, 0.125, 0.0625]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        ``base_lr * gamma ** epoch``.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float
        """
        return base_lr * self.gamma**epoch


class LinearLR(LRScheduler):
    """Scale the lr by a factor moving linearly from ``start_factor`` to ``end_factor``.

    The factor reaches ``end_factor`` after ``total_iters`` epochs and stays there: the
    usual warm-up.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    start_factor : float, default 1/3
        The factor at epoch 0, in (0, 1].
    end_factor : float, default 1.0
        The final factor, in [0, 1].
    total_iters : int, default 5
        The number of epochs to reach it, at least 1.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Raises
    ------
    ValueError
        If a factor is out of range or `total_iters` is less than 1.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.LinearLR`. Differences: a
    `total_iters` below 1 raises here. PyTorch accepts it and keeps the lr at
    ``start_factor * initial_lr`` forever, never reaching `end_factor` (its closed form
    divides by zero), which would train silently at the wrong rate; for no warm-up,
    leave the scheduler out.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, "
                             f"got {start_factor} and {end_factor}")
        if total_iters <= 0:
            raise ValueError(f"LinearLR: total_iters must be at least 1, got {total_iters} "
                             "(PyTorch keeps start_factor forever for it and never reaches "
                             "end_factor; for no warm-up, leave the scheduler out)")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        ``base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float
        """
        done = min(self.total_iters, epoch) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its initial value to ``eta_min`` along half a cosine.

    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``; past
    ``T_max`` the closed form rises again.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    T_max : int
        The number of epochs to reach ``eta_min``, at least 1.
    eta_min : float, default 0.0
        The smallest lr.
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Raises
    ------
    ValueError
        If `T_max` is less than 1.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.CosineAnnealingLR`. Differences:
    a `T_max` below 1 raises here; PyTorch accepts it and then raises ZeroDivisionError
    at the first ``step()`` (for 0) or follows the schedule of ``|T_max|`` (for a
    negative one).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be at least 1, got {T_max} (PyTorch "
                             "raises ZeroDivisionError at the first step for 0)")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """Return the learning rate at ``epoch`` for a group whose initial lr is ``base_lr``.

        ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

        Parameters
        ----------
        base_lr : float
            The group's initial learning rate.
        epoch : int
            The epoch (or step) count, from 0.

        Returns
        -------
        float
        """
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + cos) / 2


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the milestone epochs.

    Each scheduler starts from its own epoch 0, so a LinearLR warm-up followed by cosine
    decay is ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=95)], milestones=[5])``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` this sets.
    schedulers : sequence of LRScheduler
        The schedulers, all driving ``optimizer``.
    milestones : sequence of int
        The epochs at which to switch to the next scheduler (one fewer than schedulers).
    last_epoch : int, default -1
        The index of the last epoch; -1 starts afresh (set when resuming, after loading the
        optimizer's state dict).

    Raises
    ------
    ValueError
        If the numbers of milestones and schedulers do not fit, or a scheduler drives
        another optimizer.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.SequentialLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, 0.5, total_iters=2),
    ...     lr_scheduler.ExponentialLR(opt, 0.5)], milestones=[2])
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                             f"{len(schedulers)} schedulers, got {len(milestones)}")
        for s in schedulers:
            if s.optimizer is not optimizer:
                raise ValueError("SequentialLR: every scheduler must drive the same optimizer")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        super().__init__(optimizer, last_epoch)

    def _apply(self, epoch: int) -> None:
        i = bisect_right(self._milestones, epoch)
        start = self._milestones[i - 1] if i else 0
        scheduler = self._schedulers[i]
        scheduler.last_epoch = epoch - start
        scheduler._apply(epoch - start)
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        """Return the state, with each child scheduler's state under ``"_schedulers"``.

        Returns
        -------
        dict
        """
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()``, child schedulers included.

        Parameters
        ----------
        state_dict : dict
        """
        state = dict(state_dict)
        for s, saved in zip(self._schedulers, state.pop("_schedulers")):
            s.load_state_dict(saved)
        super().load_state_dict(state)


class OneCycleLR(LRScheduler):
    """The 1cycle policy, as :class:`torch.optim.lr_scheduler.OneCycleLR`; step it per batch.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then anneals (cosine or linear) to ``initial_lr / final_div_factor``;
    ``three_phase`` goes back down to the initial lr first. With ``cycle_momentum``,
    momentum (or Adam's beta1) moves the opposite way between ``max_momentum`` and
    ``base_momentum``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' ``lr`` (and momentum) this sets.
    max_lr : float or sequence of float
        The peak lr, or one per group.
    total_steps : int, optional
        The number of steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        ``total_steps = epochs * steps_per_epoch``.
    pct_start : float, default 0.3
        The fraction of the cycle spent rising.
    anneal_strategy : {"cos", "linear"}, default "cos"
        The shape of the ramps.
    cycle_momentum : bool, default True
        Also cycle the momentum (SGD's momentum or Adam's beta1).
    base_momentum, max_momentum : float or sequence of float, default 0.85, 0.95
        The momentum range.
    div_factor : float, default 25.0
        ``initial_lr = max_lr / div_factor``.
    final_div_factor : float, default 1e4
        ``min_lr = initial_lr / final_div_factor``.
    three_phase : bool, default False
        Use three phases (up, down to the initial lr, then down to min_lr).
    last_epoch : int, default -1
        The index of the last step; -1 starts afresh.

    Raises
    ------
    ValueError
        If the step count is not given or not positive, ``pct_start`` is not a float in
        [0, 1], ``anneal_strategy`` is unknown, ``cycle_momentum`` is asked of an optimizer
        without momentum, or a step goes past ``total_steps``.
    TypeError
        If ``optimizer`` is not an Optimizer.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.lr_scheduler.OneCycleLR`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.optim import lr_scheduler
    >>> opt = optim.SGD([nn.Parameter(gk.zeros(1))], lr=1.0)
    >>> sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.04, 0.9505, 0.6113, 0.1883, 0.0]
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        elif epochs is not None and steps_per_epoch is not None:
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"Expected positive integer {name}, but got {value}")
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        up = float(pct_start * total_steps) - 1
        # (end step, start lr key, end lr key, start momentum key, end momentum key)
        self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if three_phase:
            self._phases += [
                (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"),
                (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases.append((total_steps - 1, "max_lr", "min_lr", "base_momentum",
                                 "max_momentum"))
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, lr in zip(groups, _per_group("max_lr", groups, max_lr)):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for group, top, base in zip(groups,
                                            _per_group("max_momentum", groups, max_momentum),
                                            _per_group("base_momentum", groups, base_momentum)):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _apply(self, step: int) -> None:
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total "
                             f"steps is {self.total_steps}")
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    group["lr"] = self._anneal(group[lr0], group[lr1], pct)
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


def _per_group(name, groups, value) -> list:
    """`value` for every param group: one per group from a list or tuple, else repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"expected {len(groups)} values for {name}, got {len(value)}")
        return list(value)
    return [value] * len(groups)
