"""Make more names: character-level language models, as in Karpathy's makemore lectures.

    python examples/makemore.py --model bigram    # makemore 1: the neural bigram
    python examples/makemore.py --model mlp       # makemore 2: Bengio et al.'s MLP
    python examples/makemore.py --model bn        # makemore 3: the MLP with BatchNorm1d
    python examples/makemore.py --model wavenet   # makemore 5: a hierarchical "WaveNet"
    python examples/makemore.py --data names.txt  # a local names list: no download
    python examples/makemore.py --fast --steps 1000  # --fast's tiny model; explicit options win
    python examples/makemore.py --resume runs/makemore-mlp.safetensors  # after Ctrl-C
    python examples/makemore.py --model bn --diagnose  # makemore 3's (lecture 4's) statistics
    python examples/makemore.py --compile         # each step recorded once, then replayed

makemore 1-5 are lectures 2-6 of "Neural Networks: Zero to Hero". Each model reads the
previous block_size characters of a name and predicts the next one (27 classes: a-z and
"." for the start and the end of a name). The 32033 names of makemore's names.txt are
downloaded once into --cache (default ~/.cache/gradkit) and checked against their
SHA-256; they are shuffled with --seed and split 80/10/10 into train, dev and test names.
Training is minibatch SGD whose learning rate drops 10x after 3/4 of the steps, as in
the lectures. At the end the script prints the train and dev loss (the model in eval
mode, under gk.no_grad) and samples 10 new names.

Every --checkpoint-every steps (and at the end) the model, optimizer, schedule and random
state go to --out/makemore-<model>.safetensors; Ctrl-C stops with one line naming that
file, and --resume FILE continues the run with the same results as an uninterrupted
one. Setup problems (an unusable device, an unwritable --out, a missing --data file, a
failed download) end in one `error:` line and exit status 2, before any training.

--diagnose (the mlp, bn and wavenet models) records lecture 4's statistics while training
(gradkit.diagnostics: the Tanh layers' activations, saturation and gradients, each
weight's update:data ratio), prints one line per layer and parameter at the end and saves
the histograms and update-ratio curves to --out/diagnostics-<model>.png (without
matplotlib, the printed summary to diagnostics-<model>.txt).

Measured with the defaults on a 2-core CPU (--device cpu, OPENBLAS_NUM_THREADS=1), next
to the lectures' dev losses (200000 steps of batch 32 there) and to PyTorch 2.13 running
this same script (`import torch as gk`; same split, its own random draws):

    model    parameters  steps x batch  train  dev    time    lecture dev  torch dev
    bigram          729   2000 x 256    2.460  2.459     2 s  2.45         2.456
    mlp           11897  20000 x 128    2.086  2.124    23 s  2.17         2.125
    bn            12097  20000 x 128    2.098  2.132    39 s  2.10         2.132
    wavenet       76579  20000 x 128    1.861  1.997   145 s  1.99         2.002

(time: the whole run, wall clock. A training step took 0.6-6.9 ms, PyTorch's 0.35-2.5 ms
with OMP_NUM_THREADS=1.) On a machine whose cores are busy with other work, OpenBLAS's
threads wait for each other on these small matrices: if ms/step looks high, set
OPENBLAS_NUM_THREADS=1 (here, next to another job, mlp's steps took 3.7 ms without it
and 0.65 ms with it).

The code uses PyTorch's names with PyTorch's meanings (gk.Generator, gk.randint,
gk.multinomial, nn.Embedding, nn.Linear, nn.BatchNorm1d, F.cross_entropy, ...): with
`import torch as gk`, `torch.nn` and `torch.optim` in place of gradkit's, everything but
main() (its setup checks, in examples/_cli.py, use gradkit) runs unchanged on PyTorch.
"""

import random
import time
from pathlib import Path

import _cli as cli

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import datasets, nn, optim

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"

