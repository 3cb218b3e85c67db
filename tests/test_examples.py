"""Every example runs (in a fast mode) so none can rot; train_mlp's checkpoint reloads exactly.

The scripts run in a subprocess with a temporary working directory, as a user runs them;
the checkpoint test imports train_mlp.py from its path and calls it in-process.
"""

import gzip
import hashlib
import importlib.util
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:  # the scripts import their shared helpers, examples/_cli.py
    sys.path.insert(0, str(EXAMPLES))


def has(module):
    return importlib.util.find_spec(module) is not None


needs_sklearn = pytest.mark.skipif(
    not has("sklearn"), reason='scikit-learn is missing: pip install "gradkit[examples]"')
needs_matplotlib = pytest.mark.skipif(
    not has("matplotlib"), reason='matplotlib is missing: pip install "gradkit[examples]"')


def run(script, *args, cwd):
    """Run examples/<script> with this interpreter; returns its stdout, failing on rc != 0."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def setup_error(capsys, main, argv):
    """Call an example's main in-process; it must stop with one `error:` line on stderr and
    exit status 2. Returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def load_example(name):
    """An example script imported as a module (it runs nothing on import)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_fake_mnist(directory, n_train=64, n_test=32, seed=0):
    """Small MNIST-shaped IDX files (gzip, standard names); returns {name: md5}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, a in arrays.items():
        header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
        data = gzip.compress(header + a.tobytes())
        (directory / name).write_bytes(data)
        checksums[name] = hashlib.md5(data).hexdigest()
    return checksums


