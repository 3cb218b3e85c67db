"""The tape: the Function protocol every differentiable op follows, grad mode, and the
reverse-mode engine that walks the graph.

An op is a Function subclass with two methods side by side:

    class Tanh(Function):
        save_output = True                  # backward needs tanh(x), not x
        def forward(self, x):               # raw backend arrays in, raw array out
            return self.xp.tanh(x)
        def backward(self, g):              # gradkit Tensors in and out
            y = self.output
            return g * (1 - y * y)

`Tanh.apply(t)` runs forward and, when a gradient is wanted, records the call as a node
of the graph. Backward is written with gradkit ops, so with `create_graph=True` the
backward pass is itself recorded and can be differentiated again. The engine, not the
ops, undoes broadcasting: a gradient whose shape differs from its input's is summed
down to it (`sum_to`) in one place.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import weakref
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .backends import NO_SCOPE, DeviceError, common_backend

if TYPE_CHECKING:
    from ._typing import Array, Grads
    from .backends import Backend
    from .tensor import _Version

_F = TypeVar("_F", bound=Callable[..., Any])


class GradkitError(RuntimeError):
    """A misuse of autograd: a freed graph, a missing gradient for a non-scalar, and so on.

    A RuntimeError, as PyTorch's autograd errors are.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> y.backward()
    Traceback (most recent call last):
    ...
    gradkit.autograd.GradkitError: trying to backward through the graph a second time ...
    """


class ShapeError(ValueError):
    """Shapes that do not fit an op; the message names the op and every shape.

    A ValueError (PyTorch raises RuntimeError for these).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.ones(2) + gk.ones(3)
    Traceback (most recent call last):
    ...
    gradkit.autograd.ShapeError: add: operands could not be broadcast ... (input shapes: (2,), (3,))
    """


# ---- grad mode (thread-local) ---------------------------------------------------------
class _GradMode(threading.local):
    enabled = True  # (written only by _set_mode)


_mode = _GradMode()
# How many threads have grad mode off now. While none has, apply need not read the
# thread-local mode (a few tenths of a microsecond per op). A thread that ends with its
# mode off leaves this above 0: then every op reads its thread's mode, which is correct.
_threads_off = 0
_threads_off_lock = threading.Lock()


def _set_mode(enabled: bool) -> None:
    """Set this thread's grad mode (the one place that does, so `_threads_off` stays right)."""
    global _threads_off
    with _threads_off_lock:
        if enabled != _mode.enabled:
            _threads_off += -1 if enabled else 1
            _mode.enabled = enabled


def is_grad_enabled() -> bool:
    """Whether operations are recorded for backward in this thread (torch.is_grad_enabled).

    Returns
    -------
    bool
        False inside :class:`no_grad` (or after ``set_grad_enabled(False)``).

    Examples
    --------
    >>> import gradkit as gk
    >>> gk.is_grad_enabled()
    True
    >>> with gk.no_grad():
    ...     gk.is_grad_enabled()
    False
    """
    return _mode.enabled


