"""The Tensor methods that the op table makes, spelled out for type checkers.

gradkit/ops/__init__.py attaches every op of the table (METHODS in ops/_common.py) to
Tensor at import, which a type checker cannot follow. Tensor derives from this class
only for type checkers (tensor.py); at run time nothing imports this module except
tests/test_typing.py, which checks that it names every method of the table, each as the
function the table attaches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ops import elementwise, index, linalg, reduce, shape
from .ops.softmax import log_softmax as _log_softmax  # (gradkit.ops.softmax is the function)
from .ops.softmax import softmax as _softmax


class TensorMethods:
    __slots__ = ()

    abs = elementwise.abs
    absolute = elementwise.abs
    add = elementwise.add
    allclose = elementwise.allclose
    clamp = elementwise.clamp
    clip = elementwise.clamp
    clone = elementwise.clone
    cos = elementwise.cos
    div = elementwise.div
    divide = elementwise.div
    equal = elementwise.equal
    erf = elementwise.erf
    exp = elementwise.exp
    floor_divide = elementwise.floor_divide
    isfinite = elementwise.isfinite
    isinf = elementwise.isinf
    isnan = elementwise.isnan
    log = elementwise.log
    log10 = elementwise.log10
    log1p = elementwise.log1p
    log2 = elementwise.log2
    logical_not = elementwise.logical_not
    masked_fill = elementwise.masked_fill
    maximum = elementwise.maximum
    minimum = elementwise.minimum
    mul = elementwise.mul
    multiply = elementwise.mul
    neg = elementwise.neg
    negative = elementwise.neg
    pow = elementwise.pow
    relu = elementwise.relu
    remainder = elementwise.remainder
    rsqrt = elementwise.rsqrt
    sigmoid = elementwise.sigmoid
    sin = elementwise.sin
    sqrt = elementwise.sqrt
    square = elementwise.square
    sub = elementwise.sub
    subtract = elementwise.sub
    tan = elementwise.tan
    tanh = elementwise.tanh
    tril = elementwise.tril
    triu = elementwise.triu
    true_divide = elementwise.div
    argsort = index.argsort
    gather = index.gather
    sort = index.sort
    topk = index.topk
    bmm = linalg.matmul
    matmul = linalg.matmul
    mm = linalg.matmul
    all = reduce.all
    amax = reduce.amax
    amin = reduce.amin
    any = reduce.any
    argmax = reduce.argmax
    argmin = reduce.argmin
    histc = reduce.histc
    histogram = reduce.histogram
    logsumexp = reduce.logsumexp
    max = reduce.max
    mean = reduce.mean
    min = reduce.min
    prod = reduce.prod
    std = reduce.std
    sum = reduce.sum
    var = reduce.var
    broadcast_to = shape.broadcast_to
    chunk = shape.chunk
    contiguous = shape.contiguous
    expand = shape.expand
    expand_dims = shape.unsqueeze
    flatten = shape.flatten
    permute = shape.permute
    repeat = shape.repeat
    reshape = shape._reshape_method
    split = shape.split
    squeeze = shape.squeeze
    swapaxes = shape.transpose
    swapdims = shape.transpose
    t = shape.t
    transpose = shape.transpose
    unbind = shape.unbind
    unsqueeze = shape.unsqueeze
    view = shape._view_method
    log_softmax = _log_softmax
    softmax = _softmax

    if TYPE_CHECKING:  # (made by a loop in ops/elementwise.py, declared there for type checkers)
        eq = elementwise.eq
        ge = elementwise.ge
        gt = elementwise.gt
        le = elementwise.le
        logical_and = elementwise.logical_and
        logical_or = elementwise.logical_or
        lt = elementwise.lt
        ne = elementwise.ne
