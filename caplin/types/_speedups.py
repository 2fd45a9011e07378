"""Per-class caches for remerkleable's container layout lookups.

remerkleable 0.1.28 rebuilds `Container.fields()` (a walk over the class and
its bases) on every call, and every field read goes through it twice: once in
`item_elem_cls` and once in `tree_depth`. A container's fields never change
after the class is created, so caching them per class is safe. The rebuild was
the top entry in profiles of the state transition.
"""

from typing import Any

from remerkleable.complex import Container
from remerkleable.tree import get_depth

_original_fields = Container.fields.__func__  # type: ignore[attr-defined]
_fields: dict[type, dict[str, Any]] = {}
_element_classes: dict[type, tuple[Any, ...]] = {}
_depths: dict[type, int] = {}


def _cached_fields(cls: type) -> dict[str, Any]:
    found = _fields.get(cls)
    if found is None:
        found = _original_fields(cls)
        _fields[cls] = found
    return found


def _cached_item_elem_cls(cls: type, index: int) -> Any:
    classes = _element_classes.get(cls)
    if classes is None:
        classes = tuple(_cached_fields(cls).values())
        _element_classes[cls] = classes
    return classes[index]


def _cached_tree_depth(cls: type) -> int:
    depth = _depths.get(cls)
    if depth is None:
        depth = get_depth(len(_cached_fields(cls)))
        _depths[cls] = depth
    return depth


def install() -> None:
    """Replace the three lookups on `Container`; idempotent. Runs on import."""
    Container.fields = classmethod(_cached_fields)  # type: ignore[method-assign,assignment]
    Container.item_elem_cls = classmethod(_cached_item_elem_cls)  # type: ignore[method-assign,assignment]
    Container.tree_depth = classmethod(_cached_tree_depth)  # type: ignore[method-assign,assignment]


install()
