"""gradkit's public surface, enumerated once: what the API reference (docs/api/) must list
and what tests/test_docstrings.py checks (test support, not a test module).

`public_names()` gives {dotted name: object} for every public name: the `gk.*` functions,
classes and dtypes; Tensor's methods and properties; `nn`, `nn.functional`, `nn.init`,
`nn.utils`, `optim`, `optim.lr_scheduler`, `datasets`, `viz`, `diagnostics`, `distributed`,
`nn.parallel`, `data.DistributedSampler`, `cuda`, the backends'
public surface (`gradkit.backends`), the testing helpers (`gradkit.testing`,
`gradkit.testing.op_registry`, the plugin `pytest_gradkit`), and the public methods of
each public class (those a subclass defines anew, not the overrides of a gradkit base
class's method, such as a layer's `forward`: the base class documents the contract).
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import gradkit as gk
import gradkit.backends
import gradkit.data
import gradkit.diagnostics
import gradkit.distributed
import gradkit.nn.functional
import gradkit.nn.init
import gradkit.nn.parallel
import gradkit.nn.utils
import gradkit.optim.lr_scheduler
import gradkit.testing
import gradkit.testing.op_registry

# gk.* names that are not part of the API: imports the package module makes for itself
_NOT_API = {"TYPE_CHECKING", "annotations", "builtins"}

# the op registry's public surface for users (its draw helpers, `case` and `family` build
# the registry itself)
_OP_REGISTRY = ["OpCase", "CASES", "BY_NAME", "QUICK", "check_forward", "check_gradcheck",
                "check_gradgradcheck", "host_inputs", "device_inputs"]

# module -> the names it exports, for modules without __all__
_MODULES: dict[str, list[str] | None] = {
    "gradkit.nn": None,  # __all__
    "gradkit.nn.functional": None,
    "gradkit.nn.init": None,
    "gradkit.nn.utils": None,
    "gradkit.optim": None,
    "gradkit.optim.lr_scheduler": None,
    "gradkit.datasets": None,
    "gradkit.viz": None,
    "gradkit.diagnostics": None,
    "gradkit.data": ["DistributedSampler"],  # (DataLoader is gk.DataLoader)
    "gradkit.distributed": None,
    "gradkit.nn.parallel": None,
    "gradkit.jit": ["CompiledStep"],  # (compile and CompileError are gk.*)
    "gradkit.cuda": ["is_available", "device_count", "synchronize", "manual_seed",
                     "manual_seed_all"],
    "gradkit.backends": None,
    "gradkit.testing": None,
    "gradkit.testing.op_registry": _OP_REGISTRY,
    "pytest_gradkit": ["backend_params", "selected_backends", "device", "backend"],
}


def _module(name: str) -> types.ModuleType:
    import importlib

    return importlib.import_module(name)


def _exports(modname: str) -> list[str]:
    names = _MODULES.get(modname)
    if names is None:
        names = list(_module(modname).__all__)
    return names


def _overrides_base(cls: type, name: str) -> bool:
    """Whether `cls.name` overrides a method of a gradkit base class of cls."""
    for base in cls.__mro__[1:]:
        if name in vars(base) and (base.__module__ or "").startswith("gradkit"):
            return True
    return False


def _members(prefix: str, cls: type) -> dict[str, Any]:
    """Public methods and properties defined in cls itself (not inherited overrides)."""
    out = {}
    for name, attr in vars(cls).items():
        if name.startswith("_") or _overrides_base(cls, name):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, (property, types.MemberDescriptorType)):
            out[f"{prefix}.{name}"] = attr
    return out


def is_data(obj: Any) -> bool:
    """Module-level data (dtypes, constants, default_generator): documented as data, with
    no docstring of its own to check."""
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, property)
                or isinstance(obj, types.MemberDescriptorType) or is_fixture(obj))


def is_fixture(obj: Any) -> bool:
    return hasattr(obj, "_get_wrapped_function") or hasattr(obj, "_pytestfixturefunction")


def _add(out: dict[str, Any], prefix: str, name: str, obj: Any) -> None:
    dotted = f"{prefix}.{name}"
    out[dotted] = obj
    if inspect.isclass(obj) and (obj.__module__ or "").startswith(("gradkit", "pytest_gradkit")):
        owner = f"{obj.__module__}.{obj.__qualname__}"
        # a class exported in two places (gk.Generator and gradkit.backends.Generator)
        # has its members enumerated under the first name only
        if owner not in _SEEN_CLASSES:
            _SEEN_CLASSES[owner] = dotted
            out.update(_members(dotted, obj))


_SEEN_CLASSES: dict[str, str] = {}


def public_names() -> dict[str, Any]:
    """{dotted name: object} for every public name (see the module docstring)."""
    _SEEN_CLASSES.clear()
    out: dict[str, Any] = {}
    for name in sorted(dir(gk)):
        if name.startswith("_") or name in _NOT_API:
            continue
        obj = getattr(gk, name)
        if isinstance(obj, types.ModuleType):
            continue
        _add(out, "gradkit", name, obj)
    for modname in _MODULES:
        module = _module(modname)
        for name in _exports(modname):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            _add(out, modname, name, obj)
    return dict(sorted(out.items()))


if __name__ == "__main__":
    names = public_names()
    for n, o in names.items():
        print(n, type(o).__name__)
    print(len(names))
