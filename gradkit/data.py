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

__all__ = ["DataLoader", "DistributedSampler"]


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
    sampler : iterable of int, optional
        Keyword only: the example indices of an epoch, in order (a
        :class:`~gradkit.data.DistributedSampler` gives each rank its shard). Read once
        per epoch and moved to the device as one array. Excludes ``shuffle``.

    Raises
    ------
    ValueError
        If no array is given, ``batch_size`` is not a positive int, an array is 0-d, the
        lengths differ, or both ``sampler`` and ``shuffle`` are given.
    DeviceError
        If tensors on different devices are given without ``device``.

    Notes
    -----
    PyTorch equivalent: ``torch.utils.data.DataLoader(TensorDataset(*tensors), ...)``.
    Differences: it takes the arrays directly and has no workers, batch samplers or
    collate function; with ``seed``, epoch e's order is
    ``numpy.random.default_rng((seed, e)).permutation(n)``, the order
    ``DistributedSampler(n, 1, 0, seed=seed)`` gives. Every batch is a new array (as
    PyTorch's default collate makes), so changing a batch never changes the dataset;
    arrays already on ``device`` are kept without a copy (as PyTorch's TensorDataset), so
    later changes to them show in later batches.

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
                 device: DeviceLike = None, sampler: Any = None) -> None:
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the "
                             "sampler decides the order; DistributedSampler shuffles itself)")
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
        self.seed, self.sampler, self._epoch = seed, sampler, 0

    def _epoch_size(self) -> int:
        return self.num_examples if self.sampler is None else len(self.sampler)

    def __len__(self) -> int:
        """The number of batches per epoch."""
        if self.drop_last:
            return self._epoch_size() // self.batch_size
        return math.ceil(self._epoch_size() / self.batch_size)

    def __iter__(self):
        b, bs = self.backend, self.batch_size
        stop = len(self) * bs if self.drop_last else self._epoch_size()
        if self.sampler is not None:
            order = self._sampled()
        else:
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
        if self.seed is None:
            return self.backend.permutation(self.num_examples)
        self._epoch += 1
        order = _epoch_order(self.num_examples, self.seed, self._epoch - 1)
        return self.backend.asarray(order, "int64")

    def _sampled(self):
        """The sampler's indices for this epoch, checked, as an int64 array on the device."""
        indices = self.sampler.indices() if hasattr(self.sampler, "indices") else \
            np.fromiter(iter(self.sampler), dtype=np.int64)
        outside = indices[(indices < 0) | (indices >= self.num_examples)]
        if outside.size:
            raise IndexError(f"the sampler gave index {int(outside[0])}, outside the "
                             f"{self.num_examples} examples")
        return self.backend.asarray(indices, "int64")

    def __repr__(self):
        return (f"DataLoader({len(self.tensors)} arrays of {self.num_examples} examples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device='{self.backend.device}')")


def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of `n` examples in `epoch`: the same on every rank and device."""
    return np.random.default_rng((seed, epoch)).permutation(n)


class DistributedSampler:
    """Each rank's share of the example indices, for data-parallel training.

    Every rank shuffles the same way (from `seed` and the epoch), then takes every
    ``num_replicas``-th index from position `rank` on. The shards are disjoint and equally
    long: without `drop_last` the order is padded with its first indices up to a multiple
    of ``num_replicas``; with it, the tail is cut instead. So global batch k (batch k of
    every rank) holds exactly the examples of batch k of one process with
    ``num_replicas`` times the batch size, shuffled with the same seed.

    Parameters
    ----------
    dataset : int or sized
        The number of examples, or anything with a length (an array, a tensor).
    num_replicas : int, optional
        The number of ranks (default: the process group's world size).
    rank : int, optional
        This rank (default: the process group's rank).
    shuffle : bool, default True
        A new order every epoch (call :meth:`set_epoch`); else the natural order.
    seed : int, default 0
        The same on every rank.
    drop_last : bool, default False
        Cut the order to a multiple of ``num_replicas`` instead of padding it.

    Raises
    ------
    ValueError
        If `rank` is not in ``[0, num_replicas)`` or the dataset is empty.
    RuntimeError
        If `num_replicas` or `rank` is left out and no process group is initialised.

    Notes
    -----
    PyTorch equivalent: :class:`torch.utils.data.distributed.DistributedSampler`, with
    the same padding, striding and ``set_epoch``. Difference: the shuffle is NumPy's
    ``default_rng((seed, epoch)).permutation``, not ``torch.randperm``, so the orders
    differ from PyTorch's. Pass it to ``DataLoader(..., sampler=)``.

    Examples
    --------
    >>> from gradkit.data import DistributedSampler
    >>> list(DistributedSampler(5, num_replicas=2, rank=0, shuffle=False))
    [0, 2, 4]
    >>> list(DistributedSampler(5, num_replicas=2, rank=1, shuffle=False))
    [1, 3, 0]
    >>> s = DistributedSampler(6, num_replicas=3, rank=2, seed=1)
    >>> s.set_epoch(1)
    >>> len(s)
    2
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from . import distributed

            if not distributed.is_initialized():
                raise RuntimeError("DistributedSampler needs num_replicas and rank, or an "
                                   "initialised process group (init_process_group)")
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive int, not {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank!r} is not in [0, {num_replicas})")
        n = dataset if isinstance(dataset, int) else len(dataset)
        if n < 1:
            raise ValueError("DistributedSampler: the dataset is empty")
        self.num_examples, self.num_replicas, self.rank = n, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        if drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s order: call it at the start of every epoch, on every rank.

        Parameters
        ----------
        epoch : int
            The epoch number.

        Examples
        --------
        >>> from gradkit.data import DistributedSampler
        >>> s = DistributedSampler(4, num_replicas=1, rank=0, seed=0)
        >>> s.set_epoch(0); a = list(s)
        >>> s.set_epoch(1); b = list(s)
        >>> sorted(a) == sorted(b) == [0, 1, 2, 3]
        True
        """
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as a NumPy int64 array.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> from gradkit.data import DistributedSampler
        >>> DistributedSampler(4, num_replicas=2, rank=1, shuffle=False).indices()
        array([1, 3])
        """
        n = self.num_examples
        order = _epoch_order(n, self.seed, self.epoch) if self.shuffle else np.arange(n)
        if self.total_size > n:  # pad by repeating the order from its start
            order = np.resize(order, self.total_size)
        order = order[:self.total_size]
        return order[self.rank::self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        """The number of indices each rank gets per epoch."""
        return self.num_samples


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
