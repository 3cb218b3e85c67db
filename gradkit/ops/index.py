"""Indexing: x[index] (a gather, whose gradient scatter-adds) and x[index] = v (recorded
in the graph as SetItem when x or v is part of it)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from gradkit.autograd import Function, ShapeError, on_device
from gradkit.backends import common_backend
from gradkit.debug import checks_bounds
from gradkit.tensor import Tensor, tensor

from ._common import _SCALARS, _const, public

if TYPE_CHECKING:

    from gradkit._typing import Array, Grads


def _index(x: Tensor, index):
    """An index for x's array: Tensors/lists become arrays on x's backend, and a tuple
    without Ellipsis gets a trailing one (the standard wants every axis addressed).
    Returns (index, advanced) where advanced says integer arrays are involved.

    Integer arrays may be negative (from the end, as NumPy's and PyTorch's). In debug
    mode their bounds are checked here on every backend; otherwise NumPy raises by
    itself and a GPU's indexing wraps (see docs/architecture.md).
    """
    items = index if isinstance(index, tuple) else (index,)
    out, masks, advanced = [], set(), False
    for item in items:
        if isinstance(item, Tensor):
            if item.backend is not x.backend:
                item = item.to(x.backend)
            kind = item.dtype.kind
            item = item.array
        elif isinstance(item, (list, range)) or type(item).__module__.startswith("numpy"):
            if isinstance(item, range):  # dlogits[range(n), Yb]: an integer array
                item = list(item)
            host = tensor(item, device=x.backend)
            kind, item = host.dtype.kind, host.array
        elif item is None or item is Ellipsis or isinstance(item, (int, slice)):
            out.append(item)
            continue
        else:
            raise IndexError(f"unsupported index {item!r} of type {type(item).__name__}; use "
                             "ints, slices, None, Ellipsis, integer or boolean arrays")
        if kind == "b":
            masks.add(len(out))
        elif kind in "iu":
            advanced = True
        else:
            raise IndexError(f"index arrays must be integer or bool, not {kind!r}")
        out.append(item)
    if masks and len(out) == 1:
        return out[0], False
    if not any(item is Ellipsis for item in out):
        out.append(Ellipsis)
    if any(isinstance(item, slice) for item in out):
        _clamp_slices(out, x.shape, masks)
    if advanced:
        from gradkit.debug import check_index_bounds, is_debug

        if is_debug():
            for k, axis in _axes_addressed(out, len(x.shape), masks).items():
                if hasattr(out[k], "dtype") and k not in masks:
                    n = x.shape[axis]
                    check_index_bounds(x.backend, out[k], -n, n, "getitem: indices",
                                       f"axis {axis} of size {n}")
    return tuple(out), advanced


def _axes_addressed(items, ndim, masks):
    """{k: the first axis of x that items[k] addresses}, for every item but the Ellipsis
    (which must be among the items). A boolean mask (its position in `masks`) addresses
    as many axes as it has, None none, anything else one."""
    def width(k):
        return 0 if items[k] is None else items[k].ndim if k in masks else 1

    cut = next(k for k, item in enumerate(items) if item is Ellipsis)
    positions, axis = {}, 0
    for k in range(cut):  # before the Ellipsis, axes count from the left
        positions[k] = axis
        axis += width(k)
    axis = ndim
    for k in range(len(items) - 1, cut, -1):  # after it, from the right
        axis -= width(k)
        positions[k] = axis
    return positions


def _clamp_slices(items, shape, masks):
    """Clamp slice bounds into the axis, in place, as NumPy does (the standard leaves
    out-of-range bounds unspecified, and array-api-strict refuses them)."""
    for k, axis in _axes_addressed(items, len(shape), masks).items():
        item = items[k]
        if isinstance(item, slice) and (item.step or 1) > 0 and 0 <= axis < len(shape):
            n = shape[axis]
            start, stop = item.start, item.stop
            if start is not None and not -n <= start <= n:
                start = n if start > 0 else None
            if stop is not None and not -n <= stop <= n:
                stop = n if stop > 0 else 0
            items[k] = slice(start, stop, item.step)


class GetItem(Function):
    view = True  # (forward says per call: False for integer arrays and masks)

    def forward(self, x: Array, index: Any, advanced: bool) -> Array:
        self.in_shape, self.index, self.advanced = x.shape, index, advanced
        # Ints, slices, None and Ellipsis select a view; integer arrays and masks copy.
        self.view = isinstance(index, tuple) and not any(hasattr(i, "dtype") for i in index)
        return self.backend.getitem(x, index) if advanced else x[index]

    def backward(self, g: Tensor) -> Grads:
        return ScatterAdd.apply(g, shape=self.in_shape, index=self.index,
                                advanced=self.advanced)


class ScatterAdd(Function):
    """zeros(shape) with `values` added at `index`: the gradient of x[index].

    Repeated integer indices accumulate (the backend's scatter-add); slices, ints and
    boolean masks address each element once, so a plain assignment does.
    """

    def forward(self, values: Array, shape: tuple[int, ...], index: Any, advanced: bool) -> Array:
        self.index, self.advanced = index, advanced
        if advanced:
            return self.backend.scatter_add(shape, index, values)
        out = self.xp.zeros(shape, dtype=values.dtype, device=self.backend.native_device)
        if isinstance(index, tuple) and any(i is None for i in index):
            # The standard's setitem takes no new axes (None): drop them from both sides.
            index = tuple(i for i in index if i is not None)
            values = self.xp.reshape(values, out[index].shape)
        out[index] = values
        return out

    def backward(self, g: Tensor) -> Grads:
        return GetItem.apply(g, index=self.index, advanced=self.advanced)


class SetItem(Function):
    """x with x[index] replaced by v, out of place: what `x[index] = v` records in the
    graph (PyTorch's index_put). x's gradient is g with the written region zeroed; v's
    is g[index], summed down if v was broadcast into the region."""

    broadcasts = True

    def forward(self, x: Array, v: Array, index: Any, advanced: bool) -> Array:
        self.index, self.advanced = index, advanced
        out = self.xp.asarray(x, copy=True)
        self.backend.setitem(out, index, v)
        return out

    def backward(self, g: Tensor) -> Grads:
        gx = SetItem.apply(g, 0.0, index=self.index, advanced=self.advanced) \
            if self.needs[0] else None
        gv = GetItem.apply(g, index=self.index, advanced=self.advanced) \
            if self.needs[1] else None
        return gx, gv


def getitem(x: Tensor, index: Any) -> Tensor:
    idx, advanced = _index(x, index)
    if advanced and not checks_bounds(x.backend):
        return _gather_in_range(x, idx)
    return GetItem.apply(x, index=idx, advanced=advanced)


@on_device
def _gather_in_range(x, items):
    """x[items] on a device where bounds go unchecked (a GPU, strict; not in debug mode).

    CuPy wraps an out-of-range integer index around, which reads a plausible wrong
    row. Checking would read the indices on the host (a synchronisation), so instead
    each such position of the result is filled with a value nobody mistakes for data:
    NaN for floats, the dtype's minimum for integers (False for bool), and gets no
    gradient. Debug mode checks and raises IndexError instead (gradkit/debug.py).
    """
    xp = x.backend.xp
    items = list(items)
    arrays = [k for k, i in enumerate(items) if hasattr(i, "dtype")]
    if any(xp.isdtype(items[k].dtype, "bool") for k in arrays):  # masks: read on the host
        return GetItem.apply(x, index=tuple(items), advanced=True)
    axes = _axes_addressed(items, x.ndim, set())
    valid = None
    for k in arrays:
        n = x.shape[axes[k]]
        ok = (items[k] >= -n) & (items[k] < n)
        items[k] = xp.where(ok, items[k], 0)
        valid = ok if valid is None else valid & ok
    out = GetItem.apply(x, index=tuple(items), advanced=True)
    assert valid is not None  # (an integer array is among the items)
    # Where NumPy puts the broadcast index dims in the result: in place of the advanced
    # indices (integer arrays and ints) if they are adjacent, else first.
    advanced = [k for k, i in enumerate(items) if k in arrays or isinstance(i, int)]
    start = 0
    if advanced == list(range(advanced[0], advanced[-1] + 1)):
        consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
        start = sum(x.ndim - consumed if i is Ellipsis else 1 for i in items[:advanced[0]])
    shape = (1,) * start + tuple(valid.shape)
    shape += (1,) * (out.ndim - len(shape))
    kind = out.dtype.kind
    fill = math.nan if kind == "f" else False if kind == "b" else xp.iinfo(out.array.dtype).min
    return where(_const(x, xp.reshape(valid, shape)), out, fill)


class SortResult(NamedTuple):
    """(values, indices), as torch.return_types.sort / topk."""

    values: Tensor
    indices: Tensor


@public()
def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of `input` along `dim` at the positions in `index`.

    For ``dim=1``: ``out[i][j] = input[i][index[i][j]]``. The gradient is scattered back
    to the gathered positions (repeated indices add up).

    Parameters
    ----------
    input : Tensor
        The source tensor.
    dim : int
        The dimension to index along.
    index : Tensor
        Integer indices, with as many dimensions as `input`; the result has its shape.

    Returns
    -------
    Tensor
        Same shape as `index`, `input`'s dtype.

    Raises
    ------
    ShapeError
        If `index` and `input` have different numbers of dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.gather` (same semantics). Picking each row's
    target log-probability, ``logp.gather(1, y.unsqueeze(1))``, is its classic use.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = gk.gather(x, 1, gk.tensor([[0, 0], [1, 0]]))
    >>> y
    tensor([[1., 1.],
            [4., 3.]], grad_fn=<GetItemBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([[2., 0.],
            [1., 1.]])
    """
    xp, dev = input.backend.xp, input.backend.native_device
    if index.ndim != input.ndim:
        raise ShapeError(f"gather: index of shape {index.shape} needs as many dims as the "
                         f"input of shape {input.shape}")
    dim = dim % input.ndim
    grids = []  # for every other dim, its positions, shaped to broadcast with index
    for a, n in enumerate(index.shape):
        if a == dim:
            grids.append(index)
        else:
            shape = tuple(n if b == a else 1 for b in range(index.ndim))
            grids.append(_const(input, xp.reshape(xp.arange(n, device=dev), shape)))
    return getitem(input, tuple(grids))


@public()
@on_device
def argsort(input: Tensor, dim: int = -1, descending: bool = False,
            stable: bool = False) -> Tensor:
    """The indices that sort `input` along `dim`.

    The sort is always stable (equal elements keep their order), whatever `stable` says.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int, optional
        The dimension to sort along. Default: -1.
    descending : bool, optional
        Largest first. Default: False.
    stable : bool, optional
        Accepted for compatibility; the sort is stable anyway.

    Returns
    -------
    Tensor
        int64 indices of `input`'s shape, outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.argsort` (same semantics, always stable).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([3.0, 1.0, 2.0])
    >>> x.argsort()
    tensor([1, 2, 0])
    >>> x.argsort(descending=True)
    tensor([0, 2, 1])
    """
    xp, x = input.backend.xp, input.array
    if input.dtype.kind == "b":  # the standard sorts numbers only
        x = xp.astype(x, xp.int8)
    if not descending:
        return _const(input, xp.argsort(x, axis=dim, stable=True))
    if input.dtype.kind != "f":  # ~x reverses the order of ints, unsigned ints and bools
        return _const(input, xp.argsort(xp.bitwise_invert(x), axis=dim, stable=True))
    # Floats: -x, then NaNs (which sort last) moved first, as PyTorch's largest-first
    order = xp.argsort(-x, axis=dim, stable=True)
    is_number = xp.astype(~xp.isnan(xp.take_along_axis(x, order, axis=dim)), xp.int8)
    return _const(input, xp.take_along_axis(order, xp.argsort(is_number, axis=dim, stable=True),
                                            axis=dim))


@public()
def sort(input: Tensor, dim: int = -1, descending: bool = False,
         stable: bool = False) -> SortResult:
    """Sort `input` along `dim`: the named tuple ``(values, indices)``.

    The values are gathered from `input`, so they are in the graph: each gradient goes
    back to the element's original position.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int, optional
        The dimension to sort along. Default: -1.
    descending : bool, optional
        Largest first. Default: False.
    stable : bool, optional
        Accepted for compatibility; the sort is always stable.

    Returns
    -------
    SortResult
        Named tuple ``(values, indices)``; the indices are int64 and outside the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.sort` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([3.0, 1.0, 2.0], requires_grad=True)
    >>> values, indices = x.sort()
    >>> values
    tensor([1., 2., 3.], grad_fn=<GetItemBackward0>)
    >>> indices
    tensor([1, 2, 0])
    """
    indices = argsort(input, dim, descending)
    return SortResult(gather(input, dim, indices), indices)


@public()
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> SortResult:
    """The `k` largest (or smallest) elements along `dim`: the named tuple ``(values, indices)``.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    k : int
        How many elements, ``0 <= k <= input.shape[dim]``.
    dim : int, optional
        The dimension to search. Default: -1.
    largest : bool, optional
        The largest (True) or the smallest (False). Default: True.
    sorted : bool, optional
        Accepted for compatibility; the results always come sorted (largest first, or
        smallest first with ``largest=False``).

    Returns
    -------
    SortResult
        Named tuple ``(values, indices)``; the values are in the graph, the int64 indices
        are not.

    Raises
    ------
    IndexError
        If `k` is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.topk` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    >>> x.topk(2)
    SortResult(values=tensor([[5., 3.],
           [6., 4.]]), indices=tensor([[1, 2],
           [2, 0]]))
    >>> gk.topk(x, 1, dim=0, largest=False).indices
    tensor([[0, 1, 0]])
    """
    n = input.shape[dim]
    if not 0 <= k <= n:
        raise IndexError(f"topk: k={k} is out of range for dim {dim} of size {n} "
                         f"(shape {input.shape})")
    order = argsort(input, dim, descending=largest)
    lead = (slice(None),) * (dim % input.ndim)
    indices = _const(input, order.array[lead + (slice(0, k), Ellipsis)])
    return SortResult(gather(input, dim, indices), indices)


def setitem_(x: Tensor, index: Any, value: Any) -> Tensor:
    """`x[index] = value`, in place (see Tensor._in_place): recorded as a SetItem node
    while x or value is part of the graph, a plain write otherwise. The value takes x's
    dtype, as PyTorch's."""
    idx, advanced = _index(x, index)
    if isinstance(value, Tensor):
        common_backend("setitem", (x.backend, value.backend))
        if value.array.dtype != x.array.dtype:
            value = value.astype(x.dtype)
    elif type(value) not in _SCALARS:
        value = tensor(value, dtype=x.dtype, device=x.backend)

    def write():
        x.backend.setitem(x.array, idx, value.array if isinstance(value, Tensor) else value)

    return x._in_place(value, "in-place setitem", write,
                       lambda old: SetItem.apply(old, value, index=idx, advanced=advanced))


from .elementwise import where  # noqa: E402  (elementwise builds on this module)
