"""Collectives across processes, with PyTorch's ``torch.distributed`` names.

    mpiexec -n 2 python train.py

    import gradkit.distributed as dist
    dist.init_process_group("mpi")          # or "nccl": one GPU per process
    dist.all_reduce(t, op=dist.ReduceOp.SUM)

Built on existing engines, as ChainerMN was: MPI (mpi4py) starts the processes, gives
each its rank, and carries the collectives of CPU tensors; NCCL (through CuPy) carries
those of GPU tensors, its unique id sent from rank 0 over MPI. The ``mpi`` backend works
for tensors on any device, through a host copy for device arrays; ``nccl`` reduces in
GPU memory, on the current stream, with no host copy.

An uncaught exception on any rank prints that rank's traceback and aborts every rank
(``MPI_Abort``), and so does ``sys.exit`` with an error status, so a failed job ends at
once instead of waiting in a collective.
:class:`gradkit.nn.parallel.DistributedDataParallel` and
:class:`gradkit.data.DistributedSampler` build data-parallel training on this module.
"""

from __future__ import annotations

import atexit
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from .backends.base import Backend
from .tensor import Tensor

__all__ = ["ReduceOp", "Work", "is_available", "init_process_group", "is_initialized",
           "destroy_process_group", "get_rank", "get_world_size", "get_backend",
           "get_node_local_rank", "barrier", "all_reduce", "broadcast", "all_gather",
           "reduce_scatter_tensor"]


