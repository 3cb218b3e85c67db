"""gradkit's pytest plugin: run every test on every backend (numpy, cupy, strict).

Installing gradkit installs this plugin (entry point ``pytest11``); nothing to configure.
It is a top-level module, not part of the gradkit package, so that pytest loading it in
every test run of the environment imports nothing of gradkit: gradkit is imported only
when a test asks for its fixtures or is parametrized with ``backend_params()``.

Fixtures
    ``device``   a device string, parametrized over every backend with the ids
                 ``numpy`` ("cpu"), ``cupy`` ("cuda:0") and ``strict`` ("strict:device1")
    ``backend``  the gradkit Backend object of that device

    def test_tanh(device):
        x = gk.tensor([0.5, 1.0], device=device, requires_grad=True)
        x.tanh().sum().backward()
        assert x.grad.device == device

Every backend is always collected. One that cannot run on this machine (no GPU, no
array-api-strict) is skipped at run time with its probe's reason, so ``pytest -ra``
says why. Your own fixtures inherit the parametrization by asking for ``device``:

    @pytest.fixture
    def model(device):
        return MyNet().to(device)

or parametrize anything the same way with ``gradkit.testing.backend_params()``:

    @pytest.mark.parametrize("dev", backend_params())          # a test
    @pytest.fixture(params=backend_params(["numpy", "strict"]))  # a fixture; request.param

Selection
    ``pytest --gradkit-backends=numpy,strict`` or ``GRADKIT_BACKENDS=numpy,strict``
    (the option wins; ``all`` means every backend). Backends left out are deselected,
    not skipped: they do not run and do not clutter the skip list; the summary counts
    them.

Summary
    A terminal section "gradkit backends" gives passed / skipped / failed (and
    deselected) counts per backend, with the reason for an unavailable one; CI reads it.

A test that uses ``device`` (or ``backend``) starts with ``gk.manual_seed(0)``, so its
random draws repeat whatever the order tests run in; other tests are left alone.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest

# gradkit.backends.BACKEND_NAMES, written out so that loading the plugin imports nothing
# of gradkit (a test checks that the two agree)
BACKEND_NAMES = ("numpy", "cupy", "strict")

MARKER = "gradkit_backend"
_PROPERTY = "gradkit_backend"  # user_properties key: survives pytest-xdist's serialization
_OUTCOMES = ("passed", "skipped", "failed")


def _backends() -> ModuleType:
    """gradkit.backends, imported on first use (by a test that uses gradkit)."""
    from gradkit import backends

    return backends


def backend_params(names: Iterable[str] | None = None) -> list[Any]:
    """Return ``pytest.param(device, id=name)`` for each backend in ``names``.

    Use as ``@pytest.mark.parametrize("device", backend_params())`` or as a fixture's
    ``params``; the plugin then skips, deselects and counts those cases like the
    ``device`` fixture's.

    Parameters
    ----------
    names : iterable of str, optional
        Backends among "numpy", "cupy" and "strict" (default: all of them).

    Returns
    -------
    list of pytest.param
        Each with the backend's default device as value, its name as id, and the
        ``gradkit_backend`` marker.

    Raises
    ------
    ValueError
        For an unknown backend name.

    Examples
    --------
    >>> from gradkit.testing import backend_params
    >>> [(p.id, p.values) for p in backend_params(["numpy", "strict"])]
    [('numpy', ('cpu',)), ('strict', ('strict:device1',))]
    """
    names = BACKEND_NAMES if names is None else tuple(names)
    for n in names:
        if n not in BACKEND_NAMES:
            raise ValueError(f"unknown backend {n!r}; known: {BACKEND_NAMES}")
    return [pytest.param(_backends().default_device(n), id=n, marks=pytest.mark.gradkit_backend(n))
            for n in names]


def _parse_selection(text: str, source: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names or names == ("all",):
        return BACKEND_NAMES
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown:
        raise pytest.UsageError(f"{source}: unknown backend(s) {', '.join(unknown)}; "
                                f"choose from {', '.join(BACKEND_NAMES)} or 'all'")
    return names


def selected_backends(config: pytest.Config) -> tuple[str, ...]:
    """Return the backends this run covers.

    ``--gradkit-backends``, else ``$GRADKIT_BACKENDS``, else all; "all" means every backend.

    Parameters
    ----------
    config : pytest.Config
        The run's configuration.

    Returns
    -------
    tuple of str

    Raises
    ------
    pytest.UsageError
        For an unknown backend name.

    Examples
    --------
    >>> from gradkit.testing import selected_backends
    >>> class Config:  # a stand-in for pytest's
    ...     def getoption(self, name, default=None):
    ...         return "strict,numpy"
    >>> selected_backends(Config())
    ('strict', 'numpy')
    """
    option = config.getoption("gradkit_backends", None)
    if option is not None:
        return _parse_selection(option, "--gradkit-backends")
    env = os.environ.get("GRADKIT_BACKENDS")
    if env is not None:
        return _parse_selection(env, "GRADKIT_BACKENDS")
    return BACKEND_NAMES


def _item_backends(item: pytest.Item) -> list[str]:
    return [m.args[0] for m in item.iter_markers(MARKER)]


# ---- hooks ------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--gradkit-backends`` command-line option (a pytest hook).

    Parameters
    ----------
    parser : pytest.Parser
    """
    group = parser.getgroup("gradkit")
    group.addoption("--gradkit-backends", dest="gradkit_backends", default=None,
                    metavar="NAMES",
                    help="comma-separated backends to test (numpy,cupy,strict or all); "
                         "default: $GRADKIT_BACKENDS, else all")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``gradkit_backend`` marker and the per-backend summary (a pytest hook).

    Parameters
    ----------
    config : pytest.Config

    Raises
    ------
    pytest.UsageError
        If the backend selection names an unknown backend.
    """
    config.addinivalue_line(
        "markers", f"{MARKER}(name): the case runs on gradkit backend `name` "
                   "(set by the device fixture and gradkit.testing.backend_params)")
    config.pluginmanager.register(_BackendRun(selected_backends(config)), "gradkit-backends")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose backend cannot run here, with its probe's reason (a pytest hook).

    Parameters
    ----------
    item : pytest.Item
    """
    for name in _item_backends(item):
        ok, reason = _backends().availability(name)
        if not ok:
            pytest.skip(f"{name} backend unavailable: {reason}")


