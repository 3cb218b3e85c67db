"""Type aliases of gradkit's annotations (for type checkers and readers; nothing here
runs). Annotations in gradkit are strings (`from __future__ import annotations`), so
these aliases may name Tensor without importing it at run time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from .backends.base import Array, DeviceLike, Shape

if TYPE_CHECKING:
    import numpy as np

    from .dtypes import DType
    from .tensor import Tensor

__all__ = ["Array", "DeviceLike", "Shape", "Scalar", "TensorOrScalar", "DTypeLike", "Dims",
           "Grads"]

# A Python number; NumPy scalars are accepted wherever these are, as weak scalars.
Scalar: TypeAlias = "int | float | bool"
# An operand of an elementwise op: a tensor or a Python number (NumPy scalars, lists and
# arrays are taken too, and become a tensor on the other operand's device).
TensorOrScalar: TypeAlias = "Tensor | int | float | bool"
# What names a dtype: a gradkit DType, its name ("float32"), float/int/bool, a NumPy dtype
# or scalar type
DTypeLike: TypeAlias = "DType | str | type | np.dtype[Any]"
# The dims a reduction runs over: one, several, or None for all of them
Dims: TypeAlias = "int | Sequence[int] | None"
# What Function.backward returns: one gradient per input, None where none is needed
Grads: TypeAlias = "Tensor | None | tuple[Tensor | None, ...]"
