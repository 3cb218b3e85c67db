"""`gk.compile`: record one training step as a flat program of array calls, then replay it.

The eager step pays, per op, for Tensor and Function objects, the graph walk and fresh
temporaries. A compiled step runs the step once in recording mode and afterwards replays
only the array calls it made, into the same preallocated buffers: no Tensor or Function
objects, no graph, no allocations (tinygrad's TinyJit, Chainer's static_graph).

How it records (NumPy): the state the step touches (parameters, buffers, gradients,
optimizer state, the input batch) is viewed as `_Traced`, an ndarray subclass whose
`__array_ufunc__`, `__array_function__` and array methods compute as usual and append each
call to the program, its result becoming a buffer. Views of buffers need no replay (their
memory is the buffers'). Work that must run again at every replay with what is current
then, such as `Optimizer.step` (the learning rate of a schedule, Adam's step count), random
draws (fresh numbers from the generator) and index-bounds checks, is marked
`backends.base.host_op` and recorded as one call of itself. Before its first replay, a
program's buffers are packed into one arena by lifetime (`_plan_memory`), except those a
live tensor still holds.

A step's lifecycle, per guard key (argument shapes, dtypes, devices, requires_grad, the
modules' train/eval modes, grad mode): the first call runs eagerly (it creates optimizer
state and lazy buffers); the second records while it runs; the third verifies, running the
step eagerly and by replay from the same state and comparing every number bit for bit
(principle 6: an array call the recorder missed cannot give a silently wrong number); later
calls replay.

What the recorder refuses, with `CompileError`: reading a value on the host inside the
step (``loss.item()``, ``float(x)``, ``if (x > 0).any():``), data-dependent shapes
(boolean-mask indexing, nonzero), and a replay that differs from the eager step. Backends
other than NumPy run the step eagerly at every call (CUDA graphs: see docs/performance.md).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import inspect
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .autograd import _mode
from .backends import base as _base
from .tensor import Tensor

__all__ = ["compile", "CompileError", "CompiledStep"]


class CompileError(RuntimeError):
    """What a compiled step cannot record, or a replay that differs from the eager step.

    Examples
    --------
    >>> import gradkit as gk
    >>> issubclass(gk.CompileError, RuntimeError)
    True
    """


# ---- the recorder -------------------------------------------------------------------------
_RECORDER: _Recorder | None = None  # the one recording now (a step is recorded on one thread)


def _plain(x: Any) -> Any:
    return np.ndarray.view(x, np.ndarray) if isinstance(x, _Traced) else x


def _unwrap(value: Any, found: list) -> Any:
    """`value` with every _Traced array inside (lists, tuples, dicts) replaced by a plain
    view of it; the plain views are appended to `found`."""
    if isinstance(value, _Traced):
        plain = value._plain()
        found.append(plain)
        return plain
    if isinstance(value, (list, tuple)):
        items = [_unwrap(v, found) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _unwrap(v, found) for k, v in value.items()}
    return value


# functions of arrays whose Python result depends on shapes only (not on values)
_SHAPE_ONLY = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory,
               np.shares_memory, np.iscomplexobj, np.isrealobj}
# functions whose result's shape depends on the values: refused (a replay could not fit)
_DATA_SHAPED = {np.nonzero, np.flatnonzero, np.argwhere, np.unique, np.extract,
                np.compress, np.trim_zeros}
# NumPy's creation functions: while a step records, what they make is a buffer of the
# program, filled again at each replay (a later in-place write into it must be recorded,
# and a plain array's writes cannot be seen): name -> where the fill value is
_CREATION = {"zeros": 0, "ones": 1, "empty": None, "full": ("fill_value", 1),
             "zeros_like": 0, "ones_like": 1, "empty_like": None,
             "full_like": ("fill_value", 1)}


def _adopt(r: np.ndarray) -> tuple[_Traced, np.ndarray]:
    """`r`'s values in a traced array that owns its memory, as the eager result does (code
    that copies views, testing `.base`, behaves alike), and the plain view of it that the
    replays write into."""
    if r.flags.c_contiguous or r.flags.f_contiguous:
        t = np.ndarray.__new__(_Traced, r.shape, r.dtype,
                               order="C" if r.flags.c_contiguous else "F")
        buffer = np.ndarray.view(t, np.ndarray)
        np.copyto(buffer, r)
        return t, buffer
    return r.view(_Traced), r  # (a strided result: kept as it is)


def _creator(rec: _Recorder, original: Callable[..., Any], fill: Any) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        found: list = []
        array = original(*_unwrap(args, found), **_unwrap(kwargs, found))
        if _RECORDER is not rec or rec.paused or threading.get_ident() != rec.thread:
            return array  # (another thread's arrays, a DataLoader's, are not the step's)
        traced, array = _adopt(array)
        if isinstance(fill, tuple):
            value = kwargs[fill[0]] if fill[0] in kwargs else args[fill[1]]
            rec.ops.append(functools.partial(np.copyto, array, _plain(value)))
        elif fill is not None:
            rec.ops.append(functools.partial(np.ndarray.fill, array, fill))
        return traced

    return create


def _host_read(what: str) -> CompileError:
    return CompileError(
        f"the compiled step reads a tensor's value on the host ({what}) while recording: "
        "its Python control flow would depend on this batch's numbers, which a replay "
        "cannot follow. Return the tensor from the step and read it outside (e.g. "
        "`loss = step(x, y); print(loss.item())`), or call the step uncompiled")


class _Traced(np.ndarray):
    """A NumPy array whose calls are recorded while a step is being compiled.

    Outside a recording (a traced array kept past it) it computes like a plain array.
    """

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        found: list = []
        args = _unwrap(inputs, found)
        rec = _RECORDER
        if method == "at":  # in place on args[0], at indices: no result
            if rec is None or rec.paused:
                return ufunc.at(*args)
            return rec.write(ufunc.at, args, args[0], found)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unwrap(out, [])
        result = getattr(ufunc, method)(*args, **kwargs)
        if rec is None or rec.paused:
            return result if out is None else out[0] if len(out) == 1 else out
        return rec.call(getattr(ufunc, method), args, kwargs, result, found, out=out)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        rec = _RECORDER
        found: list = []
        pargs, pkwargs = _unwrap(args, found), _unwrap(kwargs, found)
        if rec is not None and not rec.paused and func in _DATA_SHAPED:
            raise CompileError(f"np.{func.__name__} inside a compiled step: its result's "
                               "shape depends on the values, which a replay cannot follow")
        result = func(*pargs, **pkwargs)
        if rec is None or rec.paused or func in _SHAPE_ONLY:
            return result
        out = kwargs.get("out")
        return rec.call(func, pargs, pkwargs, result, found,
                        out=None if out is None else (out,))

    # values read on the host: data-dependent Python
    def __bool__(self) -> bool:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read("bool()")
        return bool(self._plain())

    def __float__(self) -> float:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read("float()")
        return float(self._plain())

    def __int__(self) -> int:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read("int()")
        return int(self._plain())

    def __index__(self) -> int:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read("as an index")
        return self._plain().__index__()

    def item(self, *args: Any) -> Any:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read(".item()")
        return self._plain().item(*args)

    def tolist(self) -> Any:
        if _RECORDER is not None and not _RECORDER.paused:
            raise _host_read(".tolist()")
        return self._plain().tolist()

    def __getitem__(self, index: Any) -> Any:
        return _method(self, np.ndarray.__getitem__, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        _method(self, np.ndarray.__setitem__, index, value)

    def __array_finalize__(self, obj: Any) -> None:
        pass

    def _plain(self) -> np.ndarray:
        return np.ndarray.view(self, np.ndarray)

    def __reduce__(self) -> Any:  # pickles (deepcopy of a model mid-step) as plain arrays
        return self._plain().__reduce__()


def _array_method(name: str) -> Callable[..., Any]:
    unbound = getattr(np.ndarray, name)

    def method(self: _Traced, *args: Any, **kwargs: Any) -> Any:
        return _method(self, unbound, *args, **kwargs)

    method.__name__ = name
    return method


# ndarray methods that compute without going through a ufunc (views need no replay; the
# recorder tells them apart by memory)
for _name in ("astype", "copy", "reshape", "transpose", "swapaxes", "ravel", "flatten",
              "squeeze", "take", "repeat", "clip", "fill", "dot", "argmax", "argmin",
              "argsort", "sort", "put", "choose", "diagonal", "trace", "cumsum", "cumprod",
              "round", "searchsorted", "partition", "view", "__copy__", "__deepcopy__"):
    setattr(_Traced, _name, _array_method(_name))
del _name


def _method(self: _Traced, unbound: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an ndarray method on the plain array, recording it while a step records."""
    rec = _RECORDER
    found: list = [self._plain()]
    plain = found[0]
    pargs, pkwargs = _unwrap(args, found), _unwrap(kwargs, found)
    if rec is None or rec.paused:
        result = unbound(plain, *pargs, **pkwargs)
        return result
    if unbound is np.ndarray.view:  # a view (of a dtype or type): memory shared, no call
        return unbound(plain, *pargs, **pkwargs).view(_Traced)
    if unbound is np.ndarray.__getitem__ and _is_mask(pargs[0]):
        raise CompileError("boolean-mask indexing inside a compiled step: the result's "
                           "shape depends on the values, which a replay cannot follow")
    if unbound is np.ndarray.__setitem__:
        return rec.write(unbound, (plain, *pargs), plain, found)
    if unbound in (np.ndarray.fill, np.ndarray.sort, np.ndarray.put, np.ndarray.partition):
        return rec.write(unbound, (plain, *pargs), plain, found, pkwargs)
    result = unbound(plain, *pargs, **pkwargs)
    out = pkwargs.get("out")
    return rec.call(unbound, (plain, *pargs), pkwargs, result, found,
                    out=None if out is None else (out,))


