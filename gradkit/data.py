"""Minibatches of in-memory data that stay on one device.

    loader = DataLoader(x_train, y_train, batch_size=64, shuffle=True, seed=0,
                        device="cuda")
    for xb, yb in loader:          # tuples of tensors on the device
        ...

The whole dataset is moved to the device once (it is meant for data that fits); every
batch is then a slice copy or an index gather on the device, so an epoch makes no host
transfer and no per-example Python loop.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import backends as _backends
from .backends.base import DeviceLike
from .tensor import Tensor, tensor

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over aligned in-memory arrays in minibatches, on one device.

    Each step yields one tuple of tensors holding the same rows of every array. The whole
    dataset is moved to the device once (it is meant for data that fits); every batch is
    then a slice copy or an index gather on the device, so an epoch makes no host transfer
    and no per-example Python loop.

    Parameters
    ----------
    *arrays : array_like or Tensor
        The data, all with the same length along axis 0 (tensors are detached).
    batch_size : int, default 1
        Keyword only: the number of examples per batch.
    shuffle : bool, default False
        Keyword only: a new order every epoch. Without ``seed`` it is drawn on the device
        from its generator (repeatable under ``gk.manual_seed``); with ``seed`` it comes
        from the loader's own NumPy generator, so the same seed gives the same batches on
        every device.
    drop_last : bool, default False
        Keyword only: leave out the last batch if it is smaller than ``batch_size``.
    seed : int, optional
        Keyword only: seed of the loader's own shuffling generator.
    device : str, optional
        Keyword only: where the data lives (default: where it already is; NumPy data on
        the CPU).

    Raises
    ------
    ValueError
        If no array is given, ``batch_size`` is not a positive int, an array is 0-d, or the
        lengths differ.
    DeviceError
        If tensors on different devices are given without ``device``.

    Notes
    -----
    PyTorch equivalent: ``torch.utils.data.DataLoader(TensorDataset(*tensors), ...)``.
    Differences: it takes the arrays directly and has no workers, samplers or collate
    function. Every batch is a new array (as PyTorch's default collate makes), so changing a
    batch never changes the dataset; arrays already on ``device`` are kept without a copy
    (as PyTorch's TensorDataset), so later changes to them show in later batches.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.data import DataLoader
    >>> x, y = np.arange(10.).reshape(5, 2), np.arange(5)
    >>> loader = DataLoader(x, y, batch_size=2)
    >>> len(loader)
    3
    >>> for xb, yb in loader:
    ...     print(xb.shape, yb)
    (2, 2) tensor([0, 1])
    (2, 2) tensor([2, 3])
    (1, 2) tensor([4])
    >>> len(DataLoader(x, y, batch_size=2, shuffle=True, seed=0, drop_last=True))
    2
    """

    def __init__(self, *arrays: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 device: DeviceLike = None) -> None:
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
        self.tensors = tuple(_on_device(a, device) for a in arrays)
        self.backend = self.tensors[0].backend
        for t in self.tensors:
            if t.ndim == 0:
                raise ValueError("DataLoader arrays need a leading (example) axis; got a 0-d one")
            if t.backend is not self.backend:
                raise _backends.DeviceError(f"DataLoader arrays are on different devices, "
                                            f"{self.backend.device} and {t.device}; pass device=")
        lengths = [t.shape[0] for t in self.tensors]
        if len(set(lengths)) > 1:
            raise ValueError(f"DataLoader arrays must have the same length, got {lengths}")
        self.num_examples = lengths[0]
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """The number of batches per epoch."""
        if self.drop_last:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self):
        b, bs = self.backend, self.batch_size
        stop = len(self) * bs if self.drop_last else self.num_examples
        order = self._permutation() if self.shuffle else None
        for start in range(0, stop, bs):
            end = min(start + bs, stop)  # in bounds, as the standard requires
            if order is None:  # a copy of the slice: a batch is never a view of the data
                yield tuple(Tensor.wrap(b.xp.asarray(t.array[start:end, ...], copy=True,
                                                      device=b.native_device), b)
                            for t in self.tensors)
            else:
                idx = order[start:end]
                yield tuple(Tensor.wrap(b.xp.take(t.array, idx, axis=0), b)
                            for t in self.tensors)

    def _permutation(self):
        """A random order of the examples, as an int64 array on the device."""
        if self._rng is None:
            return self.backend.permutation(self.num_examples)
        return self.backend.asarray(self._rng.permutation(self.num_examples), "int64")

    def __repr__(self):
        return (f"DataLoader({len(self.tensors)} arrays of {self.num_examples} examples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device='{self.backend.device}')")


def _on_device(data, device) -> Tensor:
    """`data` as a tensor outside any graph, on `device` (copied there once if needed)."""
    if isinstance(data, Tensor):
        data = data.detach()
        if device is None or _backends.get_backend(device) is data.backend:
            return data
        return Tensor.wrap(_backends.get_backend(device).transfer(data.array, data.backend),
                            _backends.get_backend(device))
    src = _backends.backend_of_array(data)
    if src is not None and (device is None or _backends.get_backend(device) is src):
        return Tensor.wrap(np.asarray(data) if isinstance(data, np.generic) else data, src)
    return tensor(data, device=device)
