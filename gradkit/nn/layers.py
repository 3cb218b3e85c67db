"""The layers: containers, linear, activations, normalisation, embedding and losses.

Constructors, defaults, parameter names, shapes and initial distributions are
PyTorch's, so a state dict moves between the two for the same architecture. Every layer
takes `device=` and `dtype=` and draws its initial values from that device's seeded
generator (gk.manual_seed makes them repeatable).
"""

from __future__ import annotations

import math
import operator
import warnings
from collections import OrderedDict
from collections.abc import (
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from typing import TYPE_CHECKING, Any, TypeVar

from gradkit import creation as _creation
from gradkit import dtypes as _dt
from gradkit.autograd import ShapeError, no_grad, on_device
from gradkit.tensor import Tensor, tensor

from . import functional as F
from . import init
from .module import Module, Parameter

if TYPE_CHECKING:
    from gradkit._typing import DeviceLike, DTypeLike, Shape

_S = TypeVar("_S", bound="Sequential")
_L = TypeVar("_L", bound="ModuleList")

__all__ = ["Sequential", "ModuleList", "ModuleDict", "Identity", "Linear", "ReLU", "Tanh",
           "Sigmoid", "GELU", "Softmax", "LogSoftmax", "Dropout", "Flatten", "BatchNorm1d",
           "LayerNorm", "Embedding", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "BCEWithLogitsLoss"]


def _param(shape: Shape, device: DeviceLike, dtype: DTypeLike | None,
           fill: float = 0.0) -> Parameter:
    dtype = _dt.float32 if dtype is None else _dt.dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"parameters must be floating point, not {dtype}")
    return Parameter(_creation.full(shape, fill, dtype=dtype, device=device))


# ---- containers ---------------------------------------------------------------------
def _index(container: Module, idx: int) -> int:
    """`idx` as a non-negative position in `container`, or PyTorch's IndexError."""
    n, idx = len(container), operator.index(idx)  # type: ignore[arg-type]  # (containers)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for a {type(container).__name__} of "
                         f"length {n}")
    return idx % n


def _reregister(container: Module, named: Iterable[tuple[str, Module | None]]) -> None:
    """Replace every child of `container` by the (name, module) pairs `named`, in order."""
    for name in list(container._modules):
        delattr(container, name)
    for name, m in named:
        container.add_module(name, m)


