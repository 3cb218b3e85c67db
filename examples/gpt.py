"""A character-level GPT trained on tiny Shakespeare, as in lecture 7 of Andrej Karpathy's
"Neural Networks: Zero to Hero" ("Let's build GPT: from scratch, in code, spelled out"),
with the model written the way his nanoGPT writes it.

    python examples/gpt.py                      # tiny Shakespeare, downloaded once (1.1 MB)
    python examples/gpt.py --data input.txt     # any text file
    python examples/gpt.py --compare-torch      # also train the same model with PyTorch
    python examples/gpt.py --fast               # a tiny model, a few seconds
    python examples/gpt.py --fast --steps 200   # --fast's model; explicit options win
    python examples/gpt.py --resume runs/gpt.safetensors   # after Ctrl-C
    python examples/gpt.py --compile            # the step recorded once, then replayed

Prints the train and val loss every --eval-interval steps, the final losses, the time per
step and a sample of generated text. Every --checkpoint-every steps (and at the end) the
model, optimizer, schedule and random state go to --out/gpt.safetensors; Ctrl-C stops
with one line naming that file, and --resume FILE continues the run with the same
results as an uninterrupted one. Setup problems (an unusable device, an unwritable
--out, a missing --data file, a failed download) end in one `error:` line and exit
status 2, before any training.

The model is written in PyTorch's names: `define_gpt(torch)` takes the library as its
argument and is called with gradkit (`GPT = define_gpt(gk)`) and, for --compare-torch and
the tests, with PyTorch itself; the same lines run on both.

Measured on this project's 2-core CPU (no GPU), the default model (4 layers, 4 heads,
n_embd 128, block 64, batch 32, ReLU, dropout 0: 0.81M parameters), 600 steps of AdamW at
a peak lr of 6e-3, with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python
examples/gpt.py --compare-torch` (NumPy 2.4 on OpenBLAS 0.3.31, SkylakeX kernels;
PyTorch 2.13.0 on MKL; 2 threads each):

    gradkit   222 ms/step (median)   val loss 1.848   train loss 1.696
    PyTorch    85 ms/step (median)   val loss 1.846   (the same initial weights)

gradkit is 2.6x slower (2.4x in a second run, PyTorch 91 ms/step; one thread each: 245
vs 130 ms/step, 1.9x). gradkit's 600 steps and 7 evaluations took 154 s; while other
programs ran on this shared machine, up to 465 s (OpenBLAS's threads wait for a busy
core), though with the same median step. Karpathy's lecture model (6 layers, 6 heads,
n_embd 384, block 256, dropout 0.2: 10.8M parameters) reaches a val loss of about 1.48
after 5000 steps on a GPU.
"""

import math
import statistics
import time
from pathlib import Path

import _cli as cli
import numpy as np

import gradkit as gk
from gradkit import datasets

SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                   "tinyshakespeare/input.txt")
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

# The default run (a few minutes on a 2-core CPU) and --fast (seconds); flags given
# explicitly win over both. No dropout by default: a small model trained this briefly
# underfits (the lecture's 0.2 regularises its 10.8M parameters over 5000 steps).
DEFAULTS = dict(steps=600, batch_size=32, block_size=64, n_layer=4, n_head=4, n_embd=128,
                dropout=0.0, lr=6e-3, eval_interval=100, eval_iters=20, max_new_tokens=500)
FAST = dict(steps=60, batch_size=8, block_size=16, n_layer=2, n_head=2, n_embd=32,
            dropout=0.0, lr=3e-3, eval_interval=20, eval_iters=4, max_new_tokens=100,
            checkpoint_every=20)
OPTIONS = dict(data=None, device=None, temperature=0.8, top_k=20, seed=1337, fast=False,
               compare_torch=False, out=Path("runs"), checkpoint_every=100, resume=None,
               compile=False)
# The options that define a run: kept in its checkpoints, taken from them by --resume.
RUN = ("data", "steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "dropout",
       "lr", "eval_interval", "eval_iters", "seed")


