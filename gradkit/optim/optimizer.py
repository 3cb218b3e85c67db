"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state
dicts in PyTorch's layout.

Subclasses implement `_update(group, p, state)` for one parameter whose gradient is not
None; `step()` runs it for every such parameter under no_grad and bumps its version.
Each optimizer owns its update rule, written once in the parameter's `xp` on raw arrays
(`sgd_update`, `adam_update`), in place on `p.array`, with the state arrays on the
parameter's device. A backend may offer a fused kernel for a rule
(`backend.fused_adam_update`, None where it has none); the optimizer calls it instead
unless the group says fused=False, and the tests check that both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from gradkit import backends as _backends
from gradkit.autograd import enable_grad, no_grad
from gradkit.backends.base import host_op
from gradkit.tensor import Tensor

if TYPE_CHECKING:
    from gradkit.backends import Backend

# What an optimizer takes: tensors, or dicts of a group's 'params' and hyper-parameters
Params = Iterable[Tensor] | Iterable[dict[str, Any]]

__all__ = ["Optimizer", "required"]


def _check_flags(values: dict) -> None:
    """The implementation flags, checked as PyTorch's constructors do. differentiable=True
    (a step that autograd can differentiate through) is refused: the updates here write
    the arrays in place outside the graph, so its gradients would be silently missing."""
    fused, foreach = values.get("fused"), values.get("foreach")
    differentiable = values.get("differentiable")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("differentiable=True is not supported: gradkit's optimizers "
                                  "update the parameters in place, outside the graph")


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()  # a hyper-parameter with no default: every group must give it


