"""gradkit's dtypes: library-neutral names that each Backend maps to its own dtype objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from ._typing import DTypeLike


class DType:
    """An element type by its standard name (torch.dtype): ``gk.float32``, ``gk.int64``, ...

    One object per dtype: use the module's constants (gk.bool, gk.int8, gk.int16,
    gk.int32, gk.int64, gk.uint8, gk.float32, gk.float64, and the PyTorch aliases
    gk.float, gk.double, gk.long, gk.int) or :func:`dtype`, not the constructor. Each
    Backend maps it to its own library's dtype object.

    Parameters
    ----------
    name : str
        The standard name ("float32", ...).
    kind : str
        "b" bool, "i" signed int, "u" unsigned int, "f" float (NumPy's kinds).
    itemsize : int
        Bytes per element.

    Attributes
    ----------
    name : str
        The standard name.
    kind : str
        "b", "i", "u" or "f".
    itemsize : int
        Bytes per element.

    Notes
    -----
    Differences from :class:`torch.dtype`: compares equal to its name and to the
    NumPy dtype of that name.

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> gk.float32
    gradkit.float32
    >>> gk.float32 == "float32", gk.float32 == np.float32
    (True, True)
    >>> gk.float is gk.float32
    True
    """

    # (a dict of the attributes' docstrings: autodoc and tests/test_doctests.py read them)
    __slots__ = {
        "name": """The standard name: "float32", "int64", "bool", ... (NumPy's dtype name).

        Notes
        -----
        PyTorch's :class:`torch.dtype` has no such attribute (``str(torch.float32)`` is
        ``"torch.float32"``); here ``str(gk.float32)`` is the name.

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.float32.name, gk.long.name, gk.bool.name
        ('float32', 'int64', 'bool')
        """,
        "kind": """The category, a NumPy dtype's ``kind``: "b", "i", "u" or "f".

        "b" bool, "i" signed integer, "u" unsigned integer, "f" floating point.

        Notes
        -----
        PyTorch's :class:`torch.dtype` has no ``kind``; its ``is_floating_point`` and
        ``is_signed`` tell the same apart (:attr:`DType.is_floating_point` here).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.float64.kind, gk.int32.kind, gk.uint8.kind, gk.bool.kind
        ('f', 'i', 'u', 'b')
        """,
        "itemsize": """Bytes per element (torch.dtype.itemsize, numpy.dtype.itemsize).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.float32.itemsize, gk.float64.itemsize, gk.bool.itemsize
        (4, 8, 1)
        """,
    }

    def __init__(self, name: str, kind: str, itemsize: int) -> None:
        self.name = name
        self.kind = kind  # "b" bool, "i" signed int, "u" unsigned int, "f" float
        self.itemsize = itemsize

    @property
    def is_floating_point(self) -> bool:
        """Whether it is float32 or float64 (torch.dtype.is_floating_point).

        Examples
        --------
        >>> import gradkit as gk
        >>> gk.float64.is_floating_point, gk.int64.is_floating_point
        (True, False)
        """
        return self.kind == "f"

    def __repr__(self) -> str:
        return f"gradkit.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self is other
        return self.name == getattr(other, "name", other) or _name_of(other) == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (dtype, (self.name,))


bool_ = DType("bool", "b", 1)
int8 = DType("int8", "i", 1)
int16 = DType("int16", "i", 2)
int32 = DType("int32", "i", 4)
int64 = DType("int64", "i", 8)
uint8 = DType("uint8", "u", 1)
float32 = DType("float32", "f", 4)
float64 = DType("float64", "f", 8)

DTYPES = {d.name: d for d in (bool_, int8, int16, int32, int64, uint8, float32, float64)}


def _name_of(obj: Any) -> str | None:
    """The standard name of a dtype-like object (str, NumPy dtype or type, DType)."""
    if isinstance(obj, str):
        return obj
    name = getattr(obj, "name", None)  # numpy.dtype, DType
    if isinstance(name, str):
        return name
    return getattr(obj, "__name__", None)  # numpy.float32 the type


def is_dtype_like(obj: object) -> TypeGuard[DTypeLike]:
    """Whether `obj` names a dtype rather than a device.

    A DType, a NumPy dtype or scalar type, float/int/bool, or a dtype name: how to()
    tells ``x.to(gk.float64)`` from ``x.to("cuda")``.

    Parameters
    ----------
    obj : object
        Anything.

    Returns
    -------
    bool

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.dtypes import is_dtype_like
    >>> is_dtype_like(gk.float64), is_dtype_like("int32"), is_dtype_like("cuda")
    (True, True, False)
    """
    if isinstance(obj, DType) or obj in (float, int, bool):
        return True
    if isinstance(obj, str):
        return obj in DTYPES
    return getattr(obj, "kind", None) is not None or (
        isinstance(obj, type) and getattr(obj, "__module__", "") == "numpy")


def dtype(obj: DTypeLike) -> DType:
    """The gradkit DType for a name, a NumPy dtype or type, a Python type or a DType.

    Parameters
    ----------
    obj : DType, str, numpy.dtype or type
        What names the dtype; Python's float, int and bool give float32 (PyTorch's
        default), int64 and bool.

    Returns
    -------
    DType

    Raises
    ------
    TypeError
        If `obj` names no dtype gradkit supports; the message lists the choices.

    Notes
    -----
    gradkit-only: PyTorch has no such converter (its dtypes are only objects).

    Examples
    --------
    >>> import numpy as np
    >>> import gradkit as gk
    >>> gk.dtype("float64")
    gradkit.float64
    >>> gk.dtype(np.int32), gk.dtype(float)
    (gradkit.int32, gradkit.float32)
    """
    if isinstance(obj, DType):
        return obj
    if obj is float:
        return float32
    if obj is int:
        return int64
    if obj is bool:
        return bool_
    name = _name_of(obj)
    if name == "bool_":
        name = "bool"
    try:
        return DTYPES[name]  # type: ignore[index]  # (a name of None: the KeyError below)
    except KeyError:
        raise TypeError(f"unsupported dtype {obj!r}; gradkit supports {sorted(DTYPES)}") from None


# ---- type promotion, as PyTorch's ------------------------------------------------------
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating point
_DEFAULT = {0: bool_, 1: int64, 2: float32}  # the dtype a Python scalar of a category gets


def promote_types(a: DTypeLike, b: DTypeLike) -> DType:
    """The smallest dtype both `a` and `b` cast to safely (torch.promote_types).

    Categories rank bool < integer < floating point; within one, the wider wins; uint8
    with a signed int gives a signed int wide enough for both.

    Parameters
    ----------
    a, b : DType or str
        The dtypes.

    Returns
    -------
    DType

    Raises
    ------
    TypeError
        If either names no supported dtype.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.promote_types(gk.int64, gk.float32)
    gradkit.float32
    >>> gk.promote_types("uint8", "int8")
    gradkit.int16
    """
    a, b = dtype(a), dtype(b)
    if a is b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    if a.kind == b.kind:
        return a if a.itemsize >= b.itemsize else b
    signed, unsigned = (a, b) if a.kind == "i" else (b, a)  # uint8 with a signed int
    return DTYPES[f"int{8 * max(signed.itemsize, 2 * unsigned.itemsize)}"]


def _operand(x: Any) -> tuple[int, DType]:
    """(priority class, dtype) of one operand: 0 dimensioned tensor, 1 zero-dim tensor,
    2 a Python or NumPy scalar (which takes its category's default dtype)."""
    if isinstance(x, bool):
        return 2, bool_
    if isinstance(x, int):
        return 2, int64
    if isinstance(x, float):
        return 2, float32
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind is not None and getattr(x, "ndim", 0) == 0 and not hasattr(x, "backend"):
        return 2, _DEFAULT[_CATEGORY[kind]]  # a NumPy scalar: weak, like a Python one
    return (0 if x.ndim else 1), dtype(x.dtype)


def result_type(*operands: Any) -> DType:
    """The dtype of an elementwise op on `operands` (torch.result_type).

    Tensors with dimensions decide; zero-dim tensors, then scalars, count only when
    their category (bool < int < float) is higher. So a float32 tensor times a float64
    scalar stays float32, and an int64 tensor times 2.5 is float32.

    Parameters
    ----------
    *operands : Tensor or scalar
        The operands (Python and NumPy scalars count as scalars).

    Returns
    -------
    DType

    Raises
    ------
    TypeError
        If no operand is given.

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.result_type(gk.tensor([1, 2]), 2.5)
    gradkit.float32
    >>> gk.result_type(gk.tensor([1.0]), gk.tensor(1.0, dtype=gk.float64))
    gradkit.float32
    """
    best: list[DType | None] = [None, None, None]
    for x in operands:
        rank, d = _operand(x)
        prev = best[rank]
        best[rank] = d if prev is None else promote_types(prev, d)
    result = _combine(best[0], _combine(best[1], best[2]))
    if result is None:  # (no operands: it returned None)
        raise TypeError("result_type() needs at least one operand")
    return result


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    """Merge the dtype of a higher priority class with a lower one (c10's
    combine_categories): the lower one counts only if its category is higher."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def can_cast(src: DTypeLike, dst: DTypeLike) -> bool:
    """Whether an in-place result of dtype `src` may be stored in `dst` (torch.can_cast).

    Not to a lower category: no float into an integer tensor, no integer into bool.

    Parameters
    ----------
    src, dst : DType or str
        The dtypes.

    Returns
    -------
    bool

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.can_cast(gk.int64, gk.float32), gk.can_cast(gk.float32, gk.int64)
    (True, False)
    """
    return _CATEGORY[dtype(src).kind] <= _CATEGORY[dtype(dst).kind]
