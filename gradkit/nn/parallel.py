"""Data-parallel training: :class:`DistributedDataParallel`, as torch.nn.parallel's.

Each process holds a replica of the model and trains on its own shard of every global
batch; after backward, every rank's gradients are averaged, so the replicas take the
same optimizer step and stay identical. Gradients travel in buckets: those of several
parameters are flattened into one array per dtype and device, and each bucket is one
all-reduce, started from a post-accumulate-grad hook as soon as its last gradient is
written, while backward goes on through the earlier layers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from gradkit import distributed as dist
from gradkit.autograd import no_grad, queue_callback
from gradkit.backends.base import Backend
from gradkit.tensor import Tensor

from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters whose gradients are all-reduced as one flat array."""

    def __init__(self, backend: Backend, dtype: str) -> None:
        self.backend, self.dtype = backend, dtype
        self.params: list[Tensor] = []
        self.nbytes = 0


class DistributedDataParallel(Module):
    """Wrap `module` so that backward averages its gradients across all ranks.

    At construction every parameter and buffer is broadcast from rank 0 (after checking
    that all ranks hold the same parameter names, shapes and dtypes). In each backward,
    gradients are all-reduced (averaged) in buckets, in a fixed order on every rank; the
    last waits happen at the end of backward, so ``.grad`` is final when
    ``backward()`` returns. Call the optimizer as usual.

    Parameters
    ----------
    module : Module
        The model; its parameters that require grad are synchronised.
    device_ids, output_device, dim
        Accepted for PyTorch compatibility; must be None (or a one-element list) and 0:
        the model already lives on its device.
    broadcast_buffers : bool, default True
        Copy rank 0's buffers (BatchNorm's running statistics) to every rank at the start
        of each training-mode forward, as PyTorch does. Batch statistics themselves are
        always computed per rank, from the local batch (there is no SyncBatchNorm).
    process_group : None
        Only the default group exists.
    bucket_cap_mb : float, default 25
        Bucket size in MiB. ``0`` puts each parameter in its own bucket (one all-reduce
        per parameter).
    find_unused_parameters : bool, default False
        Allow parameters that get no gradient in a backward (they count as zero). Without
        it such a backward raises, naming them: the ranks' reductions would disagree.
    gradient_as_bucket_view, static_graph
        Accepted for PyTorch compatibility. Gradients are always views into the
        reduced bucket (no copy back), which is what ``gradient_as_bucket_view=True``
        means in PyTorch.

    Attributes
    ----------
    module : Module
        The wrapped model (save ``ddp.module.state_dict()`` for keys without the
        ``module.`` prefix).

    Raises
    ------
    RuntimeError
        If the process group is not initialised.
    ValueError
        If ranks hold different models, or an unsupported argument is given.

    Notes
    -----
    PyTorch equivalent: :class:`torch.nn.parallel.DistributedDataParallel`.
    Differences: one process per device only; buckets follow the reverse order of
    ``module.parameters()`` (PyTorch reorders them after the first step by when the
    gradients arrive); with NCCL the all-reduces are queued on the current stream, so
    the GPU runs them between backward's kernels instead of beside them (overlap on the
    GPU would take a separate communication stream and events); with MPI each bucket is a
    nonblocking ``Iallreduce`` that MPI progresses when waited for.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.distributed as dist
    >>> from gradkit.nn.parallel import DistributedDataParallel
    >>> model = gk.nn.Linear(4, 2)
    >>> if dist.is_initialized():   # under mpiexec, after init_process_group()
    ...     model = DistributedDataParallel(model)
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float | None = 25, find_unused_parameters: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if device_ids is not None and len(device_ids) > 1 or dim != 0 or \
                process_group is not None:
            raise ValueError("DistributedDataParallel runs one process per device: pass "
                             "device_ids=None (or one id), dim=0 and no process_group")
        group = dist._group()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self._world = group.size
        self._check_same_model(group)
        with no_grad():
            self._broadcast(list(module.parameters()) + list(module.buffers()))
        cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 2**20)
        self._buckets = self._make_buckets(
            [p for p in module.parameters() if p.requires_grad], cap)
        self._where = {id(p): (i, k) for i, bucket in enumerate(self._buckets)
                       for k, p in enumerate(bucket.params)}
        self._ready: list[set[int]] | None = None  # per bucket: positions with a gradient
        self._launched: list[tuple[_Bucket, Any, Any]] = []
        self._handles = [p.register_post_accumulate_grad_hook(self._on_gradient)
                         for bucket in self._buckets for p in bucket.params]

    # ---- construction ---------------------------------------------------------------------
    def _check_same_model(self, group: Any) -> None:
        mine = [(name, tuple(p.shape), str(p.dtype)) for name, p in
                self.module.named_parameters()]
        for rank, theirs in enumerate(group.comm.allgather(mine)):
            if theirs != mine:
                diff = next((f"{a} vs {b}" for a, b in zip(mine, theirs) if a != b),
                            f"{len(mine)} vs {len(theirs)} parameters")
                raise ValueError(f"DistributedDataParallel needs the same model on every rank: "
                                 f"rank {group.rank} and rank {rank} differ ({diff})")

    def _broadcast(self, tensors: list[Tensor]) -> None:
        """Copy rank 0's values of `tensors` to every rank, one collective per dtype and
        device."""
        groups: dict[tuple[str, int], list[Tensor]] = {}
        for t in tensors:
            groups.setdefault((str(t.dtype), id(t.backend)), []).append(t)
        for ts in groups.values():
            b = ts[0].backend
            with b.scope:
                flat = b.xp.concat([b.xp.reshape(t.array, (-1,)) for t in ts])
            dist._group().engine(b).broadcast(b, flat, 0).wait()
            offset = 0
            for t in ts:
                n = t.numel()
                with b.scope:
                    t._write(b.xp.reshape(flat[offset:offset + n], t.shape))
                offset += n

    @staticmethod
    def _make_buckets(params: list[Tensor], cap: int) -> list[_Bucket]:
        """Buckets of at most `cap` bytes per (dtype, device), last parameters first:
        backward reaches them first."""
        open_buckets: dict[tuple[str, int], _Bucket] = {}
        buckets: list[_Bucket] = []
        for p in reversed(params):
            key = (str(p.dtype), id(p.backend))
            nbytes = p.numel() * p.element_size()
            bucket = open_buckets.get(key)
            if bucket is None or bucket.params and bucket.nbytes + nbytes > cap:
                bucket = open_buckets[key] = _Bucket(p.backend, key[0])
                buckets.append(bucket)
            bucket.params.append(p)
            bucket.nbytes += nbytes
        return buckets

    # ---- forward ------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped module (after copying rank 0's buffers, when training).

        Parameters
        ----------
        *args, **kwargs
            Passed to ``module``.

        Returns
        -------
        object
            What ``module`` returns.

        Examples
        --------
        >>> import gradkit as gk
        >>> import gradkit.distributed as dist
        >>> from gradkit.nn.parallel import DistributedDataParallel
        >>> if dist.is_initialized():
        ...     y = DistributedDataParallel(gk.nn.Linear(2, 1))(gk.ones(3, 2))
        """
        if self.broadcast_buffers and self.training and self._world > 1:
            buffers = list(self.module.buffers())
            if buffers:
                with no_grad():
                    self._broadcast(buffers)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward only accumulates gradients locally (no all-reduce).

        For gradient accumulation: run the first micro-batches' backward inside
        ``no_sync()`` and the last one outside; its all-reduce averages the sums.

        Yields
        ------
        None

        Notes
        -----
        PyTorch equivalent: ``DistributedDataParallel.no_sync``.

        Examples
        --------
        >>> import gradkit as gk
        >>> import gradkit.distributed as dist
        >>> from gradkit.nn.parallel import DistributedDataParallel
        >>> if dist.is_initialized():
        ...     ddp = DistributedDataParallel(gk.nn.Linear(2, 1))
        ...     with ddp.no_sync():
        ...         ddp(gk.ones(3, 2)).sum().backward()   # local only
        ...     ddp(gk.ones(3, 2)).sum().backward()       # averages both
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ---- backward -----------------------------------------------------------------------
    def _on_gradient(self, param: Tensor) -> None:
        """Post-accumulate hook: mark `param` ready; launch every bucket now complete."""
        if not self.require_backward_grad_sync:
            return
        if self._ready is None:  # the first gradient of this backward
            self._ready = [set() for _ in self._buckets]
            self._launched = []
            queue_callback(self._finish)
        i, k = self._where[id(param)]
        self._ready[i].add(k)
        self._launch_ready()

    def _launch_ready(self) -> None:
        """Launch complete buckets in bucket order (the same order on every rank)."""
        assert self._ready is not None
        while len(self._launched) < len(self._buckets):
            i = len(self._launched)
            if len(self._ready[i]) < len(self._buckets[i].params):
                return
            self._launch(self._buckets[i])

    def _launch(self, bucket: _Bucket) -> None:
        b = bucket.backend
        if any(p.backend is not b or str(p.dtype) != bucket.dtype for p in bucket.params):
            self._ready = None  # (the next backward starts afresh)
            raise RuntimeError(
                f"DistributedDataParallel: parameters moved to another device or dtype after "
                f"wrapping (bucket of {bucket.dtype} on {b.device}); call .to() on the model "
                "before wrapping it, as PyTorch requires")
        with b.scope:
            flat = b.xp.concat([
                b.xp.reshape(p._grad.array, (-1,)) if p._grad is not None else
                b.xp.zeros(p.numel(), dtype=p.array.dtype, device=b.native_device)
                for p in bucket.params])
        work = dist._group().engine(b).all_reduce(b, flat, dist.ReduceOp.AVG)
        self._launched.append((bucket, flat, work))

    def _finish(self) -> None:
        """At the end of backward: reduce what is left, wait, and put the averages into
        `.grad` (views of the reduced buckets)."""
        ready, self._ready = self._ready, None
        assert ready is not None
        missing = [p for i, bucket in enumerate(self._buckets)
                   for k, p in enumerate(bucket.params) if k not in ready[i]]
        if missing and not self.find_unused_parameters:
            names = {id(p): name for name, p in self.module.named_parameters()}
            raise RuntimeError(
                f"DistributedDataParallel: parameters got no gradient in this backward on "
                f"rank {dist.get_rank()}: {', '.join(names.get(id(p), '?') for p in missing)}; "
                "pass find_unused_parameters=True if the model leaves some unused")
        for i in range(len(self._launched), len(self._buckets)):
            self._launch(self._buckets[i])
        launched, self._launched = self._launched, []
        for bucket, flat, work in launched:
            work.wait()
            b, offset = bucket.backend, 0
            with b.scope:
                for p in bucket.params:
                    n = p.numel()
                    p._grad = Tensor._make(b.xp.reshape(flat[offset:offset + n], p.shape), b)
                    offset += n

    def extra_repr(self) -> str:
        """The number of buckets and ranks.

        Returns
        -------
        str

        Examples
        --------
        >>> from gradkit.nn.parallel import DistributedDataParallel
        >>> DistributedDataParallel.extra_repr.__name__
        'extra_repr'
        """
        return f"buckets={len(self._buckets)}, world_size={self._world}"
