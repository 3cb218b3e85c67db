"""Small real datasets as host NumPy arrays, for the examples and tests.

- `load_digits()`: scikit-learn's bundled 8x8 handwritten digits (no download; needs
  the `examples` extra: pip install "gradkit[examples]").
- `load_mnist(root)`: MNIST from its four standard IDX files, downloaded with checksum
  verification when missing and `download=True`.
- `read_idx(path)`: one IDX file (gzip-compressed or not) as a NumPy array.
- `train_test_split(x, y)`: a deterministic shuffled split.
- `download(url, path, sha256=...)`: one file, checked and moved into place atomically.

Everything here returns NumPy arrays; move them to a device with `gk.tensor(x, device=...)`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

__all__ = ["MNIST_FILES", "MNIST_MIRRORS", "DownloadError", "download", "load_digits",
           "load_mnist", "read_idx", "train_test_split"]


class DownloadError(RuntimeError):
    """No mirror served a file with the expected checksum; the message lists each try."""


def load_digits(flatten: bool = True):
    """(images, labels): 1797 8x8 digits as float32 in [0, 1] and int64 labels 0-9.

    flatten: images of shape (n, 64) (default) or (n, 8, 8).
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


def train_test_split(x, y, test_fraction: float = 0.2, seed: int = 0):
    """(x_train, y_train, x_test, y_test): a shuffled split, the same for the same seed."""
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
    """The array stored in an IDX file (MNIST's format), gzip-compressed or not.

    Raises ValueError naming the file when it is not IDX, or is truncated or too long.
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


# ---- MNIST -----------------------------------------------------------------------------
# File name -> MD5, as torchvision's MNIST dataset lists them.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]


def load_mnist(root, download: bool = True, flatten: bool = True, mirrors=None,
               timeout: float = 30.0):
    """(x_train, y_train, x_test, y_test) from MNIST's IDX files in `root`.

    Images are float32 in [0, 1], shape (n, 784) (or (n, 28, 28) with flatten=False);
    labels int64. A file may be stored gzip-compressed (`name.gz`) or not (`name`).
    Missing files are downloaded when `download` is true, from `mirrors` (default
    MNIST_MIRRORS) in turn, each checked against its MD5 before it is moved into place.
    """
    root = Path(root)
    paths = {}
    for name, md5 in MNIST_FILES.items():
        found = [p for p in (root / name, root / name.removesuffix(".gz")) if p.is_file()]
        if found:
            paths[name] = found[0]
        elif download:
            paths[name] = _download(name, md5, root, mirrors or MNIST_MIRRORS, timeout)
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

    def images_(x):
        x = x.astype(np.float32) / 255.0
        return x.reshape(len(x), -1) if flatten else x

    return images_(x_train), y_train.astype(np.int64), images_(x_test), y_test.astype(np.int64)


def _download(name: str, md5: str, root: Path, mirrors, timeout: float) -> Path:
    """Fetch `name` from the first mirror that serves it with the right MD5."""
    failures = []
    for mirror in mirrors:
        try:
            return download(mirror.rstrip("/") + "/" + name, root / name, md5=md5,
                            timeout=timeout)
        except DownloadError as e:
            failures.append(str(e))
    raise DownloadError(
        f"load_mnist: could not download {name} into {root}:\n  " + "\n  ".join(failures)
        + f"\nDownload the four files ({', '.join(MNIST_FILES)}) by hand into {root}.")


# ---- downloading one file ---------------------------------------------------------------
def download(url: str, path, *, sha256: str | None = None, md5: str | None = None,
             timeout: float = 30.0) -> Path:
    """Fetch `url` into `path` (its folder is created) and return `path`.

    The data goes to a temporary file beside `path` that is checked against `sha256` or
    `md5` (when given) and only then renamed into place, so an interrupted or bad download
    never leaves a partial file. A `path` that already exists with the right checksum (or
    exists, when none is given) is kept and nothing is fetched. Raises DownloadError with
    one line, "<url>: <why>", on a network or disk error, a timeout or a checksum mismatch.
    """
    path = Path(path)
    algorithm, expected = ("sha256", sha256) if sha256 is not None else ("md5", md5)
    if path.is_file() and (expected is None or _checksum(path, algorithm) == expected):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if expected is not None and digest.hexdigest() != expected:
            raise DownloadError(f"{url}: checksum mismatch ({algorithm} {digest.hexdigest()}, "
                                f"expected {expected})")
        os.replace(tmp, path)
        return path
    except OSError as e:  # URLError, HTTPError, timeouts and disk errors
        raise DownloadError(f"{url}: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
