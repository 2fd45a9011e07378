"""Gossip rules of `light_client_finality_update` and `light_client_optimistic_update`.

These are the full-node rules: a node forwards only the update it computed
itself, once the signing block had time to propagate, and only when it is
newer than what it forwarded before.
"""

from typing import Any, Protocol

from caplin.config.constants import BASIS_POINTS
from sentinel.gossip.context import GossipContext
from sentinel.gossip.result import ignore_unless


class LightClientDataSource(Protocol):
    """The node's own latest light client updates (a `LightClientDataCollector`)."""

    def get_light_client_finality_update(self) -> Any | None: ...

    def get_light_client_optimistic_update(self) -> Any | None: ...


def _has_supermajority(update: Any) -> bool:
    bits = update.sync_aggregate.sync_committee_bits
    return sum(1 for bit in bits if bit) * 3 > len(bits) * 2


def _check_propagation_time(context: GossipContext, update: Any, now_ms: int) -> None:
    # The update may only travel once the block carrying its sync aggregate
    # (at `signature_slot`) had the sync message due time to reach peers.
    spec = context.spec
    due_ms = int(spec.SYNC_MESSAGE_DUE_BPS) * int(spec.SLOT_DURATION_MS) // BASIS_POINTS
    earliest_ms = context.clock.slot_start_ms(int(update.signature_slot)) + due_ms
    ignore_unless(
        now_ms + context.clock.disparity_ms >= earliest_ms,
        "update received before its signature slot's block could propagate",
    )


def _check_matches_local(update: Any, local: Any | None, kind: str) -> None:
    ignore_unless(local is not None, f"no locally computed {kind}")
    ignore_unless(
        type(local) is type(update) and local.hash_tree_root() == update.hash_tree_root(),
        f"{kind} differs from the locally computed one",
    )


def validate_light_client_finality_update(
    context: GossipContext, update: Any, now_ms: int, source: LightClientDataSource | None
) -> None:
    """Apply the `light_client_finality_update` rules of a full node."""
    seen = context.seen
    finalized_slot = int(update.finalized_header.beacon.slot)
    supermajority = _has_supermajority(update)
    newer = finalized_slot > seen.light_client_finality_slot
    newly_supermajority = (
        finalized_slot == seen.light_client_finality_slot
        and supermajority
        and not seen.light_client_finality_supermajority
    )
    ignore_unless(newer or newly_supermajority, "finality update is not newer than one forwarded")
    _check_propagation_time(context, update, now_ms)
    local = None if source is None else source.get_light_client_finality_update()
    _check_matches_local(update, local, "finality update")

    seen.light_client_finality_slot = finalized_slot
    seen.light_client_finality_supermajority = supermajority


def validate_light_client_optimistic_update(
    context: GossipContext, update: Any, now_ms: int, source: LightClientDataSource | None
) -> None:
    """Apply the `light_client_optimistic_update` rules of a full node."""
    seen = context.seen
    attested_slot = int(update.attested_header.beacon.slot)
    ignore_unless(
        attested_slot > seen.light_client_optimistic_slot,
        "optimistic update is not newer than one forwarded",
    )
    _check_propagation_time(context, update, now_ms)
    local = None if source is None else source.get_light_client_optimistic_update()
    _check_matches_local(update, local, "optimistic update")

    seen.light_client_optimistic_slot = attested_slot
