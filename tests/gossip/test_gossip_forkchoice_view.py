"""Gossip validation against the real fork-choice store through `ForkChoiceView`."""

from typing import Any

import pytest

from forkchoice.store import Store
from sentinel.gossip import ForkChoiceView, GossipValidator, PayloadStatus, Verdict
from tests.gossip.chain_helpers import (
    FORK,
    SPEC,
    anchor_block,
    build_block,
    genesis_state,
    slot_time_ms,
)


@pytest.fixture
def parts() -> tuple[Any, Any, Any]:
    state = genesis_state()
    anchor = anchor_block(state)
    store = Store(SPEC, state, anchor)
    return store, state, anchor


def test_block_on_store_head(parts: tuple[Any, Any, Any]) -> None:
    store, state, anchor = parts
    view = ForkChoiceView(store)
    signed_block, _ = build_block(state, bytes(anchor.hash_tree_root()), 1)
    store.on_tick(slot_time_ms(1))

    result = GossipValidator(SPEC, view).validate(
        "beacon_block", signed_block, slot_time_ms(1), FORK
    )
    assert result.verdict is Verdict.ACCEPT

    root = store.on_block(signed_block)
    assert view.get_block_state(root) is not None
    assert view.payload_status(root) is PayloadStatus.VALID
    assert view.get_checkpoint_block(root, 0) == bytes(anchor.hash_tree_root())


def test_child_of_unimported_block(parts: tuple[Any, Any, Any]) -> None:
    store, state, anchor = parts
    view = ForkChoiceView(store)
    signed_block, post_state = build_block(state, bytes(anchor.hash_tree_root()), 1)
    parent_root = view.note_unimported_block(signed_block.message)
    child, _ = build_block(post_state, parent_root, 2)

    assert view.has_block(parent_root)
    assert view.get_block_state(parent_root) is None
    assert view.get_checkpoint_block(parent_root, 0) == bytes(anchor.hash_tree_root())
    result = GossipValidator(SPEC, view).validate("beacon_block", child, slot_time_ms(2), FORK)
    assert result.verdict is Verdict.REJECT

    view.forget_unimported_before(2)
    assert not view.has_block(parent_root)
    result = GossipValidator(SPEC, view).validate("beacon_block", child, slot_time_ms(2), FORK)
    assert result.verdict is Verdict.IGNORE


def test_unknown_root_has_no_checkpoint(parts: tuple[Any, Any, Any]) -> None:
    store, _, _ = parts
    assert ForkChoiceView(store).get_checkpoint_block(b"\x01" * 32, 0) is None