# ---- train_mlp.py -------------------------------------------------------------------------
@needs_sklearn
def test_train_mlp_fast(tmp_path):
    out = run("train_mlp.py", "--fast", "--device", "cpu", "--out", "ckpt", cwd=tmp_path)
    assert "device: cpu" in out
    assert re.search(r"epoch +3 +loss \d+\.\d+ +test accuracy \d+\.\d+%", out)
    accuracy = float(re.search(r"final test accuracy: (\d+\.\d+)%", out).group(1))
    assert accuracy > 50.0  # two epochs on a small model: well above chance (10%)
    assert "identical predictions: True" in out
    for name in ("mlp.safetensors", "optimizer.safetensors", "config.json"):
        assert (tmp_path / "ckpt" / name).stat().st_size > 0
    if has("matplotlib"):
        assert (tmp_path / "ckpt" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in out


def test_train_mlp_reads_mnist_idx_files(tmp_path):
    write_fake_mnist(tmp_path / "mnist")
    out = run("train_mlp.py", "--fast", "--data", "mnist", "--out", "runs", cwd=tmp_path)
    assert "data: 64 training and 32 test examples, 784 features, 10 classes" in out
    assert "final test accuracy:" in out and (tmp_path / "runs" / "mlp.safetensors").exists()


def test_train_mlp_downloads_into_an_empty_directory(tmp_path, monkeypatch):
    """An empty --data directory is filled from the mirrors (here a local file:// one)."""
    mirror = tmp_path / "mirror"
    checksums = write_fake_mnist(mirror)
    monkeypatch.setattr(gk.datasets, "MNIST_FILES", checksums)
    monkeypatch.setattr(gk.datasets, "MNIST_MIRRORS", [mirror.as_uri() + "/"])
    (tmp_path / "empty").mkdir()
    result = load_example("train_mlp").main(
        ["--fast", "--device", "cpu", "--data", str(tmp_path / "empty"),
         "--out", str(tmp_path / "runs")])
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == sorted(checksums)
    assert result["config"]["in_features"] == 784


@needs_sklearn
def test_train_mlp_checkpoint_reloads_identically(device, tmp_path):
    """Trained, saved and loaded on each backend: the same predictions, bit for bit."""
    train_mlp = load_example("train_mlp")
    result = train_mlp.main(["--fast", "--device", device, "--out", str(tmp_path)])
    assert result["device"] == gk.get_backend(device).device
    assert result["identical"]
    model, x_test = result["model"], result["x_test"]
    model.eval()
    with gk.no_grad():
        expected = model(x_test).numpy()

    fresh = train_mlp.build_model(**result["config"], device=device)
    fresh.load_state_dict(gk.load(result["checkpoint"], device=device))
    fresh.eval()
    with gk.no_grad():
        assert np.array_equal(fresh(x_test).numpy(), expected)

    # The same file loads on the CPU, too, and predicts the same classes there.
    on_cpu = train_mlp.build_model(**result["config"])
    on_cpu.load_state_dict(gk.load(result["checkpoint"], device="cpu"))
    on_cpu.eval()
    with gk.no_grad():
        logits = on_cpu(gk.tensor(x_test.numpy())).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_train_mlp_rejects_an_unusable_device(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_mlp.py"), "--fast",
                           "--device", "nonsense:3"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "nonsense" in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: --device nonsense:3")
    assert "Traceback" not in proc.stderr  # a one-line error, not a crash


# ---- moons.py -------------------------------------------------------------------------------
@needs_sklearn
def test_moons_fast(tmp_path):
    out = run("moons.py", "--fast", "--out", "plots", cwd=tmp_path)
    assert re.search(r"device: \S+", out)
    assert re.search(r"final training accuracy: \d+%", out)
    if has("matplotlib"):
        assert (tmp_path / "plots" / "moons.png").read_bytes()[:4] == b"\x89PNG"


@needs_sklearn
def test_moons_reaches_full_training_accuracy(tmp_path):
    """micrograd's claim, kept: 100 SGD steps separate all 100 points."""
    accuracy = load_example("moons").main(["--device", "cpu", "--out", str(tmp_path)])
    assert accuracy == 1.0


# ---- computation_graph.py ------------------------------------------------------------------
def test_computation_graph(tmp_path):
    out = run("computation_graph.py", "--out", "graphs", cwd=tmp_path)
    dot = (tmp_path / "graphs" / "graph.dot").read_text()
    assert dot.startswith("digraph")
    assert "o | data 0.7071 | grad 1.0000" in dot and "x1 | data 2.0000 | grad -1.5000" in dot
    if shutil.which("dot"):
        assert (tmp_path / "graphs" / "graph.svg").exists()
    else:
        assert "graphviz is not installed" in out


def test_engine_overhead_runs(tmp_path):
    out = run("engine_overhead.py", "--ops", "20", "--repeats", "2", cwd=tmp_path)
    lines = [line for line in out.splitlines() if "us/op" in line]
    assert len(lines) == 2 and all("ratio" in line for line in lines)


def test_compiled_profile_times_each_recorded_call(tmp_path):
    out = run("compiled_profile.py", "tiny", "--steps", "3", "--top", "4", cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("tiny: compiled step") and "recorded calls" in lines[0]
    groups = [line for line in lines[1:] if " calls " in line]
    assert 1 <= len(groups) <= 4 and any("matmul" in line for line in groups)
    assert lines[-1].startswith("matrix products: 8, NumPy")  # 3 forward, 5 backward


def test_compiled_profile_refuses_an_unknown_config(tmp_path):
    proc = run_failing("compiled_profile.py", "huge", cwd=tmp_path)
    assert "unknown config 'huge'" in proc.stderr


# ---- makemore.py ----------------------------------------------------------------------------
def write_names(path, n=400, seed=0):
    """Names with structure: all 26 letters, but each letter is followed by one of two
    (c+1 or c+7), so a model that learns anything beats the uniform guess ln(27)."""
    rng = np.random.default_rng(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = []
    for _ in range(n):
        c = int(rng.integers(26))
        name = letters[c]
        for _ in range(int(rng.integers(2, 7))):
            c = (c + int(rng.choice([1, 7]))) % 26
            name += letters[c]
        names.append(name)
    path.write_text("\n".join(names) + "\n")
    return path


@pytest.mark.parametrize("model", ["bigram", "mlp", "bn", "wavenet"])
def test_makemore_fast(tmp_path, model):
    write_names(tmp_path / "names.txt")
    out = run("makemore.py", "--fast", "--model", model, "--data", "names.txt",
              "--device", "cpu", cwd=tmp_path)
    assert "data: 400 names, vocab_size 27:" in out
    assert f"model: {model}," in out
    train = float(re.search(r"^train loss (\S+)$", out, re.M).group(1))
    dev = float(re.search(r"^dev loss (\S+)$", out, re.M).group(1))
    assert np.isfinite(train) and np.isfinite(dev)
    assert dev < np.log(27)  # below the uniform guess, 3.30
    samples = out.split("samples:\n")[1].splitlines()
    assert len(samples) == 10 and all(re.fullmatch(r"  [a-z]*\.?", s) for s in samples)


def test_makemore_runs_on_strict(tmp_path):
    """array-api-strict refuses hidden host round-trips: the loop has none."""
    write_names(tmp_path / "names.txt", n=50)
    out = run("makemore.py", "--model", "wavenet", "--fast", "--steps", "20", "--data",
              "names.txt", "--device", "strict", cwd=tmp_path)
    assert "device strict" in out and "dev loss" in out


@pytest.mark.parametrize("model", ["bn", "wavenet"])
def test_makemore_compiled_equals_eager(tmp_path, model):
    """--compile: the same losses and samples as the eager run, printed to the digit."""
    write_names(tmp_path / "names.txt")
    outs = [run("makemore.py", "--fast", "--steps", "60", "--model", model, "--data",
                "names.txt", "--device", "cpu", "--out", name, *flags, cwd=tmp_path)
            for name, flags in (("eager", []), ("compiled", ["--compile"]))]
    lines = [[line for line in out.splitlines() if ("loss" in line or line.islower())
              and "checkpoint" not in line and "ms/step" not in line]
             for out in outs]
    assert lines[0] == lines[1] and len(lines[0]) > 5


def test_makemore_explicit_flags_win_over_fast():
    args = load_example("makemore").parse_args(["--fast", "--model", "bn", "--steps", "7",
                                                "--lr", "0.5"])
    assert (args.steps, args.lr, args.n_hidden) == (7, 0.5, 32)  # 32: --fast's width


class FakeURL:
    """Stands in for the network (gradkit.datasets._open, which opens a URL): serves
    `content`, records what was asked."""

    def __init__(self, content=b"", error=None):
        self.content, self.error, self.requests = content, error, []

    def __call__(self, url, watch=None):
        self.requests.append(url)
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.content)


def test_makemore_downloads_names_once_and_verifies_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its checkpoint goes to runs/
    makemore = load_example("makemore")
    content = write_names(tmp_path / "served.txt", n=60).read_bytes()
    fake = FakeURL(content)
    monkeypatch.setattr(gk.datasets, "_open", fake)
    monkeypatch.setattr(makemore, "NAMES_SHA256", hashlib.sha256(content).hexdigest())
    argv = ["--fast", "--model", "bigram", "--steps", "5", "--device", "cpu",
            "--cache", str(tmp_path / "cache")]
    makemore.main(argv)
    assert fake.requests == [makemore.NAMES_URL]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["names.txt"]
    assert (tmp_path / "cache" / "names.txt").read_bytes() == content
    makemore.main(argv)  # the cached file has the right checksum: no second download
    assert len(fake.requests) == 1


def test_makemore_rejects_a_bad_checksum(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    makemore = load_example("makemore")
    assert makemore.NAMES_URL == "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
    assert makemore.NAMES_SHA256 == (
        "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d")
    monkeypatch.setattr(gk.datasets, "_open", FakeURL(b"not\nthe\nnames\n"))
    message = setup_error(capsys, makemore.main,
                          ["--fast", "--device", "cpu", "--cache", str(tmp_path / "cache")])
    assert message.startswith("error: could not download")
    assert "checksum mismatch" in message and makemore.NAMES_SHA256 in message
    assert "--data" in message
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written


def test_makemore_offline_says_to_pass_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    makemore = load_example("makemore")
    offline = FakeURL(error=urllib.error.URLError("[Errno -3] Temporary failure in name "
                                                  "resolution"))
    monkeypatch.setattr(gk.datasets, "_open", offline)
    message = setup_error(capsys, makemore.main,
                          ["--fast", "--device", "cpu", "--cache", str(tmp_path / "cache")])
    assert "name resolution" in message and "pass --data FILE" in message


def both_losses(model, torch_model, x, y):
    """gradkit's and torch's cross_entropy of the two models on the same batch, checked equal."""
    import torch

    loss = gk.nn.functional.cross_entropy(model(gk.tensor(x)), gk.tensor(y))
    torch_loss = torch.nn.functional.cross_entropy(torch_model(torch.tensor(x)),
                                                   torch.tensor(y))
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-5)
    return loss, torch_loss


def test_makemore_models_are_pytorch_models():
    """The same source with `import torch` builds the same models: the same state_dict
    keys and shapes, and with the same weights the same losses and gradients in train
    mode (batch statistics), then the same losses in eval mode (running statistics)."""
    torch = pytest.importorskip("torch")
    source = (EXAMPLES / "makemore.py").read_text()
    for ours, theirs in [
        ("import gradkit as gk", "import torch as gk"),
        ("import gradkit.nn.functional as F", "import torch.nn.functional as F"),
        ("from gradkit import datasets, nn, optim", "from torch import nn, optim"),
    ]:
        assert ours in source
        source = source.replace(ours, theirs)
    torch_makemore = {"__name__": "makemore_on_torch"}
    exec(compile(source, "makemore_on_torch", "exec"), torch_makemore)
    makemore = load_example("makemore")
    x = np.random.default_rng(0).integers(0, 27, (32, 8))
    y = np.random.default_rng(1).integers(0, 27, 32)
    for name, c in makemore.CONFIGS.items():
        sizes = (name, 27, c["block_size"], c["n_embd"], c["n_hidden"])
        model, torch_model = makemore.build_model(*sizes), torch_makemore["build_model"](*sizes)
        state = model.state_dict()
        assert [(k, tuple(v.shape)) for k, v in state.items()] == [
            (k, tuple(v.shape)) for k, v in torch_model.state_dict().items()]
        torch_model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in state.items()})
        xb = x[:, -c["block_size"]:]
        loss, torch_loss = both_losses(model, torch_model, xb, y)  # train mode
        loss.backward()
        torch_loss.backward()
        for (k, p), tp in zip(model.named_parameters(), torch_model.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=1e-5,
                                       err_msg=f"{name}: {k}")
        model.eval()
        torch_model.eval()
        both_losses(model, torch_model, xb, y)  # eval mode, after one update of the stats

# ---- gpt.py ---------------------------------------------------------------------------------
def write_text(path, n_words=2000, seed=0):
    """A small learnable text: random words of a small vocabulary, in short lines."""
    rng = np.random.default_rng(seed)
    words = rng.choice(["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "off"],
                       n_words)
    lines = [" ".join(words[i:i + 8]) for i in range(0, n_words, 8)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gpt_fast(tmp_path):
    write_text(tmp_path / "words.txt")
    out = run("gpt.py", "--fast", "--device", "cpu", "--data", "words.txt", "--dropout", "0.1",
              cwd=tmp_path)
    assert "2 layers, 2 heads, n_embd 32, block 16, batch 8, dropout 0.1" in out  # flags win
    evals = re.findall(r"gradkit step +(\d+): train loss (\S+), val loss (\S+)", out)
    assert [int(step) for step, _, _ in evals] == [0, 20, 40, 60]
    first, final = float(evals[0][2]), float(re.search(r"final train loss \S+, val loss (\S+),",
                                                       out).group(1))
    assert np.isfinite(final) and final < first - 0.3, out
    assert re.search(r"\d+\.\d ms/step", out)
    sample = out.split("sample:\n", 1)[1]
    assert len(sample) > 50 and set(sample.strip()) <= set("thecasonmdgrf \n")


def small_gpt(gpt, fused=True, **kwargs):
    config = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    return gpt.GPT(**{**config, **kwargs}, fused=fused)


def test_gpt_compiled_equals_eager(tmp_path):
    """--compile (with dropout, clipping, AdamW and the schedule): the same losses and
    sample as the eager run."""
    write_text(tmp_path / "words.txt")
    outs = [run("gpt.py", "--fast", "--steps", "40", "--device", "cpu", "--data", "words.txt",
                "--dropout", "0.1", "--out", name, *flags, cwd=tmp_path)
            for name, flags in (("eager", []), ("compiled", ["--compile"]))]
    kept = [[line for line in out.splitlines()
             if "ms/step" not in line and "checkpoint" not in line] for out in outs]
    assert kept[0] == kept[1]
    assert any("step    40" in line for line in kept[0])


def test_gpt_generate_is_cropped_seeded_and_reproducible(device):
    gpt = load_example("gpt")
    model = small_gpt(gpt).to(device)
    model.eval()
    context = gk.zeros((2, 3), dtype=gk.long, device=device)

    def sample(seed, **kwargs):
        generator = gk.Generator(device=device).manual_seed(seed)
        return model.generate(context, 20, generator=generator, **kwargs).numpy()

    out = sample(5)  # 23 tokens: more than block_size (8), so the context must be cropped
    assert out.shape == (2, 23) and out.dtype == np.int64
    assert (out[:, :3] == 0).all() and ((0 <= out) & (out < 11)).all()
    np.testing.assert_array_equal(out, sample(5))  # the same seed, the same text
    assert not np.array_equal(out, sample(6))
    assert np.array_equal(sample(5, top_k=3, temperature=0.5), sample(5, top_k=3, temperature=0.5))

    # top_k=1 is greedy, whatever the seed; each token is the argmax of the logits at the
    # last position, given only the last block_size tokens
    greedy = sample(1, top_k=1)
    np.testing.assert_array_equal(greedy, sample(2, top_k=1))
    with gk.no_grad():
        window = gk.tensor(greedy[:, -9:-1], device=device)
        logits, _ = model(window)
    np.testing.assert_array_equal(logits[:, -1, :].argmax(-1).numpy(), greedy[:, -1])


@pytest.mark.parametrize("fused", [True, False], ids=["sdpa", "masked_fill"])
def test_gpt_matches_pytorch(device, fused):
    """The same weights give PyTorch's loss and gradients (one backward, no dropout)."""
    torch = pytest.importorskip("torch")
    gpt = load_example("gpt")
    model = small_gpt(gpt, fused)
    twin = gpt.copy_to_torch(model, gpt.define_gpt(torch)(**dict(
        vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0), fused=fused))
    model.to(device)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 11, (4, 8)), rng.integers(0, 11, (4, 8))

    _, loss = model(gk.tensor(x, device=device), gk.tensor(y, device=device))
    loss.backward()
    _, expected = twin(torch.tensor(x), torch.tensor(y))
    expected.backward()

    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    grads = {name: p.grad for name, p in twin.named_parameters()}
    names = [name for name, _ in model.named_parameters()]
    assert names == list(grads)  # the tied embedding / lm_head weight appears once
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_gpt_downloads_tiny_shakespeare_once(tmp_path, monkeypatch, capsys):
    """The default data is downloaded into the cache, checked against its SHA-256; a bad
    or failed download ends with a one-line error that points to --data, and leaves no file."""
    gpt = load_example("gpt")
    monkeypatch.chdir(tmp_path)  # its checkpoint goes to runs/
    source = write_text(tmp_path / "served.txt")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", source.as_uri())
    fast = ["--fast", "--device", "cpu", "--steps", "2", "--eval-iters", "1",
            "--max-new-tokens", "5"]

    message = setup_error(capsys, gpt.main, fast)  # the real checksum does not match this text
    assert "checksum" in message and "--data" in message
    assert list((tmp_path / "cache" / "gradkit").iterdir()) == []

    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", (tmp_path / "missing.txt").as_uri())
    assert re.match(r"^error: could not download .*--data FILE", setup_error(capsys, gpt.main,
                                                                              fast))

    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", source.as_uri())
    monkeypatch.setattr(gpt, "SHAKESPEARE_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    result = gpt.main(fast)
    cached = tmp_path / "cache" / "gradkit" / "tinyshakespeare.txt"
    assert cached.read_bytes() == source.read_bytes() and np.isfinite(result["val_loss"])
    source.unlink()  # the cached copy is used from now on
    assert np.isfinite(gpt.main(fast)["val_loss"])


# ---- setup errors, --fast, Ctrl-C and --resume (all scripts) --------------------------------
def run_failing(script, *args, cwd, status=2):
    """Run examples/<script>, which must fail with `status` and one stderr line, no traceback."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == status, f"{script}:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
        proc.stderr
    return proc


TRAINING_SCRIPTS = ["train_mlp.py", "moons.py", "makemore.py", "gpt.py"]


@pytest.mark.parametrize("script", [*TRAINING_SCRIPTS, "computation_graph.py"])
def test_unwritable_out_fails_before_training(tmp_path, script):
    (tmp_path / "a_file").write_text("not a directory\n")
    for out in ("a_file", "a_file/sub"):
        proc = run_failing(script, "--device", "cpu", "--out", out, cwd=tmp_path)
        assert proc.stderr.startswith(f"error: --out {out}") and "--out DIR" in proc.stderr
        assert not re.search(r"^(epoch|step|data:)", proc.stdout, re.M)  # nothing ran


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_read_only_out_fails_before_training(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    proc = run_failing("moons.py", "--device", "cpu", "--out", "ro", cwd=tmp_path)
    assert "cannot write there" in proc.stderr


def test_data_under_a_missing_parent_is_not_created(tmp_path, capsys):
    train_mlp = load_example("train_mlp")
    message = setup_error(capsys, train_mlp.main, ["--data", str(tmp_path / "typo" / "mnist"),
                                                   "--out", str(tmp_path / "runs")])
    assert "neither it nor its parent" in message and not (tmp_path / "typo").exists()
    (tmp_path / "a_file").write_text("")
    message = setup_error(capsys, train_mlp.main, ["--data", str(tmp_path / "a_file"),
                                                   "--out", str(tmp_path / "runs")])
    assert "is a file" in message
    message = setup_error(capsys, load_example("makemore").main,
                          ["--cache", str(tmp_path / "typo" / "cache"), "--device", "cpu",
                           "--out", str(tmp_path / "runs")])
    assert message.startswith("error: --cache") and not (tmp_path / "typo").exists()
    for script in ("makemore", "gpt"):
        message = setup_error(capsys, load_example(script).main,
                              ["--data", str(tmp_path), "--out", str(tmp_path / "runs")])
        assert "is a directory" in message and "--data FILE" in message


def test_data_directory_is_created_when_its_parent_exists(tmp_path, monkeypatch, capsys):
    """A missing --data directory with an existing parent is made; a failed download then
    says how to use an offline copy."""
    monkeypatch.setattr(gk.datasets, "MNIST_MIRRORS", [(tmp_path / "nowhere").as_uri() + "/"])
    message = setup_error(capsys, load_example("train_mlp").main,
                          ["--data", str(tmp_path / "mnist"), "--out", str(tmp_path / "runs")])
    assert (tmp_path / "mnist").is_dir() and message.startswith("error: could not download")
    assert "put the four files" in message and "leave out --data" in message


def test_fast_defaults_yield_to_explicit_options(tmp_path, capsys):
    args = load_example("train_mlp").parse_args(["--fast", "--epochs", "5", "--limit", "100"])
    assert (args.epochs, args.hidden, args.limit) == (5, 128, 100)  # 128: --fast's width
    assert load_example("train_mlp").parse_args([]).epochs == 40
    args = load_example("gpt").parse_args(["--fast", "--steps", "7", "--n-embd", "16"])
    assert (args.steps, args.n_embd, args.n_layer) == (7, 16, 2)
    write_fake_mnist(tmp_path / "mnist")
    out = run("train_mlp.py", "--fast", "--epochs", "1", "--data", "mnist", cwd=tmp_path)
    assert re.findall(r"^epoch +(\d+)", out, re.M) == ["1"]
    load_example("moons").main(["--fast", "--steps", "3", "--device", "cpu", "--out",
                                str(tmp_path / "runs")])
    assert re.findall(r"^step +(\d+)", capsys.readouterr().out, re.M) == ["0", "2"]


@pytest.mark.parametrize("script,argv", [
    ("train_mlp", ["--epochs", "0"]), ("train_mlp", ["--batch-size", "0"]),
    ("train_mlp", ["--hidden", "-1"]), ("train_mlp", ["--fast", "--limit", "0"]),
    ("makemore", ["--steps", "0"]), ("makemore", ["--batch-size", "0"]),
    ("makemore", ["--checkpoint-every", "0"]), ("gpt", ["--steps", "0"]),
    ("gpt", ["--n-head", "0"]), ("gpt", ["--eval-iters", "0"]), ("moons", ["--steps", "0"]),
    ("engine_overhead", ["--ops", "0"]), ("engine_overhead", ["--repeats", "0"]),
    ("compiled_profile", ["tiny", "--steps", "0"]),
    ("benchmark", ["--smoke", "--rounds", "0"]), ("benchmark", ["--steps", "0"]),
    ("benchmark", ["--threads", "0"]),
])
def test_counts_below_one_are_rejected(script, argv, capsys):
    module = load_example(script)
    with pytest.raises(SystemExit) as info:
        getattr(module, "parse_args", module.main)(argv)
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.skipif(gk.is_available("cuda:63"), reason="a machine with 64 GPUs")
@pytest.mark.parametrize("script", [*TRAINING_SCRIPTS, "computation_graph.py"])
def test_an_unusable_cuda_device_names_the_extra_and_the_selfcheck(tmp_path, script, capsys):
    argv = ["--device", "cuda:63", "--out", str(tmp_path / "runs")]
    message = setup_error(capsys, load_example(script.removesuffix(".py")).main, argv)
    assert message.startswith("error: --device cuda:63")
    assert 'pip install "gradkit[cuda12]" or "gradkit[cuda13]"' in message
    assert "python -m gradkit.selfcheck" in message


def test_computation_graph_bad_device_is_one_line(tmp_path):
    proc = run_failing("computation_graph.py", "--device", "tpu", cwd=tmp_path)
    assert proc.stderr.startswith("error: --device tpu: unknown device")
    assert not (tmp_path / "runs").exists()


def test_benchmark_setup_errors_are_one_line(tmp_path):
    proc = run_failing("benchmark.py", "--smoke", "--json", "missing/out.json", cwd=tmp_path)
    assert proc.stderr.startswith("error: --json missing/out.json")
    proc = run_failing("benchmark.py", "--smoke", "--device", "cuda:63", cwd=tmp_path)
    assert "gradkit[cuda12]" in proc.stderr and "gradkit.selfcheck" in proc.stderr


CHAINER_VENV = os.environ.get("GRADKIT_CHAINER_VENV")


@pytest.mark.skipif(not CHAINER_VENV, reason="the Chainer column needs a virtual environment "
                    "with Chainer 7.8: set GRADKIT_CHAINER_VENV to it (docs/performance.md)")
def test_benchmark_chainer_column_agrees_with_the_floor(tmp_path):
    """--chainer-venv: Chainer's MLP (MSE and cross-entropy) runs in that venv's Python,
    from the same weights and data, so its losses agree with the NumPy floor's."""
    out = run("benchmark.py", "--smoke", "--configs", "tiny,small", "--impls", "numpy",
              "--chainer-venv", CHAINER_VENV, cwd=tmp_path)
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "config":
            rows[cells[0], cells[1]] = cells
    for config in ("tiny", "small"):
        chainer = rows[config, "chainer"]  # ms/step, /floor, /torch, /chainer, ..., rel.diff
        assert float(chainer[2]) > 0 and chainer[5] == "1.00", out
        assert float(chainer[-1]) <= 1e-4, out
        assert rows[config, "numpy"][-1] == "ref", out
    assert re.search(r"^BLAS chainer: chainer 7\.8\.\d+, numpy 1\.\S+: ", out, re.M), out
    assert "LOSS MISMATCH" not in out and "ERROR" not in out, out


def test_benchmark_bad_chainer_venv_is_one_clear_line(tmp_path, capsys):
    missing = tmp_path / "no-such-venv"
    proc = run_failing("benchmark.py", "--smoke", "--chainer-venv", missing, cwd=tmp_path)
    assert proc.stderr.startswith(f"error: --chainer-venv {missing}: no such directory; "
                                  f"build one with: python3.11 -m venv {missing}"), proc.stderr
    proc = run_failing("benchmark.py", "--smoke", "--chainer-venv", tmp_path, cwd=tmp_path)
    assert proc.stderr.startswith(f"error: --chainer-venv {tmp_path}: not a virtual "
                                  "environment (no bin/python in it)"), proc.stderr
    if not has("chainer"):  # this Python, given directly, has no Chainer
        proc = run_failing("benchmark.py", "--smoke", "--chainer-venv", sys.executable,
                           cwd=tmp_path)
        assert "cannot import Chainer and NumPy (ModuleNotFoundError: No module named " \
               "'chainer')" in proc.stderr, proc.stderr
    with pytest.raises(SystemExit) as info:  # the column without a venv to run it
        load_example("benchmark").parse_args(["--impls", "numpy,chainer"])
    assert info.value.code == 2
    assert "--impls chainer needs --chainer-venv PATH" in capsys.readouterr().err


def _state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)


def test_train_mlp_ctrl_c_checkpoints_and_resume_gives_the_same_run(tmp_path):
    """SIGINT during training: one line, exit status 130, a checkpoint; --resume from it
    ends with the same weights and history as an uninterrupted run (deterministic CPU)."""
    write_fake_mnist(tmp_path / "mnist")
    argv = [sys.executable, str(EXAMPLES / "train_mlp.py"), "--data", "mnist", "--device",
            "cpu", "--hidden", "8", "--batch-size", "16", "--epochs", "40"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*argv, "--out", "stopped"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if line.startswith("epoch   3"):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    checkpoint = tmp_path / "stopped" / "checkpoint.safetensors"
    assert proc.returncode == 130, err
    match = re.fullmatch(r"interrupted after epoch (\d+); checkpoint at (\S+) \(continue "
                         r"with --resume \S+\)\n", err)
    assert match and Path(tmp_path / match.group(2)) == checkpoint, err
    stopped_at = int(match.group(1))  # 2 if the signal came while epoch 3 was being saved
    assert 2 <= stopped_at < 40 and gk.load(checkpoint)["progress"]["done"] == stopped_at
    assert not (tmp_path / "stopped" / "mlp.safetensors").exists()

    resumed = subprocess.run([sys.executable, str(EXAMPLES / "train_mlp.py"), "--resume",
                              str(checkpoint), "--out", "stopped"], cwd=tmp_path, text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {checkpoint} after epoch {stopped_at}" in resumed.stdout
    assert re.search(rf"^epoch +{stopped_at + 1} ", resumed.stdout, re.M)
    whole = subprocess.run([*argv, "--out", "whole"], cwd=tmp_path, text=True,
                           capture_output=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    final = re.compile(r"final test accuracy: (\S+)%")
    assert final.search(resumed.stdout).group(1) == final.search(whole.stdout).group(1)
    _state_equal(gk.load(tmp_path / "stopped" / "mlp.safetensors"),
                 gk.load(tmp_path / "whole" / "mlp.safetensors"))
    a, b = (gk.load(tmp_path / d / "checkpoint.safetensors") for d in ("stopped", "whole"))
    assert a["history"] == b["history"] and len(a["history"]["loss"]) == 40


def test_resume_refuses_a_changed_option(tmp_path, capsys):
    write_fake_mnist(tmp_path / "mnist")
    train_mlp = load_example("train_mlp")
    common = ["--out", str(tmp_path / "runs"), "--device", "cpu"]
    train_mlp.main(["--data", str(tmp_path / "mnist"), "--hidden", "8", "--epochs", "1",
                    *common])
    checkpoint = str(tmp_path / "runs" / "checkpoint.safetensors")
    message = setup_error(capsys, train_mlp.main, ["--resume", checkpoint, "--hidden", "9",
                                                   *common])
    assert "--hidden 9 (the checkpoint has 8)" in message
    message = setup_error(capsys, train_mlp.main, ["--resume", str(tmp_path / "mnist" /
                                                    "t10k-labels-idx1-ubyte.gz"), *common])
    assert message.startswith("error: --resume")


class InterruptAfter:
    """Wraps a function; its call number `n` raises KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self, fn, n):
        self.fn, self.n, self.calls = fn, n, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.fn(*args, **kwargs)


def interrupted_then_resumed(main, argv, monkeypatch, target, name, n, capsys):
    """Run main(argv) with Ctrl-C at the n-th call of target.name, then --resume it with the
    options from --device on (those that do not define the run)."""
    with monkeypatch.context() as m:
        m.setattr(target, name, InterruptAfter(getattr(target, name), n))
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 130, err
    match = re.fullmatch(r"interrupted after step (\d+); checkpoint at (\S+) \(continue with "
                         r"--resume \S+\)\n", err)
    assert match, err
    return main(["--resume", match.group(2), *argv[argv.index("--device"):]]), \
        int(match.group(1))


def test_makemore_resume_continues_to_the_same_model(tmp_path, monkeypatch, capsys):
    write_names(tmp_path / "names.txt", n=100)
    makemore = load_example("makemore")
    argv = ["--fast", "--model", "bn", "--steps", "30", "--checkpoint-every", "10", "--data",
            str(tmp_path / "names.txt"), "--device", "cpu", "--out", str(tmp_path / "a")]
    resumed, step = interrupted_then_resumed(makemore.main, argv, monkeypatch, gk, "randint",
                                             25, capsys)
    assert step == 20
    whole = makemore.main(argv[:-1] + [str(tmp_path / "b")])
    _state_equal(resumed.state_dict(), whole.state_dict())  # BatchNorm's statistics too


def test_gpt_resume_continues_to_the_same_result(tmp_path, monkeypatch, capsys):
    gpt = load_example("gpt")
    write_text(tmp_path / "words.txt", n_words=400)
    argv = ["--fast", "--steps", "12", "--eval-interval", "4", "--eval-iters", "1",
            "--checkpoint-every", "4", "--batch-size", "4", "--block-size", "8", "--n-embd",
            "16", "--data", str(tmp_path / "words.txt"), "--device", "cpu",
            "--max-new-tokens", "20", "--out", str(tmp_path / "a")]
    # get_batch's calls: 2 per evaluation (train, val), 1 per step; the 15th is step 8's
    # batch, drawn after step 8's checkpoint and evaluation
    resumed, step = interrupted_then_resumed(gpt.main, argv, monkeypatch, gpt, "get_batch",
                                             15, capsys)
    assert step == 8
    whole = gpt.main(argv[:-1] + [str(tmp_path / "b")])
    assert resumed["history"] == whole["history"] and resumed["sample"] == whole["sample"]


@needs_sklearn
def test_train_mlp_distributed_matches_one_process_with_the_global_batch(tmp_path):
    """mpiexec -n 2 with batch 32 per process takes the steps of one process with batch
    64 (same shuffled batches): the same losses and test accuracy. Rank 0 alone prints
    and writes the files."""
    from test_distributed import _mpiexec

    mpiexec = _mpiexec()  # skips without mpi4py / mpiexec
    common = ["--fast", "--dropout", "0", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    single = run("train_mlp.py", *common, "--batch-size", "64", "--out", "one", cwd=tmp_path)
    proc = subprocess.run([*mpiexec, "-n", "2", sys.executable, str(EXAMPLES / "train_mlp.py"),
                           *common, "--batch-size", "32", "--distributed", "--out", "two"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 processes (global batch 64)" in proc.stdout
    assert proc.stdout.count("final test accuracy") == 1  # rank 0 only
    epochs = re.findall(r"epoch +\d+ +loss (\d+\.\d+) +test accuracy (\d+\.\d+)%", single)
    assert re.findall(r"epoch +\d+ +loss (\d+\.\d+) +test accuracy (\d+\.\d+)%",
                      proc.stdout) == epochs and len(epochs) == 3
    assert "identical predictions: True" in proc.stdout
    assert (tmp_path / "two" / "checkpoint.safetensors").stat().st_size > 0


def test_train_mlp_distributed_failure_on_one_rank_ends_the_job(tmp_path):
    """A setup error (exit status 2) on every rank ends the job at once, one line each."""
    from test_distributed import _mpiexec

    mpiexec = _mpiexec()
    (tmp_path / "file").write_text("not a directory")
    proc = subprocess.run([*mpiexec, "-n", "2", sys.executable, str(EXAMPLES / "train_mlp.py"),
                           "--fast", "--distributed", "--out", "file/sub"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "error: --out" in proc.stderr


def test_distributed_benchmark_smoke(tmp_path):
    from test_distributed import _mpiexec

    _mpiexec()  # skips without mpi4py / mpiexec
    out = run("distributed_benchmark.py", "--ranks", "1,2", "--batch", "8", "--steps", "2",
              "--warmup", "1", cwd=tmp_path)
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "ms" not in ln]
    assert [r.split(" | ")[0] for r in rows][-2:] == ["| 2 ranks", "| 2 ranks"]
    assert rows[-2].split(" | ")[4] == "1" and rows[-1].split(" | ")[4] == "6"  # calls/step


def test_train_mlp_compiled_equals_eager(tmp_path):
    """--compile replays the recorded step: the same losses, accuracies and weights, bit
    for bit (dropout's draws included)."""
    train_mlp = load_example("train_mlp")
    runs = [train_mlp.main(["--fast", "--epochs", "2", "--device", "cpu",
                            "--out", str(tmp_path / name)] + flags)
            for name, flags in (("eager", []), ("compiled", ["--compile"]))]
    assert runs[0]["history"] == runs[1]["history"]
    for a, b in zip(runs[0]["model"].parameters(), runs[1]["model"].parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_train_mlp_compile_refuses_diagnose():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_mlp.py"), "--compile",
                           "--diagnose"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --compile")
