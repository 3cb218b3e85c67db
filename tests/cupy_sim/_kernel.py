"""cupy.ElementwiseKernel for gradkit's CuPy simulator: CuPy's rules, a NumPy body.

Construction and calls follow CuPy 14.2 (and 13.6 where `CUPY_VERSION` says so), from
cupy/_core/_kernel.pyx and cupy/_core/_scalar.pyx:

- `ParameterInfo`: "[raw] [_non_const] TYPE NAME"; a one-letter TYPE is a placeholder
  (T), any other a NumPy dtype name (13.6 accepts only canonical names: "float" is
  "Wrong type float"); inputs are const. Kernel names must be C identifiers and no
  parameter may be called `i`.
- `__call__(*args, size=-1, stream=None, block_size=128)` takes len(in) or len(in)+len(out)
  arguments (else TypeError, CuPy's wording). Arrays must be usable on the current
  device and NumPy arrays are refused ("Unsupported type"; the simulator's `_operands`);
  scalars are Python bool/int/float/complex or NumPy scalars (`CScalar`).
- Types (`_decide_params_type_core`): only arrays decide a placeholder, outputs first;
  two arrays of one placeholder, or an array and a fixed type, must have the same dtype
  exactly ("Type is mismatched"). Scalars never decide a type: each is then cast to its
  parameter's type (`CScalar.apply_dtype`: NumPy's assignment rules in 14.2, so a float16
  T makes eps=1e-8 exactly 0 and an out-of-range Python int raises OverflowError; 13.6
  casts through a 64-bit value, to float16 via float32, and wraps integers).
- Non-raw arrays, outputs included, broadcast together (CuPy's error message); given
  outputs must be arrays of the broadcast shape; missing outputs are allocated (here
  filled with NaN where the dtype has one: like CuPy's pooled memory, they are not
  zeroed). `size=` only when every array is raw. A zero-size call runs nothing.

The body (CUDA C++) is not interpreted: the kernel runs the NumPy reference registered
under its name (`register`; gradkit's are in kernel_refs.py). A reference receives the
inputs as read-only NumPy arrays (broadcast to the loop shape unless raw) or NumPy
scalars, already cast to their resolved dtypes, then the outputs as writable NumPy
arrays, and must mimic the body's arithmetic in those types. It is registered with the
`signature` of the kernel it mimics, so that a changed body or parameter list is refused
until its reference is reviewed. Inputs whose memory overlaps an output are copied first
(the reference sees the values from before the call). NumPy floating-point warnings are
silenced, as a GPU raises none.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ._core import _operands, _wrap, ndarray, poison, record, snapshot, unwritten

__all__ = ["CUPY_VERSION", "ElementwiseKernel", "ParameterInfo", "register", "signature"]

CUPY_VERSION = (14, 2)  # whose rules to follow where 13.6 and 14.2 differ

# cupy/_core/_scalar.pyx `_typenames_base`: the dtypes a kernel argument may have.
_TYPENAMES = {np.dtype(k): v for k, v in {
    "float64": "double", "float32": "float", "float16": "float16",
    "complex128": "thrust::complex<double>", "complex64": "thrust::complex<float>",
    "int64": "long long", "int32": "int", "int16": "short", "int8": "signed char",
    "uint64": "unsigned long long", "uint32": "unsigned int", "uint16": "unsigned short",
    "uint8": "unsigned char", "bool": "bool"}.items()}


def _typename(dtype) -> str:
    try:
        return _TYPENAMES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"Unsupported dtype {dtype}") from None


class ParameterInfo:
    """One kernel parameter, parsed as CuPy's `ParameterInfo.__init__` does."""

    def __init__(self, param: str, is_const: bool):
        self.name = self.dtype = self.ctype = None
        self.raw = False
        self.is_const = is_const
        s = tuple(i for i in param.split() if len(i) != 0)
        if len(s) < 2:
            raise Exception(f"Syntax error: {param}")
        t, self.name = s[-2:]
        if t == "CIndexer":
            pass
        elif len(t) == 1:
            self.ctype = t
        else:
            dtype = np.dtype(t)
            if CUPY_VERSION < (14,) and dtype.name != t:
                raise ValueError(f"Wrong type {t}")
            self.dtype = dtype
            self.ctype = _typename(dtype)
        for i in s[:-2]:
            if i == "raw":
                self.raw = True
            elif i == "_non_const":
                self.is_const = False
            else:
                raise Exception(f'Unknown keyword "{i}"')

    def __repr__(self):
        return (f"<ParameterInfo(name={self.name!r} dtype={self.dtype!r} ctype={self.ctype!r} "
                f"raw={self.raw!r} is_const={self.is_const!r})>")


def _get_param_info(s: str, is_const: bool) -> tuple:
    if len(s) == 0:
        return ()
    return tuple(ParameterInfo(i, is_const) for i in s.strip().split(","))


