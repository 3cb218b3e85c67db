"""Handles for registered hooks (module forward hooks, tensor gradient hooks)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any


class RemovableHandle:
    """A handle that unregisters a hook (torch.utils.hooks.RemovableHandle).

    Returned by :meth:`gradkit.Tensor.register_hook`, ``Module.register_forward_hook`` and
    ``Module.register_forward_pre_hook``: ``remove()`` (or leaving a ``with`` block)
    unregisters the hook. Holds its dicts weakly, so it never keeps a module alive.

    Parameters
    ----------
    hooks_dict : dict
        The dict the hook is registered in, under this handle's `id`.
    extra_dict : dict or sequence of dict, optional
        Further dicts to remove `id` from.

    Attributes
    ----------
    id : int
        The key of the hook in its dicts, unique in the process.

    Examples
    --------
    >>> import gradkit as gk
    >>> x = gk.tensor([1.0, 2.0], requires_grad=True)
    >>> with x.register_hook(lambda g: g * 0):
    ...     (x * x).sum().backward()
    >>> x.grad
    tensor([0., 0.])
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    """

    next_id = 0

    def __init__(self, hooks_dict: dict[int, Any], *,
                 extra_dict: dict[int, Any] | Sequence[dict[int, Any]] | None = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = [] if extra_dict is None else \
            [extra_dict] if isinstance(extra_dict, dict) else extra_dict
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook; calling it again does nothing.

        Examples
        --------
        >>> import gradkit as gk
        >>> x = gk.tensor([1.0], requires_grad=True)
        >>> handle = x.register_hook(print)
        >>> handle.remove()
        >>> (x * 2).sum().backward()
        >>> x.grad
        tensor([2.])
        """
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