class ReduceOp:
    """How :func:`all_reduce` combines the ranks' values (torch.distributed.ReduceOp).

    ``AVG`` is for floating-point tensors only.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.ReduceOp.SUM
    'sum'
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MAX, ReduceOp.MIN)


class Work:
    """A collective started with ``async_op=True``: ``wait()`` for its result.

    Parameters
    ----------
    finish : callable, optional
        What completes the operation (waits for MPI, writes the result back); run once.

    Notes
    -----
    PyTorch equivalent: ``torch.distributed.Work``. On NCCL the collective is queued on
    the current CUDA stream, so later work on that stream sees its result without a
    wait; :meth:`wait` returns at once there.

    Examples
    --------
    >>> from gradkit.distributed import Work
    >>> w = Work()
    >>> w.wait(), w.is_completed()
    (True, True)
    """

    def __init__(self, finish: Callable[[], None] | None = None) -> None:
        self._finish = finish

    def wait(self) -> bool:
        """Block until the operation is complete and its result written.

        Returns
        -------
        bool
            True, as PyTorch's.

        Notes
        -----
        PyTorch equivalent: ``torch.distributed.Work.wait`` (without its timeout).

        Examples
        --------
        >>> from gradkit.distributed import Work
        >>> Work().wait()
        True
        """
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def is_completed(self) -> bool:
        """Whether ``wait()`` has run (or nothing was pending).

        Returns
        -------
        bool

        Notes
        -----
        PyTorch equivalent: ``torch.distributed.Work.is_completed``.

        Examples
        --------
        >>> from gradkit.distributed import Work
        >>> Work(lambda: None).is_completed()
        False
        """
        return self._finish is None


# ---- the engines ------------------------------------------------------------------------
class MPICommunicator:
    """Collectives over MPI on host buffers: the ``mpi`` backend, and the fallback.

    A NumPy array that is C-contiguous is reduced in place; any other array (a GPU's,
    array-api-strict's) is copied to the host, reduced there and written back.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The communicator (``MPI.COMM_WORLD``).

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.MPICommunicator.__name__
    'MPICommunicator'
    """

    name = "mpi"

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}

    def _host(self, backend: Backend, array: Any) -> tuple[np.ndarray, bool]:
        """(a C-contiguous, writable host buffer with `array`'s values, whether it is a
        copy that must be written back). One copy at most: to_numpy already copies from a
        device."""
        if isinstance(array, np.ndarray):
            if array.flags.c_contiguous and array.flags.writeable:
                return array, False
            return np.array(array, order="C"), True
        return np.ascontiguousarray(backend.to_numpy(array)), True

    def _work(self, request: Any, backend: Backend, host: np.ndarray, array: Any,
              write_back: bool, average: bool) -> Work:
        """The Work of a started request: wait, average, write the host buffer back."""
        def finish() -> None:
            request.Wait()
            if average:
                np.multiply(host, 1 / self.size, out=host, casting="unsafe")
            if write_back:
                _write_raw(backend, array, host)
        return Work(finish)

    def all_reduce(self, backend: Backend, array: Any, op: str) -> Work:
        host, copied = self._host(backend, array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self._ops[op])
        return self._work(request, backend, host, array, copied, op == ReduceOp.AVG)

    def broadcast(self, backend: Backend, array: Any, src: int) -> Work:
        host, copied = self._host(backend, array)
        request = self.comm.Ibcast(host, root=src)
        return self._work(request, backend, host, array, copied and self.rank != src, False)

    def all_gather(self, backend: Backend, array: Any, out: Any) -> Work:
        send, _ = self._host(backend, array)
        recv, copied = self._host(backend, out)
        request = self.comm.Iallgather(send, recv)
        return self._work(request, backend, recv, out, copied, False)

    def reduce_scatter(self, backend: Backend, array: Any, out: Any, op: str) -> Work:
        send, _ = self._host(backend, array)
        recv, copied = self._host(backend, out)
        request = self.comm.Ireduce_scatter_block(send, recv, op=self._ops[op])
        return self._work(request, backend, recv, out, copied, op == ReduceOp.AVG)

    def destroy(self) -> None:
        pass


def _write_raw(backend: Backend, array: Any, host: np.ndarray) -> None:
    """Write host values into a raw array of `backend`, in place."""
    with backend.scope:
        array[...] = backend.xp.reshape(backend.asarray(host), array.shape)


# ---- the process group ------------------------------------------------------------------
class _Group:
    """The default process group: the MPI world, and the engine for each device kind."""

    def __init__(self, backend: str, comm: Any, engines: dict[str, Any],
                 local_rank: int) -> None:
        self.backend, self.comm, self.engines = backend, comm, engines
        self.rank, self.size, self.local_rank = comm.Get_rank(), comm.Get_size(), local_rank
        self.previous_excepthook: Callable[..., Any] | None = None
        self.previous_exit: Callable[..., Any] | None = None
        self.exit_status: Any = 0  # what sys.exit was last called with

    def engine(self, backend: Backend) -> Any:
        """The engine that reduces arrays of `backend`: NCCL for GPUs when initialised
        with it, MPI otherwise."""
        return self.engines.get(backend.name) or self.engines["mpi"]


_GROUP: _Group | None = None


def is_available() -> bool:
    """Whether distributed training can run here: mpi4py imports.

    Returns
    -------
    bool

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.is_available`. ``pip install
    "gradkit[distributed]"`` installs mpi4py and an MPI (MPICH) wheel.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> isinstance(dist.is_available(), bool)
    True
    """
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def init_process_group(backend: str = "mpi", init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       **kwargs: Any) -> None:
    """Join the process group the MPI launcher started (``mpiexec -n N``).

    Rank and world size come from MPI (a script run without a launcher is rank 0 of 1).
    ``"nccl"`` also creates one NCCL communicator per process for GPU tensors, on
    ``cuda:<node-local rank>``; rank 0 makes the NCCL unique id and broadcasts it over
    MPI. From here on an uncaught exception on any rank prints its traceback and aborts
    all ranks, and so does ``sys.exit`` with an error status (``sys.exit`` is wrapped to
    note the status; ``raise SystemExit`` is not seen).

    Parameters
    ----------
    backend : {"mpi", "nccl"}, default "mpi"
        ``"mpi"``: every collective over MPI (CPU tensors in place, device tensors
        through a host copy). ``"nccl"``: GPU tensors over NCCL, CPU tensors over MPI.
    init_method : str, optional
        Accepted for PyTorch compatibility; only ``None`` or ``"env://"`` (MPI finds
        its peers itself).
    timeout : datetime.timedelta, optional
        Accepted for PyTorch compatibility and not used: MPI has no collective timeout;
        a failing rank aborts the job instead.
    world_size, rank : int, optional
        If given, must agree with what the MPI launcher says.
    **kwargs
        Other PyTorch keywords (``store``, ``group_name``, ``device_id``) are refused.

    Raises
    ------
    RuntimeError
        If already initialised, mpi4py is missing, or NCCL is unavailable.
    ValueError
        If `backend` is unknown, or `world_size`/`rank` disagree with the launcher.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.init_process_group`, which also reads
    rank and world size from an MPI launcher with its ``"mpi"`` backend. gradkit has no
    TCP store (``init_method="tcp://..."``): MPI's launcher does that job.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> if dist.is_available():
    ...     dist.init_process_group("mpi")
    ...     print(dist.get_rank(), dist.get_world_size())
    ...     dist.destroy_process_group()
    ... else:
    ...     print(0, 1)
    0 1
    """
    global _GROUP
    if _GROUP is not None:
        raise RuntimeError("init_process_group was already called in this process "
                           "(destroy_process_group first)")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"unknown distributed backend {backend!r}: expected 'mpi' or 'nccl'")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method={init_method!r} is not supported: gradkit's process "
                         "groups come from the MPI launcher (mpiexec -n N python ...)")
    if kwargs:
        raise TypeError(f"init_process_group got unsupported arguments {sorted(kwargs)}")
    if not is_available():
        raise RuntimeError('distributed training needs mpi4py and an MPI library: '
                           'pip install "gradkit[distributed]" (mpi4py and MPICH)')
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if world_size not in (-1, comm.Get_size()) or rank not in (-1, comm.Get_rank()):
        raise ValueError(f"world_size={world_size}, rank={rank} disagree with the MPI launcher "
                         f"(world size {comm.Get_size()}, rank {comm.Get_rank()}); leave them "
                         "out")
    local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    engines: dict[str, Any] = {"mpi": MPICommunicator(comm)}
    if backend == "nccl":
        from .backends.nccl import NCCLCommunicator

        engines["cupy"] = NCCLCommunicator(comm, local_rank)
    _GROUP = _Group(backend, comm, engines, local_rank)
    if _GROUP.size > 1:
        _GROUP.previous_excepthook, sys.excepthook = sys.excepthook, _abort_on_exception
        _GROUP.previous_exit, sys.exit = sys.exit, _recording_exit
        atexit.register(_abort_on_error_exit)  # runs before mpi4py's MPI_Finalize (LIFO)


def _recording_exit(status: str | int | None = None) -> NoReturn:
    """sys.exit while a group of several ranks runs: note the status, then exit."""
    if _GROUP is not None:
        _GROUP.exit_status = status
    raise SystemExit(status)


def _abort_on_error_exit() -> None:
    """At exit after sys.exit(error): end every rank (the others would wait for this one
    in their next collective, and its MPI_Finalize for them)."""
    group = _GROUP
    if group is None or group.exit_status in (0, None):
        return
    sys.stderr.write(f"gradkit.distributed: rank {group.rank} exited with status "
                     f"{group.exit_status!r}; aborting all ranks\n")
    sys.stderr.flush()
    time.sleep(0.5)  # let the launcher forward the output before it kills everyone
    status = group.exit_status
    group.comm.Abort(status if isinstance(status, int) else 1)


def _abort_on_exception(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """sys.excepthook while a group of several ranks runs: show the error, end them all."""
    group = _GROUP
    rank = group.rank if group is not None else "?"
    lines = traceback.format_exception(exc_type, exc, tb)
    sys.stderr.write(f"gradkit.distributed: rank {rank} failed; aborting all ranks\n"
                     + "".join(lines))
    sys.stderr.flush()
    if group is not None:
        time.sleep(0.5)  # let the launcher forward the traceback before it kills everyone
        group.comm.Abort(1)


def _group() -> _Group:
    if _GROUP is None:
        raise RuntimeError("the default process group has not been initialized: call "
                           "gradkit.distributed.init_process_group() first")
    return _GROUP


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has been called (and not destroyed).

    Returns
    -------
    bool

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.is_initialized`.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.is_initialized()
    False
    """
    return _GROUP is not None


def destroy_process_group() -> None:
    """Leave the process group: free the NCCL communicator, restore sys.excepthook and
    sys.exit.

    MPI itself stays initialised until the process exits (mpi4py finalises it), so a
    later :func:`init_process_group` works.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.destroy_process_group`.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.destroy_process_group()   # nothing to do when not initialised
    """
    global _GROUP
    group, _GROUP = _GROUP, None
    if group is None:
        return
    for engine in group.engines.values():
        engine.destroy()
    if group.previous_excepthook is not None and sys.excepthook is _abort_on_exception:
        sys.excepthook = group.previous_excepthook
    if group.previous_exit is not None and sys.exit is _recording_exit:
        sys.exit = group.previous_exit
    atexit.unregister(_abort_on_error_exit)


def get_rank() -> int:
    """This process's rank, 0 to world size - 1.

    Returns
    -------
    int

    Raises
    ------
    RuntimeError
        If the process group is not initialised.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.get_rank`.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> try:
    ...     dist.get_rank()
    ... except RuntimeError as e:
    ...     print(e)
    the default process group has not been initialized: call ...init_process_group() first
    """
    return _group().rank


def get_world_size() -> int:
    """The number of processes in the group.

    Returns
    -------
    int

    Raises
    ------
    RuntimeError
        If the process group is not initialised.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.get_world_size`.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.is_initialized() or print("call init_process_group first")
    call init_process_group first
    """
    return _group().size


def get_node_local_rank() -> int:
    """This process's rank among the processes on its machine (its GPU index).

    Returns
    -------
    int

    Raises
    ------
    RuntimeError
        If the process group is not initialised.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.get_node_local_rank`, which reads the
    ``LOCAL_RANK`` variable torchrun sets; here MPI tells it (``COMM_TYPE_SHARED``).

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> device = f"cuda:{dist.get_node_local_rank()}" if dist.is_initialized() else "cpu"
    >>> device
    'cpu'
    """
    return _group().local_rank


def get_backend() -> str:
    """The backend the group was initialised with, ``"mpi"`` or ``"nccl"``.

    Returns
    -------
    str

    Raises
    ------
    RuntimeError
        If the process group is not initialised.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.get_backend`.

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.is_initialized()
    False
    """
    return _group().backend


def barrier() -> None:
    """Wait until every rank has reached this call.

    Raises
    ------
    RuntimeError
        If the process group is not initialised.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.barrier`. Pending GPU work is not
    waited for (it is on NCCL's stream order already).

    Examples
    --------
    >>> import gradkit.distributed as dist
    >>> dist.is_initialized() and dist.barrier()
    False
    """
    _group().comm.Barrier()


def _check(tensor: Any, who: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who} takes a gradkit Tensor, not {type(tensor).__name__}")
    return tensor


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM, group: None = None,
               async_op: bool = False) -> Work | None:
    """Combine `tensor` across ranks, in place: afterwards every rank holds the result.

    Parameters
    ----------
    tensor : Tensor
        On any device; its values are replaced (a counted in-place write).
    op : ReduceOp, default ReduceOp.SUM
        ``SUM``, ``AVG`` (floating point only), ``PRODUCT``, ``MAX`` or ``MIN``.
    group : None
        Only the default group exists.
    async_op : bool, default False
        Return a :class:`Work` to wait for instead of waiting.

    Returns
    -------
    Work or None
        A Work with ``async_op``, else None.

    Raises
    ------
    RuntimeError
        If the process group is not initialised.
    ValueError
        If `op` is unknown, or ``AVG`` is asked of an integer tensor.
    TypeError
        If `tensor` is not a Tensor.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.all_reduce`. Run it outside autograd:
    the result is not differentiable (as PyTorch's).

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.distributed as dist
    >>> t = gk.tensor([1.0, 2.0])
    >>> if dist.is_initialized():
    ...     dist.all_reduce(t)
    >>> t
    tensor([1., 2.])
    """
    tensor = _check(tensor, "all_reduce")
    if op not in _OPS:
        raise ValueError(f"unknown reduce op {op!r}: expected one of {', '.join(_OPS)}")
    if op == ReduceOp.AVG and not tensor.is_floating_point():
        raise ValueError(f"ReduceOp.AVG needs a floating-point tensor, not {tensor.dtype}")
    g = _group()
    work = g.engine(tensor.backend).all_reduce(tensor.backend, tensor.array, op)
    tensor._bump_version()
    return _returned(work, async_op)