# ---- the model ------------------------------------------------------------------------------
def define_gpt(torch):
    """The GPT class, written against `torch`: gradkit, or PyTorch itself."""
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        """All heads at once (the lecture's Head and MultiHeadAttention in one module):
        one Linear makes the queries, keys and values of every head."""

        def __init__(self, n_embd, n_head, block_size, dropout, fused=True):
            super().__init__()
            assert n_embd % n_head == 0, "n_embd must be a multiple of n_head"
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k, v of all heads
            self.c_proj = nn.Linear(n_embd, n_embd)
            self.attn_dropout = nn.Dropout(dropout)
            self.resid_dropout = nn.Dropout(dropout)
            self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout
            # fused: one scaled_dot_product_attention node; else the lecture's steps, with
            # the causal mask kept as a buffer (moved by .to(), not trained, not saved)
            self.fused = fused
            mask = torch.tril(torch.ones(block_size, block_size))
            self.register_buffer("bias", mask.view(1, 1, block_size, block_size),
                                 persistent=False)

        def forward(self, x):
            B, T, C = x.size()  # batch, time (sequence length), channels (n_embd)
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            # (B, T, C) -> (B, n_head, T, head_size): each head attends on its own
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            if self.fused:
                y = F.scaled_dot_product_attention(
                    q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                att = self.attn_dropout(att)
                y = att @ v  # (B, n_head, T, head_size)
            y = y.transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        """Per-token computation after the communication: 4x wider, ReLU, back. (The
        lecture's ReLU; nanoGPT and GPT-2 use nn.GELU(), which costs gradkit a quarter
        more time per step on the CPU.)"""

        def __init__(self, n_embd, dropout):
            super().__init__()
            self.c_fc = nn.Linear(n_embd, 4 * n_embd)
            self.relu = nn.ReLU()
            self.c_proj = nn.Linear(4 * n_embd, n_embd)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.relu(self.c_fc(x))))

    class Block(nn.Module):
        """A transformer block: attention, then MLP, each on a pre-normed residual branch."""

        def __init__(self, n_embd, n_head, block_size, dropout, fused):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout, fused)
            self.ln_2 = nn.LayerNorm(n_embd)
            self.mlp = MLP(n_embd, dropout)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x

    class GPT(nn.Module):
        def __init__(self, vocab_size, block_size, n_layer=4, n_head=4, n_embd=128,
                     dropout=0.0, fused=True):
            super().__init__()
            self.block_size = block_size
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab_size, n_embd),  # token embedding
                wpe=nn.Embedding(block_size, n_embd),  # position embedding
                drop=nn.Dropout(dropout),
                h=nn.ModuleList([Block(n_embd, n_head, block_size, dropout, fused)
                                 for _ in range(n_layer)]),
                ln_f=nn.LayerNorm(n_embd),
            ))
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            # Weight tying: the output layer reuses the token embedding (one parameter).
            self.transformer.wte.weight = self.lm_head.weight
            # nanoGPT's init: N(0, 0.02) weights, zero biases, and the projections into the
            # residual stream scaled down by sqrt(2 * n_layer) (GPT-2's paper).
            self.apply(self._init_weights)
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            B, T = idx.size()
            if T > self.block_size:
                raise ValueError(f"a sequence of length {T} is longer than the block size "
                                 f"{self.block_size}")
            pos = torch.arange(T, dtype=torch.long, device=idx.device)
            x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab_size)
            loss = None
            if targets is not None:
                loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
            return logits, loss

        def configure_optimizers(self, weight_decay, learning_rate, betas):
            """AdamW with weight decay on the matrices (and embeddings) only, not on biases
            and LayerNorm gains: nanoGPT's two parameter groups."""
            params = [p for p in self.parameters() if p.requires_grad]
            groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
            return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
            """Extend idx (B, T) by max_new_tokens sampled tokens, one at a time."""
            for _ in range(max_new_tokens):
                idx_cond = idx[:, -self.block_size:]  # at most block_size tokens of context
                logits, _ = self(idx_cond)
                logits = logits[:, -1, :] / temperature  # the last position predicts the next
                if top_k is not None:  # keep only the top_k most likely tokens
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
                probs = F.softmax(logits, dim=-1)
                idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
                idx = torch.cat((idx, idx_next), dim=1)
            return idx

    return GPT


