"""gradkit's differentiable ops, one module per family, each primitive a Function with its
forward and backward side by side (see autograd.py for the protocol):

    elementwise  arithmetic, exp/log/tanh/..., maximum/minimum, clip, where, comparisons
    reduce       sum, mean, max/min, var/std, logsumexp, argmax/argmin
    shape        reshape/view, permute/transpose, broadcast, squeeze/unsqueeze, cat/stack
    index        x[index] and x[index] = v
    linalg       matmul
    softmax      softmax, log_softmax
    fused        Linear and MSELoss: the layers every step repeats, one node each
    convert      dtype and device conversion
"""

from gradkit.autograd import Function

from . import _common, convert, elementwise, fused, index, linalg, reduce, shape, softmax

_FAMILIES = (elementwise, reduce, shape, index, linalg, softmax, fused, convert)

# Every Function class and public function of the families, as gradkit.ops.<name>.
for _family in (_common, *_FAMILIES):
    globals().update({name: value for name, value in vars(_family).items()
                      if getattr(value, "__module__", None) == _family.__name__
                      and (not name.startswith("_") or name == "_operand")})
del _family
