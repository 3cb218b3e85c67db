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

A save is atomic: the file is written to a temporary file in the same directory
(".<name>.<pid>.<host>.<random>.tmp"), flushed and fsynced, then renamed over the
target, so a failure at any point leaves the previous file intact, and the temporary
file is removed on any exception and on SIGINT/SIGTERM arriving during the save (in the
main thread: the signal is then handled as it would have been, so the process still
ends). Temporary files of the same target left by dead processes (SIGKILL, power loss)
are removed by the next save; a live process's are never touched. Overwriting keeps the
target's permission bits; a symlink is written through (the link stays a link).

Loading checks the whole header against the file before allocating or reading any data.
Anything malformed (truncated, corrupt or hostile header, offsets that do not match the
data, a damaged gradkit structure) raises ValueError naming the file and the problem.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import reprlib
import secrets
import signal
import socket
import stat
import threading
from collections.abc import Callable
from typing import Any

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
_MAX_DIMS = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32  # NumPy's limit
_MAX_BYTES = int(np.iinfo(np.intp).max)  # the largest array NumPy can describe


# ---- save ------------------------------------------------------------------------------
def save(state: dict[str, Any], path: str | os.PathLike[str],
         metadata: dict[str, str] | None = None) -> None:
    """Write a (nested) state dict to ``path`` as a safetensors file, atomically.

    Like :func:`torch.save` for checkpoints, but the file is standard safetensors: other
    frameworks read its tensors, and nothing is pickled, so loading it cannot run code.
    A model's and an optimizer's state dicts, numbers and hyper-parameters fit in one file.

    Parameters
    ----------
    state : dict
        Tensors, NumPy arrays, nested dicts / lists / tuples, and plain numbers, strings,
        bools or None. Tensors are stored under their key path joined with "."
        (``{"model": {"0.weight": w}}`` as ``"model.0.weight"``).
    path : str or os.PathLike
        The file to write; it is replaced only once the new file is complete.
    metadata : dict of str to str, optional
        Extra entries for the file's ``__metadata__``.

    Raises
    ------
    TypeError
        If ``state`` is not a dict or holds a value that cannot be stored (raised before
        the file is touched).
    ValueError
        If a value cannot be stored, two key paths join to the same name, or ``path``
        cannot name a file ("").
    IsADirectoryError
        If ``path`` is a directory.

    Notes
    -----
    PyTorch equivalent: :func:`torch.save` (with :func:`safetensors.torch.save_file` for
    the format). Differences: only dicts of the types above, no arbitrary objects.

    Examples
    --------
    >>> import os, tempfile
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> model = nn.Linear(2, 1)
    >>> opt = optim.Adam(model.parameters())
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "checkpoint.safetensors")
    ...     gk.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
    ...              "epoch": 3}, path)
    ...     ckpt = gk.load(path)
    >>> ckpt["epoch"], list(ckpt["model"])
    (3, ['weight', 'bias'])
    >>> _ = model.load_state_dict(ckpt["model"])
    >>> opt.load_state_dict(ckpt["optimizer"])
    """
    shown, target = _save_target(path)
    if not isinstance(state, dict):
        raise TypeError(f"gk.save: state must be a dict, not {type(state).__name__}")
    entries: dict[str, tuple[Any, str]] = {}  # name -> (array owner Tensor or ndarray, path text)
    tree = _encode(state, (), entries)
    header: dict[str, Any] = {}
    offset = 0
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
    _atomic_write(shown, target, blob, [value for value, _ in entries.values()])


def _encode(node: Any, path: tuple[Any, ...], entries: dict[str, tuple[Any, str]]) -> Any:
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


def _where(path: tuple[Any, ...]) -> str:
    return "the state" if not path else "state" + "".join(f"[{k!r}]" for k in path)