GPT = define_gpt(gk)


def copy_to_torch(model, torch_model):
    """Load gradkit model's weights into the PyTorch twin (the same state_dict keys)."""
    import torch

    torch_model.load_state_dict({k: torch.from_numpy(v.numpy())
                                 for k, v in model.state_dict().items()})
    return torch_model


# ---- data -----------------------------------------------------------------------------------
def load_text(path=None) -> str:
    """The text of `path`; by default tiny Shakespeare, downloaded once into a cache.
    A setup problem (no such file, a failed download) ends in one error line, exit 2."""
    if path is None:
        path = datasets.default_data_dir() / "tinyshakespeare.txt"  # $GRADKIT_DATA, ~/.cache
        if not path.exists():
            print(f"downloading tiny Shakespeare into {path}")
            try:
                datasets.download(SHAKESPEARE_URL, path, sha256=SHAKESPEARE_SHA256)
            except datasets.DownloadError as e:
                cli.fail(f"could not download tiny Shakespeare ({e}); pass --data FILE to "
                         "use a local copy")
    else:
        cli.data_file(path, what="a text file (e.g. a local copy of tiny Shakespeare)")
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        cli.fail(f"cannot read {path} as UTF-8 text: {e}")


class Tokenizer:
    """Characters <-> integers: the text's sorted set of characters is the vocabulary."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, s):
        return [self.stoi[c] for c in s]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def get_batch(torch, data, batch_size, block_size):
    """batch_size random windows of the data (B, T), and the same shifted by one: the
    targets, the next character at each position. Cut out on data's device."""
    ix = torch.randint(len(data) - block_size, (batch_size,), device=data.device)
    offsets = ix[:, None] + torch.arange(block_size, device=data.device)  # (B, T)
    return data[offsets], data[offsets + 1]


def estimate_loss(torch, model, splits, args):
    """The mean loss over eval_iters batches of each split, in eval mode, without a graph."""
    out = {}
    model.eval()
    with torch.no_grad():
        for name, data in splits.items():
            losses = torch.zeros(args.eval_iters, device=data.device)
            for k in range(args.eval_iters):
                _, loss = model(*get_batch(torch, data, args.batch_size, args.block_size))
                losses[k] = loss
            out[name] = losses.mean().item()
    model.train()
    return out


