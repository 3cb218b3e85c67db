"""The CuPy simulator's ElementwiseKernel (tests/cupy_sim/_kernel.py): CuPy's rules for
parameters, arguments, types, scalars, broadcasting and outputs; and gradkit's kernels
(backends/kernels.py) run on it through their NumPy references (cupy_sim/kernel_refs.py),
against the optimizers' generic rules."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

try:
    _core = importlib.import_module("cupy_sim._core")
except ModuleNotFoundError as e:  # only while the simulator's core is not merged in
    if e.name != "cupy_sim._core":
        raise
    pytest.skip("tests/cupy_sim/_core.py (the simulator's arrays) is not there",
                allow_module_level=True)
from cupy_sim import _kernel
from cupy_sim._kernel import ElementwiseKernel, register, signature

from gradkit.backends.kernels import ADAM, KERNELS, SGD, SGD_MOMENTUM, adam_scalars, sgd_scalars
from gradkit.optim.adam import adam_update
from gradkit.optim.sgd import sgd_update

pytestmark = pytest.mark.cupy_sim  # the simulator's own tests: CI runs them in each mode


def dev(a, dtype=None):
    return _core._wrap(np.array(a, dtype=dtype))


def host(x):
    return x._a.copy()


def kernel(in_params, out_params, name, fn):
    """A test kernel whose body is `fn` (registered for exactly this source)."""
    body = f"/* {name} */"
    register(name, signature(in_params, out_params, body))(fn)
    return ElementwiseKernel(in_params, out_params, body, name)


def _copy(x, y):
    y[...] = x


def _copy_scalar(x, s, y):
    y[...] = s


COPY = kernel("T x", "T y", "sim_copy", _copy)
SCALAR = kernel("T x, T s", "T y", "sim_scalar", _copy_scalar)


# ---- construction ----------------------------------------------------------------------

def test_parameters_are_parsed_as_cupy_does():
    k = ElementwiseKernel("T x, raw float32 w, int64 n", "U y", ";", "parsed")
    x, w, n = k.in_params
    assert (x.ctype, x.dtype, x.raw, x.is_const) == ("T", None, False, True)
    assert (w.ctype, w.dtype, w.raw) == ("float", np.float32, True)
    assert (n.ctype, k.out_params[0].ctype, k.out_params[0].is_const) == ("long long", "U",
                                                                          False)
    assert (k.nin, k.nout, k.nargs, len(k.params)) == (3, 1, 4, 5)
    assert ElementwiseKernel("", "T y", ";").nin == 0
    assert not ElementwiseKernel("_non_const T x", "T y", ";").in_params[0].is_const


@pytest.mark.parametrize("args, error, message", [
    (("T", "T y", ";"), Exception, "Syntax error: T"),
    (("const T x", "T y", ";"), Exception, 'Unknown keyword "const"'),
    (("T i", "T y", ";"), ValueError, "Can not use 'i' as a parameter name"),
    (("T x", "T y", ";", "2fast"), ValueError, 'Invalid kernel name: "2fast"'),
    (("flot x", "T y", ";"), TypeError, "data type 'flot' not understood"),
    (("datetime64 x", "T y", ";"), ValueError, "Unsupported dtype datetime64"),
])
def test_bad_parameters_are_refused(args, error, message):
    with pytest.raises(error, match=message):
        ElementwiseKernel(*args)


def test_cupy_13_wants_canonical_type_names(monkeypatch):
    monkeypatch.setattr(_kernel, "CUPY_VERSION", (14, 2))  # whatever --cupy-sim chose
    assert ElementwiseKernel("float x", "T y", ";").in_params[0].dtype == np.float64  # 14.2
    monkeypatch.setattr(_kernel, "CUPY_VERSION", (13, 6))
    with pytest.raises(ValueError, match="Wrong type float"):
        ElementwiseKernel("float x", "T y", ";")


# ---- arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 4])
def test_a_call_takes_the_inputs_or_the_inputs_and_outputs(n):
    args = [dev([1.0, 2.0]), 2.0, dev([0.0, 0.0]), dev([0.0, 0.0])][:n]
    with pytest.raises(TypeError, match=r"^Wrong number of arguments for 'sim_scalar'\. It must "
                       r"be either 2 or 3 \(with outputs\), but given " + str(n) + r"\.$"):
        SCALAR(*args)


def test_outputs_must_be_arrays_of_the_loop_shape():
    x = dev([1.0, 2.0])
    with pytest.raises(TypeError, match="^Output arguments type must be cupy.ndarray$"):
        COPY(x, 3.0)
    with pytest.raises(ValueError, match="^Out shape is mismatched$"):
        COPY(dev([[1.0, 2.0]] * 3), dev([0.0, 0.0]))  # an output is not broadcast


def test_numpy_arrays_and_other_objects_are_refused():
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        COPY(np.ones(2))
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        SCALAR(dev([1.0]), [1.0])


def test_unknown_keywords_and_block_size():
    with pytest.raises(TypeError, match="Wrong arguments"):
        COPY(dev([1.0]), axis=0)
    with pytest.raises(ValueError, match="block_size must be greater than zero"):
        COPY(dev([1.0]), block_size=0)
    assert host(COPY(dev([1.0]), block_size=64, stream=None)) == 1.0


# ---- types -----------------------------------------------------------------------------

def test_arrays_of_one_placeholder_must_have_one_dtype():
    k = kernel("T x, T z", "T y", "sim_add", lambda x, z, y: np.add(x, z, out=y))
    with pytest.raises(TypeError, match="^Type is mismatched. z float64 float32 T$"):
        k(dev([1.0], "float32"), dev([1.0], "float64"))
    with pytest.raises(TypeError, match="^Type is mismatched. x float32 float64 T$"):
        k(dev([1.0], "float32"), dev([1.0], "float32"), dev([0.0], "float64"))  # outputs first
    fixed = kernel("float32 x", "T y", "sim_fixed", _copy)
    with pytest.raises(TypeError, match="^Type is mismatched. x float64 float32$"):
        fixed(dev([1.0]))
    assert host(fixed(dev([1.5], "float32"), dev([0], "int64"))) == 1  # output of its own type


def test_scalars_take_their_parameters_type_and_never_decide_it():
    x32 = dev([1.0], "float32")
    s = SCALAR(x32, np.float64(0.1))  # no promotion: T stays float32, 0.1 is cast
    assert s.dtype == np.float32 and host(s)[0] == np.float32(0.1)
    s = SCALAR(dev([1.0], "float64"), 0.1)
    assert s.dtype == np.float64 and host(s)[0] == 0.1
    only_scalar = kernel("T x, U s", "T y", "sim_u", lambda x, s, y: None)
    with pytest.raises(KeyError):  # U is decided by no array: CuPy fails the same way
        only_scalar(x32, 1.0)


def test_float16_turns_eps_into_zero():
    """Defect 7's mechanism: a scalar parameter of type T is cast to T on the host."""
    assert host(SCALAR(dev([1.0], "float16"), 1e-8))[0] == 0
    assert host(SCALAR(dev([1.0], "float32"), 1e-8))[0] == np.float32(1e-8)