# Per model: the context length, the layer sizes and the training defaults. The lectures
# train for 200000 steps of batch 32 at lr 0.1; here 20000 steps of batch 128 at lr 0.2
# fit a laptop's minutes and reach the lectures' dev losses.
CONFIGS = {
    "bigram": dict(block_size=1, n_embd=0, n_hidden=0, steps=2000, batch_size=256, lr=50.0),
    "mlp": dict(block_size=3, n_embd=10, n_hidden=200, steps=20000, batch_size=128, lr=0.2),
    "bn": dict(block_size=3, n_embd=10, n_hidden=200, steps=20000, batch_size=128, lr=0.2),
    "wavenet": dict(block_size=8, n_embd=24, n_hidden=128, steps=20000, batch_size=128,
                    lr=0.2),
}
COMMON = dict(model="mlp", data=None, cache=None, seed=42, device=None, out=Path("runs"),
              checkpoint_every=1000, resume=None, fast=False, diagnose=False, compile=False)
# --fast: a tiny model, a few steps; an option given explicitly wins over both tables.
FAST = dict(n_embd=8, n_hidden=32, steps=300, checkpoint_every=100)
# The options that define a run: kept in its checkpoints, taken from them by --resume.
RUN = ("model", "data", "block_size", "n_embd", "n_hidden", "steps", "batch_size", "lr",
       "seed")


def parse_args(argv=None):
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", choices=CONFIGS, help="default mlp")
    p.add_argument("--data", type=Path,
                   help="a local names file, one name a line (default: download names.txt)")
    p.add_argument("--cache", type=Path,
                   help="where the downloaded names.txt is kept "
                        "(default: $GRADKIT_DATA, else ~/.cache/gradkit)")
    p.add_argument("--steps", type=cli.count, help="training steps (minibatches)")
    p.add_argument("--batch-size", type=cli.count)
    p.add_argument("--lr", type=cli.positive, help="learning rate before the decay")
    p.add_argument("--seed", type=int, help="default 42")
    p.add_argument("--device", help="cpu, cuda or strict (default: cuda if available, else cpu)")
    p.add_argument("--out", type=Path, help="where checkpoints go (default runs)")
    p.add_argument("--checkpoint-every", type=cli.count, metavar="STEPS",
                   help="save a checkpoint every this many steps (default 1000; --fast: 100)")
    p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                   help="continue the run saved in this checkpoint (its options are used)")
    p.add_argument("--fast", action="store_true",
                   help="a quick smoke run: a tiny model, 300 steps (explicit flags win)")
    p.add_argument("--diagnose", action="store_true",
                   help="record the Tanh layers' activation and gradient statistics and the "
                        "update:data ratios (mlp, bn, wavenet): print a summary, save "
                        "diagnostics-<model>.png in --out")
    p.add_argument("--compile", action="store_true",
                   help="run each training step through gk.compile: recorded once, then "
                        "replayed (the same numbers; not with --diagnose)")
    model = vars(p.parse_args(argv)).get("model", COMMON["model"])
    args = cli.parse(p, argv, {**COMMON, **CONFIGS[model]}, FAST)
    if args.compile and args.diagnose:
        cli.fail("--compile: not with --diagnose (its hooks run in Python at every step, "
                 "which a replayed step skips)")
    if args.cache is None:
        args.cache = datasets.default_data_dir()  # $GRADKIT_DATA, else ~/.cache/gradkit
    return args


# ---- data ---------------------------------------------------------------------------------
def names_file(args) -> Path:
    """--data as given, else makemore's names.txt, downloaded once and checked."""
    if args.data is not None:
        return cli.data_file(args.data, what="a names file, one name a line")
    if "cache" in args.given:  # created only when its parent exists
        cli.data_dir(args.cache, "--cache", "the downloaded names.txt")
    try:
        return datasets.download(NAMES_URL, args.cache / "names.txt", sha256=NAMES_SHA256)
    except datasets.DownloadError as e:
        cli.fail(f"could not download the names list ({e}); pass --data FILE, a local copy "
                 f"of {NAMES_URL}")


def build_dataset(words, block_size, stoi, device):
    """Every (context, next character) pair of every name, as in makemore 2."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size  # "." padding: the name has not started yet
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    return gk.tensor(X, device=device), gk.tensor(Y, device=device)


# ---- models -------------------------------------------------------------------------------
class Bigram(nn.Module):
    """makemore 1's neural bigram: the logits are one_hot(previous character) @ W."""

    def __init__(self, vocab_size, device=None):
        super().__init__()
        self.W = nn.Parameter(gk.randn(vocab_size, vocab_size, device=device))

    def forward(self, x):  # x: (B, 1), the previous character
        xenc = F.one_hot(x[:, -1], num_classes=self.W.shape[0]).float()
        return xenc @ self.W  # the same as self.W[x[:, -1]]: a row per character


