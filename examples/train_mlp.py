"""Train an MLP to classify handwritten digits, on a GPU when there is one, else on the CPU.

    python examples/train_mlp.py                  # scikit-learn's 8x8 digits: no download
    python examples/train_mlp.py --data mnist/    # MNIST's IDX files (downloaded if missing)
    python examples/train_mlp.py --device cpu     # or cuda, cuda:1, strict
    python examples/train_mlp.py --fast --epochs 5  # --fast's small model; explicit options win
    python examples/train_mlp.py --resume runs/checkpoint.safetensors  # after Ctrl-C
    python examples/train_mlp.py --diagnose       # lecture 4's activation/gradient statistics
    mpiexec -n 2 python examples/train_mlp.py --distributed  # data parallel, 2 processes
    python examples/train_mlp.py --compile        # the step recorded once, then replayed

With --distributed (under mpiexec; needs the distributed extra) every process trains a
replica on its shard of each batch (--batch-size is per process) and
DistributedDataParallel averages the gradients; on GPUs each process takes
cuda:<its rank on the machine> and the collectives go over NCCL. Rank 0 alone prints and
writes files. The run takes the steps of a single process with N times the batch size
(the same shuffled batches, from --seed; dropout's draws differ).

Prints the loss and test accuracy of every epoch, then writes into --out (default runs/):
    checkpoint.safetensors model, optimizer, schedule, random state and history, after
                           every epoch: Ctrl-C stops with one line naming it, and --resume
                           continues the run from it with the same results
    mlp.safetensors        the model's state_dict (gk.save: safetensors, no pickle)
    optimizer.safetensors  the optimizer's state_dict, to resume training
    config.json            the sizes needed to rebuild the model
    curves.png             loss and accuracy per epoch (needs matplotlib)
    diagnostics.png        with --diagnose: the ReLU layers' activation and gradient
                           histograms and the update:data ratios (gradkit.diagnostics;
                           without matplotlib diagnostics.txt, the text summary, which is
                           printed too)
and checks that the saved model, loaded into a fresh one, predicts exactly the same.
Needs the examples extra: pip install "gradkit[examples]". Setup problems (an unusable
device, an unwritable --out, a bad --data, a failed download) end in one `error:` line
and exit status 2, before any training.
"""

import json
import os
import sys
import time
from pathlib import Path

import _cli as cli
import numpy as np

import gradkit as gk
import gradkit.distributed as dist
import gradkit.nn.functional as F
from gradkit import datasets, diagnostics, nn, optim
from gradkit.data import DistributedSampler
from gradkit.nn.parallel import DistributedDataParallel

# The defaults, and --fast's (a quick smoke run); an option given explicitly wins over both.
DEFAULTS = dict(data=None, device=None, epochs=40, batch_size=64, hidden=256, dropout=0.1,
                lr=2e-3, weight_decay=1e-2, seed=0, limit=None, out=Path("runs"), fast=False,
                resume=None, diagnose=False, distributed=False, compile=False)
FAST = dict(epochs=3, hidden=128, limit=2000)
# The options that define a run: kept in its checkpoints, taken from them by --resume.
RUN = ("data", "epochs", "batch_size", "hidden", "dropout", "lr", "weight_decay", "seed",
       "limit")