def test_scalar_overflow_follows_the_cupy_version(monkeypatch):
    monkeypatch.setattr(_kernel, "CUPY_VERSION", (14, 2))  # whatever --cupy-sim chose
    u8 = dev([1], "uint8")
    with pytest.raises(OverflowError):  # CuPy 14: NumPy's assignment rules
        SCALAR(u8, 300)
    assert host(SCALAR(u8, np.int64(300)))[0] == 44  # a NumPy scalar is cast, not checked
    monkeypatch.setattr(_kernel, "CUPY_VERSION", (13, 6))
    assert host(SCALAR(u8, 300))[0] == 44  # CuPy 13: a C cast
    # CuPy 13 rounds to float16 through float32 (double rounding), CuPy 14 directly
    x = 1 + 2**-11 + 2**-40  # just above the midpoint of two float16 neighbours
    assert host(SCALAR(dev([1.0], "float16"), x))[0] == 1.0
    monkeypatch.setattr(_kernel, "CUPY_VERSION", (14, 2))
    assert host(SCALAR(dev([1.0], "float16"), x))[0] == np.float16(1 + 2**-10)


# ---- shapes and outputs ----------------------------------------------------------------

def test_broadcasting_and_allocated_outputs():
    k = kernel("T x, T z", "T y, T w", "sim_two", lambda x, z, y, w: (np.add(x, z, out=y),
                                                                       np.copyto(w, x)))
    y, w = k(dev([[1.0], [2.0], [3.0]]), dev([10.0, 20.0]))
    assert y.shape == w.shape == (3, 2) and y.dtype == np.float64
    np.testing.assert_array_equal(host(y), [[11, 21], [12, 22], [13, 23]])
    with pytest.raises(ValueError, match=r"^operands could not be broadcast together with "
                       r"shapes \(3,\) \(\) \(2,\)$"):
        SCALAR(dev([1.0, 2.0, 3.0]), 1.0, dev([0.0, 0.0]))


