"""Draw the graph that produced a tensor, micrograd style, as Graphviz DOT text.

    a = gk.tensor(2.0, requires_grad=True)
    b = gk.tensor(-3.0, requires_grad=True)
    d = (a * b).tanh()
    d.backward(retain_graph=True)           # keep the graph to draw it afterwards
    dot = gk.viz.to_dot(d, labels={a: "a", b: "b", d: "d"})
    gk.viz.render(dot, "graph.svg")         # needs the Graphviz `dot` program

Each tensor is a record node (name, value or shape, gradient) and each op an oval
node with the op's name. Values are brought to the host (a copy from a device): this
is a debugging tool, not part of the training path.

An op's output is only kept by the graph when the op saved it for backward; the values
of other intermediate results are shown when the tensor is passed in `labels` (or had
`retain_grad()` called on it), otherwise only their shape is known.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .autograd import AccumulateGrad
from .tensor import Tensor

__all__ = ["GraphvizNotFoundError", "render", "to_dot"]

_MAX_SHOWN = 6  # tensors with more elements are drawn as dtype and shape


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not installed; :func:`to_dot` still works without it.

    Examples
    --------
    >>> import gradkit as gk
    >>> issubclass(gk.viz.GraphvizNotFoundError, RuntimeError)
    True
    """


