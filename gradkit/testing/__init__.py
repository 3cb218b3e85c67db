"""Testing helpers for code built on gradkit; the pytest plugin lives in .plugin.

`backend_params()` parametrizes a test or fixture over every backend exactly as the
plugin's `device` fixture does (same ids, run-time skips, selection and summary).
"""

from .plugin import backend_params, selected_backends

__all__ = ["backend_params", "selected_backends"]
