"""Every differentiable op of gradkit, with a NumPy reference and safe sample inputs.

This is the table gradkit's own test suite (tests/test_ops.py) and the self-check
(`python -m gradkit.selfcheck`) run on every backend; it is public so that you can run
it on your own machine, device or fork::

    from gradkit.testing.op_registry import CASES, check_forward, check_gradcheck

    for case in CASES:
        check_forward(case, "cuda")          # AssertionError naming the case if wrong
        if case.differentiable:
            check_gradcheck(case, "cuda")

An `OpCase` says how to call an op on gradkit tensors (`fn`), what NumPy computes for
the same host arrays (`ref`), and how to draw inputs (`inputs(rng)`: host float64 arrays
kept away from kinks, ties and domain edges, so finite differences are valid). `family`
is the section of the table it belongs to (arithmetic, reduce, index, ...), and `QUICK`
names one or a few representative cases per family (the self-check's `--quick`).
`covers` names the public functions of gradkit.ops a case exercises; tests/test_ops.py
checks that together the cases cover all of them and every Function subclass, so a new
op needs a case here (see docs/architecture.md, "Adding an op").

The checks (`check_forward`, `check_gradcheck`, `check_gradgradcheck`) raise
AssertionError (gradcheck's GradcheckError is one) with the case's name, and return
None when the op is right. Inputs are drawn from a generator seeded by the case's name
(`host_inputs`), so every run and machine checks the same numbers.

This module needs only NumPy and gradkit (no pytest).
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import ops
from gradkit.backends.base import DeviceLike

FLOATS = ("float32", "float64")
# Sample inputs: a seeded generator -> a tuple of float64 host arrays
Draw = Callable[[np.random.Generator], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class OpCase:
    """One row of the op table: how to call an op, its NumPy reference and its inputs.

    Parameters
    ----------
    name : str
        Unique name; also seeds the case's inputs.
    fn : callable
        gradkit tensors -> Tensor.
    ref : callable
        Host NumPy arrays -> NumPy array, the expected result.
    inputs : callable
        ``np.random.Generator`` -> tuple of float64 host arrays, kept away from kinks, ties
        and domain edges so finite differences are valid.
    dtypes : tuple of str, default ("float32", "float64")
        The dtypes the forward is checked in.
    double_backward : bool, default True
        False: ``create_graph=True`` must raise GradkitError.
    differentiable : bool, default True
        False: forward only (comparisons, argmax, int casts).
    covers : tuple of str, default ()
        Public names of ``gradkit.ops`` the case exercises.
    check_kw : dict, optional
        eps / atol / rtol for (grad)gradcheck.
    family : str, default ""
        The section of the table ("arithmetic", "reduce", ...).

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> case = reg.BY_NAME["tanh"]
    >>> case, case.family, case.covers
    (tanh, 'elementwise', ('tanh',))
    """
    name: str
    fn: Callable  # gradkit tensors -> Tensor
    ref: Callable  # host NumPy arrays -> NumPy array
    inputs: Callable  # np.random.Generator -> tuple of float64 host arrays
    dtypes: tuple = FLOATS  # dtypes the forward is checked in
    double_backward: bool = True  # False: create_graph=True must raise GradkitError
    differentiable: bool = True  # False: forward only (comparisons, argmax, int casts)
    covers: tuple = field(default=())  # public names of gradkit.ops exercised
    check_kw: dict = field(default_factory=dict)  # eps/atol/rtol for (grad)gradcheck
    family: str = ""  # the section of the table: "arithmetic", "reduce", ...

    def __repr__(self):
        return self.name


CASES: list[OpCase] = []
FAMILIES: list[str] = []  # in the order of the table


def family(name: str) -> None:
    """Start a section of the table: the cases added after it belong to family ``name``.

    Parameters
    ----------
    name : str
        The family, such as "reduce".

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> reg.FAMILIES[:3]
    ['arithmetic', 'linalg', 'elementwise']
    """
    FAMILIES.append(name)


def case(name: str, fn: Callable[..., Any], ref: Callable[..., Any], inputs: Draw,
         covers: Iterable[str] = (), **kw: Any) -> None:
    """Add an :class:`OpCase` to the table, in the current family.

    Parameters
    ----------
    name : str
        Unique name of the case.
    fn : callable
        gradkit tensors -> Tensor.
    ref : callable
        NumPy arrays -> NumPy array.
    inputs : callable
        A draw, such as ``normal(3, 4)``.
    covers : iterable of str, default ()
        Public names of ``gradkit.ops`` exercised.
    **kw
        Other :class:`OpCase` fields (dtypes, double_backward, differentiable, check_kw).

    Examples
    --------
    Adding to the global table (as gradkit's own table does)::

        case("tanh", lambda x: x.tanh(), np.tanh, normal(3, 4), covers=["tanh"])
    """
    CASES.append(OpCase(name, fn, ref, inputs, covers=tuple(covers), family=FAMILIES[-1], **kw))


# ---- sample inputs ----------------------------------------------------------------------
def normal(*shape: int) -> Draw:
    """Draw one array of standard normal values.

    Parameters
    ----------
    *shape : int
        The array's shape.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> [a.shape for a in reg.normal(2, 3)(rng)]
    [(2, 3)]
    """
    return lambda rng: (rng.standard_normal(shape),)


def positive(*shape: int, lo: float = 0.3, hi: float = 2.0) -> Draw:
    """Draw one array of values in [lo, hi), for ops defined on positives (log, sqrt).

    Parameters
    ----------
    *shape : int
        The array's shape.
    lo, hi : float, default 0.3, 2.0
        Keyword only: the range.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> bool(reg.positive(5)(rng)[0].min() >= 0.3)
    True
    """
    return lambda rng: (rng.uniform(lo, hi, shape),)


def away_from_zero(*shape: int, lo: float = 0.2, hi: float = 1.5) -> Draw:
    """Draw values with |x| in [lo, hi] and random signs: no kink of relu/abs nearby.

    Parameters
    ----------
    *shape : int
        The array's shape.
    lo, hi : float, default 0.2, 1.5
        Keyword only: the range of |x|.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> bool(abs(reg.away_from_zero(5)(rng)[0]).min() >= 0.2)
    True
    """
    return lambda rng: (rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape),)


def distinct(*shape: int) -> Draw:
    """Draw values at least 0.2 apart: max/min have no ties within finite-difference reach.

    Parameters
    ----------
    *shape : int
        The array's shape.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> x = reg.distinct(6)(rng)[0]
    >>> bool(np.diff(np.sort(x)).min() >= 0.2)
    True
    """
    def draw(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        n = math.prod(shape)
        return ((rng.permutation(n) * 0.37 - n * 0.18 + rng.uniform(0, 0.1, n)).reshape(shape),)
    return draw


def several(*draws: Draw) -> Draw:
    """Concatenate the inputs of several draws.

    Parameters
    ----------
    *draws : callable
        The draws, in order.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> [a.shape for a in reg.several(reg.normal(3), reg.positive(2))(rng)]
    [(3,), (2,)]
    """
    return lambda rng: tuple(a for d in draws for a in d(rng))


def apart(*shape: int) -> Draw:
    """Draw a pair ``(a, b)`` with ``|a - b| >= 0.1`` everywhere: maximum/minimum without ties.

    Parameters
    ----------
    *shape : int
        The arrays' shape.

    Returns
    -------
    callable
        ``draw(rng)`` returning a tuple of float64 host arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradkit.testing import op_registry as reg
    >>> rng = np.random.default_rng(0)
    >>> a, b = reg.apart(4)(rng)
    >>> bool(abs(a - b).min() >= 0.1)
    True
    """
    def draw(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        a = rng.standard_normal(shape)
        return a, a + rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return draw


def const(x: gk.Tensor, array: Any) -> gk.Tensor:
    """Return a host constant (an index, a mask, a condition) as a tensor on ``x``'s device.

    Parameters
    ----------
    x : Tensor
        A tensor on the target device.
    array : array_like
        The constant.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.testing import op_registry as reg
    >>> reg.const(gk.ones(2), [0, 1])
    tensor([0, 1])
    """
    return gk.tensor(np.asarray(array), device=x.device)


def _erf(x):
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.ndim else np.asarray(
        math.erf(x), dtype=x.dtype)


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---- arithmetic, with broadcasting and Python scalars on both sides ------------------------
family("arithmetic")
case("add", lambda a, b: a + b, np.add, several(normal(3, 4), normal(3, 4)), ["Add"])
case("add_broadcast", lambda a, b: a + b, np.add, several(normal(2, 3, 4), normal(3, 1)))
case("add_scalar_right", lambda a: a + 2.5, lambda a: a + 2.5, normal(3, 4))
case("add_scalar_left", lambda a: 2.5 + a, lambda a: 2.5 + a, normal(3, 4))
case("add_int_scalar", lambda a: a + 2, lambda a: a + 2, normal(3, 4))
case("sub", lambda a, b: a - b, np.subtract, several(normal(3, 4), normal(4)))
case("sub_scalar_left", lambda a: 1.5 - a, lambda a: 1.5 - a, normal(3, 4))
case("sub_scalar_right", lambda a: a - 1.5, lambda a: a - 1.5, normal(3, 4))
case("mul", lambda a, b: a * b, np.multiply, several(normal(3, 1), normal(1, 4)))
case("mul_scalar_left", lambda a: 3 * a, lambda a: 3 * a, normal(3, 4))
case("mul_scalar_right", lambda a: a * -0.5, lambda a: a * -0.5, normal(3, 4))
case("mul_0d", lambda a, b: a * b, np.multiply, several(normal(), normal(2, 3)))
case("mul_same_tensor", lambda a: a * a, lambda a: a * a, normal(3, 4))
case("div", lambda a, b: a / b, np.divide, several(normal(3, 4), away_from_zero(4)))
case("div_scalar_left", lambda a: 2.0 / a, lambda a: 2.0 / a, away_from_zero(3, 4))
case("div_scalar_right", lambda a: a / 4.0, lambda a: a / 4.0, normal(3, 4))
case("neg", lambda a: -a, np.negative, normal(3, 4))
case("pos", lambda a: +a * 1, lambda a: a * 1, normal(3, 4))
case("pow_scalar_int", lambda a: a**3, lambda a: a**3, normal(3, 4), ["pow"])
case("pow_scalar_2", lambda a: a**2, lambda a: a**2, normal(3, 4))
case("pow_scalar_frac", lambda a: a**0.5, np.sqrt, positive(3, 4))
case("pow_scalar_neg", lambda a: a**-1.5, lambda a: a**-1.5, positive(3, 4))
case("pow_tensor", lambda a, b: a**b, np.power, several(positive(3, 4), normal(3, 4)))
case("pow_tensor_broadcast", lambda a, b: gk.pow(a, b), np.power,
     several(positive(3, 4), normal(4)))
case("rpow_scalar_base", lambda b: 2.0**b, lambda b: 2.0**b, normal(3, 4))
case("pow_fn_scalar", lambda a: gk.pow(a, 3), lambda a: a**3, normal(3, 4))
case("square", gk.square, np.square, normal(3, 4), ["square"])

# ---- matmul and linear ---------------------------------------------------------------------
family("linalg")
case("matmul_2d", lambda a, b: a @ b, np.matmul, several(normal(3, 4), normal(4, 5)), ["matmul"])
case("matmul_fn", gk.matmul, np.matmul, several(normal(3, 4), normal(4, 2)))
case("matmul_vec_mat", lambda a, b: a @ b, np.matmul, several(normal(4), normal(4, 3)))
case("matmul_mat_vec", lambda a, b: a @ b, np.matmul, several(normal(3, 4), normal(4)))
case("matmul_vec_vec", lambda a, b: a @ b, np.matmul, several(normal(4), normal(4)))
case("matmul_batched", lambda a, b: a @ b, np.matmul, several(normal(2, 3, 4), normal(4, 2)))
case("matmul_batch_broadcast", lambda a, b: a @ b, np.matmul,
     several(normal(2, 1, 2, 3), normal(3, 3, 2)))
case("matmul_vec_batched", lambda a, b: a @ b, np.matmul, several(normal(3), normal(2, 3, 2)))
case("matmul_method", lambda a, b: a.matmul(b), np.matmul, several(normal(2, 3), normal(3, 2)))
case("matmul_transpose_a", lambda a, b: gk.matmul(a, b, transpose_a=True),
     lambda a, b: np.swapaxes(a, -1, -2) @ b, several(normal(2, 4, 3), normal(4, 2)))
case("matmul_transpose_b", lambda a, b: gk.matmul(a, b, transpose_b=True),
     lambda a, b: a @ b.T, several(normal(3, 4), normal(2, 4)))
case("matmul_transpose_both", lambda a, b: gk.matmul(a, b, transpose_a=True, transpose_b=True),
     lambda a, b: a.T @ b.T, several(normal(4, 3), normal(2, 4)))
case("linear", ops.linear, lambda x, w, b: x @ w.T + b,
     several(normal(3, 4), normal(5, 4), normal(5)), ["linear"])
case("linear_no_bias", lambda x, w: ops.linear(x, w), lambda x, w: x @ w.T,
     several(normal(3, 4), normal(2, 4)))
case("linear_3d", lambda x, w, b: ops.linear(x, w, b), lambda x, w, b: x @ w.T + b,
     several(normal(2, 3, 4), normal(2, 4), normal(2)))
case("linear_1d", lambda x, w, b: ops.linear(x, w, b), lambda x, w, b: x @ w.T + b,
     several(normal(4), normal(2, 4), normal(2)))
# (B, T, in) is multiplied as one (B*T, in) matrix: here from a non-contiguous view
case("linear_4d_transposed", lambda x, w, b: ops.linear(x.transpose(0, 1), w, b),
     lambda x, w, b: np.swapaxes(x, 0, 1) @ w.T + b,
     several(normal(3, 2, 2, 4), normal(5, 4), normal(5)))


# ---- elementwise functions -------------------------------------------------------------------
family("elementwise")
case("exp", gk.exp, np.exp, normal(3, 4), ["exp"])
case("exp_method", lambda x: x.exp(), np.exp, normal(3, 4))
case("log", gk.log, np.log, positive(3, 4), ["log"])
case("log_method", lambda x: x.log(), np.log, positive(3, 4))
case("log1p", gk.log1p, np.log1p, positive(3, 4, lo=-0.5, hi=2.0), ["log1p"])
case("log1p_method", lambda x: x.log1p(), np.log1p, positive(3, 4, lo=-0.5, hi=2.0))
case("sqrt", gk.sqrt, np.sqrt, positive(3, 4), ["sqrt"])
case("sqrt_method", lambda x: x.sqrt(), np.sqrt, positive(3, 4))
case("tanh", gk.tanh, np.tanh, normal(3, 4), ["tanh"])
case("tanh_method", lambda x: x.tanh(), np.tanh, normal(3, 4))
case("sigmoid", gk.sigmoid, _sigmoid, normal(3, 4), ["sigmoid"])
case("sigmoid_method", lambda x: x.sigmoid(), _sigmoid, normal(3, 4))
case("sigmoid_large", lambda x: gk.sigmoid(x * 40.0), lambda x: _sigmoid(x * 40.0),
     normal(3, 4), dtypes=("float64",))
case("relu", gk.relu, lambda x: np.maximum(x, 0), away_from_zero(3, 4), ["relu"])
case("relu_method", lambda x: x.relu(), lambda x: np.maximum(x, 0), away_from_zero(3, 4))
case("abs", gk.abs, np.abs, away_from_zero(3, 4), ["abs"])
case("abs_method", lambda x: x.abs(), np.abs, away_from_zero(3, 4))
case("abs_builtin", lambda x: abs(x), np.abs, away_from_zero(3, 4))
case("erf", gk.erf, _erf, normal(3, 4), ["erf"])
case("log2", lambda x: x.log2(), np.log2, positive(3, 4), ["log2"])
case("log10", gk.log10, np.log10, positive(3, 4), ["log10"])
case("rsqrt", gk.rsqrt, lambda x: 1 / np.sqrt(x), positive(3, 4), ["rsqrt"])
case("sin", gk.sin, np.sin, normal(3, 4), ["sin"])
case("cos", lambda x: x.cos(), np.cos, normal(3, 4), ["cos"])
case("tan", gk.tan, np.tan, normal(3, 4), ["tan"])
case("neg_method", lambda x: x.neg(), np.negative, normal(3, 4), ["neg"])
case("add_alpha", lambda a, b: gk.add(a, b, alpha=2), lambda a, b: a + 2 * b,
     several(normal(3, 4), normal(4)), ["add"])
case("sub_fn", lambda a, b: gk.sub(a, b), np.subtract, several(normal(3, 4), normal(3, 4)),
     ["sub"])
case("mul_fn", lambda a, b: a.mul(b), np.multiply, several(normal(3, 4), normal(3, 4)), ["mul"])
case("div_fn", lambda a, b: gk.div(a, b), np.divide, several(normal(3, 4), positive(3, 4)),
     ["div"])
case("floor_divide", lambda x: x // 0.7, lambda x: np.floor_divide(x, 0.7), normal(3, 4),
     ["floor_divide"], differentiable=False)
case("remainder", lambda x: x % 0.7, lambda x: np.mod(x, 0.7),
     lambda rng: (rng.uniform(0.1, 0.6, (3, 4)) + 0.7 * rng.integers(-3, 3, (3, 4)),),
     ["remainder"])
case("tril", lambda x: gk.tril(x), np.tril, normal(3, 4), ["tril"])
case("triu_diag", lambda x: x.triu(1), lambda x: np.triu(x, 1), normal(2, 3, 3), ["triu"])
case("masked_fill", lambda x: x.masked_fill(const(x, _MASKF), -1.5),
     lambda x: np.where(_MASKF, -1.5, x), normal(2, 3), ["masked_fill"])
case("masked_fill_neg_inf_softmax",
     lambda x: gk.softmax(x.masked_fill(const(x, np.tril(np.ones((3, 3))) == 0), -math.inf), -1),
     lambda x: _softmax(np.where(np.tril(np.ones((3, 3))) == 0, -np.inf, x), -1), normal(3, 3))
case("maximum", gk.maximum, np.maximum, apart(3, 4), ["maximum"])
case("maximum_broadcast", gk.maximum, np.maximum,
     lambda rng: (distinct(3, 4)(rng)[0], np.array([0.05, -0.83, 0.41, 1.11])))
case("maximum_scalar", lambda a: gk.maximum(a, 0.05), lambda a: np.maximum(a, 0.05),
     away_from_zero(3, 4))
case("minimum", gk.minimum, np.minimum, apart(3, 4), ["minimum"])
case("minimum_scalar_left", lambda a: gk.minimum(0.05, a), lambda a: np.minimum(0.05, a),
     away_from_zero(3, 4))
case("clamp", lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
     lambda rng: (rng.choice([-1.2, -0.2, 0.25, 0.9], (3, 4)) + rng.uniform(0, 0.1, (3, 4)),),
     ["clamp"])
case("clip", lambda x: gk.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
     lambda rng: (rng.choice([-1.2, -0.2, 0.25, 0.9], (3, 4)) + rng.uniform(0, 0.1, (3, 4)),),
     ["clip"])
case("clip_min_only", lambda x: x.clip(min=0.1), lambda x: np.maximum(x, 0.1),
     away_from_zero(3, 4, lo=0.3))
case("clip_max_only", lambda x: gk.clip(x, max=0.1), lambda x: np.minimum(x, 0.1),
     away_from_zero(3, 4, lo=0.3))
_MASKF: np.ndarray = np.array([[True, False, True], [False, False, True]])
_COND = np.array([[True, False, True, True], [False, False, True, False],
                  [True, True, False, False]])
case("where", lambda a, b: gk.where(const(a, _COND), a, b), lambda a, b: np.where(_COND, a, b),
     several(normal(3, 4), normal(3, 4)), ["where"])
case("where_broadcast", lambda a, b: gk.where(const(a, _COND[:, :1]), a, b),
     lambda a, b: np.where(_COND[:, :1], a, b), several(normal(4), normal(3, 1)))
case("where_scalar", lambda a: gk.where(a > 0, a, 0.0), lambda a: np.where(a > 0, a, 0.0),
     away_from_zero(3, 4), covers=["compare"])

# ---- reductions -----------------------------------------------------------------------------
family("reduce")
_gk: Callable[..., Any]  # (the loops below bind ops of several signatures)
_np: Callable[..., Any]
for _name, _gk, _np in (("sum", gk.sum, np.sum), ("mean", gk.mean, np.mean)):
    case(_name, lambda x, f=_gk: f(x), _np, normal(2, 3, 4), [_name])
    case(f"{_name}_axis0", lambda x, f=_gk: f(x, axis=0), lambda x, f=_np: f(x, axis=0),
         normal(2, 3, 4))
    case(f"{_name}_axis_neg", lambda x, f=_gk: f(x, axis=-1), lambda x, f=_np: f(x, axis=-1),
         normal(2, 3, 4))
    case(f"{_name}_axes_keepdims", lambda x, f=_gk: f(x, axis=(0, 2), keepdims=True),
         lambda x, f=_np: f(x, axis=(0, 2), keepdims=True), normal(2, 3, 4))
    case(f"{_name}_method", lambda x, n=_name: getattr(x, n)(axis=1, keepdims=True),
         lambda x, f=_np: f(x, axis=1, keepdims=True), normal(2, 3, 4))
    case(f"{_name}_0d", lambda x, f=_gk: f(x), _np, normal())
for _name, _gk, _np in (("max", gk.max, np.max), ("min", gk.min, np.min)):
    case(_name, lambda x, f=_gk: f(x), _np, distinct(3, 4), [_name])
    case(f"{_name}_axis", lambda x, f=_gk: f(x, axis=1), lambda x, f=_np: f(x, axis=1),
         distinct(3, 4))
    case(f"{_name}_dim_values", lambda x, n=_name: getattr(x, n)(1).values,
         lambda x, f=_np: f(x, axis=1), distinct(3, 4))
    case(f"{_name}_dim_keepdim", lambda x, n=_name: getattr(x, n)(dim=0, keepdim=True)[0],
         lambda x, f=_np: f(x, axis=0, keepdims=True), distinct(3, 4))
    case(f"{_name}_keepdims", lambda x, n=_name: getattr(x, n)(axis=(0, 2), keepdims=True),
         lambda x, f=_np: f(x, axis=(0, 2), keepdims=True), distinct(2, 3, 2))
    case(f"a{_name}", lambda x, n=f"a{_name}": getattr(gk, n)(x, (0, 2), True),
         lambda x, f=_np: f(x, axis=(0, 2), keepdims=True), distinct(2, 3, 2), [f"a{_name}"])
case("max_dim_indices", lambda x: x.max(1).indices, lambda x: np.argmax(x, axis=1),
     distinct(3, 4), differentiable=False)
case("min_dim_indices", lambda x: x.min(dim=0)[1], lambda x: np.argmin(x, axis=0),
     distinct(3, 4), differentiable=False)
case("all_any", lambda x: gk.stack([(x > 0).all(1), gk.any(x > 1, dim=1)]),
     lambda x: np.stack([(x > 0).all(1), (x > 1).any(1)]), normal(3, 4), ["all", "any"],
     differentiable=False)
case("isnan_isfinite_isinf",
     lambda x: gk.stack([gk.isnan(x / x), (1 / x).isfinite(), gk.isinf(x.log())]),
     lambda x: np.stack([np.isnan(x / x), np.isfinite(1 / x), np.isinf(np.log(x))]),
     lambda rng: (np.array([0.0, 1.0, 2.0, 0.5]),), ["isnan", "isfinite", "isinf"],
     differentiable=False, dtypes=("float64",))
case("histc", lambda x: gk.histc(x, bins=4, min=-2, max=2),
     lambda x: np.histogram(x, bins=4, range=(-2, 2))[0].astype(x.dtype), normal(50),
     ["histc"], differentiable=False)
case("comparisons", lambda a, b: gk.stack([gk.eq(a, b), gk.ne(a, b), gk.lt(a, b), gk.le(a, b),
                                            gk.gt(a, b), gk.ge(a, b),
                                            gk.logical_and(a > 0, b > 0),
                                            gk.logical_or(a > 0, b > 0)]),
     lambda a, b: np.stack([a == b, a != b, a < b, a <= b, a > b, a >= b,
                            (a > 0) & (b > 0), (a > 0) | (b > 0)]),
     lambda rng: (np.array([1.0, 2.0, -3.0]), np.array([1.0, -2.0, 3.0])),
     ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"], differentiable=False)
case("histogram", lambda x: gk.histogram(x, 5, range=(-2.0, 2.0), density=True).hist,
     lambda x: np.histogram(x, 5, range=(-2, 2), density=True)[0].astype(x.dtype), normal(40),
     ["histogram"], differentiable=False)
case("max_elementwise", lambda a, b: gk.max(a, b), np.maximum, apart(3, 4))
case("prod", lambda x: gk.prod(x), np.prod, normal(2, 3), ["prod"])
case("prod_dim", lambda x: x.prod(1, keepdim=True), lambda x: np.prod(x, 1, keepdims=True),
     normal(2, 3))
case("prod_one_zero", lambda x: (x * const(x, [[1.0, 0.0, 1.0]])).prod(1),
     lambda x: np.prod(x * [[1.0, 0.0, 1.0]], axis=1), normal(2, 3))
case("prod_two_zeros", lambda x: (x * const(x, [[0.0, 0.0, 1.0]])).prod(1),
     lambda x: np.prod(x * [[0.0, 0.0, 1.0]], axis=1), normal(2, 3),
     check_kw=dict(eps=1e-6, atol=1e-5))
# var/std: Bessel's correction by default, as PyTorch's
case("var", gk.var, lambda x: np.var(x, ddof=1), normal(3, 4), ["var"])
case("var_biased", lambda x: x.var(0, correction=0), lambda x: np.var(x, axis=0), normal(3, 4))
case("var_unbiased_false", lambda x: x.var(unbiased=False), np.var, normal(3, 4))
case("var_keepdims", lambda x: gk.var(x, dim=-1, keepdim=True),
     lambda x: np.var(x, axis=-1, keepdims=True, ddof=1), normal(3, 4))
case("var_axis_alias", lambda x: gk.var(x, axis=-1, keepdims=True),
     lambda x: np.var(x, axis=-1, keepdims=True, ddof=1), normal(3, 4))
case("std", gk.std, lambda x: np.std(x, ddof=1), normal(3, 4), ["std"])
case("std_dim", lambda x: x.std(1), lambda x: np.std(x, axis=1, ddof=1), normal(3, 4))
case("std_biased", lambda x: x.std(1, correction=0), lambda x: np.std(x, axis=1), normal(3, 4))
case("logsumexp", gk.logsumexp, _logsumexp, normal(3, 4), ["logsumexp"])
case("logsumexp_axis", lambda x: gk.logsumexp(x, axis=-1), lambda x: _logsumexp(x, axis=-1),
     normal(3, 4))
case("logsumexp_keepdims_large", lambda x: gk.logsumexp(x * 100.0, axis=0, keepdims=True),
     lambda x: _logsumexp(x * 100.0, axis=0, keepdims=True), distinct(3, 4))

# ---- softmax family ------------------------------------------------------------------------
family("softmax")
case("softmax", gk.softmax, lambda x: _softmax(x, -1), normal(3, 4), ["softmax"])
case("softmax_axis0", lambda x: gk.softmax(x, axis=0), lambda x: _softmax(x, 0), normal(3, 4))
case("log_softmax", gk.log_softmax, lambda x: np.log(_softmax(x, -1)), normal(3, 4),
     ["log_softmax"])
case("log_softmax_axis0", lambda x: gk.log_softmax(x * 30.0, axis=0),
     lambda x: x * 30.0 - _logsumexp(x * 30.0, axis=0, keepdims=True), normal(3, 4))

# ---- losses ---------------------------------------------------------------------------------
family("loss")
case("mse_loss", F.mse_loss, lambda p, t: np.mean((p - t) ** 2),
     several(normal(3, 4), normal(3, 4)), ["mse_loss"])
case("mse_loss_sum", lambda p, t: F.mse_loss(p, t, reduction="sum"),
     lambda p, t: np.sum((p - t) ** 2), several(normal(3, 4), normal(3, 4)))
case("mse_loss_none", lambda p, t: F.mse_loss(p, t, reduction="none"),
     lambda p, t: (p - t) ** 2, several(normal(3, 4), normal(3, 4)))
case("mse_loss_host_target", lambda p: F.mse_loss(p, [[0.5, -1.0, 2.0]] * 3),
     lambda p: np.mean((p - np.array([[0.5, -1.0, 2.0]] * 3, dtype=p.dtype)) ** 2),
     normal(3, 3))
case("binary_cross_entropy", F.binary_cross_entropy,
     lambda p, t: np.mean(-(t * np.log(p) + (1 - t) * np.log1p(-p))),
     several(positive(3, 4, lo=0.1, hi=0.9), positive(3, 4, lo=0.0, hi=1.0)))

# ---- attention: one fused node (its backward is first order only) ---------------------------
def _attention(q, k, v, mask=None, causal=False):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), bool))
    if mask is not None:
        s = s + mask if mask.dtype.kind == "f" else np.where(mask, s, -np.inf)
    return _softmax(s, -1) @ v


family("attention")
_QKV = several(normal(2, 4, 3), normal(2, 4, 3), normal(2, 4, 2))
_CAUSAL = np.tril(np.ones((4, 4), bool))
_BIAS = np.linspace(-1, 1, 16).reshape(4, 4)
case("sdpa", F.scaled_dot_product_attention, _attention, _QKV, double_backward=False)
case("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     lambda q, k, v: _attention(q, k, v, causal=True), _QKV, double_backward=False)
case("sdpa_bool_mask",
     lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=const(q, _CAUSAL.T)),
     lambda q, k, v: _attention(q, k, v, _CAUSAL.T), _QKV, double_backward=False)
case("sdpa_float_mask",
     lambda q, k, v: F.scaled_dot_product_attention(q, k, v, const(q, _BIAS), scale=0.3),
     lambda q, k, v: _softmax(q @ np.swapaxes(k, -1, -2) * 0.3 + _BIAS.astype(q.dtype), -1) @ v,
     _QKV,
     double_backward=False)
case("one_hot", lambda x: F.one_hot((x * 0 + const(x, [2, 0, 3])).long(), 4),
     lambda x: np.eye(4, dtype=np.int64)[[2, 0, 3]], normal(3), differentiable=False)

# ---- shape ------------------------------------------------------------------------------------
family("shape")
case("reshape", lambda x: gk.reshape(x, (2, 6)), lambda x: x.reshape(2, 6), normal(3, 4),
     ["reshape"])
case("reshape_method_infer", lambda x: x.reshape(2, -1, 3), lambda x: x.reshape(2, -1, 3),
     normal(3, 4))
case("reshape_flat", lambda x: x.reshape(-1), lambda x: x.reshape(-1), normal(3, 4))
case("permute_dims", lambda x: gk.permute_dims(x, (2, 0, 1)),
     lambda x: np.transpose(x, (2, 0, 1)), normal(2, 3, 4), ["permute_dims"])
# transpose swaps two dims (PyTorch's); permute reorders all of them
case("transpose_method", lambda x: x.transpose(0, 1), lambda x: np.swapaxes(x, 0, 1),
     normal(3, 3))  # a square matrix: NumPy's meaning would silently return x
case("transpose_fn_neg", lambda x: gk.transpose(x, -2, -1), lambda x: np.swapaxes(x, -2, -1),
     normal(2, 3, 4), ["transpose"])
case("permute", lambda x: x.permute(1, 2, 0), lambda x: np.transpose(x, (1, 2, 0)),
     normal(2, 3, 4), ["permute"])
case("permute_tuple", lambda x: gk.permute(x, (2, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)),
     normal(2, 3, 4))
case("t", lambda x: x.t(), lambda x: x.T, normal(3, 4), ["t"])
case("T", lambda x: x.T, lambda x: x.T, normal(2, 3, 4))
case("matrix_transpose", gk.matrix_transpose, lambda x: np.swapaxes(x, -1, -2),
     normal(2, 3, 4), ["matrix_transpose"])
case("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), normal(3, 4))
case("broadcast_to", lambda x: gk.broadcast_to(x, (2, 3, 4)),
     lambda x: np.broadcast_to(x, (2, 3, 4)), normal(3, 1), ["broadcast_to"])
case("broadcast_to_method", lambda x: x.broadcast_to((3, 4)), lambda x: np.broadcast_to(x, (3, 4)),
     normal(4))
case("sum_to", lambda x: ops.sum_to(x, (3, 1)), lambda x: x.sum(axis=(0, 2))[:, None],
     normal(2, 3, 4), ["sum_to"])
case("expand_dims", lambda x: gk.expand_dims(x, 0), lambda x: x[None], normal(3, 4),
     ["expand_dims"])
case("expand_dims_neg", lambda x: x.expand_dims(-1), lambda x: x[..., None], normal(3, 4))
case("squeeze", gk.squeeze, np.squeeze, normal(3, 1, 4, 1), ["squeeze"])
case("squeeze_axis", lambda x: x.squeeze(1), lambda x: np.squeeze(x, 1), normal(3, 1, 4, 1))
case("squeeze_not_one", lambda x: x.squeeze(0), lambda x: x, normal(3, 1, 4))  # a no-op
case("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x[:, None], normal(3, 4), ["unsqueeze"])
case("view", lambda x: x.view(4, 3), lambda x: x.reshape(4, 3), normal(3, 4))
case("view_tuple", lambda x: x.view((2, -1)), lambda x: x.reshape(2, -1), normal(3, 4))
case("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1), normal(2, 3, 4), ["flatten"])
case("flatten_range", lambda x: gk.flatten(x, 1), lambda x: x.reshape(2, 12), normal(2, 3, 4))
case("expand", lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
     normal(3, 1), ["expand"])
case("repeat", lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)), normal(2, 3), ["repeat"])
case("repeat_new_dim", lambda x: x.repeat(2, 1, 1), lambda x: np.tile(x, (2, 1, 1)),
     normal(2, 3))
case("contiguous", lambda x: x.transpose(0, 1).contiguous(), lambda x: x.T, normal(2, 3),
     ["contiguous"])
case("clone", lambda x: x.clone(), lambda x: x.copy(), normal(2, 3), ["clone"])
case("split", lambda x: gk.cat(x.split(2, dim=1)[::-1], 1),
     lambda x: np.concatenate([x[:, 2:], x[:, :2]], 1), normal(2, 4), ["split"])
case("split_sizes", lambda x: x.split([1, 3])[1], lambda x: x[1:], normal(4, 2))
case("chunk", lambda x: x.chunk(3, dim=0)[2], lambda x: x[4:], normal(5, 2), ["chunk"])
case("unbind", lambda x: gk.stack(x.unbind(1)[::-1], 1), lambda x: x[:, ::-1], normal(2, 3),
     ["unbind"])
case("cat_dim", lambda a, b: gk.cat((a, b), dim=1), lambda a, b: np.concatenate([a, b], 1),
     several(normal(2, 3), normal(2, 2)), ["cat"])
case("concat", lambda a, b, c: gk.concat([a, b, c]), lambda a, b, c: np.concatenate([a, b, c]),
     several(normal(2, 3), normal(1, 3), normal(3, 3)), ["concat"])
case("concat_axis1", lambda a, b: gk.concat((a, b), axis=-1),
     lambda a, b: np.concatenate([a, b], axis=-1), several(normal(2, 3), normal(2, 2)))
case("stack", lambda a, b: gk.stack([a, b]), lambda a, b: np.stack([a, b]),
     several(normal(2, 3), normal(2, 3)), ["stack"])
case("stack_last", lambda a, b, c: gk.stack([a, b, c], axis=-1),
     lambda a, b, c: np.stack([a, b, c], axis=-1),
     several(normal(2, 3), normal(2, 3), normal(2, 3)))

# ---- indexing ---------------------------------------------------------------------------------
family("index")
_DUP = np.array([0, 2, 0, 1, 2, 2])
_MASK = np.array([[True, False, True, False], [False, False, False, True],
                  [True, True, True, False]])
_index: Any  # (indices of several kinds, in the loops below)
for _name, _index in (
    ("int", 1), ("int_neg", -1), ("slice", slice(1, 3)), ("slice_past_end", slice(2, 99)),
    ("slice_before_start", (slice(None), slice(-99, 2))), ("slice_step", slice(None, None, 2)),
    ("int_slice", (1, slice(0, 3))), ("none", (None, 1)), ("ellipsis", (Ellipsis, 2)),
    ("none_ellipsis", (slice(1, 3), None, Ellipsis)),
):
    case(f"getitem_{_name}", lambda x, i=_index: x[i], lambda x, i=_index: x[i], normal(3, 4),
         covers=["getitem"])
case("getitem_int_array_dups", lambda x: x[_DUP], lambda x: x[_DUP], normal(3, 4))
case("getitem_int_tensor_dups", lambda x: x[const(x, _DUP)], lambda x: x[_DUP], normal(3, 4))
case("getitem_list", lambda x: x[[2, 0, 2]], lambda x: x[[2, 0, 2]], normal(3, 4))
case("getitem_paired_arrays", lambda x: x[[0, 2, 0, 0], [1, 3, 1, 1]],
     lambda x: x[[0, 2, 0, 0], [1, 3, 1, 1]], normal(3, 4))
case("getitem_slice_and_array", lambda x: x[:, const(x, [3, 0, 3])],
     lambda x: x[:, [3, 0, 3]], normal(3, 4))
case("getitem_index_2d", lambda x: x[const(x, _DUP.reshape(2, 3))],
     lambda x: x[_DUP.reshape(2, 3)], normal(3, 4))
case("getitem_index_2d_slice_past_end", lambda x: x[const(x, _DUP.reshape(2, 3)), 1:99],
     lambda x: x[_DUP.reshape(2, 3), 1:99], normal(3, 4))  # the slice is on axis 1
case("getitem_partial_slice_array", lambda x: x[1:, [3, 3, 0]], lambda x: x[1:, [3, 3, 0]],
     normal(3, 4))
case("getitem_none_ellipsis_array", lambda x: x[None, ..., const(x, [1, 1])],
     lambda x: x[None, ..., [1, 1]], normal(2, 3, 2))
case("getitem_int_and_array", lambda x: x[1, [0, 0, 2]], lambda x: x[1, [0, 0, 2]],
     normal(3, 4))
case("getitem_mask", lambda x: x[const(x, _MASK)], lambda x: x[_MASK], normal(3, 4))
case("getitem_mask_leading", lambda x: x[const(x, _MASK[:, 0])], lambda x: x[_MASK[:, 0]],
     normal(3, 4))
case("getitem_compare_mask", lambda x: x[x > 0], lambda x: x[x > 0], away_from_zero(3, 4))
_GATHER = np.array([[2, 0, 2, 1], [1, 1, 0, 0]])
case("gather", lambda x: x.gather(1, const(x, _GATHER[:, :3])),
     lambda x: np.take_along_axis(x, _GATHER[:, :3], 1), normal(2, 4), ["gather"])
case("gather_dim0", lambda x: gk.gather(x, 0, const(x, _GATHER[:, :3] % 2)),
     lambda x: np.take_along_axis(x[:, :3], _GATHER[:, :3] % 2, 0), normal(2, 4))
case("sort_values", lambda x: x.sort(dim=1).values, lambda x: np.sort(x, 1), distinct(3, 4),
     ["sort"])
case("sort_descending", lambda x: gk.sort(x, 0, descending=True)[0],
     lambda x: -np.sort(-x, 0), distinct(3, 4))
case("argsort", lambda x: x.argsort(dim=1, descending=True), lambda x: np.argsort(-x, 1),
     distinct(3, 4), ["argsort"], differentiable=False)
case("topk", lambda x: gk.topk(x, 2).values, lambda x: -np.sort(-x, -1)[:, :2], distinct(3, 4),
     ["topk"])
case("topk_smallest_indices", lambda x: x.topk(2, dim=0, largest=False).indices,
     lambda x: np.argsort(x, 0)[:2], distinct(3, 4), differentiable=False)


# ---- in place, recorded in the graph (PyTorch's rebase of a non-leaf tensor) ---------------
family("inplace")
def _set(index: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def fn(x, v):
        y = x * 1.0  # a non-leaf: writing into it is recorded as a SetItem node
        y[index] = v
        return y

    def ref(x, v):
        y = x.copy()
        y[index] = v
        return y
    return fn, ref


for _name, _index, _vshape in (("slice", (slice(1, 3), 0), (2,)), ("row_broadcast", 1, (1,)),
                               ("ellipsis", (Ellipsis, 2), (3,)),
                               ("int_arrays", ([0, 2, 1], [3, 0, 3]), (3,)),
                               ("row_list", [2, 0], (4,))):
    case(f"setitem_{_name}", *_set(_index), several(normal(3, 4), normal(*_vshape)),
         covers=["setitem_"])
case("setitem_mask", lambda x, v: _masked_set(x, v), lambda x, v: np.where(_MASK, v, x),
     several(normal(3, 4), normal(1)))


def _masked_set(x, v):
    y = x + 0.0
    y[const(x, _MASK)] = v  # v has one element: broadcast into every masked place
    return y


def _iadd_imul(x, b, c):
    y = x * 2.0
    y += b  # recorded: Add of the old y and b
    y *= 3.0  # Mul by a constant reads only the constant: the old y need not be kept
    y -= c
    return y


case("inplace_ops_recorded", _iadd_imul, lambda x, b, c: (x * 2 + b) * 3 - c,
     several(normal(3, 4), normal(4), normal(3, 1)))

# ---- dtype, device, comparisons (forward only where there is no gradient) ---------------
family("convert")
# float32 rounding needs a coarse finite-difference step
case("astype_float32", lambda x: x.astype(gk.float32) * 1.0, lambda x: x.astype(np.float32),
     normal(3, 4), dtypes=("float64",), check_kw=dict(eps=1e-2, atol=1e-4))
case("astype_roundtrip", lambda x: x.astype(gk.float32).astype(gk.float64),
     lambda x: x.astype(np.float32).astype(np.float64), normal(3, 4),
     dtypes=("float64",), check_kw=dict(eps=1e-2, atol=1e-4))
case("astype_float64", lambda x: x.astype("float64") * 2.0,
     lambda x: x.astype(np.float64) * 2.0, normal(3, 4))
case("to_device_roundtrip", lambda x: (x.to("cpu") * 2.0).to(x.device),
     lambda x: x * 2.0, normal(3, 4))
case("astype_int", lambda x: x.astype(gk.int64), lambda x: x.astype(np.int64),
     lambda rng: (rng.uniform(-5, 5, (3, 4)),), differentiable=False)
for _op, _f in (("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b),
                ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b),
                ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b)):
    case(f"compare_{_op}", _f, _f,
         lambda rng: (rng.integers(0, 3, (3, 4)) * 1.0, rng.integers(0, 3, (4,)) * 1.0),
         differentiable=False, covers=["compare"])
case("compare_scalar_left", lambda a: 0.5 < a, lambda a: 0.5 < a, normal(3, 4),
     differentiable=False)
case("logical_ops", lambda a, b: ~((a > 0) & (b > 0)) | (a > b),
     lambda a, b: ~((a > 0) & (b > 0)) | (a > b), several(normal(3, 4), normal(3, 4)),
     differentiable=False, covers=["logical_not"])
case("argmax", lambda x: gk.argmax(x, axis=1), lambda x: np.argmax(x, axis=1), distinct(3, 4),
     differentiable=False, covers=["argmax"])
case("argmin", lambda x: x.argmin(), lambda x: np.argmin(x), distinct(3, 4),
     differentiable=False, covers=["argmin"])

# Public functions of gradkit/ops.py that no case above needs to exercise, and why.
NOT_COVERED = {
    "setitem_": "in-place assignment; its SetItem node has a case, the rest is tested in "
                "test_inplace.py",
    "promoted": "type promotion of two operands; tested in test_promotion.py",
    "binary": "applies an elementwise op after promotion: every operator case uses it",
    "allclose": "returns a Python bool; tested in test_torch_api.py",
    "equal": "returns a Python bool; tested in test_torch_api.py",
}

BY_NAME = {c.name: c for c in CASES}
if len(BY_NAME) != len(CASES):
    raise RuntimeError("op_registry: duplicate case names")

# A representative subset, a few cases per family: what `python -m gradkit.selfcheck
# --quick` runs. It favours what a device backend does natively or differently
# (scatter-add, erf, masks, sorting, matmul batching, transfers).
QUICK = (
    "add_broadcast", "div", "pow_tensor", "mul_scalar_left",
    "matmul_batch_broadcast", "linear",
    "tanh", "erf", "relu", "sigmoid_large", "where", "clamp", "masked_fill_neg_inf_softmax",
    "sum_axes_keepdims", "max_dim_values", "var", "logsumexp_keepdims_large", "prod_one_zero",
    "histc",
    "log_softmax_axis0",
    "mse_loss", "binary_cross_entropy",
    "sdpa_causal",
    "permute", "cat_dim", "expand", "split",
    "getitem_int_tensor_dups", "getitem_mask", "gather", "topk", "argsort",
    "setitem_int_arrays", "inplace_ops_recorded",
    "to_device_roundtrip", "astype_float32", "compare_lt", "argmax",
)


# ---- running a case ---------------------------------------------------------------------------
# Forward tolerances per dtype: the reference is NumPy on the host, the result may come
# from another library on another device (a GPU's own math functions and reduction order).
TOLERANCES: dict[str, dict[str, Any]] = {"float32": dict(rtol=2e-5, atol=2e-6),
                                         "float64": dict(rtol=1e-9, atol=1e-12)}


def host_inputs(case: OpCase, dtype: str = "float64") -> list[np.ndarray]:
    """Return the case's inputs as host NumPy arrays, the same on every run and machine.

    The generator is seeded by the case's name.

    Parameters
    ----------
    case : OpCase
    dtype : str, default "float64"
        The arrays' dtype.

    Returns
    -------
    list of numpy.ndarray

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> [a.shape for a in reg.host_inputs(reg.BY_NAME["tanh"], "float32")]
    [(3, 4)]
    """
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    return [np.asarray(a, dtype=dtype) for a in case.inputs(rng)]


def device_inputs(case: OpCase, device: DeviceLike, dtype: str = "float64",
                  requires_grad: bool | None = None) -> list[gk.Tensor]:
    """Return :func:`host_inputs` as tensors on ``device``.

    Parameters
    ----------
    case : OpCase
    device : str
        The device.
    dtype : str, default "float64"
        The tensors' dtype.
    requires_grad : bool, optional
        Default: whether the case is differentiable.

    Returns
    -------
    list of Tensor

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> x, = reg.device_inputs(reg.BY_NAME["tanh"], "cpu")
    >>> x.shape, x.dtype, x.requires_grad
    ((3, 4), gradkit.float64, True)
    """
    if requires_grad is None:
        requires_grad = case.differentiable
    return [gk.tensor(a, device=device, requires_grad=requires_grad)
            for a in host_inputs(case, dtype)]


def _fail(case, what):
    raise AssertionError(f"{case.name}: {what}")


def check_forward(case: OpCase, device: DeviceLike) -> None:
    """Check the case's forward against its NumPy reference on ``device``, in every dtype.

    Shape, dtype, values within ``TOLERANCES`` and the result's device are checked; for a
    differentiable case also one backward, whose gradients must keep each input's shape,
    dtype and device. A non-differentiable case must give a result that does not require
    grad.

    Parameters
    ----------
    case : OpCase
    device : str
        The device.

    Raises
    ------
    AssertionError
        Naming the case and what is wrong.

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> reg.check_forward(reg.BY_NAME["tanh"], "cpu")  # None: the op is right
    """
    device = gk.get_backend(device).device  # canonical: "cuda" -> "cuda:0"
    for dtype in case.dtypes:
        arrays = host_inputs(case, dtype)
        xs = [gk.tensor(a, device=device, requires_grad=case.differentiable) for a in arrays]
        out = case.fn(*xs)
        expected = np.asarray(case.ref(*arrays))
        where = f"[{dtype}]"
        if out.device != device:
            _fail(case, f"{where} the result is on {out.device}, not {device}")
        if out.shape != expected.shape:
            _fail(case, f"{where} shape {out.shape}, NumPy gives {expected.shape}")
        if out.dtype != expected.dtype:
            _fail(case, f"{where} dtype {out.dtype}, NumPy gives {expected.dtype}")
        tol = TOLERANCES.get(dtype, dict(rtol=0, atol=0))
        np.testing.assert_allclose(out.numpy(), expected, err_msg=f"{case.name} {where}", **tol)
        if not case.differentiable:
            if out.requires_grad:
                _fail(case, f"{where} the result requires grad, but the op has no gradient")
            continue
        grads = gk.grad(out, xs, grad_outputs=gk.ones_like(out))
        for i, (x, g) in enumerate(zip(xs, grads)):
            assert g is not None  # (gk.grad raises for an unused input)
            if (g.shape, g.dtype, g.device) != (x.shape, x.dtype, x.device):
                _fail(case, f"{where} the gradient of input {i} has shape {g.shape}, dtype "
                            f"{g.dtype}, device {g.device}; the input {x.shape}, {x.dtype}, "
                            f"{x.device}")


def check_gradcheck(case: OpCase, device: DeviceLike, mode: str = "auto") -> None:
    """Check the case's first derivatives in float64 against central finite differences.

    Parameters
    ----------
    case : OpCase
    device : str
        The device.
    mode : {"auto", "full", "fast"}, default "auto"
        Passed to ``gk.gradcheck``.

    Raises
    ------
    AssertionError
        (gradcheck's GradcheckError is one) naming the case.

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> reg.check_gradcheck(reg.BY_NAME["tanh"], "cpu")
    """
    xs = device_inputs(case, device, requires_grad=True)
    if not gk.gradcheck(case.fn, xs, mode=mode, **case.check_kw):
        _fail(case, "gradcheck returned False")


def check_gradgradcheck(case: OpCase, device: DeviceLike) -> None:
    """Check the case's second derivatives in float64 against finite differences.

    For a case with ``double_backward=False``, check instead that asking for them
    (``create_graph=True``) raises GradkitError saying so.

    Parameters
    ----------
    case : OpCase
    device : str
        The device.

    Raises
    ------
    AssertionError
        Naming the case.

    Examples
    --------
    >>> from gradkit.testing import op_registry as reg
    >>> reg.check_gradgradcheck(reg.BY_NAME["tanh"], "cpu")
    """
    xs = device_inputs(case, device, requires_grad=True)
    if case.double_backward:
        with warnings.catch_warnings():  # astype_float32: its cotangents are float32
            warnings.filterwarnings("ignore", message=".*is not float64")
            if not gk.gradgradcheck(case.fn, xs, **case.check_kw):
                _fail(case, "gradgradcheck returned False")
        return
    out = case.fn(*xs)
    try:
        gk.grad(out, xs, grad_outputs=gk.ones_like(out), create_graph=True)
    except gk.GradkitError as e:
        if "double backward" not in str(e):
            _fail(case, f"create_graph=True raised GradkitError without saying why: {e}")
        return
    _fail(case, "double_backward=False, but create_graph=True did not raise GradkitError")
