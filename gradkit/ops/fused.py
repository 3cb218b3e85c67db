"""Fused nodes for the layers every training step repeats: Linear (x @ W.T + b) and the
mean squared error with its backward, each one node instead of several."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gradkit.autograd import Function, ShapeError
from gradkit.tensor import Tensor

from ._common import public

if TYPE_CHECKING:

    from gradkit._typing import Array, Grads


class Linear(Function):
    """x @ weight.T + bias in one node: the layer every MLP repeats, kept lean."""

    save_inputs = ((1,), (0,), ())  # d/dx reads weight, d/dweight reads x

    def forward(self, x: Array, w: Array, b: Array) -> Array:
        if x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input of shape {tuple(x.shape)} does not fit a weight of "
                             f"shape {tuple(w.shape)} (in_features {w.shape[1]})")
        # (B, T, in) as one (B*T, in) product, not B products of (T, in): one large GEMM
        x2 = x if x.ndim == 2 else self.xp.reshape(x, (-1, x.shape[-1]))
        y = self.backend.matmul(x2, w.T)  # .T, not .mT: CuPy 13 has no mT (w is 2-d)
        if b is not None:
            y += b
        return y if x.ndim == 2 else self.xp.reshape(y, (*x.shape[:-1], w.shape[0]))

    def backward(self, g: Tensor) -> Grads:
        x, w, _ = self.inputs  # the bias's gradient reads neither
        g2 = g if g.ndim == 2 else reshape(g, (-1, g.shape[-1]))  # (one GEMM, as forward)
        gx = gw = gb = None
        if self.needs[0]:
            gx = matmul(g2, w)
            gx = gx if g.ndim == 2 else reshape(gx, (*g.shape[:-1], w.shape[1]))
        if self.needs[1]:
            x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
            gw = matmul(g2, x2, True, False)
        if self.needs[2]:
            gb = sum(g, axis=0 if g.ndim == 2 else tuple(range(g.ndim - 1)))
        return gx, gw, gb


class MSELoss(Function):
    """mean((a - b)**2) (or the sum) in one node: the regression loss of every demo."""

    save_inputs = True

    def forward(self, a: Array, b: Array, reduction: str) -> Array:
        d = a - b
        d *= d
        out = self.backend.sum(d, None, False)
        n = math.prod(d.shape) if reduction == "mean" else 1
        n = n or math.nan  # the mean of nothing is NaN (as PyTorch)
        self.scale = 2.0 / n
        return out / n if n != 1 else out

    def backward(self, g: Tensor) -> Grads:
        a, b = self.inputs
        ga = MSEGrad.apply(g, a, b, scale=self.scale)
        return (ga if self.needs[0] else None), (-ga if self.needs[1] else None)


class MSEGrad(Function):
    """(a - b) * g * scale, MSELoss's backward as one node."""

    save_inputs = ((1, 2), (0,), (0,))

    def forward(self, g: Array, a: Array, b: Array, scale: float) -> Array:
        self.scale = scale
        d = a - b
        d *= g * scale
        return d

    def backward(self, gg: Tensor) -> Grads:
        g, a, b = self.inputs
        s = self.scale
        gd = gg * (g * s)  # d/da; d/db is its negative
        gg_g = sum(gg * (a - b)) * s if self.needs[0] else None
        return gg_g, (gd if self.needs[1] else None), (-gd if self.needs[2] else None)




