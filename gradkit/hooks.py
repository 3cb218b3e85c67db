"""Handles for registered hooks (module forward hooks, tensor gradient hooks)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any


class RemovableHandle:
    """Returned by `register_forward_hook` and `register_forward_pre_hook`, as PyTorch's
    torch.utils.hooks.RemovableHandle: `remove()` (or leaving a `with` block) unregisters
    the hook. Holds its dicts weakly, so it never keeps a module alive."""

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
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
