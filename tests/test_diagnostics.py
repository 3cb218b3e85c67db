"""gradkit.diagnostics: the Recorder's numbers against a NumPy hand computation, on every
backend; recording changes nothing and synchronises nothing; remove() leaves no hook; the
summary, histograms, plots and the examples' --diagnose flag."""

from __future__ import annotations

import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import diagnostics, nn, optim
from gradkit.diagnostics import LAYER_STATS, PARAM_STATS, Recorder
from gradkit.testing import backend_params

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is missing")


# ---- a tiny model and its NumPy reference --------------------------------------------------
def tiny(device, rng):
    """Linear(3, 5) Tanh Linear(5, 4) ReLU Linear(4, 2), float64, weights from `rng`."""
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.ReLU(),
                          nn.Linear(4, 2)).double()
    arrays = {}
    for name, p in model.named_parameters():
        arrays[name] = rng.standard_normal(p.shape)
    model.load_state_dict(arrays)
    return model.to(device), arrays


def reference(w, x, c, lr):
    """The forward, the backward of sum(out * c), and an SGD step, by hand."""
    h1 = x @ w["0.weight"].T + w["0.bias"]
    a1 = np.tanh(h1)
    h2 = a1 @ w["2.weight"].T + w["2.bias"]
    a2 = np.maximum(h2, 0)
    da2 = c @ w["4.weight"]
    dh2 = da2 * (h2 > 0)
    da1 = dh2 @ w["2.weight"]
    dh1 = da1 * (1 - a1 ** 2)
    grads = {"0.weight": dh1.T @ x, "2.weight": dh2.T @ a1, "4.weight": c.T @ a2}
    return a1, a2, da1, da2, grads


def test_values_match_a_hand_computation(device):
    rng = np.random.default_rng(1)
    model, w = tiny(device, rng)
    x, c = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    lr, threshold = 0.1, 0.6
    opt = optim.SGD(model.parameters(), lr=lr)
    with Recorder(model, opt, threshold=threshold) as rec:
        out = model(gk.tensor(x, device=device))
        opt.zero_grad()
        (out * gk.tensor(c, device=device)).sum().backward()
        opt.step()
    assert rec.layers == {"1": "Tanh", "3": "ReLU"}
    assert rec.params == ["0.weight", "2.weight", "4.weight"]
    a1, a2, da1, da2, grads = reference(w, x, c, lr)
    h = rec.history
    got = {k: {s: v[0] for s, v in stats.items()} for k, stats in h["layers"].items()}
    expected = {
        "1": dict(mean=a1.mean(), std=a1.std(ddof=1), saturated=(abs(a1) > threshold).mean(),
                  dead=(abs(a1) > threshold).all(axis=0).mean(), grad_mean=da1.mean(),
                  grad_std=da1.std(ddof=1)),
        "3": dict(mean=a2.mean(), std=a2.std(ddof=1), saturated=(a2 <= 0).mean(),
                  dead=(a2 <= 0).all(axis=0).mean(), grad_mean=da2.mean(),
                  grad_std=da2.std(ddof=1)),
    }
    for layer in expected:
        for stat in LAYER_STATS:
            np.testing.assert_allclose(got[layer][stat], expected[layer][stat], rtol=1e-10,
                                       atol=1e-12, err_msg=f"{layer} {stat}")
    for name, g in grads.items():
        p = h["params"][name]
        np.testing.assert_allclose(p["grad_data"][0], g.std(ddof=1) / w[name].std(ddof=1),
                                   rtol=1e-10)
        np.testing.assert_allclose(p["update_data"][0],
                                   np.log10((lr * g).std(ddof=1) / w[name].std(ddof=1)),
                                   rtol=1e-10)
    # histograms of the last step: the same counts as NumPy's over the data's range
    for kind, layer, ref in (("activation", "1", a1), ("grad", "3", da2)):
        density, edges = rec.histograms(kind, bins=7)[layer]
        np_density, np_edges = np.histogram(ref, bins=7, density=True)
        np.testing.assert_allclose(edges, np_edges, rtol=1e-12)
        np.testing.assert_allclose(density, np_density, rtol=1e-9)


