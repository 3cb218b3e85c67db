"""gk.save / gk.load: checkpoints in the safetensors format, written and read here.

The file is standard safetensors, so other frameworks read the tensors and gradkit
reads theirs: an 8-byte little-endian header length N, N bytes of JSON mapping each
tensor name to {"dtype", "shape", "data_offsets"} (plus a "__metadata__" map of
strings), then the raw little-endian bytes of every tensor, back to back. Nothing is
ever pickled, so loading a file cannot run code.

Nested state (a model's and an optimizer's state dicts in one file, numbers and
hyper-parameters included) is stored as follows:

- every tensor (and NumPy array) becomes one safetensors entry named by its path, keys
  joined with "." as they are: {"model": {"0.weight": w}} is stored as "model.0.weight",
  the name other frameworks expect;
- the structure itself (dict key types such as the optimizer's int indices, lists,
  tuples, and the plain values: numbers, strings, bools, None) goes into
  __metadata__["gradkit"] as JSON, with each tensor referred to by its entry name.

So `load` rebuilds exactly what was saved, whatever the keys contain. The one escaping
rule: keys are never rewritten, so two paths that would join to the same name (say
{"a.b": x, "a": {"b": y}}) are refused by `save` with a ValueError naming both. A file
without the "gradkit" entry (written by another framework) loads as a flat dict
name -> Tensor, in file order.

A save is atomic: the file is written to a temporary file in the same directory,
flushed and fsynced, then renamed over the target, so a failure at any point leaves the
previous file intact. Loading checks the whole header against the file before reading
any data and raises ValueError naming the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
import secrets

import numpy as np

from . import backends as _backends
from .tensor import Tensor

__all__ = ["save", "load"]

_TREE_KEY = "gradkit"
_FORMAT_VERSION = 1
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header
_CODES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32",
          "int64": "I64", "float32": "F32", "float64": "F64"}
_NAMES = {code: name for name, code in _CODES.items()}
# Other frameworks' dtypes that load losslessly into one gradkit has.
_WIDENED = {"F16": ("<f2", "float32"), "BF16": ("<u2", "float32"), "U16": ("<u2", "int32"),
            "U32": ("<u4", "int64")}
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "F32": 4, "F64": 8,
             "F16": 2, "BF16": 2, "U16": 2, "U32": 4}


# ---- save ------------------------------------------------------------------------------
def save(state: dict, path, metadata: dict | None = None) -> None:
    """Write `state` (a dict of tensors, NumPy arrays, nested dicts/lists/tuples and
    plain numbers, strings, bools or None) to `path` as safetensors, atomically.

    `metadata` adds string entries to the file's __metadata__. Raises TypeError or
    ValueError, before touching the file, for a value it cannot store.
    """
    if not isinstance(state, dict):
        raise TypeError(f"gk.save: state must be a dict, not {type(state).__name__}")
    entries: dict[str, tuple] = {}  # name -> (array owner Tensor or ndarray, path text)
    tree = _encode(state, (), entries)
    header, offset = {}, 0
    for name, (value, _) in entries.items():
        dtype_name = value.dtype.name
        nbytes = math.prod(value.shape) * np.dtype(dtype_name).itemsize
        header[name] = {"dtype": _CODES[dtype_name], "shape": list(value.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta[_TREE_KEY] = json.dumps({"version": _FORMAT_VERSION, "tree": tree},
                                 separators=(",", ":"))
    header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # pad so the data starts 8-byte aligned
    _atomic_write(os.fspath(path), blob, [value for value, _ in entries.values()])


def _encode(node, path: tuple, entries: dict):
    """The JSON description of `node`; tensors are registered in `entries` by name."""
    if isinstance(node, (Tensor, np.ndarray)):
        kind = "T" if isinstance(node, Tensor) else "N"
        name = ".".join(str(k) for k in path)
        dtype_name = node.dtype.name
        if dtype_name not in _CODES:
            raise TypeError(f"gk.save: {_where(path)} has dtype {dtype_name}, which "
                            f"cannot be saved (supported: {sorted(_CODES)})")
        if name in entries:
            raise ValueError(f"gk.save: {_where(path)} and {entries[name][1]} would both be "
                             f"stored under the name {name!r}; rename one of the keys")
        if name == "__metadata__" or not path:
            raise ValueError(f"gk.save: {_where(path)} cannot be stored under the name "
                             f"{name!r}")
        entries[name] = (node, _where(path))
        return {kind: name}
    if isinstance(node, dict):
        items = []
        for key, value in node.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"gk.save: dict keys must be str or int, got "
                                f"{type(key).__name__} {key!r} in {_where(path)}")
            items.append([key, _encode(value, path + (key,), entries)])
        return {"D": items}
    if isinstance(node, (list, tuple)):
        children = [_encode(v, path + (i,), entries) for i, v in enumerate(node)]
        return {"L" if isinstance(node, list) else "U": children}
    if isinstance(node, np.generic):
        node = node.item()
    if node is None or isinstance(node, (bool, int, float, str)):
        return {"V": node}
    raise TypeError(f"gk.save: cannot save {_where(path)} of type {type(node).__name__} "
                    "(tensors, NumPy arrays, dicts, lists, tuples, numbers, strings, bools "
                    "and None can be saved; nothing is pickled)")


def _where(path: tuple) -> str:
    return "the state" if not path else "state" + "".join(f"[{k!r}]" for k in path)


def _host_bytes(value) -> np.ndarray:
    """The value's data as a C-contiguous little-endian host array."""
    array = value.backend.to_numpy(value.array) if isinstance(value, Tensor) else value
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _atomic_write(path: str, header: bytes, values: list):
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(header).to_bytes(8, "little"))
            f.write(header)
            for value in values:
                f.write(_host_bytes(value).data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str):
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load ------------------------------------------------------------------------------
def load(path, device=None):
    """Read a safetensors file written by gk.save (or any other framework) onto `device`
    (default: the CPU). Returns the saved structure; a foreign file gives a flat dict.

    Raises ValueError naming the file for anything that is not a valid safetensors file
    (truncated, corrupt header, offsets that do not match the data).
    """
    path = os.fspath(path)
    backend = _backends.get_backend(device)
    cpu = _backends.get_backend("cpu")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, entries = _read_header(f, size, path)
        arrays = {}
        for name, info in entries:
            raw = np.empty(info["data_offsets"][1] - info["data_offsets"][0], dtype=np.uint8)
            if f.readinto(raw.data) != raw.size:
                raise ValueError(f"gk.load: {path}: the data of {name!r} is truncated")
            arrays[name] = _decode_array(raw, info)
    meta = header.get("__metadata__") or {}

    def to_tensor(name):
        array = arrays[name]
        return Tensor.wrap(array if backend is cpu else backend.transfer(array, cpu), backend)

    if _TREE_KEY not in meta:
        return {name: to_tensor(name) for name in arrays}
    try:
        description = json.loads(meta[_TREE_KEY])
        if description.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported gradkit format version {description.get('version')!r}")
        return _decode(description["tree"], to_tensor, arrays)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"gk.load: {path}: the gradkit structure in __metadata__ is "
                         f"corrupt ({type(e).__name__}: {e})") from None


