"""Phase0 SSZ containers, built for one preset."""

from typing import Any

from caplin.config.constants import DEPOSIT_CONTRACT_TREE_DEPTH, JUSTIFICATION_BITS_LENGTH
from caplin.types.basic import (
    Bitlist,
    Bitvector,
    BLSPubkey,
    BLSSignature,
    Bytes32,
    CommitteeIndex,
    Container,
    Domain,
    Epoch,
    Gwei,
    Hash32,
    List,
    Root,
    Slot,
    ValidatorIndex,
    Vector,
    Version,
    boolean,
    container,
    uint64,
)


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the phase0 containers for preset `p` (`prev` is empty for the first fork)."""

    class Fork(Container):
        previous_version: Version
        current_version: Version
        epoch: Epoch

    class ForkData(Container):
        current_version: Version
        genesis_validators_root: Root

    class Checkpoint(Container):
        epoch: Epoch
        root: Root

    class Validator(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Bytes32
        effective_balance: Gwei
        slashed: boolean
        activation_eligibility_epoch: Epoch
        activation_epoch: Epoch
        exit_epoch: Epoch
        withdrawable_epoch: Epoch

    class AttestationData(Container):
        slot: Slot
        index: CommitteeIndex
        beacon_block_root: Root
        source: Checkpoint
        target: Checkpoint

    class IndexedAttestation(Container):
        attesting_indices: List[ValidatorIndex, p.MAX_VALIDATORS_PER_COMMITTEE]
        data: AttestationData
        signature: BLSSignature

    class PendingAttestation(Container):
        aggregation_bits: Bitlist[p.MAX_VALIDATORS_PER_COMMITTEE]
        data: AttestationData
        inclusion_delay: Slot
        proposer_index: ValidatorIndex

    class Eth1Data(Container):
        deposit_root: Root
        deposit_count: uint64
        block_hash: Hash32

    class HistoricalBatch(Container):
        block_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]
        state_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]

    class DepositMessage(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Bytes32
        amount: Gwei

    class DepositData(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Bytes32
        amount: Gwei
        signature: BLSSignature

    class BeaconBlockHeader(Container):
        slot: Slot
        proposer_index: ValidatorIndex
        parent_root: Root
        state_root: Root
        body_root: Root

    class SigningData(Container):
        object_root: Root
        domain: Domain

    class SignedBeaconBlockHeader(Container):
        message: BeaconBlockHeader
        signature: BLSSignature

    class ProposerSlashing(Container):
        signed_header_1: SignedBeaconBlockHeader
        signed_header_2: SignedBeaconBlockHeader

    class AttesterSlashing(Container):
        attestation_1: IndexedAttestation
        attestation_2: IndexedAttestation

    class Attestation(Container):
        aggregation_bits: Bitlist[p.MAX_VALIDATORS_PER_COMMITTEE]
        data: AttestationData
        signature: BLSSignature

    class Deposit(Container):
        proof: Vector[Bytes32, DEPOSIT_CONTRACT_TREE_DEPTH + 1]
        data: DepositData

    class VoluntaryExit(Container):
        epoch: Epoch
        validator_index: ValidatorIndex

    class SignedVoluntaryExit(Container):
        message: VoluntaryExit
        signature: BLSSignature

    class Eth1Block(Container):
        timestamp: uint64
        deposit_root: Root
        deposit_count: uint64

    class AggregateAndProof(Container):
        aggregator_index: ValidatorIndex
        aggregate: Attestation
        selection_proof: BLSSignature

    class SignedAggregateAndProof(Container):
        message: AggregateAndProof
        signature: BLSSignature

    class BeaconBlockBody(Container):
        randao_reveal: BLSSignature
        eth1_data: Eth1Data
        graffiti: Bytes32
        proposer_slashings: List[ProposerSlashing, p.MAX_PROPOSER_SLASHINGS]
        attester_slashings: List[AttesterSlashing, p.MAX_ATTESTER_SLASHINGS]
        attestations: List[Attestation, p.MAX_ATTESTATIONS]
        deposits: List[Deposit, p.MAX_DEPOSITS]
        voluntary_exits: List[SignedVoluntaryExit, p.MAX_VOLUNTARY_EXITS]

    class BeaconState(Container):
        genesis_time: uint64
        genesis_validators_root: Root
        slot: Slot
        fork: Fork
        latest_block_header: BeaconBlockHeader
        block_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]
        state_roots: Vector[Root, p.SLOTS_PER_HISTORICAL_ROOT]
        historical_roots: List[Root, p.HISTORICAL_ROOTS_LIMIT]
        eth1_data: Eth1Data
        eth1_data_votes: List[Eth1Data, p.EPOCHS_PER_ETH1_VOTING_PERIOD * p.SLOTS_PER_EPOCH]
        eth1_deposit_index: uint64
        validators: List[Validator, p.VALIDATOR_REGISTRY_LIMIT]
        balances: List[Gwei, p.VALIDATOR_REGISTRY_LIMIT]
        randao_mixes: Vector[Bytes32, p.EPOCHS_PER_HISTORICAL_VECTOR]
        slashings: Vector[Gwei, p.EPOCHS_PER_SLASHINGS_VECTOR]
        previous_epoch_attestations: List[
            PendingAttestation, p.MAX_ATTESTATIONS * p.SLOTS_PER_EPOCH
        ]
        current_epoch_attestations: List[PendingAttestation, p.MAX_ATTESTATIONS * p.SLOTS_PER_EPOCH]
        justification_bits: Bitvector[JUSTIFICATION_BITS_LENGTH]
        previous_justified_checkpoint: Checkpoint
        current_justified_checkpoint: Checkpoint
        finalized_checkpoint: Checkpoint

    types = {name: value for name, value in locals().items() if isinstance(value, type)}
    types.update(block_types(BeaconBlockBody))
    return types


def block_types(body_type: type, name_prefix: str = "") -> dict[str, type]:
    """Define BeaconBlock and SignedBeaconBlock (or the `Blinded` pair) around `body_type`."""
    block = container(
        f"{name_prefix}BeaconBlock",
        {
            "slot": Slot,
            "proposer_index": ValidatorIndex,
            "parent_root": Root,
            "state_root": Root,
            "body": body_type,
        },
    )
    signed = container(
        f"Signed{name_prefix}BeaconBlock", {"message": block, "signature": BLSSignature}
    )
    return {block.__name__: block, signed.__name__: signed}