def test_return_conventions():
    x = dev([1.0])
    assert COPY(x).shape == (1,)
    out = dev([0.0])
    assert COPY(x, out) is out and host(out)[0] == 1.0
    k = ElementwiseKernel("T x", "T y", "/* sim_copy */", "sim_copy", return_tuple=True)
    assert isinstance(k(x), tuple)
    k = ElementwiseKernel("T x", "T y", "/* sim_copy */", "sim_copy", no_return=True)
    assert k(x, out) is None


def test_loop_size_rules():
    with pytest.raises(ValueError, match="^Loop size is undecided.$"):
        SCALAR(1.0, 2.0)
    with pytest.raises(ValueError, match="Specified 'size' can be used only if all"):
        COPY(dev([1.0]), size=3)
    raw = kernel("raw T x", "raw T y", "sim_raw", lambda x, y: np.copyto(y, x[::-1]))
    np.testing.assert_array_equal(host(raw(dev([1.0, 2.0]), size=2)), [2.0, 1.0])
    raw_out = kernel("T x", "raw T y", "sim_raw_out", _copy)
    with pytest.raises(ValueError, match="^Output array size is Undecided$"):
        raw_out(dev([1.0, 2.0]))
    out = dev([0.0, 0.0])
    raw(dev([1.0, 2.0]), out, size=2)
    np.testing.assert_array_equal(host(out), [2.0, 1.0])


def test_zero_size_runs_nothing():
    def boom(x, y):
        raise AssertionError("ran")

    assert kernel("T x", "T y", "sim_boom", boom)(dev(np.zeros((0, 3)))).shape == (0, 3)


def test_inputs_are_read_only_and_new_outputs_uninitialized():
    def write_input(x, y):
        x[...] = 0

    with pytest.raises(ValueError, match="read-only"):
        kernel("T x", "T y", "sim_write", write_input)(dev([1.0]))
    assert np.isnan(host(kernel("T x", "T y", "sim_lazy", lambda x, y: None)(dev([1.0]))))


def test_an_input_that_is_also_an_output_is_read_before_the_call():
    x = dev([1.0, 2.0])
    kernel("T x", "T y", "sim_shift", lambda x, y: np.copyto(y[1:], x[:-1]))(x, x)
    np.testing.assert_array_equal(host(x), [1.0, 1.0])


def test_kernels_run_only_their_own_reference():
    with pytest.raises(NotImplementedError, match="register a NumPy reference"):
        ElementwiseKernel("T x", "T y", "y = x", "sim_nobody")(dev([1.0]))
    with pytest.raises(RuntimeError, match="'sim_copy' has changed"):
        ElementwiseKernel("T x", "T y", "y = 2 * x", "sim_copy")(dev([1.0]))


def test_every_gradkit_kernel_has_a_current_reference():
    """Fails when a body in backends/kernels.py changes: review kernel_refs.py then."""
    for k in KERNELS.values():
        sim = ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name,
                                preamble=k.preamble)
        _kernel._reference(sim)


# ---- gradkit's kernels against the generic rules ----------------------------------------

def sim(k):
    return ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name, preamble=k.preamble)


RNG = np.random.default_rng(3)