def test_steps_accumulate_and_eval_forwards_are_not_recorded(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = gk.randn(10, 4, device=device), gk.randint(0, 3, (10,), device=device)
    rec = Recorder(model)  # no optimizer: rec.step() by hand
    for _ in range(4):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step()
        with gk.no_grad():
            model(x * 100)  # evaluation: saturates everything, but is not recorded
    assert rec.steps == 4
    h = rec.history
    assert all(h["layers"]["1"][s].shape == (4,) for s in LAYER_STATS)
    assert all(h["params"]["0.weight"][s].shape == (4,) for s in PARAM_STATS)
    assert np.all(h["layers"]["1"]["saturated"] < 0.5)
    assert np.all(np.isfinite(h["params"]["2.weight"]["update_data"]))
    # the history is fetched incrementally: an open step appears, and then closes
    model(x).sum().backward()
    assert rec.steps == 5 and np.isnan(rec.history["params"]["0.weight"]["update_data"][4])
    opt.step()
    rec.step()
    assert np.isfinite(rec.history["params"]["0.weight"]["update_data"][4])
    rec.remove()


def train(device, steps, recorder):
    gk.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.2),
                          nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    x = gk.randn(12, 6, device=device)
    y = gk.randint(0, 3, (12,), device=device)
    rec = Recorder(model, opt, parameters="all") if recorder else None
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    if rec is not None:
        assert rec.steps == steps
        rec.remove()
    return [p.numpy() for p in model.parameters()] + \
        [b.numpy() for b in model.buffers()] + [gk.stack(losses).numpy()]


def test_recording_does_not_change_the_trajectory(device):
    plain, recorded = train(device, 4, False), train(device, 4, True)
    assert len(plain) == len(recorded)
    for a, b in zip(plain, recorded):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("device", backend_params(["strict", "cupy"]))
def test_recording_has_no_host_sync(device):
    backend = gk.get_backend(device)
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 8),
                          nn.ReLU(), nn.Linear(8, 2)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = gk.randn(8, 5, device=device), gk.randint(0, 2, (8,), device=device)
    with Recorder(model, opt) as rec, backend.no_host_sync():
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert rec.steps == 3
    assert np.all(np.isfinite(rec.history["layers"]["2"]["grad_std"]))


def test_remove_leaves_no_hook(device):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(),
                          nn.Linear(4, 1)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = gk.randn(5, 3, device=device)
    hooks = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
             "_forward_pre_hooks")
    with Recorder(model, opt) as rec:
        assert sum(len(getattr(m, h)) for m in model.modules() for h in hooks) == 2
        assert "step" in opt.__dict__
        out = model(x)  # forward done, backward not yet: gradient hooks are registered
        tanh_out = model[1](model[0](x))
    assert all(not getattr(m, h) for m in model.modules() for h in hooks)
    assert "step" not in opt.__dict__  # the class's step again
    assert not tanh_out._node.hooks  # the pending gradient hooks are gone too
    out.sum().backward()
    opt.step()
    assert rec.steps == 1  # the forward before remove(); no gradient, no step
    assert np.isnan(rec.history["layers"]["1"]["grad_std"][0])
    rec.remove()  # twice: harmless
    assert "removed" in repr(rec)


def test_summary_format(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 2), nn.GELU()).to(device)
    opt = optim.SGD(model.parameters(), lr=0.05)
    with Recorder(model, opt) as rec:
        for _ in range(2):
            opt.zero_grad()
            model(gk.randn(6, 4, device=device)).pow(2).sum().backward()
            opt.step()
    lines = rec.summary().splitlines()
    assert lines[0] == "step 2 of 2"
    num, sci, pct = r"[+-]?\d+\.\d\d", r"[+-]?\d\.\de[+-]\d\d", r"\d+\.\d\d%"
    layer = (rf"layer (\S+) \((\w+)\): mean {num}, std {num}, saturated ({pct}|n/a), "
             rf"dead ({pct}|n/a) \| grad mean {sci}, std {sci}")
    matches = [re.fullmatch(layer, line) for line in lines[1:4]]
    assert all(matches), lines
    assert [m.group(1, 2) for m in matches] == [("1", "Tanh"), ("3", "ReLU"), ("5", "GELU")]
    assert "saturated n/a, dead n/a" in lines[3]  # GELU: no saturation rule
    params = [re.fullmatch(rf"param (\S+) \((\d+), (\d+)\): grad:data {sci}, "
                           rf"update:data 10\^-?\d+\.\d\d", line) for line in lines[4:]]
    assert len(lines) == 7 and all(params), lines
    assert [m.group(1) for m in params] == ["0.weight", "2.weight", "4.weight"]
    assert rec.summary(0).splitlines()[0] == "step 1 of 2"
    with pytest.raises(IndexError, match="out of range"):
        rec.summary(2)


