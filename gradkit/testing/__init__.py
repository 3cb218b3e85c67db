"""Testing helpers for code built on gradkit.

- the pytest plugin (the `device` fixture), registered when gradkit is installed, is
  the top-level module `pytest_gradkit` (so that pytest loading it imports nothing of
  gradkit in test runs that do not use it). `backend_params()` parametrizes a test or
  fixture over every backend exactly as the plugin's `device` fixture does (same ids,
  run-time skips, selection and summary); it and `selected_backends` are importable from here.
- `gradkit.testing.op_registry`: every differentiable op with a NumPy reference and
  checks of its forward, first and second derivatives on any device (no pytest needed).

Only the plugin imports pytest, and only when it is used: importing this package or the
op registry does not.
"""

__all__ = ["backend_params", "selected_backends"]


def __getattr__(name):
    if name in __all__:
        import pytest_gradkit  # imports pytest

        return getattr(pytest_gradkit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
