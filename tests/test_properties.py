"""Property tests (hypothesis): broadcasting gradients over random shapes, reductions over
random axes, gathers with random duplicate indices and random composite expressions,
each against NumPy or finite differences, on every backend."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradkit as gk

# `device` is a plain string per backend, so reusing it across examples is safe.
FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def unbroadcast(full, shape):
    """Sum `full` down to `shape`: what the gradient of broadcasting must equal."""
    lead = full.ndim - len(shape)
    out = full.sum(axis=tuple(range(lead))) if lead else full
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True).reshape(shape) if axes else out.reshape(shape)


# name: (gradkit op, d/da, d/db) with the local derivatives in NumPy
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: np.ones_like(a + b), lambda a, b: np.ones_like(a + b)),
    "sub": (lambda a, b: a - b, lambda a, b: np.ones_like(a + b),
            lambda a, b: -np.ones_like(a + b)),
    "mul": (lambda a, b: a * b, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "div": (lambda a, b: a / b, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b**2),
    "pow": (lambda a, b: a**b, lambda a, b: b * a ** (b - 1), lambda a, b: a**b * np.log(a)),
    "maximum": (gk.maximum, lambda a, b: (a > b) + 0.0 * b, lambda a, b: (b > a) + 0.0 * a),
}


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_gradients(device, shapes, op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    # Positive, well-separated operands: valid for div, pow (log a) and maximum (no ties).
    a = rng.uniform(0.5, 1.5, sa)
    b = rng.uniform(0.5, 1.5, sb) + np.where(rng.random(sb) < 0.5, 1.2, 0.0)
    f, da, db = BINARY[op]
    ta = gk.tensor(a, device=device, requires_grad=True)
    tb = gk.tensor(b, device=device, requires_grad=True)
    out = f(ta, tb)
    assert out.shape == shapes.result_shape
    out.sum().backward()
    assert ta.grad.shape == sa and tb.grad.shape == sb
    np.testing.assert_allclose(ta.grad.numpy(), unbroadcast(da(a, b), sa), rtol=1e-10)
    np.testing.assert_allclose(tb.grad.numpy(), unbroadcast(db(a, b), sb), rtol=1e-10)


@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(),
       reduction=st.sampled_from(["sum", "mean", "max", "var", "logsumexp"]),
       keepdims=st.booleans())
def test_reductions_over_random_axes(device, shape, data, reduction, keepdims):
    axes = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), min_size=1,
                                          unique=True).map(tuple), label="axis")
    # Distinct values (no max ties) in a random order.
    order = data.draw(st.permutations(range(int(np.prod(shape)))), label="order")
    host = np.array(order, dtype=np.float64).reshape(shape) * 0.3
    ref = {"sum": np.sum, "mean": np.mean, "max": np.max, "var": np.var,
           "logsumexp": lambda v, axis, keepdims: np.log(np.sum(
               np.exp(v), axis=axis, keepdims=keepdims))}[reduction]
    fn = getattr(gk, reduction)
    if reduction == "var":  # the biased estimate, as np.var (gk.var's default is torch's)
        def fn(v, axis, keepdims):
            return gk.var(v, axis=axis, keepdims=keepdims, correction=0)
    t = gk.tensor(host, device=device, requires_grad=True)
    out = fn(t, axis=axes, keepdims=keepdims)
    expected = ref(host, axis=axes, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert gk.gradcheck(lambda v: fn(v, axis=axes, keepdims=keepdims), [t], mode="fast")


@FAST
@given(rows=st.integers(1, 5), cols=st.integers(1, 3),
       index=st.lists(st.integers(0, 4), min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_gather_gradient_accumulates_duplicates(device, rows, cols, index, seed):
    rng = np.random.default_rng(seed)
    idx = np.array([i % rows for i in index])
    x = gk.tensor(rng.standard_normal((rows, cols)), device=device, requires_grad=True)
    w = rng.standard_normal((len(idx), cols))
    (x[gk.tensor(idx, device=device)] * gk.tensor(w, device=device)).sum().backward()
    expected = np.zeros((rows, cols))
    np.add.at(expected, idx, w)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


_W = np.random.default_rng(7).standard_normal((4, 4)) * 0.5

# Smooth ops (defined everywhere, no overflow for moderate inputs), for random programs.
UNARY = {
    "tanh": gk.tanh, "sigmoid": gk.sigmoid, "square": lambda x: x * x, "neg": lambda x: -x,
    "exp_tanh": lambda x: gk.exp(gk.tanh(x)), "log1p_sq": lambda x: gk.log1p(x * x),
    "sqrt1p": lambda x: gk.sqrt(1.0 + x * x), "scale": lambda x: 0.5 * x - 1.0,
    "softmax": lambda x: gk.softmax(x, axis=-1), "log_softmax": gk.log_softmax,
    "erf": gk.erf, "matmul": lambda x: _full(x) @ gk.tensor(_W, device=x.device),
    "mean_keep": lambda x: x.mean(axis=-1, keepdims=True),
    "logsumexp_keep": lambda x: gk.logsumexp(x, axis=-1, keepdims=True),
}
PAIRS = {
    "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "sub": lambda a, b: a - b,
    "div": lambda a, b: a / (1.5 + b * b),
    "bilinear": lambda a, b: (_full(a) @ _full(b).mT) @ _full(a) * 0.2,  # (3, 3) @ (3, 4)
}


def _full(x):
    return gk.broadcast_to(x, (3, 4))


def _program(data, n_inputs):
    """A random straight-line program: each step applies an op to earlier values."""
    steps = []
    for k in range(data.draw(st.integers(1, 6), label="length")):
        n_values = n_inputs + k
        if data.draw(st.booleans(), label="unary"):
            steps.append(("u", data.draw(st.sampled_from(sorted(UNARY))),
                          data.draw(st.integers(0, n_values - 1))))
        else:
            steps.append(("b", data.draw(st.sampled_from(sorted(PAIRS))),
                          data.draw(st.integers(0, n_values - 1)),
                          data.draw(st.integers(0, n_values - 1))))
    return steps


def _run(steps, *inputs):
    values = list(inputs)
    for step in steps:
        if step[0] == "u":
            values.append(UNARY[step[1]](values[step[2]]))
        else:
            values.append(PAIRS[step[1]](values[step[2]], values[step[3]]))
    return values[-1]


@FAST
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_composite_expressions(device, data, seed):
    rng = np.random.default_rng(seed)
    # Every value stays (3, 4) or broadcasts to it: (3, 4), (4,), (3, 1).
    hosts = [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 1))]
    steps = _program(data, len(hosts))
    xs = [gk.tensor(h, device=device, requires_grad=True) for h in hosts]
    assert gk.gradcheck(lambda *v: _run(steps, *v), xs, mode="fast")
    if len(steps) <= 3:
        assert gk.gradgradcheck(lambda *v: _run(steps, *v), xs, mode="fast")
