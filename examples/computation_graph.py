"""Draw the graph of a small expression, each node with its value and gradient (as micrograd).

    python examples/computation_graph.py            # writes runs/graph.dot (+ .svg with graphviz)
    python examples/computation_graph.py --format png --out /tmp/graphs

The expression is micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b). The DOT text comes
from gk.viz.to_dot; turning it into an image needs the Graphviz `dot` program
(apt install graphviz / brew install graphviz). Without it the .dot file is still
written: paste it into any Graphviz viewer. A bad --device or an unwritable --out ends in
one `error:` line and exit status 2.
"""

import argparse
from pathlib import Path

import _cli as cli

import gradkit as gk


def neuron(device="cpu"):
    """o = tanh(x1*w1 + x2*w2 + b), built from scalar tensors; returns (o, names)."""

    def scalar(value):
        return gk.tensor(value, dtype=gk.float64, device=device, requires_grad=True)

    x1, x2 = scalar(2.0), scalar(0.0)  # inputs
    w1, w2 = scalar(-3.0), scalar(1.0)  # weights
    b = scalar(6.8813735870195432)  # bias, chosen so that o comes out at 0.7071
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    x1w1x2w2 = x1w1 + x2w2
    n = x1w1x2w2 + b
    o = n.tanh()
    names = {x1: "x1", x2: "x2", w1: "w1", w2: "w2", b: "b", x1w1: "x1*w1", x2w2: "x2*w2",
             x1w1x2w2: "x1*w1 + x2*w2", n: "n", o: "o"}
    for t in (x1w1, x2w2, x1w1x2w2, n, o):
        t.retain_grad()  # keep the gradients of intermediate results to draw them
    return o, names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs"), help="output directory")
    parser.add_argument("--format", default="svg", help="image format for graphviz (svg, png)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or strict")
    args = parser.parse_args(argv)
    device = cli.device(args.device)  # an unusable device: one error line, exit status 2
    out = cli.output_dir(args.out)
    print(f"device: {device}")

    o, names = neuron(device)
    o.backward(retain_graph=True)  # keep the graph alive so it can be drawn afterwards
    for t, name in names.items():
        print(f"{name:>14}  data {t.item():+.4f}  grad {t.grad.item():+.4f}")

    dot = gk.viz.to_dot(o, labels=names)
    dot_path = out / "graph.dot"
    dot_path.write_text(dot)
    print(f"wrote {dot_path}")
    try:
        image = gk.viz.render(dot, out / f"graph.{args.format}", format=args.format)
        print(f"wrote {image}")
    except gk.viz.GraphvizNotFoundError:
        print("graphviz is not installed, so no image was rendered; install it "
              f"(e.g. apt install graphviz) or run: dot -T{args.format} {dot_path}")
    except RuntimeError as e:  # dot refused the format
        cli.fail(f"{e}; {dot_path} is written: pass a format dot knows (--format svg or png)")


if __name__ == "__main__":
    cli.run(main)