class Sequential(Module):
    """Apply modules in order, as :class:`torch.nn.Sequential`.

    Children are named "0", "1", ... (or by an OrderedDict's keys). It behaves as a list of
    modules: indexing, slices (a Sequential), assignment, ``del`` and ``pop`` (the rest
    renumbered "0", "1", ...), ``append``, ``insert``, ``extend``, ``+`` and ``*``.

    Parameters
    ----------
    *args : Module, or one OrderedDict of str to Module
        The modules, in the order they are applied.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Sequential`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> model(gk.ones(3, 4)).shape
    (3, 2)
    >>> model[1]
    ReLU()
    >>> len(model), len(model[:2])
    (3, 2)
    """

    def __init__(self, *args: Any) -> None:  # modules, or one OrderedDict name -> module
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input: Tensor) -> Tensor:
        """Pass ``input`` through every module in turn.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            The last module's output.
        """
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx: int | slice) -> Any:  # a Module, or a Sequential of a slice
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        return items[_index(self, idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, list(self._modules)[_index(self, idx)], module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(self, idx)]]):
            delattr(self, key)
        _reregister(self, [(str(i), m) for i, m in enumerate(self._modules.values())])

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self: _S, other: Sequential) -> _S:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return self.extend(other)

    def __mul__(self, other: int) -> Sequential:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and "
                            f"{type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        return Sequential(*(list(self) * other))

    __rmul__ = __mul__

    def __imul__(self: _S, other: int) -> _S:
        product = self * other
        _reregister(self, product._modules.items())
        return self

    def pop(self, idx: int) -> Module:
        """Remove and return the module at ``idx``; the rest are renumbered.

        Parameters
        ----------
        idx : int or slice
            Its position (negative counts from the end), or a slice of positions.

        Returns
        -------
        Module
            The module, or for a slice a Sequential of the modules removed.

        Raises
        ------
        IndexError
            If ``idx`` is out of range.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Sequential.pop` (same semantics: a slice pops
        several, returned as a Sequential).

        Examples
        --------
        >>> from gradkit import nn
        >>> model = nn.Sequential(nn.ReLU(), nn.Tanh())
        >>> model.pop(0)
        ReLU()
        >>> model
        Sequential(
          (0): Tanh()
        )
        """
        module = self[idx]
        del self[idx]
        return module

    def append(self: _S, module: Module) -> _S:
        """Add ``module`` at the end.

        Parameters
        ----------
        module : Module

        Returns
        -------
        Sequential
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Sequential.append` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> len(nn.Sequential(nn.ReLU()).append(nn.Tanh()))
        2
        """
        self.add_module(str(len(self)), module)
        return self

    def insert(self: _S, index: int, module: Module) -> _S:
        """Insert ``module`` before position ``index``; the modules are renumbered.

        Parameters
        ----------
        index : int
            The position, from ``-len(self)`` to ``len(self)``.
        module : Module

        Returns
        -------
        Sequential
            ``self``.

        Raises
        ------
        AssertionError
            If ``module`` is not a Module (as PyTorch's).
        IndexError
            If ``index`` is out of range.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Sequential.insert` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.Sequential(nn.ReLU()).insert(0, nn.Tanh())
        Sequential(
          (0): Tanh()
          (1): ReLU()
        )
        """
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        modules = list(self)
        modules.insert(index, module)
        _reregister(self, [(str(i), m) for i, m in enumerate(modules)])
        return self

    def extend(self: _S, sequential: Iterable[Module]) -> _S:
        """Append every module of ``sequential``.

        Parameters
        ----------
        sequential : iterable of Module

        Returns
        -------
        Sequential
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Sequential.extend` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> len(nn.Sequential(nn.ReLU()).extend([nn.Tanh(), nn.Sigmoid()]))
        3
        """
        for m in sequential:
            self.append(m)
        return self


