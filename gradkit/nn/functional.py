"""nn.functional: activations, losses and layer functions, with PyTorch's signatures.

Everything here is composed from the differentiable ops in gradkit.ops (log_softmax,
linear, erf, ...), so gradients, second derivatives and every backend come for free.
Class dimensions follow PyTorch: axis 1 for batched input, axis 0 for a single sample.
`softmax`/`log_softmax` take the standard's `axis=` and also PyTorch's `dim=`.

Nothing here reads a device value on the host. Out-of-range indices (embedding rows,
class targets) raise IndexError on the CPU and, in debug mode (gk.set_debug), on every
backend; on a GPU without debug mode checking them would be a host synchronisation, so
there cross_entropy and nll_loss make the loss NaN instead, and embedding reads the row
the device's indexing gives (see docs/architecture.md, "Index bounds on devices").
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from gradkit import debug, ops
from gradkit.autograd import Function, ShapeError, is_grad_enabled, on_device
from gradkit.backends import DeviceError
from gradkit.tensor import Tensor, tensor
from gradkit.tensor import tensor as _as_tensor  # (one_hot's argument is named `tensor`)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gradkit._typing import Array, Grads
    from gradkit.backends import Generator

__all__ = ["one_hot", "scaled_dot_product_attention",
           "relu", "tanh", "sigmoid", "gelu", "softplus", "softmax", "log_softmax",
           "linear", "dropout", "layer_norm", "batch_norm", "embedding", "cross_entropy",
           "nll_loss", "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("none", "mean", "sum")


# ---- activations ----------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Apply ``max(x, 0)`` elementwise.

    Parameters
    ----------
    input : Tensor
    inplace : bool, default False
        Accepted for PyTorch compatibility; gradkit never overwrites an input.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.relu`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.relu(gk.tensor([-1., 0., 2.]))
    tensor([0., 0., 2.])
    """
    return ops.relu(input)


tanh = ops.tanh  # the same functions: nothing to add, and one call less per use
sigmoid = ops.sigmoid


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Apply the Gaussian error linear unit ``x * Phi(x)`` elementwise.

    Parameters
    ----------
    input : Tensor
    approximate : {"none", "tanh"}, default "none"
        Compute Phi exactly (via erf) or with PyTorch's tanh approximation.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    ValueError
        If ``approximate`` is neither "none" nor "tanh".

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.gelu`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.gelu(gk.tensor([0., 1.]), approximate="tanh")
    tensor([0.      , 0.841192])
    """
    if approximate == "none":
        return input * 0.5 * (1.0 + ops.erf(input * (1 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * math.sqrt(2 / math.pi)
        return input * 0.5 * (1.0 + ops.tanh(inner))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


class Softplus(Function):
    """``log(1 + exp(x))`` as one autograd Function, finite for any x.

    Computed as ``max(x, 0) + log1p(exp(-|x|))``, with the exact derivative ``sigmoid(x)``
    everywhere (the max/abs form alone is wrong at 0). Used by :func:`softplus` and the
    binary cross-entropy with logits; call it as ``Softplus.apply(x)``.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.nn.functional import Softplus
    >>> Softplus.apply(gk.tensor([0.]))
    tensor([0.6931472])
    """

    save_inputs = True

    def forward(self, x: Array) -> Array:
        """Compute softplus of the array ``x``.

        Parameters
        ----------
        x : array
            The input array on the Function's backend.

        Returns
        -------
        array
        """
        xp = self.xp
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g: Tensor) -> Grads:
        """Return the gradient ``g * sigmoid(x)``.

        Parameters
        ----------
        g : Tensor
            The gradient of the output.

        Returns
        -------
        tuple of Tensor
            The gradient of the input.
        """
        return g * ops.sigmoid(self.inputs[0])


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Apply ``log(1 + exp(beta * x)) / beta`` elementwise, stably.

    Parameters
    ----------
    input : Tensor
    beta : float, default 1.0
        The sharpness.
    threshold : float, default 20.0
        Where ``beta * x > threshold`` the result is ``x`` (as PyTorch).

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.softplus`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.softplus(gk.tensor([0., 30.]))
    tensor([ 0.6931472, 30.       ])
    """
    scaled = input * beta if beta != 1 else input
    out = Softplus.apply(scaled)
    if beta != 1:
        out = out * (1.0 / beta)
    return ops.where(scaled > threshold, input, out)


def _axis(axis, dim):
    return dim if dim is not None else axis


def softmax(input: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Rescale along an axis to probabilities that sum to 1, stably.

    Parameters
    ----------
    input : Tensor
    axis : int, default -1
        The axis (the array API's name).
    dim : int, optional
        Keyword only: PyTorch's name for ``axis``; it wins when given.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.softmax`. Differences: ``dim`` defaults
    to -1 (the last axis) rather than PyTorch's deprecated implicit choice; no ``dtype``
    argument.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.softmax(gk.tensor([[1., 1.]]), dim=1)
    tensor([[0.5, 0.5]])
    """
    return ops.softmax(input, axis=_axis(axis, dim))


