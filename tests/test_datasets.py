"""gradkit.datasets: digits, IDX parsing, and MNIST download with checksums (all offline)."""

import functools
import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from gradkit import datasets

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: magic (0, 0, dtype code, ndim), big-endian dims, big-endian data."""
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, compress=None):
    data = idx_bytes(array)
    compress = str(path).endswith(".gz") if compress is None else compress
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_mnist(n_train=12, n_test=5, seed=0):
    """Small MNIST-shaped arrays, keyed by the standard file names."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


# ---- digits ----------------------------------------------------------------------------
def test_load_digits_and_split():
    pytest.importorskip("sklearn", reason="load_digits needs the examples extra (scikit-learn)")
    x, y = datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and set(np.unique(y)) == set(range(10))
    assert datasets.load_digits(flatten=False)[0].shape == (1797, 8, 8)

    x_tr, y_tr, x_te, y_te = datasets.train_test_split(x, y, test_fraction=0.2, seed=0)
    assert len(x_te) == 359 and len(x_tr) == 1797 - 359 and len(y_tr) == len(x_tr)
    again = datasets.train_test_split(x, y, test_fraction=0.2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((x_tr, y_tr, x_te, y_te), again))
    other = datasets.train_test_split(x, y, test_fraction=0.2, seed=1)
    assert not np.array_equal(y_te, other[3])
    # the split is a partition: every row lands exactly once
    rows = np.concatenate([x_tr, x_te])
    assert np.array_equal(np.sort(rows.sum(1)), np.sort(x.sum(1)))


def test_load_digits_without_sklearn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"gradkit\[examples\]"):
        datasets.load_digits()


