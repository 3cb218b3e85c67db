"""The Backend interface: everything gradkit needs from an array library, in one place.

A Backend is bound to one device. Code under gradkit/ calls only `backend.xp` (an Array
API namespace) and the methods below; the few operations the standard lacks or that a
library does much faster natively are methods here, with a generic fallback written in
`xp` that every backend can use and that the tests compare the native versions with.
"""

from __future__ import annotations

import math

import numpy as np

DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")


class Backend:
    name: str = "?"  # "numpy", "cupy" or "strict"
    device: str = "?"  # gradkit's device string: "cpu", "cuda:0", "strict:device1"
    scalar_types: tuple = ()  # what a reduction may return instead of a 0-d array

    def __init__(self, xp, native_device):
        self.xp = xp
        self.native_device = native_device
        # gradkit dtype name -> this library's dtype object
        self.dtypes = {n: getattr(xp, n) for n in DTYPE_NAMES if hasattr(xp, n)}
        self._generator = None
        self._seed = None
        self._dtype_names = {}  # cache: dtype object -> name (numpy's .name is slow)

    def __repr__(self):
        return f"<Backend {self.name} on {self.device}>"

    # ---- dtypes -------------------------------------------------------------------
    def dtype_name(self, array_dtype) -> str:
        """The standard name ('float32', ...) of one of this library's dtypes."""
        try:
            return self._dtype_names[array_dtype]
        except KeyError:
            name = self._dtype_names[array_dtype] = self._name_of(array_dtype)
            return name

    def _name_of(self, array_dtype) -> str:
        return array_dtype.name  # NumPy and CuPy use numpy.dtype

    # ---- moving data ------------------------------------------------------------
    def asarray(self, data, dtype_name: str | None = None):
        """An array on this device from a host NumPy array or a Python scalar/list."""
        dtype = self.dtypes[dtype_name] if dtype_name else None
        return self.xp.asarray(data, dtype=dtype, device=self.native_device)

    def to_numpy(self, array) -> np.ndarray:
        """An explicit host copy (a synchronisation on a GPU)."""
        return np.asarray(array)

    def owns(self, array) -> bool:
        """Whether `array` is an array of this backend's library on this device."""
        raise NotImplementedError

    def transfer(self, array, src: Backend):
        """`array`, which lives on `src`, copied onto this backend's device."""
        return self.asarray(src.to_numpy(array))

    def synchronize(self):
        """Wait for queued device work (a no-op on the CPU)."""

    # ---- random numbers -----------------------------------------------------------
    def seed(self, seed: int):
        self._seed = seed
        self._generator = None

    def _rng(self):
        """A host NumPy generator; GPU backends override this with a device generator."""
        if self._generator is None:
            self._generator = np.random.default_rng(self._seed)
        return self._generator

    def randn(self, shape, dtype_name):
        return self.asarray(self._rng().standard_normal(shape).astype(dtype_name))

    def rand(self, shape, dtype_name):
        return self.asarray(self._rng().random(shape).astype(dtype_name))

    def bernoulli_mask(self, shape, keep: float, dtype_name):
        """1/keep where a uniform draw is below `keep`, else 0 (inverted dropout's mask)."""
        u = self._rng().random(shape)
        return self.asarray(((u < keep) / keep).astype(dtype_name))

    def permutation(self, n: int):
        return self.asarray(self._rng().permutation(n).astype("int64"))

    # ---- operations the standard lacks ----------------------------------------------
    def scatter_add(self, shape, index, values):
        """zeros(shape) with `values` added at `index`; duplicate indices accumulate.

        The generic version is standard-only: it numbers the target's elements, reads
        the numbers at `index` (any index `x[index]` accepts) and turns them into a
        one-hot matrix, so the sum is a matrix product. Memory is O(len(values) * size):
        fine for tests, which is what it is for.
        """
        xp = self.xp
        size = math.prod(shape)
        positions = xp.reshape(xp.arange(size, device=self.native_device), shape)[index]
        positions = xp.reshape(positions, (-1,))
        onehot = positions[:, None] == xp.arange(size, device=self.native_device)[None, :]
        flat = xp.reshape(values, (1, -1)) @ xp.astype(onehot, values.dtype)
        return xp.reshape(flat, shape)

    def sgd_update(self, param, grad, buf, lr, momentum, weight_decay, nesterov):
        """PyTorch's SGD step, in place on `param` (and `buf`, the momentum buffer).

        Returns the momentum buffer (new on the first step). Written with in-place
        operators so that a step allocates as little as possible.
        """
        if weight_decay:
            grad = grad + weight_decay * param
        if momentum:
            if buf is None:
                buf = grad * 1  # a copy, owned by the optimizer
            else:
                buf *= momentum
                buf += grad
            grad = grad + momentum * buf if nesterov else buf
        param -= lr * grad
        return buf

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, weight_decay,
                    decoupled, step):
        """PyTorch's Adam (decoupled=False) or AdamW (decoupled=True) step, in place."""
        xp = self.xp
        if weight_decay:
            if decoupled:
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * (grad * grad)
        bias1 = 1 - beta1**step
        bias2 = 1 - beta2**step
        denom = xp.sqrt(v)
        denom /= math.sqrt(bias2)
        denom += eps
        param -= (lr / bias1) * (m / denom)
