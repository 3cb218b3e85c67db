"""read_idx: sizes computed exactly, so a hostile IDX header cannot pass the size check by
overflowing int64, and an impossible one is a ValueError naming the file."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gradkit import datasets


def _idx(dims, data=b"", code=0x08):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


@pytest.mark.parametrize("dims, data, message", [
    ((2 ** 16,) * 4, b"", "truncated"),  # 2**64 elements: int64 wraps to 0 == the data
    ((2 ** 16,) * 4 + (2,), b"", "truncated"),  # 2**65 wraps to 0 as well
    ((2 ** 32 - 1,) * 3, b"\0" * 7, "truncated"),  # wraps to a negative number
    ((1,) * 65, b"\0", "65 dimensions"),  # the size matches; no array has 65 dims
])
def test_hostile_idx_sizes_raise_value_error_naming_the_file(tmp_path, dims, data, message):
    path = tmp_path / "hostile-idx-ubyte"
    path.write_bytes(_idx(dims, data))
    with pytest.raises(ValueError, match=message) as info:
        datasets.read_idx(path)
    assert type(info.value) is ValueError and str(path) in str(info.value)


def test_the_expected_size_is_exact(tmp_path):
    path = tmp_path / "big-idx"
    path.write_bytes(_idx((2 ** 16,) * 4, code=0x0E))  # float64: 2**67 bytes
    with pytest.raises(ValueError, match=f"needs {2 ** 67} bytes of data, found 0"):
        datasets.read_idx(path)
    path.write_bytes(_idx((1,) * 64, b"\x07"))  # 64 dims is fine
    assert datasets.read_idx(path).shape == (1,) * 64
    path.write_bytes(_idx((0, 2 ** 32 - 1)))  # empty, whatever the other dim
    assert datasets.read_idx(path).shape == (0, 2 ** 32 - 1)
    assert datasets.read_idx(path).dtype == np.uint8
