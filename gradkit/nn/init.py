"""Parameter initialisation, as torch.nn.init: each function fills a tensor in place
(its storage is written and its version bumped) with draws from the tensor's device's seeded
generator, so gk.manual_seed makes initialisation repeatable on every device."""

from __future__ import annotations

import math

from gradkit import creation as _creation
from gradkit.autograd import no_grad, on_device
from gradkit.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for a nonlinearity (PyTorch's table).

    Parameters
    ----------
    nonlinearity : str
        "linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity", "tanh", "relu",
        "leaky_relu" or "selu".
    param : float, optional
        The negative slope for "leaky_relu" (default 0.01).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``nonlinearity`` is not in the table.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.calculate_gain`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.init.calculate_gain("relu")
    1.4142135623730951
    >>> nn.init.calculate_gain("tanh")
    1.6666666666666667
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fans(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, "
                         f"not shape {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t: Tensor, array) -> Tensor:
    """Write `array` into t's storage (aliases see it) and count the write."""
    return t._write(array)


@no_grad()
@on_device
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b).

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    a : float, default 0.0
        Lower bound.
    b : float, default 1.0
        Upper bound.

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.uniform_`. Draws come from the tensor's device
    generator, so ``gk.manual_seed`` makes them repeatable.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> w = nn.init.uniform_(gk.empty(100), -1, 1)
    >>> bool((w >= -1).all() and (w < 1).all())
    True
    """
    u = _creation.rand(tensor.shape, dtype=tensor.dtype, device=tensor.backend).array
    return _fill(tensor, u * (b - a) + a)


@no_grad()
@on_device
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std**2).

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    mean : float, default 0.0
    std : float, default 1.0

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.normal_`. Draws come from the tensor's device
    generator, so ``gk.manual_seed`` makes them repeatable.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> nn.init.normal_(gk.empty(2, 3), std=0.02).shape
    (2, 3)
    """
    z = _creation.randn(tensor.shape, dtype=tensor.dtype, device=tensor.backend).array
    return _fill(tensor, z * std + mean)


@no_grad()
@on_device
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with the value ``val``.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    val : float

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.constant_`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.init.constant_(gk.empty(2, 2), 0.5)
    tensor([[0.5, 0.5],
            [0.5, 0.5]])
    """
    xp = tensor.backend.xp
    return _fill(tensor, xp.full_like(tensor.array, val))


@on_device
def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.zeros_`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> layer = nn.Linear(2, 1)
    >>> nn.init.zeros_(layer.bias)
    Parameter containing:
    tensor([0.], requires_grad=True)
    """
    return constant_(tensor, 0)


@on_device
def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.ones_`.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> nn.init.ones_(gk.empty(3))
    tensor([1., 1., 1.])
    """
    return constant_(tensor, 1)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = _fans(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0


@on_device
def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation: fill with U(-b, b), ``b = gain * sqrt(3 / fan)``.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    a : float, default 0
        The negative slope of the leaky ReLU that follows (with "leaky_relu").
    mode : {"fan_in", "fan_out"}, default "fan_in"
        Preserve the variance of the forward ("fan_in") or backward ("fan_out") pass.
    nonlinearity : str, default "leaky_relu"
        Passed to :func:`calculate_gain`.

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Raises
    ------
    ValueError
        If ``tensor`` has fewer than 2 dimensions.
        Also if ``mode`` is not "fan_in" or "fan_out" or the nonlinearity is unknown.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.kaiming_uniform_`. Draws come from the tensor's
    device generator, so ``gk.manual_seed`` makes them repeatable. The fans of a
    ``(out, in, *kernel)`` weight are ``in * prod(kernel)`` and ``out * prod(kernel)``.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> w = nn.init.kaiming_uniform_(gk.empty(4, 6), nonlinearity="relu")
    >>> bool(abs(w).max() <= 1.0)  # b = sqrt(2) * sqrt(3 / 6) = 1
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


@on_device
def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation: fill with N(0, std**2), ``std = gain / sqrt(fan)``.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    a : float, default 0
        The negative slope of the leaky ReLU that follows (with "leaky_relu").
    mode : {"fan_in", "fan_out"}, default "fan_in"
        Preserve the variance of the forward ("fan_in") or backward ("fan_out") pass.
    nonlinearity : str, default "leaky_relu"
        Passed to :func:`calculate_gain`.

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Raises
    ------
    ValueError
        If ``tensor`` has fewer than 2 dimensions.
        Also if ``mode`` is not "fan_in" or "fan_out" or the nonlinearity is unknown.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.kaiming_normal_`. Draws come from the tensor's
    device generator, so ``gk.manual_seed`` makes them repeatable.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> nn.init.kaiming_normal_(gk.empty(4, 6), mode="fan_out").shape
    (4, 6)
    """
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


@on_device
def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    gain : float, default 1.0

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Raises
    ------
    ValueError
        If ``tensor`` has fewer than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.xavier_uniform_`. Draws come from the tensor's
    device generator, so ``gk.manual_seed`` makes them repeatable.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> w = nn.init.xavier_uniform_(gk.empty(3, 3))
    >>> bool(abs(w).max() <= 1.0)  # b = sqrt(6 / 6) = 1
    True
    """
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


@on_device
def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Parameters
    ----------
    tensor : Tensor
        The tensor to fill (usually a Parameter); written without recording a graph.
    gain : float, default 1.0

    Returns
    -------
    Tensor
        ``tensor`` itself, filled in place.

    Raises
    ------
    ValueError
        If ``tensor`` has fewer than 2 dimensions.

    Notes
    -----
    PyTorch equivalent: :func:`torch.nn.init.xavier_normal_`. Draws come from the tensor's
    device generator, so ``gk.manual_seed`` makes them repeatable.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn
    >>> _ = gk.manual_seed(0)
    >>> nn.init.xavier_normal_(gk.empty(3, 5)).shape
    (3, 5)
    """
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
