"""A `ChainReader` over a small real chain, for the Beacon API tests.

Genesis comes from `initialize_beacon_state_from_eth1` with signed deposits. Blocks are
produced here and imported through the real fork-choice store, which runs the full state
transition with signature checks. Pool submissions are checked with the real operation
processors on a copy of the head state. Validator `i` has secret key `i + 1`.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from remerkleable.basic import uint64

from beacon_api.chain import (
    BlockImportResult,
    BlockImportStatus,
    BlockProposal,
    ForkChoiceNode,
    NodeIdentity,
    PeerInfo,
    StateId,
    SyncStatus,
)
from beacon_api.event_bus import BlockEvent, EventBus, FinalizedCheckpointEvent, HeadEvent
from caplin.blobs import build_sidecars
from caplin.config import ChainSpec, constants
from caplin.config.forks import Fork
from caplin.crypto import bls, kzg
from caplin.errors import BlockProcessingError, CaplinError
from caplin.merkle import compute_merkle_proof, get_generalized_index
from caplin.transition import helpers as h
from caplin.transition.block.attester_slashing import process_attester_slashing
from caplin.transition.block.bls_to_execution_change import process_bls_to_execution_change
from caplin.transition.block.proposer_slashing import process_proposer_slashing
from caplin.transition.block.voluntary_exit import process_voluntary_exit
from caplin.transition.block.withdrawals import get_expected_withdrawals
from caplin.transition.genesis import initialize_beacon_state_from_eth1
from caplin.transition.signatures import SignatureBatch
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition
from caplin.types.basic import List
from forkchoice import Checkpoint, ExecutionStatus, get_forkchoice_store

ETH = 10**9
VALIDATOR_COUNT = 64
GENESIS_TIME = 1_700_000_000
ZERO_ROOT = b"\x00" * 32


def chain_spec(genesis_fork: Fork) -> ChainSpec:
    """Return the minimal preset with every fork up to `genesis_fork` active at epoch 0."""
    config: dict[str, Any] = {"MIN_GENESIS_ACTIVE_VALIDATOR_COUNT": VALIDATOR_COUNT}
    for fork in list(Fork)[1:]:
        config[f"{fork.name}_FORK_EPOCH"] = 0 if fork <= genesis_fork else 2**64 - 1
    return ChainSpec.from_config(config, preset="minimal")


def secret_key(index: int) -> int:
    return index + 1


def make_deposits(spec: ChainSpec, fork: Fork, count: int) -> list[Any]:
    """Return `count` signed 32 ETH deposits with their proofs, one per validator."""
    types = spec.types(fork)
    domain = h.compute_domain(spec, constants.DOMAIN_DEPOSIT, spec.GENESIS_FORK_VERSION, ZERO_ROOT)
    data_list = List[types.DepositData, 2**constants.DEPOSIT_CONTRACT_TREE_DEPTH]()
    deposits = []
    for index in range(count):
        key = secret_key(index)
        pubkey = bls.SkToPk(key)
        # 0x01 credentials so that capella and later forks can sweep withdrawals.
        credentials = b"\x01" + b"\x00" * 11 + index.to_bytes(20, "big")
        message = types.DepositMessage(
            pubkey=pubkey, withdrawal_credentials=credentials, amount=32 * ETH
        )
        data = types.DepositData(
            pubkey=pubkey,
            withdrawal_credentials=credentials,
            amount=32 * ETH,
            signature=bls.Sign(key, h.compute_signing_root(spec, message, domain)),
        )
        data_list.append(data)
        gindex = get_generalized_index(type(data_list), len(data_list) - 1)
        deposits.append(types.Deposit(proof=compute_merkle_proof(data_list, gindex), data=data))
    return deposits


def fake_block_hash(label: bytes) -> bytes:
    return hashlib.sha256(b"beacon-api-test" + label).digest()


class StoredSidecars:
    """The store's `AvailabilitySource`: the sidecars `DevChain` stored for each block."""

    def __init__(self, sidecars: dict[bytes, list[Any]]) -> None:
        self._sidecars = sidecars

    def retrieve_blobs_and_proofs(self, block_root: bytes) -> tuple[list[Any], list[Any]]:
        sidecars = self._sidecars.get(block_root, [])
        return [sidecar.blob for sidecar in sidecars], [sidecar.kzg_proof for sidecar in sidecars]

    def retrieve_column_sidecars(self, block_root: bytes) -> list[Any]:
        return list(self._sidecars.get(block_root, []))