def broadcast(tensor: Tensor, src: int, group: None = None,
              async_op: bool = False) -> Work | None:
    """Copy rank `src`'s `tensor` into `tensor` on every other rank, in place.

    Parameters
    ----------
    tensor : Tensor
        The same shape and dtype on every rank.
    src : int
        The rank whose values win.
    group : None
        Only the default group exists.
    async_op : bool, default False
        Return a :class:`Work` to wait for instead of waiting.

    Returns
    -------
    Work or None
        A Work with ``async_op``, else None.

    Raises
    ------
    RuntimeError
        If the process group is not initialised.
    ValueError
        If `src` is not a rank.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.broadcast`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.distributed as dist
    >>> w = gk.randn(3)
    >>> if dist.is_initialized():
    ...     dist.broadcast(w, src=0)   # every rank now has rank 0's w
    """
    tensor = _check(tensor, "broadcast")
    g = _group()
    if not 0 <= src < g.size:
        raise ValueError(f"src={src} is not a rank of this group (world size {g.size})")
    work = g.engine(tensor.backend).broadcast(tensor.backend, tensor.array, src)
    tensor._bump_version()
    return _returned(work, async_op)


def all_gather(tensor_list: Sequence[Tensor], tensor: Tensor, group: None = None,
               async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's `tensor`, on every rank.

    Parameters
    ----------
    tensor_list : list of Tensor
        World-size tensors of `tensor`'s shape, dtype and device, written in place.
    tensor : Tensor
        This rank's contribution.
    group : None
        Only the default group exists.
    async_op : bool, default False
        Return a :class:`Work` to wait for instead of waiting.

    Returns
    -------
    Work or None
        A Work with ``async_op``, else None.

    Raises
    ------
    RuntimeError
        If the process group is not initialised.
    ValueError
        If `tensor_list` does not hold world-size tensors like `tensor`.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.all_gather`. One collective into a
    stacked buffer, then a copy into each list entry.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.distributed as dist
    >>> if dist.is_initialized():
    ...     out = [gk.zeros(2) for _ in range(dist.get_world_size())]
    ...     dist.all_gather(out, gk.ones(2) * dist.get_rank())
    """
    tensor = _check(tensor, "all_gather")
    g = _group()
    if len(tensor_list) != g.size or any(
            t.shape != tensor.shape or t.dtype != tensor.dtype or t.backend is not tensor.backend
            for t in tensor_list):
        raise ValueError(f"all_gather needs a list of {g.size} tensors of shape "
                         f"{tuple(tensor.shape)}, dtype {tensor.dtype} on {tensor.device}")
    b = tensor.backend
    with b.scope:
        stacked = b.xp.empty((g.size, *tensor.shape), dtype=tensor.array.dtype,
                             device=b.native_device)
        source = b.xp.reshape(tensor.array, (-1,))  # C-contiguous (a copy only if it is not)
    work = g.engine(b).all_gather(b, source, stacked)

    def finish() -> None:
        work.wait()
        for r, t in enumerate(tensor_list):
            t._write(stacked[r, ...])
    return _returned(Work(finish), async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: str = ReduceOp.SUM,
                          group: None = None, async_op: bool = False) -> Work | None:
    """Reduce `input` across ranks and give rank r the r-th block of the result.

    Parameters
    ----------
    output : Tensor
        This rank's block, ``input.shape[0] // world_size`` rows, written in place.
    input : Tensor
        World-size blocks along axis 0, the same shape on every rank.
    op : ReduceOp, default ReduceOp.SUM
        As for :func:`all_reduce`.
    group : None
        Only the default group exists.
    async_op : bool, default False
        Return a :class:`Work` to wait for instead of waiting.

    Returns
    -------
    Work or None
        A Work with ``async_op``, else None.

    Raises
    ------
    RuntimeError
        If the process group is not initialised.
    ValueError
        If the shapes do not fit, or `op` is unknown.

    Notes
    -----
    PyTorch equivalent: :func:`torch.distributed.reduce_scatter_tensor`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.distributed as dist
    >>> if dist.is_initialized():
    ...     n = dist.get_world_size()
    ...     out = gk.zeros(2)
    ...     dist.reduce_scatter_tensor(out, gk.ones(2 * n))   # out == [n, n]
    """
    output, input = _check(output, "reduce_scatter_tensor"), _check(input, "reduce_scatter_tensor")
    if op not in _OPS:
        raise ValueError(f"unknown reduce op {op!r}: expected one of {', '.join(_OPS)}")
    g = _group()
    if input.shape[0] != output.shape[0] * g.size or input.shape[1:] != output.shape[1:] or \
            input.dtype != output.dtype or input.backend is not output.backend:
        raise ValueError(f"reduce_scatter_tensor: input {tuple(input.shape)} must be "
                         f"{g.size} blocks of output's shape {tuple(output.shape)}, same "
                         "dtype and device")
    b = output.backend
    with b.scope:
        source = b.xp.reshape(input.array, (-1,))  # C-contiguous (a copy only if it is not)
    work = g.engine(b).reduce_scatter(b, source, output.array, op)
    output._bump_version()
    return _returned(work, async_op)


def _returned(work: Work, async_op: bool) -> Work | None:
    """What a collective returns: its Work with `async_op`, else None after waiting."""
    if async_op:
        return work
    work.wait()
    return None
