"""Compile-check gradkit's fused kernels exactly as CuPy compiles them, without a GPU.

For each cupy.ElementwiseKernel that backends/cupy_backend.py launches, this test takes
CuPy's own steps from a kernel call to NVRTC (CuPy 13.6 and 14.2: cupy/_core/_kernel.pyx
`ElementwiseKernel.__call__`, cupy/_core/core.pyx `compile_with_cache`, cupy/cuda/
compiler.py `_compile_with_cache_cuda` and `_compile_using_nvrtc_no_warning`):

- the parameter types, with CuPy's `ElementwiseKernel._decide_params_type` (arrays fix
  the placeholder T, scalars take their parameter's type);
- the argument descriptions (`_ArgInfo`) that `__call__` makes after `_reduce_dims`:
  for arrays CArray<type, ndim, c_contiguous, index_32_bits>, for scalars their type;
  an argument layout here is one such description per array;
- the source, from CuPy's generator `_get_elementwise_kernel_code` (the kernel's body in
  CuPy's loop, inputs bound as `const T &`), after CuPy's headers (`_cupy_header_list`);
- the options, from `assemble_cupy_compiler_options` plus what the compile path adds
  (-ftz=true, the wheel include dirs on CuPy 13, -arch=sm_XX for a cubin,
  --device-as-default-execution-space), given an explicit arch: the public
  compile_using_nvrtc asks the (absent) device for it. Only --pch (a compile-time cache)
  is left out;
- NVRTC, through CuPy's `_NVRTCProgram`, from the nvidia-cuda-nvrtc-cu12 wheel with the
  CUDA headers of nvidia-cuda-runtime-cu12 (`pip install -e ".[kernels]"`).

This relies on CuPy internals, checked against CuPy 13.6 and 14.2 (other major versions
skip). Everything skips, with the reason, where real CuPy, NVRTC or the CUDA headers
cannot be loaded, or where `cupy` is gradkit's CuPy simulator (tests/cupy_sim).
The numbers the kernels give are checked in tests/test_optim.py (on a GPU, or on the
simulator) and tests/test_cupy_sim_kernel.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gradkit.backends import kernels

ARCHS = ["80", "90"]
DTYPES = ["float16", "float32", "float64"]
CHECKED_CUPY = (13, 14)  # major versions whose internals this file was checked against

# Per-array layouts, as CuPy describes arrays after _reduce_dims: (ndim, c_contiguous,
# index_32_bits). `first` applies to the first array argument (grad), `rest` to the others.
LAYOUTS = {
    "contiguous": dict(first=(1, True, True), rest=(1, True, True)),
    "strided": dict(first=(1, False, True), rest=(1, False, True)),  # x[::2]
    "strided_2d": dict(first=(2, False, True), rest=(2, False, True)),  # x.T
    "mixed": dict(first=(2, False, True), rest=(2, True, True)),  # one transposed input
    "index_64": dict(first=(1, True, False), rest=(1, True, False)),  # >= 2**31 elements
}

# CuPy's cdef enum _ArgKind (cupy/_core/_kernel.pxd, 13.6 and 14.2); not visible from Python.
ARG_KIND_NDARRAY, ARG_KIND_INDEXER, ARG_KIND_SCALAR = 1, 2, 3


def _preload_wheel_nvrtc():
    """Load libnvrtc.so.12 of the nvidia-cuda-nvrtc-cu12 wheel, if installed, so that a
    later dlopen by soname finds it (CuPy 14 looks in the wheels itself)."""
    import ctypes
    import importlib.util
    import os

    spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    if spec is not None and spec.submodule_search_locations:
        lib = os.path.join(list(spec.submodule_search_locations)[0], "lib", "libnvrtc.so.12")
        if os.path.exists(lib):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)


def _load_cupy():
    """(cupy, reason): real CuPy with a working NVRTC and CUDA headers, or why not."""
    sim = sys.modules.get("cupy")
    if sim is not None and getattr(sim, "__gradkit_simulator__", False):
        return None, ("`cupy` is gradkit's CuPy simulator (tests/cupy_sim) in this session: "
                      "real CuPy's generator and NVRTC are not loaded")
    try:
        import cupy
        from cupy._core import _kernel, core  # noqa: F401
        from cupy.cuda import compiler  # noqa: F401
    except Exception as e:  # CUDA library load errors are not ImportErrors
        return None, (f"CuPy cannot be imported ({type(e).__name__}: {e}); "
                      "pip install -e '.[kernels]'")
    major = int(cupy.__version__.split(".")[0])
    if major not in CHECKED_CUPY:
        return None, (f"CuPy {cupy.__version__}: the internals used here were checked for "
                      "CuPy 13.6 and 14.2 only")
    try:
        if major == 13:
            _preload_wheel_nvrtc()  # CuPy 13 finds NVRTC on the library path only
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as e:
        return None, (f"NVRTC cannot be loaded ({type(e).__name__}: {e}); "
                      "pip install nvidia-cuda-nvrtc-cu12")
    try:
        core.assemble_cupy_compiler_options(())
    except Exception as e:
        return None, (f"CuPy finds no CUDA headers ({e}); pip install nvidia-cuda-runtime-cu12")
    return cupy, None


@pytest.fixture(scope="module")
def cupy():
    cupy, reason = _load_cupy()
    if cupy is None:
        pytest.skip(reason)
    return cupy


def backend_kernels():
    """The ElementwiseKernels that CupyBackend launches, by name."""
    from gradkit.backends import cupy_backend

    return {k.name: k for k in vars(cupy_backend).values()
            if type(k).__name__ == "ElementwiseKernel"}


def generated_source(cupy, kernel, dtype: str, layout: str) -> str:
    """The CUDA source CuPy generates for a call of `kernel` whose arrays (the parameters
    typed by the placeholder) have `dtype` and `layout`, and whose other arguments are
    scalars; with the headers compile_with_cache prepends."""
    from cupy._core import _carray, _kernel, _scalar, core

    dt = np.dtype(dtype)
    is_array = [p.dtype is None for p in kernel.in_params + kernel.out_params]
    nin = len(kernel.in_params)
    in_types, out_types, type_map = kernel._decide_params_type(
        tuple(dt if a else None for a in is_array[:nin]), tuple(dt for _ in kernel.out_params))
    infos, first = [], True
    for t, a in zip(in_types + out_types, is_array):
        if a:
            ndim, contiguous, index_32 = LAYOUTS[layout]["first" if first else "rest"]
            infos.append(_kernel._ArgInfo(ARG_KIND_NDARRAY, cupy.ndarray, np.dtype(t), ndim,
                                          contiguous, index_32))
            first = False
        else:
            infos.append(_kernel._ArgInfo(ARG_KIND_SCALAR, _scalar.CScalar, np.dtype(t), 0,
                                          True, True))
    ndim, _, index_32 = LAYOUTS[layout]["rest"]
    infos.append(_kernel._ArgInfo(ARG_KIND_INDEXER, _carray.Indexer, None, ndim, True,
                                  index_32))
    code = _kernel._get_elementwise_kernel_code(
        tuple(infos), type_map, kernel.params, kernel.operation, kernel.name, kernel.preamble,
        **kernel.kwargs)
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


def nvrtc_compile(kernel, source: str, arch: str) -> bytes:
    """Compile as CuPy's NVRTC path does for a device of compute capability `arch`."""
    from cupy._core import core
    from cupy.cuda import compiler

    options = core.assemble_cupy_compiler_options(tuple(kernel.kwargs.get("options", ())))
    options += ("-ftz=true",)
    if hasattr(compiler, "_get_extra_include_dir_opts"):  # CuPy 13: headers from wheels
        options += compiler._get_extra_include_dir_opts()
    options += (f"-arch=sm_{arch}", "--device-as-default-execution-space")
    program = compiler._NVRTCProgram(source, "kern.cu", method="cubin")
    cubin, _ = program.compile(options)
    return cubin