class FlattenConsecutive(nn.Module):
    """makemore 5: concatenate the vectors of n consecutive characters, (B, T, C) to
    (B, T//n, C*n), so that each level of the tree fuses pairs of its inputs."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        return x


class BatchNorm1dLastDim(nn.BatchNorm1d):
    """makemore 5's BatchNorm1d: (B, T, C) input normalised per channel over both B and T.
    PyTorch's BatchNorm1d normalises (N, C) input over N, so the B*T rows go in as one
    batch of N = B*T. (B, C) input is passed on unchanged."""

    def forward(self, x):
        if x.ndim == 3:
            B, T, C = x.shape
            return super().forward(x.view(B * T, C)).view(B, T, C)
        return super().forward(x)


def build_model(name, vocab_size, block_size, n_embd, n_hidden, device=None):
    if name == "bigram":
        return Bigram(vocab_size, device=device)
    if name == "mlp":  # makemore 2: embed, concatenate, one tanh layer (PyTorch's init)
        return nn.Sequential(
            nn.Embedding(vocab_size, n_embd, device=device),
            nn.Flatten(),  # (B, block_size, n_embd) -> (B, block_size * n_embd)
            nn.Linear(block_size * n_embd, n_hidden, device=device), nn.Tanh(),
            nn.Linear(n_hidden, vocab_size, device=device),
        )
    if name == "bn":  # makemore 3: BatchNorm1d after the linear layer, which needs no bias
        model = nn.Sequential(
            nn.Embedding(vocab_size, n_embd, device=device),
            nn.Flatten(),
            nn.Linear(block_size * n_embd, n_hidden, bias=False, device=device),
            nn.BatchNorm1d(n_hidden, device=device), nn.Tanh(),
            nn.Linear(n_hidden, vocab_size, device=device),
        )
    else:  # wavenet, makemore 5: three levels, each fusing two neighbours
        def level(fan_in):
            return [FlattenConsecutive(2),
                    nn.Linear(fan_in * 2, n_hidden, bias=False, device=device),
                    BatchNorm1dLastDim(n_hidden, device=device), nn.Tanh()]

        model = nn.Sequential(
            nn.Embedding(vocab_size, n_embd, device=device),
            *level(n_embd), *level(n_hidden), *level(n_hidden),
            nn.Linear(n_hidden, vocab_size, device=device),
        )
    with gk.no_grad():
        for layer in model[:-1]:
            if isinstance(layer, nn.Linear):  # kaiming init, with tanh's gain 5/3
                nn.init.kaiming_normal_(layer.weight, nonlinearity="tanh")
        model[-1].weight *= 0.1  # a less confident output layer: a loss near ln(27) at first
    return model


# ---- training, evaluation, sampling -------------------------------------------------------
@gk.no_grad()
def split_loss(model, X, Y):
    """The mean loss over a whole split, with BatchNorm's running statistics (eval mode)."""
    model.eval()
    loss = F.cross_entropy(model(X), Y)
    model.train()
    return loss.item()


@gk.no_grad()
def sample(model, block_size, itos, generator, device, max_len=50):
    """One name, a character at a time, until "." (or max_len, should a model never end)."""
    model.eval()
    out, context = [], [0] * block_size
    while len(out) < max_len:
        logits = model(gk.tensor([context], device=device))
        probs = F.softmax(logits, dim=1)
        ix = gk.multinomial(probs, num_samples=1, generator=generator).item()
        context = context[1:] + [ix]
        out.append(ix)
        if ix == 0:
            break
    return "".join(itos[i] for i in out)


