"""Altair SSZ containers: sync committees, participation flags, light client."""

from typing import Any

from caplin.config.constants import (
    CURRENT_SYNC_COMMITTEE_GINDEX,
    FINALIZED_ROOT_GINDEX,
    JUSTIFICATION_BITS_LENGTH,
    NEXT_SYNC_COMMITTEE_GINDEX,
    SYNC_COMMITTEE_SUBNET_COUNT,
)
from caplin.types.basic import (
    Bitvector,
    BLSPubkey,
    BLSSignature,
    Bytes32,
    Container,
    Gwei,
    List,
    ParticipationFlags,
    Root,
    Slot,
    ValidatorIndex,
    Vector,
    extend,
    uint64,
)
from caplin.types.phase0 import block_types


def floorlog2(value: int) -> int:
    """Return floor(log2(value)): the depth of a generalized index, so its branch length."""
    return value.bit_length() - 1


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the altair containers for preset `p` on top of phase0's `prev`."""
    Fork = prev["Fork"]
    BeaconBlockHeader = prev["BeaconBlockHeader"]
    Checkpoint = prev["Checkpoint"]
    Eth1Data = prev["Eth1Data"]
    Validator = prev["Validator"]

    class SyncAggregate(Container):
        sync_committee_bits: Bitvector[p.SYNC_COMMITTEE_SIZE]
        sync_committee_signature: BLSSignature

    class SyncCommittee(Container):
        pubkeys: Vector[BLSPubkey, p.SYNC_COMMITTEE_SIZE]
        aggregate_pubkey: BLSPubkey

    class SyncCommitteeMessage(Container):
        slot: Slot
        beacon_block_root: Root
        validator_index: ValidatorIndex
        signature: BLSSignature

    class SyncCommitteeContribution(Container):
        slot: Slot
        beacon_block_root: Root
        subcommittee_index: uint64
        aggregation_bits: Bitvector[p.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT]
        signature: BLSSignature

    class ContributionAndProof(Container):
        aggregator_index: ValidatorIndex
        contribution: SyncCommitteeContribution
        selection_proof: BLSSignature

    class SignedContributionAndProof(Container):
        message: ContributionAndProof
        signature: BLSSignature

    class SyncAggregatorSelectionData(Container):
        slot: Slot
        subcommittee_index: uint64

    BeaconBlockBody = extend(prev["BeaconBlockBody"], sync_aggregate=SyncAggregate)

    class BeaconState(Container):
        genesis_time: uint64
        genesis_validators_root: Root
        slot: Slot
        fork: Fork  # type: ignore[valid-type]
        latest_block_header: BeaconBlockHeader  # type: ignore[valid-type]
        block_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]
        state_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]
        historical_roots: List[Root, p.HISTORICAL_ROOTS_LIMIT]
        eth1_data: Eth1Data  # type: ignore[valid-type]
        eth1_data_votes: List[Eth1Data, p.EPOCHS_PER_ETH1_VOTING_PERIOD * p.SLOTS_PER_EPOCH]
        eth1_deposit_index: uint64
        validators: List[Validator, p.VALIDATOR_REGISTRY_LIMIT]
        balances: List[Gwei, p.VALIDATOR_REGISTRY_LIMIT]
        randao_mixes: Vector[Bytes32, p.EPOCHS_PER_HISTORICAL_VECTOR]
        slashings: Vector[Gwei, p.EPOCHS_PER_SLASHINGS_VECTOR]
        previous_epoch_participation: List[ParticipationFlags, p.VALIDATOR_REGISTRY_LIMIT]
        current_epoch_participation: List[ParticipationFlags, p.VALIDATOR_REGISTRY_LIMIT]
        justification_bits: Bitvector[JUSTIFICATION_BITS_LENGTH]
        previous_justified_checkpoint: Checkpoint  # type: ignore[valid-type]
        current_justified_checkpoint: Checkpoint  # type: ignore[valid-type]
        finalized_checkpoint: Checkpoint  # type: ignore[valid-type]
        inactivity_scores: List[uint64, p.VALIDATOR_REGISTRY_LIMIT]
        current_sync_committee: SyncCommittee
        next_sync_committee: SyncCommittee

    class LightClientHeader(Container):
        beacon: BeaconBlockHeader  # type: ignore[valid-type]

    types = {name: value for name, value in locals().items() if isinstance(value, type)}
    types.update(block_types(BeaconBlockBody))
    types.update(light_client_types(LightClientHeader, SyncCommittee, SyncAggregate))
    return types


def light_client_types(
    header_type: type,
    sync_committee_type: type,
    sync_aggregate_type: type,
    current_sync_committee_gindex: int = CURRENT_SYNC_COMMITTEE_GINDEX,
    next_sync_committee_gindex: int = NEXT_SYNC_COMMITTEE_GINDEX,
    finalized_root_gindex: int = FINALIZED_ROOT_GINDEX,
) -> dict[str, type]:
    """Define the light-client containers around `header_type`, with branches sized by gindex."""
    CurrentSyncCommitteeBranch = Vector[Bytes32, floorlog2(current_sync_committee_gindex)]
    NextSyncCommitteeBranch = Vector[Bytes32, floorlog2(next_sync_committee_gindex)]
    FinalityBranch = Vector[Bytes32, floorlog2(finalized_root_gindex)]

    class LightClientBootstrap(Container):
        header: header_type  # type: ignore[valid-type]
        current_sync_committee: sync_committee_type  # type: ignore[valid-type]
        current_sync_committee_branch: CurrentSyncCommitteeBranch  # type: ignore[valid-type]

    class LightClientUpdate(Container):
        attested_header: header_type  # type: ignore[valid-type]
        next_sync_committee: sync_committee_type  # type: ignore[valid-type]
        next_sync_committee_branch: NextSyncCommitteeBranch  # type: ignore[valid-type]
        finalized_header: header_type  # type: ignore[valid-type]
        finality_branch: FinalityBranch  # type: ignore[valid-type]
        sync_aggregate: sync_aggregate_type  # type: ignore[valid-type]
        signature_slot: Slot

    class LightClientFinalityUpdate(Container):
        attested_header: header_type  # type: ignore[valid-type]
        finalized_header: header_type  # type: ignore[valid-type]
        finality_branch: FinalityBranch  # type: ignore[valid-type]
        sync_aggregate: sync_aggregate_type  # type: ignore[valid-type]
        signature_slot: Slot

    class LightClientOptimisticUpdate(Container):
        attested_header: header_type  # type: ignore[valid-type]
        sync_aggregate: sync_aggregate_type  # type: ignore[valid-type]
        signature_slot: Slot

    return {
        "LightClientHeader": header_type,
        "LightClientBootstrap": LightClientBootstrap,
        "LightClientUpdate": LightClientUpdate,
        "LightClientFinalityUpdate": LightClientFinalityUpdate,
        "LightClientOptimisticUpdate": LightClientOptimisticUpdate,
    }
