"""Every example runs (in a fast mode) so none can rot; train_mlp's checkpoint reloads exactly.

The scripts run in a subprocess with a temporary working directory, as a user runs them;
the checkpoint test imports train_mlp.py from its path and calls it in-process.
"""

import gzip
import hashlib
import importlib.util
import io
import re
import shutil
import struct
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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


def load_example(name):
    """An example script imported as a module (it runs nothing on import)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
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
    assert proc.returncode != 0 and "nonsense" in proc.stderr
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


def test_makemore_explicit_flags_win_over_fast():
    args = load_example("makemore").parse_args(["--fast", "--model", "bn", "--steps", "7",
                                                "--lr", "0.5"])
    assert (args.steps, args.lr, args.n_hidden) == (7, 0.5, 32)  # 32: --fast's width


class FakeURL:
    """Stands in for urllib.request.urlopen: serves `content`, records what was asked."""

    def __init__(self, content=b"", error=None):
        self.content, self.error, self.requests = content, error, []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.content)


def test_makemore_downloads_names_once_and_verifies_them(tmp_path, monkeypatch):
    makemore = load_example("makemore")
    content = write_names(tmp_path / "served.txt", n=60).read_bytes()
    fake = FakeURL(content)
    monkeypatch.setattr(gk.datasets.urllib.request, "urlopen", fake)
    monkeypatch.setattr(makemore, "NAMES_SHA256", hashlib.sha256(content).hexdigest())
    argv = ["--fast", "--model", "bigram", "--steps", "5", "--device", "cpu",
            "--cache", str(tmp_path / "cache")]
    makemore.main(argv)
    assert fake.requests == [makemore.NAMES_URL]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["names.txt"]
    assert (tmp_path / "cache" / "names.txt").read_bytes() == content
    makemore.main(argv)  # the cached file has the right checksum: no second download
    assert len(fake.requests) == 1


def test_makemore_rejects_a_bad_checksum(tmp_path, monkeypatch):
    makemore = load_example("makemore")
    assert makemore.NAMES_URL == "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
    assert makemore.NAMES_SHA256 == (
        "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d")
    monkeypatch.setattr(gk.datasets.urllib.request, "urlopen", FakeURL(b"not\nthe\nnames\n"))
    with pytest.raises(SystemExit) as info:
        makemore.main(["--fast", "--device", "cpu", "--cache", str(tmp_path / "cache")])
    message = str(info.value.code)
    assert message.startswith("error: could not download") and "\n" not in message
    assert "checksum mismatch" in message and makemore.NAMES_SHA256 in message
    assert "--data" in message
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written


def test_makemore_offline_says_to_pass_data(tmp_path, monkeypatch):
    makemore = load_example("makemore")
    offline = FakeURL(error=urllib.error.URLError("[Errno -3] Temporary failure in name "
                                                  "resolution"))
    monkeypatch.setattr(gk.datasets.urllib.request, "urlopen", offline)
    with pytest.raises(SystemExit) as info:
        makemore.main(["--fast", "--device", "cpu", "--cache", str(tmp_path / "cache")])
    message = str(info.value.code)
    assert message.startswith("error:") and "\n" not in message
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


def test_gpt_downloads_tiny_shakespeare_once(tmp_path, monkeypatch):
    """The default data is downloaded into the cache, checked against its SHA-256; a bad
    or failed download ends with a one-line error that points to --data, and leaves no file."""
    gpt = load_example("gpt")
    source = write_text(tmp_path / "served.txt")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", source.as_uri())
    fast = ["--fast", "--device", "cpu", "--steps", "2", "--eval-iters", "1",
            "--max-new-tokens", "5"]

    with pytest.raises(SystemExit) as failed:  # the real checksum does not match this text
        gpt.main(fast)
    message = str(failed.value.code)
    assert message.startswith("error:") and "checksum" in message and "--data" in message
    assert "\n" not in message and list((tmp_path / "cache" / "gradkit").iterdir()) == []

    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", (tmp_path / "missing.txt").as_uri())
    with pytest.raises(SystemExit, match=r"^error: could not download .*--data FILE"):
        gpt.main(fast)

    monkeypatch.setattr(gpt, "SHAKESPEARE_URL", source.as_uri())
    monkeypatch.setattr(gpt, "SHAKESPEARE_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    result = gpt.main(fast)
    cached = tmp_path / "cache" / "gradkit" / "tinyshakespeare.txt"
    assert cached.read_bytes() == source.read_bytes() and np.isfinite(result["val_loss"])
    source.unlink()  # the cached copy is used from now on
    assert np.isfinite(gpt.main(fast)["val_loss"])