class _BackendRun:
    """Deselects the backends not asked for and counts outcomes per backend."""

    def __init__(self, selected: tuple[str, ...]) -> None:
        self.selected = selected
        self.outcomes: dict[str, tuple[str, Any]] = {}  # nodeid -> (outcome, backend names)
        self.deselected: Counter[str] = Counter()

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            names = _item_backends(item)
            for n in names:
                item.user_properties.append((_PROPERTY, n))
            if any(n not in self.selected for n in names):
                drop.append(item)
                self.deselected.update(set(names))
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        names = {v for k, v in report.user_properties if k == _PROPERTY}
        if not names:
            return
        # One outcome per test: a failed or skipped phase wins over the call's pass.
        if report.when == "call" or report.outcome != "passed":
            prev = self.outcomes.get(report.nodeid)
            if prev is None or prev[0] == "passed":
                self.outcomes[report.nodeid] = (report.outcome, names)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.outcomes or self.deselected):
            return
        counts: dict[str, Counter[str]] = {n: Counter() for n in BACKEND_NAMES}
        for outcome, names in self.outcomes.values():
            for n in names:
                counts[n][outcome] += 1
        tr = terminalreporter
        tr.write_sep("=", "gradkit backends")
        for n in BACKEND_NAMES:
            line = f"{n:<7} " + ", ".join(f"{counts[n][o]} {o}" for o in _OUTCOMES)
            if self.deselected[n]:
                line += f", {self.deselected[n]} deselected"
            ok, reason = _backends().availability(n)
            if n not in self.selected:
                line += "  (not selected)"
            elif not ok:
                line += f"  (unavailable: {reason})"
            elif reason != "available":
                line += f"  ({reason}; tests on {_backends().default_device(n)})"
            tr.write_line(line)


# ---- fixtures ---------------------------------------------------------------------------
@pytest.fixture(params=[pytest.param(n, id=n, marks=pytest.mark.gradkit_backend(n))
                        for n in BACKEND_NAMES])
def device(request: pytest.FixtureRequest) -> str:
    """Give a device string, once per backend ("cpu", "cuda:0", "strict:device1"); reseeds.

    Every generator is seeded with 0 first, so a test's random draws repeat whatever the
    order tests run in.

    Parameters
    ----------
    request : pytest.FixtureRequest

    Returns
    -------
    str
        The backend's default device.

    Examples
    --------
    In a test module (gradkit's plugin is active once gradkit is installed)::

        def test_tanh(device):
            x = gk.tensor([0.5, 1.0], device=device, requires_grad=True)
            x.tanh().sum().backward()
            assert x.grad.device == device
    """
    _backends().seed_all(0)  # cheap: generators are created lazily
    return _backends().default_device(request.param)  # at run time: a conftest may move it


@pytest.fixture
def backend(device: str) -> Any:
    """Give the gradkit Backend of the ``device`` fixture's device.

    Parameters
    ----------
    device : str
        The ``device`` fixture.

    Returns
    -------
    Backend

    Examples
    --------
    In a test module::

        def test_namespace(backend):
            assert backend.xp is not None
    """
    return _backends().get_backend(device)