def _read_header(f, size: int, path: str):
    """(header dict, [(name, info)] sorted by offset), fully validated against `size`."""

    def bad(problem):
        return ValueError(f"gk.load: {path}: not a valid safetensors file: {problem}")

    if size < 8:
        raise bad(f"the file has {size} bytes, fewer than the 8-byte header length")
    n = int.from_bytes(f.read(8), "little")
    if n > size - 8 or n > _MAX_HEADER:
        raise bad(f"the header length {n} exceeds the file size {size} (truncated file?)")
    raw = f.read(n)
    if not raw.startswith(b"{"):
        raise bad("the header does not start with '{'")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and
                                 all(isinstance(v, str) for v in meta.values())):
        raise bad("__metadata__ is not a map of strings")
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise bad(f"entry {name!r} lacks dtype, shape or data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ITEMSIZE:
            raise bad(f"entry {name!r} has dtype {dtype!r}, which gradkit cannot load")
        if not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise bad(f"entry {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise bad(f"entry {name!r} has invalid data_offsets {offsets!r}")
        expected = math.prod(shape) * _ITEMSIZE[dtype]
        if offsets[1] - offsets[0] != expected:
            raise bad(f"entry {name!r} of dtype {dtype} and shape {tuple(shape)} needs "
                      f"{expected} bytes but its data_offsets {offsets} span "
                      f"{offsets[1] - offsets[0]}")
        entries.append((name, info))
    entries.sort(key=lambda e: tuple(e[1]["data_offsets"]))
    end = 0
    for name, info in entries:
        if info["data_offsets"][0] != end:
            raise bad(f"entry {name!r} starts at byte {info['data_offsets'][0]}, expected "
                      f"{end} (the data must be contiguous, without holes or overlaps)")
        end = info["data_offsets"][1]
    if 8 + n + end != size:
        raise bad(f"the header describes {end} bytes of data but the file holds "
                  f"{size - 8 - n} (truncated or padded file)")
    return header, entries


def _decode_array(raw: np.ndarray, info: dict) -> np.ndarray:
    """The bytes of one entry as an array of a dtype gradkit has (widening if needed)."""
    code, shape = info["dtype"], tuple(info["shape"])
    if code in _NAMES:
        return raw.view(np.dtype(_NAMES[code]).newbyteorder("<")).reshape(shape) \
            .astype(_NAMES[code], copy=False)
    stored, target = _WIDENED[code]
    values = raw.view(stored).reshape(shape)
    if code == "BF16":  # bfloat16 is the top half of a float32
        return (values.astype("<u4") << 16).view("<f4").astype("float32")
    return values.astype(target)


def _decode(node, to_tensor, arrays: dict):
    """The saved structure from its JSON description; tensors are made on the device."""
    (kind, body), = node.items()
    if kind == "T":
        return to_tensor(body)
    if kind == "N":
        return arrays[body]
    if kind == "D":
        return {key: _decode(value, to_tensor, arrays) for key, value in body}
    if kind == "L":
        return [_decode(v, to_tensor, arrays) for v in body]
    if kind == "U":
        return tuple(_decode(v, to_tensor, arrays) for v in body)
    if kind == "V":
        return body
    raise ValueError(f"unknown node kind {kind!r}")
