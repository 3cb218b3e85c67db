"""Streams, events, CUDA graphs (stream capture) and memory pools, simulated.

Follows CuPy 14.2 / 13.6 (cupy/cuda/stream.pyx, graph.pyx, memory.pyx, cupy/cuda/__init__.py):

- `Stream(null=False, non_blocking=False, ptds=False, priority=None)` belongs to the device
  current at its creation; `with stream:` makes it current on that device (another device
  current: RuntimeError, CuPy's wording) and restores the previous one; `use()` makes it
  current. The null stream (`Stream.null`, ptr 0) is current until then.
- `begin_capture()` refuses the null stream (RuntimeError); until `end_capture()` every
  operation issued while the stream is current is run and recorded (`_core.record`).
  `end_capture()` returns a `Graph` whose `launch(stream=None)` replays the operations in
  order on the same arrays: results made during capture receive the new values in place.
  An empty capture gives a graph that does nothing. Launching into a capturing stream
  records the whole replay (a child graph).
- While capturing, a value copied to the host raises RuntimeError and a synchronize
  raises CUDARuntimeError cudaErrorStreamCaptureUnsupported and invalidates the capture
  (`_core.sync`); a host-to-device copy raises RuntimeError; cuBLAS calls raise
  NotImplementedError (`_core.refuse_cublas`). Allocating is allowed.
- Events record and wait instantly (nothing here is asynchronous); a stream lists the
  streams it waited for (`waited_for`), for tests.
- `MemoryPool().malloc(size)`, `used_bytes()`, `total_bytes()`, `free_all_blocks()`;
  `using_allocator(allocator)` (thread-local) and `get_allocator()`: inside it, every new
  array's bytes are taken from the allocator, and returned when the array is collected.
"""

from __future__ import annotations

import contextlib
import itertools

from ._core import CUDARuntimeError, Device, _local, current_stream, get_device_id

_ptrs = itertools.count(0x7000)


class _Capture:
    """What a capturing stream has recorded."""

    def __init__(self, dev: int):
        self.dev = dev
        self.ops: list = []
        self.invalid = False


def _check_device(device_id: int) -> int:
    current = get_device_id()
    if device_id == -1:
        return current
    if device_id != current:
        raise RuntimeError(f"The device that the stream is created on ({device_id}) does not "
                           f"match with the current device ({current})")
    return device_id


def _set_current(stream, dev: int):
    streams = getattr(_local, "streams", None)
    if streams is None:
        streams = _local.streams = {}
    if stream is None or stream.ptr == 0:
        streams.pop(dev, None)
    else:
        streams[dev] = stream


class Stream:
    """cupy.cuda.Stream."""

    null: Stream  # set below

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        if null:
            self.ptr, self.device_id = 0, -1
        else:
            self.ptr, self.device_id = next(_ptrs), get_device_id()
        self.non_blocking = non_blocking
        self._capture: _Capture | None = None
        self._stack: list = []
        self.waited_for: list = []  # simulator only: the streams whose events it waited for

    def __eq__(self, other):
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self):
        return self.ptr

    def __repr__(self):
        return f"<Stream {self.ptr} (device {self.device_id})>"

    def __enter__(self):
        dev = _check_device(self.device_id)
        self._stack.append((dev, current_stream(dev)))
        _set_current(self, dev)
        return self

    def __exit__(self, *exc):
        dev, previous = self._stack.pop()
        _set_current(previous, dev)

    def use(self):
        _set_current(self, _check_device(self.device_id))
        return self

    @property
    def is_non_blocking(self):
        return self.non_blocking

    @property
    def done(self):
        return True

    def synchronize(self):
        from ._core import sync

        if self._capture is not None:
            self._capture.invalid = True
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported: operation not "
                                   "permitted when stream is capturing")
        sync("Stream.synchronize", "sync")

    def record(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event):
        self.waited_for.append(event.stream)  # every operation has already run

    def begin_capture(self, mode=None):
        if self.ptr in (0, 1):
            raise RuntimeError("cannot capture on the default (legacy) stream")
        if self._capture is not None:
            raise CUDARuntimeError("cudaErrorIllegalState: operation would make the legacy "
                                   "stream depend on a capturing blocking stream")
        self._capture = _Capture(_check_device(self.device_id))

    def end_capture(self):
        capture, self._capture = self._capture, None
        if capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState: operation not permitted when "
                                   "stream is not capturing")
        if capture.invalid:
            raise CUDARuntimeError("cudaErrorStreamCaptureInvalidated: operation failed due "
                                   "to a previous error during capture")
        return Graph(capture)

    def is_capturing(self):
        if self._capture is not None and self._capture.invalid:
            raise RuntimeError("the stream was capturing, but an error has invalidated the "
                               "capture sequence")
        return self._capture is not None


