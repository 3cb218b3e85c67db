"""Shape ops: reshape/view, permutations, broadcasting and its gradient (sum_to),
squeeze/unsqueeze, concatenation and stacking. Reshape, permutations and broadcasting
return views of their input (they share its storage and version counter)."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any

from gradkit import dtypes as _dt
from gradkit.autograd import Function, ShapeError

from ._common import _axes, _dim, public

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gradkit._typing import Array, Dims, Grads, Shape
    from gradkit.tensor import Tensor


class Reshape(Function):
    """The same elements in another shape: a view of x when its memory layout allows
    (then it shares x's storage and version counter), else a copy; view=True (x.view)
    refuses to copy, as PyTorch's view does."""

    view = True

    def forward(self, x: Array, shape: tuple[int, ...], must_view: bool = False) -> Array:
        self.in_shape = x.shape
        try:
            return self.xp.reshape(x, shape, copy=False)
        except (ValueError, AttributeError):  # the layout needs a copy (after a transpose)
            if must_view:
                raise ShapeError(
                    f"view: a tensor of shape {tuple(x.shape)} whose memory layout does not "
                    f"allow shape {tuple(shape)} without a copy (it was transposed or "
                    "sliced); use .reshape(...), or .contiguous() first, which copy") from None
            self.view = False  # a copy shares nothing with x
            return self.xp.reshape(x, shape, copy=True)

    def backward(self, g: Tensor) -> Grads:
        return reshape(g, self.in_shape)


class PermuteDims(Function):
    view = True

    def forward(self, x: Array, axes: tuple[int, ...]) -> Array:
        self.axes = axes
        return self.xp.permute_dims(x, axes)

    def backward(self, g: Tensor) -> Grads:
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return permute_dims(g, tuple(inverse))


class BroadcastTo(Function):
    view = True

    def forward(self, x: Array, shape: tuple[int, ...]) -> Array:
        self.in_shape = x.shape
        return self.xp.broadcast_to(x, shape)

    def backward(self, g: Tensor) -> Grads:
        return sum_to(g, self.in_shape)


class SumTo(Function):
    """Sum a broadcast array back down to `shape`: the gradient of broadcasting."""

    def forward(self, x: Array, shape: tuple[int, ...]) -> Array:
        self.in_shape = x.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
        y = self.xp.sum(x, axis=axes, keepdims=True) if axes else x
        return self.xp.reshape(y, shape)

    def backward(self, g: Tensor) -> Grads:
        return broadcast_to(g, self.in_shape)


class Concat(Function):
    def forward(self, *arrays: Array, axis: int) -> Array:
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concat(arrays, axis=axis)

    def backward(self, g: Tensor) -> Grads:
        grads, start = [], 0
        axis = self.axis % g.ndim
        for size, need in zip(self.sizes, self.needs):
            index = (slice(None),) * axis + (slice(start, start + size),)
            grads.append(getitem(g, index) if need else None)
            start += size
        return tuple(grads)


# ---- public functions: PyTorch's signatures, Array API spellings as aliases ---------------
def _shape_args(shape: Sequence[Any]) -> tuple[int, ...]:
    """A shape given as separate ints, one tuple/list, or one int."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


@public(method=False)
def reshape(input: Tensor, shape: Shape, *, _must_view: bool = False) -> Tensor:
    """The same elements in a new shape; a view of `input` when its memory layout allows.

    The result shares `input`'s storage when possible (after a transpose it cannot, and
    a copy is made); use :meth:`Tensor.view` to insist on a view. One entry of `shape`
    may be -1, inferred from the others.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    shape : int or tuple of int
        The new shape, with as many elements as `input`.

    Returns
    -------
    Tensor
        The reshaped tensor; its gradient is reshaped back.

    Raises
    ------
    ShapeError
        If the element counts differ (or -1 cannot be inferred).

    Notes
    -----
    PyTorch equivalent: :func:`torch.reshape` (same semantics). As a method,
    ``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both work.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], requires_grad=True)
    >>> gk.reshape(x, (2, 3))
    tensor([[1., 2., 3.],
            [4., 5., 6.]], grad_fn=<ReshapeBackward0>)
    >>> x.reshape(3, -1).shape
    (3, 2)
    """
    x = input
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if shape == x.shape:
        return x
    if -1 in shape and x.numel() == 0:
        raise ShapeError(f"cannot reshape an empty tensor of shape {x.shape} to {shape}")
    known = math.prod(s for s in shape if s != -1)
    n = x.numel()
    if (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)):
        raise ShapeError(f"cannot reshape a tensor of shape {x.shape} ({n} elements) "
                         f"to {shape}")
    return Reshape.apply(x, shape=shape, must_view=_must_view)


@public("reshape", function=False)
def _reshape_method(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """``x.reshape(*shape)``: the same elements in a new shape (a view when possible).

    The shape may be given as separate ints or one tuple; one entry may be -1. See
    :func:`gradkit.reshape`.

    Parameters
    ----------
    *shape : int or tuple of int
        The new shape, as separate ints or one tuple or list, with as many elements as
        `x`; one entry may be -1, inferred from the others.

    Returns
    -------
    Tensor
        The reshaped tensor, sharing `x`'s storage unless its layout needs a copy (after
        a transpose); its gradient is reshaped back.

    Raises
    ------
    ShapeError
        If the element counts differ (or -1 cannot be inferred).

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.reshape` (same semantics: whether the result
    is a view or a copy is not to be relied on; use :meth:`view` for a view).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.arange(6.0)
    >>> x.reshape(2, 3).shape
    (2, 3)
    >>> x.reshape((-1, 2)).shape
    (3, 2)
    """
    return reshape(self, _shape_args(shape))


@public("view", function=False)
def _view_method(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """``x.view(*shape)``: a view of `x`'s storage in a new shape.

    Unlike :meth:`reshape` it never copies: where the memory layout needs a copy (after a
    transpose) it raises ``ShapeError``, as PyTorch's ``view`` does, so that writes through
    the view always reach `x`. Use ``.contiguous().view(...)`` or ``.reshape(...)`` there.

    Parameters
    ----------
    *shape : int or tuple of int
        The new shape, as separate ints or one tuple or list, with as many elements as
        `x`; one entry may be -1, inferred from the others.

    Returns
    -------
    Tensor
        A view: it shares `x`'s storage and version counter, so in-place writes to either
        are seen by both (and by autograd); its gradient is reshaped back.

    Raises
    ------
    ShapeError
        If the element counts differ, or the layout would need a copy.

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.view` with a shape. Differences: PyTorch's
    ``x.view(dtype)``, which reinterprets the bytes as another dtype, is not supported.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.zeros(2, 3)
    >>> v = x.view(6)
    >>> v[0] = 1.0
    >>> x
    tensor([[1., 0., 0.],
            [0., 0., 0.]])
    >>> x.t().view(6)
    Traceback (most recent call last):
        ...
    gradkit.autograd.ShapeError: view: a tensor of shape (3, 2) ...
    """
    return reshape(self, _shape_args(shape), _must_view=True)


@public("permute_dims", method=False)
def permute_dims(input: Tensor, axes: Sequence[int]) -> Tensor:
    """The dimensions of `input` in the order `axes` (the Array API's name for permute).

    Parameters
    ----------
    input : Tensor
        The input tensor.
    axes : sequence of int
        A permutation of ``range(input.ndim)`` (negative dims count from the end).

    Returns
    -------
    Tensor
        A view with ``shape[i] == input.shape[axes[i]]``.

    Raises
    ------
    ShapeError
        If `axes` is not a permutation of the dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.permute` (same semantics). A function only; the
    method is :meth:`Tensor.permute`.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.permute_dims(gk.zeros(2, 3, 4), (2, 0, 1)).shape
    (4, 2, 3)
    """
    x = input
    axes = tuple(a % builtins.max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: dims {axes} are not a permutation of a tensor of "
                         f"{x.ndim} dimensions (shape {x.shape})")
    return PermuteDims.apply(x, axes=axes)


@public()
def permute(input: Tensor, *dims: int | Sequence[int]) -> Tensor:
    """Reorder every dimension of `input`.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    *dims : int or sequence of int
        A permutation of the dimensions, as separate ints or one tuple.

    Returns
    -------
    Tensor
        A view with ``shape[i] == input.shape[dims[i]]``; its gradient is permuted back.

    Raises
    ------
    ShapeError
        If `dims` is not a permutation of the dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.permute` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.zeros(2, 3, 4)
    >>> x.permute(2, 0, 1).shape
    (4, 2, 3)
    >>> gk.permute(x, (1, 0, 2)).shape
    (3, 2, 4)
    """
    return permute_dims(input, _shape_args(dims))


@public("transpose", "swapaxes", "swapdims")
def transpose(input: Tensor, *dims: int) -> Tensor:
    """Swap two dimensions. ``swapaxes`` and ``swapdims`` are aliases.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim0, dim1 : int
        The two dimensions to swap.

    Returns
    -------
    Tensor
        A view of `input` (`input` itself if ``dim0 == dim1``).

    Raises
    ------
    TypeError
        If not exactly two ints are given (NumPy's ``transpose(axes)`` is
        :func:`permute` here).
    ShapeError
        If a dimension is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.transpose` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    >>> x.transpose(0, 1)
    tensor([[1., 4.],
            [2., 5.],
            [3., 6.]], grad_fn=<PermuteDimsBackward0>)
    >>> gk.zeros(2, 3, 4).transpose(-2, -1).shape
    (2, 4, 3)
    """
    if len(dims) != 2 or not all(isinstance(d, int) for d in dims):
        raise TypeError(f"transpose(dim0, dim1) swaps two dims; got {dims!r}. For a "
                        "permutation of every dim use x.permute(*dims) or gk.permute_dims")
    for d in dims:
        if not -input.ndim <= d < builtins.max(input.ndim, 1):
            raise ShapeError(f"transpose: dim {d} is out of range for a tensor of "
                             f"{input.ndim} dimensions (shape {input.shape})")
    axes = list(range(input.ndim))
    d0, d1 = (d % builtins.max(input.ndim, 1) for d in dims)
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return input if d0 == d1 else PermuteDims.apply(input, axes=tuple(axes))


@public()
def t(input: Tensor) -> Tensor:
    """Transpose of a matrix; a 0-d or 1-d tensor is returned unchanged.

    Parameters
    ----------
    input : Tensor
        A tensor of at most 2 dimensions.

    Returns
    -------
    Tensor
        A view, ``input.transpose(0, 1)`` for a matrix.

    Raises
    ------
    ShapeError
        If `input` has more than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.t` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([[1, 2], [3, 4]]).t()
    tensor([[1, 3],
            [2, 4]])
    """
    if input.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dims, not shape {input.shape}; "
                         "use transpose(dim0, dim1)")
    return input if input.ndim < 2 else transpose(input, 0, 1)


@public(method=False)
def matrix_transpose(input: Tensor) -> Tensor:
    """Swap the last two dimensions (a batch of matrices transposed), like ``x.mT``.

    Parameters
    ----------
    input : Tensor
        A tensor of at least 2 dimensions.

    Returns
    -------
    Tensor
        A view of shape ``(..., n, m)`` for `input` of shape ``(..., m, n)``.

    Raises
    ------
    ShapeError
        If `input` has fewer than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :attr:`torch.Tensor.mT` (same semantics; the Array API's name).
    A function only.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.matrix_transpose(gk.zeros(5, 2, 3)).shape
    (5, 3, 2)
    """
    if input.ndim < 2:
        raise ShapeError(f"matrix_transpose needs at least 2 dimensions, not shape "
                         f"{input.shape}")
    return transpose(input, -2, -1)


@public()
def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    """A view of `input` broadcast to `shape`.

    Dimensions of size 1 are repeated (without copying) and new leading dimensions are
    added. The gradient is summed back down to `input`'s shape.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    shape : sequence of int
        The target shape; each dimension of `input` must be 1 or match it.

    Returns
    -------
    Tensor
        A read-only broadcast view (`input` itself if the shape is unchanged).

    Notes
    -----
    PyTorch equivalent: :func:`torch.broadcast_to` (same semantics; no -1 entries, see
    :func:`expand`).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = gk.broadcast_to(x, (3, 2))
    >>> y
    tensor([[1., 2.],
            [1., 2.],
            [1., 2.]], grad_fn=<BroadcastToBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([3., 3.])
    """
    shape = tuple(shape)
    if shape == input.shape:
        return input
    return BroadcastTo.apply(input, shape=shape)


@public()
def expand(input: Tensor, *sizes: int | Sequence[int]) -> Tensor:
    """A broadcast view of `input` to `sizes`; -1 keeps a dimension's size.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    *sizes : int or sequence of int
        The target shape, as separate ints or one tuple; may add leading dimensions.

    Returns
    -------
    Tensor
        A broadcast view (no copy); see :func:`broadcast_to`.

    Raises
    ------
    ShapeError
        If fewer sizes than `input` has dimensions are given.

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.expand` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0], [2.0]])
    >>> x.expand(-1, 3)
    tensor([[1., 1., 1.],
            [2., 2., 2.]])
    >>> x.expand(4, 2, 3).shape
    (4, 2, 3)
    """
    sizes = _shape_args(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes for a tensor of shape {input.shape}")
    shape = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(input, shape)


def sum_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """`x` summed down to `shape` (the gradient of broadcasting; used by the engine)."""
    shape = tuple(shape)
    return x if x.shape == shape else SumTo.apply(x, shape=shape)


@public("unsqueeze", "expand_dims")
def unsqueeze(input: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert a dimension of size 1 at `dim`. ``expand_dims`` (Array API) is an alias.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int
        Where the new dimension goes, in ``[-input.ndim - 1, input.ndim]``.
    axis : int, optional
        Array API spelling of `dim`.

    Returns
    -------
    Tensor
        A view with one more dimension.

    Notes
    -----
    PyTorch equivalent: :func:`torch.unsqueeze` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 3.0])
    >>> x.unsqueeze(0).shape
    (1, 3)
    >>> x.unsqueeze(-1).shape
    (3, 1)
    """
    dim = _dim(dim, axis)
    dim = dim % (input.ndim + 1)
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


expand_dims = unsqueeze  # (the Array API's name)


@public()
def squeeze(input: Tensor, dim: Dims = None, *, axis: Dims = None) -> Tensor:
    """Remove dimensions of size 1: all of them, or those listed in `dim`.

    Listed dimensions that do not have size 1 are left alone, as in PyTorch.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int or tuple of int, optional
        The dimensions to consider. Default: all.
    axis : int or tuple of int, optional
        Array API spelling of `dim`.

    Returns
    -------
    Tensor
        A view without those dimensions.

    Raises
    ------
    ShapeError
        If a dimension is out of range.

    Notes
    -----
    PyTorch equivalent: :func:`torch.squeeze` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.zeros(1, 3, 1)
    >>> x.squeeze().shape
    (3,)
    >>> x.squeeze(0).shape
    (3, 1)
    >>> x.squeeze(1).shape  # size 3: left alone
    (1, 3, 1)
    """
    dim = _dim(dim, axis)
    x = input
    axes = range(x.ndim) if dim is None else _axes(dim, x.ndim)
    drop = {a for a in axes if x.shape[a] == 1}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


@public()
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions `start_dim` through `end_dim` into one.

    Parameters
    ----------
    input : Tensor
        The input tensor (a 0-d tensor becomes shape ``(1,)``).
    start_dim : int, optional
        First dimension to merge. Default: 0.
    end_dim : int, optional
        Last dimension to merge. Default: -1.

    Returns
    -------
    Tensor
        A reshape of `input` (a view when possible).

    Raises
    ------
    ShapeError
        If `start_dim` comes after `end_dim`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.flatten` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.zeros(2, 3, 4)
    >>> x.flatten().shape
    (24,)
    >>> x.flatten(start_dim=1).shape
    (2, 12)
    """
    x = input
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(shape {x.shape})")
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


@public()
def repeat(input: Tensor, *sizes: int | Sequence[int]) -> Tensor:
    """Tile `input`: repeat it ``sizes[i]`` times along each dimension.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    *sizes : int or sequence of int
        Repeat counts, one per dimension (extra leading counts add dimensions).

    Returns
    -------
    Tensor
        A new tensor of shape ``input.shape[i] * sizes[i]``; the gradient sums the copies.

    Raises
    ------
    ShapeError
        If fewer counts than dimensions are given.

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.repeat` (same semantics; NumPy's ``tile``).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x.repeat(2, 2)
    >>> y
    tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]], grad_fn=<ReshapeBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([4., 4.])
    """
    sizes = _shape_args(sizes)
    if len(sizes) < input.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat counts for a tensor of shape "
                         f"{input.shape}; give one per dim")
    x = reshape(input, (1,) * (len(sizes) - input.ndim) + input.shape)
    # each dim d of size s becomes (r, s), broadcast, then merged: r copies after another
    inter = tuple(v for s in x.shape for v in (1, s))
    target = tuple(v for r, s in zip(sizes, x.shape) for v in (r, s))
    out = broadcast_to(reshape(x, inter), target)
    return reshape(out, tuple(r * s for r, s in zip(sizes, x.shape)))


@public()
def contiguous(input: Tensor, memory_format: object = None) -> Tensor:
    """`input` itself if its elements lie in one row-major run of memory, else such a copy.

    After a transpose or permute a tensor is not contiguous, and :meth:`Tensor.view`
    refuses it; ``x.contiguous().view(...)`` then works.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    memory_format : optional
        Accepted for compatibility and ignored.

    Returns
    -------
    Tensor
        `input`, or a copy (in the graph, like :func:`clone`).

    Notes
    -----
    PyTorch equivalent: :meth:`torch.Tensor.contiguous` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.zeros(2, 3)
    >>> x.contiguous() is x
    True
    >>> x.t().contiguous().view(6).shape
    (6,)
    """
    xp = input.backend.xp
    try:
        xp.reshape(input.array, (-1,), copy=False)
        return input
    except (ValueError, AttributeError):
        return clone(input)


@public("cat", "concat", "concatenate", method=False)
def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dimension. ``concat`` and ``concatenate`` are aliases.

    Dtypes promote to a common one, as in PyTorch. Each input's gradient is its slice of
    the incoming gradient.

    Parameters
    ----------
    tensors : sequence of Tensor
        Tensors of the same shape except along `dim`.
    dim : int, optional
        The dimension to join along. Default: 0.
    axis : int, optional
        Array API spelling of `dim`.

    Returns
    -------
    Tensor
        The joined tensor.

    Raises
    ------
    ValueError
        If `tensors` is empty.
    ShapeError
        If the shapes differ outside `dim`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.cat` (same semantics). A function only.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([[1.0, 2.0]], requires_grad=True)
    >>> b = gk.tensor([[3.0, 4.0], [5.0, 6.0]])
    >>> gk.cat([a, b])
    tensor([[1., 2.],
            [3., 4.],
            [5., 6.]], grad_fn=<ConcatBackward0>)
    >>> gk.cat([b, b], dim=1).shape
    (2, 4)
    """
    axis = dim if axis is None else axis  # concat(xs, axis=1), the Array API's spelling
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    ref = tensors[0].shape
    ax = axis % builtins.max(len(ref), 1)
    for t in tensors[1:]:
        if len(t.shape) != len(ref) or any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ShapeError(f"cat along dim {axis}: shapes {ref} and {t.shape} differ "
                             "outside that dim")
    dtype = _dt.result_type(*tensors)
    return Concat.apply(*(t.astype(dtype) for t in tensors), axis=axis)


concat = cat


@public(method=False)
def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors of one shape along a new dimension.

    Parameters
    ----------
    tensors : sequence of Tensor
        Tensors of the same shape.
    dim : int, optional
        Where the new dimension goes. Default: 0.
    axis : int, optional
        Array API spelling of `dim`.

    Returns
    -------
    Tensor
        Shape ``(len(tensors), *shape)`` for ``dim=0``.

    Raises
    ------
    ShapeError
        If the shapes differ.

    Notes
    -----
    PyTorch equivalent: :func:`torch.stack` (same semantics). A function only.

    Examples
    --------
    >>> import gradkit as gk
    >>> a, b = gk.tensor([1.0, 2.0]), gk.tensor([3.0, 4.0])
    >>> gk.stack([a, b])
    tensor([[1., 2.],
            [3., 4.]])
    >>> gk.stack([a, b], dim=1)
    tensor([[1., 3.],
            [2., 4.]])
    """
    dim = dim if axis is None else axis
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


@public()
def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Split `tensor` into pieces along `dim`, all of one size or of the listed sizes.

    Parameters
    ----------
    tensor : Tensor
        The tensor to split.
    split_size_or_sections : int or sequence of int
        The size of each piece (the last may be smaller), or a list of sizes that add up
        to ``tensor.shape[dim]``.
    dim : int, optional
        The dimension to split. Default: 0.

    Returns
    -------
    tuple of Tensor
        Views of `tensor`, in the graph.

    Raises
    ------
    ShapeError
        If the listed sizes do not add up to the size of `dim`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.split` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> x.split(2)
    (tensor([1., 2.]), tensor([3., 4.]), tensor([5.]))
    >>> [p.shape for p in gk.split(x, [1, 4])]
    [(1,), (4,)]
    """
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} do not add up to {n}, the size of dim "
                             f"{dim} (shape {tensor.shape})")
    pieces, start = [], 0
    lead = (slice(None),) * (dim % tensor.ndim)
    for size in sizes:
        pieces.append(tensor[lead + (slice(start, start + size),)])
        start += size
    return tuple(pieces)


@public()
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split `input` into `chunks` pieces of equal size along `dim` (the last may be smaller).

    Parameters
    ----------
    input : Tensor
        The tensor to split.
    chunks : int
        How many pieces (fewer may come back when the size does not divide evenly).
    dim : int, optional
        The dimension to split. Default: 0.

    Returns
    -------
    tuple of Tensor
        Views of `input`, in the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.chunk` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> q, k, v = gk.zeros(2, 12).chunk(3, dim=1)
    >>> q.shape
    (2, 4)
    """
    return split(input, -(-input.shape[dim] // chunks), dim)


@public()
def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of `input` along `dim`, each without that dimension.

    Parameters
    ----------
    input : Tensor
        The input tensor.
    dim : int, optional
        The dimension to remove. Default: 0.

    Returns
    -------
    tuple of Tensor
        ``input.shape[dim]`` views, in the graph.

    Notes
    -----
    PyTorch equivalent: :func:`torch.unbind` (same semantics).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([[1, 2], [3, 4]]).unbind(1)
    (tensor([1, 3]), tensor([2, 4]))
    """
    lead = (slice(None),) * (dim % input.ndim)
    return tuple(input[lead + (i,)] for i in range(input.shape[dim]))


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .elementwise import clone  # noqa: E402
from .index import getitem  # noqa: E402

if TYPE_CHECKING:  # the table's other names for these (gradkit.ops.<name>, gk.<name>)
    concat = concatenate = cat
    swapaxes = swapdims = transpose
    expand_dims = unsqueeze
