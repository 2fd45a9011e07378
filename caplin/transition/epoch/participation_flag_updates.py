"""Rotation of the altair participation flags."""

from typing import Any

from remerkleable.tree import PairNode, RootNode, subtree_fill_to_length, zero_node


def process_participation_flag_updates(spec: Any, state: Any) -> None:
    """Make the current epoch's flags the previous epoch's, and reset them to zero."""
    # The two fields may be distinct (equal) list classes, and assigning a view of another
    # class copies it element by element, so the tree is moved instead.
    previous_type = type(state.previous_epoch_participation)
    current = state.current_epoch_participation
    state.previous_epoch_participation = previous_type.view_from_backing(current.get_backing())
    state.current_epoch_participation = zeroed_list(type(current), len(state.validators))


def zeroed_list(list_type: Any, length: int) -> Any:
    """Return a `list_type` view (a list of basic values) holding `length` zeros.

    The tree is built from the shared zero subtrees, so it costs no hashing and no per-element
    views, which matters for a registry of a million validators.
    """
    element_size = list_type.element_cls().type_byte_length()
    chunk_count = (length * element_size + 31) // 32
    contents = subtree_fill_to_length(zero_node(0), list_type.contents_depth(), chunk_count)
    length_node = RootNode(length.to_bytes(32, "little"))
    return list_type.view_from_backing(PairNode(contents, length_node))
