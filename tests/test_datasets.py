"""gradkit.datasets: digits, IDX parsing, MNIST and download() against local servers only."""

import gzip
import hashlib
import http.server
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

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


# ---- a local HTTP server that misbehaves on request (never the real network) -------------
class Misbehaving(http.server.BaseHTTPRequestHandler):
    """Serves the files in `self.server.files` under /f/NAME, and misbehaves on the paths
    below. `self.server.stop` is set when the test ends, which frees stalled handlers."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_head(self, code=200, length=None, **headers):
        self.send_response(code)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self):
        path, stop = self.path.split("?")[0], self.server.stop
        try:
            if path.startswith("/f/") and path[3:] in self.server.files:
                body = self.server.files[path[3:]]
                self.send_head(200, len(body))
                self.wfile.write(body)
            elif path == "/stall":  # headers never come
                stop.wait(30)
            elif path == "/stall-body":  # headers, then nothing
                self.send_head(200, 1000)
                self.wfile.flush()
                stop.wait(30)
            elif path == "/trickle":  # one byte a second, forever (announces 1000)
                self.send_head(200, 1000)
                while not stop.is_set():
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    stop.wait(1.0)
            elif path == "/trickle-headers":  # the status line itself, a byte a second
                for byte in b"HTTP/1.1 200 OK\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if stop.wait(1.0):
                        break
            elif path == "/flood":  # no length, endless data
                self.send_head(200)
                chunk = b"\0" * 65536
                while not stop.is_set():
                    self.wfile.write(chunk)
            elif path == "/huge":  # announces a terabyte
                self.send_head(200, 10**12)
                self.wfile.write(b"\0" * 1024)
            elif path == "/short":  # announces 1000 bytes, sends 100, hangs up
                self.send_head(200, 1000)
                self.wfile.write(b"y" * 100)
            elif path == "/garbage":
                self.send_head(200, 64)
                self.wfile.write(os.urandom(64))
            elif path in ("/404", "/500"):
                self.send_error(int(path[1:]))
            elif path.startswith("/to/"):  # redirect to the rest of the path, a full URL
                self.send_head(302, 0, Location=path[4:])
            elif path == "/loop-a":
                self.send_head(302, 0, Location="/loop-b")
            elif path == "/loop-b":
                self.send_head(301, 0, Location="/loop-a")
            elif path.startswith("/chain/"):  # /chain/N -> /chain/N-1 ... /chain/0 -> 404
                n = int(path.rsplit("/", 1)[1])
                if n == 0:
                    self.send_error(404)
                else:
                    self.send_head(307, 0, Location=f"/chain/{n - 1}")
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should


@pytest.fixture
def server(monkeypatch):
    """(base URL, files dict): a local server on 127.0.0.1; add files to the dict."""
    for name in ("no_proxy", "NO_PROXY"):  # a proxy from the environment must not be used
        monkeypatch.setenv(name, "*")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    httpd.files = {}
    httpd.stop = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.files
    finally:
        httpd.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def black_hole():
    """The URL of a host that accepts connections (the kernel's backlog) but never
    answers: a stalled host to redirect to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/file"
    finally:
        sock.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def fetch(url, path, **kwargs):
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("deadline", 5)
    return datasets.download(url, path, allow_http=True, **kwargs)


# ---- download(): one file, checked, atomic --------------------------------------------
def test_download_with_checksums(tmp_path, server):
    url, files = server
    files["data.bin"] = data = os.urandom(300_000)
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    target = tmp_path / "cache" / "data.bin"  # its folder does not exist yet
    assert fetch(f"{url}/f/data.bin", target, sha256=sha, md5=md5, size=len(data)) == target
    assert target.read_bytes() == data and leftovers(target.parent) == ["data.bin"]
    # present with the right checksum: kept, nothing fetched (this URL would fail)
    assert fetch("http://127.0.0.1:9/gone", target, sha256=sha, timeout=1) == target
    assert fetch("http://127.0.0.1:9/gone", target, size=len(data), timeout=1) == target


def test_download_replaces_a_corrupt_file(tmp_path, server):
    url, files = server
    files["labels.gz"] = data = b"the real thing"
    target = tmp_path / "labels.gz"
    target.write_bytes(b"truncated")
    fetch(f"{url}/f/labels.gz", target, sha256=hashlib.sha256(data).hexdigest())
    assert target.read_bytes() == data
    target.write_bytes(b"wrong size")  # no checksum, but a size that does not fit
    fetch(f"{url}/f/labels.gz", target, size=len(data))
    assert target.read_bytes() == data


def test_download_resolves_home_and_relative_paths(tmp_path, server, monkeypatch):
    url, files = server
    files["a"] = b"aaa"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    got = fetch(f"{url}/f/a", "~/data/a.txt")
    assert got == tmp_path / "home" / "data" / "a.txt" and got.read_bytes() == b"aaa"
    monkeypatch.chdir(tmp_path)
    got = fetch(f"{url}/f/a", Path("rel") / ".." / "b.txt")
    assert got == tmp_path / "b.txt" and got.is_absolute() and got.read_bytes() == b"aaa"


@pytest.mark.parametrize("route, kwargs, message", [
    ("/garbage", {"sha256": "0" * 64},
     r"checksum mismatch \(sha256 [0-9a-f]{64}, expected 0{64}\)"),
    ("/garbage", {"md5": "0" * 32}, r"checksum mismatch \(md5 [0-9a-f]{32}, expected 0{32}\)"),
    ("/404", {}, r"HTTP status 404 \(Not Found\)"),
    ("/500", {}, r"HTTP status 500 \(Internal Server Error\)"),
    ("/short", {}, r"short body: the connection ended after 100 of 1000 bytes"),
    ("/short", {"size": 1000}, r"short body: the connection ended after 100 of 1000 bytes"),
    ("/garbage", {"size": 10}, r"wrong size: the server announces 64 bytes, the file has 10"),
    ("/flood", {"max_bytes": 1_000_000}, r"too large: more than 1000000 bytes \(the cap"),
    ("/flood", {"size": 1000}, r"too large: more than the expected 1000 bytes"),
    ("/huge", {}, r"too large: the server announces 1000000000000 bytes, more than the cap "
                  r"of 1073741824"),
    ("/stall", {"timeout": 0.3}, r"timed out: no data for 0.3 s"),
    ("/stall-body", {"timeout": 0.3}, r"timed out: no data for 0.3 s"),
    ("/stall", {"timeout": 5, "deadline": 0.3}, r"deadline exceeded: .* after 0.3 s"),
    ("/trickle", {"timeout": 5, "deadline": 1.2}, r"deadline exceeded: .* after 1.2 s \(\d bytes"),
    ("/trickle-headers", {"timeout": 5, "deadline": 0.6}, r"deadline exceeded: .* after 0.6 s"),
    ("/loop-a", {}, r"redirect loop: .*/loop-b redirects back to .*/loop-a"),
    ("/chain/20", {}, r"too many redirects \(more than 10\)"),
    ("/chain/3", {}, r"HTTP status 404 \(Not Found\) from .*/chain/0"),
    ("/to/file:///etc/passwd", {}, r"redirect to file:///etc/passwd refused"),
])
def test_download_failures_end_promptly_and_leave_nothing(tmp_path, server, route, kwargs,
                                                          message):
    url, _ = server
    target = tmp_path / "x" / "file.bin"
    limit = kwargs.get("deadline", kwargs.get("timeout", 1)) + 1.5
    start = time.monotonic()
    with pytest.raises(datasets.DownloadError, match=message) as info:
        fetch(url + route, target, **kwargs)
    assert time.monotonic() - start < limit
    text = str(info.value)
    assert text.startswith(url + route + ": ") and "\n" not in text
    assert f"for an offline copy, put the file at {target}" in text
    assert leftovers(tmp_path / "x") == []  # no file, no .part


def test_redirect_to_a_stalled_host_meets_the_deadline(tmp_path, server, black_hole):
    url, _ = server
    start = time.monotonic()
    with pytest.raises(datasets.DownloadError, match="deadline exceeded"):
        fetch(f"{url}/to/{black_hole}", tmp_path / "f", timeout=5, deadline=0.5)
    assert time.monotonic() - start < 2
    with pytest.raises(datasets.DownloadError, match="timed out"):
        fetch(f"{url}/to/{black_hole}", tmp_path / "f", timeout=0.3, deadline=5)
    assert leftovers(tmp_path) == []


def test_redirect_is_followed(tmp_path, server):
    url, files = server
    files["a"] = b"moved"
    assert fetch(f"{url}/to/{url}/f/a", tmp_path / "a").read_bytes() == b"moved"


def test_download_refuses_plain_http_unless_allowed(tmp_path, server):
    url, files = server
    files["a"] = b"a"
    with pytest.raises(ValueError, match="refusing the plain-http URL .*allow_http=True"):
        datasets.download(f"{url}/f/a", tmp_path / "a")
    with pytest.raises(ValueError, match="not an https"):
        datasets.download("ftp://example.org/a", tmp_path / "a")
    assert leftovers(tmp_path) == []


def test_download_from_a_file_url(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"local copy")
    got = datasets.download(source.as_uri(), tmp_path / "out" / "copy.bin",
                            sha256=hashlib.sha256(b"local copy").hexdigest())
    assert got.read_bytes() == b"local copy"
    with pytest.raises(datasets.DownloadError, match="too large"):
        datasets.download(source.as_uri(), tmp_path / "out" / "big.bin", max_bytes=3)
    assert leftovers(tmp_path / "out") == ["copy.bin"]


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"deadline": -1}, {"max_bytes": -1},
                                    {"size": -5}])