def _host_bytes(value: Tensor | np.ndarray) -> np.ndarray:
    """The value's data as a C-contiguous little-endian host array."""
    array = value.backend.to_numpy(value.array) if isinstance(value, Tensor) else value
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _save_target(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(the path as the caller wrote it, for messages; the real file to replace)."""
    shown = os.fsdecode(os.fspath(path))  # TypeError for what is not a path
    if shown == "":
        raise ValueError("gk.save: the path is empty; give the name of the file to write")
    if shown.endswith(os.sep) or (os.altsep and shown.endswith(os.altsep)):
        raise IsADirectoryError(errno.EISDIR, "gk.save: the path ends with a separator, so "
                                "it names a directory, not a file", shown)
    target = os.path.realpath(shown)  # write through symlinks: the link stays a link
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "gk.save: the path is a directory; give the "
                                "name of a file (inside it)", shown)
    if os.path.islink(target):  # realpath gave up on it: a loop of symlinks
        raise OSError(errno.ELOOP, "gk.save: too many levels of symbolic links", shown)
    return shown, target


def _existing_mode(target: str, shown: str) -> int | None:
    """The permission bits of the file being overwritten, or None for a new file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _naming(e, shown) from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"gk.save: {shown} exists and is not a regular file (a device, "
                         "FIFO or socket); a save replaces the file, so it refuses to")
    return stat.S_IMODE(st.st_mode)


def _naming(e: OSError, shown: str) -> OSError:
    """`e` again (the same errno, so the same subclass), naming the target."""
    if e.errno is not None:
        return OSError(e.errno, f"gk.save: {e.strerror or e}", shown)
    try:
        return type(e)(f"gk.save: could not write {shown}: {e}")
    except Exception:  # an OSError subclass with another signature
        return OSError(f"gk.save: could not write {shown}: {e}")


# Temporary files: ".<target name>.<pid>.<host tag>.<12 hex>.tmp". The host tag (a hash of
# the host name and the pid namespace) keeps a save from judging a pid that belongs to
# another machine or container sharing the directory: only files of this host are cleaned.
_TEMP_TAIL = re.compile(r"(\d+)\.([0-9a-f]{8})\.[0-9a-f]{12}\.tmp")
_in_flight: set[str] = set()  # this process's temporary files being written
_in_flight_lock = threading.Lock()
_host: str | None = None


def _host_tag() -> str:
    global _host
    if _host is None:
        try:
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            namespace = ""
        _host = hashlib.sha256(f"{socket.gethostname()}|{namespace}".encode()).hexdigest()[:8]
    return _host


def _pid_alive(pid: int) -> bool:
    """False only when `pid` certainly names no process (ESRCH); unsure means alive."""
    if pid <= 0:
        return True  # os.kill(0, ...) would signal a process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: someone else's process
        return True
    return True


def _remove_stale_temps(directory: str, base: str) -> None:
    """Remove temporary files of `base` whose writer no longer exists."""
    if os.name != "posix":  # os.kill(pid, 0) is not a probe on Windows
        return
    prefix, me, host = f".{base}.", os.getpid(), _host_tag()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = name.startswith(prefix) and _TEMP_TAIL.fullmatch(name, len(prefix))
        if not match or match.group(2) != host:
            continue
        path, pid = os.path.join(directory, name), int(match.group(1))
        with _in_flight_lock:  # our own pid: stale unless one of our threads writes it
            stale = path not in _in_flight if pid == me else not _pid_alive(pid)
        if stale:
            try:
                os.unlink(path)
            except OSError:
                pass


