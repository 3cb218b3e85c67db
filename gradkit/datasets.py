"""Small real datasets as host NumPy arrays, for the examples and tests.

- `load_digits()`: scikit-learn's bundled 8x8 handwritten digits (no download; needs
  the `examples` extra: pip install "gradkit[examples]").
- `load_mnist(root=None)`: MNIST from its four standard IDX files, downloaded with checksum
  and size verification when missing and `download=True`.
- `read_idx(path)`: one IDX file (gzip-compressed or not) as a NumPy array.
- `train_test_split(x, y)`: a deterministic shuffled split.
- `download(url, path, sha256=...)`: one file, checked and moved into place atomically,
  within a total deadline and a size cap.
- `default_data_dir()`: where data goes when no folder is given (`$GRADKIT_DATA`, else the
  platform's cache folder).

Everything here returns NumPy arrays; move them to a device with `gk.tensor(x, device=...)`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import ntpath
import os
import posixpath
import signal
import socket
import tempfile
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_BYTES", "MNIST_FILES", "MNIST_MIRRORS",
           "DataPathError", "DownloadError", "FileRecord", "default_data_dir", "download",
           "load_digits", "load_mnist", "read_idx", "train_test_split"]


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL, why, and what to do.

    Raised by :func:`download` and :func:`load_mnist`; a RuntimeError.

    Examples
    --------
    >>> from gradkit import datasets
    >>> issubclass(datasets.DownloadError, RuntimeError)
    True
    """


class DataPathError(DownloadError, ValueError):
    """A data path is unusable: a file where a folder should be, or the reverse.

    The message names the path. It is a DownloadError and a ValueError.

    Examples
    --------
    >>> from gradkit import datasets
    >>> issubclass(datasets.DataPathError, (datasets.DownloadError, ValueError))
    True
    """


def load_digits(flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's bundled 8x8 handwritten digits (no download).

    Parameters
    ----------
    flatten : bool, default True
        Images of shape (n, 64), or (n, 8, 8) when False.

    Returns
    -------
    images : numpy.ndarray
        The 1797 images, float32 in [0, 1].
    labels : numpy.ndarray
        The labels 0-9, int64.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install "gradkit[examples]"``).

    Notes
    -----
    PyTorch has no equivalent; this is :func:`sklearn.datasets.load_digits`, rescaled.

    Examples
    --------
    >>> from gradkit import datasets
    >>> x, y = datasets.load_digits()
    >>> x.shape, x.dtype, y.shape, y.dtype
    ((1797, 64), dtype('float32'), (1797,), dtype('int64'))
    >>> datasets.load_digits(flatten=False)[0].shape
    (1797, 8, 8)
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError(
            "load_digits needs scikit-learn, which ships the digits data; install the "
            'examples extra: pip install "gradkit[examples]"') from e
    bunch = _sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # pixel values are 0..16
    labels = bunch.target.astype(np.int64)
    return (images.reshape(len(images), -1) if flatten else images), labels


