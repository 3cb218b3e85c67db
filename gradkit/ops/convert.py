"""dtype and device conversion, both differentiable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradkit.autograd import Function

if TYPE_CHECKING:
    from gradkit._typing import Array, Grads
    from gradkit.backends import Backend
    from gradkit.dtypes import DType
    from gradkit.tensor import Tensor


class AsType(Function):
    def forward(self, x: Array, dtype: DType) -> Array:
        self.in_dtype = self.backend.dtype_name(x.dtype)
        return self.xp.astype(x, self.backend.dtypes[dtype.name])

    def backward(self, g: Tensor) -> Grads:
        return g.astype(self.in_dtype)


class ToDevice(Function):
    def forward(self, x: Array, backend: Backend) -> Array:
        self.src = self.backend
        return backend.transfer(x, self.backend)

    def backward(self, g: Tensor) -> Grads:
        return g.to(self.src)

    @classmethod
    def apply(cls, x: Tensor, backend: Backend) -> Tensor:
        out = super().apply(x, backend=backend)
        out.backend = backend  # the result lives on the target device
        if out._node is not None:
            out._node.backend, out._node.xp = backend, backend.xp
        return out
