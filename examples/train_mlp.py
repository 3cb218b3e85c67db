"""Train an MLP to classify handwritten digits, on a GPU when there is one, else on the CPU.

    python examples/train_mlp.py                  # scikit-learn's 8x8 digits: no download
    python examples/train_mlp.py --data mnist/    # MNIST's IDX files (downloaded if missing)
    python examples/train_mlp.py --device cpu     # or cuda, cuda:1, strict

Prints the loss and test accuracy of every epoch, then writes into --out (default runs/):
    mlp.safetensors        the model's state_dict (gk.save: safetensors, no pickle)
    optimizer.safetensors  the optimizer's state_dict, to resume training
    config.json            the sizes needed to rebuild the model
    curves.png             loss and accuracy per epoch (needs matplotlib)
and checks that the saved model, loaded into a fresh one, predicts exactly the same.
Needs the examples extra: pip install "gradkit[examples]".
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import datasets, nn, optim


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None,
                   help="directory with MNIST's IDX files (default: scikit-learn's digits)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or strict (default: cuda if usable, else cpu)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256, help="width of the two hidden layers")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None,
                   help="use at most this many training and test examples")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output directory")
    p.add_argument("--fast", action="store_true",
                   help="a quick smoke run: 3 epochs, a smaller model, at most 2000 examples")
    args = p.parse_args(argv)
    if args.fast:
        args.epochs, args.hidden, args.limit = 3, 128, args.limit or 2000
    return args


def pick_device(requested=None) -> str:
    """The device to train on: `requested`, else CUDA when it works here, else the CPU."""
    if requested is None:
        requested = "cuda" if gk.is_available("cuda") else "cpu"
    return gk.get_backend(requested).device  # raises DeviceError naming why it is unusable


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
    return tqdm(iterable, disable=None, **kwargs)  # no bar when output is not a terminal


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


def train(args):
    """Train, evaluate, save, reload and check; returns a dict of results."""
    start = time.perf_counter()
    device = pick_device(args.device)
    print(f"device: {device}")
    gk.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_data(args.data, args.limit)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    print(f"data: {len(x_train)} training and {len(x_test)} test examples, "
          f"{x_train.shape[1]} features, {n_classes} classes")
    # The whole dataset moves to the device once; batches are then cut out there, in a
    # new order every epoch drawn by the device's seeded generator.
    loader = gk.DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True,
                           device=device)
    x_test, y_test = gk.tensor(x_test, device=device), gk.tensor(y_test, device=device)

    config = dict(in_features=x_train.shape[1], hidden=args.hidden, n_classes=n_classes)
    model = build_model(**config, dropout=args.dropout, device=device)
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # The learning rate, set every step: a linear warm-up over the first epoch, then a
    # cosine decay to zero.
    steps_per_epoch = len(loader)
    total_steps = args.epochs * steps_per_epoch
    schedule = optim.lr_scheduler.SequentialLR(optimizer, [
        optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=steps_per_epoch),
        optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - steps_per_epoch),
    ], milestones=[steps_per_epoch])

    history = {"loss": [], "accuracy": []}
    bar = progress(range(1, args.epochs + 1), desc="training", unit="epoch")
    for epoch in bar:
        model.train()
        loss_sum = gk.zeros((), device=device)  # summed on the device: no sync per step
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum = loss_sum + loss.detach()
        # One transfer to the host per epoch, for the printout.
        history["loss"].append(float(loss_sum) / steps_per_epoch)
        history["accuracy"].append(float(accuracy(model, x_test, y_test)))
        log(f"epoch {epoch:3d}  loss {history['loss'][-1]:.4f}  "
            f"test accuracy {100 * history['accuracy'][-1]:.2f}%")
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                            acc=f"{100 * history['accuracy'][-1]:.1f}%")
    if hasattr(bar, "close"):
        bar.close()
    train_seconds = time.perf_counter() - start

    # Save the weights and the optimizer state (safetensors files, never pickle).
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "mlp.safetensors"
    gk.save(model.state_dict(), checkpoint)
    gk.save(optimizer.state_dict(), args.out / "optimizer.safetensors")
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"saved {checkpoint}, {args.out / 'optimizer.safetensors'}, "
          f"{args.out / 'config.json'}")

    # Reload into a fresh model, as a user would later, and compare its predictions.
    reloaded = build_model(**json.loads((args.out / "config.json").read_text()), device=device)
    reloaded.load_state_dict(gk.load(checkpoint, device=device))
    reloaded.eval()
    model.eval()
    with gk.no_grad():
        identical = np.array_equal(model(x_test).numpy(), reloaded(x_test).numpy())
    print(f"reloaded checkpoint gives identical predictions: {identical}")

    plot = plot_curves(history, args.out / "curves.png")
    if plot is not None:
        print(f"saved {plot}")
    final = history["accuracy"][-1]
    print(f"final test accuracy: {100 * final:.2f}% in {train_seconds:.1f} s on {device}")
    return dict(device=device, accuracy=final, history=history, seconds=train_seconds,
                identical=identical, checkpoint=checkpoint, model=model, x_test=x_test,
                config=config)


def main(argv=None):
    try:
        result = train(parse_args(argv))
    except (gk.DeviceError, datasets.DownloadError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")  # a setup problem, not a bug: no traceback
    if not result["identical"]:
        sys.exit("error: the reloaded checkpoint predicts differently from the trained model")
    return result


if __name__ == "__main__":
    main()