class _GradModeDecorator:
    """What no_grad, enable_grad and set_grad_enabled share as decorators (PyTorch's).

    The result is a plain function, so decorated methods bind. Every call (for a
    generator function: every resume of the generator) runs in a fresh copy of the
    context, so decorated functions nest, recurse and run in several threads correctly.
    """

    def _clone(self) -> Any:
        raise NotImplementedError

    def __call__(self, func: _F) -> _F:
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(self._clone, func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._clone():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def _wrap_generator(context: Callable[[], Any], func: Callable[..., Any]) -> Any:
    """`func`, a generator function, with its body in `context()` on every resume; the
    caller's code between two resumes runs in the caller's own mode."""

    @functools.wraps(func)
    def generator(*args: Any, **kwargs: Any) -> Any:
        gen = func(*args, **kwargs)
        try:
            with context():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with context():
                        gen.close()
                    raise
                except BaseException as e:
                    with context():
                        response = gen.throw(e)
                else:
                    with context():
                        response = gen.send(request)
        except StopIteration as e:
            return e.value

    return generator


class _SwitchGrad(_GradModeDecorator):
    """A context that sets grad mode to `mode` on entry and restores it on exit; also a
    decorator, with or without parentheses (`@gk.no_grad`, `@gk.no_grad()`)."""

    mode: bool

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        if func is None:
            return super().__new__(cls)
        return cls()(func)  # a bare decorator: the wrapped function, not a context

    def __init__(self) -> None:
        self._prev: list[bool] = []  # a stack, so one instance may be entered again inside

    def __enter__(self) -> None:
        self._prev.append(_mode.enabled)
        _set_mode(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set_mode(self._prev.pop())

    def _clone(self) -> _SwitchGrad:
        return type(self)()


class no_grad(_SwitchGrad):
    """Run without recording the graph, in this thread (torch.no_grad).

    A context manager (``with gk.no_grad():``) or a decorator (``@gk.no_grad()`` or
    ``@gk.no_grad``). Results computed inside do not require grad: use it for
    evaluation and for parameter updates.

    Parameters
    ----------
    func : callable, optional
        With the bare decorator form, the function being decorated.

    See Also
    --------
    enable_grad, set_grad_enabled, is_grad_enabled

    Examples
    --------
    >>> import gradkit as gk
    >>> w = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> with gk.no_grad():
    ...     w -= 0.25 * w.grad
    >>> w
    tensor([0.5, 1. ], requires_grad=True)
    >>> @gk.no_grad
    ... def evaluate(x):
    ...     return (x * 2).requires_grad
    >>> evaluate(w)
    False
    """

    mode = False


class enable_grad(_SwitchGrad):
    """Record the graph again, e.g. inside :class:`no_grad` (torch.enable_grad).

    A context manager or a decorator, with or without parentheses, as :class:`no_grad`.

    Parameters
    ----------
    func : callable, optional
        With the bare decorator form, the function being decorated.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0], requires_grad=True)
    >>> with gk.no_grad():
    ...     with gk.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """

    mode = True


class set_grad_enabled(_GradModeDecorator):
    """Turn recording on or off in this thread (torch.set_grad_enabled).

    The call itself sets the mode (``gk.set_grad_enabled(False)`` on its own line takes
    effect); used as a context manager it restores, on exit, the mode from before the
    call; as a decorator (``@gk.set_grad_enabled(False)``) it leaves the mode alone and
    applies to each call.

    Parameters
    ----------
    mode : bool
        True to record, False not to.

    Examples
    --------
    >>> import gradkit as gk
    >>> with gk.set_grad_enabled(False):
    ...     gk.is_grad_enabled()
    False
    >>> gk.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _mode.enabled
        _set_mode(self.mode)

    def __enter__(self) -> None:
        _set_mode(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set_mode(self.prev)

    def __call__(self, func: _F) -> _F:
        _set_mode(self.prev)  # decorating is not a switch
        return super().__call__(func)

    def _clone(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)


# ---- the op protocol ----------------------------------------------------------------
class _Node:
    """The fields every node of the graph has, as slots (declared and documented in
    Function). Slots because apply and the engine touch them on every op: an instance
    dict is slower, and CPython turns a node's dict into a full dict of its own once a
    node holds more than a few attributes. Op subclasses still get a dict for their own."""

    __slots__ = ("backend", "xp", "edges", "shapes", "inputs", "versions", "out",
                 "out_version", "retained", "hooks", "_needs", "_uses")


class Function(_Node):
    """One differentiable primitive; an instance is one node of the graph.

    Subclass it to add an op: `forward` computes on raw arrays of ``self.xp`` (the
    backend's Array API namespace), `backward` maps the output's gradient to one
    gradient per input with gradkit ops, and ``MyOp.apply(...)`` runs it. Because
    backward is written with gradkit ops, ``create_graph=True`` can differentiate it
    again. Class flags say what backward needs, so nothing else is kept alive.

    What is saved is checked at backward: if it was changed in place since (its version
    counter moved), backward raises instead of using the new values. Non-tensor options
    (axis, shape, ...) are keyword arguments of forward, which may stash on `self` what
    backward needs. `self.needs` says which inputs want a gradient.

    Attributes
    ----------
    save_inputs : bool or tuple of tuple of int
        True to keep every input as `self.inputs`; or, per input, the inputs its
        gradient reads (Mul: ``((1,), (0,))``, each reads the other), so that only what
        a needed gradient reads is kept; the others are None in `self.inputs`.
    save_output : bool
        Keep the output array, as `self.output` (a Tensor made on demand).
    double_backward : bool
        False when backward is not built from differentiable ops; then
        ``create_graph=True`` through this node raises instead of giving a wrong number.
    broadcasts : bool
        True when inputs broadcast against each other; the engine then sums each
        gradient down to its input's shape. Every other op must return gradients of
        exactly its inputs' shapes, or the engine raises.
    view : bool
        True when the output shares the input's storage (reshape, transpose, basic
        indexing); it then shares the input's version counter. Forward may set
        ``self.view = False`` for a call that copies (a class whose outputs are never
        views keeps the default, False, and then forward must not set it).
    needs_float : bool
        Integer inputs are cast to the default float32 first (sqrt of ints).

    Notes
    -----
    PyTorch equivalent: :class:`torch.autograd.Function`. Differences: forward and
    backward are instance methods (the instance is PyTorch's ``ctx``), forward takes
    raw arrays, and what to save is declared by class flags instead of
    ``ctx.save_for_backward``.

    Examples
    --------
    >>> import gradkit as gk
    >>> class Cube(gk.Function):
    ...     save_inputs = True
    ...     def forward(self, x):
    ...         return x ** 3
    ...     def backward(self, g):
    ...         (x,) = self.inputs
    ...         return g * 3 * x * x
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = Cube.apply(x)
    >>> y
    tensor([1., 8.], grad_fn=<CubeBackward0>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([ 3., 12.])
    >>> gk.gradcheck(Cube.apply, gk.tensor([1.0, 2.0], dtype=gk.float64, requires_grad=True))
    True
    """

    save_inputs: bool | tuple[tuple[int, ...], ...] = False
    save_output = False
    double_backward = True
    broadcasts = False
    view = False
    needs_float = False

    # The slots of _Node, set by apply (backend and xp before forward, the rest when it
    # records the node; release() sets what it frees to None: a released node is not
    # read again). The defaults apply gives are in the comments.
    backend: Backend
    xp: Any  # the backend's Array API namespace
    edges: Sequence[Function | None]
    shapes: Sequence[Any]  # each input's shape (None for an input that is no tensor)
    _needs: list[bool] | None  # the `needs` property, once read; None
    # how many edges of the nodes recorded so far point at this node (its consumers, in
    # every graph it is part of); with 1, _graph_order need not count them; 0
    _uses: int
    out: Array  # (save_output only)
    retained: list[weakref.ref[Tensor]] | None  # the outputs that retain_grad(); None
    hooks: dict[int, Callable[[Tensor], Tensor | None]] | None  # register_hook's; None
    inputs: Sequence[Any]  # the saved inputs (save_inputs); ()
    # the version of each saved input when it was saved; None if nothing was saved
    versions: Sequence[int | None] | None
    out_version: _Version | None  # the saved output's version counter (it was at 0); None
    # (needs_float, save_inputs, save_output, view) as apply reads them, in one class
    # attribute (made when the class is: reading a class attribute costs a few hundred
    # instructions, on every op)
    _flags: tuple[bool, bool | tuple[tuple[int, ...], ...], bool, bool] = (
        False, False, False, False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._flags = (cls.needs_float, cls.save_inputs, cls.save_output, cls.view)

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Any:
        """Run the op, recording it as a node of the graph when a gradient is wanted.

        Parameters
        ----------
        *inputs : Tensor or object
            The op's inputs; Tensors are passed to forward as their raw arrays, all
            on one device.
        **options
            Keyword arguments of forward (axis, shape, ...).

        Returns
        -------
        Tensor
            The output; it has this node as `grad_fn` when some input requires grad
            and grad mode is on.

        Raises
        ------
        TypeError
            If no input is a Tensor.
        DeviceError
            If the tensors are on different devices.
        ShapeError
            If forward rejects the shapes.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.autograd.Function.apply`, a classmethod there too.
        Differences: :meth:`forward` receives the Tensors' raw arrays, the node itself
        (``self``) takes the place of PyTorch's ``ctx``, and an op has one output.

        Examples
        --------
        >>> import gradkit as gk
        >>> class Double(gk.Function):
        ...     def forward(self, x):
        ...         return x * 2
        ...     def backward(self, g):
        ...         return g * 2
        >>> Double.apply(gk.tensor([1.0, 2.0], requires_grad=True))
        tensor([2., 4.], grad_fn=<DoubleBackward0>)
        """
        record = not _threads_off or _mode.enabled  # grad mode is on (see _threads_off)
        backend: Backend | None = None
        requires_grad = False  # (and recording)
        arrays: list[Any] = []
        # For the node, while recording: where each input's gradient goes (its node, the
        # leaf's AccumulateGrad, or None) and the input shapes. (`needs` is derived from
        # the edges when an op's backward asks: one list fewer per node.)
        edges: list[Function | None] = []
        shapes: list[Any] = []
        for x in inputs:
            if isinstance(x, Tensor):
                if x.backend is not backend:
                    if backend is not None:
                        common_backend(cls.__name__.lower(), (backend, x.backend))  # raises
                    backend = x.backend
                array = x.array
                arrays.append(array)
                if record:
                    shapes.append(array.shape)
                    if x._requires_grad:
                        requires_grad = True
                        edge = x._node or x._acc or x._accumulator()
                        edge._uses += 1
                        edges.append(edge)
                    else:
                        edges.append(None)
            else:
                arrays.append(x)
                if record:
                    shapes.append(None)
                    edges.append(None)
        if backend is None:  # (every op gets a tensor; a clear error if one does not)
            raise TypeError(f"{cls.__name__.lower()}: no tensor among the inputs")
        needs_float, save_inputs, save_output, view = cls._flags
        if needs_float:  # integer tensors to float32 (floats pass untouched)
            for i, x in enumerate(inputs):
                if isinstance(x, Tensor) and x.array.dtype not in backend.float_dtypes:
                    arrays[i] = backend.to_float(arrays[i])
        fn = _new_object(cls)
        fn.backend = backend
        fn.xp = backend.xp
        try:
            if backend.scope is not NO_SCOPE:  # several GPUs: kernels run on the current
                with backend.scope:  # one, so make it the inputs'
                    out = fn.forward(*arrays, **options)
            elif options:
                out = fn.forward(*arrays, **options)
            elif len(arrays) == 2:  # (the common cases: a call with * costs twice as much)
                a0, a1 = arrays
                out = fn.forward(a0, a1)
            elif len(arrays) == 1:
                out = fn.forward(arrays[0])
            else:
                out = fn.forward(*arrays)
        except (ValueError, TypeError, IndexError) as e:
            raise _explain(cls, e, inputs, backend) from e
        if type(out) not in backend.array_types:  # (a set lookup is cheaper than isinstance)
            if isinstance(out, backend.scalar_types):  # NumPy reductions return scalars
                out = backend.asarray(out)
            else:
                backend.array_types.add(type(out))
        if not requires_grad:
            result = _make_tensor(out, backend)
            return result._alias(inputs[0]) if view and fn.view else result
        fn.edges, fn.shapes = edges, tuple(shapes)  # (a tuple of shapes leaves the GC's lists)
        fn._uses = 0
        fn.retained = fn.hooks = fn.out_version = fn._needs = fn.versions = None
        if not save_inputs:
            fn.inputs = ()
        else:  # what backward reads, and its version now
            kept = _ALL if save_inputs is True else cls._kept(edges)
            saved: list[Any] = []
            versions: list[int | None] = []
            fn.inputs, fn.versions = saved, versions
            for x, keep in zip(inputs, kept):
                if keep and isinstance(x, Tensor):
                    saved.append(x)
                    versions.append((x._vc or x._counter()).value)
                else:
                    saved.append(x if keep else None)
                    versions.append(None)
        result = _new_object(Tensor)  # (Tensor._make(out, backend, fn), without the call)
        result.array = out
        result.backend = backend
        result._node = fn
        result._requires_grad = True
        result._grad = result._vc = result._base = result._acc = None
        if view and fn.view:
            result._alias(inputs[0])
        if save_output:
            fn.out = out
            fn.out_version = result._counter()
            if fn.versions is None:
                fn.versions = ()  # (the engine checks saved tensors when versions is set)
        return result

    @property
    def needs(self) -> list[bool]:
        """Which inputs want a gradient: True where the input is a tensor that requires
        grad (PyTorch's ``ctx.needs_input_grad``). Derived from `edges` on first read.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> (x * gk.tensor([2.0])).grad_fn.needs
        [True, False]
        """
        needs = self._needs
        if needs is None:
            edges = self.edges
            if edges is None:
                raise GradkitError(f"{self.name()}: the node was freed by backward; what its "
                                   "inputs needed is no longer known")
            needs = self._needs = [e is not None for e in edges]
        return needs

    @classmethod
    def _kept(cls, edges: Sequence[Function | None]) -> tuple[bool, ...]:
        """Which inputs to keep, given which gradients are needed (an edge that is not
        None): those that a needed gradient reads, by `save_inputs` (cached per class
        and pattern)."""
        needs = tuple(e is not None for e in edges)
        key = (cls, needs)
        kept = _KEPT.get(key)
        if kept is None:
            save = cls.save_inputs
            assert not isinstance(save, bool)  # (called when it is per input)
            read = {j for i, need in enumerate(needs) if need for j in save[i]}
            kept = _KEPT[key] = tuple(j in read for j in range(len(needs)))
        return kept

    def _check_saved(self) -> None:
        """Raise if a tensor saved for backward was changed in place since (principle 6)."""
        for x, version in zip(self.inputs, self.versions or ()):
            if version is not None and x._vc.value != version:
                i = next(i for i, y in enumerate(self.inputs) if y is x)
                self._modified(f"input {i}", x.shape, x.dtype, x._vc.value, version)
        if self.out_version is not None and self.out_version.value != 0:
            b = self.backend
            self._modified("its output", tuple(self.out.shape),
                           b.dtype_name(self.out.dtype), self.out_version.value, 0)

    def _modified(self, what: str, shape: tuple[int, ...], dtype: object, version: int,
                  expected: int) -> None:
        raise GradkitError(
            f"one of the tensors needed for gradient computation has been modified by an "
            f"in-place operation: {what} of {type(self).__name__} (shape {shape}, {dtype}) "
            f"is at version {version}; expected version {expected}. Compute it out of "
            "place (x = x + ...) or change a .clone() of it instead")

    def forward(self, *arrays: Any, **options: Any) -> Any:
        """Compute the op on raw arrays of `self.xp`; subclasses implement it.

        Parameters
        ----------
        *arrays : array or object
            The inputs given to `apply`, Tensors replaced by their raw arrays.
        **options
            The keyword arguments given to `apply`.

        Returns
        -------
        array
            The output, a raw array of the same backend.

        Raises
        ------
        NotImplementedError
            In the base class.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.autograd.Function.forward`. Differences: PyTorch's
        is a staticmethod ``forward(ctx, *args)`` on Tensors that saves with
        ``ctx.save_for_backward``; this is an instance method on raw arrays of ``self.xp``
        (the instance is the ``ctx``), and what backward needs is declared by class flags
        (``save_inputs``, ``save_output``) or stashed on ``self``.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> node = (x * x).grad_fn
        >>> node.forward(x.array, x.array)
        array([1., 4.], dtype=float32)
        """
        raise NotImplementedError

    def backward(self, grad: Tensor) -> Grads:
        """The gradient of each input from the output's gradient; subclasses implement it.

        Written with gradkit ops on Tensors, so that ``create_graph=True`` can
        differentiate it again.

        Parameters
        ----------
        grad : Tensor
            The gradient of the output.

        Returns
        -------
        Tensor or None, or a tuple of them
            One per input of `apply` (a single value for one input); None where
            ``self.needs`` says no gradient is needed or the input is no tensor.

        Raises
        ------
        NotImplementedError
            In the base class.

        Notes
        -----
        PyTorch equivalent: :meth:`torch.autograd.Function.backward`. Differences: PyTorch's
        is a staticmethod ``backward(ctx, *grads)`` that reads ``ctx.saved_tensors`` and
        ``ctx.needs_input_grad``; this is an instance method that reads ``self.inputs``,
        ``self.output`` and ``self.needs``. Both return one gradient per input of apply,
        None where none is needed. Written with gradkit ops, it can be differentiated again
        (``create_graph=True``) unless the class sets ``double_backward = False`` (PyTorch's
        ``once_differentiable``).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
        >>> node = (x * x).grad_fn
        >>> with gk.no_grad():
        ...     node.backward(gk.tensor([1.0, 1.0]))
        (tensor([1., 2.]), tensor([1., 2.]))
        """
        raise NotImplementedError

    @property
    def output(self) -> Tensor:
        """The forward result as a Tensor (for ops with ``save_output = True``).

        Part of the graph while recording (during a ``create_graph=True`` backward).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([0.0, 1.0], requires_grad=True)
        >>> node = x.tanh().grad_fn
        >>> with gk.no_grad():
        ...     node.output
        tensor([0.      , 0.7615942])
        """
        return Tensor._make(self.out, self.backend, self if _mode.enabled else None)

    def release(self) -> None:
        """Free what this node keeps for backward; the graph cannot be used again.

        Backward calls it on each node it has used, unless ``retain_graph=True``.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> y = x * x
        >>> y.grad_fn.release()
        >>> y.grad_fn.freed
        True
        """
        # (None where the declared types say otherwise: a released node is not read again)
        if self.versions is not None:  # (only what was kept: most nodes keep nothing)
            self.inputs = self.out = self.versions = None  # type: ignore[assignment]
            self.out_version = None
        self.edges = None  # type: ignore[assignment]  # (which is what `freed` reads)

    @property
    def freed(self) -> bool:
        """Whether backward has released this node (its `edges` are gone with it).

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> y = x * x
        >>> y.grad_fn.freed
        False
        >>> y.sum().backward()
        >>> y.grad_fn.freed
        True
        """
        return self.edges is None

    @freed.setter
    def freed(self, value: bool) -> None:  # (for a release() of a subclass that sets it)
        if value:
            self.edges = None  # type: ignore[assignment]

    def name(self) -> str:
        """The node's name as PyTorch prints it: MulBackward0 for Mul.

        Returns
        -------
        str

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> (x * x).grad_fn.name()
        'MulBackward0'
        """
        return f"{type(self).__name__}Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object>"


_ALL = itertools.repeat(True)  # save_inputs = True: keep every input
_release = Function.release
_PLAIN_RELEASE: set[type[Function]] = set()  # the classes seen that keep Function's release()
_new_object = object.__new__  # (a node is made without calling __init__)
_KEPT: dict[tuple[type[Function], tuple[bool, ...]], tuple[bool, ...]] = {}  # which to keep


def _explain(cls: type[Function], e: Exception, inputs: Sequence[Any],
             backend: Backend) -> Exception:
    """An array library's error from inside forward, re-raised naming the op and the input
    shapes, as what it is: an IndexError or TypeError stays one (a NumPy array passed to
    a CuPy kernel is a TypeError), arrays on two devices are a DeviceError, and any other
    ValueError (operands that do not broadcast, ...) is a ShapeError."""
    if isinstance(e, (ShapeError, DeviceError, GradkitError)):
        return e
    shapes = ", ".join(str(tuple(x.shape)) for x in inputs if isinstance(x, Tensor))
    kind: type[Exception]
    if isinstance(e, IndexError):
        kind = IndexError
    elif isinstance(e, TypeError):
        kind = TypeError
    elif any(hint in str(e) for hint in backend.device_error_hints):
        kind = DeviceError
    else:
        kind = ShapeError
    return kind(f"{cls.__name__.lower()}: {e} (input shapes: {shapes})")


def on_device(fn: _F) -> _F:
    """Decorate `fn` to run with the device of its first tensor argument current.

    The first tensor argument, or the first tensor in a list or tuple argument. CuPy
    makes arrays and launches kernels on the current GPU, so library code that computes
    with raw arrays outside an op's forward (constant results, masks, in-place writes)
    must run there. Free where the backend needs no device selecting (NumPy, one GPU).

    Parameters
    ----------
    fn : callable
        The function to wrap.

    Returns
    -------
    callable
        `fn`, wrapped.

    Notes
    -----
    gradkit-only: library plumbing for several GPUs (PyTorch's ``torch.cuda.device``).

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.autograd import on_device
    >>> @on_device
    ... def total(x):
    ...     return float(x.backend.xp.sum(x.array))
    >>> total(gk.tensor([1.0, 2.0]))
    3.0
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        for a in args:
            if type(a) in (tuple, list) and a:
                a = a[0]
            if isinstance(a, Tensor):
                scope = a.backend.scope
                if scope is not NO_SCOPE:
                    with scope:
                        return fn(*args, **kwargs)
                break
        return fn(*args, **kwargs)

    return run  # type: ignore[return-value]  # functools.wraps keeps the signature


# ---- the engine ---------------------------------------------------------------------
class AccumulateGrad(Function):
    """The node a leaf's gradient flows into (PyTorch's AccumulateGrad).

    So that every edge of the graph is a node. It has no inputs: the graph walk returns
    the gradient that reaches it, summed over every use of the leaf, and backward() adds
    that to the leaf's `.grad` (after the leaf's hooks). One per leaf, made when the
    leaf first enters a graph; it holds the leaf weakly.

    Parameters
    ----------
    leaf : Tensor
        The leaf tensor.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0], requires_grad=True)
    >>> (x * 2).grad_fn.edges[0].name()
    'AccumulateGrad'
    """

    edges = shapes = ()
    # register_post_accumulate_grad_hook's: called with the leaf after `.grad` is written
    post_hooks: dict[int, Callable[[Tensor], None]] | None = None

    def __init__(self, leaf: Tensor) -> None:
        self.leaf = weakref.ref(leaf)
        self.backend = leaf.backend
        self.retained = self.hooks = self.versions = self.out_version = self._needs = None
        self.inputs = ()
        self._uses = 0

    def release(self) -> None:
        """Free nothing: the node is shared by every graph the leaf is in.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> acc = (x * 2).grad_fn.edges[0]
        >>> acc.release()
        >>> acc.freed
        False
        """
        pass  # shared by every graph the leaf is in: nothing to free

    def name(self) -> str:
        """The node's name as PyTorch prints it.

        Returns
        -------
        str
            'AccumulateGrad'.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> (x * 2).grad_fn.edges[0].name()
        'AccumulateGrad'
        """
        return "AccumulateGrad"


def _graph_order(roots: Sequence[Function], exact: bool = True) -> dict[Function, int]:
    """Count, for every node reachable from `roots`, how many edges point at it.

    Unless `exact`, nodes with one consumer in every graph recorded so far (``_uses ==
    1``, most nodes) are left out: such a node is reached once, through that consumer,
    and the graph walk takes a missing count as 1. (Exact when a root may also be some
    node's input, or for _leading_to.) Iterative (no recursion limit) and linear in the
    size of the graph. Raises if a node reached was freed.
    """
    deps: dict[Function, int] = {}
    # (None at the bottom: a list that empties and refills reallocates its memory each time)
    stack: list[Function | None] = [None, *roots]
    for r in roots:
        deps[r] = 0
    fn = stack.pop()
    while fn is not None:
        if (edges := fn.edges) is None:  # (freed)
            raise GradkitError(
                "trying to backward through the graph a second time (or to use a result "
                "of a freed graph); its buffers were freed by the first backward. Pass "
                "retain_graph=True to the first backward if you need to do this.")
        follow = None  # the next node to visit, without passing through the stack
        for e in edges:
            if e is None:
                continue
            if e._uses == 1 and not exact:
                pass
            elif e in deps:
                deps[e] += 1
                continue
            else:
                deps[e] = 1
            if follow is not None:
                stack.append(follow)
            follow = e
        fn = follow if follow is not None else stack.pop()
    return deps


def _leading_to(deps: dict[Function, int], roots: Sequence[Function],
                targets: Collection[Function]) -> set[Function]:
    """The nodes of the graph (`deps`, from _graph_order) with a path of one or more edges
    to a node in `targets`."""
    order, remaining = [], dict(deps)
    stack = [fn for fn in roots if remaining[fn] == 0]
    while stack:  # parents before children
        fn = stack.pop()
        order.append(fn)
        for e in fn.edges:
            if e is not None:
                remaining[e] -= 1
                if remaining[e] == 0:
                    stack.append(e)
    below: set[Function] = set()
    for fn in reversed(order):  # children first
        if any(e is not None and (e in targets or e in below) for e in fn.edges):
            below.add(fn)
    return below


def run_backward(outputs: Sequence[Tensor], grad_outputs: Sequence[Tensor],
                 retain_graph: bool, create_graph: bool,
                 keep: Collection[Function] = (),
                 on_leaf: Callable[[AccumulateGrad, Tensor], None] | None = None,
                 ) -> dict[Function, Tensor]:
    """The graph walk under :meth:`Tensor.backward` and :func:`grad`.

    Propagates `grad_outputs` from `outputs` back through the graph. It changes no
    `.grad` (but fills those of tensors that retain_grad()); nodes are released as soon
    as they are used unless `retain_graph`.

    Parameters
    ----------
    outputs : sequence of Tensor
        Where the walk starts.
    grad_outputs : sequence of Tensor
        The gradient of each output, of its shape.
    retain_graph : bool
        Keep the nodes' saved values for another walk.
    create_graph : bool
        Record the walk itself (for higher derivatives).
    keep : collection of Function, optional
        Non-leaf nodes whose gradients to return too.
    on_leaf : callable, optional
        ``on_leaf(node, grad)`` is called as soon as a leaf's gradient is complete
        (after its hooks), during the walk, instead of returning it: backward()
        accumulates there, so that post-accumulate hooks (DistributedDataParallel's
        all-reduce) can start while the rest of the graph is still being walked.

    Returns
    -------
    dict of Function to Tensor
        The gradient for every leaf's AccumulateGrad node reached (without `on_leaf`)
        and every node in `keep`.

    Raises
    ------
    GradkitError
        If the graph was freed, or a backward returns the wrong number of gradients.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.autograd import run_backward
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> result = run_backward([y], [gk.tensor(1.0)], False, False)
    >>> list(result.values())
    [tensor([2., 4.])]
    """
    # node -> the sum of the gradients its consumers have sent so far, for nodes with
    # several consumers (a node with one gets its gradient handed over in `ready`)
    grads: dict[Function, Tensor] = {}
    roots: list[Function] = []
    g: Tensor | None
    for out, g in zip(outputs, grad_outputs):
        fn = out._node or out._accumulator()
        grads[fn] = g if fn not in grads else grads[fn] + g
        if fn not in roots:
            roots.append(fn)
    # (exact: _leading_to needs every node, and a root that some node consumes gets a
    # gradient as a root and one from that node)
    exact = bool(keep) or any(fn._uses for fn in roots)
    deps = _graph_order(roots, exact)
    # grad(): run only the nodes through which gradient flows to an input in `keep`, so
    # that the graph below a non-leaf input stays intact (and unneeded work is skipped)
    below = _leading_to(deps, roots, keep) if keep else None
    # the nodes whose consumers are all done, each with its complete gradient (None when
    # every consumer returned None for it), run last in first out
    # (None at the bottom, as in _graph_order's stack)
    ready: list[tuple[Function, Tensor | None] | None] = [
        None, *[(fn, grads.pop(fn)) for fn in roots if deps[fn] == 0]]
    # The top of `ready`, kept out of it (most nodes make one node ready, which runs next)
    after: Function | None = None
    after_g: Tensor | None = None
    result: dict[Function, Tensor] = {}
    backend = None  # the backend of the last node run (its scope is `device.active`)
    with set_grad_enabled(create_graph), _DeviceSwitch() as device:
        while True:
            if after is not None:
                fn, g, after = after, after_g, None
            elif (item := ready.pop()) is not None:
                fn, g = item
            else:
                break
            if (kind := type(fn)) is AccumulateGrad:  # a leaf's gradient: complete
                if g is not None:
                    if fn.hooks is not None:
                        g = _run_hooks(fn.hooks, g)
                    if on_leaf is None:
                        result[fn] = g
                    else:
                        on_leaf(fn, g)  # type: ignore[arg-type]  # (an AccumulateGrad)
                continue
            if below is not None and fn not in below:  # no input asked for lies below fn
                if g is not None and fn in keep:
                    result[fn] = g if fn.hooks is None else _run_hooks(fn.hooks, g)
                continue
            if fn.backend is not backend:
                backend = fn.backend
                if backend.scope is not device.active:  # another GPU (several GPUs only)
                    device.switch(backend.scope)
            in_grads: tuple[Tensor | None, ...]
            if g is None:  # every consumer returned None for it: nothing flows through it,
                in_grads = (None,) * len(fn.edges)  # but its inputs still count it as done
            else:
                if fn.hooks is not None:
                    g = _run_hooks(fn.hooks, g)
                if keep and fn in keep:
                    result[fn] = g
                if fn.retained is not None:
                    for ref in fn.retained:
                        t = ref()
                        if t is not None:
                            t._grad = g if t._grad is None else t._grad + g
                if create_graph and not fn.double_backward:
                    raise GradkitError(
                        f"{type(fn).__name__} does not support double backward: its backward "
                        "is not built from differentiable ops, so create_graph=True cannot "
                        "differentiate through it")
                if fn.versions is not None:
                    fn._check_saved()
                in_grads = fn.backward(g)  # type: ignore[assignment]  # (a tuple just below)
                if not isinstance(in_grads, tuple):
                    in_grads = (in_grads,)
                if len(in_grads) != len(fn.edges):
                    raise GradkitError(
                        f"{type(fn).__name__}.backward returned {len(in_grads)} gradients "
                        f"for {len(fn.edges)} inputs")
            for edge, shape, ig in zip(fn.edges, fn.shapes, in_grads):
                if edge is None:
                    continue
                if ig is not None:
                    b, array = edge.backend, ig.array  # the gradient must fit its input
                    if array.shape != shape or array.dtype not in b.float_dtypes or \
                            ig.backend is not b:
                        ig = _fitted_gradient(fn, in_grads, ig, edge, shape)
                if edge._uses != 1 or exact:  # (else fn is its only consumer: it is ready)
                    n = deps.get(edge, 1)  # (left out by _graph_order: one consumer)
                    if n != 1:  # more consumers to come
                        deps[edge] = n - 1
                        if ig is not None:
                            prev = grads.get(edge)
                            grads[edge] = ig if prev is None else \
                                _add_gradients(prev, ig, create_graph)
                        continue
                    if grads:  # the last consumer: add what the others sent
                        prev = grads.pop(edge, None)
                        if prev is not None:
                            ig = prev if ig is None else _add_gradients(prev, ig, create_graph)
                if after is not None:
                    ready.append((after, after_g))
                after, after_g = edge, ig
            if retain_graph:
                continue
            if fn.versions is None and kind in _PLAIN_RELEASE:  # release(), inline: most
                fn.edges = None  # type: ignore[assignment]  # nodes keep nothing
            else:  # else to free
                fn.release()
                if kind.release is _release:
                    _PLAIN_RELEASE.add(kind)
    return result


def _add_gradients(prev: Tensor, g: Tensor, create_graph: bool) -> Tensor:
    """Two gradients of one node's output, summed (in the order they arrived)."""
    if create_graph or prev.array.dtype != g.array.dtype:
        return prev + g  # an op of the graph being built
    return _make_tensor(prev.array + g.array, g.backend)  # plain array work: no node


class _DeviceSwitch:
    """The device scope the graph walk is in: each node runs on its inputs' device, which
    matters with several GPUs only (elsewhere every scope is NO_SCOPE)."""

    active: Any  # NO_SCOPE or a backend's scope

    def __enter__(self) -> _DeviceSwitch:
        self.active = NO_SCOPE
        return self

    def switch(self, scope: Any) -> None:
        self.active.__exit__(None, None, None)
        self.active = NO_SCOPE
        scope.__enter__()
        self.active = scope

    def __exit__(self, *exc: object) -> None:
        self.active.__exit__(None, None, None)


def _run_hooks(hooks: dict[int, Callable[[Tensor], Tensor | None]], g: Tensor) -> Tensor:
    """Call each hook on the gradient; one that returns a tensor replaces it."""
    for hook in list(hooks.values()):
        new = hook(g)
        if new is not None:
            g = new
    return g


def _fitted_gradient(fn: Function, in_grads: Sequence[Tensor | None], g: Tensor,
                     edge: Function, shape: tuple[int, ...]) -> Tensor:
    """The gradient `g` of input i, checked: on the input's device, floating point, and
    of the input's shape. Only ops that broadcast may return a bigger one, which is summed
    down to `shape` if `shape` broadcasts to it. Anything else is a bug in a backward (a
    missing transpose, ...) and raises instead of being reshaped into place."""
    name = type(fn).__name__
    i = next(k for k, other in enumerate(in_grads) if other is g)  # the input's position
    if g.backend is not edge.backend:
        raise DeviceError(f"{name}.backward returned a gradient on {g.device} for input {i}, "
                          f"which is on {edge.backend.device}")
    if not g.backend.is_float(g.array.dtype):
        raise TypeError(f"{name}.backward returned a gradient of dtype {g.dtype} for input "
                        f"{i}; gradients must be floating point")
    gshape = g.array.shape
    if gshape != shape:
        fits = len(shape) <= len(gshape) and all(
            s in (1, gs) for s, gs in zip(reversed(shape), reversed(gshape)))
        if not (fn.broadcasts and fits):
            raise ShapeError(f"{name}.backward returned a gradient of shape {tuple(gshape)} "
                             f"for input {i}, which has shape {tuple(shape)}")
        g = _ops.sum_to(g, shape)
    return g


def _accumulate(leaf: Tensor, g: Tensor, create_graph: bool, shared: set[int]) -> None:
    """Add `g` into `leaf.grad`, in the leaf's dtype, never aliasing another leaf's grad."""
    if g.array.dtype != leaf.array.dtype:
        g = g.astype(leaf.dtype)
    if leaf._grad is not None:
        leaf._grad = leaf._grad + g if create_graph else Tensor._make(
            leaf._grad.array + g.array, leaf.backend)
        return
    # A copy this leaf owns when the array is held elsewhere or may be a view (of a
    # broadcast, or of another leaf's gradient). NumPy and CuPy mark views in `.base`;
    # arrays that cannot tell (array-api-strict has no `.base`) are copied.
    if not create_graph and (id(g.array) in shared or getattr(g.array, "base", 0) is not None):
        g = Tensor._make(g.array * 1, g.backend)
    shared.add(id(g.array))
    leaf._grad = g

# ---- user-facing entry points ---------------------------------------------------------
def _grad_outputs(outputs: Sequence[Tensor], grad_outputs: Sequence[Any] | None,
                  who: str) -> list[Tensor]:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    result: list[Tensor] = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise GradkitError(
                f"{who}: output of shape {out.shape} does not require grad (no input it "
                "depends on has requires_grad=True, or it was computed under no_grad)")
        if g is None:  # d out / d out, made here: right shape and device by construction
            if out.array.ndim and out.numel() != 1:
                raise GradkitError(
                    f"{who}: grad can be implicitly created only for scalar outputs, but the "
                    f"output has shape {out.shape}; pass a gradient of that shape")
            with out.backend.scope:
                ones = out.backend.xp.ones_like(out.array)
            result.append(Tensor._make(ones, out.backend))
            continue
        if not isinstance(g, Tensor):
            from .tensor import tensor

            g = tensor(g, dtype=out.dtype, device=out.backend)
        if g.shape != out.shape:
            raise ShapeError(f"{who}: gradient has shape {g.shape} but the output has shape "
                             f"{out.shape}")
        if g.backend is not out.backend:
            raise DeviceError(f"{who}: gradient is on {g.device} but the output is on {out.device}")
        result.append(g)
    return result


def backward(tensor: Tensor, grad: Tensor | None = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """``tensor.backward()``: walk the graph, then add each leaf's gradient to its `.grad`.

    See :meth:`Tensor.backward` for the errors.

    Parameters
    ----------
    tensor : Tensor
        What to differentiate.
    grad : Tensor, optional
        The gradient of some scalar with respect to `tensor`, of its shape.
    retain_graph : bool, optional
        Keep the graph for another backward; defaults to `create_graph`.
    create_graph : bool, default False
        Record the backward pass too, for higher derivatives.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.autograd import backward
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> backward((x * x).sum())
    >>> x.grad
    tensor([2., 4.])
    """
    if retain_graph is None:
        retain_graph = create_graph
    grads = _grad_outputs([tensor], None if grad is None else [grad], "backward")
    shared = {id(g.array) for g in grads}  # gradient arrays the caller still holds

    def on_leaf(acc: AccumulateGrad, g: Tensor) -> None:
        """Add a leaf's complete gradient to its `.grad`, then run its post hooks."""
        leaf = acc.leaf()
        if leaf is None:
            return
        if leaf.backend.scope is NO_SCOPE:  # (a `with` costs a few tenths of a microsecond)
            _accumulate(leaf, g, create_graph, shared)
        else:
            with leaf.backend.scope:
                _accumulate(leaf, g, create_graph, shared)
        if acc.post_hooks is not None:
            for hook in list(acc.post_hooks.values()):
                hook(leaf)

    _CALLBACKS.append([])
    try:
        run_backward([tensor], grads, retain_graph, create_graph, on_leaf=on_leaf)
        callbacks = _CALLBACKS[-1]
        while callbacks:  # a callback may queue another
            callbacks.pop(0)()
    finally:
        _CALLBACKS.pop()


_CALLBACKS: list[list[Callable[[], None]]] = []  # one list per backward() running


def queue_callback(callback: Callable[[], None]) -> None:
    """Run `callback()` once the backward pass now running has finished.

    For hooks that start work during backward and must finish it at the end:
    DistributedDataParallel waits for its gradient all-reduces this way. Callbacks run
    in the order queued, after every leaf's `.grad` is written.

    Parameters
    ----------
    callback : callable
        Called with no arguments.

    Raises
    ------
    RuntimeError
        If no backward pass is running.

    Notes
    -----
    PyTorch equivalent: ``torch.autograd.Variable._execution_engine.queue_callback``.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit.autograd import queue_callback
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> done = []
    >>> h = x.register_post_accumulate_grad_hook(
    ...     lambda p: queue_callback(lambda: done.append(p.grad.sum().item())))
    >>> (x * x).sum().backward()
    >>> done
    [6.0]
    """
    if not _CALLBACKS:
        raise RuntimeError("queue_callback can only be called during backward "
                           "(from a hook)")
    _CALLBACKS[-1].append(callback)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of `outputs` with respect to `inputs` (torch.autograd.grad).

    Unlike :meth:`Tensor.backward`, returns them and leaves every `.grad` untouched.

    Parameters
    ----------
    outputs : Tensor or sequence of Tensor
        What to differentiate.
    inputs : Tensor or sequence of Tensor
        What to differentiate with respect to; each must require grad.
    grad_outputs : Tensor or sequence of Tensor or None, optional
        The gradient of each output; may be None for one-element outputs.
    retain_graph : bool, optional
        Keep the graph for another backward; defaults to `create_graph`.
    create_graph : bool, default False
        Record the computation, so that the result can be differentiated again.
    allow_unused : bool, default False
        Give None for an input the outputs do not depend on, instead of raising.

    Returns
    -------
    tuple of Tensor or None
        One gradient per input, in the input's dtype.

    Raises
    ------
    GradkitError
        If an input or output does not require grad, an input is unused (without
        `allow_unused`), a non-scalar output lacks its grad_output, or the graph was
        freed.
    ShapeError
        If a grad_output does not have its output's shape.

    Notes
    -----
    PyTorch equivalent: :func:`torch.autograd.grad` (also ``gk.grad``).

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = gk.grad((x ** 3).sum(), x, create_graph=True)
    >>> g
    tensor([ 3., 12.], grad_fn=<MulBackward0>)
    >>> gk.grad(g.sum(), x)
    (tensor([ 6., 12.]),)
    >>> x.grad is None
    True
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs_seq = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in inputs_seq:
        if not t.requires_grad:
            raise GradkitError(f"grad: an input of shape {t.shape} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _grad_outputs(outputs, grad_outputs, "grad")
    nodes = [t._node or t._accumulator() for t in inputs_seq]
    found = run_backward(outputs, grads, retain_graph, create_graph, keep=set(nodes))
    result: list[Tensor | None] = []
    for i, (t, node) in enumerate(zip(inputs_seq, nodes)):
        g = found.get(node)
        if g is None:
            if not allow_unused:
                raise GradkitError(
                    f"grad: input {i} (shape {t.shape}) was not used to compute "
                    "the outputs; pass allow_unused=True to get None for it")
        else:
            if g.dtype != t.dtype:
                g = g.astype(t.dtype)
            if not create_graph:
                g = g.detach()
        result.append(g)
    return tuple(result)


from . import ops as _ops  # noqa: E402  (last: tensor.py and ops.py build on this module)
from .tensor import Tensor  # noqa: E402

_make_tensor = Tensor._make  # (bound once: the hot paths skip the class attribute lookup)
