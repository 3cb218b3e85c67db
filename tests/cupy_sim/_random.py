"""cupy.random's Generator API, simulated: NumPy's PCG64 whose state lives in device memory.

CuPy's Generator keeps its cuRAND states in an int8 device array (`bit_generator._state`)
and has no permutation, shuffle or choice; this one is the same, with NumPy's draws (the
numbers differ from CuPy's, as CuPy's differ from NumPy's).
"""

from __future__ import annotations

import numpy as np

from ._core import _wrap, check_device, get_device_id, record_call, rewrap, snapshot, unwritten

_STATE_BYTES = 37  # PCG64: 128-bit state, 128-bit increment, has_uint32, uinteger


def _encode(state: dict) -> np.ndarray:
    s = state["state"]
    raw = (s["state"].to_bytes(16, "little") + s["inc"].to_bytes(16, "little")
           + bytes([state["has_uint32"]]) + int(state["uinteger"]).to_bytes(4, "little"))
    return np.frombuffer(raw, dtype=np.int8).copy()


def _decode(data: np.ndarray) -> dict:
    raw = data.tobytes()
    return {"bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"),
                      "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}


class XORWOW:
    """A bit generator whose state is a device array (CuPy's default is XORWOW)."""

    def __init__(self, seed=None):
        rng = np.random.PCG64(seed)
        self._state = _wrap(_encode(rng.state))


class Generator:
    def __init__(self, bit_generator):
        self.bit_generator = bit_generator

    def _draw(self, method, *args, **kwargs):
        dev = get_device_id()
        check_device(self.bit_generator._state, dev)  # the state is read on this device
        state = self.bit_generator._state
        saved = snapshot((state,))
        out = rewrap(_draw(state._a, method, args, kwargs), dev)
        # a kernel that reads and advances the state in device memory: a graph launch draws
        # anew (CuPy's Generator launches curand device code, no cuRAND host API)
        record_call(_draw, (state, method, args, kwargs), {}, out)
        unwritten(saved)
        return out

    def random(self, size=None, dtype=np.float64, out=None):
        return self._draw("random", size, dtype=dtype)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._draw("standard_normal", size, dtype=dtype)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype=dtype, endpoint=endpoint)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._draw("uniform", low, high, size).astype(dtype)


def _draw(state, method, args, kwargs):
    """NumPy's `method` drawn from the PCG64 state stored in `state` (advanced in place)."""
    bitgen = np.random.PCG64()
    bitgen.state = _decode(state)
    result = getattr(np.random.Generator(bitgen), method)(*args, **kwargs)
    state[...] = _encode(bitgen.state)
    return np.asarray(result)


def _other_draw(name):
    def draw(self, *args, **kwargs):
        kwargs.pop("dtype", None)
        return self._draw(name, *args, **kwargs)

    draw.__name__ = name
    return draw


def add_draws(names):
    """The rest of CuPy's Generator methods (of this version), as NumPy's."""
    for n in names:
        if not hasattr(Generator, n) and hasattr(np.random.Generator, n):
            setattr(Generator, n, _other_draw(n))


def default_rng(seed=None):
    return Generator(XORWOW(seed))
