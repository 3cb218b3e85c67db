"""gk.viz: DOT text of a graph (values, gradients, ops, edges) and rendering via `dot`."""

import os
import re
import stat
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit import viz


def records(dot):
    """{first field: the whole record label} for the record nodes of a DOT text."""
    out = {}
    for node_id, label in re.findall(r'(\w+) \[shape=record, label="\{ (.*?) \}"', dot):
        out[label.split(" | ")[0]] = (node_id, label)
    return out


def node_ids(dot, shape):
    return re.findall(rf"(\w+) \[shape={shape}, label=\"([^\"]*)\"\]", dot)


def edges(dot):
    return set(re.findall(r"(\w+) -> (\w+);", dot))


def micrograd_expression(device):
    """micrograd's example neuron: n = tanh(x1*w1 + x2*w2 + b)."""
    leaf = {k: gk.tensor(v, dtype=gk.float64, device=device, requires_grad=True) for k, v in
            dict(x1=2.0, x2=0.0, w1=-3.0, w2=1.0, b=6.8813735870195432).items()}
    x1w1 = leaf["x1"] * leaf["w1"]
    x2w2 = leaf["x2"] * leaf["w2"]
    s = x1w1 + x2w2
    n = s + leaf["b"]
    o = n.tanh()
    for t in (x1w1, x2w2, s, n, o):
        t.retain_grad()
    labels = {**{t: k for k, t in leaf.items()},
              x1w1: "x1*w1", x2w2: "x2*w2", s: "s", n: "n", o: "o"}
    return leaf, o, labels


def test_values_gradients_and_structure(device):
    leaf, o, labels = micrograd_expression(device)
    o.backward(retain_graph=True)
    dot = viz.to_dot(o, labels=labels)
    assert dot.startswith("digraph") and dot.count("{") == dot.count("}")

    rec = records(dot)
    assert set(rec) == {"x1", "x2", "w1", "w2", "b", "x1*w1", "x2*w2", "s", "n", "o"}
    # micrograd's numbers: o = 0.7071, do/dn = 0.5, do/dx1 = -1.5, do/dw1 = 1, do/dx2 = 0.5
    assert "data 0.7071 | grad 1.0000" in rec["o"][1]
    assert "data 0.8814 | grad 0.5000" in rec["n"][1]
    assert "data 2.0000 | grad -1.5000" in rec["x1"][1]
    assert "data -3.0000 | grad 1.0000" in rec["w1"][1]
    assert "data 0.0000 | grad 0.5000" in rec["x2"][1]
    assert "grad 0.0000" in rec["w2"][1]
    assert "data -6.0000 | grad 0.5000" in rec["x1*w1"][1]

    ops = node_ids(dot, "ellipse")
    assert sorted(name for _, name in ops) == ["Add", "Add", "Mul", "Mul", "Tanh"]
    e = edges(dot)
    # value -> op -> value, as micrograd draws it
    (tanh_id,) = [i for i, name in ops if name == "Tanh"]
    assert (tanh_id, rec["o"][0]) in e and (rec["n"][0], tanh_id) in e
    mul_ids = [i for i, name in ops if name == "Mul"]
    assert any((rec["x1"][0], m) in e and (rec["w1"][0], m) in e and (m, rec["x1*w1"][0]) in e
               for m in mul_ids)
    assert len(e) == 5 + 9  # one edge out of each op, one into an op from each input


def test_freed_graph_is_drawn_as_far_as_it_goes(device):
    a = gk.tensor(2.0, device=device, requires_grad=True)
    y = (a * a).tanh()
    y.backward()  # retain_graph=False releases every node
    dot = viz.to_dot(y, labels={y: "y"})
    assert "Tanh (freed)" in dot
    assert "retain_graph=True" in dot
    assert "y | data" in dot


def test_unlabelled_intermediates_show_shape_or_saved_output():
    x = gk.tensor(np.ones((3, 4)), requires_grad=True)
    y = (x @ x.T).sum()
    dot = viz.to_dot(y)
    assert "data shape (3, 3) | grad ?" in dot  # matmul result: only its shape is known
    assert "data float64 (3, 4) | grad None" in dot  # big tensors: dtype and shape
    assert "data 36.0000" in dot
    t = gk.tensor([0.0, 1.0], requires_grad=True)
    dot = viz.to_dot(t.tanh() * 2.0)  # Tanh saves its output: the values are shown
    assert "[0.    , 0.7616]" in dot


def test_constants_and_python_scalars_are_drawn():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    c = gk.tensor([3.0, 4.0])  # requires no grad
    dot = viz.to_dot((x * c) * 0.5, labels={c: "c"})
    assert re.search(r'shape=record, label="\{ c \| data \[3\., 4\.\] \| grad None \}", '
                     r"style=dashed", dot)
    assert 'shape=plaintext, label="0.5"' in dot


def test_leaf_alone_and_shared_inputs():
    a = gk.tensor(3.0, requires_grad=True)
    assert len(records(viz.to_dot(a, labels={a: "a"}))) == 1
    dot = viz.to_dot(a * a + a, labels={a: "a"})
    assert dot.count("a | data 3.0000") == 1  # one node per tensor, however often used


def test_record_fields_are_escaped():
    a = gk.tensor(1.0, requires_grad=True)
    dot = viz.to_dot(a * 2.0, labels={a: 'x{1}|<y> "q"'})
    assert r'x\{1\}\|\<y\> \"q\"' in dot


def test_deep_graph_does_not_recurse():
    x = gk.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(sys.getrecursionlimit() + 100):
        y = y + 1.0
    assert viz.to_dot(y).count("Add") == sys.getrecursionlimit() + 100


def test_not_a_tensor():
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.to_dot(np.ones(3))


def test_render_without_graphviz(monkeypatch, tmp_path):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    with pytest.raises(viz.GraphvizNotFoundError, match="install graphviz"):
        viz.render("digraph {}", tmp_path / "g.svg")


@pytest.mark.skipif(os.name == "nt", reason="the fake `dot` is a POSIX shell script")
def test_render_calls_dot(monkeypatch, tmp_path):
    """A stand-in `dot` on PATH records its arguments and copies the DOT text to -o."""
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\n'
                    'while [ "$1" != "-o" ]; do shift; done\ncat > "$2"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ["PATH"])
    dot = viz.to_dot(gk.tensor(1.0, requires_grad=True) * 2.0)
    out = viz.render(dot, tmp_path / "graph.png")
    assert out.read_text() == dot
    assert (fake.parent / "args").read_text().split()[:2] == ["-Tpng", "-o"]
    viz.render(dot, tmp_path / "graph", format="svg")
    assert (fake.parent / "args").read_text().startswith("-Tsvg")


@pytest.mark.skipif(os.name == "nt", reason="the fake `dot` is a POSIX shell script")
def test_render_reports_dot_failure(monkeypatch, tmp_path):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    with pytest.raises(RuntimeError, match="syntax error in line 1"):
        viz.render("not dot", tmp_path / "g.svg")
