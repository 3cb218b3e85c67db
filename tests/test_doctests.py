"""Every `>>>` example in gradkit's docstrings runs as a test: one test per docstring.

Why a test module rather than pytest's `--doctest-modules`: pytest would import the files
under backends/ as a second package `backends` beside the installed `gradkit.backends`
(two copies of every backend class), would collect nothing from the installed package
when CI runs the tests of an unpacked sdist, and would need every module importable for
collection. Here each module is imported under its installed name (walking the
`gradkit` package, `gradkit.backends` included, and the plugin `pytest_gradkit`), a
module that needs a missing optional library is skipped with the reason, and the examples
run on the CPU (NumPy), whatever `--gradkit-backends` selects.

Each example starts from `gk.manual_seed(0)` with `gk`, `np`, `nn`, `F` and `optim`
already imported (as NumPy's examples assume `np`), and is compared with
NORMALIZE_WHITESPACE, ELLIPSIS and NUMBER: a float in the expected output matches a
computed one to the precision written (`0.333` matches `0.33333334`), as pytest's
NUMBER option does.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import numpy as np
import pytest

import gradkit as gk

# modules that import an optional library at import time: module -> that library
OPTIONAL = {"gradkit.backends.cupy_backend": "cupy"}

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
NUMBER = doctest.register_optionflag("NUMBER")


def module_names() -> list[str]:
    names = ["gradkit", "pytest_gradkit"]
    for info in pkgutil.walk_packages(gk.__path__, "gradkit."):
        names.append(info.name)
    return sorted(set(names))


def _import(name: str) -> ModuleType | str:
    """The module, or why it is skipped (a missing optional library)."""
    lib = OPTIONAL.get(name)
    if lib is not None:
        try:
            importlib.import_module(lib)
        except Exception as e:  # a CUDA library that fails to load is not an ImportError
            return f"{name} needs {lib} ({type(e).__name__}: {e})"
    return importlib.import_module(name)


def slot_tests(module: ModuleType, name: str) -> list[doctest.DocTest]:
    """The examples in the docstrings of slot attributes (``__slots__`` as a dict of
    docstrings, as Tensor.array's), which doctest's finder does not visit."""
    parser, tests = doctest.DocTestParser(), []
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and cls.__module__ == name
                and isinstance(vars(cls).get("__slots__"), dict)):
            continue
        slots = vars(cls)["__slots__"]
        source, first = inspect.getsourcelines(cls)
        for attr, doc in slots.items():
            if not doc or ">>>" not in doc:
                continue
            # the line of the slot's docstring (0-based, as doctest counts)
            lineno = next((first - 1 + i for i, line in enumerate(source)
                           if line.lstrip().startswith(f'"{attr}":')), first - 1)
            tests.append(parser.get_doctest(doc, dict(vars(module)),
                                            f"{name}.{cls.__qualname__}.{attr}",
                                            inspect.getsourcefile(cls), lineno))
    return tests


def collect() -> tuple[list[doctest.DocTest], list[str]]:
    """Every docstring with examples (each once, under the module that defines it), and
    the modules skipped with their reasons."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests, skipped, seen = [], [], set()
    for name in module_names():
        module = _import(name)
        if isinstance(module, str):
            skipped.append(module)
            continue
        for test in finder.find(module, name) + slot_tests(module, name):
            key = (test.filename, test.lineno, test.name)
            if test.examples and key not in seen:
                seen.add(key)
                tests.append(test)
    return sorted(tests, key=lambda t: t.name), skipped


# a number with a fraction or an exponent (as pytest's NUMBER reads them)
_FLOAT = re.compile(r"""(?<![\w.])[+-]?(?:
                            (?:\d*\.(?P<fraction>\d+)|\d+\.)(?:[eE](?P<exp1>[+-]?\d+))?
                            |\d+[eE](?P<exp2>[+-]?\d+)
                        )(?![\w.])""", re.VERBOSE)


class Checker(doctest.OutputChecker):
    """doctest's checker, plus NUMBER as pytest has it: a float written in the expected
    output matches a computed one within 10**-precision, the precision written (digits
    after the point, less the exponent), or within a relative 1e-6."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        if not optionflags & NUMBER:
            return False
        wants, gots = list(_FLOAT.finditer(want)), list(_FLOAT.finditer(got))
        if len(wants) != len(gots):
            return False
        offset, fixed = 0, got
        for w, g in zip(wants, gots):
            fraction = w.group("fraction") or ""
            exponent = int(w.group("exp1") or w.group("exp2") or 0)
            expected, computed = float(w.group()), float(g.group())
            tolerance = max(10.0 ** -(len(fraction) - exponent), 1e-6 * abs(expected))
            if abs(expected - computed) <= tolerance:
                start, end = g.start() + offset, g.end() + offset
                fixed = fixed[:start] + w.group() + fixed[end:]
                offset += len(w.group()) - (end - start)
        return super().check_output(want, fixed, optionflags)


TESTS, SKIPPED = collect()


def _globs(test: doctest.DocTest) -> dict:
    import gradkit.nn.functional as F
    from gradkit import nn, optim

    return {**test.globs, "gk": gk, "np": np, "nn": nn, "F": F, "optim": optim}


def test_collection_and_checker():
    """The collection imports every module but the optional ones, and NUMBER compares
    floats to the precision written, nothing looser."""
    assert all(t.examples for t in TESTS)
    assert all(s.startswith(tuple(OPTIONAL)) for s in SKIPPED)
    check = Checker().check_output
    flags = FLAGS | NUMBER
    assert check("tensor([0.333, 1.5])\n", "tensor([0.33333334, 1.5000001])\n", flags)
    assert check("3.14\n", "3.1415927\n", flags)
    assert not check("3.14\n", "3.1515927\n", flags)
    assert check("tensor(1.6666666)\n", "tensor(1.6666667)\n", flags)
    assert check("1.5e-3\n", "0.0015002\n", flags)
    assert not check("3.14\n", "3.1415927\n", FLAGS)
    assert not check("[1.0, 2.0]\n", "[1.0]\n", flags)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(checker=Checker())
    failing = parser.get_doctest(">>> gk.tensor([1.0]) * 2\ntensor([3.])\n",
                                 {"gk": gk}, "failing", None, 0)
    assert runner.run(failing, out=lambda text: None).failed == 1


@pytest.mark.parametrize("test", TESTS, ids=[t.name for t in TESTS])
def test_docstring_examples(test: doctest.DocTest):
    gk.manual_seed(0)
    test = doctest.DocTest(test.examples, _globs(test), test.name, test.filename,
                           test.lineno, test.docstring)
    runner = doctest.DocTestRunner(checker=Checker(), optionflags=FLAGS | NUMBER)
    failures: list[str] = []
    result = runner.run(test, out=failures.append, clear_globs=True)
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} examples failed in "
                    f"{test.name} ({test.filename}:{test.lineno})\n" + "".join(failures),
                    pytrace=False)