class ScaledDotProductAttention(Function):
    """Attention as one node: forward and backward without the (L, L) intermediates
    becoming nodes of the graph (F.scaled_dot_product_attention builds the masks).

        S = q @ k^T * scale, masked (-inf where mask is False; + mask if it is a float)
        P = softmax(S);  D = P * keep (dropout: keep is 0 or 1/(1-p));  out = D @ v
    backward, with g = d out:
        dv = D^T @ g;  dP = (g @ v^T) * keep;  dS = P * (dP - sum(dP * P, -1))
        dq = dS @ k * scale;  dk = dS^T @ q * scale
    """

    save_inputs = True
    broadcasts = True  # batch dims of q and k, v may broadcast
    double_backward = False  # backward treats P, computed in forward, as a constant

    def forward(self, q: Array, k: Array, v: Array, mask: Array, keep: Array,
                scale: float) -> Array:
        xp = self.xp
        s = self.backend.matmul(q, xp.matrix_transpose(k))
        s *= scale
        if mask is not None:
            s = s + mask if self.backend.is_float(mask.dtype) else xp.where(mask, s, -math.inf)
        s -= xp.max(s, axis=-1, keepdims=True)
        p = xp.exp(s)
        p /= xp.sum(p, axis=-1, keepdims=True)
        self.p, self.keep, self.scale = p, keep, scale
        return self.backend.matmul(p if keep is None else p * keep, v)

    def backward(self, g: Tensor) -> Grads:
        q, k, v = self.inputs
        p = Tensor._make(self.p, self.backend)
        keep = None if self.keep is None else Tensor._make(self.keep, self.backend)
        dq = dk = dv = None
        if self.needs[2]:
            dv = matmul(p if keep is None else p * keep, g, transpose_a=True)
        if self.needs[0] or self.needs[1]:
            dp = matmul(g, v, transpose_b=True)
            if keep is not None:
                dp = dp * keep
            ds = p * (dp - sum(dp * p, axis=-1, keepdims=True))
            dq = matmul(ds, k) * self.scale if self.needs[0] else None
            dk = matmul(ds, q, transpose_a=True) * self.scale if self.needs[1] else None
        return dq, dk, dv


@public(method=False)
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``input @ weight.T + bias``, as one node of the graph (nn.Linear's forward).

    Fused: forward and backward are single nodes instead of a matmul, a transpose and an
    add, which keeps the training step of an MLP lean.

    Parameters
    ----------
    input : Tensor
        Shape ``(*, in_features)``.
    weight : Tensor
        Shape ``(out_features, in_features)``, the same dtype as `input`.
    bias : Tensor, optional
        Shape ``(out_features,)``, the same dtype. Default: no bias.

    Returns
    -------
    Tensor
        Shape ``(*, out_features)``.

    Raises
    ------
    ShapeError
        If the last dim of `input` is not ``in_features``.
    TypeError
        If `input`, `weight` and `bias` do not all have the same dtype (as PyTorch, no
        promotion).

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.functional.linear` (same semantics). A function
    only, not a Tensor method.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([[1.0, 2.0]])
    >>> w = gk.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], requires_grad=True)
    >>> b = gk.tensor([0.0, 0.5, 1.0], requires_grad=True)
    >>> y = gk.linear(x, w, b)
    >>> y
    tensor([[1. , 3.5, 5. ]], grad_fn=<LinearBackward0>)
    >>> y.sum().backward()
    >>> w.grad
    tensor([[1., 2.],
            [1., 2.],
            [1., 2.]])
    >>> b.grad
    tensor([1., 1., 1.])
    """
    dt = weight.array.dtype  # (identity first: NumPy's dtype == is slow)
    same_device = input.backend is weight.backend and (
        bias is None or bias.backend is weight.backend)
    if same_device and ((input.array.dtype is not dt and input.array.dtype != dt) or (
            bias is not None and bias.array.dtype is not dt and bias.array.dtype != dt)):
        # (on two devices the dtypes of two array libraries differ; Linear.apply names them)
        raise TypeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                        + (f" and bias ({bias.dtype})" if bias is not None else "")
                        + " must have the same dtype; convert the input with "
                        f".to({weight.dtype}) or the layer with .to(dtype=...)")
    return Linear.apply(input, weight, bias)


# Ops of other families that backward formulas use (imported last: the families use
# each other).
from .linalg import matmul  # noqa: E402
from .reduce import sum  # noqa: E402
from .shape import reshape  # noqa: E402
