"""CUDA source of gradkit's fused kernels, kept apart from cupy_backend.py so that it can be
compile-checked (tests/test_kernels.py, with nvcc) on machines without CuPy or a GPU.

Each kernel is the (in_params, out_params, operation) of a cupy.ElementwiseKernel; its
generic version, which the tests compare it with on a GPU, is the optimizer's own rule
(gradkit.optim.adam_update).
"""

# Adam / AdamW, one pass: coupled weight decay (wd) adds to the gradient, decoupled
# decay multiplies the parameter by `decay` first; lr_t = lr / (1 - beta1**step) and
# bias2_sqrt = sqrt(1 - beta2**step), as gradkit.optim.adam_update.
ADAM = (
    "T grad, T lr_t, T beta1, T beta2, T eps, T bias2_sqrt, T wd, T decay",
    "T param, T m, T v",
    """
    T g = grad + wd * param;
    param = param * decay;
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    param = param - lr_t * m / (sqrt(v) / bias2_sqrt + eps);
    """,
)
