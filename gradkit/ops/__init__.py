"""gradkit's differentiable ops, one module per family, each primitive a Function with its
forward and backward side by side (see autograd.py for the protocol):

    elementwise  arithmetic, exp/log/tanh/sin/..., maximum/minimum, clamp, where,
                 masked_fill, tril/triu, comparisons
    reduce       sum, mean, prod, max/min, amax/amin, var/std, logsumexp, argmax/argmin,
                 all/any, histc/histogram
    shape        reshape/view, permute/transpose, expand/repeat, squeeze/unsqueeze,
                 flatten, cat/stack, split/chunk/unbind
    index        x[index], x[index] = v, gather, sort/argsort/topk
    linalg       matmul
    softmax      softmax, log_softmax
    fused        Linear, MSELoss, scaled dot-product attention: one node each
    convert      dtype and device conversion

Each public op registers once in the table of _common.py (`@public`), which makes it
gk.<name> and Tensor.<name>.
"""

from typing import TYPE_CHECKING

from gradkit.autograd import Function

from . import convert, elementwise, fused, index, linalg, reduce, shape
from . import softmax as _softmax  # (gradkit.ops.softmax is the function, below)
from ._common import FUNCTIONS, METHODS, OPERATORS, _operand, binary, promoted

_FAMILIES = (elementwise, reduce, shape, index, linalg, _softmax, fused, convert)

# Every Function class and public function of the families, as gradkit.ops.<name>, and
# every name of the table (aliases included).
for _family in _FAMILIES:
    globals().update({name: value for name, value in vars(_family).items()
                      if getattr(value, "__module__", None) == _family.__name__
                      and not name.startswith("_")})
del _family
globals().update(FUNCTIONS)

if TYPE_CHECKING:  # what the loop and the table above put here, spelled out for type
    # checkers (tests/test_typing.py checks that every name of the table is here)
    from .convert import *  # noqa: F403
    from .elementwise import *  # noqa: F403
    from .elementwise import abs as absolute  # noqa: F811
    from .elementwise import clamp as clip
    from .elementwise import div as divide
    from .elementwise import div as true_divide
    from .elementwise import mul as multiply
    from .elementwise import neg as negative
    from .elementwise import sub as subtract
    from .fused import *  # noqa: F403
    from .index import *  # noqa: F403
    from .linalg import *  # noqa: F403
    from .linalg import matmul as bmm
    from .linalg import matmul as mm
    from .reduce import *  # noqa: F403
    from .shape import *  # noqa: F403
    from .softmax import *  # noqa: F403

# The one table: every public op is gk.<name> (gradkit/__init__.py) and Tensor.<name>.
from gradkit.tensor import Tensor  # noqa: E402

for _name, _method in (METHODS | OPERATORS).items():
    setattr(Tensor, _name, _method)
del _name, _method