# ---- training -------------------------------------------------------------------------------
def train(torch, model, splits, args, name="gradkit", checkpoint=None, resumed=None):
    """Train with AdamW, warmup + cosine schedule and gradient clipping; returns a dict.

    checkpoint (gradkit only): a cli.Checkpoint saved every args.checkpoint_every steps and
    at the end; resumed: a loaded checkpoint to continue from."""
    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=args.lr,
                                           betas=(0.9, 0.99))
    # The learning rate: a linear warmup to args.lr, then a cosine decay to args.lr / 10.
    warmup = max(1, min(100, args.steps // 10))
    schedulers = torch.optim.lr_scheduler
    scheduler = schedulers.SequentialLR(optimizer, [
        schedulers.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup),
        schedulers.CosineAnnealingLR(optimizer, T_max=max(1, args.steps - warmup),
                                     eta_min=args.lr / 10),
    ], milestones=[warmup])
    device = str(splits["train"].device)
    history, step_seconds, first = [], [], 0
    if resumed is not None:
        try:
            model.load_state_dict(resumed["model"])
            optimizer.load_state_dict(resumed["optimizer"])
        except (KeyError, ValueError) as e:
            cli.fail(f"--resume {args.resume}: it does not fit this model ({e})")
        scheduler.load_state_dict(resumed["schedule"])
        history = [tuple(h) for h in resumed["history"]]
        first = checkpoint.done = resumed["progress"]["done"]
        cli.set_rng_state(resumed["rng"], device)
        print(f"resumed from {args.resume} after step {first}")

    def save(step):  # at the top of the loop: `step` steps done, nothing of the next drawn
        checkpoint.save(step, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": scheduler.state_dict(), "history": history,
            "rng": cli.rng_state(device), "config": cli.config(args, RUN, ("data",))})

    def sync():  # wait for the GPU before reading the clock (a no-op on the CPU)
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    def step_fn(xb, yb):
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        return loss

    # --compile: gradkit's step recorded once, then replayed (gk.compile; PyTorch's own
    # torch.compile is another thing, not used here)
    train_step = torch.compile(step_fn) if args.compile and name == "gradkit" else step_fn
    start = time.perf_counter()
    try:
        for step in range(first, args.steps + 1):
            at_checkpoint = step % args.checkpoint_every == 0 or step == args.steps
            if checkpoint is not None and step > first and at_checkpoint:
                save(step)
            if step % args.eval_interval == 0 or step == args.steps:
                losses = estimate_loss(torch, model, splits, args)
                history.append((step, losses["train"], losses["val"]))
                print(f"{name} step {step:5d}: train loss {losses['train']:.4f}, "
                      f"val loss {losses['val']:.4f}", flush=True)
            if step == args.steps:
                break
            sync()
            tic = time.perf_counter()
            xb, yb = get_batch(torch, splits["train"], args.batch_size, args.block_size)
            train_step(xb, yb)
            sync()
            step_seconds.append(time.perf_counter() - tic)
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        checkpoint.interrupted()  # one line, exit status 130
    # the median step: robust to the first steps (warming caches, compiling GPU kernels)
    # and to other programs' bursts on a shared machine
    ms = 1000 * statistics.median(step_seconds) if step_seconds else float("nan")
    print(f"{name}: final train loss {history[-1][1]:.4f}, val loss {history[-1][2]:.4f}, "
          f"{ms:.1f} ms/step (median), {time.perf_counter() - start:.0f} s in all")
    return dict(history=history, train_loss=history[-1][1], val_loss=history[-1][2],
                ms_per_step=ms)


# ---- the script -----------------------------------------------------------------------------
def parse_args(argv=None):
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path,
                   help="a text file (default: tiny Shakespeare, downloaded once)")
    p.add_argument("--device",
                   help="cpu, cuda, cuda:N or strict (default: cuda if available, else cpu)")
    p.add_argument("--steps", type=cli.count,
                   help=f"training steps (default {DEFAULTS['steps']}; --fast: {FAST['steps']})")
    p.add_argument("--batch-size", type=cli.count)
    p.add_argument("--block-size", type=cli.count, help="context length in characters")
    p.add_argument("--n-layer", type=cli.count)
    p.add_argument("--n-head", type=cli.count)
    p.add_argument("--n-embd", type=cli.count)
    p.add_argument("--dropout", type=cli.probability)
    p.add_argument("--lr", type=cli.positive, help="peak learning rate")
    p.add_argument("--eval-interval", type=cli.count)
    p.add_argument("--eval-iters", type=cli.count, help="batches per loss estimate")
    p.add_argument("--max-new-tokens", type=cli.natural, help="length of the generated sample")
    p.add_argument("--temperature", type=cli.positive, help="default 0.8")
    p.add_argument("--top-k", type=cli.natural, help="sample among the k likeliest (0: all; "
                                                     "default 20)")
    p.add_argument("--seed", type=int, help="default 1337")
    p.add_argument("--out", type=Path, help="where checkpoints go (default runs)")
    p.add_argument("--checkpoint-every", type=cli.count, metavar="STEPS",
                   help="save a checkpoint every this many steps (default 100; --fast: 20)")
    p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                   help="continue the run saved in this checkpoint (its options are used)")
    p.add_argument("--fast", action="store_true", help="a tiny model for a few seconds")
    p.add_argument("--compare-torch", action="store_true",
                   help="also train the same model, same initial weights, with PyTorch")
    p.add_argument("--compile", action="store_true",
                   help="run gradkit's training step through gk.compile: recorded once, "
                        "then replayed (the same numbers)")
    args = cli.parse(p, argv, {**OPTIONS, **DEFAULTS}, FAST)
    if args.n_embd % args.n_head:
        p.error(f"--n-embd {args.n_embd} must be a multiple of --n-head {args.n_head}")
    return args