def main(argv=None):
    args = parse_args(argv)
    if args.diagnose and args.model == "bigram":
        cli.fail("--diagnose records the Tanh layers of the mlp, bn and wavenet models; the "
                 "bigram has none: pass --model mlp, bn or wavenet")
    device = cli.device(args.device)  # each check: one error line, exit status 2
    out = cli.output_dir(args.out)
    resumed = None
    if args.resume is not None:
        resumed = cli.load_checkpoint(args.resume, device, "step")
        cli.resume_options(args, resumed["config"], RUN, paths=("data",))
    path = names_file(args)
    try:
        words = path.read_text().split()  # one name a line
    except (OSError, UnicodeDecodeError) as e:
        cli.fail(f"cannot read {path}: {e}")
    if len(words) < 10:
        cli.fail(f"{path} has {len(words)} names; the split needs at least 10")

    # The vocabulary: "." (index 0) marks the start and the end of a name.
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    vocab_size = len(itos)

    random.Random(args.seed).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1], args.block_size, stoi, device)
    Xdev, Ydev = build_dataset(words[n1:n2], args.block_size, stoi, device)
    Xte, Yte = build_dataset(words[n2:], args.block_size, stoi, device)
    print(f"data: {len(words)} names, vocab_size {vocab_size}: {Xtr.shape[0]} train, "
          f"{Xdev.shape[0]} dev, {Xte.shape[0]} test examples")

    gk.manual_seed(args.seed)  # the initial weights and the minibatches
    model = build_model(args.model, vocab_size, args.block_size, args.n_embd, args.n_hidden,
                        device=device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model}, {n_params} parameters, block_size {args.block_size}, "
          f"device {device}")

    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    schedule = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[args.steps * 3 // 4],
                                              gamma=0.1)  # lr drops 10x for the last 1/4
    checkpoint = cli.Checkpoint(out / f"makemore-{args.model}.safetensors", "step")
    if resumed is not None:
        try:
            model.load_state_dict(resumed["model"])
            optimizer.load_state_dict(resumed["optimizer"])
        except (KeyError, ValueError) as e:
            cli.fail(f"--resume {args.resume}: it does not fit this model ({e})")
        schedule.load_state_dict(resumed["schedule"])
        checkpoint.done = resumed["progress"]["done"]
        cli.set_rng_state(resumed["rng"], device)
        print(f"resumed from {args.resume} after step {checkpoint.done}")

    def state():
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "rng": cli.rng_state(device),
                "config": cli.config(args, RUN, ("data",))}

    # --diagnose: hooks record statistics on the device every step, with no host transfer
    recorder = gk.diagnostics.Recorder(model, optimizer) if args.diagnose else None
    def train_step(Xb, Yb):
        loss = F.cross_entropy(model(Xb), Yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss

    step = gk.compile(train_step) if args.compile else train_step
    start = time.perf_counter()
    first = checkpoint.done or 0
    try:
        for i in range(first, args.steps):
            ix = gk.randint(0, Xtr.shape[0], (args.batch_size,), device=device)  # a minibatch
            loss = step(Xtr[ix], Ytr[ix])
            if i % max(1, args.steps // 10) == 0 or i == args.steps - 1:
                print(f"step {i:6d}/{args.steps}: loss {loss.item():.4f}")  # a sync, now and then
            if (i + 1) % args.checkpoint_every == 0 or i + 1 == args.steps:
                checkpoint.save(i + 1, state())
    except KeyboardInterrupt:
        checkpoint.interrupted()  # one line, exit status 130
    seconds = time.perf_counter() - start
    print(f"checkpoint: {checkpoint.path}")
    if recorder is not None:
        recorder.remove()
        if recorder.steps:
            print("diagnostics: " + recorder.summary())
            print(f"saved {recorder.save(out / f'diagnostics-{args.model}.png')}")

    print(f"train loss {split_loss(model, Xtr, Ytr):.4f}")
    print(f"dev loss {split_loss(model, Xdev, Ydev):.4f}")
    steps_run = max(1, args.steps - first)
    print(f"trained in {seconds:.1f} s ({1e3 * seconds / steps_run:.2f} ms/step)")

    g = gk.Generator(device=device).manual_seed(2147483647 + args.seed)
    print("samples:")
    for _ in range(10):
        print("  " + sample(model, args.block_size, itos, g, device))
    return model


if __name__ == "__main__":
    cli.run(main)