def _is_mask(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype == np.bool_ for i in items)


def _copy_into(buffer: Any, values: Any) -> None:
    """Write `values` into `buffer` in place (NumPy or CuPy)."""
    if isinstance(buffer, np.ndarray):
        np.copyto(buffer, values)
    else:
        buffer[...] = values


def _into(buffers: tuple, fn: Any, args: tuple, kwargs: dict) -> None:
    """Replay a call without `out=`: compute, then copy into the recorded buffers."""
    result = fn(*args, **kwargs)
    if len(buffers) == 1:
        _copy_into(buffers[0], result)
    else:
        for buf, r in zip(buffers, result):
            _copy_into(buf, r)


# functions that write their one result into `out=` as they would have made it
_OUT_KEYWORD = {np.sum, np.mean, np.max, np.min, np.prod, np.take, np.concatenate, np.dot,
                np.clip, np.cumsum}


_ASTYPE = getattr(np, "astype", None)  # (NumPy >= 2.1)
# reductions and the ufunc whose reduce they call on floating-point input
_REDUCTIONS = {np.sum: np.add.reduce, np.max: np.maximum.reduce, np.min: np.minimum.reduce,
               np.mean: np.add.reduce}


def _mean_into(total: Callable[[], Any], buffer: np.ndarray, count: np.intp) -> None:
    total()  # np.mean: the sum, then divided by the count (a NumPy integer) in place
    np.true_divide(buffer, count, out=buffer, casting="unsafe")


def _where_into(buffer: np.ndarray, condition: Any, x: Any, y: Any) -> None:
    np.copyto(buffer, y)
    np.copyto(buffer, x, where=condition)


