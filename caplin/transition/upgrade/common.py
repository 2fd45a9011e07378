"""Field copying shared by the fork upgrades."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import get_current_epoch


def convert(value: Any, target: type) -> Any:
    """Return `value` as a view of `target`, reusing its tree when the layouts are the same."""
    if isinstance(value, target) or not hasattr(value, "get_backing"):
        return value
    return target.view_from_backing(value.get_backing())


def carry_over(pre: Any, post_type: type, **changes: Any) -> Any:
    """Return a `post_type` container with the fields of `pre`, then `changes` applied.

    Fields `pre` lacks get their default unless `changes` sets them. Unchanged subtrees are
    shared with `pre` rather than copied, so an upgrade costs no rehashing of the registry.
    """
    values: dict[str, Any] = {}
    pre_fields = type(pre).fields()
    for name, field_type in post_type.fields().items():
        if name in changes:
            values[name] = changes[name]
        elif name in pre_fields:
            values[name] = convert(getattr(pre, name), field_type)
    return post_type(**values)


def upgraded_fork(spec: Any, pre: Any, fork: Fork) -> Any:
    """Return the `Fork` record of a state upgraded to `fork` in its current epoch."""
    fork_type = spec.types(fork).Fork
    return fork_type(
        previous_version=pre.fork.current_version,
        current_version=spec.fork_version(fork),
        epoch=get_current_epoch(spec, pre),
    )
