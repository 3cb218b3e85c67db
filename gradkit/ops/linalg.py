"""Matrix products: matmul with transpose flags (so backward needs no transpose node)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradkit.autograd import Function, ShapeError
from gradkit.tensor import Tensor

from ._common import public

if TYPE_CHECKING:

    from gradkit._typing import Array, Grads


def _matrix_transpose(xp, a):
    """a with its last two dims swapped: `.T` for a matrix (every library has it; CuPy 13
    and NumPy 1.x arrays have no `.mT`), the standard's function for a batch."""
    return a.T if a.ndim == 2 else xp.matrix_transpose(a)


class MatMul(Function):
    """a @ b, or with transpose_a / transpose_b: mT(a) @ b, a @ mT(b), ... (for >= 2-d).

    The transpose flags let backward (and Linear) multiply by a transposed matrix without
    a separate transpose node: BLAS reads the transposed layout directly.
    """

    broadcasts = True  # batch dimensions broadcast
    save_inputs = ((1,), (0,))

    def forward(self, a: Array, b: Array, transpose_a: bool = False,
                transpose_b: bool = False) -> Array:
        self.ta, self.tb = transpose_a, transpose_b
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul needs at least 1-d operands, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        if transpose_a:
            a = _matrix_transpose(self.xp, a)
        if transpose_b:
            b = _matrix_transpose(self.xp, b)
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             "fit (inner dimensions differ)")
        return self.backend.matmul(a, b)

    def backward(self, g: Tensor) -> Grads:
        a, b = self.inputs  # only what a needed gradient reads: a for gb, b for ga
        ta, tb = self.ta, self.tb
        if len(self.shapes[0]) == 1 or len(self.shapes[1]) == 1:
            return self._vector_backward(g, a, b)
        ga = gb = None
        if self.needs[0]:  # d(op(a)) = g @ op(b)^T, then undo op on a
            ga = matmul(b, g, tb, True) if ta else matmul(g, b, False, not tb)
        if self.needs[1]:  # d(op(b)) = op(a)^T @ g, then undo op on b
            gb = matmul(g, a, True, ta) if tb else matmul(a, g, not ta, False)
        return ga, gb

    def _vector_backward(self, g, a, b):
        """Vectors become matrices for the products, then lose that axis again."""
        a_vec, b_vec = len(self.shapes[0]) == 1, len(self.shapes[1]) == 1
        g2 = g
        if a_vec:
            g2 = unsqueeze(g2, -1 if b_vec else -2)
        if b_vec:
            g2 = unsqueeze(g2, -1)
        ga = gb = None
        if self.needs[0]:
            ga = matmul(g2, reshape(b, (-1, 1)) if b_vec else b, False, True)
            if a_vec:
                ga = squeeze(ga, -2)
        if self.needs[1]:
            gb = matmul(reshape(a, (1, -1)) if a_vec else a, g2, True, False)
            if b_vec:
                gb = squeeze(gb, -1)
        return ga, gb




@public("matmul", "mm", "bmm")
def matmul(a: Tensor, b: Tensor, transpose_a: bool = False, transpose_b: bool = False) -> Tensor:
    """Matrix product of two tensors, ``a @ b`` (batched and broadcasting).

    1-d operands are treated as vectors (a dot product, or a matrix-vector product),
    and leading batch dimensions broadcast, as in NumPy and PyTorch. ``mm`` and ``bmm``
    are aliases (they do not check for exactly 2 or 3 dims).

    Parameters
    ----------
    a, b : Tensor
        Operands of at least 1 dimension and the same dtype.
    transpose_a, transpose_b : bool, optional
        Multiply by the transpose of the last two dims of `a` (or `b`) instead, without a
        transpose node in the graph (gradkit only). Default: False.

    Returns
    -------
    Tensor
        The product; for 2-d operands of shapes (n, k) and (k, m), shape (n, m).

    Raises
    ------
    ShapeError
        If an operand is 0-d, or the inner dimensions differ.
    TypeError
        If the operands have different dtypes (as PyTorch, no promotion).

    Notes
    -----
    PyTorch equivalent: :func:`torch.matmul` (same semantics); the transpose flags are
    gradkit's. Gradients: ``a.grad = g @ b.mT`` and ``b.grad = a.mT @ g``.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> b = gk.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> a @ b
    tensor([[1., 4.],
            [3., 8.]], grad_fn=<MatMulBackward0>)
    >>> gk.matmul(a, b).sum().backward()
    >>> a.grad
    tensor([[1., 2.],
            [1., 2.]])
    >>> gk.matmul(gk.ones(5, 2, 3), gk.ones(3, 4)).shape
    (5, 2, 4)
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is b.backend and \
            a.array.dtype is not b.array.dtype and a.array.dtype != b.array.dtype:
        raise TypeError(f"matmul: operands must have the same dtype, got {a.dtype} (shape "
                        f"{a.shape}) and {b.dtype} (shape {b.shape}); convert one with .to()")
    return MatMul.apply(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .shape import reshape, squeeze, unsqueeze  # noqa: E402
