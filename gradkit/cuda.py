"""gk.cuda: PyTorch's torch.cuda queries, so `device = "cuda" if torch.cuda.is_available()
else "cpu"` runs unchanged. Everything here asks the CuPy backend; nothing needs a GPU."""

from __future__ import annotations

from gradkit import backends as _backends
from gradkit.backends.base import DeviceLike


def is_available() -> bool:
    """Whether CuPy imports and a CUDA GPU answers (torch.cuda.is_available).

    The probe runs once and never raises.

    Returns
    -------
    bool

    Examples
    --------
    >>> import gradkit as gk
    >>> device = "cuda" if gk.cuda.is_available() else "cpu"
    >>> gk.zeros(2, device=device).shape
    (2,)
    """
    return _backends.availability("cupy")[0]


def device_count() -> int:
    """The number of CUDA GPUs gradkit can use, 0 without CuPy or a GPU (torch.cuda.device_count).

    Returns
    -------
    int

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.cuda.device_count() >= 0
    True
    """
    return _backends.cuda_device_count()


def synchronize(device: DeviceLike = None) -> None:
    """Wait for the GPU's queued work; a no-op without a GPU (torch.cuda.synchronize).

    Parameters
    ----------
    device : str or Backend, optional
        The GPU, "cuda" (GPU 0) by default.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.cuda.synchronize()
    """
    if is_available():
        _backends.get_backend(device or "cuda").synchronize()


def manual_seed(seed: int) -> None:
    """Seed every device's default generator, as :func:`gradkit.manual_seed`.

    Also ``gk.cuda.manual_seed_all``.

    Parameters
    ----------
    seed : int
        The seed.

    Notes
    -----
    Differences: torch.cuda.manual_seed seeds only the current GPU; this seeds the CPU
    too (it is gk.manual_seed), and returns None.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.cuda.manual_seed(0)
    >>> gk.initial_seed()
    0
    """
    _backends.seed_all(_backends.check_seed(seed))  # gk.manual_seed's checks


manual_seed_all = manual_seed