class Optimizer:
    """Base class of the optimizers, as :class:`torch.optim.Optimizer`.

    ``param_groups`` is a list of dicts (``"params"`` plus hyper-parameters); ``state``
    maps each parameter to a dict of tensors and numbers. Subclasses implement
    ``_update(group, p, state)`` for one parameter whose gradient is not None.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The tensors to optimize (``model.parameters()``), or parameter groups: dicts with
        ``"params"`` and any per-group hyper-parameters.
    defaults : dict
        Hyper-parameters for groups that do not give their own; a value of
        ``optim.optimizer.required`` must be given by every group.

    Raises
    ------
    TypeError
        If ``params`` is a single Tensor, a set, or contains something other than tensors.
    ValueError
        If ``params`` is empty, contains a non-leaf tensor, repeats a parameter across
        groups, or a hyper-parameter is out of range.

    Notes
    -----
    PyTorch equivalent: :class:`torch.optim.Optimizer`. Differences: hyper-parameters
    are range-checked in every group added, not only in the defaults.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> opt = optim.SGD([{"params": model[0].parameters()},
    ...                  {"params": model[1].parameters(), "lr": 0.01}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.01]
    """

    def __init__(self, params: Params, defaults: dict) -> None:
        self._check_hyperparameters(defaults)
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors or of dicts, not a Tensor; "
                            "pass model.parameters() or [tensor]")
        items: list[Any] = list(params)
        if not items:
            raise ValueError("optimizer got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters, with hyper-parameters defaulting to ``defaults``.

        Useful to start training layers that were frozen.

        Parameters
        ----------
        group : dict
            ``"params"`` holds a tensor, tensors or ``(name, tensor)`` pairs (as from
            ``named_parameters()``; the group then also gets ``"param_names"``, as PyTorch's),
            and optionally hyper-parameters for this group.

        Raises
        ------
        TypeError
            If ``group`` is not a dict, its params are a set or are not tensors.
        ValueError
            If a parameter is not a leaf or is already in another group, a required
            hyper-parameter is missing or out of range, or names are given for some
            parameters (or groups) but not others.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.Optimizer.add_param_group` (same semantics
        and checks).

        Examples
        --------
        >>> from gradkit import nn, optim
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> opt = optim.SGD(a.parameters(), lr=0.1)
        >>> opt.add_param_group({"params": b.parameters(), "lr": 0.01})
        >>> len(opt.param_groups), opt.param_groups[1]["momentum"]
        (2, 0)
        """
        if not isinstance(group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        group["params"] = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some "
                                 "param names are missing")
            group["param_names"] = names
        if self.param_groups and ("param_names" in group) != \
                ("param_names" in self.param_groups[0]):
            raise ValueError("all optimizer param groups should be with/without names. cannot "
                             f"add param group {'with' if names else 'without'} names to the "
                             "optimizer")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, not {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (shape {p.shape}); "
                                 "optimize the leaves it was computed from")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name!r}")
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, values: dict) -> None:
        """Raise ValueError for a hyper-parameter out of range (NaN included), as PyTorch's
        constructors do. Called on the defaults and on every group added (PyTorch checks
        only the defaults), so a per-group override is checked too."""

    # ---- the step ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter, as PyTorch's.

        Parameters
        ----------
        set_to_none : bool, default True
            Set each ``.grad`` to None (PyTorch's default); otherwise zero it in place.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> w = nn.Parameter(gk.tensor([1., 2.]))
        >>> opt = optim.SGD([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.zero_grad()
        >>> w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p._grad is None:
                    p._grad = None
                else:
                    p._grad.detach().zero_()  # in place, as PyTorch's

    @host_op
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place, as PyTorch's.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; run with gradients enabled.

        Returns
        -------
        Any
            ``closure()``'s result, or None without a closure.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> w = nn.Parameter(gk.tensor([1., 2.]))
        >>> opt = optim.SGD([w], lr=0.1)
        >>> (w * w).sum().backward()       # grad = 2 * w = [2., 4.]
        >>> opt.step()
        >>> w
        Parameter containing:
        tensor([0.8, 1.6], requires_grad=True)
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p._grad is None:
                        continue
                    if p.backend.scope is _backends.NO_SCOPE:
                        self._update(group, p, self.state.get(p))
                    else:
                        with p.backend.scope:  # p's GPU current (several GPUs)
                            self._update(group, p, self.state.get(p))
                    p._bump_version()  # written in place: a saved p is now stale
        return loss

    def _update(self, group: dict, p: Tensor, state: dict | None) -> None:
        raise NotImplementedError

    # ---- a step in two parts, for gk.compile ------------------------------------------------
    # An optimizer whose update is `_arrays(group, p, state, _scalars(group, p, state))`
    # lets gk.compile record the array work into the program, with the scalars (the
    # learning rate, Adam's bias corrections) in 0-d buffers that each replay refreshes on
    # the host. Otherwise its whole step() runs on the host at each replay.
    _branches: tuple[str, ...] = ()  # the hyper-parameters whose truth chooses code paths

    def _structure(self) -> tuple:
        """What a recorded step depends on besides shapes: per group, its parameters and
        the truth of each hyper-parameter that chooses a branch (weight_decay != 0)."""
        return tuple((len(g["params"]), *(bool(g[k]) for k in self._branches))
                     for g in self.param_groups)

    def _recordable(self) -> list[tuple[dict, Tensor, dict | None]] | None:
        """The (group, parameter, state) of each update step() would make now, when every
        one splits into `_scalars` and `_arrays`; None when step() must run whole."""
        updates = []
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state.get(p)
                if not self._splits(group, p, state):
                    return None
                updates.append((group, p, state))
        return updates

    def _splits(self, group: dict, p: Tensor, state: dict | None) -> bool:
        """Whether p's update is `_arrays` of `_scalars` (no fused kernel, state made)."""
        return False

    def _scalars(self, group: dict, p: Tensor, state: dict | None) -> tuple:
        """The Python numbers p's update uses, each computed as the update rule does; advances
        the state's counters (Adam's step)."""
        raise NotImplementedError

    def _arrays(self, group: dict, p: Tensor, state: dict | None, scalars: tuple) -> Any:
        """p's update from `_scalars`' numbers, or 0-d arrays of p's dtype holding them.

        Each scalar is the operand of one array operation, never combined with another
        scalar: NumPy casts a Python float to the array's dtype first, so a 0-d array of
        that dtype gives the same numbers, and gk.compile can refresh them at each replay."""
        raise NotImplementedError

    def _zeros_state(self, p: Tensor) -> Tensor:
        """A zero tensor like p, on p's device: fresh optimizer state."""
        return Tensor.wrap(p.backend.xp.zeros_like(p.array), p.backend)

    @staticmethod
    def _array(t: Tensor, p: Tensor) -> Any:
        """The array of state tensor `t`, moved/cast in place to p's device and dtype first
        if the model was moved after the optimizer was made (a cheap check per step)."""
        if t.backend is not p.backend:
            t._rebind(p.backend.transfer(t.array, t.backend), p.backend)
        if t.array.dtype != p.array.dtype:
            t._rebind(p.backend.xp.astype(t.array, p.array.dtype))
        return t.array

    # ---- state dicts -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Return the hyper-parameters and per-parameter state in PyTorch's layout.

        ``{"state": {index: {name: tensor or number}}, "param_groups": [...]}``, with the
        parameters numbered across groups in order. The tensors are the optimizer's own (as
        PyTorch's): save or copy them if training goes on.

        Returns
        -------
        dict

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> w = nn.Parameter(gk.tensor([1., 2.]))
        >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> sd = opt.state_dict()
        >>> list(sd["state"][0]), sd["param_groups"][0]["params"]
        (['momentum_buffer'], [0])
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = dict(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict()``.

        The state may come through ``gk.save`` / ``gk.load``; its tensors are copied onto each
        parameter's device (floating ones in its dtype). Everything is checked and converted
        before anything changes.

        Parameters
        ----------
        state_dict : dict
            As returned by ``state_dict()``.

        Raises
        ------
        ValueError
            If the number of groups or of parameters per group differs, a state entry names an
            unknown index, or a state tensor has the wrong shape; the optimizer is left as it
            was.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.optim.Optimizer.load_state_dict`: parameters are
        matched by their order in the groups, the saved hyper-parameters replace the current
        ones, and floating state tensors take the parameter's dtype and device. Differences:
        PyTorch keeps state for an index that no group lists and does not check state
        shapes, where this raises and changes nothing; and a hyper-parameter the current
        group has but the saved one lacks is kept here (PyTorch's group becomes the saved
        one). As in PyTorch, make the learning-rate scheduler before loading: a new
        scheduler sets the lr of its epoch 0.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> w = nn.Parameter(gk.tensor([1., 2.]))
        >>> opt = optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> opt2 = optim.Adam([w], lr=0.5)
        >>> opt2.load_state_dict(opt.state_dict())
        >>> opt2.param_groups[0]["lr"], opt2.state[w]["step"]
        (0.1, 1)
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        if sizes != saved_sizes:
            raise ValueError(f"loaded state dict has groups of {saved_sizes} parameters, the "
                             f"optimizer has groups of {sizes}")
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for p, i in zip(group["params"], saved["params"]):
                by_index[i] = p
        new_state: dict[Tensor, dict] = {}
        problems: list[str] = []
        for i, entry in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                problems.append(f"state for parameter index {i}, which no group lists")
                continue
            new_state[p] = {}
            for name, value in entry.items():
                if _is_array(value):
                    shape = tuple(value.shape)
                    if shape not in (p.shape, ()):
                        problems.append(f"state {name!r} of parameter {i} has shape {shape}, "
                                        f"the parameter has shape {p.shape}")
                        continue
                    value = _state_tensor(value, p)
                new_state[p][name] = value
        if problems:
            raise ValueError("cannot load optimizer state: " + "; ".join(problems))
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray)) or \
        _backends.backend_of_array(value) is not None


def _state_tensor(value: Any, p: Tensor) -> Tensor:
    """A copy of `value` on p's device; floating values take p's dtype (as PyTorch)."""
    b = p.backend
    src: Backend | None
    if isinstance(value, Tensor):
        src, array = value.backend, value.array
    else:
        src = _backends.backend_of_array(value)
        array = value
    assert src is not None  # (_is_array(value) was checked)
    array = b.transfer(array, src) if src is not b else b.xp.asarray(array, copy=True)
    kind = np.dtype(b.dtype_name(array.dtype)).kind
    if kind == "f" and array.dtype != p.array.dtype:
        array = b.xp.astype(array, p.array.dtype)
    return Tensor.wrap(array, b)
