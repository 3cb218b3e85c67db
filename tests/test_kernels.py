"""Compile-check the CUDA source of gradkit's fused kernels with nvcc, without a GPU.

CuPy builds an ElementwiseKernel by substituting the element type T and wrapping the
operation in a loop over elements; this test does the same for float and double and
compiles the result to PTX for sm_80 and sm_90, so a typo in kernel source fails here
rather than at a user's first optimizer step on a GPU. Skipped when nvcc is not on PATH.
On a GPU, tests/test_backends.py also compares each kernel's results with its generic
version in backends/base.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from gradkit.backends import kernels

NVCC = shutil.which("nvcc")


def cuda_source(params_in: str, params_out: str, body: str, ctype: str) -> str:
    """A __global__ function equivalent to the ElementwiseKernel, with T = ctype."""
    args, per_element = [], []
    for decl in (params_in + ", " + params_out).split(","):
        _, name = decl.split()
        args.append(f"{ctype}* {name}_ptr")
        per_element.append(f"{ctype}& {name} = {name}_ptr[i];")
    return (f"typedef {ctype} T;\n"
            f"extern \"C\" __global__ void kernel({', '.join(args)}, long long n) {{\n"
            "  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n"
            "  if (i >= n) return;\n  " + "\n  ".join(per_element) + "\n" + body + "\n}\n")


KERNELS = {name: value for name, value in vars(kernels).items()
           if re.fullmatch(r"[A-Z_]+", name) and isinstance(value, tuple)}


def test_kernels_are_listed():
    assert "ADAM" in KERNELS


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed: CUDA source not compiled")
@pytest.mark.parametrize("ctype", ["float", "double"])
@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernel_compiles(name, ctype, arch, tmp_path):
    src = tmp_path / f"{name.lower()}.cu"
    src.write_text(cuda_source(*KERNELS[name], ctype))
    proc = subprocess.run([NVCC, f"-arch={arch}", "--ptx", str(src), "-o",
                           str(tmp_path / "out.ptx")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"{name} ({ctype}, {arch}) does not compile:\n{proc.stderr}"
    assert ".entry kernel" in (tmp_path / "out.ptx").read_text()