class _Terminated(BaseException):
    """A terminating signal (default action) arrived during a save: unwind, clean up,
    then let the signal end the process."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _SignalGuard:
    """For the duration of one save in the main thread: SIGINT and SIGTERM stop the
    write, the temporary file is removed, and the signal is then handled as it would have
    been without the save (the previous handler called, or the process ended).

    Outside the data write (creating the temporary file, renaming it, cleaning up) the
    signals are held and delivered once the save is over, so nothing is left half done.
    A program's own handler that returns lets the save go on; a disposition of SIG_IGN is
    left alone. In other threads nothing is installed (Python runs handlers in the main
    thread only), and a file a killed process leaves is removed by the next save.
    """

    _SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM")
                     if hasattr(signal, name))

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.pending: list[int] = []
        self.holding = True

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self._SIGNALS:
            previous = signal.getsignal(signum)
            if previous is None or previous == signal.SIG_IGN:
                continue  # ignored, or owned by code outside Python: leave it alone
            try:
                signal.signal(signum, self._handle)
            except (ValueError, OSError):
                continue
            self.previous[signum] = previous
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending.append(signum)
            return
        self.holding = True  # a second signal waits until the clean-up is done
        previous = self.previous[signum]
        if previous == signal.SIG_DFL:
            raise _Terminated(signum)
        previous(signum, frame)  # Python's SIGINT handler raises KeyboardInterrupt here
        self.holding = False  # the program's handler returned: the save goes on

    def release(self) -> None:
        """Let signals interrupt the save from now on (delivering any held ones)."""
        self.holding = False
        while self.pending and not self.holding:
            self._handle(self.pending.pop(0), None)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.holding = True
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        if isinstance(exc, _Terminated):
            self.pending.insert(0, exc.signum)
        raised: BaseException | None = None
        for signum in dict.fromkeys(self.pending):  # each signal once, in order
            try:
                signal.raise_signal(signum)  # SIG_DFL ends the process here
            except BaseException as e:  # the previous handler raised (KeyboardInterrupt)
                raised = raised or e
        if raised is not None:
            raise raised
        if isinstance(exc, _Terminated):  # the signal did not end the process (blocked?)
            raise SystemExit(128 + exc.signum) from None


def _atomic_write(shown: str, target: str, header: bytes,
                  values: list[Tensor | np.ndarray]) -> None:
    directory, base = os.path.split(target)
    mode = _existing_mode(target, shown)
    _remove_stale_temps(directory, base)
    tmp = os.path.join(directory,
                       f".{base}.{os.getpid()}.{_host_tag()}.{secrets.token_hex(6)}.tmp")
    with _in_flight_lock:
        _in_flight.add(tmp)
    try:
        with _SignalGuard() as guard:
            created = False
            try:
                # owner-only until the copied bits are set; a new file gets the umask's
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                             getattr(os, "O_BINARY", 0), 0o600 if mode is not None else 0o666)
                created = True
                try:
                    if mode is not None and hasattr(os, "fchmod"):
                        os.fchmod(fd, mode)
                    f = os.fdopen(fd, "wb")
                except BaseException:
                    os.close(fd)
                    raise
                with f:
                    guard.release()
                    try:
                        f.write(len(header).to_bytes(8, "little"))
                        f.write(header)
                        for value in values:
                            f.write(_host_bytes(value).data)
                        f.flush()
                        os.fsync(f.fileno())
                    finally:
                        guard.holding = True
                if mode is not None and not hasattr(os, "fchmod"):
                    os.chmod(tmp, mode)
                os.replace(tmp, target)
            except BaseException as e:
                guard.holding = True
                if created:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
                if isinstance(e, OSError):
                    raise _naming(e, shown) from None
                raise
        _fsync_directory(directory)
    finally:
        with _in_flight_lock:
            _in_flight.discard(tmp)


def _fsync_directory(directory: str) -> None:
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
_Entries = list[tuple[str, dict[str, Any]]]  # (name, header entry), in file order


class _Malformed(ValueError):
    """Raised inside load for a damaged file; re-raised as ValueError naming the file."""


def load(path: str | os.PathLike[str],
         device: str | _backends.Backend | None = None) -> dict[str, Any]:
    """Read a safetensors file written by :func:`save` (or any other framework).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    device : str or Backend, optional
        Where to put the tensors (default: the CPU).

    Returns
    -------
    dict
        The saved structure (tensors as Tensors, NumPy arrays as NumPy arrays, tuples as
        tuples); a file from another framework gives a flat dict name -> Tensor, in file
        order.

    Raises
    ------
    ValueError
        Naming the file, for anything that is not a valid safetensors file (truncated,
        corrupt or hostile header, offsets that do not match the data, a damaged gradkit
        structure). The header is checked in full before anything is allocated.
    FileNotFoundError
        If the file does not exist.

    Notes
    -----
    PyTorch equivalent: :func:`torch.load` (``map_location`` is ``device`` here).

    Examples
    --------
    >>> import os, tempfile
    >>> import gradkit as gk
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.safetensors")
    ...     gk.save({"w": gk.tensor([1., 2.]), "step": 10}, path)
    ...     gk.load(path)
    {'w': tensor([1., 2.]), 'step': 10}
    """
    shown = os.fsdecode(os.fspath(path))
    backend = _backends.get_backend(device)
    cpu = _backends.get_backend("cpu")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, entries = _read_header(f, size, shown)
        tree = _read_tree(header, entries, shown)  # checked before the data is read
        arrays: dict[str, np.ndarray] = {}
        for name, info in entries:
            raw = np.empty(info["data_offsets"][1] - info["data_offsets"][0], dtype=np.uint8)
            if f.readinto(raw.data) != raw.size:
                raise ValueError(f"gk.load: {shown}: the data of {name!r} is truncated "
                                 "(the file changed while it was read?)")
            arrays[name] = _decode_array(raw, info)

    def to_tensor(name: str) -> Tensor:
        array = arrays[name]
        return Tensor.wrap(array if backend is cpu else backend.transfer(array, cpu), backend)

    if tree is None:
        return {name: to_tensor(name) for name in arrays}
    result: dict[str, Any] = _resolve(tree, to_tensor, arrays)
    return result


def _json(text: bytes | str) -> Any:
    """json.loads refusing duplicate keys (which it would otherwise silently drop)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise _Malformed(f"the key {key!r} appears twice in one object")
            obj[key] = value
        return obj

    try:
        return json.loads(text, object_pairs_hook=unique)
    except _Malformed:
        raise
    except RecursionError:
        raise _Malformed("the JSON is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise _Malformed(f"it is not valid JSON ({e})") from None


def _read_header(f: Any, size: int, path: str) -> tuple[dict[str, Any], _Entries]:
    """(header dict, [(name, info)] sorted by offset), fully validated against `size`."""

    def bad(problem: str) -> ValueError:
        return ValueError(f"gk.load: {path}: not a valid safetensors file: {problem}")

    if size < 8:
        raise bad(f"the file has {size} bytes, fewer than the 8-byte header length")
    n = int.from_bytes(f.read(8), "little")
    if n > size - 8:
        raise bad(f"the header length {n} exceeds the file size {size} (truncated file?)")
    if n > _MAX_HEADER:
        raise bad(f"the header length {n} exceeds safetensors' limit of {_MAX_HEADER} bytes")
    raw = f.read(n)
    if not raw.startswith(b"{"):
        raise bad("the header does not start with '{'")
    try:
        header = _json(raw)
    except _Malformed as e:
        raise bad(f"the header: {e}") from None
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
        if not isinstance(dtype, str) or dtype not in _ITEMSIZE:
            raise bad(f"entry {name!r} has dtype {_short(dtype)}, which gradkit cannot load "
                      f"(it loads {', '.join(_ITEMSIZE)})")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise bad(f"entry {name!r} has an invalid shape {_short(shape)} (a list of "
                      "non-negative integers)")
        if len(shape) > _MAX_DIMS:
            raise bad(f"entry {name!r} has {len(shape)} dimensions, more than the "
                      f"{_MAX_DIMS} an array can have")
        if math.prod(s for s in shape if s) * _ITEMSIZE[dtype] > _MAX_BYTES:
            raise bad(f"entry {name!r} has a shape too large for any array: {_short(shape)}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and
                all(_is_int(o) and o >= 0 for o in offsets)):
            raise bad(f"entry {name!r} has invalid data_offsets {_short(offsets)} (two "
                      "non-negative integers)")
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters (a hostile header can be megabytes)."""
    text = reprlib.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _decode_array(raw: np.ndarray, info: dict[str, Any]) -> np.ndarray:
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


class _Ref:
    """A tensor (kind "T") or NumPy array ("N") in the decoded structure, by entry name."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name


def _read_tree(header: dict[str, Any], entries: _Entries, path: str) -> Any:
    """The gradkit structure in __metadata__, checked, with _Ref for the tensors; None for
    a file without one (written by another framework)."""
    meta = header.get("__metadata__") or {}
    if _TREE_KEY not in meta:
        return None
    names = {name for name, _ in entries}
    used: set[str] = set()
    try:
        description = _json(meta[_TREE_KEY])
        if not isinstance(description, dict) or set(description) != {"version", "tree"}:
            raise _Malformed("it is not an object of a version and a tree")
        version = description["version"]
        if not _is_int(version) or version != _FORMAT_VERSION:
            raise _Malformed(f"unsupported gradkit format version {_short(version)} (this "
                             f"gradkit reads version {_FORMAT_VERSION}; a newer one wrote it?)")
        tree = _decode(description["tree"], names, used)
        if not isinstance(tree, dict):
            raise _Malformed("the saved state is not a dict")
        if used != names:
            raise _Malformed(f"the file holds tensors the structure does not refer to: "
                             f"{_short(sorted(names - used))}")
        return tree
    except RecursionError:
        raise ValueError(f"gk.load: {path}: the gradkit structure in __metadata__ is nested "
                         "too deeply") from None
    except _Malformed as e:
        raise ValueError(f"gk.load: {path}: the gradkit structure in __metadata__ is "
                         f"corrupt: {e}") from None


def _decode(node: Any, names: set[str], used: set[str]) -> Any:
    """The saved structure from its JSON description, checked, tensors as _Ref."""
    if not (isinstance(node, dict) and len(node) == 1):
        raise _Malformed(f"a node is {_short(node)}, not an object of one kind")
    (kind, body), = node.items()
    if kind in ("T", "N"):
        if not isinstance(body, str) or body not in names:
            raise _Malformed(f"it refers to a tensor {_short(body)} the file does not hold")
        if body in used:
            raise _Malformed(f"it refers to the tensor {body!r} twice")
        used.add(body)
        return _Ref(kind, body)
    if kind == "D":
        if not isinstance(body, list):
            raise _Malformed(f"a dict node holds {_short(body)}, not a list of pairs")
        out: dict[Any, Any] = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2):
                raise _Malformed(f"a dict item is {_short(item)}, not a [key, value] pair")
            key, value = item
            if not (isinstance(key, str) or _is_int(key)):
                raise _Malformed(f"a dict key is {_short(key)}, not a string or integer")
            if key in out:
                raise _Malformed(f"the dict key {key!r} appears twice")
            out[key] = _decode(value, names, used)
        return out
    if kind in ("L", "U"):
        if not isinstance(body, list):
            raise _Malformed(f"a list node holds {_short(body)}, not a list")
        items = [_decode(v, names, used) for v in body]
        return items if kind == "L" else tuple(items)
    if kind == "V":
        if body is not None and not isinstance(body, (bool, int, float, str)):
            raise _Malformed(f"a value is {_short(body)}, not a number, string, bool or null")
        return body
    raise _Malformed(f"unknown node kind {_short(kind)}")


def _resolve(node: Any, to_tensor: Callable[[str], Tensor],
             arrays: dict[str, np.ndarray]) -> Any:
    """The checked structure with each _Ref replaced by its tensor (on the device) or array."""
    if isinstance(node, _Ref):
        return to_tensor(node.name) if node.kind == "T" else arrays[node.name]
    if isinstance(node, dict):
        return {key: _resolve(value, to_tensor, arrays) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(v, to_tensor, arrays) for v in node]
    if isinstance(node, tuple):
        return tuple(_resolve(v, to_tensor, arrays) for v in node)
    return node
