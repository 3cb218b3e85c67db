"""gk.save / gk.load: exact round trips, safetensors interoperability both ways, atomic
saves, clear errors for damaged files, and a trained model restored on every backend."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn, optim, serialization

try:
    import torch
except ImportError:
    torch = None

try:
    from safetensors.numpy import load_file, save_file
except ImportError:  # the interoperability tests are skipped
    load_file = save_file = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
needs_safetensors = pytest.mark.skipif(load_file is None, reason="safetensors is not installed")
DTYPES = ["float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"]


def sample_state(device):
    rng = np.random.default_rng(0)
    tensors = {d: gk.tensor((rng.standard_normal((2, 3)) * 50).astype(d), device=device)
               for d in DTYPES}
    return {
        "model": {"0.weight": tensors["float32"], "0.bias": gk.zeros(3, device=device)},
        "dtypes": tensors,
        "scalar": gk.tensor(3.5, dtype="float64", device=device),
        "empty": gk.zeros(0, 4, device=device),
        "host": np.arange(6, dtype=np.int32).reshape(2, 3),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": gk.ones(2, device=device)}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "nesterov": False, "name": None, "params": [0]}]},
        "epoch": 7, "loss": float("inf"), "note": "résumé",
    }


def assert_same(a, b, device):
    if isinstance(a, gk.Tensor):
        assert isinstance(b, gk.Tensor) and b.device == device
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)  # keys, their types and order
        assert all(type(k) is type(j) for k, j in zip(a, b))
        for k in a:
            assert_same(a[k], b[k], device)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, device)
    else:
        assert type(a) is type(b) and a == b


def test_round_trip_preserves_structure_and_dtypes(device, tmp_path):
    state = sample_state(device)
    path = tmp_path / "state.safetensors"
    gk.save(state, path)
    assert_same(state, gk.load(path, device=device), device)
    assert_same(state["dtypes"], gk.load(str(path))["dtypes"], "cpu")  # default device


@needs_safetensors
def test_keys_containing_dots_round_trip_and_collisions_are_refused(tmp_path):
    state = {"a.b": gk.ones(1), "c": {"d.e": gk.zeros(2), "f": {"g": gk.ones(3)}}}
    path = tmp_path / "dots.safetensors"
    gk.save(state, path)
    assert_same(state, gk.load(path), "cpu")
    assert sorted(load_file(path)) == ["a.b", "c.d.e", "c.f.g"]
    with pytest.raises(ValueError, match=r"\['a'\]\['b'\].*'a\.b'|'a\.b'.*\['a'\]\['b'\]"):
        gk.save({"a.b": gk.ones(1), "a": {"b": gk.ones(1)}}, tmp_path / "clash.safetensors")


@needs_safetensors
def test_files_are_standard_safetensors(device, tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(device)
    path = tmp_path / "model.safetensors"
    gk.save(model.state_dict(), path)
    theirs = load_file(path)
    assert list(theirs) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(theirs[k], v.numpy())
        assert theirs[k].dtype == v.numpy().dtype
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0 and (8 + n) % 8 == 0  # data starts aligned
    assert b"pickle" not in raw and raw[8:9] == b"{"


@needs_safetensors
def test_loads_files_written_by_safetensors(device, tmp_path):
    rng = np.random.default_rng(1)
    tensors = {"w": rng.standard_normal((3, 2)).astype(np.float32),
               "ids": np.arange(4, dtype=np.int64), "mask": np.array([True, False]),
               "half": np.array([1.5, -2.25], dtype=np.float16),
               "u16": np.array([1, 65535], dtype=np.uint16)}
    save_file(tensors, tmp_path / "foreign.safetensors", metadata={"format": "np"})
    loaded = gk.load(tmp_path / "foreign.safetensors", device=device)
    assert sorted(loaded) == sorted(tensors)
    for k in ("w", "ids", "mask"):
        assert loaded[k].device == device and loaded[k].dtype == tensors[k].dtype.name
        np.testing.assert_array_equal(loaded[k].numpy(), tensors[k])
    assert loaded["half"].dtype == gk.float32  # widened losslessly to a dtype gradkit has
    np.testing.assert_array_equal(loaded["half"].numpy(), [1.5, -2.25])
    assert loaded["u16"].dtype == gk.int32 and loaded["u16"].tolist() == [1, 65535]


@needs_torch
@needs_safetensors
def test_torch_interoperability_both_ways(tmp_path):
    from safetensors.torch import load_file as torch_load
    from safetensors.torch import save_file as torch_save

    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    torch_save(theirs.state_dict(), tmp_path / "torch.safetensors")
    ours = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    ours.load_state_dict(gk.load(tmp_path / "torch.safetensors"))
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(gk.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    gk.save(ours.state_dict(), tmp_path / "ours.safetensors")
    theirs.load_state_dict(torch_load(tmp_path / "ours.safetensors"))
    bf16 = {"b": torch.tensor([1.0, -3.5, 0.15625], dtype=torch.bfloat16)}
    torch_save(bf16, tmp_path / "bf16.safetensors")
    np.testing.assert_array_equal(gk.load(tmp_path / "bf16.safetensors")["b"].numpy(),
                                  bf16["b"].float().numpy())


def test_unsavable_values_are_refused_before_touching_the_file(tmp_path):
    path = tmp_path / "ck.safetensors"
    gk.save({"w": gk.ones(2)}, path)
    before = path.read_bytes()
    for bad, match in (({"w": object()}, "object"), ({"w": {1.5: gk.ones(1)}}, "keys"),
                       ([gk.ones(1)], "dict"), ({"__metadata__": gk.ones(1)}, "name")):
        with pytest.raises((TypeError, ValueError), match=match):
            gk.save(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.safetensors"]  # no temporary files left behind


def test_a_failure_while_writing_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    gk.save({"w": gk.ones(2)}, path)
    before = path.read_bytes()
    calls = []

    def failing(value):
        calls.append(value)
        if len(calls) == 2:
            raise OSError("disk full")
        return np.ascontiguousarray(value.numpy())

    monkeypatch.setattr(serialization, "_host_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        gk.save({"a": gk.zeros(1000), "b": gk.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.safetensors"]
    monkeypatch.undo()

    def interrupted(*args):
        raise KeyboardInterrupt  # killed between writing and renaming

    with monkeypatch.context() as m:
        m.setattr(serialization.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            gk.save({"a": gk.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.safetensors"]
    gk.save({"a": gk.zeros(3)}, path)  # and a later save works
    assert list(gk.load(path)) == ["a"]


def _corrupt(tmp_path, data: bytes):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    return path


def _header_file(header, data=b""):
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + data


@pytest.mark.parametrize("data, message", [
    (b"", "fewer than the 8-byte"),
    (struct.pack("<Q", 1000) + b"{}", "exceeds the file size"),
    (struct.pack("<Q", 4) + b"abcd", "does not start with"),
    (struct.pack("<Q", 5) + b"{abc}", "not valid JSON"),
    (_header_file({"w": {"dtype": "F32", "shape": [2]}}), "lacks"),
    (_header_file({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
     "cannot load"),
    (_header_file({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
     "invalid shape"),
    (_header_file({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
     "needs 12 bytes"),
    (_header_file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
     "truncated"),
    (_header_file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12),
     "holds 12"),
    (_header_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                   "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
     "contiguous"),
    (_header_file({"__metadata__": {"gradkit": "{not json"}}), "gradkit structure"),
    (_header_file({"__metadata__": {"gradkit": '{"version":1,"tree":{"T":"nope"}}'}}),
     "gradkit structure"),
    (_header_file({"__metadata__": {"n": 5}}), "map of strings"),
])
def test_damaged_files_raise_a_clear_value_error(data, message, tmp_path):
    path = _corrupt(tmp_path, data)
    with pytest.raises(ValueError, match=message) as info:
        gk.load(path)
    assert str(path) in str(info.value)


def test_truncating_a_real_checkpoint_is_detected(tmp_path):
    path = tmp_path / "ck.safetensors"
    gk.save(sample_state("cpu"), path)
    raw = path.read_bytes()
    for cut in (4, 20, len(raw) - 1):
        (tmp_path / "cut.safetensors").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="cut.safetensors"):
            gk.load(tmp_path / "cut.safetensors")


def _model(device, seed):
    gk.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.2),
                         nn.Linear(16, 3)).to(device)


def test_trained_model_saved_and_loaded_predicts_identically(device, tmp_path):
    rng = np.random.default_rng(3)
    x = gk.tensor(rng.standard_normal((64, 4)).astype(np.float32), device=device)
    y = gk.tensor(rng.integers(0, 3, 64), device=device)
    model = _model(device, 0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for xb, yb in gk.DataLoader(x, y, batch_size=16, shuffle=True, seed=0):
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()
    path = tmp_path / "trained.safetensors"
    gk.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1}, path)

    restored = _model(device, 1)  # different initial weights
    fresh_opt = optim.Adam(restored.parameters(), lr=0.5)
    checkpoint = gk.load(path, device=device)
    restored.load_state_dict(checkpoint["model"])
    fresh_opt.load_state_dict(checkpoint["optimizer"])
    model.eval(), restored.eval()
    np.testing.assert_array_equal(restored(x).numpy(), model(x).numpy())  # bit for bit
    # and training goes on identically
    model.train(), restored.train()
    for m, o in ((model, opt), (restored, fresh_opt)):
        gk.manual_seed(5)  # the same dropout masks
        F.cross_entropy(m(x), y).backward()
        o.step()
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_loading_a_wrong_checkpoint_changes_nothing(device, tmp_path):
    path = tmp_path / "small.safetensors"
    gk.save(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)).state_dict(), path)
    model = _model(device, 0)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(nn.StateDictError, match="size mismatch for 1.weight"):
        model.load_state_dict(gk.load(path))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


# ---- paths: empty, directories, symlinks, permission bits, errors naming the target -------
def test_bad_paths_raise_naming_the_path_and_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        gk.save({"w": gk.ones(1)}, "")
    for bad in (tmp_path, str(tmp_path) + os.sep):
        with pytest.raises(IsADirectoryError) as info:
            gk.save({"w": gk.ones(1)}, bad)
        assert str(tmp_path) in str(info.value)
    missing = tmp_path / "no-such-dir" / "ck.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        gk.save({"w": gk.ones(1)}, missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_overwriting_keeps_the_permission_bits(tmp_path):
    path = tmp_path / "ck.safetensors"
    old_umask = os.umask(0o022)
    try:
        gk.save({"w": gk.ones(1)}, path)
        assert path.stat().st_mode & 0o777 == 0o644  # a new file: what open() would give
        os.chmod(path, 0o600)
        gk.save({"w": gk.ones(2)}, path)
        assert path.stat().st_mode & 0o777 == 0o600
        os.chmod(path, 0o640)
        gk.save({"w": gk.ones(3)}, path)
        assert path.stat().st_mode & 0o777 == 0o640 and gk.load(path)["w"].shape == (3,)
    finally:
        os.umask(old_umask)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "ck.safetensors"
    gk.save({"w": gk.ones(1)}, target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    gk.save({"w": gk.zeros(5)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert gk.load(target)["w"].tolist() == [0.0] * 5
    assert sorted(os.listdir(tmp_path / "real")) == ["ck.safetensors"]  # no temp left
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "real" / "new.safetensors")
    gk.save({"w": gk.ones(2)}, dangling)  # creates the link's target, as open() would
    assert dangling.is_symlink() and gk.load(dangling)["w"].shape == (2,)


def test_a_write_error_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"

    def no_space(fd):
        raise OSError(28, "No space left on device", "/somewhere/.ck.123.tmp")

    monkeypatch.setattr(serialization.os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        gk.save({"w": gk.ones(2)}, path)
    assert info.value.errno == 28 and info.value.filename == str(path)
    assert ".tmp" not in str(info.value) and str(path) in str(info.value)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


# ---- signals in this process: the handlers are restored and the signal handled as before --
def _send_during_write(monkeypatch, signum):
    real = serialization._host_bytes

    def sending(value):
        os.kill(os.getpid(), signum)
        return real(value)

    monkeypatch.setattr(serialization, "_host_bytes", sending)


needs_signals = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@needs_signals
def test_sigint_during_a_save_removes_the_temp_file_and_raises_keyboard_interrupt(
        tmp_path, monkeypatch):
    import signal
    path = tmp_path / "ck.safetensors"
    gk.save({"w": gk.ones(2)}, path)
    before, handler = path.read_bytes(), signal.getsignal(signal.SIGINT)
    _send_during_write(monkeypatch, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        gk.save({"w": gk.zeros(1000), "b": gk.zeros(10)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck.safetensors"]
    assert signal.getsignal(signal.SIGINT) is handler


@needs_signals
def test_a_signal_while_renaming_is_held_until_the_save_is_complete(tmp_path, monkeypatch):
    import signal
    path = tmp_path / "ck.safetensors"
    real_replace = os.replace

    def replace(src, dst):
        os.kill(os.getpid(), signal.SIGINT)
        real_replace(src, dst)

    monkeypatch.setattr(serialization.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        gk.save({"w": gk.ones(3)}, path)
    monkeypatch.undo()
    assert gk.load(path)["w"].tolist() == [1.0, 1.0, 1.0]  # the new file, complete
    assert os.listdir(tmp_path) == ["ck.safetensors"]


@needs_signals
def test_a_programs_own_signal_handler_is_called_and_may_let_the_save_finish(
        tmp_path, monkeypatch):
    import signal
    path = tmp_path / "ck.safetensors"
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        _send_during_write(monkeypatch, signal.SIGTERM)
        gk.save({"w": gk.ones(2)}, path)  # the handler returns: the save goes on
        assert seen == [signal.SIGTERM] and gk.load(path)["w"].shape == (2,)

        class Stop(Exception):
            pass

        def stop(signum, frame):
            raise Stop

        signal.signal(signal.SIGTERM, stop)
        with pytest.raises(Stop):
            gk.save({"w": gk.ones(7)}, path)
        assert gk.load(path)["w"].shape == (2,) and os.listdir(tmp_path) == ["ck.safetensors"]
        assert signal.getsignal(signal.SIGTERM) is stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        gk.save({"w": gk.ones(4)}, path)  # an ignored signal stays ignored
        assert gk.load(path)["w"].shape == (4,)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_saving_from_another_thread_installs_no_handlers(tmp_path):
    import threading
    errors = []

    def work(i):
        try:
            for _ in range(5):
                gk.save({"w": gk.full((100,), float(i))}, tmp_path / f"t{i}.safetensors")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(os.listdir(tmp_path)) == [f"t{i}.safetensors" for i in range(4)]


# ---- stale temporary files ---------------------------------------------------------------
def _temp_name(target, pid, host=None):
    return f".{target}.{pid}.{host or serialization._host_tag()}.{'ab' * 6}.tmp"


def _dead_pid():
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@needs_signals
def test_stale_temp_files_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = _dead_pid()
    stale = _temp_name("ck.safetensors", dead)
    live = _temp_name("ck.safetensors", os.getppid())  # our parent is alive
    foreign = _temp_name("ck.safetensors", dead, host="0" * 8)  # another host's: unknowable
    other_target = _temp_name("other.safetensors", dead)
    unrelated = ".ck.safetensors.notes.tmp"
    for name in (stale, live, foreign, other_target, unrelated):
        (tmp_path / name).write_bytes(b"partial")
    gk.save({"w": gk.ones(1)}, tmp_path / "ck.safetensors")
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["ck.safetensors", live, foreign, other_target, unrelated])


# ---- kill tests: a real process saving ~100 MB, signalled at random moments ---------------
_WRITER = """
import sys
import numpy as np
import gradkit as gk
path, value = sys.argv[1], float(sys.argv[2])
state = {f"w{i:02d}": np.full(1_600_000, value, np.float32) for i in range(16)}  # 102 MB
print("saving", flush=True)
gk.save(state, path)
print("saved", flush=True)
"""


def _start_writer(path, value):
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(value)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"saving\n", child.stderr.read().decode()
    return child


def _temps(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")]


def _wait_for_temp(directory, child, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while not _temps(directory) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)


def _value_of(path):
    """The one value every entry of the checkpoint holds: the file is whole, old or new."""
    state = gk.load(path)
    values = {float(v.min()) for v in state.values()} | {float(v.max()) for v in state.values()}
    assert sorted(state) == [f"w{i:02d}" for i in range(16)] and len(values) == 1, values
    assert all(v.shape == (1_600_000,) for v in state.values())
    return values.pop()


KILL_REPORT: dict = {}


@needs_signals
def test_sigterm_and_sigint_at_random_moments_leave_old_or_new_file_and_no_temp(tmp_path):
    import signal
    import time
    path = tmp_path / "ck.safetensors"
    gk.save({f"w{i:02d}": np.full(1_600_000, 1.0, np.float32) for i in range(16)}, path)
    rng = np.random.default_rng(10)
    old, kills, mid_write, outcomes = 1.0, 0, 0, {"old": 0, "new": 0}
    for run in range(12):
        signum = signal.SIGTERM if run % 2 == 0 else signal.SIGINT
        new = 2.0 + run
        child = _start_writer(path, new)
        if run % 3 == 0:
            time.sleep(rng.uniform(0, 0.3))  # anywhere: before, during or after the save
        else:
            _wait_for_temp(tmp_path, child)  # certainly during the write or the rename
            time.sleep(rng.uniform(0, 0.05))
        writing = bool(_temps(tmp_path))
        child.send_signal(signum)
        out, err = child.communicate(timeout=30)
        if child.returncode != 0:
            kills += 1
            mid_write += writing
            assert child.returncode == -signum, err.decode()  # it ended as it would have
            if signum == signal.SIGINT and b"saved" not in out:
                assert b"KeyboardInterrupt" in err
        assert _temps(tmp_path) == [], "a temporary file was left behind"
        value = _value_of(path)
        assert value == new if b"saved" in out else value in (old, new)
        outcomes["new" if value == new else "old"] += 1
        old = value
    KILL_REPORT.update(runs=12, kills=kills, mid_write=mid_write, **outcomes)
    print(f"\nkill test: {KILL_REPORT}, temp files left: 0")
    assert kills >= 6 and mid_write >= 4  # most signals landed during the save


@needs_signals
def test_sigkill_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    import signal
    path = tmp_path / "ck.safetensors"
    gk.save({f"w{i:02d}": np.full(1_600_000, 1.0, np.float32) for i in range(16)}, path)
    child = _start_writer(path, 2.0)
    _wait_for_temp(tmp_path, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    left = _temps(tmp_path)
    assert child.returncode == -signal.SIGKILL and len(left) == 1
    assert f".{child.pid}." in left[0] and _value_of(path) == 1.0
    gk.save({"w": gk.ones(1)}, path)  # a new process (this one): the dead writer's goes
    assert _temps(tmp_path) == [] and os.listdir(tmp_path) == ["ck.safetensors"]


# ---- fuzzing gk.load: every damaged file loads sanely or raises ValueError naming it ------
def _fuzz_states():
    rng = np.random.default_rng(0)
    ours = {"model": {"0.weight": gk.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
                      "0.bias": gk.zeros(4, dtype=gk.int64)},
            "opt": {"state": {0: {"step": 3, "m": gk.tensor([1.5, -2.0], dtype=gk.float64)}},
                    "groups": [{"lr": 0.1, "betas": (0.9, 0.99), "name": None, "on": True}]},
            "host": np.arange(3, dtype=np.int16), "mask": gk.tensor([True, False]),
            "note": "résumé"}
    theirs = {"w": rng.standard_normal((2, 3)).astype(np.float32),
              "h": np.array([1.5, -2.25], dtype=np.float16), "b": np.array([1, 0], np.uint8)}
    return ours, theirs


def _foreign_file(arrays):
    """A safetensors file as another framework writes it (F16 included), by hand."""
    header, data, offset = {}, b"", 0
    codes = {"float32": "F32", "float16": "F16", "uint8": "U8"}
    for name, a in arrays.items():
        header[name] = {"dtype": codes[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        data += a.tobytes()
        offset += a.nbytes
    return _header_file(header, data)


_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def _tree(tree, version=1):
    return {"__metadata__": {"gradkit": json.dumps({"version": version, "tree": tree})}}


def _raw(header_bytes, data=b"", n=None):
    return struct.pack("<Q", len(header_bytes) if n is None else n) + header_bytes + data


HOSTILE = [  # (what, file bytes)
    ("dtype a list", _header_file({"w": dict(_ENTRY, dtype=["F32"])}, b"\0" * 8)),
    ("dtype a dict", _header_file({"w": dict(_ENTRY, dtype={"F32": 1})}, b"\0" * 8)),
    ("dtype null", _header_file({"w": dict(_ENTRY, dtype=None)}, b"\0" * 8)),
    ("shape a string", _header_file({"w": dict(_ENTRY, shape="2")}, b"\0" * 8)),
    ("shape a dict", _header_file({"w": dict(_ENTRY, shape={"0": 2})}, b"\0" * 8)),
    ("shape of floats", _header_file({"w": dict(_ENTRY, shape=[2.0])}, b"\0" * 8)),
    ("shape of bools", _header_file({"w": dict(_ENTRY, shape=[True, True])}, b"\0" * 8)),
    ("shape nested", _header_file({"w": dict(_ENTRY, shape=[[2]])}, b"\0" * 8)),
    ("negative dim", _header_file({"w": dict(_ENTRY, shape=[-2])}, b"\0" * 8)),
    ("65 dims", _header_file({"w": dict(_ENTRY, shape=[1] * 65, data_offsets=[0, 4])},
                             b"\0" * 4)),
    ("1000 dims", _header_file({"w": dict(_ENTRY, shape=[1] * 1000, data_offsets=[0, 4])},
                               b"\0" * 4)),
    ("huge shape, tiny file", _header_file(
        {"w": dict(_ENTRY, shape=[2 ** 33], data_offsets=[0, 2 ** 35])}, b"\0" * 8)),
    ("huge dims beside a zero", _header_file(
        {"w": dict(_ENTRY, shape=[0, 2 ** 62, 2 ** 62], data_offsets=[0, 0])})),
    ("a dim past int64", _header_file({"w": dict(_ENTRY, shape=[0, 2 ** 70],
                                                 data_offsets=[0, 0])})),
    ("shape infinite", _raw(b'{"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}',
                            b"\0" * 4)),
    ("shape NaN", _raw(b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}', b"\0" * 4)),
    ("a 5000-digit dim", _raw(b'{"w":{"dtype":"F32","shape":[' + b"9" * 5000 +
                              b'],"data_offsets":[0,4]}}', b"\0" * 4)),
    ("offsets negative", _header_file({"w": dict(_ENTRY, data_offsets=[-8, 0])}, b"\0" * 8)),
    ("offsets reversed", _header_file({"w": dict(_ENTRY, data_offsets=[8, 0])}, b"\0" * 8)),
    ("three offsets", _header_file({"w": dict(_ENTRY, data_offsets=[0, 8, 16])}, b"\0" * 8)),
    ("offsets strings", _header_file({"w": dict(_ENTRY, data_offsets=["0", "8"])}, b"\0" * 8)),
    ("offsets floats", _header_file({"w": dict(_ENTRY, data_offsets=[0.0, 8.0])}, b"\0" * 8)),
    ("offsets past the end", _header_file({"w": dict(_ENTRY, data_offsets=[8, 16])}, b"\0" * 8)),
    ("offsets huge", _header_file({"w": dict(_ENTRY, shape=[2 ** 60],
                                             data_offsets=[0, 2 ** 62])}, b"\0" * 8)),
    ("overlapping entries", _header_file({"a": _ENTRY, "b": _ENTRY}, b"\0" * 8)),
    ("entry not an object", _header_file({"w": [1, 2, 3]})),
    ("header length past the end", _raw(b"{}", n=1000)),
    ("header length 2**64-1", _raw(b"{}", n=2 ** 64 - 1)),
    ("header length too short", _raw(json.dumps({"w": _ENTRY}).encode(), b"\0" * 8, n=10)),
    ("header length zero", _raw(b"", b"{}")),
    ("header not JSON", _raw(b"{abc}")),
    ("header a list", _raw(b"[]")),
    ("header a string", _raw(b'"{"')),
    ("header then junk", _raw(b"{} junk")),
    ("UTF-8 BOM", _raw(b"\xef\xbb\xbf{}")),
    ("not UTF-8", _raw(b'{"\xff\xfe": 1}')),
    ("NUL in the header", _raw(b'{"a\x00": 1}')),
    ("deeply nested header", _raw(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
    ("deeply nested objects", _raw(b'{"a":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001)),
    ("duplicate entry", _raw(b'{"w":' + json.dumps(_ENTRY).encode() + b',"w":' +
                             json.dumps(dict(_ENTRY, dtype="I32")).encode() + b"}", b"\0" * 8)),
    ("duplicate key in an entry", _raw(b'{"w":{"dtype":"F32","dtype":"I32","shape":[2],'
                                       b'"data_offsets":[0,8]}}', b"\0" * 8)),
    ("duplicate __metadata__", _raw(b'{"__metadata__":{},"__metadata__":{"a":"b"}}')),
    ("__metadata__ a list", _header_file({"__metadata__": ["gradkit"]})),
    ("__metadata__ numbers", _header_file({"__metadata__": {"gradkit": 1}})),
    ("__metadata__ a tensor", _header_file({"__metadata__": _ENTRY}, b"\0" * 8)),
    ("tree not JSON", _header_file({"__metadata__": {"gradkit": "{"}})),
    ("tree a list", _header_file({"__metadata__": {"gradkit": "[]"}})),
    ("tree without version", _header_file({"__metadata__": {"gradkit": '{"tree":{"D":[]}}'}})),
    ("tree version 2", _header_file(_tree({"D": []}, version=2))),
    ("tree version '1'", _header_file(_tree({"D": []}, version="1"))),
    ("tree version true", _header_file(_tree({"D": []}, version=True))),
    ("tree not a dict", _header_file(_tree({"L": []}))),
    ("tree node two kinds", _header_file(_tree({"D": [], "L": []}))),
    ("tree node a list", _header_file(_tree([]))),
    ("tree unknown kind", _header_file(_tree({"X": 1}))),
    ("tree D not a list", _header_file(_tree({"D": {"a": 1}}))),
    ("tree D item not a pair", _header_file(_tree({"D": [["a"]]}))),
    ("tree D key a list", _header_file(_tree({"D": [[["a"], {"V": 1}]]}))),
    ("tree D key a float", _header_file(_tree({"D": [[1.5, {"V": 1}]]}))),
    ("tree D key a bool", _header_file(_tree({"D": [[True, {"V": 1}]]}))),
    ("tree D key twice", _header_file(_tree({"D": [["a", {"V": 1}], ["a", {"V": 2}]]}))),
    ("tree V a dict", _header_file(_tree({"D": [["a", {"V": {"b": 1}}]]}))),
    ("tree V a list", _header_file(_tree({"D": [["a", {"V": [1]}]]}))),
    ("tree L not a list", _header_file(_tree({"D": [["a", {"L": 3}]]}))),
    ("tree T missing", _header_file(_tree({"D": [["a", {"T": "nope"}]]}))),
    ("tree T a number", _header_file(_tree({"D": [["a", {"T": 0}]]}))),
    ("tree T a list", _header_file(_tree({"D": [["a", {"T": ["w"]}]]}))),
    ("tree T twice", _header_file(dict(_tree({"D": [["a", {"T": "w"}], ["b", {"N": "w"}]]}),
                                       w=_ENTRY), b"\0" * 8)),
    ("tree misses a tensor", _header_file(dict(_tree({"D": []}), w=_ENTRY), b"\0" * 8)),
    ("tree nested deeply", _header_file({"__metadata__": {"gradkit": (
        '{"version":1,"tree":' + '{"L":[' * 3000 + "]}" * 3000 + "}")}})),
]


def _check_sane(result, original, header_intact):
    """A fuzzed file that loads gives plain, well-formed values (and, when only the data
    bytes were touched, the original structure)."""
    def walk(a, b):
        if isinstance(a, gk.Tensor):
            assert a.dtype in (gk.float32, gk.float64, gk.int64, gk.int32, gk.int16, gk.int8,
                               gk.uint8, gk.bool) and a.numpy().shape == a.shape
            if b is not None:
                assert isinstance(b, gk.Tensor) and (a.shape, a.dtype) == (b.shape, b.dtype)
        elif isinstance(a, np.ndarray):
            if b is not None:
                assert isinstance(b, np.ndarray) and (a.shape, a.dtype) == (b.shape, b.dtype)
        elif isinstance(a, dict):
            assert all(isinstance(k, (str, int)) for k in a)
            if b is not None:
                assert list(a) == list(b)
            for k in a:
                walk(a[k], b[k] if b is not None else None)
        elif isinstance(a, (list, tuple)):
            if b is not None:
                assert type(a) is type(b) and len(a) == len(b)
            for i, x in enumerate(a):
                walk(x, b[i] if b is not None else None)
        else:
            assert a is None or isinstance(a, (bool, int, float, str))
            if b is not None and not isinstance(a, float):
                assert a == b

    assert isinstance(result, dict)
    walk(result, original if header_intact else None)


FUZZ_REPORT: dict = {}


def test_fuzzed_files_load_sanely_or_raise_value_error_naming_the_file(tmp_path):
    import collections
    import time
    rng = np.random.default_rng(1234)
    path = tmp_path / "fuzz.safetensors"
    ours, theirs = _fuzz_states()
    gk.save(ours, path)
    bases = [(path.read_bytes(), gk.load(path)), (_foreign_file(theirs), None)]
    path.write_bytes(bases[1][0])
    bases[1] = (bases[1][0], gk.load(path))
    seen: collections.Counter = collections.Counter()
    loaded = 0

    def attempt(data, original=None, header_end=0, touched=()):
        nonlocal loaded
        path.unlink()  # a fresh file: rewriting one in place makes ext4 flush it each time
        path.write_bytes(data)
        try:
            result = gk.load(path)
        except Exception as e:  # everything is recorded; only ValueError may appear
            seen[type(e).__name__] += 1
            assert type(e) is ValueError, f"{type(e).__name__}: {e}"
            assert str(path) in str(e)
            return
        seen["loaded"] += 1
        loaded += 1
        _check_sane(result, original, all(i >= header_end for i in touched))

    start = time.perf_counter()
    for raw, original in bases:
        header_end = 8 + struct.unpack("<Q", raw[:8])[0]
        for cut in range(len(raw)):  # truncation at every offset
            attempt(raw[:cut])
        for _ in range(2000):  # one to four random bytes replaced
            data = bytearray(raw)
            touched = rng.integers(0, len(raw), rng.integers(1, 5))
            for i in touched:
                data[i] = rng.integers(0, 256)
            attempt(bytes(data), original, header_end, touched)
        for _ in range(500):  # single bit flips, the header's mostly
            data = bytearray(raw)
            i = int(rng.integers(0, header_end if rng.random() < 0.8 else len(raw)))
            data[i] ^= 1 << int(rng.integers(0, 8))
            attempt(bytes(data), original, header_end, (i,))
        for _ in range(200):  # bytes inserted or deleted: every length is then wrong
            i = int(rng.integers(0, len(raw)))
            attempt(raw[:i] + raw[i + 1:] if rng.random() < 0.5 else
                    raw[:i] + bytes([int(rng.integers(0, 256))]) + raw[i:])
    for _, data in HOSTILE:
        attempt(data)
    elapsed = time.perf_counter() - start
    FUZZ_REPORT.update(cases=sum(seen.values()), seconds=round(elapsed, 2), **seen)
    print(f"\nfuzz: {FUZZ_REPORT}")
    assert set(seen) <= {"ValueError", "loaded"} and loaded > 0


@pytest.mark.parametrize("what, data", HOSTILE, ids=[what for what, _ in HOSTILE])
def test_hostile_headers_raise_value_error_naming_the_file_without_allocating(
        what, data, tmp_path):
    import tracemalloc
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            gk.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert type(info.value) is ValueError and str(path) in str(info.value)
    assert peak < 64 * 2 ** 20  # a hostile header never makes it allocate gigabytes


def test_a_missing_file_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        gk.load(tmp_path / "missing.safetensors")