def test_train_test_split_checks():
    with pytest.raises(ValueError, match="x has 3 rows but y has 2"):
        datasets.train_test_split(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.train_test_split(np.zeros((3, 2)), np.zeros(3), test_fraction=1.5)


# ---- IDX -------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_read_idx_roundtrip(tmp_path, compress, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype is np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    path = write_idx(tmp_path / "a.idx", array, compress=compress)
    got = datasets.read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable
    assert got.shape == (2, 3, 4) and np.array_equal(got, array)


def test_read_idx_labels_and_gzip_detected_by_content(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    path = tmp_path / "labels-without-suffix"
    write_idx(path, labels, compress=True)  # gzip, though the name does not say so
    assert np.array_equal(datasets.read_idx(path), labels)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-3], "truncated: shape \\(2, 3\\) of uint8 needs 6 bytes of data, found 3"),
    (lambda b: b + b"\0", "longer than its header says"),
    (lambda b: b"\x00\x00\x99\x02" + b[4:], "not an IDX file"),
    (lambda b: b"PK\x03\x04" + b[4:], "not an IDX file"),
    (lambda b: b[:6], "truncated: its header needs 12 bytes"),
    (lambda b: b"", "not an IDX file"),
])
def test_read_idx_rejects_bad_files(tmp_path, damage, message):
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(damage(good))
    with pytest.raises(ValueError, match=message) as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(600, dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable gzip file") as info:
        datasets.read_idx(path)
    assert "cut.gz" in str(info.value)


# ---- MNIST from local files -------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "uncompressed"])
def test_load_mnist_from_files(tmp_path, compress):
    arrays = fake_mnist()
    for name, array in arrays.items():
        write_idx(tmp_path / (name if compress else name.removesuffix(".gz")), array,
                  compress=compress)
    x_tr, y_tr, x_te, y_te = datasets.load_mnist(tmp_path, download=False)
    assert x_tr.shape == (12, 784) and x_tr.dtype == np.float32
    assert x_te.shape == (5, 784) and y_te.dtype == np.int64
    assert np.allclose(x_tr * 255, arrays["train-images-idx3-ubyte.gz"].reshape(12, -1))
    assert np.array_equal(y_tr, arrays["train-labels-idx1-ubyte.gz"])
    x_tr, *_ = datasets.load_mnist(tmp_path, download=False, flatten=False)
    assert x_tr.shape == (12, 28, 28) and 0.0 <= x_tr.min() and x_tr.max() <= 1.0


def test_load_mnist_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        datasets.load_mnist(tmp_path, download=False)


def test_load_mnist_mismatched_files(tmp_path):
    arrays = fake_mnist()
    arrays["t10k-labels-idx1-ubyte.gz"] = np.zeros(4, dtype=np.uint8)  # 5 images, 4 labels
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
    with pytest.raises(ValueError, match=r"t10k files .* \(5, 28, 28\), .* \(4,\)"):
        datasets.load_mnist(tmp_path, download=False)


# ---- MNIST download, from a local HTTP server (never the real network) -------------------
@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A directory served over HTTP on localhost holding fake MNIST files, with their
    MD5s installed as the expected checksums. Yields (served dir, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    checksums = {}
    for name, array in fake_mnist().items():
        path = write_idx(served / name, array)
        checksums[name] = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setattr(datasets, "MNIST_FILES", checksums)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [])  # a test must name its mirrors

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_from_mirror(tmp_path, mirror):
    served, url = mirror
    root = tmp_path / "data" / "mnist"  # does not exist yet
    x_tr, y_tr, x_te, y_te = datasets.load_mnist(root, mirrors=[url], timeout=5)
    assert x_tr.shape == (12, 784) and y_te.shape == (5,)
    assert sorted(p.name for p in root.iterdir()) == sorted(datasets.MNIST_FILES)
    for name in datasets.MNIST_FILES:
        assert (root / name).read_bytes() == (served / name).read_bytes()
    # a second call finds the files and does not download again
    datasets.load_mnist(root, mirrors=["http://127.0.0.1:9/unreachable/"], timeout=1)


def test_download_falls_back_to_next_mirror(tmp_path, mirror):
    served, url = mirror
    dead = url + "missing/"  # 404 for every file
    root = tmp_path / "mnist"
    datasets.load_mnist(root, mirrors=[dead, url], timeout=5)
    assert sorted(p.name for p in root.iterdir()) == sorted(datasets.MNIST_FILES)


def test_download_from_file_url(tmp_path, mirror):
    served, _ = mirror
    root = tmp_path / "mnist"
    datasets.load_mnist(root, mirrors=[served.as_uri() + "/"])
    assert len(list(root.iterdir())) == 4


def test_checksum_mismatch_deletes_the_download(tmp_path, mirror, monkeypatch):
    served, url = mirror
    bad = dict(datasets.MNIST_FILES)
    bad["train-labels-idx1-ubyte.gz"] = "0" * 32
    monkeypatch.setattr(datasets, "MNIST_FILES", bad)
    root = tmp_path / "mnist"
    with pytest.raises(datasets.DownloadError, match="checksum mismatch") as info:
        datasets.load_mnist(root, mirrors=[url], timeout=5)
    assert "train-labels-idx1-ubyte.gz" in str(info.value) and "0" * 32 in str(info.value)
    # the file before it was kept; the bad one and its temporary file are gone
    assert sorted(p.name for p in root.iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_unreachable_mirrors_name_each_failure(tmp_path, mirror):
    _, url = mirror
    root = tmp_path / "mnist"
    with pytest.raises(datasets.DownloadError, match="could not download") as info:
        datasets.load_mnist(root, mirrors=[url + "a/", url + "b/"], timeout=5)
    message = str(info.value)
    assert url + "a/train-images-idx3-ubyte.gz" in message
    assert url + "b/train-images-idx3-ubyte.gz" in message and "404" in message
    assert list(root.iterdir()) == []  # nothing half-written


def test_interrupted_download_leaves_nothing(tmp_path, mirror, monkeypatch):
    _, url = mirror

    class Broken:
        def __init__(self, *args, **kwargs):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise TimeoutError("the read timed out")
            return b"\x1f\x8b partial"

    monkeypatch.setattr(datasets.urllib.request, "urlopen", Broken)
    root = tmp_path / "mnist"
    with pytest.raises(RuntimeError, match="timed out"):
        datasets.load_mnist(root, mirrors=[url], timeout=5)
    assert list(root.iterdir()) == []


# ---- download(): one file, checked, atomic --------------------------------------------
def test_download_checks_sha256_and_keeps_a_verified_file(tmp_path, mirror):
    served, url = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    sha = hashlib.sha256((served / name).read_bytes()).hexdigest()
    target = tmp_path / "cache" / "labels.gz"  # its folder does not exist yet
    assert datasets.download(url + name, target, sha256=sha, timeout=5) == target
    assert target.read_bytes() == (served / name).read_bytes()
    # present with the right checksum: kept, nothing fetched (this URL would fail)
    assert datasets.download("http://127.0.0.1:9/gone", target, sha256=sha, timeout=1) == target


def test_download_replaces_a_corrupt_file(tmp_path, mirror):
    served, url = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    sha = hashlib.sha256((served / name).read_bytes()).hexdigest()
    target = tmp_path / "labels.gz"
    target.write_bytes(b"truncated")
    datasets.download(url + name, target, sha256=sha, timeout=5)
    assert target.read_bytes() == (served / name).read_bytes()


def test_download_sha256_mismatch_leaves_nothing(tmp_path, mirror):
    _, url = mirror
    with pytest.raises(datasets.DownloadError, match="checksum mismatch") as info:
        datasets.download(url + "t10k-labels-idx1-ubyte.gz", tmp_path / "x" / "labels.gz",
                          sha256="0" * 64, timeout=5)
    message = str(info.value)
    assert message.startswith(url) and "sha256" in message and "0" * 64 in message
    assert "\n" not in message
    assert list((tmp_path / "x").iterdir()) == []  # no file, no temporary file
