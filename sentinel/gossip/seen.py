"""The seen-caches gossip validation consults to drop duplicates.

Each cache is keyed as the p2p spec's "first valid message for ..." rules
read. Entries are added only after a message passed every rule, and
`prune` drops entries for slots and epochs whose messages are ignored anyway.
"""

from dataclasses import dataclass, field
from typing import Any

BitsKey = tuple[bool, ...]


@dataclass
class SeenCache:
    """Messages that passed validation, by the keys of the duplicate rules."""

    # (slot, proposer_index) of accepted blocks
    proposer_slots: set[tuple[int, int]] = field(default_factory=set)
    # (target_epoch, aggregator_index) of accepted aggregates
    aggregator_epochs: set[tuple[int, int]] = field(default_factory=set)
    # (target_epoch, data_root, committee_index) -> aggregation bits of accepted aggregates;
    # the data root fixes the epoch, which is in the key only for pruning
    aggregate_data_roots: dict[tuple[int, bytes, int], set[BitsKey]] = field(default_factory=dict)
    # (target_epoch, validator_index) of accepted unaggregated attestations
    attestation_validator_epochs: set[tuple[int, int]] = field(default_factory=set)
    voluntary_exit_indices: set[int] = field(default_factory=set)
    proposer_slashing_indices: set[int] = field(default_factory=set)
    attester_slashing_indices: set[int] = field(default_factory=set)
    bls_to_execution_change_indices: set[int] = field(default_factory=set)
    # (slot, aggregator_index, subcommittee_index) of accepted contributions
    sync_contribution_aggregator_slots: set[tuple[int, int, int]] = field(default_factory=set)
    # (slot, block_root, subcommittee_index) -> aggregation bits of accepted contributions
    sync_contribution_data: dict[tuple[int, bytes, int], set[BitsKey]] = field(default_factory=dict)
    # (slot, validator_index, subnet_id) of accepted sync committee messages
    sync_message_validator_slots: set[tuple[int, int, int]] = field(default_factory=set)
    # (slot, proposer_index, index) of accepted blob and data column sidecars
    blob_sidecar_tuples: set[tuple[int, int, int]] = field(default_factory=set)
    data_column_sidecar_tuples: set[tuple[int, int, int]] = field(default_factory=set)
    # block root -> validated PartialDataColumnHeader
    partial_data_column_headers: dict[bytes, Any] = field(default_factory=dict)
    # slot of each partial header, so pruning does not decode headers
    _partial_header_slots: dict[bytes, int] = field(default_factory=dict)
    # the newest light client updates forwarded: finalized slot (and whether its
    # sync aggregate had a supermajority), and attested slot of optimistic updates
    light_client_finality_slot: int = -1
    light_client_finality_supermajority: bool = False
    light_client_optimistic_slot: int = -1

    def add_partial_header(self, block_root: bytes, header: Any) -> None:
        self.partial_data_column_headers[block_root] = header
        self._partial_header_slots[block_root] = int(header.signed_block_header.message.slot)

    def prune(self, finalized_slot: int, oldest_slot: int, oldest_epoch: int) -> None:
        """Drop entries that no message can match any more.

        Blocks and sidecars at or before `finalized_slot` are ignored by the
        finality rule, so their entries go. Sync committee entries before
        `oldest_slot` and attestation entries before `oldest_epoch` go too, as
        the time rules ignore such messages. The validator-index sets (exits,
        slashings, BLS changes) are kept: their rules hold for the lifetime of
        the validator, and they grow by at most one entry per validator.
        """
        self.proposer_slots = {key for key in self.proposer_slots if key[0] > finalized_slot}
        self.blob_sidecar_tuples = {
            key for key in self.blob_sidecar_tuples if key[0] > finalized_slot
        }
        self.data_column_sidecar_tuples = {
            key for key in self.data_column_sidecar_tuples if key[0] > finalized_slot
        }
        stale = [
            root for root, slot in self._partial_header_slots.items() if slot <= finalized_slot
        ]
        for root in stale:
            del self._partial_header_slots[root]
            self.partial_data_column_headers.pop(root, None)

        self.sync_contribution_aggregator_slots = {
            key for key in self.sync_contribution_aggregator_slots if key[0] >= oldest_slot
        }
        self.sync_contribution_data = {
            key: bits for key, bits in self.sync_contribution_data.items() if key[0] >= oldest_slot
        }
        self.sync_message_validator_slots = {
            key for key in self.sync_message_validator_slots if key[0] >= oldest_slot
        }

        self.aggregator_epochs = {key for key in self.aggregator_epochs if key[0] >= oldest_epoch}
        self.attestation_validator_epochs = {
            key for key in self.attestation_validator_epochs if key[0] >= oldest_epoch
        }
        self.aggregate_data_roots = {
            key: bits for key, bits in self.aggregate_data_roots.items() if key[0] >= oldest_epoch
        }


def is_non_strict_superset(seen_bits: set[BitsKey], new_bits: BitsKey) -> bool:
    """Tell whether some bitfield in `seen_bits` has every bit of `new_bits` set."""
    for prior in seen_bits:
        if len(prior) == len(new_bits) and all(
            p or not n for p, n in zip(prior, new_bits, strict=True)
        ):
            return True
    return False
