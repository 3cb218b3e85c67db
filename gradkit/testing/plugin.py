"""The pytest plugin's helpers, for code that imports them from here.

The plugin itself is the top-level module `pytest_gradkit` (registered when gradkit is
installed), so that pytest loading it does not import gradkit; this module only
re-exports what a test suite uses directly. Do not pass it to `pytest -p`.
"""

from pytest_gradkit import backend_params, selected_backends

__all__ = ["backend_params", "selected_backends"]
