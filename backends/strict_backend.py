"""array-api-strict on a simulated device: the test double that stands in for a GPU.

It refuses calls outside the Array API standard, implicit conversion to the host and
mixing of devices, so a CPU-only test run catches what would break the CuPy path.
Used by tests, not by users.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import Array, Backend, HostSyncError, refusing_to_numpy

# The Array methods that convert a device value on the host: array-api-strict lets the
# scalar conversions through (a silent synchronisation on a GPU), so no_host_sync refuses
# them, with __array__ (NumPy conversion, refused already off the default device).
_HOST_CONVERSIONS = ("__bool__", "__float__", "__int__", "__index__", "__complex__",
                     "__array__")


class StrictBackend(Backend):
    """The array-api-strict backend on a simulated device ("strict" or "strict:NAME").

    The test double for a GPU: it refuses calls outside the Array API standard,
    implicit host conversion and mixing of devices.

    Parameters
    ----------
    device_name : str, default "device1"
        An array-api-strict device name.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.tensor([1.0, 2.0], device="strict").backend
    <Backend strict on strict:device1>
    """

    name = "strict"
    device_error_hints = ("different devices",)

    def __init__(self, device_name: str = "device1") -> None:
        import array_api_strict as xps

        super().__init__(xps, xps.Device(device_name))
        self.device = f"strict:{device_name}"
        self._cpu = xps.Device("CPU_DEVICE")
        self._by_dtype = {dt: n for n, dt in self.dtypes.items()}
        self._array_type = type(xps.asarray(0))  # the package does not export its Array class

    def _name_of(self, array_dtype: Any) -> str:
        return self._by_dtype[array_dtype]

    def owns(self, array: object) -> bool:
        return isinstance(array, self._array_type) and array.device == self.native_device

    def asarray(self, data: Any, dtype_name: str | None = None) -> Array:
        if isinstance(data, self._array_type):  # a strict array on another simulated device
            data = data.to_device(self.native_device)
            return data if dtype_name is None else self.xp.astype(data, self.dtypes[dtype_name])
        # copy=True: array-api-strict wraps a NumPy array without copying, so a tensor made
        # from host data would otherwise alias it (a GPU backend always copies).
        dtype = self.dtypes[dtype_name] if dtype_name else None
        return self.xp.asarray(data, dtype=dtype, device=self.native_device, copy=True)

    def to_numpy(self, array: Array) -> np.ndarray:
        # The one sanctioned way to the host: an explicit move to the CPU device first.
        return np.asarray(array.to_device(self._cpu)).copy()

    host_sync_check = "Array conversions and to_numpy refused"

    @contextlib.contextmanager
    def no_host_sync(self) -> Iterator[None]:
        """Refuse every host conversion of a strict Array, raising HostSyncError.

        On any simulated device (the methods are the class's), and this backend's
        to_numpy. Not thread-safe: it patches the Array class while active.

        Yields
        ------
        None

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], device="strict")
        >>> with x.backend.no_host_sync():
        ...     float(x)
        Traceback (most recent call last):
        ...
        gradkit.backends.base.HostSyncError: a device value was pulled to the host ...
        """
        array_type = self._array_type
        device = self.device

        def refuse(array: Array, *args: object, **kwargs: object) -> Any:
            raise HostSyncError(f"a device value was pulled to the host (a conversion of an "
                                f"Array) on {device} inside no_host_sync()")

        # A boolean mask index too: array-api-strict selects without a host read, but CuPy
        # reads the mask's count on the host to size the result (a synchronisation).
        getitem = array_type.__dict__["__getitem__"]
        bool_dtype = self.xp.bool

        def getitem_refusing_masks(array: Array, key: Any) -> Any:
            if any(isinstance(k, array_type) and k.dtype == bool_dtype
                   for k in (key if isinstance(key, tuple) else (key,))):
                raise HostSyncError(f"a device value was pulled to the host (a boolean mask "
                                    f"index, whose count sizes the result) on {device} "
                                    "inside no_host_sync()")
            return getitem(array, key)

        saved = {name: array_type.__dict__[name] for name in _HOST_CONVERSIONS
                 if name in array_type.__dict__}
        patches = {**{name: refuse for name in saved}, "__getitem__": getitem_refusing_masks}
        saved["__getitem__"] = getitem
        try:
            for name, method in patches.items():
                setattr(array_type, name, method)
            with refusing_to_numpy(self):
                yield
        finally:
            for name, method in saved.items():
                setattr(array_type, name, method)

    def describe(self) -> str:
        return f"array-api-strict {self.xp.__version__} on simulated device {self.device}"

    def transfer(self, array: Array, src: Backend) -> Array:
        if isinstance(src, StrictBackend):
            return array.to_device(self.native_device)
        return super().transfer(array, src)
