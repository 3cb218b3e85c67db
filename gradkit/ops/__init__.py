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

from . import convert, elementwise, fused, index, linalg, reduce, shape, softmax
from ._common import FUNCTIONS, METHODS, _operand, binary, promoted

_FAMILIES = (elementwise, reduce, shape, index, linalg, softmax, fused, convert)

# Every Function class and public function of the families, as gradkit.ops.<name>, and
# every name of the table (aliases included).
for _family in _FAMILIES:
    globals().update({name: value for name, value in vars(_family).items()
                      if getattr(value, "__module__", None) == _family.__name__
                      and not name.startswith("_")})
del _family
globals().update(FUNCTIONS)

# The one table: every public op is gk.<name> (gradkit/__init__.py) and Tensor.<name>.
from gradkit.tensor import Tensor  # noqa: E402

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)
del _name, _method
