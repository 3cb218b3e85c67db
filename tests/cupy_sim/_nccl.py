"""`cupy.cuda.nccl` stand-in: NCCL's pointer-based API, its collectives done over MPI.

Every rank of an `mpiexec` run is one simulated GPU process. The communicator checks
what real NCCL would refuse or hang on (a unique id that differs between ranks, the
wrong world size or rank, a stream that is no pointer), then reads the buffers from the
addresses it is given, as NCCL reads device memory, and runs the collective with MPI on
host copies. CuPy 14's unique id is 128 bytes, CuPy 13's a tuple of 128 ints.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from . import _core

NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_BFLOAT16 = 6, 7, 8, 9
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
_DTYPES = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32,
           NCCL_UINT32: np.uint32, NCCL_INT64: np.int64, NCCL_UINT64: np.uint64,
           NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
available = True
PUBLIC = ("available", "calls", "NcclError", "get_unique_id", "get_version",
          "NcclCommunicator")
VERSION = 22304  # what get_version() answers (NCCL 2.23.4); below 21000 there is no AVG
calls: list[str] = []  # the collectives made, in order (tests count them)


class NcclError(RuntimeError):
    pass


def get_version():
    return VERSION


def get_unique_id():
    raw = os.urandom(128)
    return raw if _core.Config.version.startswith("14") else tuple(raw)


def _memory(ptr, count, datatype):
    """The `count` elements of `datatype` at address `ptr`, as a writable NumPy view."""
    if not isinstance(ptr, int) or not ptr:
        raise NcclError(f"invalid device pointer {ptr!r}")
    dtype = np.dtype(_DTYPES[datatype])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):
        from mpi4py import MPI

        version14 = _core.Config.version.startswith("14")
        if version14 and not isinstance(commId, bytes) or \
                not version14 and not isinstance(commId, tuple) or len(commId) != 128:
            raise ValueError(f"commId must be what get_unique_id() returned, not "
                             f"{type(commId).__name__}")
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD.Dup()
        if ndev != self._comm.Get_size() or rank != self._comm.Get_rank():
            raise NcclError(f"ncclCommInitRank(ndev={ndev}, rank={rank}) in an MPI world of "
                            f"{self._comm.Get_size()} (rank {self._comm.Get_rank()})")
        ids = self._comm.allgather(bytes(commId))
        if len(set(ids)) != 1:  # real NCCL would hang waiting for peers
            raise NcclError("ranks passed different unique ids: rank 0's id was not broadcast")
        self._device = _core.get_device_id()
        self._ops = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX,
                     NCCL_MIN: MPI.MIN}
        if VERSION >= 21000:
            self._ops[NCCL_AVG] = MPI.SUM

    def _check(self, stream):
        if self._comm is None:
            raise NcclError("the communicator was destroyed")
        if not isinstance(stream, int):
            raise TypeError(f"stream must be a pointer (int), not {type(stream).__name__}")
        if _core.get_device_id() != self._device:
            raise NcclError(f"communicator of GPU {self._device} used with GPU "
                            f"{_core.get_device_id()} current")

    def device_id(self):
        return self._device

    def rank_id(self):
        return self._comm.Get_rank()

    def size(self):
        return self._comm.Get_size()

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        self._check(stream)
        calls.append("allReduce")
        if op not in self._ops:
            raise NcclError(f"ncclInvalidArgument: reduction op {op} (NCCL {VERSION})")
        send = _memory(sendbuf, count, datatype).copy()
        recv = _memory(recvbuf, count, datatype)
        result = np.empty_like(send)
        self._comm.Allreduce(send, result, op=self._ops[op])
        if op == NCCL_AVG:
            result = (result / self._comm.Get_size()).astype(result.dtype)
        recv[...] = result

    def broadcast(self, sendbuff, recvbuff, count, datatype, root, stream):
        self._check(stream)
        calls.append("broadcast")
        host = _memory(sendbuff, count, datatype).copy()
        self._comm.Bcast(host, root=root)
        _memory(recvbuff, count, datatype)[...] = host

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        self._check(stream)
        calls.append("allGather")
        send = _memory(sendbuf, count, datatype).copy()
        result = np.empty(count * self._comm.Get_size(), send.dtype)
        self._comm.Allgather(send, result)
        _memory(recvbuf, result.size, datatype)[...] = result

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        self._check(stream)
        calls.append("reduceScatter")
        send = _memory(sendbuf, recvcount * self._comm.Get_size(), datatype).copy()
        result = np.empty(recvcount, send.dtype)
        self._comm.Reduce_scatter_block(send, result, op=self._ops[op])
        if op == NCCL_AVG:
            result = (result / self._comm.Get_size()).astype(result.dtype)
        _memory(recvbuf, recvcount, datatype)[...] = result

    def destroy(self):
        if self._comm is not None:
            self._comm.Free()
            self._comm = None

    def abort(self):
        self.destroy()
