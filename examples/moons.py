"""micrograd's demo on arrays: a 2-16-16-1 MLP separates two moons with a max-margin loss.

    python examples/moons.py                 # writes runs/moons.png
    python examples/moons.py --device cuda
    python examples/moons.py --fast --steps 50  # explicit options win over --fast's 20 steps

As in micrograd's demo.ipynb: 100 points from make_moons (noise 0.1) with labels -1/+1,
the hinge loss relu(1 - y * score) averaged over the points plus 1e-4 times the sum of
squared weights, and 100 steps of full-batch SGD with the learning rate decaying from
1.0 to 0.1. Where micrograd loops over scalar Values, this runs each step as a few
array ops. Needs the examples extra: pip install "gradkit[examples]". It trains in about
a second, so it keeps no checkpoints: Ctrl-C stops it with one line. Setup problems (an
unusable device, an unwritable --out) end in one `error:` line and exit status 2.
"""

from pathlib import Path

import _cli as cli
import numpy as np

import gradkit as gk
from gradkit import nn, optim


def make_data(n=100, noise=0.1, seed=1337):
    """Two interleaved half circles: (x float32 (n, 2), y float32 (n,) of -1/+1)."""
    try:
        from sklearn.datasets import make_moons
    except ImportError:
        cli.fail('this example needs scikit-learn: pip install "gradkit[examples]"')

    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return x.astype(np.float32), (2 * y - 1).astype(np.float32)


def build_model(device=None):
    """2 inputs, two hidden layers of 16 ReLU units, one linear output (a score)."""
    return nn.Sequential(
        nn.Linear(2, 16, device=device), nn.ReLU(),
        nn.Linear(16, 16, device=device), nn.ReLU(),
        nn.Linear(16, 1, device=device),
    )


def loss_and_accuracy(model, x, y, alpha=1e-4):
    """micrograd's max-margin loss with L2 regularisation, and the training accuracy."""
    scores = model(x).reshape(-1)
    data_loss = (1 - y * scores).relu().mean()
    reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
    accuracy = ((y > 0) == (scores > 0)).astype(gk.float32).mean()
    return data_loss + reg_loss, accuracy


def plot_boundary(model, x, y, path, device):
    """The model's decision regions on a grid, with the points on top, as a PNG."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = 0.02
    x_min, x_max = x[:, 0].min() - 1, x[:, 0].max() + 1
    y_min, y_max = x[:, 1].min() - 1, x[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    grid = gk.tensor(np.c_[xx.ravel(), yy.ravel()].astype(np.float32), device=device)
    with gk.no_grad():
        scores = model(grid).numpy().reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(5, 4))
    regions = np.where(scores > 0, 1.0, -1.0)  # the predicted label, -1 or +1
    ax.contourf(xx, yy, regions, levels=[-2, 0, 2], cmap=plt.cm.Spectral, alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], c=y, s=30, cmap=plt.cm.Spectral, vmin=-1.5, vmax=1.5,
               edgecolors="k")
    ax.set(xlim=(xx.min(), xx.max()), ylim=(yy.min(), yy.max()), title="decision boundary")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


DEFAULTS = dict(device=None, steps=100, seed=0, out=Path("runs"), fast=False)
FAST = dict(steps=20)  # an option given explicitly wins over both tables


def main(argv=None):
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--device",
                        help="cpu, cuda, cuda:N or strict (default: cuda if usable, else cpu)")
    parser.add_argument("--steps", type=cli.count, help="SGD steps (default 100; --fast: 20)")
    parser.add_argument("--seed", type=int, help="seed of the initial weights (default 0)")
    parser.add_argument("--out", type=Path, help="output directory (default runs)")
    parser.add_argument("--fast", action="store_true", help="a quick smoke run (20 steps)")
    args = cli.parse(parser, argv, DEFAULTS, FAST)
    device = cli.device(args.device)  # the canonical name, e.g. "cuda:0"; or one error line
    out = cli.output_dir(args.out)
    print(f"device: {device}")

    gk.manual_seed(args.seed)
    x_np, y_np = make_data()
    x, y = gk.tensor(x_np, device=device), gk.tensor(y_np, device=device)
    model = build_model(device)
    print(f"{sum(p.numel() for p in model.parameters())} parameters")
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    # micrograd's schedule: lr = 1.0 - 0.9 * k / 100 at step k
    schedule = optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0 - 0.9 * k / args.steps)

    k = 0
    try:
        for k in range(args.steps):
            loss, acc = loss_and_accuracy(model, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if k % 10 == 0 or k == args.steps - 1:  # printing pulls the numbers to the host
                print(f"step {k:3d}  loss {float(loss):.4f}  accuracy {100 * float(acc):.0f}%")
    except KeyboardInterrupt:
        cli.interrupted(f"interrupted at step {k} of {args.steps}; nothing saved (this "
                        "example keeps no checkpoints: it trains in about a second)")

    loss, acc = loss_and_accuracy(model, x, y)
    print(f"final training accuracy: {100 * float(acc):.0f}% (loss {float(loss):.4f})")
    path = plot_boundary(model, x_np, y_np, out / "moons.png", device)
    if path is not None:
        print(f"saved {path}")
    return float(acc)


if __name__ == "__main__":
    cli.run(main)