def to_dot(root: Tensor, labels: dict | None = None, rankdir: str = "LR") -> str:
    """Return Graphviz DOT text of the graph that produced ``root``.

    Each tensor is a record node (name, value or shape, gradient) and each op an oval node
    with the op's name. Values are brought to the host: a debugging tool, not part of the
    training path.

    Parameters
    ----------
    root : Tensor
        The output whose history to draw.
    labels : dict of Tensor to str, optional
        Names drawn in the tensors' nodes; the values of labelled intermediate results are
        shown too (otherwise only their shape, unless the op saved them).
    rankdir : {"LR", "TB"}, default "LR"
        Left to right (as micrograd) or top to bottom.

    Returns
    -------
    str
        The DOT text; pass it to :func:`render` or any Graphviz viewer.

    Raises
    ------
    TypeError
        If ``root`` is not a Tensor.

    Notes
    -----
    No PyTorch equivalent (compare the torchviz package). After ``backward()`` without
    ``retain_graph=True`` the graph's nodes are released; what is left is drawn and the
    drawing says so.

    Examples
    --------
    >>> import gradkit as gk
    >>> a = gk.tensor(2.0, requires_grad=True)
    >>> b = gk.tensor(-3.0, requires_grad=True)
    >>> d = (a * b).tanh()
    >>> d.backward(retain_graph=True)     # keep the graph to draw it afterwards
    >>> dot = gk.viz.to_dot(d, labels={a: "a", b: "b", d: "d"})
    >>> dot.splitlines()[0]
    'digraph gradkit {'
    >>> for line in dot.splitlines()[3:6]:
    ...     print(line.strip())
    v0 [shape=record, label="{ d | data -1.0000 | grad None }"];
    v1 [shape=record, label="{ data shape () | grad ? }"];
    op2 [shape=ellipse, label="Tanh"];
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(root).__name__}")
    names = {id(t): str(name) for t, name in (labels or {}).items()}
    known = _tensors_by_node([root, *(labels or {})])
    out = _Writer(rankdir)

    root_id = out.value(root, names.get(id(root)))
    if root._node is None:
        return out.text()

    shapes = {root._node: root.shape}  # output shape of every node, learned from consumers
    seen = {root._node}
    order, stack = [], [root._node]
    while stack:  # iterative: deep graphs do not hit the recursion limit
        fn = stack.pop()
        order.append(fn)
        if fn.freed:
            continue
        for edge, shape in zip(fn.edges, fn.shapes):
            if edge is not None and not isinstance(edge, AccumulateGrad):
                shapes.setdefault(edge, shape)
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)

    value_ids = {root._node: root_id}
    for fn in order:
        if fn not in value_ids:
            t = known.get(fn)
            if t is not None:
                value_ids[fn] = out.value(t, names.get(id(t)))
            else:
                value_ids[fn] = out.node_output(fn, shapes.get(fn))
    freed = False
    for fn in order:
        op_id = out.op(fn)
        out.edge(op_id, value_ids[fn])
        if fn.freed:
            freed = True
            continue
        inputs = fn.inputs or None  # only ops that save their inputs keep them
        for i, edge in enumerate(fn.edges):
            if isinstance(edge, AccumulateGrad):  # a leaf that requires grad
                leaf = edge.leaf()
                if leaf is None:
                    continue
                src = out.value(leaf, names.get(id(leaf)))
            elif edge is not None:
                src = value_ids[edge]
            elif inputs is not None and isinstance(inputs[i], Tensor):  # a constant tensor
                src = out.value(inputs[i], names.get(id(inputs[i])), constant=True)
            elif inputs is not None and inputs[i] is not None:  # a Python scalar
                src = out.scalar(inputs[i])
            else:
                continue
            out.edge(src, op_id)
    if freed:
        out.note("parts of this graph were freed by backward(); "
                 "call backward(retain_graph=True) to draw all of it")
    return out.text()


def render(dot: str, path: str | os.PathLike[str], format: str | None = None) -> Path:
    """Render DOT text to an image file with Graphviz's ``dot`` program.

    Parameters
    ----------
    dot : str
        DOT text, as from :func:`to_dot`.
    path : str or os.PathLike
        The image file to write.
    format : str, optional
        "svg", "png", "pdf", ... (default: the file's suffix, else svg).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    GraphvizNotFoundError
        If ``dot`` is not installed.
    RuntimeError
        If ``dot`` fails.

    Examples
    --------
    >>> import os, tempfile
    >>> import gradkit as gk
    >>> x = gk.tensor([1., 2.], requires_grad=True)
    >>> dot = gk.viz.to_dot((x * 2).sum(), labels={x: "x"})
    >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
    ...     gk.viz.render(dot, os.path.join(d, "graph.svg")).suffix
    '.svg'
    """
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            "render: the Graphviz `dot` program was not found on PATH; install graphviz "
            "(apt install graphviz, brew install graphviz or conda install graphviz), or "
            "write the DOT text to a .dot file and view it with any Graphviz viewer")
    path = Path(path)
    format = format or path.suffix.lstrip(".") or "svg"
    result = subprocess.run([exe, f"-T{format}", "-o", str(path)], input=dot.encode(),
                            capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"render: dot -T{format} failed for {path}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return path


# ---- helpers ---------------------------------------------------------------------------
def _tensors_by_node(tensors):
    """{node: tensor} for tensors whose node we can draw with its value and gradient."""
    known: dict[Any, Tensor] = {}
    for t in tensors:
        if isinstance(t, Tensor) and t._node is not None:
            known.setdefault(t._node, t)
    for fn in list(known):  # tensors that asked for retain_grad()
        for ref in fn.retained or ():
            t = ref()
            if t is not None:
                known.setdefault(fn, t)
    return known


def _fmt(array: np.ndarray) -> str:
    """A scalar as `2.0000`, a small array as its values, a big one as dtype and shape."""
    if array.size == 1 and array.ndim == 0:
        return f"{array.item():.4f}" if array.dtype.kind == "f" else str(array.item())
    if array.size <= _MAX_SHOWN:
        return np.array2string(array, precision=4, separator=", ", suppress_small=True)
    return f"{array.dtype} {tuple(array.shape)}"


def _escape(text: str, record: bool = True) -> str:
    """Escape what is special in a Graphviz label (a record's fields: also {}|<>)."""
    for ch in "\\{}|<>\"" if record else "\\\"":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


class _Writer:
    """Collects DOT statements; gives every drawn object one stable node id."""

    def __init__(self, rankdir):
        self.lines = [f"  rankdir={rankdir};", '  node [fontname="Helvetica"];']
        self.ids = {}
        self.edges = set()

    def _id(self, key, prefix):
        if key not in self.ids:
            self.ids[key] = f"{prefix}{len(self.ids)}"
            return self.ids[key], True
        return self.ids[key], False

    def _record(self, node_id, fields, style=""):
        label = " | ".join(_escape(f) for f in fields)
        self.lines.append(f'  {node_id} [shape=record, label="{{ {label} }}"{style}];')

    def value(self, t: Tensor, name=None, constant=False):
        node_id, new = self._id(("tensor", id(t)), "v")
        if new:
            data = t.backend.to_numpy(t.array)
            grad = "None" if t.grad is None else _fmt(t.grad.backend.to_numpy(t.grad.array))
            fields = ([name] if name else []) + [f"data {_fmt(data)}", f"grad {grad}"]
            self._record(node_id, fields, ", style=dashed" if constant else "")
        return node_id

    def node_output(self, fn, shape):
        node_id, new = self._id(("out", id(fn)), "v")
        if new:
            if getattr(fn, "out", None) is not None:
                data = _fmt(fn.backend.to_numpy(fn.out))
            else:
                data = "shape " + ("?" if shape is None else str(tuple(shape)))
            self._record(node_id, [f"data {data}", "grad ?"])
        return node_id

    def scalar(self, value):
        node_id, _ = self._id(("scalar", len(self.ids)), "c")
        label = _escape(repr(value), record=False)
        self.lines.append(f'  {node_id} [shape=plaintext, label="{label}"];')
        return node_id

    def op(self, fn):
        node_id, new = self._id(("op", id(fn)), "op")
        if new:
            name = _escape(type(fn).__name__ + (" (freed)" if fn.freed else ""), record=False)
            self.lines.append(f'  {node_id} [shape=ellipse, label="{name}"];')
        return node_id

    def edge(self, a, b):
        if (a, b) not in self.edges:
            self.edges.add((a, b))
            self.lines.append(f"  {a} -> {b};")

    def note(self, text):
        self.lines.append(f'  label="{_escape(text, record=False)}"; labelloc=b;')

    def text(self):
        return "digraph gradkit {\n" + "\n".join(self.lines) + "\n}\n"
