"""gradkit's own suite: every test starts from gk.manual_seed(0), whatever runs before it.

The `device` and `backend` fixtures come from gradkit's pytest plugin
(gradkit/testing/plugin.py), as they would in a user's suite.
"""

import pytest

import gradkit as gk


@pytest.fixture(autouse=True)
def _seed():
    gk.manual_seed(0)