def test_nothing_recorded_and_bad_arguments():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    rec = Recorder(model)
    with pytest.raises(IndexError, match="nothing recorded"):
        rec.summary()
    assert rec.histograms() == {} and rec.steps == 0
    with pytest.raises(ValueError, match="kind"):
        rec.histograms("weights")
    rec.remove()
    with pytest.raises(ValueError, match="no layer of the types"):
        Recorder(nn.Sequential(nn.Linear(2, 2)))
    assert not nn.Sequential(nn.Linear(2, 2))[0]._forward_hooks
    with pytest.raises(ValueError, match="threshold"):
        Recorder(model, threshold=1.5)
    with pytest.raises(ValueError, match="parameters"):
        Recorder(model, parameters="biases")
    with pytest.raises(ValueError, match="keep_last"):
        Recorder(model, keep_last=False).histograms()
    custom = Recorder(model, layers=(nn.Linear,), parameters="all")
    assert custom.layers == {"0": "Linear"} and custom.params == ["0.weight", "0.bias"]


def small_run(device="cpu"):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 2)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(model, opt)
    for _ in range(3):
        opt.zero_grad()
        model(gk.randn(6, 4, device=device)).pow(2).sum().backward()
        opt.step()
    return rec


@needs_matplotlib
def test_plot_is_written(device, tmp_path):
    rec = small_run(device)
    path = rec.plot(tmp_path / "diag.png")
    assert path == tmp_path / "diag.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rec.save(tmp_path / "again.svg").read_text().lstrip().startswith("<?xml")
    assert "matplotlib.pyplot" not in sys.modules or not _has_open_figures()


def _has_open_figures():
    import matplotlib.pyplot as plt

    return bool(plt.get_fignums())


def test_without_matplotlib_save_writes_the_summary(monkeypatch, tmp_path):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    rec = small_run()
    with pytest.raises(ImportError, match="pip install matplotlib"):
        rec.plot(tmp_path / "diag.png")
    written = rec.save(tmp_path / "diag.png")
    assert written == tmp_path / "diag.txt" and not (tmp_path / "diag.png").exists()
    assert written.read_text() == rec.summary() + "\n"


def test_docstring_examples_run():
    """Every public name has numpydoc sections and its >>> examples pass."""
    public = [diagnostics.default_layer_types, Recorder, Recorder.remove, Recorder.step,
              Recorder.history, Recorder.summary, Recorder.histograms, Recorder.plot,
              Recorder.save]
    for obj in public:
        doc = obj.__doc__ or ""
        assert "Examples\n" in doc and ">>>" in doc, obj
        assert "Returns\n" in doc or obj is Recorder, obj
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(diagnostics):
        if test.name.endswith(".plot") and not HAS_MATPLOTLIB:
            continue
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 20


# ---- the examples' --diagnose --------------------------------------------------------------
def run_example(*args, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / args[0]), *map(str, args[1:])],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")
def test_train_mlp_diagnose(tmp_path):
    out = run_example("train_mlp.py", "--fast", "--epochs", "1", "--limit", "300", "--device",
                      "cpu", "--out", "runs", "--diagnose", cwd=tmp_path)
    assert re.search(r"^diagnostics: step \d+ of \d+$", out, re.M), out
    assert re.search(r"^layer 1 \(ReLU\): mean ", out, re.M), out
    assert re.search(r"^param 0.weight \(128, 64\): grad:data ", out, re.M), out
    written = tmp_path / "runs" / ("diagnostics.png" if HAS_MATPLOTLIB else "diagnostics.txt")
    assert written.is_file() and f"saved {Path('runs') / written.name}" in out


@pytest.mark.parametrize("model", ["mlp", "bn"])
def test_makemore_diagnose(tmp_path, model):
    rng = np.random.default_rng(0)
    names = ["".join(rng.choice(list("abcdefgh"), int(rng.integers(3, 7)))) for _ in range(60)]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    out = run_example("makemore.py", "--fast", "--model", model, "--steps", "20", "--data",
                      "names.txt", "--device", "cpu", "--diagnose", cwd=tmp_path)
    assert re.search(r"^layer \d+ \(Tanh\): mean .* saturated \d+\.\d\d%", out, re.M), out
    name = f"diagnostics-{model}." + ("png" if HAS_MATPLOTLIB else "txt")
    assert (tmp_path / "runs" / name).is_file()


def test_makemore_diagnose_refuses_the_bigram(tmp_path, capsys):
    """A setup error, as the examples' others: one `error:` line, exit status 2."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location("example_makemore_diag",
                                                      EXAMPLES / "makemore.py")
        makemore = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(makemore)
        with pytest.raises(SystemExit) as info:
            makemore.main(["--model", "bigram", "--diagnose", "--data",
                           str(tmp_path / "missing.txt"), "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(EXAMPLES))
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: --diagnose") and "--model mlp, bn or wavenet" in err[0]