def _pack(value, dtype: np.dtype):
    """`value` stored as `dtype` by NumPy's assignment (PyArray_Pack), as CuPy 14 does."""
    a = np.empty((), dtype)
    a[()] = value
    return a[()]


class _Scalar:
    """A scalar argument (CuPy's CScalar): its value and dtype."""

    def __init__(self, value):
        typ = type(value)
        if typ is bool:
            dtype = np.dtype(np.bool_)
        elif typ is float:
            dtype = np.dtype(np.float64)
        elif typ is complex:
            dtype = np.dtype(np.complex128)
        elif typ is int:
            dtype = np.dtype(np.uint64 if value >= 0x8000000000000000 else np.int64)
        elif isinstance(value, np.generic) and (CUPY_VERSION >= (14,) or
                                                 value.dtype in _TYPENAMES):
            dtype = value.dtype
            _typename(dtype)  # CuPy raises at code generation
        else:
            raise TypeError(f"Unsupported type {type(value)}")
        self.value, self.dtype = value, dtype
        self.stored = _pack(value, dtype)  # CuPy stores it at once: may overflow

    def cast(self, dtype: np.dtype):
        """The value as the kernel receives it for a parameter of type `dtype`."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.stored
        if CUPY_VERSION >= (14,):
            return _pack(self.value, dtype)  # from the original value
        # CuPy 13: C casts from a 64-bit slot; float16 through float (internal.to_float16)
        wide = np.asarray(self.stored).astype({"b": np.bool_, "i": np.int64, "u": np.uint64,
                                               "f": np.float64, "c": np.complex128}
                                              [self.dtype.kind])
        with np.errstate(all="ignore"):
            if dtype == np.float16:
                return np.float16(np.float32(wide.real if wide.dtype.kind == "c" else wide))
            return wide.astype(dtype, casting="unsafe")[()]


def _decide_params_type(in_params, out_params, in_args_dtype, out_args_dtype):
    """CuPy's `_decide_params_type_core`: (in_types, out_types, type_map)."""
    type_dict = {}
    if out_args_dtype:
        assert len(out_params) == len(out_args_dtype)
        for p, a in zip(out_params, out_args_dtype):
            if a is None:
                raise TypeError("Output arguments must be cupy.ndarray")
            if p.dtype is not None:
                if np.dtype(a) != np.dtype(p.dtype):
                    raise TypeError(f"Type is mismatched. {p.name} {a} {p.dtype}")
            elif p.ctype in type_dict:
                t = type_dict[p.ctype]
                if np.dtype(t) != np.dtype(a):
                    raise TypeError(f"Type is mismatched. {p.name} {a} {t} {p.ctype}")
            else:
                type_dict[p.ctype] = a
    assert len(in_params) == len(in_args_dtype)
    for p, a in zip(in_params, in_args_dtype):
        if a is None:
            continue
        if p.dtype is not None:
            if np.dtype(a) != np.dtype(p.dtype):
                raise TypeError(f"Type is mismatched. {p.name} {a} {p.dtype}")
        elif p.ctype in type_dict:
            t = type_dict[p.ctype]
            if np.dtype(t) != np.dtype(a):
                raise TypeError(f"Type is mismatched. {p.name} {a} {t} {p.ctype}")
        else:
            type_dict[p.ctype] = a
    # a placeholder that no array decided: KeyError, as in CuPy
    in_types = tuple(type_dict[p.ctype] if p.dtype is None else p.dtype for p in in_params)
    out_types = tuple(type_dict[p.ctype] if p.dtype is None else p.dtype for p in out_params)
    return in_types, out_types, tuple(sorted(type_dict.items()))


def _broadcast_shape(values, params) -> tuple:
    """CuPy's `_broadcast`: the shape of the non-raw arrays, with CuPy's error."""
    arrays = [v if isinstance(v, np.ndarray) and not p.raw else None
              for v, p in zip(values, params)]
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays if a is not None))
    except ValueError:
        raise ValueError("operands could not be broadcast together with shapes " + " ".join(
            str(a.shape) if a is not None else "()" for a in arrays)) from None


def _uninitialized(shape, dtype) -> np.ndarray:
    a = np.empty(shape, dtype)
    if a.dtype.kind in "fc":
        a.fill(np.nan)
    return a


# ---- NumPy references for kernel bodies -------------------------------------------------

_REFERENCES: dict = {}


def signature(in_params: str, out_params: str, operation: str, preamble: str = "") -> str:
    """What a reference is registered for: a digest of the kernel's source."""
    text = "\0".join([in_params, out_params, operation, preamble])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def register(name: str, sig: str):
    """Decorator: `fn` runs the body of kernel `name` whose `signature` is `sig`."""
    def decorate(fn):
        _REFERENCES[name] = (fn, sig)
        return fn
    return decorate


