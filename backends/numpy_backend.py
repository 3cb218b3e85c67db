"""NumPy on the CPU: the reference backend, always present."""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    scalar_types = (np.generic,)

    def __init__(self):
        super().__init__(xp_numpy, "cpu")

    def owns(self, array):
        return isinstance(array, (np.ndarray, np.generic))

    def asarray(self, data, dtype_name=None):
        return np.asarray(data, dtype=dtype_name)

    def randn(self, shape, dtype_name):
        return self._rng().standard_normal(shape, dtype=dtype_name)

    def rand(self, shape, dtype_name):
        return self._rng().random(shape, dtype=dtype_name)

    def scatter_add(self, shape, index, values):
        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, index, values)
        return out
