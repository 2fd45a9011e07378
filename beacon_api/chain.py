"""The interface of the running node that the Beacon API reads from and submits to.

The node implements `ChainReader`; the API never touches the node's internals. Conventions
for every method below:

- Roots, hashes, public keys and signatures are raw `bytes` (32, 48 or 96 bytes), never hex.
- Slots, epochs, indices, balances (Gwei) and times are plain `int`.
- SSZ values (blocks, states, operations) are the remerkleable views of `spec.types(fork)`.
- Lookups return None when the node does not have the object: never stored, pruned, or not
  kept because the node is not an archive node. They raise only on a fault of the node itself,
  such as storage corruption, and the API then responds with status 500.
- Synchronous methods run on the trio loop thread and must return quickly (an in-memory read
  or one key-value lookup). Work that can take long (replaying blocks to build a state,
  validating a submitted block) is behind the `async` methods, which may move it to a worker
  thread.
- Every returned value belongs to the caller afterwards: the node must not mutate a returned
  state or block later (return a `copy()`, which costs O(1) for remerkleable views). The API
  encodes returned states in worker threads.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

from beacon_api.event_bus import EventBus
from caplin.config import ChainSpec
from forkchoice.store import Checkpoint

__all__ = [
    "BlockImportResult",
    "BlockImportStatus",
    "BlockProposal",
    "ChainReader",
    "Checkpoint",
    "ForkChoiceNode",
    "NodeIdentity",
    "PeerInfo",
    "StateId",
    "SyncStatus",
]

StateIdKind = Literal["head", "genesis", "finalized", "justified", "slot", "root"]


@dataclass(frozen=True)
class StateId:
    """A parsed state id of a `/states/{state_id}` route.

    `kind` is one of "head", "genesis", "finalized", "justified", "slot" (`value` is the slot
    as an int) or "root" (`value` is the 32-byte state root). `value` is None for the named ids.
    """

    kind: StateIdKind
    value: int | bytes | None = None


@dataclass(frozen=True)
class SyncStatus:
    """The node's sync progress, as `/eth/v1/node/syncing` reports it.

    `head_slot` is the slot of the fork-choice head and `sync_distance` the number of slots
    between the head and the wall-clock slot. `is_syncing` is True while the node catches up
    (range sync or backfill), `is_optimistic` while the head's payload is not yet verified.
    `el_offline` is True when the execution engine is unreachable.
    """

    head_slot: int
    sync_distance: int
    is_syncing: bool
    is_optimistic: bool = False
    el_offline: bool = False


@dataclass(frozen=True)
class NodeIdentity:
    """The node's network identity for `/eth/v1/node/identity`.

    `peer_id` is the libp2p peer id in base58 text and `enr` the ENR text (`enr:...`). The
    address lists contain multiaddr strings. `seq_number` is the metadata sequence number, and
    `attnets` / `syncnets` are the SSZ bytes of the metadata bitvectors (8 and 1 bytes).
    A node without networking reports empty strings and lists.
    """

    peer_id: str = ""
    enr: str = ""
    p2p_addresses: Sequence[str] = ()
    discovery_addresses: Sequence[str] = ()
    seq_number: int = 0
    attnets: bytes = b"\x00" * 8
    syncnets: bytes = b"\x00"
    custody_group_count: int | None = None


PeerState = Literal["disconnected", "connecting", "connected", "disconnecting"]
PeerDirection = Literal["inbound", "outbound"]


@dataclass(frozen=True)
class PeerInfo:
    """One known peer for `/eth/v1/node/peers`; `last_seen_p2p_address` is a multiaddr or ""."""

    peer_id: str
    enr: str | None
    last_seen_p2p_address: str
    state: PeerState
    direction: PeerDirection


ExecutionValidity = Literal["valid", "invalid", "optimistic"]


@dataclass(frozen=True)
class ForkChoiceNode:
    """One block of the fork-choice tree for `/eth/v1/debug/fork_choice`.

    `weight` is the block's LMD-GHOST weight in Gwei (votes of its subtree plus any proposer
    boost), `validity` the execution status of its payload (pre-merge blocks are "valid"), and
    `execution_block_hash` the payload's block hash (32 zero bytes before the merge).
    `extra_data` contains client-specific fields, rendered as JSON strings.
    """

    slot: int
    block_root: bytes
    parent_root: bytes | None
    justified_epoch: int
    finalized_epoch: int
    weight: int
    validity: ExecutionValidity
    execution_block_hash: bytes
    extra_data: dict[str, str] = field(default_factory=dict)


class BlockImportStatus(Enum):
    """Outcome of a submitted block; the value is the HTTP status of POST /eth/v2/beacon/blocks."""

    # Passed the requested broadcast validation, broadcast, and imported into fork choice.
    IMPORTED = 200
    # Passed broadcast validation and was broadcast, but failed the full import.
    BROADCAST_NOT_IMPORTED = 202
    # Failed broadcast validation, so it was neither broadcast nor imported.
    INVALID = 400


@dataclass(frozen=True)
class BlockImportResult:
    """Result of `ChainReader.submit_block`; `message` gives the reason when not imported."""

    status: BlockImportStatus
    block_root: bytes
    message: str = ""


@dataclass(frozen=True)
class BlockProposal:
    """An unsigned block built by the node for an external validator (`produce_block`).

    `block` is a `BeaconBlock` of the fork of its slot, with its state root filled in.
    `blobs` and `kzg_proofs` go with it from deneb on (empty when the payload has no blob
    transactions). `execution_payload_value` is the fee recipient's payment in Wei (priority
    fees) and `consensus_block_value` the proposer's consensus reward in Gwei.
    """

    block: Any
    execution_payload_value: int = 0
    consensus_block_value: int = 0
    blobs: Sequence[bytes] = ()
    kzg_proofs: Sequence[bytes] = ()


BroadcastValidation = Literal["gossip", "consensus", "consensus_and_equivocation"]


class ChainReader(Protocol):
    """The node, as the Beacon API reads it. The module docstring gives the shared conventions."""

    @property
    def spec(self) -> ChainSpec:
        """The chain's `ChainSpec` (preset, config, fork schedule, SSZ types)."""
        ...

    @property
    def genesis_time(self) -> int:
        """Genesis time in Unix seconds (`state.genesis_time` of the genesis state)."""
        ...

    @property
    def genesis_validators_root(self) -> bytes:
        """The 32-byte `genesis_validators_root` of the chain."""
        ...

    @property
    def events(self) -> EventBus:
        """The bus the node publishes head, block, attestation, finalized_checkpoint and
        chain_reorg events to; the API's `/eth/v1/events` stream subscribes to it."""
        ...

    # Head, checkpoints and blocks.

    def head(self) -> tuple[bytes, int]:
        """Return `(block_root, slot)` of the current fork-choice head block."""
        ...

    def justified_checkpoint(self) -> Checkpoint:
        """Return fork choice's current justified checkpoint (epoch, block root)."""
        ...

    def finalized_checkpoint(self) -> Checkpoint:
        """Return fork choice's finalized checkpoint (epoch, block root).

        At genesis it is epoch 0 with the genesis block root (not the zero root).
        """
        ...

    def block_by_root(self, block_root: bytes) -> Any | None:
        """Return the `SignedBeaconBlock` whose message has root `block_root`, or None.

        Any stored block is returned, canonical or not. For a chain started from genesis the
        genesis block is a `SignedBeaconBlock` with the empty signature (96 zero bytes).
        """
        ...

    def canonical_block_root(self, slot: int) -> bytes | None:
        """Return the root of the block at `slot` on the chain of the current head, or None.

        None when `slot` is later than the head's slot, when the slot has no block on that
        chain (a skipped slot), or when the block was pruned.
        """
        ...

    def child_block_roots(self, parent_root: bytes) -> list[bytes]:
        """Return the roots of every known block whose parent is `parent_root` (maybe empty)."""
        ...

    def is_optimistic(self, block_root: bytes) -> bool:
        """Return True when the block's execution payload has not been verified yet.

        False for unknown roots, pre-merge blocks and blocks whose payload was verified.
        """
        ...

    def sidecars(self, block_root: bytes) -> list[Any]:
        """Return the stored sidecars of block `block_root` in index order (maybe empty).

        They are the `BlobSidecar`s of a deneb or electra block, or the `DataColumnSidecar`s
        the node stores of a fulu block (index = column). The list is empty for an unknown
        block, a block without blobs, and sidecars never received or already pruned.

        Optional: the API treats a reader without this method as one that stores no sidecars.
        Unlike the other synchronous methods it is called from a worker thread, because
        decoding the 128 column sidecars of a block with two blobs took about 40 ms on a
        2-CPU machine, and the time grows with the blob count.
        """
        ...

    # States.

    async def state(self, state_id: StateId) -> Any | None:
        """Return the `BeaconState` that `state_id` names, or None when it is not available.

        - "head": the post-state of the head block.
        - "genesis": the genesis state.
        - "finalized" / "justified": the post-state of the checkpoint's block, advanced
          with `process_slots` to the checkpoint epoch's first slot when that slot is later.
        - "slot": the state of the canonical chain at that slot: the post-state of the block at
          the slot, or, for a skipped slot, the previous block's post-state advanced with
          `process_slots`. None for a slot later than the head slot, or for a slot whose state
          the node does not keep (non-archive nodes keep recent and checkpoint states only).
        - "root": the stored state whose `hash_tree_root` is the given root, canonical or not.

        A node that pruned the requested state may raise `ApiError(404)` instead of returning
        None, with a message that names the oldest slot it keeps and the archive flag.
        """
        ...

    # Fork choice.

    def fork_choice_nodes(self) -> list[ForkChoiceNode]:
        """Return every block of the fork-choice tree (finalized block and its descendants).

        The order is free. A node is a head ("leaf") when no other node has it as parent.
        """
        ...

    # Node and network.

    def identity(self) -> NodeIdentity:
        """Return the node's peer id, ENR, addresses and metadata."""
        ...

    def peers(self) -> list[PeerInfo]:
        """Return every peer the node has seen, connected or not."""
        ...

    def sync_status(self) -> SyncStatus:
        """Return the node's sync progress; `/node/health` returns 206 while it is syncing."""
        ...

    # Operation pools: the objects waiting for inclusion in a block, in the node's pools.

    def pool_attestations(self) -> list[Any]:
        """Return the pooled `Attestation`s of the head's fork (aggregates and single votes)."""
        ...

    def pool_attester_slashings(self) -> list[Any]:
        """Return the pooled `AttesterSlashing`s (electra's type from electra on)."""
        ...

    def pool_proposer_slashings(self) -> list[Any]:
        """Return the pooled `ProposerSlashing`s."""
        ...

    def pool_voluntary_exits(self) -> list[Any]:
        """Return the pooled `SignedVoluntaryExit`s."""
        ...

    def pool_bls_to_execution_changes(self) -> list[Any]:
        """Return the pooled `SignedBLSToExecutionChange`s."""
        ...

    # Submissions. Each validates the object as gossip validation would, adds it to the pool
    # and broadcasts it. Each returns None on success and raises a `caplin.errors.CaplinError`
    # (any subclass) when the object is invalid. The API reports its message in the 400 error
    # body and goes on with the next object of the request.

    async def submit_attestation(self, attestation: Any) -> None:
        """Validate and pool one attestation.

        From electra on it is a `SingleAttestation` (attester_index, committee_index); before
        electra an unaggregated `Attestation` of the fork of its slot.
        """
        ...

    async def submit_attester_slashing(self, slashing: Any) -> None:
        """Validate and pool one `AttesterSlashing` of the fork of the head."""
        ...

    async def submit_proposer_slashing(self, slashing: Any) -> None:
        """Validate and pool one `ProposerSlashing`."""
        ...

    async def submit_voluntary_exit(self, exit: Any) -> None:
        """Validate and pool one `SignedVoluntaryExit`."""
        ...

    async def submit_bls_to_execution_change(self, change: Any) -> None:
        """Validate and pool one `SignedBLSToExecutionChange`."""
        ...

    async def submit_block(
        self,
        signed_block: Any,
        *,
        blobs: Sequence[bytes] = (),
        kzg_proofs: Sequence[bytes] = (),
        broadcast_validation: BroadcastValidation = "gossip",
    ) -> BlockImportResult:
        """Validate, broadcast and import a `SignedBeaconBlock` published by a validator.

        `blobs` and `kzg_proofs` come with deneb and later blocks (one proof per blob before
        fulu, `CELLS_PER_EXT_BLOB` cell proofs per blob from fulu on). `broadcast_validation`
        is the level of checks that must pass before broadcasting. Invalid blocks are reported
        through the returned status, not raised.
        """
        ...

    # Validator duties. Duties themselves are computed by the API from `head_state_at`.

    async def head_state_at(self, slot: int) -> tuple[bytes, Any]:
        """Return `(head block root, head post-state advanced to slot)`.

        `slot` is at least the head slot. The state is the one the node's own validators use
        for duties and attestation data at `slot`.
        """
        ...

    async def produce_block(
        self, slot: int, randao_reveal: bytes, graffiti: bytes, fee_recipient: bytes | None
    ) -> BlockProposal:
        """Build an unsigned block at `slot` on the current head, as the node's own proposer
        would, with the given randao reveal and graffiti.

        `fee_recipient` is the address the validator registered with prepare_beacon_proposer,
        or None for the node's default. The randao reveal is checked by the API before.

        Raises:
            CaplinError: the block cannot be built (no payload, the head is too old).
        """
        ...

    def aggregate_attestation(
        self, slot: int, data_root: bytes, committee_index: int | None
    ) -> Any | None:
        """Return the pooled aggregate `Attestation` with the most votes whose data has root
        `data_root` at `slot`, or None.

        `committee_index` None matches any committee; from electra the returned attestation
        has exactly the one committee bit of `committee_index` set.
        """
        ...

    def sync_committee_contribution(
        self, slot: int, subcommittee_index: int, block_root: bytes
    ) -> Any | None:
        """Return the best pooled `SyncCommitteeContribution` for the arguments, or None."""
        ...

    async def submit_aggregate_and_proof(self, signed_aggregate: Any) -> None:
        """Validate a `SignedAggregateAndProof` (selection proof, aggregator signature and the
        aggregate's signature), then pool, apply to fork choice and broadcast it."""
        ...

    async def submit_contribution_and_proof(self, signed_contribution: Any) -> None:
        """Validate a `SignedContributionAndProof` as gossip validation would, then pool it."""
        ...

    async def submit_sync_committee_message(self, message: Any) -> None:
        """Validate one `SyncCommitteeMessage` (the validator sits in the sync committee of
        its slot, the signature over the block root verifies), then pool it for the
        contributions and sync aggregate of its slot."""
        ...
