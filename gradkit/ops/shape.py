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
    """The same elements in `shape` (one -1 is inferred); a view when possible."""
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
    """x.reshape(B, T, C) or x.reshape((B, T, C)): a view when possible, else a copy."""
    return reshape(self, _shape_args(shape))


@public("view", function=False)
def _view_method(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """x.view(B, T, C): always a view of x's storage; raises where that needs a copy (after
    a transpose), as PyTorch's view does, so that writes never silently miss x."""
    return reshape(self, _shape_args(shape), _must_view=True)


@public("permute_dims", method=False)
def permute_dims(input: Tensor, axes: Sequence[int]) -> Tensor:
    """The dims of `input` in the order `axes` (the Array API's name; see permute)."""
    x = input
    axes = tuple(a % builtins.max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: dims {axes} are not a permutation of a tensor of "
                         f"{x.ndim} dimensions (shape {x.shape})")
    return PermuteDims.apply(x, axes=axes)


@public()
def permute(input: Tensor, *dims: int | Sequence[int]) -> Tensor:
    """x.permute(2, 0, 1) or gk.permute(x, (2, 0, 1)): reorder every dim."""
    return permute_dims(input, _shape_args(dims))


@public("transpose", "swapaxes", "swapdims")
def transpose(input: Tensor, *dims: int) -> Tensor:
    """Swap two dims, as PyTorch's transpose(dim0, dim1). Reordering every dim is
    permute(*dims) (NumPy's transpose(axes))."""
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
    """The transpose of a matrix (a vector unchanged), as PyTorch's t()."""
    if input.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dims, not shape {input.shape}; "
                         "use transpose(dim0, dim1)")
    return input if input.ndim < 2 else transpose(input, 0, 1)


@public(method=False)
def matrix_transpose(input: Tensor) -> Tensor:
    """Swap the last two dims (x.mT)."""
    if input.ndim < 2:
        raise ShapeError(f"matrix_transpose needs at least 2 dimensions, not shape "
                         f"{input.shape}")
    return transpose(input, -2, -1)


@public()
def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(shape)
    if shape == input.shape:
        return input
    return BroadcastTo.apply(input, shape=shape)


@public()
def expand(input: Tensor, *sizes: int | Sequence[int]) -> Tensor:
    """A broadcast view to `sizes`; -1 keeps a dim's size (PyTorch's expand)."""
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
    """A new dim of size 1 at `dim` (expand_dims: the Array API's name, axis=)."""
    dim = _dim(dim, axis)
    dim = dim % (input.ndim + 1)
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


expand_dims = unsqueeze  # (the Array API's name)


@public()
def squeeze(input: Tensor, dim: Dims = None, *, axis: Dims = None) -> Tensor:
    """Drop dims of size 1: all of them, or those of `dim` (an int or a tuple) that have
    size 1; others are left alone, as PyTorch's."""
    dim = _dim(dim, axis)
    x = input
    axes = range(x.ndim) if dim is None else _axes(dim, x.ndim)
    drop = {a for a in axes if x.shape[a] == 1}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


@public()
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one."""
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
    """Tile `input` sizes[i] times along each dim (PyTorch's repeat, NumPy's tile)."""
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
    """The tensor itself if its elements lie in one strided run of memory, else a copy
    that does (after a transpose): then .view() can reshape it, as PyTorch's."""
    xp = input.backend.xp
    try:
        xp.reshape(input.array, (-1,), copy=False)
        return input
    except (ValueError, AttributeError):
        return clone(input)


@public("cat", "concat", "concatenate", method=False)
def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim; dtypes promote (torch.cat)."""
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
    """Join tensors of one shape along a new dim."""
    dim = dim if axis is None else axis
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


@public()
def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along `dim`: of split_size each (the last may be smaller), or of the
    listed sizes. Views, as PyTorch's."""
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
    """`chunks` pieces of equal size along `dim` (the last may be smaller)."""
    return split(input, -(-input.shape[dim] // chunks), dim)


@public()
def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along `dim`, without that dim."""
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