def test_download_checks_its_limits(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        datasets.download("https://example.org/a", tmp_path / "a", **kwargs)


def test_download_path_errors_name_the_path(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(datasets.DataPathError, match=f"{folder} is a folder"):
        datasets.download("https://example.org/a", folder)
    a_file = tmp_path / "plain"
    a_file.write_text("not a folder")
    with pytest.raises(datasets.DataPathError, match=f"{a_file} is a file, not a folder"):
        datasets.download("https://example.org/a", a_file / "sub" / "data.bin")
    assert issubclass(datasets.DataPathError, ValueError)
    assert issubclass(datasets.DataPathError, datasets.DownloadError)


def test_download_in_a_thread(tmp_path, server):
    """Outside the main thread: no signal handlers (Python allows none), limits still hold."""
    url, files = server
    files["a"] = b"from a thread"
    results = []

    def work():
        try:
            results.append(fetch(f"{url}/f/a", tmp_path / "a").read_bytes())
            fetch(f"{url}/trickle", tmp_path / "b", deadline=0.3)
        except datasets.DownloadError as e:
            results.append(str(e))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert results[0] == b"from a thread" and "deadline exceeded" in results[1]
    assert leftovers(tmp_path) == ["a"]


def test_unwritable_folder_is_a_download_error(tmp_path, server, monkeypatch):
    url, files = server
    files["a"] = b"a"

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(datasets.tempfile, "mkstemp", refuse)  # as in a read-only folder
    with pytest.raises(datasets.DownloadError, match="could not write .*Permission denied"):
        fetch(f"{url}/f/a", tmp_path / "a")
    assert leftovers(tmp_path) == []


# ---- signals: the .part file goes, the signal still arrives ----------------------------
def test_signal_handlers_are_restored(tmp_path, server):
    url, files = server
    files["a"] = b"a"
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    fetch(f"{url}/f/a", tmp_path / "a")
    with pytest.raises(datasets.DownloadError):
        fetch(f"{url}/404", tmp_path / "b")
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_in_process_runs_the_previous_handler(tmp_path, server):
    url, _ = server
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        start = time.monotonic()
        with pytest.raises(datasets.DownloadError, match="interrupted by SIGTERM"):
            fetch(f"{url}/trickle", tmp_path / "f", timeout=10, deadline=10)
        assert time.monotonic() - start < 2
        assert calls == [signal.SIGTERM] and leftovers(tmp_path) == []
        assert signal.getsignal(signal.SIGTERM) is not previous  # ours, restored
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_killed_download_leaves_no_part_file(tmp_path, server, signum):
    """A separate process downloads from a trickling server and is killed mid-way."""
    url, _ = server
    folder = tmp_path / "data"
    code = ("import sys; from gradkit import datasets; "
            "datasets.download(sys.argv[1], sys.argv[2], timeout=30, deadline=30, "
            "allow_http=True)")
    # (the gradkit this interpreter has installed, editable or not; from tmp_path, so that a
    # source tree in the working directory is not imported instead)
    proc = subprocess.Popen([sys.executable, "-c", code, f"{url}/trickle",
                             str(folder / "file.bin")], cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not any(p.suffix == ".part" for p in folder.glob("*")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        time.sleep(0.2)  # into the transfer loop
        proc.send_signal(signum)
        assert proc.wait(5) == -signum  # died of the signal, as without gradkit
    finally:
        proc.kill()
        proc.wait()
    assert leftovers(folder) == []


# ---- the default data folder ------------------------------------------------------------
def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GRADKIT_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if os.name != "nt":
        assert datasets.default_data_dir() == tmp_path / ".cache" / "gradkit"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert datasets.default_data_dir() == tmp_path / "xdg" / "gradkit"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
        assert datasets.default_data_dir() == tmp_path / ".cache" / "gradkit"
    monkeypatch.setenv("GRADKIT_DATA", "~/mydata")
    assert datasets.default_data_dir() == (tmp_path / "mydata").resolve()
    rule = datasets._data_dir_for
    assert rule({"LOCALAPPDATA": r"C:\Users\me\AppData\Local"}, windows=True) == \
        r"C:\Users\me\AppData\Local\gradkit\Cache"
    assert rule({}, windows=True) == r"~\AppData\Local\gradkit\Cache"
    assert rule({"GRADKIT_DATA": r"D:\data", "LOCALAPPDATA": "x"}, windows=True) == r"D:\data"


# ---- MNIST download, from the local server ---------------------------------------------
@pytest.fixture
def mirror(tmp_path, monkeypatch, server):
    """Fake MNIST files served at URL/f/, with their MD5s and sizes installed as the
    expected ones. Yields (served files, base URL of the mirror)."""
    url, files = server
    records = {}
    for name, array in fake_mnist().items():
        files[name] = data = gzip.compress(idx_bytes(array))
        records[name] = datasets.FileRecord(hashlib.md5(data).hexdigest(), len(data))
    monkeypatch.setattr(datasets, "MNIST_FILES", records)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [])  # a test must name its mirrors
    return files, f"{url}/f/"


def mnist(root, mirrors, **kwargs):
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("deadline", 5)
    return datasets.load_mnist(root, mirrors=mirrors, allow_http=True, **kwargs)


def test_mnist_records_md5_and_size():
    records = datasets.MNIST_FILES
    assert records["train-images-idx3-ubyte.gz"] == ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                                     9912422)
    assert all(len(r.md5) == 32 and r.size > 0 for r in records.values())
    assert all(m.startswith("https://") for m in datasets.MNIST_MIRRORS)


def test_download_from_mirror(tmp_path, mirror):
    files, url = mirror
    root = tmp_path / "data" / "mnist"  # does not exist yet
    x_tr, y_tr, x_te, y_te = mnist(root, [url])
    assert x_tr.shape == (12, 784) and y_te.shape == (5,)
    assert leftovers(root) == sorted(datasets.MNIST_FILES)
    for name in datasets.MNIST_FILES:
        assert (root / name).read_bytes() == files[name]
    # a second call finds the files and does not download again
    mnist(root, ["http://127.0.0.1:9/unreachable/"], timeout=1)


def test_mnist_default_root_and_positional_root(tmp_path, mirror, monkeypatch):
    _, url = mirror
    monkeypatch.setenv("GRADKIT_DATA", str(tmp_path / "gk"))
    datasets.load_mnist(mirrors=[url], allow_http=True, timeout=5)
    assert leftovers(tmp_path / "gk" / "mnist") == sorted(datasets.MNIST_FILES)
    x_tr, *_ = datasets.load_mnist(None, False)  # root=None, download=False: found there
    assert x_tr.shape == (12, 784)
    x_tr, *_ = datasets.load_mnist(tmp_path / "gk" / "mnist", False, False)  # positional
    assert x_tr.shape == (12, 28, 28)


def test_download_falls_back_to_next_mirror(tmp_path, mirror, server):
    _, url = mirror
    root = tmp_path / "mnist"
    mnist(root, [server[0] + "/missing/", url])
    assert leftovers(root) == sorted(datasets.MNIST_FILES)


def test_download_from_file_url(tmp_path, mirror):
    files, _ = mirror
    served = tmp_path / "served"
    served.mkdir()
    for name, data in files.items():
        (served / name).write_bytes(data)
    root = tmp_path / "mnist"
    datasets.load_mnist(root, mirrors=[served.as_uri() + "/"])
    assert len(list(root.iterdir())) == 4


def test_mnist_plain_md5_records_still_work(tmp_path, mirror, monkeypatch):
    """MNIST_FILES values may be plain MD5 strings (as before sizes were recorded)."""
    _, url = mirror
    monkeypatch.setattr(datasets, "MNIST_FILES",
                        {k: v.md5 for k, v in datasets.MNIST_FILES.items()})
    mnist(tmp_path / "mnist", [url])
    assert len(leftovers(tmp_path / "mnist")) == 4


def test_checksum_mismatch_deletes_the_download(tmp_path, mirror, monkeypatch):
    _, url = mirror
    bad = dict(datasets.MNIST_FILES)
    bad["train-labels-idx1-ubyte.gz"] = bad["train-labels-idx1-ubyte.gz"]._replace(md5="0" * 32)
    monkeypatch.setattr(datasets, "MNIST_FILES", bad)
    root = tmp_path / "mnist"
    with pytest.raises(datasets.DownloadError, match="checksum mismatch") as info:
        mnist(root, [url])
    assert "train-labels-idx1-ubyte.gz" in str(info.value) and "0" * 32 in str(info.value)
    # the file before it was kept; the bad one and its temporary file are gone
    assert leftovers(root) == ["train-images-idx3-ubyte.gz"]


def test_mnist_size_is_a_cap(tmp_path, mirror, monkeypatch):
    """A mirror that serves more than the recorded size is cut off at that size."""
    _, url = mirror
    files = dict(datasets.MNIST_FILES)
    name = "train-images-idx3-ubyte.gz"
    files[name] = files[name]._replace(size=files[name].size - 10)
    monkeypatch.setattr(datasets, "MNIST_FILES", files)
    with pytest.raises(datasets.DownloadError, match="wrong size: the server announces"):
        mnist(tmp_path / "mnist", [url])
    assert leftovers(tmp_path / "mnist") == []


def test_unreachable_mirrors_name_each_failure(tmp_path, mirror, server):
    base = server[0]
    root = tmp_path / "mnist"
    start = time.monotonic()
    with pytest.raises(datasets.DownloadError, match="could not download") as info:
        mnist(root, [base + "/a/", base + "/trickle?", base + "/short?"], deadline=1)
    assert time.monotonic() - start < 4
    message = str(info.value)
    assert base + "/a/train-images-idx3-ubyte.gz: HTTP status 404" in message
    assert base + "/trickle?/train-images-idx3-ubyte.gz: wrong size" in message
    assert "For an offline copy, put the four files" in message and str(root) in message
    assert leftovers(root) == []  # nothing half-written


def test_mnist_stalling_and_flooding_mirrors(tmp_path, mirror, server, monkeypatch):
    base = server[0]
    files = {k: v._replace(size=1000) for k, v in datasets.MNIST_FILES.items()}
    monkeypatch.setattr(datasets, "MNIST_FILES", files)
    root = tmp_path / "mnist"
    start = time.monotonic()
    with pytest.raises(datasets.DownloadError) as info:
        mnist(root, [base + "/stall?", base + "/flood?", base + "/trickle?"],
              timeout=5, deadline=0.5)
    assert time.monotonic() - start < 4
    message = str(info.value)
    assert "/stall?/train-images-idx3-ubyte.gz: deadline exceeded" in message
    assert "/flood?/train-images-idx3-ubyte.gz: too large: more than the expected 1000" \
        in message
    assert "/trickle?/train-images-idx3-ubyte.gz: deadline exceeded" in message
    assert leftovers(root) == []


def test_mnist_refuses_plain_http_mirrors_unless_allowed(tmp_path, mirror):
    _, url = mirror
    with pytest.raises(ValueError, match="plain-http"):
        datasets.load_mnist(tmp_path / "mnist", mirrors=[url])
    assert leftovers(tmp_path / "mnist") == []


def test_mnist_root_that_is_a_file(tmp_path):
    root = tmp_path / "mnist"
    root.write_text("oops")
    for download in (True, False):
        with pytest.raises(datasets.DataPathError, match=f"{root} is a file"):
            datasets.load_mnist(root, download=download)


def test_mnist_folder_where_a_file_should_be(tmp_path, mirror):
    _, url = mirror
    root = tmp_path / "mnist"
    (root / "t10k-images-idx3-ubyte.gz").mkdir(parents=True)
    with pytest.raises(datasets.DataPathError, match="t10k-images-idx3-ubyte.gz is a folder"):
        mnist(root, [url])
    with pytest.raises(datasets.DataPathError, match="is a folder"):
        datasets.load_mnist(root, download=False)
