"""gk.cuda: PyTorch's torch.cuda queries, so `device = "cuda" if torch.cuda.is_available()
else "cpu"` runs unchanged. Everything here asks the CuPy backend; nothing needs a GPU."""

from __future__ import annotations

from gradkit import backends as _backends
from gradkit.backends.base import DeviceLike


def is_available() -> bool:
    """Whether CuPy imports and a CUDA GPU answers (the probe never raises)."""
    return _backends.availability("cupy")[0]


def device_count() -> int:
    """The number of CUDA GPUs gradkit can use (0 without CuPy or a GPU)."""
    return _backends.cuda_device_count()


def synchronize(device: DeviceLike = None) -> None:
    """Wait for the GPU's queued work (a no-op without a GPU)."""
    if is_available():
        _backends.get_backend(device or "cuda").synchronize()


def manual_seed(seed: int) -> None:
    """Seed every device's generator (as gk.manual_seed)."""
    _backends.seed_all(int(seed))


manual_seed_all = manual_seed