def _writes_into(fn: Any, args: tuple, kwargs: dict,
                 buffer: np.ndarray) -> Callable[[], Any] | None:
    """`fn(*args, **kwargs)` as a call that writes into `buffer` itself (no result to
    allocate and copy at each replay), where NumPy has one that gives the same values."""
    if "out" in kwargs:
        return None
    reduce = _REDUCTIONS.get(fn)
    if reduce is not None and len(args) == 1 and set(kwargs) <= {"axis", "keepdims"} and \
            isinstance(args[0], np.ndarray) and args[0].dtype.kind == "f":
        # the ufunc's reduce itself, without NumPy's Python wrapper (microseconds per call)
        x, axis = args[0], kwargs.get("axis")
        call = functools.partial(reduce, x, axis=axis, keepdims=kwargs.get("keepdims", False),
                                 out=buffer)
        if fn is not np.mean:
            return call
        if x.dtype not in (np.float32, np.float64):
            return None  # (float16's mean adds in float32)
        axes = range(x.ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        count = np.intp(math.prod(x.shape[a] for a in axes))  # as np.mean divides
        return functools.partial(_mean_into, call, buffer, count)
    if fn in _OUT_KEYWORD:
        return functools.partial(fn, *args, **kwargs, out=buffer)
    if fn is np.where and len(args) == 3 and not kwargs:  # (a selection: exact)
        return functools.partial(_where_into, buffer, *args)
    if fn is _ASTYPE and len(args) == 2 and not kwargs:  # (astype casts unsafely)
        return functools.partial(np.copyto, buffer, args[0], casting="unsafe")
    if fn is np.reshape and set(kwargs) <= {"shape", "newshape", "copy"} and \
            buffer.flags.c_contiguous and isinstance(args[0], np.ndarray):
        return functools.partial(np.copyto, buffer.reshape(args[0].shape), args[0])
    return None


def _gives_the_same(op: Callable[[], Any], buffer: np.ndarray) -> bool:
    """Whether `op` writes into `buffer` the bytes it holds now (the call's result): tried
    once while recording, so that a NumPy whose out= path differs (or refuses the
    buffer's layout) keeps the compute-and-copy replay instead."""
    expected = buffer.copy()
    try:
        op()
        same = buffer.tobytes() == expected.tobytes()
    except (TypeError, ValueError):
        same = False
    if not same:
        np.copyto(buffer, expected)
    return same


def _owner(array: np.ndarray) -> np.ndarray:
    """The array that owns `array`'s memory (the end of its chain of bases)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _root(array: np.ndarray) -> int:
    """The id of the array that owns `array`'s memory."""
    return id(_owner(array))


class _Recorder:
    """Collects the program while one step runs: a list of argument-free callables.

    A write into an array that is not the program's own (a constant from outside the step)
    is replayed as it is: the array changes at every replay as it would eagerly.
    """

    def __init__(self) -> None:
        self.ops: list[Callable[[], Any]] = []
        self.thread = threading.get_ident()  # the thread the step runs on
        self.paused = False  # inside a host op: compute, record nothing
        self.read: set[int] = set()  # roots of the arrays the recorded calls read
        # what must be set before a host op replays (the gradients an optimizer reads)
        self.before_host: Callable[[Any], Callable[[], None] | None] = lambda obj: None

    def copy(self, dst: Any, src: Any) -> None:
        """Copy `src` into `dst` now and at every replay."""
        self.ops.append(functools.partial(_copy_into, dst, src))
        _copy_into(dst, src)

    def reads(self, array: Any) -> bool:
        """Whether a recorded call read `array` (as the step found it)."""
        return _root(array) in self.read

    def _note_reads(self, found: list) -> None:
        for a in found:
            self.read.add(_root(a))

    def call(self, fn: Any, args: Any, kwargs: dict, result: Any, found: list, *,
             out: Any) -> Any:
        """Record `fn(*args, **kwargs)` that gave `result`; return it as traced arrays."""
        self._note_reads(found)
        if out is not None:  # into the caller's arrays: replayed as it is
            self.ops.append(functools.partial(fn, *args, **kwargs))
            return out[0] if len(out) == 1 else out
        results = result if isinstance(result, tuple) else (result,)
        fresh: list[np.ndarray] = []  # the buffers the replay writes
        traced: list[_Traced] = []
        for r in results:
            if not isinstance(r, np.ndarray):  # NumPy and Python scalars (NumPy < 2.3's
                r = np.asarray(r)  # count_nonzero): 0-d buffers; Python that reads one
                # as a number (bool(), float()) raises as a host read
            elif any(np.may_share_memory(r, a) for a in found):
                traced.append(r.view(_Traced))  # a view of a buffer: nothing to replay
                continue
            t, buffer = _adopt(r)
            fresh.append(buffer)
            traced.append(t)
        if fresh:
            if isinstance(getattr(fn, "__self__", fn), np.ufunc):  # a ufunc or its method
                kw = dict(kwargs, out=tuple(fresh))
                self.ops.append(functools.partial(fn, *args, **kw))
            elif len(fresh) == 1 and (op := _writes_into(fn, args, kwargs, fresh[0])) \
                    and _gives_the_same(op, fresh[0]):
                self.ops.append(op)
            else:
                self.ops.append(functools.partial(_into, tuple(fresh), fn, args, kwargs))
        return tuple(traced) if isinstance(result, tuple) else traced[0]

    def write(self, fn: Any, args: tuple, target: np.ndarray, found: list,
              kwargs: dict | None = None) -> None:
        """Record an in-place method (setitem, fill, sort) on `target`."""
        self._note_reads(found)
        fn(*args, **(kwargs or {}))
        self.ops.append(functools.partial(fn, *args, **(kwargs or {})))

    def host(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Run a `host_op` now with recording paused, and record it for every replay."""
        found: list = []
        pargs, pkwargs = _unwrap(args, found), _unwrap(kwargs, found)
        self._note_reads(found)
        if fn is _optimizer_step() and len(pargs) == 1 and not pkwargs:
            updates = pargs[0]._recordable()
            if updates is not None:
                return self.optimizer_step(pargs[0], updates)
        before = self.before_host(pargs[0] if pargs else None)
        self.paused = True
        try:
            result = fn(*pargs, **pkwargs)
        finally:
            self.paused = False
        if isinstance(result, np.ndarray):
            traced, buffer = _adopt(result)
            self.ops.append(functools.partial(_into, (buffer,), fn, pargs, pkwargs))
            return traced
        if before is not None:
            self.ops.append(before)
        self.ops.append(functools.partial(fn, *pargs, **pkwargs))
        return result

    def optimizer_step(self, opt: Any, updates: list) -> None:
        """Record an optimizer's step as its array work, its scalars (learning rate, bias
        corrections) in 0-d buffers of each parameter's dtype that a host op refreshes at
        every replay, before that work."""
        self.paused = True
        try:
            values = [opt._scalars(group, p, state) for group, p, state in updates]
        finally:
            self.paused = False
        vectors = [np.array(v, dtype=p.array.dtype) for v, (_, p, _) in zip(values, updates)]
        self.ops.append(functools.partial(_refresh_scalars, opt, updates, vectors))
        for (group, p, state), vector in zip(updates, vectors):
            scalars = tuple(vector[i, ...].view(_Traced) for i in range(len(vector)))
            opt._arrays(group, p, state, scalars)
            p._bump_version()


def _refresh_scalars(opt: Any, updates: list, vectors: list[np.ndarray]) -> None:
    """Replay the host part of a recorded optimizer step: this step's scalars."""
    for (group, p, state), vector in zip(updates, vectors):
        vector[...] = opt._scalars(group, p, state)
        p._bump_version()  # written in place, as step() does


def _optimizer_step() -> Any:
    from .optim.optimizer import Optimizer

    return Optimizer.step.__wrapped__  # type: ignore[attr-defined]


class _GraphRecorder:
    """The recorder on a backend with CUDA graphs (CuPy): the step's device work is
    captured into graphs, which host ops and matrix products cut. CuPy refuses cuBLAS while
    a stream captures (docs/dev-notes.md), so each matmul is a host op: run by itself at
    each replay, between two graphs. The graphs are launched as soon as they are captured,
    so that the recording call computes the step as the replays will."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture
        self.ops: list[Callable[[], Any]] = []
        self.paused = False
        self.before_host: Callable[[Any], Callable[[], None] | None] = lambda obj: None

    def cut(self) -> None:
        """End the capture under way (if any), keep its graph, and launch it."""
        if self.capture.capturing:
            launch = self.capture.end()
            self.ops.append(launch)
            launch()

    def copy(self, dst: Any, src: Any) -> None:
        dst[...] = src  # captured: runs at the end of every replay's last graph

    def reads(self, array: Any) -> bool:
        return True  # (what a graph reads is not seen: assume it reads .grad)

    def host(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.cut()
        before = self.before_host(args[0] if args else None)
        if before is not None:
            before()
        self.paused = True
        try:
            result = fn(*args, **kwargs)
        finally:
            self.paused = False
        if before is not None:
            self.ops.append(before)
        if result is not None and hasattr(result, "shape"):
            self.ops.append(functools.partial(_into, (result,), fn, args, kwargs))
        else:
            self.ops.append(functools.partial(fn, *args, **kwargs))
        self.capture.begin()
        return result


def _host_read_hook(array: Any) -> None:
    if isinstance(array, _Traced) and _RECORDER is not None and not _RECORDER.paused:
        raise _host_read("a host copy")


def _host_op_hook(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    rec = _RECORDER
    if rec is None or rec.paused:
        return fn(*args, **kwargs)
    return rec.host(fn, args, kwargs)


# ---- the compiled step -------------------------------------------------------------------
def _find_state(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[list, list, list]:
    """The modules, optimizers (and schedulers) and tensors a step can reach: its
    arguments, and the objects its code names (closure cells, globals, `self`)."""
    from .nn.module import Module
    from .optim.lr_scheduler import LRScheduler
    from .optim.optimizer import Optimizer

    roots: list = [*args, *kwargs.values()]
    f = fn
    while isinstance(f, functools.partial):
        roots += [*f.args, *f.keywords.values()]
        f = f.func
    if inspect.ismethod(f):
        roots.append(f.__self__)
        f = f.__func__
    if inspect.isfunction(f):
        cv = inspect.getclosurevars(f)
        roots += [*cv.nonlocals.values(), *cv.globals.values()]
        roots += list(f.__defaults__ or ())
    elif isinstance(f, Module):
        roots.append(f)
    modules: dict[int, Any] = {}
    optims: dict[int, Any] = {}
    tensors: dict[int, Tensor] = {}

    def visit(obj: Any, depth: int) -> None:
        if isinstance(obj, Tensor):
            tensors.setdefault(id(obj), obj)
        elif isinstance(obj, Module):
            for m in obj.modules():
                if id(m) in modules:
                    continue
                modules[id(m)] = m
                for v in vars(m).values():
                    if isinstance(v, Tensor):
                        tensors.setdefault(id(v), v)
            for t in [*obj.parameters(), *obj.buffers()]:
                tensors.setdefault(id(t), t)
        elif isinstance(obj, Optimizer):
            if id(obj) not in optims:
                optims[id(obj)] = obj
                for group in obj.param_groups:
                    for p in group["params"]:
                        tensors.setdefault(id(p), p)
                for state in obj.state.values():
                    for v in state.values():
                        if isinstance(v, Tensor):
                            tensors.setdefault(id(v), v)
        elif isinstance(obj, LRScheduler):
            optims.setdefault(id(obj), obj)
            visit(obj.optimizer, depth)
        elif depth < 2 and isinstance(obj, (list, tuple)):
            for v in obj:
                visit(v, depth + 1)
        elif depth < 2 and isinstance(obj, dict):
            for v in obj.values():
                visit(v, depth + 1)

    for r in roots:
        visit(r, 0)
    return list(modules.values()), list(optims.values()), list(tensors.values())


def _tensors_in(value: Any, found: list | None = None) -> list[Tensor]:
    """The tensors in the arguments, in a fixed order (through lists, tuples, dicts)."""
    found = [] if found is None else found
    if isinstance(value, Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors_in(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors_in(v, found)
    return found


def _replaced(value: Any, static: dict[int, Tensor]) -> Any:
    """`value` with each tensor argument replaced by its static tensor."""
    if isinstance(value, Tensor):
        return static[id(value)]
    if isinstance(value, list):
        return [_replaced(v, static) for v in value]
    if isinstance(value, tuple):
        items = [_replaced(v, static) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: _replaced(v, static) for k, v in value.items()}
    return value


def _signature(value: Any) -> Any:
    """The part of the guard key one argument contributes."""
    if isinstance(value, Tensor):
        a = value.array
        return (a.shape, a.dtype, value.backend, value._requires_grad)
    if value is None or isinstance(value, (bool, int, float, str)):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_signature(v) for v in value))
    if isinstance(value, dict):
        return (type(value), tuple((k, _signature(v)) for k, v in value.items()))
    return (type(value), id(value))


# -- memory planning -----------------------------------------------------------------------
# A recorded program first owns one buffer per call result, so a compiled step held every
# intermediate of the step at once (twice the eager step's memory on the large MLP). The
# planner gives buffers whose lifetimes in the program do not overlap the same memory, as
# the eager step's allocator reuses what the graph frees: tinygrad's memory planner.

def _scan(value: Any, seen: dict[int, np.ndarray], pinned: set[int]) -> bool:
    """Collect the owners of the arrays in a recorded call (through partials, tuples,
    lists, dicts) into `seen`; the owners of tensors' arrays into `pinned`. False where
    the call holds arrays the planner cannot see or rebuild (a closure, a bound method of
    an array)."""
    if isinstance(value, np.ndarray):
        o = _owner(value)
        seen[id(o)] = o
        return True
    if isinstance(value, Tensor):
        if isinstance(value.array, np.ndarray):
            pinned.add(id(_owner(value.array)))
        return True
    if isinstance(value, functools.partial):
        return (_scan(value.func, seen, pinned) and _scan(value.args, seen, pinned)
                and _scan(value.keywords, seen, pinned))
    if isinstance(value, (list, tuple)):
        return all(_scan(v, seen, pinned) for v in value)
    if isinstance(value, dict):
        return all(_scan(v, seen, pinned) for v in value.values())
    if isinstance(getattr(value, "__self__", None), np.ndarray):
        return False  # (a bound method of an array)
    return not (inspect.isfunction(value) and value.__closure__)


def _moved(value: Any, moves: dict[int, tuple[int, np.ndarray]]) -> Any:
    """`value` with every array whose owner moves (its id -> (its old address, the new
    memory)) rebuilt on the new memory: the same shape, dtype, strides and offset.
    Containers are rebuilt only around a moved array (an optimizer's state dict that a
    host call updates stays the optimizer's)."""
    if isinstance(value, np.ndarray):
        move = moves.get(id(_owner(value)))
        if move is None:
            return value
        offset = value.__array_interface__["data"][0] - move[0]
        return np.ndarray(value.shape, value.dtype, buffer=move[1], offset=offset,
                          strides=value.strides)
    if isinstance(value, functools.partial):
        parts = (value.func, value.args, value.keywords)
        new = [_moved(v, moves) for v in parts]
        if all(a is b for a, b in zip(parts, new)):
            return value
        return functools.partial(new[0], *new[1], **new[2])
    if isinstance(value, (list, tuple, dict)):
        items = list(value.values() if isinstance(value, dict) else value)
        new = [_moved(v, moves) for v in items]
        if all(a is b for a, b in zip(items, new)):
            return value
        if isinstance(value, dict):
            return dict(zip(value, new))
        if isinstance(value, tuple):
            return type(value)(*new) if hasattr(value, "_fields") else tuple(new)
        return new
    return value


def _offsets(lifetimes: dict[int, tuple[int, int, int]]) -> tuple[dict[int, int], int]:
    """Offsets in one arena for buffers given as key -> (bytes, first call, last call), so
    that two buffers used by a common call never overlap; and the arena's size. Greedy by
    size, the largest placed first at the lowest offset that fits (TFLite's planner)."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[int, int] = {}
    for key, (size, first, last) in sorted(lifetimes.items(), key=lambda kv: -kv[1][0]):
        offset = 0
        for lo, hi, _, _ in sorted(p for p in placed if p[2] <= last and first <= p[3]):
            if offset + size <= lo:
                break  # (fits in the gap below this one)
            offset = max(offset, -(-hi // 64) * 64)  # (cache-line aligned)
        offsets[key] = offset
        placed.append((offset, offset + size, first, last))
    return offsets, max((hi for _, hi, _, _ in placed), default=0)


def _alive_tensors() -> list[Tensor]:
    """Every tensor the process holds now: before a first replay, the ones outside the program
    (the result, gradients, a module's `self.out`, a list the user keeps) whose buffers
    must keep their memory and the values of the latest replay."""
    gc.collect()  # (tensors kept only by reference cycles of the recorded graph)
    return [o for o in gc.get_objects() if issubclass(type(o), Tensor)]  # (type(): no
    # __class__ lookups, which some modules' lazy objects answer with a warning)


def _holders(tensors: list[Tensor]) -> list[tuple[dict, Any, Tensor]]:
    """(dict, key, tensor) for each object attribute or dict entry that holds one of
    `tensors` whose array is a buffer of a program (a `_Traced` owner)."""
    ours = {id(t): t for t in tensors if type(_owner(t.array)) is _Traced}
    found = []
    for holder in gc.get_referrers(*ours.values()) if ours else ():
        if holder is ours or issubclass(type(holder), (Tensor, type)) or inspect.isframe(holder):
            continue
        d = holder if isinstance(holder, dict) else getattr(holder, "__dict__", None)
        if isinstance(d, dict):  # (3.11+ keeps attributes without a dict until asked)
            found += [(d, k, ours[id(v)]) for k, v in d.items() if id(v) in ours]
    return found


def _plan(program: _Program) -> None:
    """Plan a recorded program's memory (NumPy; CUDA graphs have their own pool) and find
    the attributes holding its tensors, from the tensors alive now."""
    if program.capture is not None:
        program.memory = (0, 0)
        return
    held = [t for t in _alive_tensors() if isinstance(t.array, np.ndarray)]
    program.memory = _plan_memory(program.ops, {id(_owner(t.array)) for t in held})
    program.holders = _holders(held)


def _plan_memory(ops: list[Callable[[], Any]], kept: set[int]) -> tuple[int, int]:
    """Rewrite `ops` in place so that the program's own buffers share one arena, apart
    where a call uses both; buffers in `kept` (what outlives a replay: the result,
    gradients, tensors something still holds) keep their memory. Returns the bytes of the
    program's own buffers before and after."""
    uses: list[list[int]] = []
    pinned = set(kept)
    sizes: dict[int, int] = {}  # the program's own buffers: id -> bytes
    address: dict[int, int] = {}  # id -> where its memory starts
    for op in ops:
        seen: dict[int, np.ndarray] = {}
        if not _scan(op, seen, pinned):
            return 0, 0  # (a call the planner cannot see into: nothing moves)
        for key, o in seen.items():
            # the _Traced arrays `_adopt` made for call results (not views, not the state)
            if type(o) is _Traced and o.base is None and o.nbytes and not o.dtype.hasobject:
                sizes[key] = o.nbytes
                address[key] = o.__array_interface__["data"][0]
        uses.append(list(seen))
    lifetimes: dict[int, tuple[int, int, int]] = {}
    for i, keys in enumerate(uses):
        for key in keys:
            if key in sizes and key not in pinned:
                size, first, _ = lifetimes.get(key, (sizes[key], i, i))
                lifetimes[key] = (size, first, i)
    offsets, total = _offsets(lifetimes)
    arena = np.empty(total, dtype=np.uint8)
    moves = {key: (address[key], arena[offsets[key]:offsets[key] + sizes[key]])
             for key in lifetimes}
    for i, op in enumerate(ops):
        ops[i] = _moved(op, moves)
    return sum(size for size, _, _ in lifetimes.values()), total


class _Program:
    """One recorded step: its calls, the buffers they use, and how to bind them."""

    def __init__(self) -> None:
        self.ops: list[Callable[[], Any]] = []
        self.inputs: list[Any] = []  # a static buffer per tensor argument (_tensors_in)
        self.state: list[tuple[Tensor, np.ndarray]] = []  # tensors and their arrays
        self.grads_after: list[tuple[Tensor, Tensor | None]] = []  # .grad of each param
        # the parameters whose .grad the step reads as it finds it, and that gradient
        self.grads_read: list[tuple[Tensor, Tensor]] = []
        self.output: Any = None  # the step's result, with buffers for tensors
        self.grad_tensors: set[int] = set()  # ids of the .grad tensors among `state`
        self.capture: Any = None  # the backend's graph capture (CuPy), None on NumPy
        self.calls = 0  # replays so far
        # bytes of the program's own buffers before and after memory planning (None until
        # planned, before its first replay)
        self.memory: tuple[int, int] | None = None
        # (attributes dict, key, tensor): a tensor of the program's buffers that an object
        # kept after the recording (`self.out`), bound to it again after the verification
        self.holders: list[tuple[dict, Any, Tensor]] = []


_MAX_PROGRAMS = 16  # programs (and their buffers) kept per compiled step


class CompiledStep:
    """A training step compiled by :func:`gradkit.compile`; call it as the function itself.

    Parameters
    ----------
    fn : callable
        The step.
    verify : bool, default True
        Check the first replay of each program against the eager step.

    Attributes
    ----------
    stats : dict
        ``{"eager": n, "recorded": n, "verified": n, "replayed": n}``: how the calls so far
        ran.

    Examples
    --------
    >>> import gradkit as gk
    >>> step = gk.compile(lambda x: x * 2)
    >>> step(gk.tensor([1.0]))
    tensor([2.])
    >>> step.stats["eager"]
    1
    """

    def __init__(self, fn: Callable[..., Any], verify: bool = True) -> None:
        self.fn = fn
        self.verify = verify
        functools.update_wrapper(self, fn)
        self._programs: dict[Any, _Program | int] = {}  # key -> calls seen, or program
        self.stats = {"eager": 0, "recorded": 0, "verified": 0, "replayed": 0}
        self._found: tuple[list, list, list] | None = None  # modules, optimizers, tensors
        # how steps are recorded: "numpy" (array calls), "graph" (CUDA graphs) or None
        # (not at all: tensors on several devices, or a backend with neither)
        self._kind: str | None = "numpy"
        self._backend: Any = None

    def _discover(self, args: tuple, kwargs: dict) -> tuple[list, list, list]:
        self._found = found = _find_state(self.fn, args, kwargs)
        backends = {t.backend for t in found[2]} | {
            a.backend for a in args if isinstance(a, Tensor)}
        self._backend = next(iter(backends)) if len(backends) == 1 else None
        if all(b.name == "numpy" for b in backends):
            self._kind = "numpy"
        elif self._backend is not None and self._backend.graph_capture() is not None:
            self._kind = "graph"
        else:
            self._kind = None
        return found

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        modules, optims, tensors = self._found or self._discover(args, kwargs)
        if self._kind is None or _RECORDER is not None:
            self.stats["eager"] += 1  # other backends (and a step inside a step): eager
            return self.fn(*args, **kwargs)
        key = self._key(args, kwargs, modules, optims, tensors)
        entry = self._programs.get(key, 0)
        if isinstance(entry, _Program):
            if self._bound(entry):
                if entry.memory is None:  # (its first replay: planned now, not when
                    _plan(entry)  # recorded, so a program never replayed costs nothing)
                if entry.calls == 0 and self.verify:
                    scope = _base.NO_SCOPE if self._backend is None else self._backend.scope
                    with scope:  # (the snapshots are copied on the step's device)
                        return self._verified(entry, args, kwargs, modules, optims, tensors)
                return self._replay(entry, args, kwargs)
            entry = 1  # the state was replaced (model.to(), load_state_dict): record again
        if entry == 0 and not self.stats["eager"]:  # the first call: eager (it makes the
            self._programs[key] = 1  # optimizer's state and lazy buffers)
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        modules, optims, tensors = self._discover(args, kwargs)
        if self._kind is None:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        key = self._key(args, kwargs, modules, optims, tensors)  # (the state was found again)
        program, result = self._record(args, kwargs, list(tensors), optims)
        if len(self._programs) >= _MAX_PROGRAMS:  # forget the oldest (a scalar argument
            del self._programs[next(iter(self._programs))]  # that changes every call)
        self._programs[key] = program
        self.stats["recorded"] += 1
        return result

    @staticmethod
    def _key(args: tuple, kwargs: dict, modules: list, optims: list,
             tensors: list[Tensor]) -> Any:
        """The guard: what must be equal for a program to be replayed. Besides the
        arguments, modes and requires_grad, which gradients are None (a step that does not
        zero them adds to them, a different program) and which branches the optimizers'
        hyper-parameters choose (momentum or none)."""
        return (tuple(_signature(a) for a in args),
                tuple((k, _signature(v)) for k, v in sorted(kwargs.items())),
                tuple(m.training for m in modules), _mode.enabled,
                tuple(t._requires_grad for t in tensors),
                tuple(t._grad is None for t in tensors),
                tuple(o._structure() for o in optims if hasattr(o, "_structure")))

    # -- recording -----------------------------------------------------------------------
    def _record(self, args: tuple, kwargs: dict, tensors: list[Tensor],
                optims: list) -> tuple[_Program, Any]:
        """Run the step once while recording it; return the program and the result.

        On NumPy the state is viewed as `_Traced` and every array call is recorded; on a
        backend with CUDA graphs the step runs under stream capture (`_GraphRecorder`)."""
        program = _Program()
        capture = None if self._kind == "numpy" else self._backend.graph_capture()
        rec: Any = _Recorder() if capture is None else _GraphRecorder(capture)
        batch = {id(a) for a in _tensors_in((args, kwargs))}
        tensors = [t for t in tensors if id(t) not in batch]  # (arguments: the batch)
        params = [t for t in tensors if t._requires_grad]
        grads0 = {id(p): p._grad for p in params}  # .grad as the step finds it
        known = {id(t) for t in tensors}
        tensors += [g for g in grads0.values() if g is not None and id(g) not in known]
        originals = [(t, t.array) for t in tensors]
        premade: dict[int, Tensor] = {}  # a plain tensor per gradient buffer

        def grads_now() -> list[tuple[Tensor, Tensor | None]]:
            """Each parameter's .grad now, as a tensor of the program's buffer."""
            bound: list[tuple[Tensor, Tensor | None]] = []
            for p in params:
                g = p._grad
                if g is not None:
                    if id(g.array) not in premade:  # (keyed by the array, kept alive)
                        premade[id(g.array)] = Tensor._make(_plain(g.array), g.backend)
                    g = premade[id(g.array)]
                bound.append((p, g))
            return bound

        def before_host(obj: Any) -> Callable[[], None] | None:
            if any(obj is o for o in optims) and hasattr(obj, "param_groups"):
                return functools.partial(_set_grads, grads_now())
            return None  # (an optimizer's step reads .grad, which replays do not set)

        rec.before_host = before_host
        session = contextlib.nullcontext() if capture is None else capture.session()
        with session:
            static: dict[int, Tensor] = {}  # each tensor argument: a buffer for the batch
            for a in _tensors_in((args, kwargs)):
                buf = a.array.copy()
                program.inputs.append(buf)
                static[id(a)] = t = Tensor._make(
                    buf.view(_Traced) if capture is None else buf, a.backend)
                t._requires_grad = a._requires_grad
            call_args, call_kwargs = _replaced((args, kwargs), static)
            result, replaced = self._run_recording(rec, capture, call_args, call_kwargs,
                                                   originals)
            # a tensor whose storage the step replaced: the new values go into its array
            for a, final in replaced:
                if final.shape != a.shape or final.dtype != a.dtype:
                    raise CompileError(
                        f"the compiled step replaced a tensor of shape {a.shape} and dtype "
                        f"{a.dtype} by one of shape {final.shape} and dtype {final.dtype}; "
                        "move or cast models outside the step")
                rec.copy(a, final)
            # .grad as the step found it, where the step reads it (accumulating without
            # zero_grad): the replay must find the new gradient there too
            after = dict((id(p), g) for p, g in grads_now())
            for p in params:
                g0 = grads0[id(p)]
                if g0 is None or not rec.reads(g0.array):
                    continue
                final_grad = after[id(p)]
                if final_grad is not None and final_grad is not g0:
                    rec.copy(g0.array, final_grad.array)
                after[id(p)] = g0
                program.grads_read.append((p, g0))
            if capture is not None:
                rec.cut()
        program.grads_after = [(p, after[id(p)]) for p in params]
        program.grad_tensors = {id(g) for g in grads0.values() if g is not None}
        _set_grads(program.grads_after)
        program.ops, program.state = rec.ops, originals
        program.capture = capture
        program.output = _static(result)
        return program, _fresh(program.output)

    def _run_recording(self, rec: Any, capture: Any, call_args: list, kwargs: dict,
                       originals: list) -> tuple[Any, list]:
        """Call the step with the recorder installed; return its result and the (array,
        new array) of each tensor whose storage it replaced."""
        global _RECORDER
        views = []
        if capture is None:
            for t, a in originals:
                t.array = view = a.view(_Traced)
                views.append(view)
        else:
            views = [a for _, a in originals]
        creators = {name: getattr(np, name) for name in _CREATION}
        _RECORDER = rec
        _base.HOST_OP_HOOK, _base.HOST_READ_HOOK = _host_op_hook, _host_read_hook
        try:
            if capture is None:
                for name, fill in _CREATION.items():
                    setattr(np, name, _creator(rec, creators[name], fill))
            else:
                capture.begin()
            try:
                result = self.fn(*call_args, **kwargs)
            except RuntimeError as e:  # CuPy refuses host copies while capturing
                if capture is not None and "capturing" in str(e):
                    raise _host_read(str(e)) from e
                raise
        finally:
            for name, original in creators.items():
                setattr(np, name, original)
            _RECORDER = None
            _base.HOST_OP_HOOK = _base.HOST_READ_HOOK = None
            replaced = [(a, _plain(t.array)) for (t, a), view in zip(originals, views)
                        if t.array is not view]
            for t, a in originals:
                t.array = a  # the state as plain arrays again
        return result, replaced

    # -- replaying -----------------------------------------------------------------------
    def _bound(self, program: _Program) -> bool:
        """Whether the tensors still hold the arrays the program was recorded on (not so
        after model.to() or an assignment to .data), and the gradients it reads."""
        for t, a in program.state:
            if t.array is not a:
                return False
        for p, g in program.grads_read:  # the step reads .grad: where it read it
            if p._grad is not g:
                return False
        return True

    def _replay(self, program: _Program, args: tuple, kwargs: dict) -> Any:
        batch = _tensors_in((args, kwargs))
        if program.capture is None:
            for buf, t in zip(program.inputs, batch):
                np.copyto(buf, t.array)
            for op in program.ops:
                op()
        else:
            with program.capture.session():
                for buf, t in zip(program.inputs, batch):
                    buf[...] = t.array
                for op in program.ops:
                    op()
        _set_grads(program.grads_after)
        program.calls += 1
        self.stats["replayed"] += 1
        return _fresh(program.output)

    def _verified(self, program: _Program, args: tuple, kwargs: dict, modules: list,
                  optims: list, tensors: list[Tensor]) -> Any:
        """The first replay: run the step eagerly and by replay from the same state, and
        compare every number (the state, the gradients, the result) bit for bit."""
        snapshot = _Snapshot(program, optims)
        bound = [d.get(k) for d, k, _ in program.holders]
        eager = self.fn(*args, **kwargs)
        # what the eager run bound anew (its own `self.out`) goes back to the program's
        # tensors, which every replay updates; what it left alone stays as it is
        rebind = [(d, k, t) for (d, k, t), b in zip(program.holders, bound) if d.get(k) is not b]
        after_eager = _Snapshot(program, optims)
        eager_out = _flatten(eager)
        snapshot.restore()
        replayed = self._replay(program, args, kwargs)
        after_replay = _Snapshot(program, optims, copies=False)  # (compared, not kept)
        problem = after_eager.differs(after_replay)
        if problem is None:
            got = _flatten(replayed)
            for i, (a, b) in enumerate(zip(eager_out, got)):
                if not _same(a, b):
                    problem = f"the step's result {i}"
        if problem is not None:
            after_eager.restore()
            raise CompileError(
                f"gk.compile: replaying the recorded step gave different numbers from the "
                f"eager step ({problem} differs). Something in the step computed outside the "
                f"recorded array calls (a NumPy function the recorder does not see, Python "
                f"state changed by the step, or a module attribute read as a constant). The "
                f"eager step's results were kept; call the function uncompiled")
        for d, k, t in rebind:
            d[k] = t
        self.stats["verified"] += 1
        self.stats["replayed"] -= 1
        return replayed

    def reset(self) -> None:
        """Forget every recorded program: the next calls run eagerly, then record again.

        Examples
        --------
        >>> import gradkit as gk
        >>> step = gk.compile(lambda x: x + 1)
        >>> step.reset()
        """
        self._programs.clear()
        self._found = None


def _set_grads(grads: list[tuple[Tensor, Tensor | None]]) -> None:
    for p, g in grads:
        p._grad = g


def _static(result: Any) -> Any:
    """The step's result with each tensor's array as a plain buffer."""
    if isinstance(result, Tensor):
        return Tensor._make(_plain(result.array), result.backend)
    if isinstance(result, (list, tuple)):
        return type(result)(_static(r) for r in result)
    if isinstance(result, dict):
        return {k: _static(v) for k, v in result.items()}
    return result


def _fresh(output: Any) -> Any:
    """A copy of the recorded result's tensors: what the caller gets (a buffer would change
    under a caller who keeps it)."""
    if isinstance(output, Tensor):
        b = output.backend
        if b.scope is _base.NO_SCOPE:
            return Tensor._make(output.array.copy(), b)
        with b.scope:  # (several GPUs: copied on the array's own)
            return Tensor._make(output.array.copy(), b)
    if isinstance(output, (list, tuple)):
        return type(output)(_fresh(r) for r in output)
    if isinstance(output, dict):
        return {k: _fresh(v) for k, v in output.items()}
    return output


def _flatten(result: Any) -> list[Any]:
    if isinstance(result, Tensor):
        return [result.array]
    if isinstance(result, (list, tuple)):
        return [a for r in result for a in _flatten(r)]
    if isinstance(result, dict):
        return [a for r in result.values() for a in _flatten(r)]
    return [result]


def _host(x: Any) -> Any:
    """A device array's values on the host (CuPy's .get()); anything else as it is."""
    return x.get() if hasattr(x, "get") and hasattr(x, "shape") else x


def _same(a: Any, b: Any) -> bool:
    a, b = _host(a), _host(b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    return bool(a == b)


class _Snapshot:
    """A copy of everything a step changes: the state tensors' values, each parameter's
    gradient, the optimizers' Python state (Adam's step count), the generators."""

    def __init__(self, program: _Program, optims: list, copies: bool = True) -> None:
        self.program = program
        take = (lambda a: a.copy()) if copies else (lambda a: a)  # (or the arrays themselves)
        tensors = [t for t, _ in program.state]
        known = {id(t) for t in tensors}
        for o in optims:  # (state an optimizer made while the step was recorded too)
            for s in getattr(o, "state", {}).values():
                for v in s.values():
                    if isinstance(v, Tensor) and id(v) not in known:
                        known.add(id(v))
                        tensors.append(v)
        self.arrays = [(t, t.array, take(t.array)) for t in tensors]
        self.grads = [(p, p._grad, None if p._grad is None else take(p._grad.array))
                      for p, _ in program.grads_after]
        self.optims = [(o, {k: {n: v for n, v in s.items() if not isinstance(v, Tensor)}
                            for k, s in o.state.items()},
                        [dict(g) for g in o.param_groups]) if hasattr(o, "param_groups")
                       else (o, copy.deepcopy(o.state_dict()), None)
                       for o in optims]  # optimizers, and schedulers (no param_groups)
        backends = {t.backend for t, _ in program.state}
        self.rngs = [(b, b._rng(), b.rng_state(b._rng())) for b in backends]

    def restore(self) -> None:
        for t, a, values in self.arrays:
            t.array = a
            _copy_into(a, values)
        for p, g, values in self.grads:
            p._grad = g
            if g is not None and values is not None:
                _copy_into(g.array, values)
        for o, state, groups in self.optims:
            if groups is None:  # a scheduler
                o.load_state_dict(copy.deepcopy(state))
                continue
            for k, s in state.items():
                o.state[k].update(s)
            for g, saved in zip(o.param_groups, groups):
                g.update(saved)
        for b, rng, st in self.rngs:
            b.set_rng_state(rng, st)

    def differs(self, other: _Snapshot) -> str | None:
        """What first differs from `other` (a name for the message), or None."""
        grads = self.program.grad_tensors  # (compared below, as .grad)
        for i, ((t, _, a), (_, _, b)) in enumerate(zip(self.arrays, other.arrays)):
            if id(t) not in grads and not _same(a, b):
                return f"state tensor {i} of shape {tuple(a.shape)}"
        for i, ((_, _, a), (_, _, b)) in enumerate(zip(self.grads, other.grads)):
            if (a is None) != (b is None) or (a is not None and not _same(a, b)):
                return f"the gradient of parameter {i}"
        for (_, s1, _), (_, s2, _) in zip(self.optims, other.optims):
            if s1 != s2:
                return "the optimizer's state"
        return None


def compile(fn: Callable[..., Any] | None = None, *, verify: bool = True) -> Any:
    """Compile a training step: record it once, then replay its array calls.

    The step (forward, loss, backward, optimizer step; any function of tensors) runs
    eagerly on its first call, is recorded on its second, verified against the eager step
    on its third, and replayed from then on: the same NumPy calls into the same buffers,
    with no Tensor or Function objects made and no graph walked. A replay draws fresh
    random numbers from the generator, reads the optimizer's current hyper-parameters (a
    learning-rate schedule), and copies the new batch into its input buffers. Calls with
    other shapes, dtypes, devices, requires_grad, train/eval modes or grad mode record a
    program of their own.

    Parameters
    ----------
    fn : callable
        The step. Its tensor arguments are the batch; the modules, optimizers and tensors
        it uses are found from its arguments, closure and globals.
    verify : bool, default True
        Check the first replay against the eager step, bit for bit (it costs one extra
        step, once).

    Returns
    -------
    CompiledStep
        Call it like `fn`. Tensors it returns are copies, detached from any graph.

    Raises
    ------
    CompileError
        When the step reads a tensor's value on the host while being recorded (``.item()``,
        ``float()``, ``if x.any():``), uses data-dependent shapes (boolean masks,
        nonzero), or when the verified replay differs from the eager step.

    Notes
    -----
    PyTorch equivalent: :func:`torch.compile` (and CUDA graphs' capture and replay).
    Differences: it compiles nothing (it records array calls, as tinygrad's TinyJit does);
    Python state the step changes besides tensors, optimizers and schedulers is not
    replayed; on backends other than NumPy the step runs eagerly at every call.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> _ = gk.manual_seed(0)
    >>> model = nn.Linear(3, 1)
    >>> opt = optim.SGD(model.parameters(), lr=0.1)
    >>> @gk.compile
    ... def step(x, y):
    ...     opt.zero_grad()
    ...     loss = ((model(x) - y) ** 2).mean()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> x, y = gk.randn(8, 3), gk.randn(8, 1)
    >>> losses = [step(x, y).item() for _ in range(5)]
    >>> step.stats
    {'eager': 1, 'recorded': 1, 'verified': 1, 'replayed': 2}
    >>> losses[4] < losses[0]
    True
    """
    if fn is None:
        return functools.partial(compile, verify=verify)
    return CompiledStep(fn, verify=verify)

