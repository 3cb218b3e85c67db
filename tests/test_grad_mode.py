"""Grad mode as PyTorch's: no_grad, enable_grad and set_grad_enabled as context managers
and decorators (of functions, methods and generators), set_grad_enabled also as a plain
call, nesting that restores, and a mode per thread."""

from __future__ import annotations

import threading

import pytest

import gradkit as gk


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """A failing test must not leave recording off for the tests after it."""
    yield
    gk.set_grad_enabled(True)


def records(x) -> bool:
    return (x * 2).requires_grad


def test_set_grad_enabled_called_as_a_function_takes_effect(device):
    x = gk.ones(2, device=device, requires_grad=True)
    gk.set_grad_enabled(False)
    assert not gk.is_grad_enabled() and not records(x)
    gk.set_grad_enabled(True)
    assert gk.is_grad_enabled() and records(x)


def test_set_grad_enabled_as_a_context_restores_the_mode_before_the_call(device):
    x = gk.ones(2, device=device, requires_grad=True)
    with gk.set_grad_enabled(False):
        assert not records(x)
        with gk.set_grad_enabled(True):
            assert records(x)
        assert not records(x)
    assert records(x)
    with gk.no_grad():
        with gk.set_grad_enabled(True):
            assert records(x)
        assert not records(x)  # back to no_grad's mode, not to "enabled"


def test_set_grad_enabled_as_a_decorator_applies_to_each_call(device):
    x = gk.ones(2, device=device, requires_grad=True)

    @gk.set_grad_enabled(False)
    def frozen(v):
        return records(v)

    assert gk.is_grad_enabled()  # decorating switched nothing
    assert frozen(x) is False and gk.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_nesting_restores(device):
    x = gk.ones(2, device=device, requires_grad=True)
    ctx = gk.no_grad()
    with ctx:
        with gk.enable_grad():
            assert records(x)
            with ctx:  # one instance entered again while inside
                assert not records(x)
            assert records(x)
        assert not records(x)
    assert records(x)
    with pytest.raises(ValueError):
        with gk.no_grad():
            raise ValueError("boom")
    assert records(x)  # restored on an exception too


def test_bare_and_called_decorators_work_on_methods(device):
    x = gk.ones(2, device=device, requires_grad=True)

    class Model:
        factor = 3.0

        @gk.no_grad
        def predict(self, v):
            """Inference."""
            return v * self.factor

        @gk.no_grad()
        def predict_called(self, v):
            return v * self.factor

        @gk.enable_grad
        def train_step(self, v):
            return v * self.factor

    m = Model()
    assert not m.predict(x).requires_grad and not m.predict_called(x).requires_grad
    with gk.no_grad():
        assert m.train_step(x).requires_grad
    assert m.predict(x).tolist() == [3.0, 3.0]
    assert Model.predict.__name__ == "predict" and Model.predict.__doc__ == "Inference."


# Factories: gk.set_grad_enabled(False) switches the mode when called, so not at collection.
@pytest.mark.parametrize("decorator", [lambda: gk.no_grad, gk.no_grad,
                                       lambda: gk.set_grad_enabled(False)],
                         ids=["bare", "called", "set_grad_enabled"])
def test_decorated_generator_body_runs_without_grad_on_every_resume(device, decorator):
    x = gk.ones(2, device=device, requires_grad=True)
    seen = []

    @decorator()
    def steps(n):
        try:
            for _ in range(n):
                got = yield records(x)
                seen.append((got, records(x)))
            return "done"
        finally:
            seen.append(("closed", gk.is_grad_enabled()))

    gen = steps(2)
    assert next(gen) is False
    assert records(x)  # the caller's code between two resumes records
    assert gen.send("a") is False
    with pytest.raises(StopIteration) as stop:
        gen.send("b")
    assert stop.value.value == "done"
    assert seen == [("a", False), ("b", False), ("closed", False)]
    gen = steps(5)
    next(gen)
    gen.close()  # the generator's cleanup runs in its mode too
    assert seen[-1] == ("closed", False) and gk.is_grad_enabled()


def test_enable_grad_decorates_a_generator_used_inside_no_grad(device):
    x = gk.ones(2, device=device, requires_grad=True)

    @gk.enable_grad
    def steps():
        yield records(x)
        yield records(x)

    with gk.no_grad():
        assert list(steps()) == [True, True]


def test_every_grad_mode_helper_is_thread_local(device):
    x = gk.ones(2, device=device, requires_grad=True)
    switched, checked = threading.Event(), threading.Event()
    seen = {}

    def worker():
        gk.set_grad_enabled(False)  # this thread only
        seen["worker off"] = records(x)
        switched.set()
        checked.wait(10)
        seen["worker still off"] = not gk.is_grad_enabled()

    thread = threading.Thread(target=worker)
    thread.start()
    switched.wait(10)
    seen["main"] = records(x)
    with gk.no_grad():  # no effect on the worker either
        checked.set()
        thread.join(10)
    assert seen == {"worker off": False, "main": True, "worker still off": True}
    assert records(x)