def arrays(n, dtype, k=4):
    return [RNG.standard_normal(n).astype(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-13), ("float32", 1e-6)])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_kernel_gives_adam_update(dtype, rtol, decoupled, wd):
    p, g, m, v = arrays(9, dtype)
    v = np.abs(v)
    hp = (0.01, 0.9, 0.99, 1e-8, wd, decoupled, 3)
    P, M, V = dev(p), dev(m), dev(v)
    sim(ADAM)(dev(g), *adam_scalars(*hp), P, M, V)
    adam_update(np, p, g, m, v, *hp)
    for a, b in ((P, p), (M, m), (V, v)):
        assert host(a).dtype == b.dtype
        np.testing.assert_allclose(host(a), b, rtol=rtol)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-13), ("float32", 1e-6)])
@pytest.mark.parametrize("momentum, dampening, nesterov, wd", [
    (0.0, 0.0, False, 0.0), (0.0, 0.0, False, 0.01), (0.9, 0.0, False, 0.0),
    (0.9, 0.1, False, 0.01), (0.9, 0.0, True, 0.01)])
def test_sgd_kernels_give_sgd_update(dtype, rtol, momentum, dampening, nesterov, wd):
    p, g, _, _ = arrays(9, dtype)
    P, G, buf, BUF = dev(p), dev(g), None, None
    for _ in range(3):  # the first step makes the buffer, later ones use it
        first = buf is None
        if momentum:
            BUF = dev(np.full_like(p, np.nan)) if first else BUF  # the first step reads none
            sim(SGD_MOMENTUM)(G, *sgd_scalars(0.1, momentum, wd, nesterov, dampening, first),
                              P, BUF)
        else:
            sim(SGD)(G, *sgd_scalars(0.1, 0, wd, False, 0, False), P)
        buf = sgd_update(np, p, g, buf, 0.1, momentum, wd, nesterov, dampening)
        np.testing.assert_allclose(host(P), p, rtol=rtol)
        if momentum:
            np.testing.assert_allclose(host(BUF), buf, rtol=rtol)
        else:
            assert buf is None
    np.testing.assert_array_equal(host(G), g)  # the gradient is only read


# The former definition, whose scalars were typed T (defect 7), run by the simulator.
OLD_ADAM = ("T grad, T lr_t, T beta1, T beta2, T eps, T bias2_sqrt, T wd, T decay",
            "T param, T m, T v",
            "/* gradkit_adam before the fix: every scalar was cast to T */")


@register("sim_old_adam", signature(*OLD_ADAM))
def _old_adam(grad, lr_t, beta1, beta2, eps, bias2_sqrt, wd, decay, param, m, v):
    g = grad + wd * param  # all in T, as the old CUDA body computed
    param[...] = param * decay
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    param[...] = param - lr_t * m / (np.sqrt(v) / bias2_sqrt + eps)


@pytest.mark.parametrize("grad", [0.0, 1e-4])
def test_float16_adam_keeps_eps(grad):
    """Defect 7: with float16 parameters the old kernel got eps = 0 (0/0 for a zero
    gradient, a full-lr step for a tiny one); the kernel now computes in float32 with
    double scalars and gives the float32 rule's numbers, rounded to float16."""
    hp = (1e-3, 0.9, 0.999, 1e-8, 0.0, False, 1)
    p = np.linspace(-1, 1, 5).astype("float16")
    g = np.full(5, grad, "float16")
    bias1, bias2 = 1 - hp[1], 1 - hp[2]
    old = [dev(p), dev(np.zeros(5, "float16")), dev(np.zeros(5, "float16"))]
    ElementwiseKernel(*OLD_ADAM, "sim_old_adam")(
        dev(g), hp[0] / bias1, hp[1], hp[2], hp[3], bias2**0.5, 0.0, 1.0, *old)
    assert not np.allclose(host(old[0]), p, rtol=0, atol=1e-3)  # the defect, reproduced

    new = [dev(p), dev(np.zeros(5, "float16")), dev(np.zeros(5, "float16"))]
    sim(ADAM)(dev(g), *adam_scalars(*hp), *new)
    ref = [p.astype("float32"), np.zeros(5, "float32"), np.zeros(5, "float32")]
    adam_update(np, *ref[:1], g.astype("float32"), *ref[1:], *hp)
    for a, b in zip(new, ref):
        assert host(a).dtype == np.float16 and np.isfinite(host(a)).all()
        np.testing.assert_array_equal(host(a), b.astype("float16"))
