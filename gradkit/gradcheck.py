"""Gradient checking: analytic gradients against central finite differences.

Every array stays on the inputs' device; only the final comparison's numbers come to
the host, to decide and to write the message.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import GradkitError, grad, on_device
from .tensor import Tensor

FULL_JACOBIAN_MAX = 256  # inputs with at most this many elements get every column checked


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message says where and by how much.

    Raised by :func:`gradcheck` and :func:`gradgradcheck`; ``gk.GradcheckError`` (also
    ``from gradkit.gradcheck import GradcheckError``, the module that defines it).

    Notes
    -----
    PyTorch's counterpart is ``torch.autograd.gradcheck.GradcheckError``, which
    :func:`torch.autograd.gradcheck` raises. Differences: PyTorch's is a RuntimeError;
    this one is an AssertionError, so that test frameworks report a failed check as a
    test failure rather than an error.

    Examples
    --------
    >>> import gradkit as gk
    >>> issubclass(gk.GradcheckError, AssertionError)
    True
    >>> class Wrong(gk.Function):
    ...     def forward(self, x):
    ...         return x * 2
    ...     def backward(self, g):
    ...         return g * 3
    >>> x = gk.tensor([1.0, 2.0], dtype=gk.float64, requires_grad=True)
    >>> gk.gradcheck(Wrong.apply, x)
    Traceback (most recent call last):
    ...
    gradkit.gradcheck.GradcheckError: gradcheck: output 0 ... analytic 3 vs numeric 2 ...
    """