def blas_info(torch) -> str:
    """Which BLAS each library runs (OpenBLAS's kernel for NumPy), for the benchmark's record."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        numpy_blas = "unknown (threadpoolctl is not installed)"
    else:
        numpy_blas = ", ".join(f"{i['internal_api']} {i['version']} kernel "
                               f"{i.get('architecture')}, {i['num_threads']} threads"
                               for i in threadpool_info()
                               if i["user_api"] == "blas" and "numpy" in i["filepath"])
    torch_blas = "MKL" if torch.backends.mkl.is_available() else "its own BLAS"
    return f"NumPy: {numpy_blas}; PyTorch: {torch_blas}, {torch.get_num_threads()} threads"


def main(argv=None):
    args = parse_args(argv)
    device = cli.device(args.device)  # each check: one error line, exit status 2
    out = cli.output_dir(args.out)
    resumed = None
    if args.resume is not None:
        resumed = cli.load_checkpoint(args.resume, device, "step")
        cli.resume_options(args, resumed["config"], RUN, paths=("data",))
    if args.compare_torch:
        try:
            import torch
        except ImportError:
            cli.fail("--compare-torch needs PyTorch: pip install torch")
    text = load_text(args.data)
    tokenizer = Tokenizer(text)
    data = np.array(tokenizer.encode(text), dtype=np.int64)
    n = int(0.9 * len(data))  # the first 90% trains, the rest validates
    if len(data) - n <= args.block_size:
        cli.fail(f"the text ({len(data)} characters) is too short for --block-size "
                 f"{args.block_size}: its last 10% must be longer than a block")
    print(f"device: {device}; data: {len(data)} characters, vocabulary of "
          f"{len(tokenizer.chars)}")

    gk.manual_seed(args.seed)
    config = dict(vocab_size=len(tokenizer.chars), block_size=args.block_size,
                  n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                  dropout=args.dropout)
    model = GPT(**config)  # made on the CPU, so the same seed gives the same weights anywhere
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
          f"{args.n_layer} layers, {args.n_head} heads, n_embd {args.n_embd}, "
          f"block {args.block_size}, batch {args.batch_size}, dropout {args.dropout}")
    if args.compare_torch:
        torch_model = copy_to_torch(model, define_gpt(torch)(**config))  # the same weights
    model.to(device)

    splits = {"train": gk.tensor(data[:n], device=device),
              "val": gk.tensor(data[n:], device=device)}
    checkpoint = cli.Checkpoint(out / "gpt.safetensors", "step")
    result = train(gk, model, splits, args, checkpoint=checkpoint, resumed=resumed)
    print(f"checkpoint: {checkpoint.path}")

    if args.compare_torch:
        torch_device = device if device.startswith("cuda") else "cpu"
        torch.manual_seed(args.seed)
        torch_splits = {k: torch.tensor(v, device=torch_device)
                        for k, v in (("train", data[:n]), ("val", data[n:]))}
        result["torch"] = train(torch, torch_model.to(torch_device), torch_splits, args,
                                name=f"torch {torch.__version__}")
        print(f"ms/step: gradkit {result['ms_per_step']:.1f}, PyTorch "
              f"{result['torch']['ms_per_step']:.1f} (gradkit / PyTorch = "
              f"{result['ms_per_step'] / result['torch']['ms_per_step']:.2f})")
        print(f"BLAS: {blas_info(torch)}")

    model.eval()
    context = gk.tensor([tokenizer.encode(text[0])], device=device)  # the text's first char
    generator = gk.Generator(device=device).manual_seed(args.seed)
    sample = model.generate(context, args.max_new_tokens, temperature=args.temperature,
                            top_k=args.top_k or None, generator=generator)
    result["sample"] = tokenizer.decode(sample[0].tolist())
    print("sample:\n" + result["sample"])
    return result


if __name__ == "__main__":
    cli.run(main)
