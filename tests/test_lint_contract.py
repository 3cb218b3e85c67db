"""The device boundary: code under gradkit/ never imports cupy or array_api_strict.

Ruff's banned-api rule (pyproject.toml) says the same; this test also catches dynamic
imports (importlib.import_module("cupy"), __import__) and runs wherever pytest runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BANNED = ("cupy", "cupyx", "cupy_backends", "array_api_strict")
PACKAGE = Path(__file__).resolve().parents[1] / "gradkit"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _banned(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in BANNED


def violations(source: str) -> list[str]:
    """'line N: what' for every banned import in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _banned(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _banned(node.module):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            arg = node.args[0]
            if (name in ("import_module", "__import__") and isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str) and _banned(arg.value)):
                found.append(f"line {node.lineno}: {name}({arg.value!r})")
    return found


def test_package_has_modules():
    assert PACKAGE / "__init__.py" in MODULES and len(MODULES) >= 5


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_device_library_imports(path):
    bad = violations(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports a device library " \
                    f"(ask the tensor's Backend instead): {bad}"


def test_checker_catches_every_form():
    src = ("import cupy\nimport numpy, array_api_strict as xs\nfrom cupyx.scipy import special\n"
           "import importlib\nm = importlib.import_module('cupy.cuda')\nn = __import__('cupy')\n"
           "from . import backends\nimport cupyish\n")
    assert len(violations(src)) == 5