def parse_args(argv=None):
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path,
                   help="directory with MNIST's IDX files, downloaded into it if missing; "
                        "created if only its parent exists (default: scikit-learn's digits)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or strict (default: cuda if usable, "
                                    "else cpu)")
    p.add_argument("--epochs", type=cli.count, help="default 40; --fast: 3")
    p.add_argument("--batch-size", type=cli.count, help="default 64")
    p.add_argument("--hidden", type=cli.count,
                   help="width of the two hidden layers (default 256; --fast: 128)")
    p.add_argument("--dropout", type=cli.probability, help="default 0.1")
    p.add_argument("--lr", type=cli.positive, help="peak learning rate of AdamW (default 2e-3)")
    p.add_argument("--weight-decay", type=cli.nonnegative, help="default 1e-2")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--limit", type=cli.count,
                   help="use at most this many training and test examples (--fast: 2000)")
    p.add_argument("--out", type=Path, help="output directory (default runs)")
    p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                   help="continue the run saved in this checkpoint (its options are used)")
    p.add_argument("--fast", action="store_true",
                   help="a quick smoke run: 3 epochs, a smaller model, at most 2000 examples")
    p.add_argument("--diagnose", action="store_true",
                   help="record activation, gradient and update statistics while training "
                        "(gradkit.diagnostics): print a summary, save diagnostics.png in --out")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training across the processes mpiexec starts "
                        "(gradkit.distributed; one GPU per process on CUDA)")
    p.add_argument("--compile", action="store_true",
                   help="run each training step through gk.compile: recorded once, then "
                        "replayed (the same numbers; not with --distributed or --diagnose)")
    args = cli.parse(p, argv, DEFAULTS, FAST)
    if args.compile and (args.distributed or args.diagnose):
        cli.fail("--compile: not with --distributed or --diagnose (their hooks run in "
                 "Python at every step, which a replayed step skips)")
    return args


def start_distributed(device):
    """Join the process group; returns (device, rank, world size). Every rank but 0 is
    silenced (rank 0 prints for all); each GPU process takes its own GPU."""
    if not dist.is_available():
        cli.fail('--distributed needs mpi4py and MPI: pip install "gradkit[distributed]", '
                 "then mpiexec -n 2 python examples/train_mlp.py --distributed")
    on_gpu = device.startswith("cuda")
    try:
        dist.init_process_group("nccl" if on_gpu else "mpi")
    except RuntimeError as e:
        cli.fail(f"--distributed: {e}")
    rank = dist.get_rank()
    if on_gpu:
        device = cli.device(f"cuda:{dist.get_node_local_rank()}")
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    return device, rank, dist.get_world_size()


def load_data(data_dir=None, limit=None):
    """(x_train, y_train, x_test, y_test) as NumPy arrays: float32 images, int64 labels."""
    if data_dir is None:
        x, y = datasets.load_digits()  # 1797 images of 8x8 pixels
        splits = datasets.train_test_split(x, y, test_fraction=0.2, seed=0)  # a fixed split
    else:
        splits = datasets.load_mnist(data_dir)  # 60000 + 10000 images of 28x28 pixels
    if limit is not None:
        splits = [a[:limit] for a in splits]
    return splits


def build_model(in_features, hidden, n_classes, dropout=0.0, device=None):
    """A two-hidden-layer MLP that outputs logits (cross_entropy applies the softmax)."""
    return nn.Sequential(
        nn.Linear(in_features, hidden, device=device),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden, device=device),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_classes, device=device),
    )


@gk.no_grad()
def accuracy(model, x, y):
    """Fraction of correctly classified examples, as a 0-d tensor on the device."""
    model.eval()
    predictions = model(x).argmax(axis=1)
    return (predictions == y).astype(gk.float32).mean()


def progress(iterable, **kwargs):
    """A tqdm progress bar when tqdm is installed, else the iterable itself."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    kwargs.setdefault("disable", None)  # None: no bar when output is not a terminal
    return tqdm(iterable, **kwargs)


def log(message):
    try:
        from tqdm import tqdm
    except ImportError:
        print(message)
    else:
        tqdm.write(message)  # prints above the progress bar instead of through it


def plot_curves(history, path):
    """Loss and accuracy per epoch, side by side, as a PNG; None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    matplotlib.use("Agg")  # draw to a file, no window
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, history["loss"], marker="o", markersize=3)
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
    right.plot(epochs, [100 * a for a in history["accuracy"]], marker="o", markersize=3,
               color="tab:green")
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_data_or_fail(data_dir, limit):
    """load_data, with each setup problem turned into one error line (exit status 2)."""
    try:
        return load_data(data_dir, limit)
    except ImportError as e:  # load_digits without scikit-learn
        cli.fail(f"{e}; or pass --data DIR to train on MNIST")
    except datasets.DownloadError as e:
        why = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        cli.fail(f"could not download MNIST into {data_dir} ({why}); for an offline copy put "
                 f"the four files ({', '.join(datasets.MNIST_FILES)}) into {data_dir}, or "
                 f"leave out --data to train on scikit-learn's bundled digits")
    except (OSError, ValueError) as e:  # unreadable or corrupt files
        cli.fail(f"cannot read the data in {data_dir}: {e}")


