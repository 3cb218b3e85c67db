"""nn.Module and nn.Parameter: the containers that hold a network's state.

A Module registers what is assigned to it: a Parameter (a leaf tensor to train), a
Module (a submodule) or, through `register_buffer`, a buffer (state that is saved but
not trained, such as BatchNorm's running statistics). Registration order is the order
of `parameters()` and `state_dict()`, and the key names are PyTorch's, so a state dict
moves between the two frameworks for the same architecture.

Registered values are also kept as ordinary instance attributes, so reading
`self.weight` in `forward` is a plain attribute lookup, not a `__getattr__` call.

Calling a module runs its forward pre-hooks, `forward` and its forward hooks, as
PyTorch's `Module.__call__` does; each `register_*_hook` returns a RemovableHandle.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from gradkit import backends as _backends
from gradkit import dtypes as _dt
from gradkit.hooks import RemovableHandle
from gradkit.tensor import Tensor, tensor

if TYPE_CHECKING:
    from gradkit._typing import DeviceLike, DTypeLike
    from gradkit.backends import Backend

_M = TypeVar("_M", bound="Module")

__all__ = ["Module", "Parameter", "RemovableHandle", "StateDictError"]


class Parameter(Tensor):
    """A tensor that a Module registers as trainable, as :class:`torch.nn.Parameter`.

    Assigning a Parameter to a Module attribute registers it, so it appears in
    ``parameters()`` and ``state_dict()``. ``Parameter(t)`` shares ``t``'s array (no copy),
    as PyTorch's does.

    Parameters
    ----------
    data : Tensor or array_like, optional
        The initial values; ``None`` gives an empty tensor.
    requires_grad : bool, default True
        Whether gradients are accumulated into ``.grad``.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Parameter`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> p = nn.Parameter(gk.tensor([1., 2.]))
    >>> p
    Parameter containing:
    tensor([1., 2.], requires_grad=True)
    >>> p.is_leaf
    True
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = tensor([])
        elif not isinstance(data, Tensor):
            data = tensor(data)
        self.array, self.backend = data.array, data.backend
        self._grad, self._node, self._requires_grad = None, None, False
        self._vc, self._base, self._acc = data._counter(), None, None  # shares data's storage
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(RuntimeError, KeyError, ValueError):
    """A state dict that does not fit a model, raised by :meth:`Module.load_state_dict`.

    The message lists every missing key, unexpected key and shape mismatch at once. It is
    a RuntimeError like PyTorch's (and a KeyError and a ValueError, so either ``except``
    catches it).

    Notes
    -----
    PyTorch raises a plain :class:`RuntimeError` for the same problems.

    Examples
    --------
    >>> from gradkit import nn
    >>> try:
    ...     nn.Linear(2, 1).load_state_dict({})
    ... except nn.StateDictError as e:
    ...     print(e)
    Error(s) in loading state_dict for Linear:
        Missing key(s): 'weight', 'bias'
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# (named IncompatibleKeys, as PyTorch's)
_IncompatibleKeys = namedtuple("IncompatibleKeys",  # type: ignore[name-match]
                               ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model, as :class:`torch.nn.Module`.

    Subclass it, call ``super().__init__()`` first, assign parameters and submodules as
    attributes (they are registered in that order) and define ``forward``. Calling the
    module runs its forward pre-hooks, ``forward`` and its forward hooks.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Module`. Backward hooks on modules are not
    implemented (use tensor hooks).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(4, 8)
    ...         self.fc2 = nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> _ = gk.manual_seed(0)
    >>> model = TwoLayer()
    >>> model(gk.ones(5, 4)).shape
    (5, 2)
    >>> [name for name, _ in model.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool
    # set in __init__ (with object.__setattr__, past the registering __setattr__)
    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Tensor | None]
    _non_persistent: set[str]
    _modules: OrderedDict[str, Any]  # a Module, or None: a declared but absent child
    _forward_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_hooks_with_kwargs: OrderedDict[int, bool]
    _forward_hooks_always_called: OrderedDict[int, bool]
    _forward_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_pre_hooks_with_kwargs: OrderedDict[int, bool]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        # hook id -> hook, and the ids registered with_kwargs / always_call (PyTorch's layout)
        for name in ("_forward_hooks", "_forward_hooks_with_kwargs",
                     "_forward_hooks_always_called", "_forward_pre_hooks",
                     "_forward_pre_hooks_with_kwargs"):
            object.__setattr__(self, name, OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; every subclass overrides it.

        Call the module (``module(x)``) rather than ``forward`` directly, so that hooks run.

        Parameters
        ----------
        *args, **kwargs
            The inputs, as the subclass defines them.

        Returns
        -------
        Any
            The output, usually a Tensor.

        Raises
        ------
        NotImplementedError
            If the subclass does not define ``forward``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.forward` (the same contract).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> class Affine(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scale = nn.Parameter(gk.tensor([2.0]))
        ...     def forward(self, x):
        ...         return x * self.scale + 1
        >>> Affine()(gk.tensor([1.0, 2.0]))
        tensor([3., 5.], grad_fn=<AddBackward0>)
        >>> nn.Module()(gk.tensor([1.0]))
        Traceback (most recent call last):
        ...
        NotImplementedError: Module [Module] is missing the required "forward" function
        """
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _get_name(self) -> str:
        return type(self).__name__

    # ---- hooks -------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Register a hook called before every ``forward``, as PyTorch's.

        Parameters
        ----------
        hook : callable
            ``hook(module, args)``; a non-None result replaces the positional arguments (a
            non-tuple becomes a 1-tuple). With ``with_kwargs``, ``hook(module, args, kwargs)``
            returns None or a new ``(args, kwargs)``.
        prepend : bool, default False
            Run this hook before the ones already registered.
        with_kwargs : bool, default False
            Pass (and let the hook replace) the keyword arguments too.

        Returns
        -------
        RemovableHandle
            ``handle.remove()`` unregisters the hook.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> m = nn.Identity()
        >>> h = m.register_forward_pre_hook(lambda mod, args: args[0] * 2)
        >>> m(gk.tensor([1., 2.]))
        tensor([2., 4.])
        >>> h.remove()
        >>> m(gk.tensor([1., 2.]))
        tensor([1., 2.])
        """
        handle = RemovableHandle(self._forward_pre_hooks,
                                 extra_dict=self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Register a hook called after every ``forward``, as PyTorch's.

        Parameters
        ----------
        hook : callable
            ``hook(module, args, output)`` (with ``with_kwargs``: ``hook(module, args,
            kwargs, output)``); a non-None result replaces the output.
        prepend : bool, default False
            Run this hook before the ones already registered.
        with_kwargs : bool, default False
            Pass the keyword arguments too.
        always_call : bool, default False
            Also run the hook when ``forward`` (or an earlier hook) raises.

        Returns
        -------
        RemovableHandle
            ``handle.remove()`` unregisters the hook.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> _ = gk.manual_seed(0)
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        >>> shapes = []
        >>> h = model[0].register_forward_hook(lambda mod, args, out: shapes.append(out.shape))
        >>> _ = model(gk.ones(2, 3))
        >>> shapes
        [(2, 4)]
        >>> h.remove()
        """
        handle = RemovableHandle(self._forward_hooks,
                                 extra_dict=[self._forward_hooks_with_kwargs,
                                             self._forward_hooks_always_called])
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """__call__ when hooks are registered: PyTorch's order and return-value rules."""
        result: Any = None
        called: set[int] = set()
        try:
            for hook_id, hook in tuple(self._forward_pre_hooks.items()):
                if hook_id in self._forward_pre_hooks_with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple "
                                               f"of (new_args, new_kwargs), but got {new}.")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in tuple(self._forward_hooks.items()):
                called.add(hook_id)
                new = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                if new is not None:
                    result = new
            return result
        except Exception:
            for hook_id, hook in tuple(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called and hook_id not in called:
                    try:  # its result is dropped: the error is raised again
                        self._run_forward_hook(hook_id, hook, args, kwargs, result)
                    except Exception as e:
                        warnings.warn("module forward hook with ``always_call=True`` raised an "
                                      "exception that was silenced as another error was "
                                      f"raised in forward: {e}", stacklevel=2)
            raise

    def _run_forward_hook(self, hook_id: int, hook: Callable[..., Any], args: tuple[Any, ...],
                          kwargs: dict[str, Any], result: Any) -> Any:
        if hook_id in self._forward_hooks_with_kwargs:
            return hook(self, args, kwargs, result)
        return hook(self, args, result)

    # ---- registration ----------------------------------------------------------------
    def _registries(self, name: str) -> tuple[OrderedDict[str, Parameter | None],
                                              OrderedDict[str, Tensor | None],
                                              OrderedDict[str, Module | None]]:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")
        return self._parameters, self._buffers, self._modules

    def _check_name(self, kind: str, name: object, registry: str) -> None:
        """PyTorch's checks on a name given to register_parameter/register_buffer/add_module."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in self.__dict__[registry]:
            raise KeyError(f"attribute '{name}' already exists")

    def __setattr__(self, name: str, value: Any) -> None:
        d: Any = self.__dict__  # (the registries are there once __init__ has run)
        params, buffers, modules = (d.get(k) for k in ("_parameters", "_buffers", "_modules"))
        if isinstance(value, Parameter):
            self._registries(name)
            buffers.pop(name, None)
            modules.pop(name, None)
            self._non_persistent.discard(name)
            params[name] = value
        elif isinstance(value, Module):
            self._registries(name)
            params.pop(name, None)
            buffers.pop(name, None)
            self._non_persistent.discard(name)
            modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter "
                                f"{name!r} (nn.Parameter or None expected)")
            params[name] = None
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module "
                                f"{name!r} (nn.Module or None expected)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer {name!r} "
                                "(Tensor or None expected)")
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name``, as PyTorch's.

        Assigning a Parameter as an attribute does the same; this also accepts ``None``, a
        declared but absent parameter (such as a Linear's bias with ``bias=False``).

        Parameters
        ----------
        name : str
            The attribute name (no ".", not empty, not an existing attribute).
        param : Parameter or None
            The parameter.

        Raises
        ------
        TypeError
            If ``param`` is neither a Parameter nor None, or ``name`` is not a string.
        KeyError
            If ``name`` is empty, contains "." or is already another attribute.
        AttributeError
            If called before ``Module.__init__``.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> m = nn.Module()
        >>> m.register_parameter("scale", nn.Parameter(gk.ones(2)))
        >>> [name for name, _ in m.named_parameters()]
        ['scale']
        """
        self._registries(name)
        self._check_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register a {type(param).__name__} as parameter {name!r} "
                            "(nn.Parameter or None expected)")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not trained, as PyTorch's.

        Buffers (BatchNorm's running statistics, a causal mask) move with ``to()``; only
        persistent ones are in ``state_dict()``.

        Parameters
        ----------
        name : str
            The attribute name.
        tensor : Tensor or None
            The buffer.
        persistent : bool, default True
            Whether the buffer is part of ``state_dict()``.

        Raises
        ------
        TypeError
            If ``tensor`` is neither a Tensor nor None.
        KeyError
            If ``name`` is empty, contains "." or is already another attribute.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> m = nn.Module()
        >>> m.register_buffer("count", gk.zeros(1))
        >>> m.register_buffer("mask", gk.ones(2, 2), persistent=False)
        >>> list(m.state_dict())
        ['count']
        """
        self._registries(name)
        self._check_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot register a {type(tensor).__name__} as buffer {name!r} "
                            "(Tensor or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``, as PyTorch's.

        ``register_module`` is the same method.

        Parameters
        ----------
        name : str
            The child's attribute name.
        module : Module or None
            The child.

        Raises
        ------
        TypeError
            If ``module`` is neither a Module nor None.
        KeyError
            If ``name`` is empty, contains "." or is already another attribute.

        Examples
        --------
        >>> from gradkit import nn
        >>> m = nn.Module()
        >>> m.add_module("fc", nn.Linear(2, 2))
        >>> m
        Module(
          (fc): Linear(in_features=2, out_features=2, bias=True)
        )
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._registries(name)
        self._check_name("module", name, "_modules")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """Return the submodule at the dotted path ``target`` ("" is the module itself).

        Parameters
        ----------
        target : str
            A dotted path such as ``"encoder.0"``.

        Returns
        -------
        Module
            The submodule.

        Raises
        ------
        AttributeError
            If a step of the path does not exist or is not a Module.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.get_submodule` (same semantics,
        AttributeError as there).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> model.get_submodule("1")
        ReLU()
        """
        mod = self
        for item in target.split(".") if target else ():
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """Return the parameter at the dotted path ``target``.

        Parameters
        ----------
        target : str
            A dotted path such as ``"0.weight"``.

        Returns
        -------
        Parameter
            The parameter.

        Raises
        ------
        AttributeError
            If the path does not exist or does not name a parameter.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.get_parameter` (same semantics,
        AttributeError as there).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3))
        >>> model.get_parameter("0.weight").shape
        (3, 2)
        """
        return self._get_registered(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str) -> Tensor:
        """Return the buffer at the dotted path ``target``.

        Parameters
        ----------
        target : str
            A dotted path such as ``"0.running_mean"``.

        Returns
        -------
        Tensor
            The buffer.

        Raises
        ------
        AttributeError
            If the path does not exist or does not name a buffer.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.get_buffer` (same semantics,
        AttributeError as there).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.BatchNorm1d(3))
        >>> model.get_buffer("0.running_var")
        tensor([1., 1., 1.])
        """
        return self._get_registered(target, "_buffers", "a buffer")

    def _get_registered(self, target: str, registry: str, kind: str) -> Any:
        """The parameter or buffer at dotted path `target`, as PyTorch's get_*."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in getattr(mod, registry):
            raise AttributeError(f"`{name}` is not {kind}")
        return getattr(mod, name)

    # ---- traversal -------------------------------------------------------------------
    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Iterate over ``(name, module)`` for this module and every submodule, depth first.

        Parameters
        ----------
        memo : set of Module, optional
            Modules already visited (used by the recursion).
        prefix : str, default ""
            Prepended to every name.
        remove_duplicate : bool, default True
            Yield a module reachable under two names only once.

        Returns
        -------
        iterator of (str, Module)
            The module itself comes first, named ``prefix``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.named_modules` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> [name for name, _ in model.named_modules()]
        ['', '0', '1']
        """
        memo = set() if memo is None else memo
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Iterate over this module and every submodule, depth first.

        Returns
        -------
        iterator of Module
            As ``named_modules()`` without the names.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.modules` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> [type(m).__name__ for m in model.modules()]
        ['Sequential', 'Linear', 'ReLU']
        """
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Iterate over ``(name, module)`` for the direct children, each module once.

        Returns
        -------
        iterator of (str, Module)

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.named_children` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> [name for name, _ in model.named_children()]
        ['0', '1']
        """
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """Iterate over the direct children, each module once.

        Returns
        -------
        iterator of Module

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.children` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> list(model.children())
        [Linear(in_features=2, out_features=3, bias=True), ReLU()]
        """
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen = set()
        modules: Iterable[tuple[str, Module]] = self.named_modules(
            prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, value in getattr(m, registry).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Iterate over ``(name, Parameter)`` pairs in registration order, as PyTorch's.

        Parameters
        ----------
        prefix : str, default ""
            Prepended to every name.
        recurse : bool, default True
            Include the submodules' parameters (otherwise only this module's own).
        remove_duplicate : bool, default True
            Yield a shared parameter only once.

        Returns
        -------
        iterator of (str, Parameter)

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        >>> [(name, p.shape) for name, p in model.named_parameters()]
        [('0.weight', (3, 2)), ('0.bias', (3,)), ('2.weight', (1, 3)), ('2.bias', (1,))]
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Iterate over the parameters, in registration order; pass them to an optimizer.

        Parameters
        ----------
        recurse : bool, default True
            Include the submodules' parameters.

        Returns
        -------
        iterator of Parameter

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.parameters` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        >>> sum(p.numel() for p in model.parameters())
        13
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Iterate over ``(name, buffer)`` pairs, persistent or not, in registration order.

        Parameters
        ----------
        prefix : str, default ""
            Prepended to every name.
        recurse : bool, default True
            Include the submodules' buffers.
        remove_duplicate : bool, default True
            Yield a shared buffer only once.

        Returns
        -------
        iterator of (str, Tensor)

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.named_buffers` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> [name for name, _ in nn.BatchNorm1d(3).named_buffers()]
        ['running_mean', 'running_var', 'num_batches_tracked']
        """
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Iterate over the buffers, persistent or not.

        Parameters
        ----------
        recurse : bool, default True
            Include the submodules' buffers.

        Returns
        -------
        iterator of Tensor

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.buffers` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> len(list(nn.BatchNorm1d(3).buffers()))
        3
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self: _M, fn: Callable[[Module], None]) -> _M:
        """Call ``fn(m)`` on every submodule and then on the module itself, as PyTorch's.

        Typically used to initialise weights.

        Parameters
        ----------
        fn : callable
            Called with each module.

        Returns
        -------
        Module
            ``self``.

        Examples
        --------
        >>> from gradkit import nn
        >>> def init_weights(m):
        ...     if isinstance(m, nn.Linear):
        ...         nn.init.zeros_(m.weight)
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU()).apply(init_weights)
        >>> model[0].weight
        Parameter containing:
        tensor([[0., 0.],
                [0., 0.]], requires_grad=True)
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients -----------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        """Set training mode on this module and every submodule, as PyTorch's.

        In training mode Dropout drops and BatchNorm uses (and updates) batch statistics.

        Parameters
        ----------
        mode : bool, default True
            True for training, False for evaluation.

        Returns
        -------
        Module
            ``self``.

        Raises
        ------
        ValueError
            If ``mode`` is not a bool.

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
        >>> model.train().training, model[1].training
        (True, True)
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self: _M) -> _M:
        """Set evaluation mode; the same as ``train(False)``.

        Returns
        -------
        Module
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.eval` (same semantics: it changes only
        layers that behave differently in training, such as Dropout and BatchNorm1d, and
        does not stop gradient recording; use :func:`gradkit.no_grad` for that).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
        >>> model.eval().training, model[1].training
        (False, False)
        """
        return self.train(False)

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        """Set ``requires_grad`` on every parameter (freeze the module with False).

        Parameters
        ----------
        requires_grad : bool, default True
            The new setting.

        Returns
        -------
        Module
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.requires_grad_` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> layer = nn.Linear(2, 2).requires_grad_(False)
        >>> layer.weight.requires_grad
        False
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients, as PyTorch's.

        Parameters
        ----------
        set_to_none : bool, default True
            Set each ``.grad`` to None (PyTorch's default); otherwise zero it in place.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> layer = nn.Linear(2, 1)
        >>> layer(gk.ones(1, 2)).sum().backward()
        >>> layer.bias.grad
        tensor([1.])
        >>> layer.zero_grad()
        >>> layer.bias.grad is None
        True
        """
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.detach().zero_()  # in place, as PyTorch's

    # ---- devices and dtypes -------------------------------------------------------------
    def to(self: _M, *args: DeviceLike | DTypeLike, device: DeviceLike = None,
           dtype: DTypeLike | None = None) -> _M:
        """Move every parameter and buffer (and gradient) to a device and/or cast it, in place.

        Accepts ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` and keywords. Only
        floating-point tensors are cast. The tensor objects stay the same, so an optimizer
        made before the move keeps working.

        Parameters
        ----------
        *args : device or dtype
            Positional device and/or dtype.
        device : str or Device, optional
            The target device ("cpu", "cuda", "cuda:1", ...).
        dtype : DType, optional
            The target floating-point dtype.

        Returns
        -------
        Module
            ``self``.

        Raises
        ------
        TypeError
            If ``dtype`` is not a floating-point dtype.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.to`. Differences: no ``non_blocking`` or
        ``memory_format``.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> layer = nn.Linear(2, 2).to(gk.float64)
        >>> layer.weight.dtype
        gradkit.float64
        >>> layer.to("cpu").weight.device
        'cpu'
        """
        for a in args:
            if _dt.is_dtype_like(a):
                dtype = a
            else:
                device = a  # type: ignore[assignment]  # (not a dtype: a device)
        backend = _backends.get_backend(device) if device is not None else None
        if dtype is not None:
            dtype = _dt.dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"Module.to only casts to floating-point dtypes, not {dtype}")
        for t in (*self.parameters(), *self.buffers()):
            _move_(t, backend, dtype)
            if t.grad is not None:
                _move_(t.grad, backend, dtype)
        return self

    def cpu(self: _M) -> _M:
        """Move every parameter and buffer to the CPU; the same as ``to("cpu")``.

        Returns
        -------
        Module
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.cpu` (same semantics: in place, keeping
        the same Parameter objects, so an optimizer made before still updates them).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Linear(2, 2).cpu().weight.device
        'cpu'
        """
        return self.to("cpu")

    def cuda(self: _M, index: int = 0) -> _M:
        """Move every parameter and buffer to GPU ``index``; the same as ``to(f"cuda:{index}")``.

        Parameters
        ----------
        index : int, default 0
            The GPU.

        Returns
        -------
        Module
            ``self``.

        Raises
        ------
        DeviceError
            If GPU ``index`` is not available here (no CuPy, or no such GPU).

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.cuda`. Differences: PyTorch's takes
        ``device=None``, an int or a :class:`torch.device`, None meaning the current CUDA
        device; this one takes a GPU index, 0 by default (use :meth:`to` for any device
        spec). As there, it works in place and keeps the same Parameter objects.

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Linear(2, 2).cuda().weight.device  # doctest: +SKIP
        'cuda:0'
        """
        return self.to(f"cuda:{index}")

    def float(self: _M) -> _M:
        """Cast every floating-point parameter and buffer to float32.

        Returns
        -------
        Module
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.float` (same semantics: integer and bool
        parameters and buffers, such as BatchNorm's ``num_batches_tracked``, keep their
        dtype).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Linear(2, 2).double().float().weight.dtype
        gradkit.float32
        """
        return self.to(dtype=_dt.float32)

    def double(self: _M) -> _M:
        """Cast every floating-point parameter and buffer to float64.

        Returns
        -------
        Module
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.double` (same semantics: integer and bool
        parameters and buffers, such as BatchNorm's ``num_batches_tracked``, keep their
        dtype).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Linear(2, 2).double().weight.dtype
        gradkit.float64
        """
        return self.to(dtype=_dt.float64)

    # ---- state dicts ---------------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Return the parameters and persistent buffers by PyTorch's key names, in PyTorch's order.

        The values share memory with the model (as PyTorch's do): save or copy them if
        training goes on.

        Parameters
        ----------
        prefix : str, default ""
            Prepended to every key.
        keep_vars : bool, default False
            Return the Parameters themselves instead of detached tensors.

        Returns
        -------
        OrderedDict of str to Tensor

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        >>> list(model.state_dict())
        ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var',
         '1.num_batches_tracked']
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        # A module reachable under two names is saved under both, as PyTorch's.
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip("."),
                                                remove_duplicate=False):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy a state dict into this model's parameters and buffers, as PyTorch's.

        Each value (a Tensor or a NumPy array) is cast to the existing tensor's dtype and
        device. Everything is checked before anything is written, so on error the model is
        left unchanged.

        Parameters
        ----------
        state_dict : mapping of str to Tensor or array
            As returned by ``state_dict()`` (or ``torch.nn.Module.state_dict()`` converted).
        strict : bool, default True
            Require exactly the model's keys.

        Returns
        -------
        IncompatibleKeys
            A named tuple ``(missing_keys, unexpected_keys)``.

        Raises
        ------
        StateDictError
            With ``strict``, on any missing or unexpected key, and in any mode on a shape
            mismatch; the message lists all of them.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> _ = gk.manual_seed(0)
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight == b.weight).all())
        True
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched: list[str] = []
        updates: list[tuple[Tensor, Any]] = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            shape = _shape_of(value)
            if shape != target.shape:
                mismatched.append(f"size mismatch for {key}: copying a value of shape {shape} "
                                  f"from the state dict, the shape in the model is "
                                  f"{target.shape}")
                continue
            updates.append((target, value))
        problems: list[str] = []
        if strict and missing:
            problems.append("Missing key(s): " + ", ".join(map(repr, missing)))
        if strict and unexpected:
            problems.append("Unexpected key(s): " + ", ".join(map(repr, unexpected)))
        problems += mismatched
        if problems:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                                 + "".join(f"\n\t{p}" for p in problems))
        # Convert everything first (a failure here still leaves the model untouched).
        arrays = [_converted(value, target) for target, value in updates]
        for (target, _), array in zip(updates, arrays):
            target._write(array)
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Return the text inside this module's parentheses in its repr; layers override it.

        Returns
        -------
        str

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Module.extra_repr` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Linear(2, 3).extra_repr()
        'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(m).replace("\n", "\n  ")
                       for name, m in self._modules.items()]
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        if not extra_lines and not child_lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"


# ---- helpers ------------------------------------------------------------------------------
def _move_(t: Tensor, backend: Backend | None, dtype: _dt.DType | None) -> None:
    """Move/cast tensor `t` in place (its storage is replaced; the object stays)."""
    if backend is not None and t.backend is not backend:
        t._rebind(backend.transfer(t.array, t.backend), backend)
    if dtype is not None and t.dtype.is_floating_point and t.dtype != dtype:
        t._rebind(t.backend.xp.astype(t.array, t.backend.dtypes[dtype.name]))


def _shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else np.shape(value)


def _converted(value: Any, target: Tensor) -> Any:
    """`value` as an array on target's device with target's dtype (never aliasing it)."""
    b, name = target.backend, target.dtype.name
    src: _backends.Backend | None
    if isinstance(value, Tensor):
        src, array = value.backend, value.array
    else:
        src = _backends.backend_of_array(value)
        array = value
        if src is None:
            src, array = _backends.get_backend("cpu"), np.asarray(value)
    if src is not b:
        array = b.transfer(array, src)
    if b.dtype_name(array.dtype) != name:
        array = b.xp.astype(array, b.dtypes[name])
    return array
