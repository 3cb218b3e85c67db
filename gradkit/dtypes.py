"""gradkit's dtypes: library-neutral names that each Backend maps to its own dtype objects."""

from __future__ import annotations


class DType:
    """A dtype by its standard name; compares equal to its name and to NumPy's dtype."""

    __slots__ = ("name", "kind", "itemsize")

    def __init__(self, name: str, kind: str, itemsize: int):
        self.name = name
        self.kind = kind  # "b" bool, "i" signed int, "u" unsigned int, "f" float
        self.itemsize = itemsize

    @property
    def is_floating_point(self) -> bool:
        return self.kind == "f"

    def __repr__(self):
        return f"gradkit.{self.name}"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        return self.name == getattr(other, "name", other) or _name_of(other) == self.name

    def __hash__(self):
        return hash(self.name)

    def __reduce__(self):
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


def _name_of(obj):
    """The standard name of a dtype-like object (str, NumPy dtype or type, DType)."""
    if isinstance(obj, str):
        return obj
    name = getattr(obj, "name", None)  # numpy.dtype, DType
    if isinstance(name, str):
        return name
    return getattr(obj, "__name__", None)  # numpy.float32 the type


def dtype(obj) -> DType:
    """gradkit's DType for a name, a NumPy dtype/type or a DType; errors list the choices."""
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
        return DTYPES[name]
    except KeyError:
        raise TypeError(f"unsupported dtype {obj!r}; gradkit supports {sorted(DTYPES)}") from None
