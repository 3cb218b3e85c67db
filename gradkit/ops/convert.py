"""dtype and device conversion, both differentiable."""

from __future__ import annotations

from gradkit.autograd import Function


class AsType(Function):
    def forward(self, x, dtype):
        self.in_dtype = self.backend.dtype_name(x.dtype)
        return self.xp.astype(x, self.backend.dtypes[dtype.name])

    def backward(self, g):
        return g.astype(self.in_dtype)


class ToDevice(Function):
    def forward(self, x, backend):
        self.src = self.backend
        return backend.transfer(x, self.backend)

    def backward(self, g):
        return g.to(self.src)

    @classmethod
    def apply(cls, x, backend):
        out = super().apply(x, backend=backend)
        out.backend = backend  # the result lives on the target device
        if out._node is not None:
            out._node.backend, out._node.xp = backend, backend.xp
        return out