def train_test_split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``x`` and ``y`` into shuffled train and test parts, the same for the same seed.

    Parameters
    ----------
    x, y : numpy.ndarray
        Examples and labels with the same number of rows.
    test_fraction : float, default 0.2
        The share of rows that go to the test part (at least one row).
    seed : int, default 0
        Seed of the shuffle.

    Returns
    -------
    x_train : numpy.ndarray
    y_train : numpy.ndarray
    x_test : numpy.ndarray
    y_test : numpy.ndarray

    Raises
    ------
    ValueError
        If the lengths differ or ``test_fraction`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit import datasets
    >>> x, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, test_fraction=0.3)
    >>> x_train.shape, x_test.shape
    ((7, 2), (3, 2))
    >>> sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    True
    """
    if len(x) != len(y):
        raise ValueError(f"train_test_split: x has {len(x)} rows but y has {len(y)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), not {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


# ---- IDX files -------------------------------------------------------------------------
# The third byte of an IDX file's magic number names the element type (big-endian data).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the array stored in an IDX file (MNIST's format), gzip-compressed or not.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        In native byte order, writable.

    Raises
    ------
    ValueError
        Naming the file, when it is not IDX, or is truncated or too long.
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import os, struct, tempfile
    >>> from gradkit import datasets
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "tiny-idx2-ubyte")
    ...     with open(path, "wb") as f:   # magic: 0, 0, type 0x08 (uint8), 2 dims
    ...         _ = f.write(bytes([0, 0, 8, 2]) + struct.pack(">II", 2, 3) + bytes(range(6)))
    ...     datasets.read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"  # the gzip magic number
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # a corrupt or truncated gzip stream
        raise ValueError(f"read_idx: {path} is not a readable gzip file: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number "
                         f"{raw[:4].hex() or 'missing'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated: its header needs {header} bytes, "
                         f"the file has {len(raw)}")
    if ndim > 64:
        raise ValueError(f"read_idx: {path} is not a valid IDX file: it claims {ndim} "
                         "dimensions, more than the 64 an array can have")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = dtype.itemsize
    for d in shape:  # Python ints: a hostile header cannot wrap the size around to match
        expected *= d
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {what}: shape {shape} of {dtype.name} needs "
                         f"{expected} bytes of data, found {found}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, and writable


# ---- where data goes -------------------------------------------------------------------
def default_data_dir() -> Path:
    """Return the folder for downloaded data when none is given (created on first download).

    ``$GRADKIT_DATA`` when set; else the platform's cache folder: ``$XDG_CACHE_HOME/gradkit``
    or ``~/.cache/gradkit`` on Linux and macOS, ``%LOCALAPPDATA%\\gradkit\\Cache`` on
    Windows. Datasets get a subfolder each (MNIST: ``<this>/mnist``).

    Returns
    -------
    pathlib.Path
        An absolute path.

    Examples
    --------
    >>> from gradkit import datasets
    >>> datasets.default_data_dir().is_absolute()
    True
    """
    return Path(_data_dir_for(os.environ, windows=os.name == "nt")).expanduser().resolve()


def _data_dir_for(env: Mapping[str, str], *, windows: bool) -> str:
    """default_data_dir's rule as a string, for any platform (so tests can check each)."""
    if env.get("GRADKIT_DATA"):
        return env["GRADKIT_DATA"]
    if windows:
        base = env.get("LOCALAPPDATA") or ntpath.join("~", "AppData", "Local")
        return ntpath.join(base, "gradkit", "Cache")
    xdg = env.get("XDG_CACHE_HOME", "")
    # the XDG spec: a relative $XDG_CACHE_HOME is invalid and to be ignored
    base = xdg if posixpath.isabs(xdg) else posixpath.join("~", ".cache")
    return posixpath.join(base, "gradkit")


def _resolve(path: str | os.PathLike[str]) -> Path:
    """`path` with `~` expanded, made absolute and free of symlinks and `..`."""
    return Path(path).expanduser().resolve()


def _make_folder(folder: Path, what: str) -> None:
    """Create `folder` (and its parents), or raise an error that names the culprit."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise DataPathError(
                    f"{what}: {p} is a file, not a folder, so {folder} cannot be created; "
                    f"move that file away or choose another folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{what}: cannot create the folder {folder}: "
                            f"{e.strerror or e}; choose another folder (or set "
                            f"GRADKIT_DATA)") from e


# ---- MNIST -----------------------------------------------------------------------------
class FileRecord(NamedTuple):
    """What a published data file must be: its MD5 and its exact size in bytes.

    Parameters
    ----------
    md5 : str
        The hex MD5 digest.
    size : int
        The size in bytes.

    Examples
    --------
    >>> from gradkit import datasets
    >>> datasets.MNIST_FILES["t10k-labels-idx1-ubyte.gz"].size
    4542
    """

    md5: str
    size: int


# File name -> (MD5, bytes), as torchvision's MNIST dataset lists them.
MNIST_FILES: dict[str, FileRecord | str] = {
    "train-images-idx3-ubyte.gz": FileRecord("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": FileRecord("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": FileRecord("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": FileRecord("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
# https only: every file is checked against its MD5 and size, but a plain-http mirror
# would still let anyone on the way stall or redirect the download.
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

DEFAULT_DEADLINE = 600.0  # seconds for one file, everything included
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: the size cap of download() when no size is given


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    flatten: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    *,
    deadline: float | None = DEFAULT_DEADLINE,
    allow_http: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]:
    """Load MNIST from its four standard IDX files, downloading missing ones.

    Each downloaded file is checked against the MD5 and size in ``MNIST_FILES`` before it
    is moved into place. A file may be stored gzip-compressed (``name.gz``) or not.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder with the files (``~`` and relative paths allowed); default
        ``default_data_dir() / "mnist"`` (``$GRADKIT_DATA/mnist``, else e.g.
        ``~/.cache/gradkit/mnist``).
    download : bool, default True
        Download missing files.
    flatten : bool, default True
        Images of shape (n, 784), or (n, 28, 28) when False.
    mirrors : sequence of str, optional
        Base URLs tried in turn (default ``MNIST_MIRRORS``, https only).
    timeout : float, default 30.0
        Seconds without data before a try fails.
    deadline : float or None, default DEFAULT_DEADLINE
        Keyword only: seconds for a whole file from one mirror; None for no limit.
    allow_http : bool, default False
        Keyword only: accept plain-http mirrors (the checksums still guard the content).

    Returns
    -------
    x_train : numpy.ndarray
        60000 images, float32 in [0, 1].
    y_train : numpy.ndarray
        Their labels, int64.
    x_test : numpy.ndarray
        10000 images, float32 in [0, 1].
    y_test : numpy.ndarray
        Their labels, int64.

    Raises
    ------
    DownloadError
        Listing every URL tried and why it failed, and where to put the files by hand.
    DataPathError
        If ``root`` is a file or a data file's place is taken by a folder.
    FileNotFoundError
        For missing files with ``download=False``.
    ValueError
        If a mirror is plain http without ``allow_http``, or the files do not fit together.

    Notes
    -----
    PyTorch equivalent: ``torchvision.datasets.MNIST`` (same files and checksums), as
    arrays rather than a Dataset.

    Examples
    --------
    >>> from gradkit import datasets
    >>> x_train, y_train, x_test, y_test = datasets.load_mnist()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
    ((60000, 784), dtype('float32'), (10000,))
    """
    root = default_data_dir() / "mnist" if root is None else _resolve(root)
    if root.exists() and not root.is_dir():
        raise DataPathError(f"load_mnist: the data folder {root} is a file; pass the folder "
                            f"that holds (or should hold) the MNIST files")
    paths = {}
    for name, record in MNIST_FILES.items():
        candidates = (root / name, root / name.removesuffix(".gz"))
        found = [p for p in candidates if p.is_file()]
        folders = [p for p in candidates if p.is_dir()]
        if found:
            paths[name] = found[0]
        elif folders:
            raise DataPathError(f"load_mnist: {folders[0]} is a folder, but it is where the "
                                f"MNIST file {name} goes; move that folder away")
        elif download:
            paths[name] = _download_mnist_file(
                name, record, root, list(mirrors or MNIST_MIRRORS), timeout=timeout,
                deadline=deadline, allow_http=allow_http)
        else:
            raise FileNotFoundError(
                f"load_mnist: {root} has no {name} (nor its uncompressed form); pass "
                f"download=True or put the four MNIST files there: {', '.join(MNIST_FILES)}")
    arrays = [read_idx(paths[name]) for name in MNIST_FILES]
    x_train, y_train, x_test, y_test = arrays
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"load_mnist: the {split} files in {root} do not fit: images of "
                             f"shape {images.shape}, labels of shape {labels.shape}")

    def images_(x: NDArray[Any]) -> NDArray[np.float32]:
        x = x.astype(np.float32) / np.float32(255.0)
        return x.reshape(len(x), -1) if flatten else x

    return images_(x_train), y_train.astype(np.int64), images_(x_test), y_test.astype(np.int64)


def _download_mnist_file(name: str, record: FileRecord | str, root: Path,
                         mirrors: list[str], *, timeout: float, deadline: float | None,
                         allow_http: bool) -> Path:
    """Fetch `name` from the first mirror that serves it with the right MD5 and size."""
    md5, size = (record, None) if isinstance(record, str) else record
    if not mirrors:
        raise DownloadError(f"load_mnist: no mirrors to download {name} from; put the four "
                            f"files ({', '.join(MNIST_FILES)}) into {root} by hand")
    for mirror in mirrors:  # a caller's mistake (a plain-http mirror) fails before any try
        _check_url(mirror, allow_http, "load_mnist")
    failures = []
    for mirror in mirrors:
        try:
            return _fetch_file(mirror.rstrip("/") + "/" + name, root / name,
                               {"md5": md5}, size=size, max_bytes=None, timeout=timeout,
                               deadline=deadline, allow_http=allow_http)
        except DataPathError:
            raise
        except DownloadError as e:
            failures.append(str(e))
    raise DownloadError(
        f"load_mnist: could not download {name} into {root}:\n  " + "\n  ".join(failures)
        + f"\nFor an offline copy, put the four files ({', '.join(MNIST_FILES)}), from any "
        f"MNIST mirror, into {root} (gzip-compressed or not), or pass root= (or set "
        f"GRADKIT_DATA) to where they are.")


# ---- downloading one file ---------------------------------------------------------------
def download(
    url: str,
    path: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    max_bytes: int | None = None,
    timeout: float = 30.0,
    deadline: float | None = DEFAULT_DEADLINE,
    allow_http: bool = False,
) -> Path:
    """Fetch ``url`` into ``path`` (its folder is created) and return ``path``, made absolute.

    The data goes to a temporary ``.part`` file beside ``path`` that is checked against
    ``sha256`` and/or ``md5`` and ``size`` (when given) and only then renamed into place.
    The ``.part`` file is removed on any error, and on SIGTERM or SIGINT during the
    download. A ``path`` that already exists with the right checksum and size (or exists,
    when neither is given) is kept and nothing is fetched.

    Parameters
    ----------
    url : str
        An https URL, or file:// for a local copy.
    path : str or os.PathLike
        Where to put the file (``~`` and relative paths allowed).
    sha256, md5 : str, optional
        Keyword only: expected hex digests.
    size : int, optional
        Keyword only: the exact size in bytes (a longer or shorter body fails).
    max_bytes : int, optional
        Keyword only: the size cap when ``size`` is not given (default
        ``DEFAULT_MAX_BYTES``, 1 GiB).
    timeout : float, default 30.0
        Keyword only: seconds without any data (connecting, or between two reads).
    deadline : float or None, default DEFAULT_DEADLINE
        Keyword only: seconds for the whole file, redirects included (None: no limit).
    allow_http : bool, default False
        Keyword only: accept plain http and https-to-http redirects; then pass a checksum.

    Returns
    -------
    pathlib.Path
        ``path``, absolute.

    Raises
    ------
    DownloadError
        With one line "<url>: <why>" (HTTP status, timeout, deadline, too large, short
        body, checksum mismatch, ...) and where to put an offline copy.
    DataPathError
        If ``path`` is a folder or a file stands where a folder is needed.
    ValueError
        For a plain-http URL without ``allow_http``.

    Notes
    -----
    At most 10 redirects, never a loop.

    Examples
    --------
    >>> from gradkit import datasets
    >>> datasets.download("https://example.com/names.txt", "data/names.txt",
    ...                   sha256="...")  # doctest: +SKIP
    PosixPath('/home/me/data/names.txt')

    A file:// URL copies a local file, with the same checks:

    >>> import hashlib, pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     src = pathlib.Path(d, "src.txt")
    ...     _ = src.write_bytes(b"hello")
    ...     out = datasets.download(src.as_uri(), pathlib.Path(d, "sub", "copy.txt"),
    ...                             sha256=hashlib.sha256(b"hello").hexdigest())
    ...     out.read_bytes()
    b'hello'
    """
    _check_url(url, allow_http, "download")
    path = _resolve(path)
    try:
        return _fetch_file(url, path, {"sha256": sha256, "md5": md5}, size=size,
                           max_bytes=max_bytes, timeout=timeout, deadline=deadline,
                           allow_http=allow_http)
    except DataPathError:
        raise
    except DownloadError as e:
        raise DownloadError(f"{e} (for an offline copy, put the file at {path})") from e


def _check_url(url: str, allow_http: bool, what: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "http" and not allow_http:
        raise ValueError(f"{what}: refusing the plain-http URL {url}; use https, or pass "
                         f"allow_http=True (and a checksum) to accept an unencrypted download")
    if scheme not in ("https", "http", "file"):
        raise ValueError(f"{what}: {url} is not an https (or file://) URL")


def _fetch_file(url: str, path: Path, checksums: Mapping[str, str | None], *,
                size: int | None, max_bytes: int | None, timeout: float,
                deadline: float | None, allow_http: bool) -> Path:
    """download() without the URL check and the offline hint: the work itself."""
    for name, value in (("size", size), ("max_bytes", max_bytes)):
        if value is not None and value < 0:
            raise ValueError(f"download: {name} must be a number of bytes >= 0, not {value}")
    for name, limit in (("timeout", timeout), ("deadline", deadline)):
        if limit is not None and not limit > 0:
            raise ValueError(f"download: {name} must be a positive number of seconds, "
                             f"not {limit}")
    wanted = {a: v.lower() for a, v in checksums.items() if v is not None}
    if path.is_dir():
        raise DataPathError(f"download: {path} is a folder, but it is where the file from "
                            f"{url} goes; move that folder away or pass another path")
    if path.is_file() and (size is None or path.stat().st_size == size) and all(
            _checksum(path, a) == v for a, v in wanted.items()):
        return path
    _make_folder(path.parent, "download")
    cap = size if size is not None else DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    with _remove_on_signal(url):
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                       dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                digests = _transfer(url, f, list(wanted), cap=cap, exact=size is not None,
                                    timeout=timeout, deadline=deadline,
                                    allow_http=allow_http)
            for algorithm, expected in wanted.items():
                if digests[algorithm] != expected:
                    raise DownloadError(f"{url}: checksum mismatch ({algorithm} "
                                        f"{digests[algorithm]}, expected {expected})")
            os.replace(tmp, path)
        except OSError as e:  # the disk: full, read-only, ...
            raise DownloadError(f"{url}: could not write {path}: {e}") from e
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
    return path


def _checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---- the transfer: a total deadline over every socket, a size cap, bounded redirects -----
_MAX_REDIRECTS = 10


class _Failure(Exception):
    """Why a transfer failed, in words; download() prefixes the URL."""


class _Watch:
    """The total deadline of one download: a timer that shuts down every socket the
    download opened (connecting, TLS handshake, headers, body, a redirect's new host),
    so that a server trickling a byte a second cannot outlast it."""

    def __init__(self, timeout: float, deadline: float | None, allow_http: bool) -> None:
        self.timeout, self.deadline, self.allow_http = timeout, deadline, allow_http
        self.end = None if deadline is None else time.monotonic() + deadline
        self.expired = False
        self.capped = False  # a socket timeout then means the deadline was reached
        self.visited: list[str] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if deadline is not None:
            self._timer = threading.Timer(deadline, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def connect_timeout(self) -> float:
        if self.end is None:
            return self.timeout
        left = self.end - time.monotonic()
        if left <= 0:
            self.expired = True
            raise _Failure(self.deadline_message())
        if left < self.timeout:
            # this connection's socket times out when the deadline comes, not later
            self.capped = True
        return min(self.timeout, left)

    def deadline_message(self) -> str:
        return f"deadline exceeded: the file was not complete after {self.deadline:g} s"

    def watch(self, sock: socket.socket) -> socket.socket:
        """Keep a duplicate of `sock`: shutting it down ends the connection even after
        ssl has taken over (and detached) the original socket object."""
        dup = sock.dup()
        with self._lock:
            self._socks.append(dup)
            expired = self.expired
        if expired:
            _shutdown(dup)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for s in socks:
            _shutdown(s)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            s.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in another thread
    except OSError:
        pass


class _WatchedConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket the download's _Watch can shut down."""

    watch: _Watch  # set on a per-download subclass, see _opener

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = self._watched_connection

    def _watched_connection(self, *args: Any, **kwargs: Any) -> socket.socket:
        return self.watch.watch(socket.create_connection(*args, **kwargs))

    def connect(self) -> None:
        self.timeout = self.watch.connect_timeout()  # at most what is left of the deadline
        super().connect()


class _WatchedHTTPSConnection(_WatchedConnection, http.client.HTTPSConnection):
    """The same over TLS (certificates verified, as urllib's default)."""


def _opener(watch: _Watch) -> urllib.request.OpenerDirector:
    """urllib with proxies and file:// as usual, but with watched connections and checked
    redirects."""
    http_connection: type[_WatchedConnection] = type(
        "Connection", (_WatchedConnection,), {"watch": watch})
    https_connection: type[_WatchedHTTPSConnection] = type(
        "HTTPSConnection", (_WatchedHTTPSConnection,), {"watch": watch})

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(http_connection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(https_connection, req)

    class RedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                             msg: str, headers: http.client.HTTPMessage,
                             newurl: str) -> urllib.request.Request | None:
            scheme = urllib.parse.urlsplit(newurl).scheme.lower()
            old_scheme = urllib.parse.urlsplit(req.full_url).scheme.lower()
            if scheme not in ("http", "https"):
                raise _Failure(f"redirect to {newurl} refused: not an http(s) URL")
            if scheme == "http" and old_scheme == "https" and not watch.allow_http:
                raise _Failure(f"redirect from https to the plain-http {newurl} refused "
                               f"(allow_http=True accepts it)")
            if newurl in watch.visited:
                raise _Failure(f"redirect loop: {req.full_url} redirects back to {newurl}")
            if len(watch.visited) > _MAX_REDIRECTS:
                raise _Failure(f"too many redirects (more than {_MAX_REDIRECTS}), the last "
                               f"to {newurl}")
            watch.visited.append(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

        def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                           msg: str, headers: http.client.HTTPMessage) -> Any:
            target = headers.get("Location") or headers.get("URI") or ""
            if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https", ""):
                raise _Failure(f"redirect to {target} refused: not an http(s) URL")
            # urllib reads a redirect's whole body before following it; read 64 KiB at most
            return super().http_error_302(req, cast(IO[bytes], _BoundedBody(fp)), code, msg,
                                          headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    return urllib.request.build_opener(HTTPHandler(), HTTPSHandler(), RedirectHandler())


class _BoundedBody:
    """A response whose read() stops after 64 KiB (the body of a redirect is not needed)."""

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp

    def read(self, n: int = -1) -> bytes:
        return self._fp.read(65536 if n is None or n < 0 else min(n, 65536))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


def _transfer(url: str, out: IO[bytes], algorithms: list[str], *, cap: int, exact: bool,
              timeout: float, deadline: float | None, allow_http: bool) -> dict[str, str]:
    """Stream `url` into `out` within the limits; the hex digests of what was written."""
    watch = _Watch(timeout, deadline, allow_http)
    watch.visited.append(url)
    digests = {a: hashlib.new(a, usedforsecurity=False) for a in algorithms}
    received = 0
    try:
        with _open(url, watch) as r:
            announced = _content_length(r)
            if announced is not None and exact and announced != cap:
                raise _Failure(f"wrong size: the server announces {announced} bytes, the "
                               f"file has {cap}")
            if announced is not None and announced > cap:
                raise _Failure(f"too large: the server announces {announced} bytes, more "
                               f"than the cap of {cap} (max_bytes=)")
            read = getattr(r, "read1", r.read)  # read1: whatever has arrived, not 1 MiB
            while chunk := read(1 << 20):
                received += len(chunk)
                if received > cap:
                    raise _Failure(
                        f"too large: more than the expected {cap} bytes" if exact else
                        f"too large: more than {cap} bytes (the cap; pass max_bytes= for a "
                        f"larger file)")
                for d in digests.values():
                    d.update(chunk)
                out.write(chunk)
                if watch.expired:
                    break
            if watch.expired:
                raise _Failure(watch.deadline_message() + f" ({received} bytes received)")
            total = cap if exact else announced
            if total is not None and received < total:
                raise _Failure(f"short body: the connection ended after {received} of "
                               f"{total} bytes")
    except _Failure as e:
        raise DownloadError(f"{url}: {e}") from None
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP status {e.code} ({e.reason})"
                            + (f" from {e.url}" if e.url != url else "")) from None
    except (OSError, http.client.HTTPException) as e:
        raise DownloadError(f"{url}: {_why(e, watch, received)}") from None
    finally:
        watch.close()
    return {a: d.hexdigest() for a, d in digests.items()}


def _open(url: str, watch: _Watch) -> Any:
    """The response for `url`, through the watched opener (tests stand in for the network
    by replacing this function)."""
    return _opener(watch).open(url, timeout=watch.connect_timeout())


def _content_length(r: Any) -> int | None:
    value = r.headers.get("Content-Length") if getattr(r, "headers", None) else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _why(e: BaseException, watch: _Watch, received: int) -> str:
    """The reason of a network error in words; the deadline first, as it causes others."""
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    timed_out = isinstance(reason, TimeoutError | socket.timeout)
    if watch.expired or (timed_out and watch.capped):
        return watch.deadline_message() + f" ({received} bytes received)"
    if isinstance(reason, _Failure):
        return str(reason)
    if timed_out:
        return f"timed out: no data for {watch.timeout:g} s (timeout=)"
    if isinstance(reason, http.client.IncompleteRead):
        return f"short body: the connection ended after {received} bytes"
    if isinstance(reason, http.client.HTTPException | ConnectionError):
        return f"connection failed: {type(reason).__name__}: {reason}"
    return f"failed: {reason}"


# ---- clean-up on SIGTERM / SIGINT --------------------------------------------------------
class _Interrupted(BaseException):
    """Raised by the download's signal handler, so that clean-up runs as it unwinds."""


@contextmanager
def _remove_on_signal(url: str) -> Iterator[None]:
    """For the duration: SIGTERM and SIGINT unwind the download (its `finally` removes the
    `.part` file); then the previous handlers are restored and the signal re-delivered to
    them. Only in the main thread (Python runs handlers there only); a signal that is
    ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state: dict[str, Any] = {"signum": None, "armed": True}

    def handler(signum: int, frame: types.FrameType | None) -> None:
        if state["signum"] is None:
            state["signum"] = signum
            if state["armed"]:
                raise _Interrupted(signum)
        # a second signal while cleaning up: the first is re-delivered afterwards

    previous: dict[int, Callable[[int, types.FrameType | None], Any] | int] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        old = signal.getsignal(sig)
        if old is None or old == signal.SIG_IGN:
            continue  # installed from C (cannot be restored), or ignored on purpose
        previous[sig] = old
        signal.signal(sig, handler)
    try:
        yield
    except _Interrupted:
        pass
    finally:
        state["armed"] = False
        for restore, old in previous.items():
            signal.signal(restore, old)
    received: int | None = state["signum"]
    if received is not None:
        signal.raise_signal(received)  # the previous handler: exit, KeyboardInterrupt, ...
        raise DownloadError(f"{url}: interrupted by {signal.Signals(received).name}")