def _reference(kernel):
    if kernel.name not in _REFERENCES:
        from . import kernel_refs  # noqa: F401  (gradkit's references register on import)
    if kernel.name not in _REFERENCES:
        raise NotImplementedError(
            f"the CuPy simulator cannot run ElementwiseKernel {kernel.name!r}: its body is "
            "CUDA; register a NumPy reference for it (cupy_sim/kernel_refs.py)")
    fn, sig = _REFERENCES[kernel.name]
    if sig != kernel._signature:
        raise RuntimeError(
            f"ElementwiseKernel {kernel.name!r} has changed (signature {kernel._signature}, its "
            f"NumPy reference was written for {sig}): update the reference in "
            "cupy_sim/kernel_refs.py to the new source, then its signature")
    return fn


class ElementwiseKernel:
    """cupy.ElementwiseKernel; see the module's docstring for what is imitated."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, **kwargs):
        if not re.match("^[a-zA-Z_][a-zA-Z_0-9]*$", name):
            raise ValueError(f'Invalid kernel name: "{name}"')
        self.in_params = _get_param_info(in_params, True)
        self.out_params = _get_param_info(out_params, False)
        self.nin = len(self.in_params)
        self.nout = len(self.out_params)
        self.nargs = self.nin + self.nout
        self.params = self.in_params + self.out_params + _get_param_info("CIndexer _ind", False)
        self.operation = operation
        self.name = self.__name__ = name
        self.reduce_dims = reduce_dims
        self.preamble = preamble
        self.no_return = no_return
        self.return_tuple = return_tuple
        self.kwargs = kwargs
        if "i" in [p.name for p in self.in_params + self.out_params]:
            raise ValueError("Can not use 'i' as a parameter name")
        self._signature = signature(in_params, out_params, operation, preamble)

    def __call__(self, *args, **kwargs):
        size = kwargs.pop("size", -1)
        kwargs.pop("stream", None)
        block_size = kwargs.pop("block_size", 128)
        if len(kwargs):
            raise TypeError(f"Wrong arguments {kwargs}")
        if block_size <= 0:
            raise ValueError("block_size must be greater than zero")
        n_args = len(args)
        if n_args != self.nin and n_args != self.nargs:
            raise TypeError(
                f"Wrong number of arguments for {self.name!r}. It must be either {self.nin} or "
                f"{self.nargs} (with outputs), but given {n_args}.")
        # arrays -> their NumPy storage, after CuPy's device checks; scalars -> CScalar
        values = [v if isinstance(v, np.ndarray) else _Scalar(v)
                  for v in _operands(self.name, args)]

        has_nonraw = any(isinstance(v, np.ndarray) and not p.raw
                         for v, p in zip(values, self.params))
        if size != -1:
            if has_nonraw:
                raise ValueError("Specified 'size' can be used only "
                                 "if all of the ndarray are 'raw'.")
        elif not has_nonraw:
            raise ValueError("Loop size is undecided.")
        shape = _broadcast_shape(values, self.params)

        in_values = values[:self.nin]
        in_types, out_types, _ = _decide_params_type(
            self.in_params, self.out_params,
            tuple(v.dtype if isinstance(v, np.ndarray) else None for v in in_values),
            tuple(v.dtype for v in values[self.nin:]))  # a scalar output: its dtype (14.2)

        if size != -1:
            shape = (size,)
        out_args = list(args[self.nin:])
        if not out_args:
            for p in self.out_params:
                if p.raw and size == -1:
                    raise ValueError("Output array size is Undecided")
            out_args = [_wrap(_uninitialized(shape, t)) for t in out_types]
        else:
            for p, a in zip(self.out_params, out_args):
                if not isinstance(a, ndarray):
                    raise TypeError("Output arguments type must be cupy.ndarray")
                if not p.raw and tuple(a.shape) != tuple(shape):
                    raise ValueError("Out shape is mismatched")
        if self.no_return:
            ret = None
        elif not self.return_tuple and self.nout == 1:
            ret = out_args[0]
        else:
            ret = tuple(out_args)
        if 0 in shape:
            return ret

        reference = _reference(self)

        def run():  # reads the arrays' storage anew: a graph launch replays it
            outs = [a._a for a in out_args]
            ins = []
            for a, v, p, t in zip(args, in_values, self.in_params, in_types):
                if isinstance(v, _Scalar):
                    ins.append(v.cast(t))
                    continue
                v = a._a
                if any(np.may_share_memory(v, o) for o in outs):
                    v = v.copy()
                v = v if p.raw else np.broadcast_to(v, shape)
                v = v.view()
                v.flags.writeable = False
                ins.append(v)
            with np.errstate(all="ignore"):
                reference(*ins, *outs)

        given = args[self.nin:]  # outputs written in place: unchanged by a capture
        saved = snapshot(given)
        run()
        record(run)
        unwritten(saved)
        if saved is not None:
            poison(out_args[len(given):])
        return ret
