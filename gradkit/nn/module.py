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
    """A leaf tensor that a Module registers as trainable (requires_grad=True).

    `Parameter(t)` shares `t`'s array (no copy), as PyTorch's does.
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
    """A state dict that does not fit a model: lists every missing key, unexpected key
    and shape mismatch at once. A RuntimeError like PyTorch's (and a KeyError and a
    ValueError, so either `except` catches it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# (named IncompatibleKeys, as PyTorch's)
_IncompatibleKeys = namedtuple("IncompatibleKeys",  # type: ignore[name-match]
                               ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model; subclass it and call super().__init__() first."""

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
        """Call `hook(module, args)` before every forward; a non-None result replaces the
        positional arguments (a non-tuple becomes a 1-tuple). With `with_kwargs`,
        `hook(module, args, kwargs)` returns None or a new (args, kwargs)."""
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
        """Call `hook(module, args, output)` (with `with_kwargs`: `hook(module, args,
        kwargs, output)`) after every forward; a non-None result replaces the output.
        With `always_call` the hook also runs when forward (or an earlier hook) raises."""
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
        """Register `param` (or None: a declared but absent parameter, such as bias=False)."""
        self._registries(name)
        self._check_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register a {type(param).__name__} as parameter {name!r} "
                            "(nn.Parameter or None expected)")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not trained (BatchNorm's running statistics,
        a causal mask). It moves with `to()`; only persistent buffers are in `state_dict()`."""
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
        """Register `module` (or None) as the child `name`; PyTorch's name rules."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._registries(name)
        self._check_name("module", name, "_modules")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path `target` ("" is self), as PyTorch's."""
        mod = self
        for item in target.split(".") if target else ():
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        return self._get_registered(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str) -> Tensor:
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
        """(name, module) for this module and every submodule, depth first; a module
        reachable twice comes once unless remove_duplicate=False."""
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
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
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
        """(name, Parameter) pairs, in registration order; a shared parameter once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(name, buffer) pairs, persistent or not, in registration order."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self: _M, fn: Callable[[Module], None]) -> _M:
        """Call fn(m) on every submodule and then on self (as PyTorch's); returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients -----------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) here and, through
        each child's own train(), below; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        """Set requires_grad on every parameter (freeze with False); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (PyTorch's default) or zero them."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.detach().zero_()  # in place, as PyTorch's

    # ---- devices and dtypes -------------------------------------------------------------
    def to(self: _M, *args: DeviceLike | DTypeLike, device: DeviceLike = None,
           dtype: DTypeLike | None = None) -> _M:
        """Move every parameter and buffer (and gradient) to `device` and/or cast the
        floating-point ones to `dtype`, in place; returns self.

        Accepts `to(device)`, `to(dtype)`, `to(device, dtype)` and keywords. The tensor
        objects stay the same, so an optimizer made before the move keeps working.
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
        return self.to("cpu")

    def cuda(self: _M, index: int = 0) -> _M:
        return self.to(f"cuda:{index}")

    def float(self: _M) -> _M:
        return self.to(dtype=_dt.float32)

    def double(self: _M) -> _M:
        return self.to(dtype=_dt.float64)

    # ---- state dicts ---------------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by PyTorch's key names, in PyTorch's order.

        The values share memory with the model (as PyTorch's do): save or copy them if
        training goes on. `keep_vars=True` returns the Parameters themselves.
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
        """Copy `state_dict` (name -> Tensor or NumPy array) into this model's parameters
        and buffers, each cast to the existing tensor's dtype and device.

        Everything is checked before anything is written: with `strict`, any missing or
        unexpected key, and in any mode any shape mismatch, raises a StateDictError that
        lists all of them, and the model is left unchanged. Returns (missing_keys,
        unexpected_keys) like PyTorch.
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
        """The text inside this module's parentheses in its repr (layers override it)."""
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
