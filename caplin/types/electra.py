"""Electra SSZ containers: execution requests, pending queues, committee-bit attestations."""

from typing import Any

from caplin.config.constants import (
    CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    FINALIZED_ROOT_GINDEX_ELECTRA,
    NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
)
from caplin.types.altair import light_client_types
from caplin.types.basic import (
    Bitlist,
    Bitvector,
    BLSPubkey,
    BLSSignature,
    Bytes32,
    CommitteeIndex,
    Container,
    Epoch,
    ExecutionAddress,
    Gwei,
    List,
    Slot,
    ValidatorIndex,
    container,
    copy_of,
    extend,
    uint64,
)
from caplin.types.bellatrix import blinded_types
from caplin.types.capella import (
    body_with_payload,
    extend_request,
    light_client_header,
    state_with_header,
)
from caplin.types.phase0 import block_types


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the electra containers for preset `p` on top of deneb's `prev`."""
    AttestationData = prev["AttestationData"]

    class DepositRequest(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Bytes32
        amount: Gwei
        signature: BLSSignature
        index: uint64

    class WithdrawalRequest(Container):
        source_address: ExecutionAddress
        validator_pubkey: BLSPubkey
        amount: Gwei

    class ConsolidationRequest(Container):
        source_address: ExecutionAddress
        source_pubkey: BLSPubkey
        target_pubkey: BLSPubkey

    class ExecutionRequests(Container):
        deposits: List[DepositRequest, p.MAX_DEPOSIT_REQUESTS_PER_PAYLOAD]
        withdrawals: List[WithdrawalRequest, p.MAX_WITHDRAWAL_REQUESTS_PER_PAYLOAD]
        consolidations: List[ConsolidationRequest, p.MAX_CONSOLIDATION_REQUESTS_PER_PAYLOAD]

    class PendingDeposit(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Bytes32
        amount: Gwei
        signature: BLSSignature
        slot: Slot

    class PendingPartialWithdrawal(Container):
        validator_index: ValidatorIndex
        amount: Gwei
        withdrawable_epoch: Epoch

    class PendingConsolidation(Container):
        source_index: ValidatorIndex
        target_index: ValidatorIndex

    # EIP-7549: one aggregate spans every committee of the slot.
    class Attestation(Container):
        aggregation_bits: Bitlist[p.MAX_VALIDATORS_PER_COMMITTEE * p.MAX_COMMITTEES_PER_SLOT]
        data: AttestationData  # type: ignore[valid-type]
        signature: BLSSignature
        committee_bits: Bitvector[p.MAX_COMMITTEES_PER_SLOT]

    class IndexedAttestation(Container):
        attesting_indices: List[
            ValidatorIndex, p.MAX_VALIDATORS_PER_COMMITTEE * p.MAX_COMMITTEES_PER_SLOT
        ]
        data: AttestationData  # type: ignore[valid-type]
        signature: BLSSignature

    class AttesterSlashing(Container):
        attestation_1: IndexedAttestation
        attestation_2: IndexedAttestation

    class SingleAttestation(Container):
        committee_index: CommitteeIndex
        attester_index: ValidatorIndex
        data: AttestationData  # type: ignore[valid-type]
        signature: BLSSignature

    class AggregateAndProof(Container):
        aggregator_index: ValidatorIndex
        aggregate: Attestation
        selection_proof: BLSSignature

    class SignedAggregateAndProof(Container):
        message: AggregateAndProof
        signature: BLSSignature

    payload = copy_of(prev["ExecutionPayload"])
    header = copy_of(prev["ExecutionPayloadHeader"])

    body_fields = dict(body_with_payload(prev["BeaconBlockBody"], payload).fields())
    body_fields["attester_slashings"] = List[AttesterSlashing, p.MAX_ATTESTER_SLASHINGS_ELECTRA]
    body_fields["attestations"] = List[Attestation, p.MAX_ATTESTATIONS_ELECTRA]
    body_fields["execution_requests"] = ExecutionRequests
    body = container("BeaconBlockBody", body_fields)

    state = extend(
        state_with_header(prev["BeaconState"], header),
        deposit_requests_start_index=uint64,
        deposit_balance_to_consume=Gwei,
        exit_balance_to_consume=Gwei,
        earliest_exit_epoch=Epoch,
        consolidation_balance_to_consume=Gwei,
        earliest_consolidation_epoch=Epoch,
        pending_deposits=List[PendingDeposit, p.PENDING_DEPOSITS_LIMIT],
        pending_partial_withdrawals=List[
            PendingPartialWithdrawal, p.PENDING_PARTIAL_WITHDRAWALS_LIMIT
        ],
        pending_consolidations=List[PendingConsolidation, p.PENDING_CONSOLIDATIONS_LIMIT],
    )
    request = extend_request(
        prev["NewPayloadRequest"], payload, execution_requests=ExecutionRequests
    )

    types = {name: value for name, value in locals().items() if isinstance(value, type)}
    for local in ("payload", "header", "body", "state", "request"):
        del types[local]
    types.update(
        {
            "ExecutionPayload": payload,
            "ExecutionPayloadHeader": header,
            "BeaconBlockBody": body,
            "BeaconState": state,
            "NewPayloadRequest": request,
        }
    )
    types.update(block_types(body))
    types.update(blinded_types(body, header))
    types.update(electra_light_client_types(prev, header))
    return types


def electra_light_client_types(prev: dict[str, type], payload_header: type) -> dict[str, type]:
    """Define the light-client containers with electra's deeper BeaconState branches."""
    return light_client_types(
        light_client_header(prev["BeaconBlockHeader"], payload_header),
        prev["SyncCommittee"],
        prev["SyncAggregate"],
        current_sync_committee_gindex=CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
        next_sync_committee_gindex=NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
        finalized_root_gindex=FINALIZED_ROOT_GINDEX_ELECTRA,
    )