@dataclass
class Pools:
    attestations: list[Any] = field(default_factory=list)
    attester_slashings: list[Any] = field(default_factory=list)
    proposer_slashings: list[Any] = field(default_factory=list)
    voluntary_exits: list[Any] = field(default_factory=list)
    bls_changes: list[Any] = field(default_factory=list)


class DevChain:
    """A chain of real blocks over a real fork-choice store, served as a `ChainReader`."""

    def __init__(self, genesis_fork: Fork = Fork.FULU, validators: int = VALIDATOR_COUNT) -> None:
        self._spec = chain_spec(genesis_fork)
        self.fork = genesis_fork
        self.types = self._spec.types(genesis_fork)

        header = None
        if genesis_fork >= Fork.BELLATRIX:
            header = self.types.ExecutionPayloadHeader(
                block_hash=fake_block_hash(b"genesis"), timestamp=GENESIS_TIME
            )
        genesis = initialize_beacon_state_from_eth1(
            self._spec,
            fake_block_hash(b"eth1"),
            GENESIS_TIME - self._spec.GENESIS_DELAY,
            make_deposits(self._spec, genesis_fork, validators),
            execution_payload_header=header,
            fork=genesis_fork,
        )
        self.genesis_state = genesis

        genesis_block = self.types.BeaconBlock(state_root=genesis.hash_tree_root())
        # Blob or data column sidecars by block root, in index order.
        self.stored_sidecars: dict[bytes, list[Any]] = {}
        self.store = get_forkchoice_store(
            self._spec, genesis, genesis_block, availability=StoredSidecars(self.stored_sidecars)
        )
        self.genesis_root = bytes(genesis_block.hash_tree_root())
        self.signed_blocks: dict[bytes, Any] = {
            self.genesis_root: self.types.SignedBeaconBlock(message=genesis_block)
        }
        self.post_states: dict[bytes, Any] = {self.genesis_root: genesis}
        self.states_by_root: dict[bytes, bytes] = {
            bytes(genesis.hash_tree_root()): self.genesis_root
        }

        self.optimistic: set[bytes] = set()
        self.pools = Pools()
        self._events = EventBus()
        self.syncing = False
        # Validator-route state: fee recipients passed to produce_block, pooled sync
        # contributions by (slot, subcommittee, block root).
        self.fee_recipients: list[bytes | None] = []
        self.contributions: dict[tuple[int, int, bytes], Any] = {}
        self.sync_messages: list[Any] = []
        self._head = self.genesis_root

    # Block production.

    def _sign(self, state: Any, domain_type: bytes, epoch: int, message: Any, index: int) -> bytes:
        domain = h.get_domain(self._spec, state, domain_type, epoch)
        return bls.Sign(secret_key(index), h.compute_signing_root(self._spec, message, domain))

    def attestations_for(self, state: Any, slot: int, block_root: bytes) -> list[Any]:
        """Return fully signed attestations of every committee of `slot` voting `block_root`."""
        spec, types = self._spec, self.types
        epoch = h.compute_epoch_at_slot(spec, slot)
        target_slot = h.compute_start_slot_at_epoch(spec, epoch)
        target_root = block_root if target_slot == slot else h.get_block_root(spec, state, epoch)
        if epoch == h.get_current_epoch(spec, state):
            source = state.current_justified_checkpoint
        else:
            source = state.previous_justified_checkpoint
        attestations = []
        for index in range(h.get_committee_count_per_slot(spec, state, epoch)):
            committee = h.get_beacon_committee(spec, state, slot, index)
            electra = self.fork >= Fork.ELECTRA
            data = types.AttestationData(
                slot=slot,
                index=0 if electra else index,
                beacon_block_root=block_root,
                source=source,
                target=types.Checkpoint(epoch=epoch, root=target_root),
            )
            signature = bls.Aggregate(
                [
                    self._sign(state, constants.DOMAIN_BEACON_ATTESTER, epoch, data, member)
                    for member in committee
                ]
            )
            fields: dict[str, Any] = {
                "aggregation_bits": [True] * len(committee),
                "data": data,
                "signature": signature,
            }
            if electra:
                fields["committee_bits"] = [i == index for i in range(spec.MAX_COMMITTEES_PER_SLOT)]
            attestations.append(types.Attestation(**fields))
        return attestations

    def randao_reveal(self, slot: int) -> bytes:
        """Return the randao reveal of the proposer of `slot` on the head."""
        state = process_slots(self._spec, self.post_states[self._head].copy(), slot)
        proposer = h.get_beacon_proposer_index(self._spec, state)
        epoch = h.compute_epoch_at_slot(self._spec, slot)
        return self._sign(state, constants.DOMAIN_RANDAO, epoch, uint64(epoch), proposer)

    def sign_block(self, block: Any) -> Any:
        """Return `block` signed by its proposer."""
        state = self.post_states[bytes(block.parent_root)]
        epoch = h.compute_epoch_at_slot(self._spec, int(block.slot))
        signature = self._sign(
            state, constants.DOMAIN_BEACON_PROPOSER, epoch, block, int(block.proposer_index)
        )
        return self.types.SignedBeaconBlock(message=block, signature=signature)

    def make_block(
        self,
        slot: int,
        parent_root: bytes | None = None,
        attest: bool = True,
        *,
        randao_reveal: bytes | None = None,
        graffiti: bytes = b"caplin-api-test".ljust(32, b"\x00"),
        blobs: Sequence[bytes] = (),
    ) -> Any:
        """Return a signed block at `slot` on `parent_root` (the head by default).

        From deneb on the block commits to `blobs`. Its payload lists no blob transactions,
        which the consensus checks without an execution engine do not notice.
        """
        spec, types = self._spec, self.types
        parent_root = self._head if parent_root is None else parent_root
        parent_state = self.post_states[parent_root]
        state = process_slots(spec, parent_state.copy(), slot)
        proposer = h.get_beacon_proposer_index(spec, state)
        epoch = h.compute_epoch_at_slot(spec, slot)

        if randao_reveal is None:
            randao_reveal = self._sign(
                state, constants.DOMAIN_RANDAO, epoch, uint64(epoch), proposer
            )
        body: dict[str, Any] = {
            "randao_reveal": randao_reveal,
            "eth1_data": state.eth1_data,
            "graffiti": graffiti,
        }
        parent_slot = int(self.signed_blocks[parent_root].message.slot)
        if attest and parent_slot + 1 == slot and slot > 0:
            # Votes of the previous slot's committees for the parent block.
            body["attestations"] = self.attestations_for(state, slot - 1, parent_root)
        if self.fork >= Fork.ALTAIR:
            body["sync_aggregate"] = types.SyncAggregate(
                sync_committee_signature=constants.G2_POINT_AT_INFINITY
            )
        if self.fork >= Fork.BELLATRIX:
            body["execution_payload"] = self._payload(state, slot)
        if blobs:
            body["blob_kzg_commitments"] = [kzg.blob_to_kzg_commitment(blob) for blob in blobs]
        block = types.BeaconBlock(
            slot=slot,
            proposer_index=proposer,
            parent_root=parent_root,
            body=types.BeaconBlockBody(**body),
        )
        post = state_transition(
            spec,
            parent_state,
            types.SignedBeaconBlock(message=block),
            validate_result=False,
            verify_signatures=False,
        )
        block.state_root = post.hash_tree_root()
        signature = self._sign(post, constants.DOMAIN_BEACON_PROPOSER, epoch, block, proposer)
        return types.SignedBeaconBlock(message=block, signature=signature)

    def _payload(self, state: Any, slot: int) -> Any:
        spec, types = self._spec, self.types
        fields: dict[str, Any] = {
            "parent_hash": state.latest_execution_payload_header.block_hash,
            "prev_randao": h.get_randao_mix(spec, state, h.get_current_epoch(spec, state)),
            "block_number": int(state.latest_execution_payload_header.block_number) + 1,
            "gas_limit": 30_000_000,
            "timestamp": GENESIS_TIME + slot * spec.SECONDS_PER_SLOT,
            "block_hash": fake_block_hash(slot.to_bytes(8, "little")),
        }
        if self.fork >= Fork.CAPELLA:
            fields["withdrawals"] = [
                types.Withdrawal(
                    index=w.index,
                    validator_index=w.validator_index,
                    address=w.address,
                    amount=w.amount,
                )
                for w in get_expected_withdrawals(spec, state).withdrawals
            ]
        return types.ExecutionPayload(**fields)

    def import_block(self, signed_block: Any) -> bytes:
        """Import through fork choice, record the block and publish block and head events."""
        slot = int(signed_block.message.slot)
        self.store.on_tick((GENESIS_TIME + slot * self._spec.SECONDS_PER_SLOT) * 1000)
        finalized_before = self.store.finalized_checkpoint
        root = self.store.import_block(signed_block)
        self.signed_blocks[root] = signed_block
        state = self.store.block_states[root]
        self.post_states[root] = state
        self.states_by_root[bytes(signed_block.message.state_root)] = root
        self._events.publish(BlockEvent(slot=slot, block_root=root))

        head = self.store.get_head()
        if head != self._head:
            self._head = head
            head_block = self.signed_blocks[head].message
            self._events.publish(
                HeadEvent(
                    slot=int(head_block.slot),
                    block_root=head,
                    state_root=bytes(head_block.state_root),
                    epoch_transition=int(head_block.slot) % self._spec.SLOTS_PER_EPOCH == 0,
                    previous_duty_dependent_root=ZERO_ROOT,
                    current_duty_dependent_root=ZERO_ROOT,
                )
            )
        finalized = self.store.finalized_checkpoint
        if finalized != finalized_before:
            self._events.publish(
                FinalizedCheckpointEvent(
                    epoch=finalized.epoch,
                    block_root=finalized.root,
                    state_root=bytes(self.signed_blocks[finalized.root].message.state_root),
                )
            )
        return root

    def extend(self, slots: int, skip: frozenset[int] = frozenset()) -> None:
        """Produce and import a block at each of the next `slots` slots, except `skip`."""
        start = int(self.signed_blocks[self._head].message.slot) + 1
        for slot in range(start, start + slots):
            if slot not in skip:
                self.import_block(self.make_block(slot))

    def add_blob_block(self, blobs: Sequence[bytes]) -> bytes:
        """Import a block carrying `blobs` at the next slot, with its sidecars, and return its root.

        Deneb and electra blocks get one `BlobSidecar` per blob, fulu blocks every
        `DataColumnSidecar`, as a node that custodies all columns stores them.
        """
        slot = int(self.signed_blocks[self._head].message.slot) + 1
        signed_block = self.make_block(slot, blobs=blobs)
        commitments = signed_block.message.body.blob_kzg_commitments
        proofs = []
        if self.fork < Fork.FULU:
            proofs = [
                kzg.compute_blob_kzg_proof(blob, bytes(commitment))
                for blob, commitment in zip(blobs, commitments, strict=True)
            ]
        root = bytes(signed_block.message.hash_tree_root())
        self.stored_sidecars[root] = build_sidecars(self._spec, signed_block, blobs, proofs)
        return self.import_block(signed_block)

    # ChainReader: identity.

    @property
    def spec(self) -> ChainSpec:
        return self._spec

    @property
    def genesis_time(self) -> int:
        return int(self.genesis_state.genesis_time)

    @property
    def genesis_validators_root(self) -> bytes:
        return bytes(self.genesis_state.genesis_validators_root)

    @property
    def events(self) -> EventBus:
        return self._events

    # ChainReader: head and blocks.

    def head(self) -> tuple[bytes, int]:
        return self._head, int(self.signed_blocks[self._head].message.slot)

    def justified_checkpoint(self) -> Checkpoint:
        return self.store.justified_checkpoint

    def finalized_checkpoint(self) -> Checkpoint:
        return self.store.finalized_checkpoint

    def block_by_root(self, block_root: bytes) -> Any | None:
        return self.signed_blocks.get(block_root)

    def canonical_block_root(self, slot: int) -> bytes | None:
        root = self._head
        while True:
            block = self.signed_blocks[root].message
            block_slot = int(block.slot)
            if block_slot == slot:
                return root
            if block_slot < slot or root == self.genesis_root:
                return None
            root = bytes(block.parent_root)

    def child_block_roots(self, parent_root: bytes) -> list[bytes]:
        return [
            root
            for root, block in self.signed_blocks.items()
            if root != self.genesis_root and bytes(block.message.parent_root) == parent_root
        ]

    def is_optimistic(self, block_root: bytes) -> bool:
        return block_root in self.optimistic

    def sidecars(self, block_root: bytes) -> list[Any]:
        return list(self.stored_sidecars.get(block_root, []))

    # ChainReader: states.

    def _canonical_state_at(self, slot: int) -> Any | None:
        head_root, head_slot = self.head()
        if slot > head_slot:
            return None
        for back in range(slot, -1, -1):
            root = self.canonical_block_root(back)
            if root is not None:
                state = self.post_states[root]
                return (
                    process_slots(self._spec, state.copy(), slot) if back < slot else state.copy()
                )
        return None

    async def state(self, state_id: StateId) -> Any | None:
        kind = state_id.kind
        if kind == "head":
            return self.post_states[self._head].copy()
        if kind == "genesis":
            return self.genesis_state.copy()
        if kind in ("finalized", "justified"):
            checkpoint = (
                self.store.finalized_checkpoint
                if kind == "finalized"
                else self.store.justified_checkpoint
            )
            state = self.post_states[checkpoint.root].copy()
            start = h.compute_start_slot_at_epoch(self._spec, checkpoint.epoch)
            return process_slots(self._spec, state, start) if int(state.slot) < start else state
        if kind == "slot":
            assert isinstance(state_id.value, int)
            return self._canonical_state_at(state_id.value)
        assert isinstance(state_id.value, bytes)
        root = self.states_by_root.get(state_id.value)
        return self.post_states[root].copy() if root is not None else None

    # ChainReader: fork choice.

    def fork_choice_nodes(self) -> list[ForkChoiceNode]:
        proto = self.store.proto
        self.store.get_head()
        nodes = []
        for index, root in enumerate(proto.roots):
            parent = proto.parents[index]
            status = proto.statuses[index]
            validity = {
                ExecutionStatus.INVALID: "invalid",
                ExecutionStatus.OPTIMISTIC: "optimistic",
            }.get(status, "valid")
            state = self.post_states[root]
            nodes.append(
                ForkChoiceNode(
                    slot=proto.slots[index],
                    block_root=root,
                    parent_root=proto.roots[parent] if parent >= 0 else None,
                    justified_epoch=proto.justified_epochs[index],
                    finalized_epoch=int(state.finalized_checkpoint.epoch),
                    weight=int(proto.weights[index]),
                    validity=validity,  # type: ignore[arg-type]
                    execution_block_hash=proto.block_hashes[index] or ZERO_ROOT,
                )
            )
        return nodes

    # ChainReader: node and network.

    def identity(self) -> NodeIdentity:
        return NodeIdentity(
            peer_id="16Uiu2HAmTestPeerIdOfTheApiTestChain",
            enr="enr:-test",
            p2p_addresses=["/ip4/127.0.0.1/tcp/4001"],
            discovery_addresses=["/ip4/127.0.0.1/udp/4000"],
            seq_number=1,
        )

    def peers(self) -> list[PeerInfo]:
        return [
            PeerInfo("16Uiu2HAmPeerOne", None, "/ip4/127.0.0.1/tcp/9000", "connected", "inbound"),
            PeerInfo("16Uiu2HAmPeerTwo", "enr:-two", "", "disconnected", "outbound"),
        ]

    def sync_status(self) -> SyncStatus:
        return SyncStatus(head_slot=self.head()[1], sync_distance=0, is_syncing=self.syncing)

    # ChainReader: pools.

    def pool_attestations(self) -> list[Any]:
        return list(self.pools.attestations)

    def pool_attester_slashings(self) -> list[Any]:
        return list(self.pools.attester_slashings)

    def pool_proposer_slashings(self) -> list[Any]:
        return list(self.pools.proposer_slashings)

    def pool_voluntary_exits(self) -> list[Any]:
        return list(self.pools.voluntary_exits)

    def pool_bls_to_execution_changes(self) -> list[Any]:
        return list(self.pools.bls_changes)

    def _check_operation(self, process: Any, operation: Any) -> None:
        """Apply `operation` to a copy of the head state and verify its signatures."""
        state = self.post_states[self._head].copy()
        sigs = SignatureBatch()
        process(self._spec, state, operation, sigs)
        sigs.verify()

    async def submit_attestation(self, attestation: Any) -> None:
        spec = self._spec
        state = self.post_states[self._head]
        if self.fork >= Fork.ELECTRA:
            data = attestation.data
            committee = h.get_beacon_committee(
                spec, state, int(data.slot), int(attestation.committee_index)
            )
            if int(attestation.attester_index) not in committee:
                raise BlockProcessingError(
                    "attestation.attester_index",
                    "attester is not in the committee",
                    attester_index=int(attestation.attester_index),
                )
            indices = [int(attestation.attester_index)]
            position = committee.index(indices[0])
            pooled = self.types.Attestation(
                aggregation_bits=[i == position for i in range(len(committee))],
                data=data,
                signature=attestation.signature,
                committee_bits=[
                    i == int(attestation.committee_index)
                    for i in range(spec.MAX_COMMITTEES_PER_SLOT)
                ],
            )
        else:
            indices = sorted(h.get_attesting_indices(spec, state, attestation))
            pooled = attestation
        indexed = self.types.IndexedAttestation(
            attesting_indices=indices, data=attestation.data, signature=attestation.signature
        )
        sigs = SignatureBatch()
        if not h.is_valid_indexed_attestation(spec, state, indexed, sigs):
            raise BlockProcessingError("attestation", "invalid indexed attestation")
        sigs.verify()
        self.pools.attestations.append(pooled)

    async def submit_attester_slashing(self, slashing: Any) -> None:
        self._check_operation(process_attester_slashing, slashing)
        self.pools.attester_slashings.append(slashing)

    async def submit_proposer_slashing(self, slashing: Any) -> None:
        self._check_operation(process_proposer_slashing, slashing)
        self.pools.proposer_slashings.append(slashing)

    async def submit_voluntary_exit(self, exit: Any) -> None:
        self._check_operation(process_voluntary_exit, exit)
        self.pools.voluntary_exits.append(exit)

    async def submit_bls_to_execution_change(self, change: Any) -> None:
        self._check_operation(process_bls_to_execution_change, change)
        self.pools.bls_changes.append(change)

    async def submit_block(
        self,
        signed_block: Any,
        *,
        blobs: Any = (),
        kzg_proofs: Any = (),
        broadcast_validation: str = "gossip",
    ) -> BlockImportResult:
        root = bytes(signed_block.message.hash_tree_root())
        try:
            self.import_block(signed_block)
        except CaplinError as error:
            return BlockImportResult(BlockImportStatus.INVALID, root, str(error))
        return BlockImportResult(BlockImportStatus.IMPORTED, root)

    # ChainReader: validator duties.

    async def head_state_at(self, slot: int) -> tuple[bytes, Any]:
        state = self.post_states[self._head].copy()
        if int(state.slot) < slot:
            state = process_slots(self._spec, state, slot)
        return self._head, state

    async def produce_block(
        self, slot: int, randao_reveal: bytes, graffiti: bytes, fee_recipient: bytes | None
    ) -> BlockProposal:
        signed = self.make_block(slot, randao_reveal=randao_reveal, graffiti=graffiti)
        self.fee_recipients.append(fee_recipient)
        return BlockProposal(signed.message, execution_payload_value=7, consensus_block_value=3)

    def aggregate_attestation(
        self, slot: int, data_root: bytes, committee_index: int | None
    ) -> Any | None:
        best, best_votes = None, -1
        for attestation in self.pools.attestations:
            data = attestation.data
            if int(data.slot) != slot or bytes(data.hash_tree_root()) != data_root:
                continue
            if committee_index is not None:
                if self.fork >= Fork.ELECTRA:
                    bits = list(attestation.committee_bits)
                    if committee_index >= len(bits) or not bits[committee_index]:
                        continue
                elif int(data.index) != committee_index:
                    continue
            votes = sum(1 for bit in attestation.aggregation_bits if bit)
            if votes > best_votes:
                best, best_votes = attestation, votes
        return best

    def sync_committee_contribution(
        self, slot: int, subcommittee_index: int, block_root: bytes
    ) -> Any | None:
        return self.contributions.get((slot, subcommittee_index, block_root))

    def _check_aggregate(self, attestation: Any) -> None:
        """Verify an aggregate's signature over its attesters on the head state."""
        spec = self._spec
        state = self.post_states[self._head]
        indexed = self.types.IndexedAttestation(
            attesting_indices=sorted(h.get_attesting_indices(spec, state, attestation)),
            data=attestation.data,
            signature=attestation.signature,
        )
        sigs = SignatureBatch()
        if not h.is_valid_indexed_attestation(spec, state, indexed, sigs):
            raise BlockProcessingError("aggregate", "invalid indexed attestation")
        sigs.verify()

    async def submit_aggregate_and_proof(self, signed_aggregate: Any) -> None:
        message = signed_aggregate.message
        self._check_aggregate(message.aggregate)
        self.pools.attestations.append(message.aggregate)

    async def submit_contribution_and_proof(self, signed_contribution: Any) -> None:
        contribution = signed_contribution.message.contribution
        key = (
            int(contribution.slot),
            int(contribution.subcommittee_index),
            bytes(contribution.beacon_block_root),
        )
        self.contributions[key] = contribution

    async def submit_sync_committee_message(self, message: Any) -> None:
        state = self.post_states[self._head]
        validator_index = int(message.validator_index)
        pubkey = bytes(state.validators[validator_index].pubkey)
        if pubkey not in [bytes(key) for key in state.current_sync_committee.pubkeys]:
            raise BlockProcessingError(
                "sync_committee_message", "validator is not in the sync committee"
            )
        domain = h.get_domain(
            self._spec,
            state,
            constants.DOMAIN_SYNC_COMMITTEE,
            h.compute_epoch_at_slot(self._spec, int(message.slot)),
        )
        root = h.compute_signing_root(self._spec, bytes(message.beacon_block_root), domain)
        if not bls.Verify(pubkey, root, bytes(message.signature)):
            raise BlockProcessingError("sync_committee_message", "invalid signature")
        self.sync_messages.append(message)


def make_blob(seed: int) -> bytes:
    """Return a valid blob whose field elements depend on `seed`."""
    # Each 32-byte field element starts with a zero byte, so it is below the BLS modulus.
    return b"".join(b"\x00" + bytes([(seed + i) % 256]) * 31 for i in range(4096))


BLOB_CHAIN_SLOTS = 3


@cache
def blob_chain(fork: Fork) -> DevChain:
    """Return a `fork` chain whose block at slot `BLOB_CHAIN_SLOTS + 1` carries two blobs.

    It is cached because building one takes a few seconds for the KZG proofs and, for fulu,
    the cells of every column. Callers must not extend the chain.
    """
    chain = DevChain(fork)
    chain.extend(BLOB_CHAIN_SLOTS)
    chain.add_blob_block([make_blob(1), make_blob(2)])
    return chain