def test_every_kernel_is_launched_by_the_backend(cupy):
    assert sorted(backend_kernels()) == sorted(kernels.KERNELS)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(kernels.KERNELS))
def test_kernel_compiles(cupy, name, dtype, layout, arch):
    kernel = backend_kernels()[name]
    source = generated_source(cupy, kernel, dtype, layout)
    # the layout reached CuPy's generator as intended
    ctype = {"float16": "float16", "float32": "float", "float64": "double"}[dtype]
    ndim, contiguous, index_32 = LAYOUTS[layout]["first"]
    assert f"CArray<{ctype}, {ndim}, {int(contiguous)}, {int(index_32)}>" in source
    assert f"typedef {ctype} T;" in source
    try:
        cubin = nvrtc_compile(kernel, source, arch)
    except Exception as e:
        pytest.fail(f"{name} ({dtype}, {layout}, sm_{arch}) does not compile:\n{e}\n{source}")
    assert cubin[:4] == b"\x7fELF"


def test_scalars_are_not_cast_to_the_element_type(cupy):
    """Defect 7: CuPy casts a scalar to its parameter's type on the host; the optimizer
    kernels' scalars are double, whatever T is."""
    for name in kernels.KERNELS:
        source = generated_source(cupy, backend_kernels()[name], "float16", "contiguous")
        assert "const double lr" in source and "const float16 lr" not in source


@pytest.mark.parametrize("arch", ARCHS)
def test_a_bad_kernel_fails(cupy, arch):
    """Negative control: CuPy binds inputs as `const T &`, so assigning to one must fail
    to compile (the former hand-written nvcc harness accepted it), as must a typo."""
    from cupy.cuda.compiler import CompileException

    for body, message in [("x = y; y = 2 * x;", "modifiable lvalue"),
                          ("y = sqrtt(x);", "identifier \"sqrtt\" is undefined")]:
        bad = cupy.ElementwiseKernel("T x", "T y", body, "gradkit_bad")
        source = generated_source(cupy, bad, "float32", "contiguous")
        with pytest.raises(CompileException, match=message):
            nvrtc_compile(bad, source, arch)
