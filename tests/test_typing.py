"""Typing: mypy is clean on gradkit/ and backends/ (config in pyproject.toml), every public
function and method is annotated, and the names that gradkit's op table makes at run
time are spelled out for type checkers (gk.<op>, Tensor.<op>) in step with the table."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gradkit
from gradkit.ops import _common

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gradkit", "backends")

pytestmark = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(),
                                reason="needs the source tree (pyproject.toml), not an install")


def _public_defs(tree: ast.Module):
    """(node, in_class) for each public function and method: names without a leading
    underscore (and __init__), in public classes, at any depth of `if` blocks."""
    def walk(body, in_class):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not node.name.startswith("_") or node.name == "__init__":
                    yield node, in_class
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                yield from walk(node.body, True)
            elif isinstance(node, ast.If):
                yield from walk(node.body, in_class)
                yield from walk(node.orelse, in_class)
    yield from walk(tree.body, False)


def _missing(node: ast.FunctionDef, in_class: bool) -> list[str]:
    """What a definition leaves unannotated: parameters (not self/cls) and the return
    (which __init__ may leave out)."""
    args = node.args
    params = args.posonlyargs + args.args
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    if in_class and not static and params:
        params = params[1:]
    params = params + args.kwonlyargs + [p for p in (args.vararg, args.kwarg) if p]
    missing = [p.arg for p in params if p.annotation is None]
    if node.returns is None and node.name != "__init__":
        missing.append("return")
    return missing


def unannotated(root: Path = ROOT, skip=frozenset()) -> tuple[list[str], int]:
    """('path:line name [missing]' for each public function or method of gradkit/ and
    backends/ that is not fully annotated, the number of public ones). Modules whose
    name starts with an underscore are private (gradkit/ops/_common.py, ...)."""
    found, total = [], 0
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in skip or any(part.startswith("_") and part != "__init__.py"
                                  for part in path.relative_to(root).parts):
                continue
            for node, in_class in _public_defs(ast.parse(path.read_text())):
                total += 1
                missing = _missing(node, in_class)
                if missing:
                    found.append(f"{rel}:{node.lineno} {node.name} {missing}")
    return found, total


def test_public_functions_are_annotated():
    found, total = unannotated()
    assert total > 400  # (the walk finds the API: a broken one would pass vacuously)
    assert not found, f"{len(found)} of {total} public functions lack annotations:\n" + \
        "\n".join(found)


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]')")
def test_mypy_is_clean(tmp_path):
    """mypy, configured in pyproject.toml ([tool.mypy]: gradkit/ and backends/, the latter
    as gradkit.backends), reports nothing."""
    env = dict(os.environ, MYPY_FORCE_COLOR="0")
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, f"mypy found problems:\n{run.stdout}{run.stderr}"
    assert "Success" in run.stdout


def _names_under_type_checking(path: Path) -> set[str]:
    """The names bound by imports (their `as` names) inside `if TYPE_CHECKING:` blocks."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(a.asname or a.name for a in stmt.names)
    return names


def test_gk_op_names_are_declared_for_type_checkers():
    """gradkit/__init__.py adds the table's functions with globals().update; its
    TYPE_CHECKING imports must name every one of them."""
    declared = _names_under_type_checking(ROOT / "gradkit" / "__init__.py")
    missing = sorted(set(_common.FUNCTIONS) - declared)
    assert not missing, f"add to gradkit/__init__.py's TYPE_CHECKING imports: {missing}"
    for name in _common.FUNCTIONS:
        assert getattr(gradkit, name) is _common.FUNCTIONS[name]


def test_ops_namespace_is_declared_for_type_checkers():
    """gradkit.ops gets the table's names at run time; for type checkers its TYPE_CHECKING
    block star-imports the families and names the aliases (the families declare the
    names that their loops make, such as eq and concat)."""
    ops_dir = ROOT / "gradkit" / "ops"
    declared = _names_under_type_checking(ops_dir / "__init__.py")
    for family in ops_dir.glob("*.py"):
        if family.name.startswith("_"):
            continue
        for node in ast.walk(ast.parse(family.read_text())):
            if isinstance(node, ast.FunctionDef) and node.col_offset in (0, 4):
                declared.add(node.name)
            elif isinstance(node, ast.Assign):
                declared.update(t.id for t in node.targets if isinstance(t, ast.Name))
    missing = sorted(set(_common.FUNCTIONS) - declared)
    assert not missing, f"declare in gradkit/ops for type checkers: {missing}"


def test_tensor_methods_are_declared_for_type_checkers():
    """gradkit/_tensor_methods.py (Tensor's base class for type checkers only) names each
    method of the table, bound to the function the table attaches."""
    tree = ast.parse((ROOT / "gradkit" / "_tensor_methods.py").read_text())
    imported = {a.asname or a.name: (n.module.rsplit(".", 1)[-1], a.name)
                for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                and n.module.startswith("ops.") for a in n.names}
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    bound = {}
    for stmt in ast.walk(cls):
        if not isinstance(stmt, ast.Assign):
            continue
        value = stmt.value
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            target_fn = (value.value.id, value.attr)  # elementwise.abs
        elif isinstance(value, ast.Name) and value.id in imported:
            target_fn = imported[value.id]  # an imported function
        else:
            continue
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                bound[target.id] = target_fn
    assert set(bound) == set(_common.METHODS), (
        f"missing: {sorted(set(_common.METHODS) - set(bound))}, "
        f"extra: {sorted(set(bound) - set(_common.METHODS))}")
    for name, (family, attr) in bound.items():
        module = sys.modules[f"gradkit.ops.{family}"]
        fn = getattr(module, attr, None)
        if fn is None:  # declared for type checkers only (the comparisons' loop)
            assert attr == name and _common.METHODS[name].__module__ == module.__name__
        else:
            assert fn is _common.METHODS[name], f"Tensor.{name} is not {family}.{attr}"