def train(args):
    """Train, evaluate, save, reload and check; returns a dict of results."""
    start = time.perf_counter()
    device = cli.device(args.device)  # each check: one error line, exit status 2
    rank, world = 0, 1
    if args.distributed:
        device, rank, world = start_distributed(device)
    args.out = cli.output_dir(args.out)
    resumed = None
    if args.resume is not None:
        resumed = cli.load_checkpoint(args.resume, device, "epoch")
        cli.resume_options(args, resumed["config"], RUN, paths=("data",))
    if args.data is not None:
        args.data = cli.data_dir(args.data, what="MNIST's four IDX files")
    print(f"device: {device}" + (f", {world} processes (global batch "
                                 f"{world * args.batch_size})" if args.distributed else ""))
    gk.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_data_or_fail(args.data, args.limit)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    print(f"data: {len(x_train)} training and {len(x_test)} test examples, "
          f"{x_train.shape[1]} features, {n_classes} classes")
    # The whole dataset moves to the device once; batches are then cut out there, in a
    # new order every epoch (from --seed). The sampler gives each process its shard: with
    # one process, all of it.
    sampler = DistributedSampler(len(x_train), world, rank, seed=args.seed)
    loader = gk.DataLoader(x_train, y_train, batch_size=args.batch_size, sampler=sampler,
                           device=device)
    x_test, y_test = gk.tensor(x_test, device=device), gk.tensor(y_test, device=device)

    config = dict(in_features=x_train.shape[1], hidden=args.hidden, n_classes=n_classes)
    net = build_model(**config, dropout=args.dropout, device=device)
    # model: what trains (with --distributed, a wrapper that averages the gradients across
    # processes and starts them all from rank 0's weights); net: the model itself, saved.
    model = DistributedDataParallel(net) if args.distributed else net
    if args.distributed:
        gk.manual_seed(args.seed + rank)  # each process its own dropout draws
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # The learning rate, set every step: a linear warm-up over the first epoch, then a
    # cosine decay to zero.
    steps_per_epoch = len(loader)
    total_steps = args.epochs * steps_per_epoch
    schedule = optim.lr_scheduler.SequentialLR(optimizer, [
        optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=steps_per_epoch),
        optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                             T_max=max(1, total_steps - steps_per_epoch)),
    ], milestones=[steps_per_epoch])

    # After every epoch: everything needed to go on as if never stopped, random state too.
    checkpoint = cli.Checkpoint(args.out / "checkpoint.safetensors", "epoch")
    save = rank == 0  # one writer: a file is never written by several processes
    history = {"loss": [], "accuracy": []}
    if resumed is not None:
        try:
            net.load_state_dict(resumed["model"])
            optimizer.load_state_dict(resumed["optimizer"])
        except (KeyError, ValueError) as e:
            cli.fail(f"--resume {args.resume}: it does not fit this model ({e})")
        schedule.load_state_dict(resumed["schedule"])
        history = {k: list(v) for k, v in resumed["history"].items()}
        checkpoint.done = resumed["progress"]["done"]
        not_restored = cli.set_rng_state(resumed["rng"], device)
        print(f"resumed from {args.resume} after epoch {checkpoint.done}"
              + (f" (random state of {', '.join(not_restored)} not in it: the draws differ)"
                 if not_restored else ""))

    def state():
        return {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "history": history,
                "rng": cli.rng_state(device), "config": cli.config(args, RUN, ("data",))}

    # --diagnose: hooks on the model and the optimizer record statistics on the device
    # every step (no host transfer); they come to the host once, after training.
    recorder = diagnostics.Recorder(net, optimizer) if args.diagnose else None

    def train_step(xb, yb):
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss

    step = gk.compile(train_step) if args.compile else train_step
    first = (checkpoint.done or 0) + 1
    bar = progress(range(first, args.epochs + 1), desc="training", unit="epoch",
                   initial=first - 1, total=args.epochs, disable=None if save else True)
    try:
        for epoch in bar:
            model.train()
            sampler.set_epoch(epoch)
            loss_sum = gk.zeros((), device=device)  # summed on the device: no sync per step
            for xb, yb in loader:
                loss = step(xb, yb)
                loss_sum = loss_sum + loss.detach()
            if args.distributed:  # the mean over all processes' batches
                dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
            # One transfer to the host per epoch, for the printout.
            history["loss"].append(float(loss_sum) / steps_per_epoch)
            history["accuracy"].append(float(accuracy(model, x_test, y_test)))
            log(f"epoch {epoch:3d}  loss {history['loss'][-1]:.4f}  "
                f"test accuracy {100 * history['accuracy'][-1]:.2f}%")
            if save:
                checkpoint.save(epoch, state())
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                acc=f"{100 * history['accuracy'][-1]:.1f}%")
    except KeyboardInterrupt:
        if hasattr(bar, "close"):
            bar.close()
        checkpoint.interrupted()  # one line, exit status 130
    if hasattr(bar, "close"):
        bar.close()
    train_seconds = time.perf_counter() - start
    final = history["accuracy"][-1] if history["accuracy"] else float("nan")
    if not save:  # another process: rank 0 writes and checks the files for all
        return dict(device=device, accuracy=final, history=history, seconds=train_seconds,
                    identical=True, checkpoint=None, model=net, x_test=x_test, config=config)
    if recorder is not None:
        recorder.remove()
        if recorder.steps:
            print("diagnostics: " + recorder.summary())
            print(f"saved {recorder.save(args.out / 'diagnostics.png')}")

    # Save the weights and the optimizer state (safetensors files, never pickle).
    checkpoint = args.out / "mlp.safetensors"
    gk.save(net.state_dict(), checkpoint)
    gk.save(optimizer.state_dict(), args.out / "optimizer.safetensors")
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"saved {checkpoint}, {args.out / 'optimizer.safetensors'}, "
          f"{args.out / 'config.json'}")

    # Reload into a fresh model, as a user would later, and compare its predictions.
    reloaded = build_model(**json.loads((args.out / "config.json").read_text()), device=device)
    reloaded.load_state_dict(gk.load(checkpoint, device=device))
    reloaded.eval()
    net.eval()
    with gk.no_grad():
        identical = np.array_equal(net(x_test).numpy(), reloaded(x_test).numpy())
    print(f"reloaded checkpoint gives identical predictions: {identical}")

    plot = plot_curves(history, args.out / "curves.png")
    if plot is not None:
        print(f"saved {plot}")
    print(f"final test accuracy: {100 * final:.2f}% in {train_seconds:.1f} s on {device}")
    return dict(device=device, accuracy=final, history=history, seconds=train_seconds,
                identical=identical, checkpoint=checkpoint, model=net, x_test=x_test,
                config=config)


def main(argv=None):
    result = train(parse_args(argv))  # a setup problem: one error line, exit status 2
    if not result["identical"]:
        sys.exit("error: the reloaded checkpoint predicts differently from the trained model")
    return result


if __name__ == "__main__":
    cli.run(main)
