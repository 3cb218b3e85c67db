"""Every public name has a numpydoc docstring, and the API reference lists every public name.

The public names are those of tests/public_api.py. Each needs a docstring with

- a summary line;
- `Parameters` when it takes parameters (a class: its constructor's);
- `Returns` or `Yields` when it returns a value (its body has `return <value>` or `yield`;
  not for classes, properties or methods that return None);
- `Raises` when its body raises (a `raise` of its own, not in a nested function; bare
  re-raises, re-raised variables and NotImplementedError do not count);
- at least one `>>>` example (they run in tests/test_doctests.py);
- for a name that PyTorch has too (docs/torch_names.txt), its PyTorch equivalent named
  in the prose: "PyTorch" or a `torch.` name in the summary, the extended summary,
  `Notes` or `See Also` (the docstrings say "A tensor of zeros (torch.zeros)" or
  "PyTorch equivalent: ..." in Notes, with any difference in meaning).

Properties and attributes need a summary and an example (a slot's docstring is its value
in a `__slots__` dict, as Tensor.array's); pytest fixtures a summary;
data (dtypes, constants) is documented in docs/api/ and not checked here.

The sections are found by a small parser (a header line underlined with dashes), the
same in every environment, so the test gives one answer with or without numpydoc and
PyTorch installed; the docs build (`sphinx-build -W`) parses them with numpydoc itself.

Every public name must pass: the test lists each one that does not, with what it lacks.
The same report, without pytest:

    .venv/bin/python tests/test_docstrings.py

After adding public names that PyTorch has too, regenerate docs/torch_names.txt where
PyTorch is installed:

    .venv/bin/python tests/test_docstrings.py --update
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from public_api import is_data, is_fixture, public_names  # noqa: E402

TORCH_NAMES = ROOT / "docs" / "torch_names.txt"
API_DIR = ROOT / "docs" / "api"

SECTIONS = ("Parameters", "Returns", "Yields", "Receives", "Other Parameters", "Raises",
            "Warns", "Warnings", "See Also", "Notes", "References", "Examples",
            "Attributes", "Methods")

# Where a gradkit name's PyTorch counterpart is not at the same path under `torch`.
TORCH_SPECIAL = {
    "gradkit.DataLoader": "torch.utils.data.DataLoader",
    "gradkit.gradcheck": "torch.autograd.gradcheck",
    "gradkit.gradgradcheck": "torch.autograd.gradgradcheck",
    "gradkit.grad": "torch.autograd.grad",
    "gradkit.Function": "torch.autograd.Function",
}


# ---- the docstring --------------------------------------------------------------------
def sections(doc: str) -> dict[str, str]:
    """{section name: its text}; the summary under "Summary"."""
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, list[str]] = {"Summary": []}
    current = "Summary"
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line in SECTIONS and nxt and set(nxt) == {"-"} and len(nxt) >= len(line):
            current = line
            out.setdefault(current, [])
            i += 2
            continue
        if current == "Summary" and not line and out["Summary"]:
            current = "Extended Summary"
            out.setdefault(current, [])
        else:
            out.setdefault(current, []).append(lines[i])
        i += 1
    return {name: "\n".join(text).strip() for name, text in out.items()}


# ---- what the code does ---------------------------------------------------------------
def _function(obj: Any) -> Any:
    if isinstance(obj, property):
        return obj.fget
    if inspect.isclass(obj):
        init = obj.__dict__.get("__init__")
        return init if inspect.isfunction(init) else None
    return inspect.unwrap(obj) if callable(obj) else None


def _body(fn: Any) -> ast.AST | None:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def _own_nodes(fn_node: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not of the functions or classes it defines."""
    out, stack = [], list(ast.iter_child_nodes(fn_node))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _raises(nodes: list[ast.AST]) -> bool:
    for node in nodes:
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue  # a bare `raise` re-raises
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.id if isinstance(exc, ast.Name) else getattr(exc, "attr", "")
        if name == "NotImplementedError" or (isinstance(node.exc, ast.Name) and name.islower()):
            continue  # abstract methods; `raise e` re-raises what an except caught
        return True
    return False