def log_softmax(input: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Compute ``x - logsumexp(x)`` along an axis, stably.

    Parameters
    ----------
    input : Tensor
    axis : int, default -1
        The axis (the array API's name).
    dim : int, optional
        Keyword only: PyTorch's name for ``axis``; it wins when given.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.log_softmax`. Differences: ``dim``
    defaults to -1; no ``dtype`` argument.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.log_softmax(gk.tensor([[0., 0.]]), dim=1)
    tensor([[-0.6931472, -0.6931472]])
    """
    return ops.log_softmax(input, axis=_axis(axis, dim))


# ---- layers --------------------------------------------------------------------------------
linear = ops.linear  # input @ weight.T + bias, one node of the graph


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False, *, generator: Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Parameters
    ----------
    input : Tensor
    p : float, default 0.5
        The probability of zeroing an element.
    training : bool, default True
        When False, return ``input`` unchanged (so evaluation needs no rescaling).
    inplace : bool, default False
        Accepted for PyTorch compatibility; the input is never overwritten.
    generator : Generator, optional
        Keyword only: draw the mask from this generator instead of the device's.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    ValueError
        If ``p`` is not in [0, 1].

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.dropout`. Differences: the keyword
    ``generator``.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.dropout(gk.ones(3), 0.5, training=False)
    tensor([1., 1., 1.])
    >>> F.dropout(gk.ones(3), 1.0)
    tensor([0., 0., 0.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    b = input.backend
    mask = b.bernoulli_mask(input.shape, 1.0 - p, input.dtype.name, generator)
    return input * Tensor.wrap(mask, b)


def _statistics(input: Tensor, axes: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """The mean over `axes`, x - mean and the biased variance, as raw arrays (outside the
    graph: the normalising node differentiates through them itself)."""
    xp = input.backend.xp
    x = input.backend.to_float(input.array)
    mean = xp.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    return mean, centred, xp.mean(centred * centred, axis=axes, keepdims=True)


@on_device
def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes, then scale and shift.

    Parameters
    ----------
    input : Tensor
    normalized_shape : int or sequence of int
        The shape of the trailing axes to normalise over.
    weight, bias : Tensor, optional
        Multiplied by and added to the normalised values.
    eps : float, default 1e-5
        Added to the (biased) variance.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    ShapeError
        If ``input``'s shape does not end with ``normalized_shape``.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.layer_norm`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.layer_norm(gk.tensor([[1., 3.]]), 2)
    tensor([[-0.999995,  0.999995]])
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ShapeError(f"layer_norm: input of shape {input.shape} does not end with "
                         f"normalized_shape {shape}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    _, centred, var = _statistics(input, axes)
    out = LayerNormalize.apply(input, centred=centred, var=var, axes=axes, eps=eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


@on_device
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float | Array = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise every channel (axis 1) over the other axes.

    Parameters
    ----------
    input : Tensor
        Shape (N, C) or (N, C, L).
    running_mean, running_var : Tensor or None
        Running statistics of shape (C,); updated in place when training.
    weight, bias : Tensor, optional
        Per-channel scale and shift.
    training : bool, default False
        Use the batch statistics (and update the running ones); otherwise use the running
        statistics.
    momentum : float or 0-d array, default 0.1
        ``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch
        variance (as PyTorch); a 0-d array allows a cumulative average.
    eps : float, default 1e-5
        Added to the variance.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    ShapeError
        If ``input`` is not 2-d or 3-d.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.batch_norm`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.batch_norm(gk.tensor([[1.], [3.]]), None, None, training=True)
    tensor([[-0.999995],
            [ 0.999995]])
    """
    if input.ndim not in (2, 3):
        raise ShapeError(f"batch_norm expects input of shape (N, C) or (N, C, L), "
                         f"not {input.shape}")
    axes = (0,) if input.ndim == 2 else (0, 2)
    channels = input.shape[1]
    view = (channels,) if input.ndim == 2 else (channels, 1)
    n = input.numel() // channels
    if training:
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {input.shape}")
        b = input.backend
        mean, centred, var = _statistics(input, axes)  # also for the running statistics
        out = BatchNormalize.apply(input, centred=centred, var=var, axes=axes, eps=eps)
        if running_mean is not None:
            _update_running(running_mean, Tensor.wrap(mean, b), momentum, 1.0)
        if running_var is not None:
            _update_running(running_var, Tensor.wrap(var, b), momentum, n / (n - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation needs running_mean and running_var")
        xp = input.backend.xp
        inv_std = 1.0 / xp.sqrt(running_var.array + eps)
        out = (input - ops.reshape(running_mean.detach(), view)) * \
            Tensor.wrap(xp.reshape(inv_std, view), input.backend)
    if weight is not None:
        out = out * ops.reshape(weight, view)
    if bias is not None:
        out = out + ops.reshape(bias, view)
    return out


class Normalize(Function):
    """(x - mean) / sqrt(var + eps) over `axes`, the statistics of x itself, as one node:
    the caller computes `centred` = x - mean and the biased `var` once (`_statistics`;
    batch_norm uses them for the running statistics too).

    Backward is the closed form of lecture 5 (Backprop ninja), over the normalised axes:
    ``dx = inv_std * (g - mean(g) - xhat * mean(g * xhat))``. It runs on raw arrays, unless
    the backward itself is being recorded (create_graph=True): then it is built from
    differentiable ops, with ``xhat`` the node's own output and ``inv_std`` recomputed from
    x, so that second derivatives are right.
    """

    needs_float = True
    save_inputs = True  # (x: only read when recording a second derivative)
    save_output = True

    def forward(self, x: Array, centred: Array, var: Array, axes: tuple[int, ...],
                eps: float) -> Array:
        self.axes, self.eps = axes, eps
        self.inv_std = 1.0 / self.xp.sqrt(var + eps)
        return centred * self.inv_std

    def backward(self, g: Tensor) -> Grads:
        axes = self.axes
        if not is_grad_enabled():  # a plain backward: array work only
            xp, xhat, ga = self.xp, self.out, g.array
            gx = ga - xp.mean(ga, axis=axes, keepdims=True)
            gx -= xhat * xp.mean(ga * xhat, axis=axes, keepdims=True)
            gx *= self.inv_std
            return Tensor._make(gx, self.backend)
        (x,) = self.inputs
        centred = x - ops.mean(x, axis=axes, keepdims=True)
        inv_std = (ops.mean(centred * centred, axis=axes, keepdims=True) + self.eps) ** -0.5
        xhat = self.output
        return inv_std * (g - ops.mean(g, axis=axes, keepdims=True)
                          - xhat * ops.mean(g * xhat, axis=axes, keepdims=True))


class BatchNormalize(Normalize):
    """BatchNorm's normalisation: over every axis but the channels'."""


class LayerNormalize(Normalize):
    """LayerNorm's normalisation: over the trailing ``normalized_shape`` axes."""


def _update_running(running: Tensor, batch_stat: Tensor, momentum, correction: float):
    """running <- (1 - momentum) * running + momentum * correction * batch, in place on
    the device and outside the graph."""
    xp = running.backend.xp
    stat = xp.reshape(batch_stat.array, running.array.shape)
    running.array *= 1 - momentum  # in place (no copy each step), then counted as a write
    running.array += (momentum * correction) * stat
    running._bump_version()


@on_device
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Encode integer class indices as int64 one-hot rows.

    Parameters
    ----------
    tensor : Tensor
        Integer class indices.
    num_classes : int, default -1
        The number of classes; -1 takes ``max + 1``, read from the device (an explicit
        read, as PyTorch's).

    Returns
    -------
    Tensor
        Of dtype int64 and shape ``tensor.shape + (num_classes,)``.

    Raises
    ------
    TypeError
        If the indices are not integers.
    ValueError
        If ``num_classes`` is -1 and ``tensor`` is empty.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.one_hot`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.one_hot(gk.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    t = tensor if isinstance(tensor, Tensor) else _as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class indices must be integers, not {t.dtype}")
    b, xp = t.backend, t.backend.xp
    if num_classes < 0:
        if t.numel() == 0:
            raise ValueError("one_hot: cannot infer num_classes of an empty tensor")
        num_classes = int(b.to_numpy(xp.max(t.array))) + 1
    if debug.checks_bounds(b):
        debug.check_index_bounds(b, t.array, 0, num_classes, "one_hot: class values",
                                 f"num_classes={num_classes}")
    classes = xp.arange(num_classes, dtype=t.array.dtype, device=b.native_device)
    return Tensor.wrap(xp.astype(t.array[..., None] == classes, xp.int64), b)


@on_device
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Compute ``softmax(q @ k^T * scale + mask) @ v`` as one node of the graph.

    Parameters
    ----------
    query : Tensor
        Shape (..., L, E).
    key : Tensor
        Shape (..., S, E).
    value : Tensor
        Shape (..., S, Ev).
    attn_mask : Tensor, optional
        A bool mask (True: attend) or an additive float mask, broadcast to (..., L, S).
    dropout_p : float, default 0.0
        Drop attention weights with this probability (pass 0 when evaluating, as with
        PyTorch's).
    is_causal : bool, default False
        Mask the future (a lower-triangular mask).
    scale : float, optional
        Default ``1 / sqrt(E)``.
    enable_gqa : bool, default False
        Accepted for PyTorch's signature.

    Returns
    -------
    Tensor
        Shape (..., L, Ev).

    Raises
    ------
    ShapeError
        If the shapes of query, key and value do not fit.
    ValueError
        If both ``attn_mask`` and ``is_causal`` are given, or ``dropout_p`` is not in [0, 1).

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.scaled_dot_product_attention`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> q = gk.ones(1, 2, 3, 4)
    >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (1, 2, 3, 4)
    """
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not fit (q and k share the last dim, "
                         "k and v the sequence dim)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal, not both")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    b = query.backend
    mask = None
    if is_causal:
        lq, lk = query.shape[-2], key.shape[-2]
        rows = b.xp.arange(lq, device=b.native_device)[:, None]
        mask = b.xp.arange(lk, device=b.native_device)[None, :] <= rows + (lk - lq)
    elif attn_mask is not None:
        mask = _on_device(attn_mask, query, "scaled_dot_product_attention",
                          ("attn_mask", "query")).array
        if b.is_float(mask.dtype) and mask.dtype != query.array.dtype:
            mask = b.xp.astype(mask, query.array.dtype)  # an additive mask in q's dtype
    keep = None
    if dropout_p:
        if not 0.0 <= dropout_p < 1.0:
            raise ValueError(f"dropout_p must be in [0, 1), not {dropout_p}")
        lq, lk = query.shape[-2], key.shape[-2]
        shape = tuple(max(a, c) for a, c in zip(query.shape[:-2], key.shape[:-2])) + (lq, lk)
        keep = b.bernoulli_mask(shape, 1.0 - dropout_p, query.dtype.name)
    return ops.ScaledDotProductAttention.apply(query, key, value, mask=mask, keep=keep,
                                               scale=scale)


@on_device
def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Return the rows of ``weight`` at the integer indices ``input``.

    Parameters
    ----------
    input : Tensor
        Integer indices in [0, num_embeddings) (no negative ones, as PyTorch's).
    weight : Tensor
        The (num_embeddings, dim) table.
    padding_idx : int, optional
        A row that receives no gradient.

    Returns
    -------
    Tensor
        Shape ``input.shape + (dim,)``; its gradient scatter-adds into the rows.

    Raises
    ------
    TypeError
        If the indices are not integers.
    ShapeError
        If ``weight`` is not 2-d.
    IndexError
        If an index is out of range, where bounds are checked (the CPU, or debug mode).

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.embedding`. Differences: max_norm,
    scale_grad_by_freq and sparse are not accepted.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.embedding(gk.tensor([1, 0]), gk.tensor([[0., 1.], [2., 3.]]))
    tensor([[2., 3.],
            [0., 1.]])
    """
    idx = _on_device(input, weight, "embedding", ("input", "weight"))
    if idx.dtype.is_floating_point or idx.dtype.kind == "b":
        raise TypeError(f"embedding: indices must be integers, not {idx.dtype}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-d (num_embeddings, dim), "
                         f"not shape {weight.shape}")
    n = weight.shape[0]
    if debug.checks_bounds(weight.backend):
        debug.check_index_bounds(weight.backend, idx.array, 0, n, "embedding: indices",
                                 f"num_embeddings={n}")
    else:  # unchecked (a GPU): negative indices are out of range too, so NaN rows
        idx = Tensor.wrap(weight.backend.xp.where(idx.array < 0, n, idx.array), idx.backend)
    out = ops.getitem(weight, idx)  # a gather; its gradient scatter-adds into the rows
    if padding_idx is not None:
        pad = padding_idx % weight.shape[0]
        keep = Tensor.wrap(weight.backend.xp.expand_dims(idx.array != pad, axis=-1),
                            weight.backend)
        out = ops.where(keep, out, out.detach())
    return out


# ---- losses --------------------------------------------------------------------------------
def _on_device(x, like: Tensor, who: str, names: tuple[str, str] = ("target", "input")) -> Tensor:
    """`x` as a Tensor on like's device; a Tensor elsewhere is an error, not a copy.
    `names`: what `x` and `like` are, for the message."""
    if not isinstance(x, Tensor):
        return tensor(x, device=like.backend)
    if x.backend is not like.backend:
        raise DeviceError(f"{who}: {names[1]} is on {like.device} but {names[0]} is on "
                          f"{x.device}")
    return x


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class targets given log-probabilities.

    Parameters
    ----------
    input : Tensor
        Log-probabilities, (N, C) or (N, C, d...), or (C,) for one sample.
    target : Tensor
        Integer classes, (N,) or (N, d...).
    weight : Tensor, optional
        A per-class weight of shape (C,).
    ignore_index : int, default -100
        Keyword only: targets of this class contribute nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.
        "mean" divides by the summed weights of the kept targets (their count without
        ``weight``), as PyTorch.

    Returns
    -------
    Tensor
        A scalar, or per-sample losses with ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``reduction`` is not "mean", "sum" or "none".
    IndexError
        If a target is out of range, where bounds are checked (on a GPU without debug
        mode the loss is NaN instead).

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.nll_loss`. Differences: ``ignore_index``
    and ``reduction`` are keyword only (no ``size_average``/``reduce``).

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.nll_loss(gk.tensor([[-1., -2.]]), gk.tensor([0]))
    tensor(1.)
    """
    return _nll(input, target, weight, ignore_index, reduction, 0.0, "nll_loss")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class indices or class probabilities.

    Parameters
    ----------
    input : Tensor
        Logits, (N, C) or (N, C, d...), or (C,) for one sample.
    target : Tensor
        Integer classes (N,) / (N, d...), or class probabilities of ``input``'s shape.
    weight : Tensor, optional
        A per-class weight of shape (C,).
    ignore_index : int, default -100
        Keyword only: targets of this class contribute nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.
    label_smoothing : float, default 0.0
        Mix the target with the uniform distribution by this amount.

    Returns
    -------
    Tensor
        A scalar, or per-sample losses with ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``reduction`` is not "mean", "sum" or "none".
        Also if ``label_smoothing`` is not in [0, 1].
    ShapeError
        If ``input`` is 0-d or ``target`` does not fit it.
    IndexError
        If a class index is out of range, where bounds are checked.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.cross_entropy`. Computed as log_softmax
    then the likelihood, so huge logits stay finite. Differences: the options are keyword
    only.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> logits = gk.tensor([[2., 0.]], requires_grad=True)
    >>> loss = F.cross_entropy(logits, gk.tensor([0]))
    >>> loss
    tensor(0.126928, grad_fn=<...>)
    >>> loss.backward()
    >>> logits.grad
    tensor([[-0.11920303,  0.11920291]])
    >>> F.cross_entropy(gk.tensor([[0., 0.]]), gk.tensor([[0.5, 0.5]]))
    tensor(0.6931472)
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, "
                         f"not {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], "
                         f"not {label_smoothing}")
    if input.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class axis, got a 0-d tensor")
    axis = 1 if input.ndim > 1 else 0
    target = _on_device(target, input, "cross_entropy")
    if (weight is None and not label_smoothing and reduction != "none"
            and not target.dtype.is_floating_point):  # the common case: one node
        return _fused_cross_entropy(input, target, ignore_index, reduction)
    logp = ops.log_softmax(input, axis=axis)
    if target.dtype.is_floating_point:
        return _soft_cross_entropy(logp, target, weight, axis, reduction, label_smoothing)
    return _nll(logp, target, weight, ignore_index, reduction, label_smoothing,
                "cross_entropy")


def _class_view(ndim: int, axis: int, classes: int) -> tuple:
    """Shape that lines a (C,) vector up with the class axis of an ndim-d input."""
    return tuple(classes if i == axis else 1 for i in range(ndim))


def _target_pick(input, target, ignore_index, who):
    """The checked class indices of `target` for `input` (logits or log-probabilities):
    (the raw indices, `hit`: the one-hot pick, boolean of input's shape, `kept`: the
    targets that are not ignore_index, the class view). Raises on a target that does not
    fit; where bounds are checked, on one out of range."""
    axis = 1 if input.ndim > 1 else 0
    classes = input.shape[axis]
    target = _on_device(target, input, who)
    expected = input.shape[:axis] + input.shape[axis + 1:]
    if target.shape != expected:
        raise ShapeError(f"{who}: target of shape {target.shape} does not fit input of shape "
                         f"{input.shape} (expected target shape {expected})")
    if target.dtype.is_floating_point or target.dtype.kind == "b":
        raise TypeError(f"{who}: target must hold integer class indices, not {target.dtype}")
    b = input.backend
    xp, t, dev = b.xp, target.array, b.native_device
    if debug.checks_bounds(b):
        debug.check_index_bounds(b, t, 0, classes, f"{who}: targets",
                                 f"{classes} classes (ignore_index={ignore_index})",
                                 ignore=ignore_index)
    kept = t != ignore_index
    view = _class_view(input.ndim, axis, classes)
    classes_in_view = xp.reshape(xp.arange(classes, dtype=t.dtype, device=dev), view)
    picked_t = t if not 0 <= ignore_index < classes else xp.where(kept, t, -1)
    hit = xp.expand_dims(picked_t, axis=axis) == classes_in_view  # the one-hot pick
    return t, hit, kept, view


@on_device
def _fused_cross_entropy(input, target, ignore_index, reduction):
    """cross_entropy of logits against class indices, reduced, without a class weight or
    label smoothing (every classifier's loss), as one SoftmaxCrossEntropy node."""
    if not input.backend.is_float(input.array.dtype):  # integer logits (as log_softmax)
        input = Tensor.wrap(input.backend.to_float(input.array), input.backend)
    t, hit, kept, _ = _target_pick(input, target, ignore_index, "cross_entropy")
    factor = _nll_factor(input.backend, input.array.dtype, hit, kept, reduction)
    return SoftmaxCrossEntropy.apply(input, hit, factor, axis=1 if input.ndim > 1 else 0)


class SoftmaxCrossEntropy(Function):
    """cross_entropy's common case as one node: log_softmax of the logits along the class
    axis, the targets' log-probabilities picked by the one-hot mask `hit`, summed and
    multiplied by `factor` (-1/n for the mean, -1 for the sum; NaN for a target out of
    range). The same array operations as LogSoftmax, where, sum and the product would
    run as separate nodes, so the same numbers; one node instead of four in forward and
    one array pass instead of eight ops in backward, which is Chainer's
    softmax_cross_entropy. Backward, ``g * factor`` at the picks less the softmax times
    each row's share, runs on raw arrays, unless it is being recorded (create_graph):
    then it is built from differentiable ops, log_softmax recomputed from the logits.
    """

    save_inputs = True  # (the logits: only read when recording a second derivative)

    def forward(self, x: Array, hit: Array, factor: Array, axis: int) -> Array:
        xp = self.xp
        self.axis = axis
        if x.size == 0:  # nothing to normalise (LogSoftmax's zeros)
            logp = xp.zeros_like(x)
        else:
            logp = x - xp.max(x, axis=axis, keepdims=True)
            logp -= xp.log(xp.sum(xp.exp(logp), axis=axis, keepdims=True))
        self.logp = logp
        self.zero = xp.zeros((), dtype=x.dtype, device=self.backend.native_device)
        lik = xp.where(hit, logp, self.zero)
        return self.backend.sum(lik, tuple(range(x.ndim)), False) * factor

    def backward(self, g: Tensor) -> Grads:
        x, hit, factor = self.inputs
        b = self.backend
        if not is_grad_enabled():  # a plain backward: array work only
            xp = self.xp
            gw = xp.where(hit, g.array * factor, self.zero)
            e = xp.exp(self.logp)
            e *= b.sum(gw, (self.axis,), True)
            gw -= e
            return Tensor._make(gw, b), None, None
        picked = ops.where(Tensor.wrap(hit, b), g * Tensor.wrap(factor, b), 0.0)
        logp = ops.log_softmax(x, axis=self.axis)
        return picked - ops.exp(logp) * ops.sum(picked, axis=self.axis, keepdims=True), None, None


@on_device
def _nll(logp, target, weight, ignore_index, reduction, smoothing, who):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, not {reduction!r}")
    axis = 1 if logp.ndim > 1 else 0
    classes = logp.shape[axis]
    t, hit, kept, view = _target_pick(logp, target, ignore_index, who)
    b = logp.backend
    xp, dtype, dev = b.xp, logp.array.dtype, b.native_device
    pick = Tensor.wrap(xp.astype(hit, dtype), b)
    # where, not logp * pick: a masked class (logit -inf) would give -inf * 0 = NaN
    lik = ops.where(Tensor.wrap(hit, b), logp, 0.0)
    if weight is not None:
        if weight.shape != (classes,):
            raise ShapeError(f"{who}: weight must have shape ({classes},), not {weight.shape}")
        class_w = ops.reshape(_on_device(weight, logp, who, ("weight", "input")), view)
        pick = pick * class_w
        lik = lik * class_w
    # The loss is -(log-likelihood), reduced. Where bounds are not checked (a GPU outside
    # debug mode), a target outside [0, C) that is not ignore_index makes it NaN through
    # the constant factor (raising would need the host).
    if reduction != "none" and not smoothing:  # one reduction over everything
        return _reduced_nll(ops.sum(lik), pick, hit, kept, reduction, weight)
    loglik = ops.sum(lik, axis=axis)  # (weighted) log-likelihood of each target
    if smoothing:
        spread = logp if weight is None else logp * class_w
        smooth = ops.where(Tensor.wrap(kept, b), ops.sum(spread, axis=axis), 0.0)
        loglik = loglik * (1.0 - smoothing) + smooth * (smoothing / classes)
    if reduction == "none":
        valid = ((t >= 0) & (t < classes)) | ~kept
        minus_one = xp.full(t.shape, -1.0, dtype=dtype, device=dev)
        return loglik * Tensor.wrap(xp.where(valid, minus_one, math.nan), b)
    return _reduced_nll(ops.sum(loglik), pick, hit, kept, reduction, weight)


def _reduced_nll(total, pick, hit, kept, reduction, weight):
    """-total, or its mean over the kept targets (weighted); NaN if any target was
    outside [0, C) without being ignore_index (hit then misses a kept target)."""
    b = total.backend
    if reduction == "mean" and weight is not None:  # by the summed weights of the kept
        total = total / ops.sum(pick)
    unweighted = "mean" if weight is None else "sum"  # (the weighted mean divided above)
    factor = _nll_factor(b, total.array.dtype, hit, kept, unweighted if reduction == "mean"
                         else reduction)
    return total * Tensor.wrap(factor, b)


def _nll_factor(b, dtype, hit, kept, reduction):
    """The 0-d array that turns a summed log-likelihood into the loss: -1/(the number of
    kept targets) for "mean", -1 for "sum"; NaN if a target was outside [0, C) without
    being ignore_index (`hit` then misses a kept target)."""
    xp = b.xp
    n_hit = xp.count_nonzero(hit)
    all_valid = n_hit == xp.count_nonzero(kept)
    if reduction == "mean":
        factor = -1.0 / xp.astype(n_hit, dtype)
    else:
        factor = xp.full((), -1.0, dtype=dtype, device=b.native_device)
    return xp.where(all_valid, factor, math.nan)


def _soft_cross_entropy(logp, target, weight, axis, reduction, smoothing):
    """Cross-entropy against class probabilities (PyTorch's float-target form)."""
    if target.shape != logp.shape:
        raise ShapeError(f"cross_entropy: probability targets of shape {target.shape} must "
                         f"match input of shape {logp.shape}")
    classes = logp.shape[axis]
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / classes
    prod = logp * target
    if weight is not None:
        prod = prod * ops.reshape(weight, _class_view(logp.ndim, axis, classes))
    loss = -ops.sum(prod, axis=axis)
    return _reduce(loss, reduction, "cross_entropy")


def mse_loss(input: Tensor, target: Tensor | Any, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or elementwise) squared error.

    Parameters
    ----------
    input : Tensor
    target : Tensor or array_like
        Same shape as ``input``; differing shapes broadcast with a warning, as PyTorch's.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.

    Returns
    -------
    Tensor
        A scalar, or the squared errors with ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``reduction`` is not "mean", "sum" or "none".
    DeviceError
        If ``target`` is a Tensor on another device.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.mse_loss`.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.mse_loss(gk.tensor([1., 2.]), gk.tensor([1., 4.]))
    tensor(2.)
    >>> F.mse_loss(gk.tensor([1., 2.]), gk.tensor([1., 4.]), reduction="none")
    tensor([0., 4.])
    """
    target = _on_device(target, input, "mse_loss")
    if target.shape == input.shape and reduction != "none":
        if reduction not in _REDUCTIONS:
            raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, not {reduction!r}")
        return ops.MSELoss.apply(input, target, reduction=reduction)  # one node
    if target.shape != input.shape:
        warnings.warn(f"mse_loss: target shape {target.shape} differs from input shape "
                      f"{input.shape}; they are broadcast, which is likely a mistake",
                      stacklevel=2)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits, finite for any logit.

    Parameters
    ----------
    input : Tensor
        Logits.
    target : Tensor
        Targets in [0, 1], shaped as ``input``.
    weight : Tensor, optional
        Multiplies the per-element losses.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.
    pos_weight : Tensor, optional
        Keyword only: weight of the positive term, per class.

    Returns
    -------
    Tensor
        A scalar, or the elementwise losses with ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``reduction`` is not "mean", "sum" or "none".
    ShapeError
        If ``target``'s shape differs from ``input``'s.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.binary_cross_entropy_with_logits`.
    Computed as ``(1 - t) x + w_pos softplus(-x)`` with ``w_pos = 1 + (pos_weight - 1) t``.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(gk.tensor([0., 0.]), gk.tensor([1., 0.]))
    tensor(0.6931472)
    """
    target = _on_device(target, input, "binary_cross_entropy_with_logits")
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: target of shape {target.shape} "
                         f"must match input of shape {input.shape}")
    softplus_neg = Softplus.apply(-input)
    if pos_weight is not None:
        softplus_neg = softplus_neg * ((pos_weight - 1.0) * target + 1.0)
    loss = (1.0 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


class BinaryCrossEntropy(Function):
    """``-(t log(x) + (1 - t) log(1 - x))`` as one autograd Function, each log clamped at -100.

    PyTorch's gradients: ``(x - t) / max(x (1 - x), 1e-12)`` for x and ``-logit(x)`` for t,
    finite at x = 0 and 1. Used by :func:`binary_cross_entropy`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.nn.functional import BinaryCrossEntropy
    >>> BinaryCrossEntropy.apply(gk.tensor([0.5]), gk.tensor([1.]))
    tensor([0.6931472])
    """

    save_inputs = True
    EPS = 9.999999960041972e-13  # PyTorch's EPSILON, the float32 nearest 1e-12

    def forward(self, x: Array, t: Array) -> Array:
        """Compute the elementwise loss of the arrays ``x`` (probabilities) and ``t`` (targets).

        Parameters
        ----------
        x, t : array

        Returns
        -------
        array
        """
        xp = self.xp
        log_p = xp.maximum(xp.log(x), -100.0)
        log_q = xp.maximum(xp.log1p(-x), -100.0)
        return (t - 1) * log_q - t * log_p

    def backward(self, g: Tensor) -> Grads:
        """Return the gradients of ``x`` and ``t`` (None where not needed).

        Parameters
        ----------
        g : Tensor
            The gradient of the output.

        Returns
        -------
        tuple of (Tensor or None)
        """
        x, t = self.inputs
        gx = g * (x - t) / ops.maximum(x * (1.0 - x), self.EPS) if self.needs[0] else None
        gt = g * (ops.log1p(-x) - ops.log(x)) if self.needs[1] else None
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities; logs are clamped at -100 as PyTorch's.

    Parameters
    ----------
    input : Tensor
        Probabilities in [0, 1].
    target : Tensor
        Targets in [0, 1], shaped as ``input``.
    weight : Tensor, optional
        Multiplies the per-element losses.
    reduction : {"mean", "sum", "none"}, default "mean"
        How to reduce the per-element losses.

    Returns
    -------
    Tensor
        A scalar, or the elementwise losses with ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``reduction`` is not "mean", "sum" or "none".
    ShapeError
        If ``target``'s shape differs from ``input``'s.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.binary_cross_entropy`. Prefer
    :func:`binary_cross_entropy_with_logits`, which is stable for any logit.

    Examples
    --------
    >>> import gradkit as gk
    >>> import gradkit.nn.functional as F
    >>> F.binary_cross_entropy(gk.tensor([0.5]), gk.tensor([1.]))
    tensor(0.6931472)
    """
    target = _on_device(target, input, "binary_cross_entropy")
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy: target of shape {target.shape} must match "
                         f"input of shape {input.shape}")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")