Stream.null = Stream(null=True)


def ExternalStream(ptr, device_id=-1):
    """cupy.cuda.ExternalStream: a stream made elsewhere, by its pointer."""
    stream = Stream()
    stream.ptr, stream.device_id = ptr, device_id
    return stream


def get_current_stream(device_id=-1):
    stream = current_stream(None if device_id == -1 else device_id)
    return Stream.null if stream is None else stream


class Event:
    """cupy.cuda.Event."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.ptr = next(_ptrs)
        self.device_id = get_device_id()
        self.stream = None  # simulator only: where it was last recorded

    @property
    def done(self):
        return True

    def record(self, stream=None):
        stream = get_current_stream() if stream is None else stream
        if stream.device_id not in (-1, self.device_id):
            raise CUDARuntimeError("cudaErrorInvalidResourceHandle: invalid resource handle")
        self.stream = stream

    def synchronize(self):
        from ._core import sync

        sync("Event.synchronize", "sync")


def get_elapsed_time(start_event, end_event):
    return 0.0


class Graph:
    """cupy.cuda.Graph: made by Stream.end_capture, replays what was captured."""

    def __init__(self, capture: _Capture):
        self._capture = capture

    def launch(self, stream=None):
        stream = get_current_stream() if stream is None else stream
        if stream._capture is not None:  # a child graph of the capture under way
            stream._capture.ops.append(self._replay)
        else:
            self._replay()

    def upload(self, stream=None):
        pass

    def _replay(self):
        with Device(self._capture.dev):
            for op in self._capture.ops:
                op()


# ---- memory ----------------------------------------------------------------------------------
class _PooledMemory:
    def __init__(self, pool, size):
        self.pool, self.size = pool, size
        self.device_id = get_device_id()

    def free(self):
        self.pool._used -= self.size


class MemoryPool:
    """cupy.cuda.MemoryPool: counts the bytes of the arrays made with its `malloc`."""

    def __init__(self, allocator=None):
        self._used = 0
        self._total = 0
        self.mallocs = 0  # simulator only: how many allocations it has served

    def malloc(self, size):
        size = -(-int(size) // 512) * 512  # CuPy rounds up to 512 bytes
        self._used += size
        self._total = max(self._total, self._used)
        self.mallocs += 1
        return _PooledMemory(self, size)

    def used_bytes(self):
        return self._used

    def free_bytes(self):
        return self._total - self._used

    def total_bytes(self):
        return self._total

    def free_all_blocks(self, stream=None):
        self._total = self._used

    def n_free_blocks(self):
        return 0

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


def _malloc(size):
    """CuPy's raw allocator (`memory._malloc`, cudaMalloc), the global default here."""
    return None


_global_allocator = _malloc


def get_allocator():
    allocator = getattr(_local, "allocator", None)
    return _global_allocator if allocator is None else allocator


def set_allocator(allocator=None):
    global _global_allocator
    if getattr(_local, "allocator", None) is not None:
        raise ValueError("Can't change the global allocator inside `using_allocator` "
                         "context manager")
    _global_allocator = _malloc if allocator is None else allocator


@contextlib.contextmanager
def using_allocator(allocator=None):
    previous = getattr(_local, "allocator", None)
    _local.allocator = _malloc if allocator is None else allocator
    try:
        yield
    finally:
        _local.allocator = previous
