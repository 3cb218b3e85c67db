"""NCCL collectives for CuPy arrays: the GPU path of ``gradkit.distributed``.

One NCCL communicator per process, on ``cuda:<node-local rank>``; rank 0 makes the
unique id (``nccl.get_unique_id()``, bytes in CuPy 14, a tuple in 13: passed on as is)
and MPI broadcasts it, as ChainerMN did. Every collective is queued on the current CUDA
stream and reduces in GPU memory: no host copy, no synchronisation, so later kernels on
the stream see the result and a :class:`~gradkit.distributed.Work` has nothing to wait
for. Imported only by ``init_process_group("nccl")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Backend


def _nccl() -> Any:
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError(f"the nccl backend needs CuPy with NCCL ({e}); pip install "
                           '"gradkit[cuda12]" nvidia-nccl-cu12, or use backend="mpi"') from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("CuPy cannot load NCCL: pip install nvidia-nccl-cu12 (or -cu13), "
                           'or use backend="mpi"')
    return cupy, nccl


class NCCLCommunicator:
    """Collectives on CuPy arrays over one NCCL communicator per process.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The MPI world that carries the unique id.
    local_rank : int
        This process's rank on its machine: its GPU.

    Raises
    ------
    RuntimeError
        If CuPy, NCCL or GPU `local_rank` is missing.

    Notes
    -----
    The engine behind ``init_process_group("nccl")``; PyTorch's is its NCCL process
    group. Arrays must be on this process's GPU.

    Examples
    --------
    >>> from gradkit.backends.nccl import NCCLCommunicator
    >>> NCCLCommunicator.name
    'nccl'
    """

    name = "nccl"

    def __init__(self, comm: Any, local_rank: int) -> None:
        self.cupy, self.nccl = _nccl()
        count = self.cupy.cuda.runtime.getDeviceCount()
        if local_rank >= count:
            raise RuntimeError(f"rank {comm.Get_rank()} is process {local_rank} on its machine "
                               f"but the machine has {count} GPU(s): start at most one "
                               "process per GPU")
        self.device_id = local_rank
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        uid = self.nccl.get_unique_id() if self.rank == 0 else None
        uid = comm.bcast(uid, root=0)
        with self.cupy.cuda.Device(local_rank):
            self.comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)
        n = self.nccl
        self._ops = {"sum": n.NCCL_SUM, "product": n.NCCL_PROD, "max": n.NCCL_MAX,
                     "min": n.NCCL_MIN,
                     # ncclAvg arrived in NCCL 2.10 (version code 21000): before, sum, divide
                     "avg": n.NCCL_AVG if n.get_version() >= 21000 else None}
        self._dtypes = {np.dtype(k): getattr(n, v) for k, v in (
            ("int8", "NCCL_INT8"), ("uint8", "NCCL_UINT8"), ("int32", "NCCL_INT32"),
            ("int64", "NCCL_INT64"), ("float16", "NCCL_FLOAT16"),
            ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"))}
        self._dtypes[np.dtype(bool)] = n.NCCL_UINT8

    def _args(self, array: Any) -> tuple[int, int]:
        """(NCCL dtype, current stream pointer) for a contiguous array on this GPU."""
        if array.data.device_id != self.device_id:
            raise ValueError(f"NCCL on rank {self.rank} uses cuda:{self.device_id}, but the "
                             f"tensor is on cuda:{array.data.device_id}")
        dtype = self._dtypes.get(np.dtype(array.dtype))
        if dtype is None:
            raise TypeError(f"NCCL cannot reduce dtype {array.dtype}")
        return dtype, self.cupy.cuda.get_current_stream().ptr

    def _run(self, backend: Backend, out: Any, op: str | None,
             launch: Callable[[Any, int, int], None]) -> Any:
        """Queue ``launch(contiguous out, NCCL dtype, stream)`` with this GPU current; `out`
        goes through a contiguous copy written back if it is not contiguous. Without
        ncclAvg (NCCL < 2.10) an average is a sum, then a division."""
        from gradkit.distributed import Work  # (no wait: the work is in stream order)

        with backend.scope:
            buffer = out if out.flags.c_contiguous else self.cupy.ascontiguousarray(out)
            launch(buffer, *self._args(buffer))
            if op == "avg" and self._ops["avg"] is None:
                buffer *= 1 / self.size
            if buffer is not out:
                out[...] = buffer
        return Work()

    def _op(self, op: str) -> int:
        return self._ops[op] if self._ops[op] is not None else self._ops["sum"]

    def all_reduce(self, backend: Backend, array: Any, op: str) -> Any:
        return self._run(backend, array, op, lambda a, dtype, stream: self.comm.allReduce(
            a.data.ptr, a.data.ptr, a.size, dtype, self._op(op), stream))

    def broadcast(self, backend: Backend, array: Any, src: int) -> Any:
        return self._run(backend, array, None, lambda a, dtype, stream: self.comm.broadcast(
            a.data.ptr, a.data.ptr, a.size, dtype, src, stream))

    def all_gather(self, backend: Backend, array: Any, out: Any) -> Any:
        self._args(array)  # (checks the send buffer's GPU and dtype too)
        return self._run(backend, out, None, lambda o, dtype, stream: self.comm.allGather(
            array.data.ptr, o.data.ptr, array.size, dtype, stream))

    def reduce_scatter(self, backend: Backend, array: Any, out: Any, op: str) -> Any:
        self._args(array)
        return self._run(backend, out, op, lambda o, dtype, stream: self.comm.reduceScatter(
            array.data.ptr, o.data.ptr, o.size, dtype, self._op(op), stream))

    def destroy(self) -> None:
        """Free the NCCL communicator.

        Examples
        --------
        >>> from gradkit.backends.nccl import NCCLCommunicator
        >>> callable(NCCLCommunicator.destroy)
        True
        """
        comm, self.comm = getattr(self, "comm", None), None
        if comm is not None:
            comm.destroy()
