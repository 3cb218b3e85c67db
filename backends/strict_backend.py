"""array-api-strict on a simulated device: the test double that stands in for a GPU.

It refuses calls outside the Array API standard, implicit conversion to the host and
mixing of devices, so a CPU-only test run catches what would break the CuPy path.
Used by tests, not by users.
"""

from __future__ import annotations

import numpy as np

from .base import Backend


class StrictBackend(Backend):
    name = "strict"
    device_error_hints = ("different devices",)

    def __init__(self, device_name: str = "device1"):
        import array_api_strict as xps

        super().__init__(xps, xps.Device(device_name))
        self.device = f"strict:{device_name}"
        self._cpu = xps.Device("CPU_DEVICE")
        self._by_dtype = {dt: n for n, dt in self.dtypes.items()}
        self._array_type = type(xps.asarray(0))  # the package does not export its Array class

    def _name_of(self, array_dtype):
        return self._by_dtype[array_dtype]

    def owns(self, array):
        return isinstance(array, self._array_type) and array.device == self.native_device

    def asarray(self, data, dtype_name=None):
        if isinstance(data, self._array_type):  # a strict array on another simulated device
            data = data.to_device(self.native_device)
            return data if dtype_name is None else self.xp.astype(data, self.dtypes[dtype_name])
        # copy=True: array-api-strict wraps a NumPy array without copying, so a tensor made
        # from host data would otherwise alias it (a GPU backend always copies).
        dtype = self.dtypes[dtype_name] if dtype_name else None
        return self.xp.asarray(data, dtype=dtype, device=self.native_device, copy=True)

    def to_numpy(self, array):
        # The one sanctioned way to the host: an explicit move to the CPU device first.
        return np.asarray(array.to_device(self._cpu)).copy()

    def transfer(self, array, src):
        if isinstance(src, StrictBackend):
            return array.to_device(self.native_device)
        return super().transfer(array, src)