class ModuleList(Module):
    """Hold submodules in a list, as :class:`torch.nn.ModuleList`.

    The modules are registered as "0", "1", ..., so their parameters are the list's.
    There is no ``forward``: iterate in your own. Indexing, slices (a ModuleList),
    assignment, ``del`` and ``pop`` (the rest renumbered), ``append``, ``insert``,
    ``extend``, ``+`` and ``+=`` work as PyTorch's; the repr folds repeated blocks.

    Parameters
    ----------
    modules : iterable of Module, optional
        The initial modules.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.ModuleList`.

    Examples
    --------
    >>> from gradkit import nn
    >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    >>> layers
    ModuleList(
      (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
    )
    >>> len(list(layers.parameters()))
    6
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:  # a Module, or a ModuleList of a slice
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(self, idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_index(self, idx)), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(self, idx)]]):
            delattr(self, key)
        _reregister(self, [(str(i), m) for i, m in enumerate(self._modules.values())])

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self: _L, modules: Iterable[Module]) -> _L:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def pop(self, idx: int) -> Module:
        """Remove and return the module at ``idx``; the rest are renumbered.

        Parameters
        ----------
        idx : int or slice
            Its position (negative counts from the end), or a slice of positions.

        Returns
        -------
        Module
            The module, or for a slice a ModuleList of the modules removed.

        Raises
        ------
        IndexError
            If ``idx`` is out of range.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleList.pop` (same semantics: a slice pops
        several, returned as a ModuleList).

        Examples
        --------
        >>> from gradkit import nn
        >>> nn.ModuleList([nn.ReLU(), nn.Tanh()]).pop(-1)
        Tanh()
        """
        module = self[idx]
        del self[idx]
        return module

    def append(self: _L, module: Module) -> _L:
        """Add ``module`` at the end.

        Parameters
        ----------
        module : Module

        Returns
        -------
        ModuleList
            ``self``.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleList.append` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> len(nn.ModuleList().append(nn.ReLU()))
        1
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self: _L, modules: Iterable[Module]) -> _L:
        """Append every module of ``modules``.

        Parameters
        ----------
        modules : iterable of Module

        Returns
        -------
        ModuleList
            ``self``.

        Raises
        ------
        TypeError
            If ``modules`` is not iterable.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleList.extend` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> len(nn.ModuleList().extend([nn.ReLU(), nn.Tanh()]))
        2
        """
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``, as ``list.insert``; renumber the rest.

        Parameters
        ----------
        index : int
        module : Module

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleList.insert`. Differences: a negative
        or too large `index` works as in ``list.insert``; PyTorch's raises KeyError for a
        negative one and files one past the end under a gap (``insert(5, m)`` into two
        modules makes ``m[2]`` fail).

        Examples
        --------
        >>> from gradkit import nn
        >>> layers = nn.ModuleList([nn.ReLU()])
        >>> layers.insert(0, nn.Tanh())
        >>> list(layers)
        [Tanh(), ReLU()]
        """
        modules = list(self)
        modules.insert(index, module)
        _reregister(self, [(str(i), m) for i, m in enumerate(modules)])

    def __repr__(self) -> str:
        blocks: list[list[Any]] = []  # [first index, last index, repr] of runs of equal reprs
        for i, m in enumerate(self):
            r = repr(m)
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        if not blocks:
            return f"{self._get_name()}()"
        lines = [(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}")
                 .replace("\n", "\n  ") for a, b, r in blocks]
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Hold submodules by name, in insertion order, as :class:`torch.nn.ModuleDict`.

    Supports ``d[key]``, ``d[key] = m``, ``del``, ``in``, ``len``, iteration over keys,
    ``keys()``, ``values()``, ``items()``, ``update``, ``pop`` and ``clear``. Each entry is
    also an attribute (``d.wte``), so a key may not shadow a method.

    Parameters
    ----------
    modules : mapping or iterable of (str, Module), optional
        The initial entries.

    Raises
    ------
    KeyError
        If a key is empty, contains "." or names an existing attribute.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.ModuleDict`.

    Examples
    --------
    >>> from gradkit import nn
    >>> acts = nn.ModuleDict({"relu": nn.ReLU(), "tanh": nn.Tanh()})
    >>> acts["tanh"]
    Tanh()
    >>> list(acts), "relu" in acts
    (['relu', 'tanh'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
                 ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> KeysView[str]:
        """Return the keys, in insertion order.

        Returns
        -------
        KeysView of str

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.keys` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> list(nn.ModuleDict({"a": nn.ReLU()}).keys())
        ['a']
        """
        return self._modules.keys()

    def values(self) -> ValuesView[Module]:
        """Return the modules, in insertion order.

        Returns
        -------
        ValuesView of Module

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.values` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> list(nn.ModuleDict({"a": nn.ReLU()}).values())
        [ReLU()]
        """
        return self._modules.values()

    def items(self) -> ItemsView[str, Module]:
        """Return the (key, module) pairs, in insertion order.

        Returns
        -------
        ItemsView of (str, Module)

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.items` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> list(nn.ModuleDict({"a": nn.ReLU()}).items())
        [('a', ReLU())]
        """
        return self._modules.items()

    def clear(self) -> None:
        """Remove every entry.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.clear` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> d = nn.ModuleDict({"a": nn.ReLU()})
        >>> d.clear()
        >>> len(d)
        0
        """
        _reregister(self, [])

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``.

        Parameters
        ----------
        key : str

        Returns
        -------
        Module

        Raises
        ------
        KeyError
            If ``key`` is not present.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.pop` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> d = nn.ModuleDict({"a": nn.ReLU()})
        >>> d.pop("a"), len(d)
        (ReLU(), 0)
        """
        module = self[key]
        del self[key]
        return module

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace entries from a mapping (in its order) or from (key, module) pairs.

        Parameters
        ----------
        modules : mapping or iterable of (str, Module)

        Raises
        ------
        TypeError
            If ``modules`` or one of its elements is not iterable.
        ValueError
            If a pair does not have length 2.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.ModuleDict.update` (same semantics).

        Examples
        --------
        >>> from gradkit import nn
        >>> d = nn.ModuleDict()
        >>> d.update([("a", nn.ReLU()), ("b", nn.Tanh())])
        >>> list(d)
        ['a', 'b']
        """
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleDict.update should be called with an iterable of key/value "
                            "pairs, but got " + type(modules).__name__)
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        for j, pair in enumerate(modules):
            if not isinstance(pair, Iterable):
                raise TypeError(f"ModuleDict update sequence element #{j} should be Iterable; "
                                f"is {type(pair).__name__}")
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length "
                                 f"{len(pair)}; 2 is required")
            self[pair[0]] = pair[1]


class Identity(Module):
    """Return the input unchanged, as :class:`torch.nn.Identity`.

    Parameters
    ----------
    *args, **kwargs
        Accepted and ignored, as PyTorch's.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.Identity(54, unused="x")(gk.tensor([1., 2.]))
    tensor([1., 2.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        """Return ``input`` itself.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            ``input``.
        """
        return input


# ---- linear ----------------------------------------------------------------------------
class Linear(Module):
    """Apply an affine map ``y = x @ weight.T + bias``, as :class:`torch.nn.Linear`.

    ``weight`` has shape (out_features, in_features) and ``bias`` (out_features,); both
    are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default
    (``kaiming_uniform_`` with ``a=sqrt(5)``).

    Parameters
    ----------
    in_features : int
        Size of each input sample (the last axis).
    out_features : int
        Size of each output sample.
    bias : bool, default True
        Whether to learn an additive bias.
    device : str, optional
        Where the parameters live (default: the CPU).
    dtype : DType, optional
        A floating-point dtype (default float32).

    Raises
    ------
    TypeError
        If ``dtype`` is not a floating-point dtype.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Linear`. Input shape (*, in_features), output
    shape (*, out_features).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> layer = nn.Linear(3, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    >>> layer(gk.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: DeviceLike = None, dtype: DTypeLike | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _param((out_features, in_features), device, dtype)
        if bias:
            self.bias = _param((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw ``weight`` and ``bias`` again from PyTorch's default distribution.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> layer = nn.Linear(1, 1)
        >>> layer.reset_parameters()
        >>> bool(abs(layer.weight).item() <= 1)
        True
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        """Compute ``input @ weight.T + bias``.

        Parameters
        ----------
        input : Tensor
            Shape ``(*, in_features)``.

        Returns
        -------
        Tensor
            Shape ``(*, out_features)``.
        """
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# ---- activations ------------------------------------------------------------------------
class ReLU(Module):
    """Apply ``max(x, 0)`` elementwise, as :class:`torch.nn.ReLU`.

    Parameters
    ----------
    inplace : bool, default False
        Accepted for PyTorch compatibility; the input is never overwritten.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.ReLU`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.ReLU()(gk.tensor([-1., 0., 2.]))
    tensor([0., 0., 2.])
    """
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``max(input, 0)``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.relu(input)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """Apply the hyperbolic tangent elementwise, as :class:`torch.nn.Tanh`.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Tanh`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.Tanh()(gk.tensor([0.]))
    tensor([0.])
    """
    def forward(self, input: Tensor) -> Tensor:
        """Apply ``tanh(input)``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.tanh(input)


class Sigmoid(Module):
    """Apply ``1 / (1 + exp(-x))`` elementwise, as :class:`torch.nn.Sigmoid`.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Sigmoid`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.Sigmoid()(gk.tensor([0.]))
    tensor([0.5])
    """
    def forward(self, input: Tensor) -> Tensor:
        """Apply ``sigmoid(input)``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.sigmoid(input)


class GELU(Module):
    """Apply the Gaussian error linear unit ``x * Phi(x)`` elementwise, as :class:`torch.nn.GELU`.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        Compute Phi exactly (via erf) or with PyTorch's tanh approximation.

    Raises
    ------
    ValueError
        If ``approximate`` is neither "none" nor "tanh".

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.GELU`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.GELU()(gk.tensor([0., 1.]))
    tensor([0.       , 0.8413447])
    """
    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', not {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        """Apply GELU to ``input``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return f"approximate={self.approximate!r}"


def _softmax_dim(name: str, ndim: int) -> int:
    """PyTorch's legacy choice for Softmax(dim=None), with its deprecation warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Rescale along ``dim`` to probabilities that sum to 1, as :class:`torch.nn.Softmax`.

    Parameters
    ----------
    dim : int, optional
        The axis to normalise. None makes PyTorch's deprecated implicit choice, with its
        warning.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Softmax`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.Softmax(dim=1)(gk.tensor([[1., 1.]]))
    tensor([[0.5, 0.5]])
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        """Apply softmax along ``dim``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        dim = _softmax_dim("softmax", input.ndim) if self.dim is None else self.dim
        return F.softmax(input, dim=dim)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Compute ``log(softmax(x))`` along ``dim``, stably, as :class:`torch.nn.LogSoftmax`.

    Parameters
    ----------
    dim : int, optional
        The axis to normalise. None makes PyTorch's deprecated implicit choice, with its
        warning.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.LogSoftmax`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.LogSoftmax(dim=0)(gk.tensor([0., 0.]))
    tensor([-0.6931472, -0.6931472])
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        """Apply log-softmax along ``dim``.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        dim = _softmax_dim("log_softmax", input.ndim) if self.dim is None else self.dim
        return F.log_softmax(input, dim=dim)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return f"dim={self.dim}"


class Dropout(Module):
    """Zero elements with probability ``p`` while training, as :class:`torch.nn.Dropout`.

    Inverted dropout: the kept elements are scaled by 1/(1-p), so evaluation (``eval()``)
    is the identity and needs no rescaling.

    Parameters
    ----------
    p : float, default 0.5
        The probability of zeroing an element.
    inplace : bool, default False
        Accepted for PyTorch compatibility; the input is never overwritten.

    Raises
    ------
    ValueError
        If ``p`` is not in [0, 1].

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Dropout`. The mask comes from the device's seeded
    generator (``gk.manual_seed``).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> drop = nn.Dropout(p=0.5)
    >>> y = drop(gk.ones(8))
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    >>> drop.eval()(gk.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply dropout when training, the identity otherwise.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Flatten axes ``start_dim`` to ``end_dim`` (inclusive) into one, as :class:`torch.nn.Flatten`.

    Parameters
    ----------
    start_dim : int, default 1
        First axis to flatten (the batch axis 0 is kept by default).
    end_dim : int, default -1
        Last axis to flatten.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Flatten`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.Flatten()(gk.ones(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        """Flatten ``input``'s axes ``start_dim`` to ``end_dim``.

        Parameters
        ----------
        input : Tensor

        Returns
        -------
        Tensor
            A 0-d input gives one element.

        Raises
        ------
        IndexError
            If a dimension is out of range.
        RuntimeError
            If ``start_dim`` comes after ``end_dim``.
        """
        shape = input.shape
        start, end = _dim(self.start_dim, len(shape)), _dim(self.end_dim, len(shape))
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if not shape:
            return input.reshape(1)  # a 0-d tensor flattens to one element, as PyTorch's
        return input.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def _dim(dim: int, ndim: int) -> int:
    """`dim` wrapped into range for an ndim-dimensional tensor, or PyTorch's IndexError."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


# ---- normalisation ---------------------------------------------------------------------------
class BatchNorm1d(Module):
    """Normalise (N, C) or (N, C, L) input per channel over the batch.

    In training mode each channel is normalised with the batch mean and (biased) variance,
    and ``running_mean`` / ``running_var`` (unbiased) are updated with ``momentum``, on the
    device and outside the graph. In evaluation mode the running statistics are used.

    Parameters
    ----------
    num_features : int
        The number of channels C.
    eps : float, default 1e-5
        Added to the variance for numerical stability.
    momentum : float or None, default 0.1
        Weight of the new batch statistic in the running average; None gives a
        cumulative average.
    affine : bool, default True
        Learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
    track_running_stats : bool, default True
        Keep running statistics (buffers); without them evaluation uses batch statistics.
    device : str, optional
        Where parameters and buffers live.
    dtype : DType, optional
        A floating-point dtype (default float32).
    bias : bool, default True
        Keyword only: with ``affine``, whether to learn ``bias``.

    Raises
    ------
    ShapeError
        On forward, if the input is not (N, C) or (N, C, L) with C = num_features.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.BatchNorm1d`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> bn(gk.tensor([[1., 2.], [3., 6.]]))
    tensor([[-0.999995 , -0.9999988],
            [ 0.999995 ,  0.9999988]], grad_fn=<AddBackward0>)
    >>> bn.running_mean, bn.running_var
    (tensor([0.2, 0.4]), tensor([1.1, 1.7]))
    >>> bn.eval()(gk.tensor([[0.2, 0.4]]))
    tensor([[0., 0.]], grad_fn=<AddBackward0>)
    """

    # buffers (None without track_running_stats, and then not read as tensors)
    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: DeviceLike = None,
                 dtype: DTypeLike | None = None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.has_bias = affine and bias
        if affine:
            self.weight = _param((num_features,), device, dtype, 1.0)
            if bias:
                self.bias = _param((num_features,), device, dtype, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            dt = _dt.float32 if dtype is None else dtype
            self.register_buffer("running_mean", _creation.zeros(num_features, dtype=dt,
                                                                 device=device))
            self.register_buffer("running_var", _creation.ones(num_features, dtype=dt,
                                                               device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=_dt.int64,
                                                               device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Reset the running statistics: mean zeros, variance ones, ``num_batches_tracked`` 0.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.BatchNorm1d.reset_running_stats` (same
        semantics; weight and bias are left as they are).

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> bn = nn.BatchNorm1d(1)
        >>> _ = bn(gk.tensor([[1.], [3.]]))
        >>> bn.reset_running_stats()
        >>> bn.running_mean, bn.num_batches_tracked
        (tensor([0.]), tensor(0))
        """
        if self.track_running_stats:
            for t in (self.running_mean, self.running_var, self.num_batches_tracked):
                init.constant_(t, 1 if t is self.running_var else 0)

    @on_device
    def forward(self, input: Tensor) -> Tensor:
        """Normalise ``input`` (and, when training, update the running statistics).

        Parameters
        ----------
        input : Tensor
            Shape (N, C) or (N, C, L).

        Returns
        -------
        Tensor
            Same shape as ``input``.

        Raises
        ------
        ShapeError
            If ``input`` is not (N, C) or (N, C, L) with C = num_features.
        """
        if input.ndim not in (2, 3) or input.shape[1] != self.num_features:
            raise ShapeError(f"BatchNorm1d({self.num_features}): expected input of shape "
                             f"(N, {self.num_features}) or (N, {self.num_features}, L), "
                             f"got {input.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._write(self.num_batches_tracked.array + 1)
            if self.momentum is None:  # cumulative moving average, on the device
                xp = self.running_mean.backend.xp
                count = xp.astype(self.num_batches_tracked.array, self.running_mean.array.dtype)
                factor = 1.0 / count
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.has_bias}, "
                f"track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes, as :class:`torch.nn.LayerNorm`.

    Each sample is shifted to mean 0 and scaled to (biased) variance 1 over those axes,
    then multiplied by ``weight`` (ones) and shifted by ``bias`` (zeros).

    Parameters
    ----------
    normalized_shape : int or sequence of int
        The shape of the trailing axes to normalise.
    eps : float, default 1e-5
        Added to the variance for numerical stability.
    elementwise_affine : bool, default True
        Learn ``weight`` and ``bias`` of shape ``normalized_shape``.
    bias : bool, default True
        With ``elementwise_affine``, whether to learn ``bias``.
    device : str, optional
        Where the parameters live.
    dtype : DType, optional
        A floating-point dtype (default float32).

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.LayerNorm`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> ln = nn.LayerNorm(2)
    >>> ln(gk.tensor([[1., 3.]]))
    tensor([[-0.999995,  0.999995]], grad_fn=<AddBackward0>)
    >>> ln
    LayerNorm((2,), eps=1e-05, elementwise_affine=True, bias=True)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: DeviceLike = None,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = _param(self.normalized_shape, device, dtype, 1.0)
            if bias:
                self.bias = _param(self.normalized_shape, device, dtype, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        """Normalise ``input`` over its trailing ``normalized_shape`` axes.

        Parameters
        ----------
        input : Tensor
            The input.

        Returns
        -------
        Tensor
            Same shape as ``input``.
        """
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


# ---- embedding ------------------------------------------------------------------------------
class Embedding(Module):
    """Look up rows of a table of ``num_embeddings`` vectors, as :class:`torch.nn.Embedding`.

    ``weight`` (num_embeddings, embedding_dim) starts from N(0, 1); the ``padding_idx``
    row starts at zero and receives no gradient.

    Parameters
    ----------
    num_embeddings : int
        The number of rows (vocabulary size).
    embedding_dim : int
        The size of each vector.
    padding_idx : int, optional
        A row that stays zero and receives no gradient (negative counts from the end).
    max_norm : float, optional
        PyTorch's; only None is implemented.
    norm_type : float, default 2.0
        PyTorch's; unused without ``max_norm``.
    scale_grad_by_freq : bool, default False
        PyTorch's; only False is implemented.
    sparse : bool, default False
        PyTorch's; only False is implemented.
    _weight : Tensor, optional
        Use this (num_embeddings, embedding_dim) tensor as the weight, shared (used by
        ``from_pretrained``).
    _freeze : bool, default False
        Make the weight not require grad.
    device : str, optional
        Where the weight lives.
    dtype : DType, optional
        A floating-point dtype (default float32).

    Raises
    ------
    NotImplementedError
        If ``max_norm``, ``scale_grad_by_freq`` or ``sparse`` is not its default.
    ValueError
        If ``padding_idx`` is out of range.
    ShapeError
        If ``_weight`` has the wrong shape.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.Embedding`. Differences: max_norm,
    scale_grad_by_freq and sparse raise rather than give other results than PyTorch's.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> emb = nn.Embedding(10, 3)
    >>> emb(gk.tensor([[1, 2], [3, 4]])).shape
    (2, 2, 3)
    >>> nn.Embedding(4, 2, padding_idx=0).weight[0]
    tensor([0., 0.], grad_fn=<GetItemBackward0>)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device: DeviceLike = None,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        for name, value, default in (("max_norm", max_norm, None),
                                     ("scale_grad_by_freq", scale_grad_by_freq, False),
                                     ("sparse", sparse, False)):
            if value != default:
                raise NotImplementedError(f"Embedding({name}={value!r}) is not implemented")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = _param((num_embeddings, embedding_dim), device, dtype)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError(f"Embedding: _weight has shape {tuple(_weight.shape)}, "
                                 f"expected ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)
        if _freeze:
            self.weight.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """Create an Embedding whose weight is ``embeddings`` (shared), frozen by default.

        Parameters
        ----------
        embeddings : Tensor
            The (num_embeddings, embedding_dim) table.
        freeze : bool, default True
            Make the weight not require grad.
        padding_idx : int, optional
            As for :class:`Embedding`.
        max_norm : float, optional
            As for :class:`Embedding` (only None).
        norm_type : float, default 2.0
            As for :class:`Embedding`.
        scale_grad_by_freq : bool, default False
            As for :class:`Embedding` (only False).
        sparse : bool, default False
            As for :class:`Embedding` (only False).

        Returns
        -------
        Embedding

        Raises
        ------
        ShapeError
            If ``embeddings`` is not 2-D.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Embedding.from_pretrained`. Differences:
        `max_norm`, `scale_grad_by_freq` and `sparse` accept only their defaults (as for
        :class:`Embedding`: other values raise NotImplementedError), and a table that is not
        2-D raises ShapeError (PyTorch: AssertionError). As there, the weight shares
        ``embeddings``' storage.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> emb = nn.Embedding.from_pretrained(gk.tensor([[0., 1.], [2., 3.]]))
        >>> emb(gk.tensor([1]))
        tensor([[2., 3.]])
        >>> emb.weight.requires_grad
        False
        """
        if embeddings.ndim != 2:
            raise ShapeError(f"Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def reset_parameters(self) -> None:
        """Draw ``weight`` again from N(0, 1), with the ``padding_idx`` row zero.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.nn.Embedding.reset_parameters` (same distribution;
        the numbers come from gradkit's generator, so they differ from PyTorch's for the
        same seed).

        Examples
        --------
        >>> from gradkit import nn
        >>> emb = nn.Embedding(3, 2, padding_idx=1)
        >>> emb.reset_parameters()
        >>> emb.weight[1].tolist()
        [0.0, 0.0]
        """
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        """Return the rows of ``weight`` at the integer indices ``input``.

        Parameters
        ----------
        input : Tensor
            Integer indices in [0, num_embeddings).

        Returns
        -------
        Tensor
            Shape ``input.shape + (embedding_dim,)``.
        """
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        """Return this layer's constructor arguments, as shown in its repr.

        Returns
        -------
        str
        """
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s


# ---- losses -------------------------------------------------------------------------------------
def _reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's legacy size_average/reduce arguments turned into `reduction`, with its warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", stacklevel=3)
    return reduction


class CrossEntropyLoss(Module):
    """Cross-entropy of logits against class indices or class probabilities.

    Parameters
    ----------
    weight : Tensor, optional
        A per-class weight of shape (C,) (a buffer).
    ignore_index : int, default -100
        A class index whose targets contribute nothing.
    size_average, reduce : bool, optional
        PyTorch's deprecated arguments, turned into ``reduction`` with its warning.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.
    label_smoothing : float, default 0.0
        Mix the target with the uniform distribution by this amount.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.CrossEntropyLoss`. See the matching function in
    ``nn.functional`` for the shapes.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.CrossEntropyLoss()(gk.tensor([[0., 0.]]), gk.tensor([0]))
    tensor(0.6931472)
    """
    weight: Tensor | None  # a buffer

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = _reduction(size_average, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the loss of ``input`` against ``target``.

        Parameters
        ----------
        input : Tensor
            Logits, (N, C) or (N, C, d...).
        target : Tensor
            Integer classes (N) or (N, d...), or class probabilities shaped as ``input``.

        Returns
        -------
        Tensor
            A scalar, or the elementwise losses with ``reduction="none"``.
        """
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    """Negative log-likelihood of class indices given log-probabilities.

    Parameters
    ----------
    weight : Tensor, optional
        A per-class weight of shape (C,) (a buffer).
    ignore_index : int, default -100
        A class index whose targets contribute nothing.
    size_average, reduce : bool, optional
        PyTorch's deprecated arguments, turned into ``reduction`` with its warning.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.NLLLoss`. See the matching function in
    ``nn.functional`` for the shapes.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.NLLLoss()(gk.tensor([[-1., -2.]]), gk.tensor([1]))
    tensor(2.)
    """
    weight: Tensor | None  # a buffer

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the loss of ``input`` against ``target``.

        Parameters
        ----------
        input : Tensor
            Log-probabilities, (N, C) or (N, C, d...).
        target : Tensor
            Integer classes, (N) or (N, d...).

        Returns
        -------
        Tensor
            A scalar, or the elementwise losses with ``reduction="none"``.
        """
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error.

    Parameters
    ----------
    size_average, reduce : bool, optional
        PyTorch's deprecated arguments, turned into ``reduction`` with its warning.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.MSELoss`. See the matching function in
    ``nn.functional`` for the shapes.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.MSELoss()(gk.tensor([1., 2.]), gk.tensor([1., 4.]))
    tensor(2.)
    """
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the loss of ``input`` against ``target``.

        Parameters
        ----------
        input : Tensor
            The prediction.
        target : Tensor
            The target.

        Returns
        -------
        Tensor
            A scalar, or the elementwise losses with ``reduction="none"``.
        """
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of logits, stable for any logit.

    Parameters
    ----------
    weight : Tensor, optional
        A weight broadcast against the per-element losses (a buffer).
    size_average, reduce : bool, optional
        PyTorch's deprecated arguments, turned into ``reduction`` with its warning.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.
    pos_weight : Tensor, optional
        A weight of the positive examples, per class (a buffer).

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.BCEWithLogitsLoss`. See the matching function in
    ``nn.functional`` for the shapes.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.BCEWithLogitsLoss()(gk.tensor([0.]), gk.tensor([1.]))
    tensor(0.6931472)
    """
    weight: Tensor | None  # buffers
    pos_weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the loss of ``input`` against ``target``.

        Parameters
        ----------
        input : Tensor
            Logits.
        target : Tensor
            Targets in [0, 1], shaped as ``input``.

        Returns
        -------
        Tensor
            A scalar, or the elementwise losses with ``reduction="none"``.
        """
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
