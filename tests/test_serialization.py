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
