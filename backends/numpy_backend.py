"""NumPy on the CPU: the reference backend, always present."""

from __future__ import annotations

import numpy as np

if np.lib.NumpyVersion(np.__version__) >= "2.1.0":
    xp_numpy = np  # NumPy 2.1+ implements the standard itself: no wrapper on the hot path
else:  # pragma: no cover - older NumPy
    import array_api_compat.numpy as xp_numpy

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    scalar_types = (np.generic,)

    def __init__(self):
        super().__init__(xp_numpy, "cpu")
        self._scipy_erf = None  # looked up on first use: SciPy is optional

    def owns(self, array):
        return isinstance(array, (np.ndarray, np.generic))

    def asarray(self, data, dtype_name=None):
        return np.asarray(data, dtype=dtype_name)

    def randn(self, shape, dtype_name):
        return self._rng().standard_normal(shape, dtype=dtype_name)

    def rand(self, shape, dtype_name):
        return self._rng().random(shape, dtype=dtype_name)

    def erf(self, x):
        """scipy.special.erf when SciPy is installed (one fast ufunc), else the generic one."""
        if self._scipy_erf is None:
            try:
                from scipy.special import erf
            except ImportError:
                erf = False
            self._scipy_erf = erf
        return np.asarray(self._scipy_erf(x)) if self._scipy_erf else super().erf(x)

    def scatter_add(self, shape, index, values):
        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, index, values)
        return out
