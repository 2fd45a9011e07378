"""Block production: a `SignedBeaconBlock` of any fork on a state advanced to the slot.

The execution payload comes from the embedded engine's builder, from its transaction pool.
The builder's execution is stored at once (`import_built`), so importing the block does not
run the payload a second time.
"""

from dataclasses import dataclass, field
from typing import Any

from caplin.blobs import build_sidecars
from caplin.config.constants import DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO
from caplin.config.forks import Fork
from caplin.transition.block import process_block
from caplin.transition.block.withdrawals import get_expected_withdrawals
from caplin.transition.engine import TrustingEngine
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    compute_time_at_slot,
    get_current_epoch,
    get_domain,
    get_randao_mix,
    is_merge_transition_complete,
)
from caplin.transition.signatures import SignatureBatch
from caplin.validator.keys import ValidatorKey
from caplin.validator.slashing_protection import SlashingProtection
from execution import build_payload
from execution.payload import Withdrawal, execution_requests_to_ssz, payload_to_ssz

ZERO_ROOT = b"\x00" * 32
GRAFFITI = b"caplin".ljust(32, b"\x00")


@dataclass(frozen=True)
class ProducedBlock:
    """A signed block with its post-state and the signatures of its contents, not verified."""

    signed_block: Any
    post_state: Any
    sigs: SignatureBatch
    # The blob sidecars (deneb, electra) or data column sidecars (fulu) of the block.
    sidecars: list[Any] = field(default_factory=list)
    # The payload's `BlobsBundle` (blobs, commitments and proofs), or None before bellatrix.
    blobs_bundle: Any = None


def uint64_root(value: int) -> bytes:
    """Return the hash tree root of a uint64 (its little-endian bytes, zero padded)."""
    return int(value).to_bytes(8, "little") + b"\x00" * 24


def randao_reveal(spec: Any, state: Any, slot: int, key: ValidatorKey) -> bytes:
    epoch = compute_epoch_at_slot(spec, slot)
    domain = get_domain(spec, state, DOMAIN_RANDAO, epoch)
    return key.sign(compute_signing_root(spec, uint64_root(epoch), domain))


def produce_block(
    spec: Any,
    pre_state: Any,
    parent_root: bytes,
    proposer_index: int,
    key: ValidatorKey,
    *,
    attestations: list[Any],
    sync_aggregate: Any = None,
    engine: Any = None,
    txpool: Any = None,
    fee_recipient: bytes = b"\x00" * 20,
    protection: SlashingProtection | None = None,
    max_blobs: int | None = None,
    build_blob_sidecars: bool = True,
) -> Any:
    """Build and sign a block for `pre_state.slot` on `parent_root`; return it as a
    `ProducedBlock`.

    `max_blobs` caps the blob transactions taken from the pool (None: the fork's limit).
    The block's blob or data column sidecars come with it in `ProducedBlock.sidecars`, unless
    `build_blob_sidecars` is False (a block that an external validator signs, so its sidecars
    can only be built once it is signed).

    `pre_state` is the parent's post-state advanced to the block's slot. `engine` (an
    `EmbeddedEngine`) builds the payload from bellatrix on; `sync_aggregate` is needed from
    altair. The block is recorded in `protection` before it is signed; without one it is
    signed unchecked, which only tests that build competing blocks on purpose should do.
    Raises ExecutionError when the payload cannot be built, BlockProcessingError when the
    block would be invalid (a bug in what the pools provided), and SlashableSigningError
    when `protection` rejects the block.
    """
    slot = int(pre_state.slot)
    fork = spec.fork_of(pre_state)
    types = spec.types(fork)
    body: dict[str, Any] = {
        "randao_reveal": randao_reveal(spec, pre_state, slot, key),
        "eth1_data": pre_state.eth1_data,
        "graffiti": GRAFFITI,
        "attestations": attestations,
    }
    if fork >= Fork.ALTAIR:
        body["sync_aggregate"] = sync_aggregate
    built = None
    if fork >= Fork.BELLATRIX:
        built = _build_payload(
            spec, pre_state, parent_root, engine, txpool, fee_recipient, max_blobs
        )
        if built is not None:
            engine.import_built(built, set_head=False)
            body["execution_payload"] = payload_to_ssz(
                built.request.payload, types.ExecutionPayload
            )
            if fork >= Fork.DENEB:
                body["blob_kzg_commitments"] = list(built.blobs_bundle.commitments)
            if fork >= Fork.ELECTRA:
                body["execution_requests"] = execution_requests_to_ssz(
                    built.request.execution_requests, types.ExecutionRequests
                )
    block = types.BeaconBlock(
        slot=slot,
        proposer_index=proposer_index,
        parent_root=parent_root,
        state_root=ZERO_ROOT,
        body=types.BeaconBlockBody(**body),
    )

    post_state = pre_state.copy()
    sigs = SignatureBatch()
    process_block(spec, post_state, block, sigs, TrustingEngine())
    block.state_root = post_state.hash_tree_root()
    domain = get_domain(spec, pre_state, DOMAIN_BEACON_PROPOSER)
    signing_root = compute_signing_root(spec, block, domain)
    if protection is not None:
        protection.check_and_record_block(key.pubkey, slot, signing_root)
    signature = key.sign(signing_root)
    signed_block = types.SignedBeaconBlock(message=block, signature=signature)
    sidecars: list[Any] = []
    bundle = None if built is None else built.blobs_bundle
    if build_blob_sidecars and bundle is not None and bundle.blobs:
        sidecars = build_sidecars(
            spec, signed_block, bundle.blobs, bundle.proofs, bundle.cell_proofs
        )
    return ProducedBlock(signed_block, post_state, sigs, sidecars, bundle)


def _build_payload(
    spec: Any,
    state: Any,
    parent_root: bytes,
    engine: Any,
    txpool: Any,
    fee_recipient: bytes,
    max_blobs: int | None = None,
) -> Any:
    """Build the payload of a block on `state`; None for a bellatrix block before the merge
    when no terminal block is configured."""
    fork = spec.fork_of(state)
    if is_merge_transition_complete(spec, state):
        parent_hash = bytes(state.latest_execution_payload_header.block_hash)
    else:
        # The merge transition block builds on the configured terminal block.
        parent_hash = bytes(spec.TERMINAL_BLOCK_HASH)
        if parent_hash == ZERO_ROOT or engine is None:
            return None
    withdrawals: list[Withdrawal] = []
    if fork >= Fork.CAPELLA:
        expected = get_expected_withdrawals(spec, state).withdrawals
        withdrawals = [
            Withdrawal(int(w.index), int(w.validator_index), bytes(w.address), int(w.amount))
            for w in expected
        ]
    return build_payload(
        engine,
        txpool,
        parent_hash=parent_hash,
        timestamp=compute_time_at_slot(spec, int(state.genesis_time), int(state.slot)),
        fee_recipient=fee_recipient,
        prev_randao=bytes(get_randao_mix(spec, state, get_current_epoch(spec, state))),
        # The parent beacon root reaches the execution layer from deneb (EIP-4788).
        parent_beacon_block_root=parent_root if fork >= Fork.DENEB else ZERO_ROOT,
        withdrawals=withdrawals,
        max_blobs=(
            spec.max_blobs_per_block(get_current_epoch(spec, state))
            if max_blobs is None
            else max_blobs
        ),
    )