def _returns_value(nodes: list[ast.AST]) -> str | None:
    """"Yields" for a generator, "Returns" when a `return <value>` is there, else None."""
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes):
        return "Yields"
    for node in nodes:
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return "Returns"
    return None


def _takes_parameters(obj: Any, fn: Any) -> bool:
    target = obj if inspect.isclass(obj) else fn
    if target is None:
        return False
    if inspect.isclass(obj) and fn is None:
        return False  # the constructor is inherited (exceptions, ...)
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return False
    if params and params[0].name in ("self", "cls") and not inspect.isclass(obj):
        params = params[1:]
    return bool(params)


# ---- the check --------------------------------------------------------------------------
def problems(name: str, obj: Any, torch_names: set[str]) -> list[str]:
    """What the docstring of `name` lacks (empty: it passes)."""
    # a slot's docstring is the value of a `__slots__` dict, which inspect.getdoc finds
    doc = inspect.getdoc(obj) if isinstance(obj, types.MemberDescriptorType) else obj.__doc__
    if is_fixture(obj):
        doc = getattr(obj, "__doc__", None)
        return [] if doc and doc.strip() else ["no docstring"]
    if not doc or not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    out = []
    if not found.get("Summary"):
        out.append("no summary line")
    if ">>>" not in found.get("Examples", ""):
        out.append("no >>> example in Examples")
    attribute = isinstance(obj, (property, types.MemberDescriptorType))
    if not attribute:
        fn = _function(obj)
        node = _body(fn) if fn is not None else None
        nodes = _own_nodes(node) if node is not None else []
        if _takes_parameters(obj, fn) and not found.get("Parameters"):
            out.append("no Parameters")
        if not inspect.isclass(obj):
            kind = _returns_value(nodes)
            if kind and not (found.get("Returns") or found.get("Yields")):
                out.append(f"no {kind}")
        if _raises(nodes) and not found.get("Raises"):
            out.append("no Raises (its body raises)")
    if name in torch_names and not _names_pytorch(found):
        out.append("no PyTorch equivalent (PyTorch or torch.<name> in the prose)")
    return out


def _names_pytorch(found: dict[str, str]) -> bool:
    """Whether the prose says what PyTorch's counterpart is: "PyTorch" or a `torch.` name
    in the summary, the extended summary, Notes or See Also (not only in an example)."""
    prose = " ".join(found.get(s, "") for s in ("Summary", "Extended Summary", "Notes",
                                                   "See Also"))
    return "PyTorch" in prose or re.search(r"\btorch\.\w", prose) is not None


def checked_names() -> dict[str, Any]:
    """The public names whose docstrings are checked (data is not)."""
    return {name: obj for name, obj in public_names().items() if not is_data(obj)}


