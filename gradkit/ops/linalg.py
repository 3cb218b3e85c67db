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
        return a @ b

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
    """a @ b, as NumPy's and PyTorch's matmul (batched, broadcasting); the transpose
    flags multiply by a transposed operand without a transpose node."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is b.backend and \
            a.array.dtype is not b.array.dtype and a.array.dtype != b.array.dtype:
        raise TypeError(f"matmul: operands must have the same dtype, got {a.dtype} (shape "
                        f"{a.shape}) and {b.dtype} (shape {b.shape}); convert one with .to()")
    return MatMul.apply(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .shape import reshape, squeeze, unsqueeze  # noqa: E402