def _outputs(fn, inputs):
    out = fn(*inputs)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _diff_inputs(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def _check_dtypes(inputs, who):
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != "float64":
            warnings.warn(f"{who}: input of dtype {x.dtype} is not float64; finite "
                          "differences in low precision are unreliable", stacklevel=3)


def _perturbed(inputs, i, direction, step):
    """inputs with inputs[i] replaced by inputs[i] + step * direction (no graph)."""
    x = inputs[i]
    moved = Tensor.wrap(x.array + step * direction, x.backend)
    moved._requires_grad = x.requires_grad  # a leaf again, for checks of second derivatives
    return [moved if j == i else t for j, t in enumerate(inputs)]


def _numeric(fn, inputs, i, direction, eps):
    """Central difference of every output along `direction` of input i: list of arrays."""
    plus = _outputs(fn, _perturbed(inputs, i, direction, eps))
    minus = _outputs(fn, _perturbed(inputs, i, direction, -eps))
    return [(p.array - m.array) / (2 * eps) for p, m in zip(plus, minus)]


def _compare(analytic, numeric, atol, rtol, where):
    """Raise GradcheckError naming `where` and the worst element if they differ."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))
    if bad.any():
        k = np.unravel_index(np.argmax(np.where(bad, np.abs(a - n), -1.0)), a.shape)
        raise GradcheckError(f"{where}, element {tuple(int(v) for v in k)}: analytic "
                             f"{a[k]:.10g} vs numeric {n[k]:.10g} "
                             f"(atol={atol}, rtol={rtol}; {int(bad.sum())} of {a.size} differ)")


@on_device
def gradcheck(fn: Callable[..., Any], inputs: Tensor | Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, mode: str = "auto",
              n_directions: int = 4, seed: int = 0) -> bool:
    """Check the gradients of `fn(*inputs)` against finite differences (torch.autograd.gradcheck).

    Every input that requires grad is checked, against every floating-point output.
    Mode "full" compares whole Jacobians column by column (input elements), "fast"
    compares directional derivatives u^T J v for random u, v; "auto" picks "full" when
    each checked input has at most FULL_JACOBIAN_MAX (256) elements. Use float64
    inputs: finite differences in float32 are unreliable (a warning says so).

    Parameters
    ----------
    fn : callable
        Takes the inputs, returns a Tensor or a sequence of Tensors.
    inputs : Tensor or sequence
        The arguments of `fn`; those that require grad are checked.
    eps : float, default 1e-6
        The finite-difference step.
    atol, rtol : float, default 1e-5 and 1e-3
        The absolute and relative tolerance.
    mode : {"auto", "full", "fast"}, default "auto"
        How to compare, as above.
    n_directions : int, default 4
        How many random directions mode "fast" tries.
    seed : int, default 0
        The seed of those directions.

    Returns
    -------
    bool
        True (it raises rather than return False).

    Raises
    ------
    GradcheckError
        If the gradients disagree; the message names the output, input and element.
    GradkitError
        If no input requires grad.

    Notes
    -----
    PyTorch equivalent: :func:`torch.autograd.gradcheck`. Differences: it raises instead
    of returning False, and the whole check stays on the inputs' device.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], dtype=gk.float64, requires_grad=True)
    >>> gk.gradcheck(lambda t: (t ** 3).sum(), x)
    True
    >>> a = gk.tensor([[1.0, 2.0]], dtype=gk.float64, requires_grad=True)
    >>> w = gk.tensor([[0.5], [-1.0]], dtype=gk.float64, requires_grad=True)
    >>> gk.gradcheck(lambda a, w: (a @ w).tanh(), [a, w])
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # (one tensor, as torch)
    _check_dtypes(inputs, "gradcheck")
    checked = _diff_inputs(inputs)
    if not checked:
        raise GradkitError("gradcheck: no input requires grad")
    outputs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    for o, out in enumerate(outputs):
        if not out.dtype.is_floating_point:
            continue
        if not out.requires_grad:
            for i in checked:  # a constant output: its numeric gradient must vanish
                _check_zero(fn, inputs, i, o, eps, atol)
            continue
        for i in checked:
            x = inputs[i]
            full = mode == "full" or (mode == "auto" and x.numel() <= FULL_JACOBIAN_MAX)
            where = f"gradcheck: output {o} (shape {out.shape}) w.r.t. input {i} (shape {x.shape})"
            if full:
                _full_jacobian(fn, inputs, outputs, o, i, eps, atol, rtol, where)
            else:
                _directional(fn, inputs, outputs, o, i, eps, atol, rtol, where, rng,
                             n_directions)
    return True


def _check_zero(fn, inputs, i, o, eps, atol):
    x = inputs[i]
    direction = x.backend.xp.ones_like(x.array)
    num = x.backend.to_numpy(_numeric(fn, inputs, i, direction, eps)[o])
    if np.abs(num).max(initial=0) > atol:
        raise GradcheckError(f"gradcheck: output {o} does not require grad but changes with "
                             f"input {i} (numeric derivative up to {np.abs(num).max():.4g})")


def _analytic_vjp(fn, inputs, o, i, cotangent):
    """cotangent^T d out_o / d input_i, computed by backward on a fresh graph."""
    out = _outputs(fn, inputs)[o]
    (g,) = grad(out, inputs[i], grad_outputs=cotangent, allow_unused=True)
    if g is None:
        return inputs[i].backend.xp.zeros_like(inputs[i].array)
    return g.array


def _full_jacobian(fn, inputs, outputs, o, i, eps, atol, rtol, where):
    x, out = inputs[i], outputs[o]
    xp, b = x.backend.xp, x.backend
    n_in, n_out = x.numel(), out.numel()
    # Numeric Jacobian, column by column (one input element at a time).
    numeric = []
    for k in range(n_in):
        e = xp.zeros(n_in, dtype=x.array.dtype, device=b.native_device)
        e[k] = 1.0
        col = _numeric(fn, inputs, i, xp.reshape(e, x.array.shape), eps)[o]
        numeric.append(xp.reshape(col, (n_out,)))
    # Analytic Jacobian, row by row (one output element at a time).
    analytic = []
    for r in range(n_out):
        u = xp.zeros(n_out, dtype=out.array.dtype, device=b.native_device)
        u[r] = 1.0
        cot = Tensor.wrap(xp.reshape(u, out.array.shape), b)
        analytic.append(xp.reshape(_analytic_vjp(fn, inputs, o, i, cot), (n_in,)))
    num = b.to_numpy(xp.stack(numeric, axis=1)) if numeric else np.zeros((n_out, 0))
    ana = b.to_numpy(xp.stack(analytic, axis=0)) if analytic else np.zeros((0, n_in))
    _compare(ana.reshape(out.shape + x.shape) if out.shape or x.shape else ana,
             num.reshape(out.shape + x.shape) if out.shape or x.shape else num,
             atol, rtol, where + " [Jacobian entry (output index..., input index...)]")


def _directional(fn, inputs, outputs, o, i, eps, atol, rtol, where, rng, n):
    x, out = inputs[i], outputs[o]
    b = x.backend
    for trial in range(n):
        v = b.asarray(rng.standard_normal(x.shape), x.dtype.name)
        u = b.asarray(rng.standard_normal(out.shape), out.dtype.name)
        numeric = _numeric(fn, inputs, i, v, eps)[o]
        num = b.xp.sum(u * numeric)
        vjp = _analytic_vjp(fn, inputs, o, i, Tensor.wrap(u, b))
        ana = b.xp.sum(vjp * v)
        _compare(b.to_numpy(ana), b.to_numpy(num), atol * max(1, x.numel()) ** 0.5, rtol,
                 where + f" [random direction {trial}: u^T J v]")


@on_device
def gradgradcheck(fn: Callable[..., Any], inputs: Tensor | Sequence[Any],
                  grad_outputs: Tensor | Sequence[Tensor] | None = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, mode: str = "auto",
                  seed: int = 0) -> bool:
    """Check second derivatives against finite differences (torch.autograd.gradgradcheck).

    Runs :func:`gradcheck` on (inputs, cotangents) -> d(u^T fn)/d inputs, computed with
    ``create_graph=True``. The cotangents u are random (or `grad_outputs`) and are
    themselves checked inputs, so both the dependence of the gradient on the inputs and
    on u are verified.

    Parameters
    ----------
    fn : callable
        Takes the inputs, returns a Tensor or a sequence of Tensors.
    inputs : Tensor or sequence
        The arguments of `fn`; those that require grad are checked.
    grad_outputs : Tensor or sequence of Tensor, optional
        The cotangents u, one per differentiable output; random by default.
    eps : float, default 1e-6
        The finite-difference step.
    atol, rtol : float, default 1e-5 and 1e-3
        The absolute and relative tolerance.
    mode : {"auto", "full", "fast"}, default "auto"
        As in :func:`gradcheck`.
    seed : int, default 0
        The seed of the random cotangents and directions.

    Returns
    -------
    bool
        True (it raises rather than return False).

    Raises
    ------
    GradcheckError
        If the second derivatives disagree.
    GradkitError
        If no input requires grad, or an op on the way does not support double backward.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], dtype=gk.float64, requires_grad=True)
    >>> gk.gradgradcheck(lambda t: (t ** 3).sum(), x)
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # (one tensor, as torch)
    _check_dtypes(inputs, "gradgradcheck")
    checked = _diff_inputs(inputs)
    if not checked:
        raise GradkitError("gradgradcheck: no input requires grad")
    outputs = [t for t in _outputs(fn, inputs) if t.requires_grad and t.dtype.is_floating_point]
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [Tensor.wrap(out.backend.asarray(rng.standard_normal(out.shape),
                                                         out.dtype.name), out.backend)
                        for out in outputs]
    cots = [Tensor.wrap(g.array, g.backend).requires_grad_(True) for g in grad_outputs]
    n_in = len(inputs)

    def first_derivative(*args):
        xs, us = list(args[:n_in]), list(args[n_in:])
        outs = [t for t in _outputs(fn, xs) if t.requires_grad and t.dtype.is_floating_point]
        wrt = [xs[i] for i in checked]
        grads = grad(outs, wrt, grad_outputs=us, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else wrt[k] * 0 for k, g in enumerate(grads))

    return gradcheck(first_derivative, inputs + cots, eps=eps, atol=atol, rtol=rtol, mode=mode,
                     seed=seed)