def read_list(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def failures() -> dict[str, list[str]]:
    torch_names = set(read_list(TORCH_NAMES))
    out = {}
    for name, obj in checked_names().items():
        found = problems(name, obj, torch_names)
        if found:
            out[name] = found
    return out


def torch_counterparts() -> list[str]:
    """The public names that PyTorch has too (needs torch)."""
    import importlib

    import torch

    def resolve(path: str) -> bool:
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                return False
            return True
        return False

    assert torch
    out = []
    for name, obj in checked_names().items():
        if is_fixture(obj) or name.startswith(("gradkit.backends", "gradkit.testing",
                                              "gradkit.datasets", "gradkit.viz")):
            continue
        owner, _, member = name.rpartition(".")
        target = TORCH_SPECIAL.get(name) or (
            TORCH_SPECIAL[owner] + "." + member if owner in TORCH_SPECIAL
            else "torch" + name[len("gradkit"):])
        if resolve(target):
            out.append(name)
    return sorted(out)


# ---- the API pages ----------------------------------------------------------------------
def documented_names() -> set[str]:
    """The names docs/api/*.rst lists (autosummary entries, data and function directives)."""
    out = set()
    for page in sorted(API_DIR.glob("*.rst")):
        module, in_summary, in_data = None, False, False
        for line in page.read_text().splitlines():
            m = re.match(r"\.\. (?:current)?module:: (\S+)", line)
            if m:
                module, in_summary, in_data = m.group(1), False, False
                continue
            m = re.match(r"\.\. (?:py:)?(?:data|function|class)::\s+(\w+)", line)
            if m:
                out.add(f"{module}.{m.group(1)}")
                in_summary, in_data = False, True
                continue
            if line.startswith(".. autosummary::"):
                in_summary, in_data = True, False
                continue
            if in_data:
                m = re.match(r"\s{4,}(\w+)\s*$", line)
                if m and not line.startswith("   " + m.group(1)):  # continuation names
                    out.add(f"{module}.{m.group(1)}")
                    continue
                in_data = False
            if in_summary:
                if line and not line.startswith(" "):
                    in_summary = False
                    continue
                entry = line.strip()
                if entry and not entry.startswith(":"):
                    out.add(f"{module}.{entry.lstrip('~')}")
    return out


# ---- the tests --------------------------------------------------------------------------
def test_api_pages_list_every_public_name():
    names = public_names()
    listed = documented_names()
    # members appear on their class's generated page (the class template lists them)
    classes = {n for n, o in names.items() if inspect.isclass(o)}
    listed_objects = {id(names[n]) for n in listed if n in names}
    missing = sorted(n for n, o in names.items() if n not in listed
                     and n.rpartition(".")[0] not in classes and id(o) not in listed_objects)
    assert not missing, ("public names missing from docs/api/*.rst (add each to an "
                         "autosummary list): " + ", ".join(missing))
    unknown = sorted(n for n in listed if n not in names)
    assert not unknown, "docs/api/*.rst lists names that are not public: " + ", ".join(unknown)


def report(failing: dict[str, list[str]]) -> str:
    """One line per failing name, with what its docstring lacks (docs/writing-docs.md)."""
    return "\n".join([f"{len(failing)} public names lack numpydoc sections "
                      "(docs/writing-docs.md says what each needs):"]
                     + [f"  {n}: {'; '.join(why)}" for n, why in sorted(failing.items())])


def test_every_public_docstring_is_complete():
    failing = failures()
    assert not failing, report(failing)


def test_section_parser():
    doc = """Add two tensors.

    More words.

    Parameters
    ----------
    input : Tensor

    Returns
    -------
    Tensor

    Notes
    -----
    PyTorch equivalent: torch.add.

    Examples
    --------
    >>> 1
    1
    """
    found = sections(doc)
    assert found["Summary"] == "Add two tensors."
    assert found["Parameters"].startswith("input")
    assert ">>>" in found["Examples"] and "PyTorch" in found["Notes"]
    assert problems("f", lambda input: input, set()) == ["no docstring"]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--update"]):
        print(__doc__)
        return 2
    if argv == ["--update"]:
        try:
            names = torch_counterparts()
        except ImportError:
            print("torch is not installed: docs/torch_names.txt kept as it is")
        else:
            TORCH_NAMES.write_text(
                "# Public gradkit names that PyTorch has too (tests/test_docstrings.py "
                "--update,\n# with torch installed): their docstrings name the PyTorch "
                "equivalent.\n" + "".join(n + "\n" for n in names))
            print(f"{TORCH_NAMES.relative_to(ROOT)}: {len(names)} names")
    failing = failures()
    if failing:
        print(report(failing))
    total = len(checked_names())
    print(f"{len(public_names())} public names, {total} with docstrings to check: "
          f"{total - len(failing)} pass, {len(failing)} fail")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
