"""Debug mode: checks that read device values on the host, off unless asked for.

Index bounds are the check it governs. An integer index outside its range must raise,
not return another row (principle 6), but checking means reading the indices' range on
the host: free on the CPU, a synchronisation on a GPU, which the training path never
does. So a backend whose `checks_bounds_cheaply` is set (NumPy) checks always, and every
backend checks in debug mode: `gk.set_debug(True)`, or GRADKIT_DEBUG=1 in the
environment when gradkit is imported. See docs/architecture.md, "Index bounds on
devices".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .backends.base import host_op

if TYPE_CHECKING:
    from .backends import Backend

__all__ = ["set_debug", "is_debug"]

_debug = os.environ.get("GRADKIT_DEBUG", "").strip() not in ("", "0")


def set_debug(mode: bool) -> None:
    """Turn debug mode on or off, for the whole process.

    In debug mode every backend checks integer index bounds (and multinomial weights)
    on the host, at the price of a synchronisation on a GPU; the CPU checks always.
    GRADKIT_DEBUG=1 in the environment turns it on at import.

    Parameters
    ----------
    mode : bool
        True for on.

    Notes
    -----
    gradkit-only (PyTorch checks device-side, with an asynchronous CUDA error).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.set_debug(True)
    >>> gk.is_debug()
    True
    >>> gk.set_debug(False)
    """
    global _debug
    _debug = bool(mode)


def is_debug() -> bool:
    """Whether debug mode is on (see :func:`set_debug`).

    Returns
    -------
    bool

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.is_debug()
    False
    """
    return _debug


def checks_bounds(backend: Backend) -> bool:
    """Whether index bounds are checked on `backend`: on the CPU always, in debug mode
    everywhere.

    Parameters
    ----------
    backend : Backend
        The backend of the tensors being indexed.

    Returns
    -------
    bool

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.debug import checks_bounds
    >>> checks_bounds(gk.get_backend("cpu")), checks_bounds(gk.get_backend("strict"))
    (True, False)
    """
    return _debug or backend.checks_bounds_cheaply


@host_op
def check_index_bounds(backend: Backend, index: Any, low: int, high: int, what: str, limit: str,
                       ignore: int | None = None) -> None:
    """Raise IndexError naming the indices' range unless low <= index < high for every
    value of the integer array `index` (values equal to `ignore` excepted).

    Reads the range through the backend's explicit host copy: a synchronisation on a
    GPU, so the callers on the training path ask `checks_bounds` first.

    Parameters
    ----------
    backend : Backend
        The backend of `index`.
    index : array
        A raw integer array of `backend`.
    low, high : int
        The allowed range, [low, high).
    what : str
        Names the indices in the message ("embedding: indices").
    limit : str
        Where the bound comes from ("num_embeddings=3").
    ignore : int, optional
        A value that is allowed anyway (cross entropy's ignore_index).

    Raises
    ------
    IndexError
        If a value is outside [low, high).

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> from gradkit.debug import check_index_bounds
    >>> check_index_bounds(gk.get_backend("cpu"), np.array([0, 3]), 0, 3, "indices", "n=3")
    Traceback (most recent call last):
    ...
    IndexError: indices range over [0, 3], outside [0, 3) for n=3
    """
    if index.size == 0:
        return
    if ignore is not None:
        index = backend.xp.where(index == ignore, low, index)
    lo, hi = backend.index_range(index)
    if lo < low or hi >= high:
        raise IndexError(f"{what} range over [{lo}, {hi}], outside [{low}, {high}) "
                         f"for {limit}")
