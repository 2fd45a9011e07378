"""The node's side of the Beacon API validator namespace (see `beacon_api.chain.ChainReader`).

An external validator client gets the blocks and pools of the node's own validator client:
`produce_unsigned_block` builds a block as `ValidatorClient.propose` does, with the caller's
randao reveal and graffiti and without signing it. Submitted aggregates and sync committee
contributions are checked as gossip validation checks them, then pooled.
"""

from typing import Any

from beacon_api.chain import BlockProposal
from caplin.config.constants import (
    DOMAIN_AGGREGATE_AND_PROOF,
    DOMAIN_BEACON_ATTESTER,
    DOMAIN_CONTRIBUTION_AND_PROOF,
    DOMAIN_SELECTION_PROOF,
    DOMAIN_SYNC_COMMITTEE,
    DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
    SYNC_COMMITTEE_SUBNET_COUNT,
)
from caplin.config.forks import Fork
from caplin.crypto import bls, kzg
from caplin.errors import ApiError
from caplin.node.pools import AttestationPool, committee_attestation
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    get_beacon_committee,
    get_beacon_proposer_index,
    get_domain,
)
from caplin.validator import sync_committee
from caplin.validator.attester import is_aggregator
from caplin.validator.proposer import produce_block, uint64_root


class _RevealKey:
    """A stand-in for the proposer's key: every signature it returns is the given reveal.

    `produce_block` signs twice, the randao reveal and the block. The first is the reveal the
    validator sent; the block signature is thrown away, because the validator signs the block.
    """

    def __init__(self, reveal: bytes) -> None:
        self.reveal = reveal
        self.pubkey = b""

    def sign(self, signing_root: bytes) -> bytes:
        return self.reveal


class _ValueRecordingEngine:
    """The embedded engine, recording the value of the payload the builder stores."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.block_value = 0

    def import_built(self, built: Any, **options: Any) -> bytes:
        self.block_value = int(built.block_value)
        return self._engine.import_built(built, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def _pool_preview(pool: AttestationPool) -> AttestationPool:
    """Return a pool with the same aggregates, so that choosing a block's attestations does
    not mark them included in the node's pool: the caller may never publish the block."""
    preview = AttestationPool()
    with pool._lock:
        preview._aggregates = dict(pool._aggregates)
        preview._included = set(pool._included)
    return preview


def produce_unsigned_block(
    node: Any, slot: int, randao_reveal: bytes, graffiti: bytes, fee_recipient: bytes | None
) -> BlockProposal:
    """Build the node's block for `slot` with the caller's reveal and graffiti, unsigned."""
    validators = node.validators
    chain = node.chain
    spec = chain.spec
    head, state = validators.head_state_at(slot)
    proposer_index = get_beacon_proposer_index(spec, state)
    fork = spec.fork_of(state)

    limit = spec.MAX_ATTESTATIONS_ELECTRA if fork >= Fork.ELECTRA else spec.MAX_ATTESTATIONS
    attestations = _pool_preview(validators.attestations).for_block(spec, state, limit)
    sync_aggregate = None
    if fork >= Fork.ALTAIR:
        sync_aggregate = validators.sync_contributions.sync_aggregate(
            spec, spec.types(fork), slot - 1, head
        )
    engine = None if validators.engine is None else _ValueRecordingEngine(validators.engine)

    produced = produce_block(
        spec,
        state,
        head,
        proposer_index,
        _RevealKey(randao_reveal),  # type: ignore[arg-type]
        attestations=attestations,
        sync_aggregate=sync_aggregate,
        engine=engine,
        txpool=validators.txpool,
        fee_recipient=fee_recipient or validators.fee_recipient,
        # The validator signs the block, and `submit_block` builds the sidecars from the
        # blobs and proofs it sends back with it.
        build_blob_sidecars=False,
    )

    block = produced.signed_block.message
    post_state = produced.post_state
    # The graffiti only changes the body root, which the post-state keeps in its latest
    # block header; the state root follows from that.
    block.body.graffiti = graffiti
    post_state.latest_block_header.body_root = block.body.hash_tree_root()
    block.state_root = post_state.hash_tree_root()
    # The import of the signed block then reuses this post-state, after checking signatures.
    chain.offer_produced(bytes(block.hash_tree_root()), post_state, produced.sigs)
    blobs, kzg_proofs = _blobs_and_proofs(spec, fork, produced.blobs_bundle)
    return BlockProposal(
        block,
        execution_payload_value=0 if engine is None else engine.block_value,
        consensus_block_value=_proposer_reward(spec, state, post_state, block, proposer_index),
        blobs=blobs,
        kzg_proofs=kzg_proofs,
    )


def _blobs_and_proofs(spec: Any, fork: Fork, bundle: Any) -> tuple[list[bytes], list[bytes]]:
    """Return the blobs of a produced block and the proofs its block contents carry: one blob
    proof per blob before fulu, every cell proof of each blob from fulu on."""
    if bundle is None or not bundle.blobs:
        return [], []
    blobs = [bytes(blob) for blob in bundle.blobs]
    if fork < Fork.FULU:
        return blobs, [bytes(proof) for proof in bundle.proofs]
    if len(bundle.cell_proofs) == len(blobs) * int(spec.CELLS_PER_EXT_BLOB):
        return blobs, [bytes(proof) for proof in bundle.cell_proofs]
    proofs = [proof for blob in blobs for proof in kzg.compute_cells_and_kzg_proofs(blob)[1]]
    return blobs, proofs


def _proposer_reward(
    spec: Any, pre_state: Any, post_state: Any, block: Any, proposer_index: int
) -> int:
    """Return the proposer's balance gain from `block` in Gwei, its own withdrawal added back."""
    gain = int(post_state.balances[proposer_index]) - int(pre_state.balances[proposer_index])
    if spec.fork_of(block) >= Fork.CAPELLA:
        for withdrawal in block.body.execution_payload.withdrawals:
            if int(withdrawal.validator_index) == proposer_index:
                gain += int(withdrawal.amount)
    return max(gain, 0)


# Aggregates and contributions.


def _verify(pubkey: bytes, message_root: bytes, signature: bytes, what: str, **ids: Any) -> None:
    if not bls.Verify(pubkey, message_root, signature):
        raise ApiError(400, f"invalid {what} signature", **ids)


def check_and_pool_aggregate(node: Any, signed: Any) -> Any:
    """Check a `SignedAggregateAndProof` and pool its aggregate; return the aggregate.

    Checks, as gossip validation does: the aggregator is in the committee and selected by its
    selection proof, and the selection proof, the aggregate-and-proof signature and the
    aggregate's own signature verify.

    Raises:
        ApiError: 400 naming the failed check.
    """
    spec = node.spec
    message = signed.message
    aggregate = message.aggregate
    data = aggregate.data
    slot = int(data.slot)
    aggregator = int(message.aggregator_index)
    _, state = node.validators.head_state_at(max(slot, node.chain.snapshot.head_slot))
    fork = spec.fork_of(state)
    if fork >= Fork.ELECTRA:
        indices = [i for i, bit in enumerate(aggregate.committee_bits) if bit]
        if len(indices) != 1:
            raise ApiError(400, "aggregate must name exactly one committee", committees=indices)
        committee_index = indices[0]
    else:
        committee_index = int(data.index)
    committee = get_beacon_committee(spec, state, slot, committee_index)
    bits = list(aggregate.aggregation_bits)
    if len(bits) != len(committee):
        raise ApiError(
            400,
            "aggregation_bits length differs from the committee size",
            bits=len(bits),
            committee_size=len(committee),
        )
    if aggregator not in committee:
        raise ApiError(400, "aggregator is not in the committee", aggregator_index=aggregator)
    proof = bytes(message.selection_proof)
    if not is_aggregator(len(committee), proof):
        raise ApiError(400, "selection proof does not select an aggregator", slot=slot)

    epoch = compute_epoch_at_slot(spec, slot)
    pubkey = bytes(state.validators[aggregator].pubkey)
    selection_domain = get_domain(spec, state, DOMAIN_SELECTION_PROOF, epoch)
    _verify(
        pubkey,
        compute_signing_root(spec, uint64_root(slot), selection_domain),
        proof,
        "selection proof",
        aggregator_index=aggregator,
    )
    proof_domain = get_domain(spec, state, DOMAIN_AGGREGATE_AND_PROOF, epoch)
    _verify(
        pubkey,
        compute_signing_root(spec, message, proof_domain),
        bytes(signed.signature),
        "aggregate and proof",
        aggregator_index=aggregator,
    )
    positions = [position for position, bit in enumerate(bits) if bit]
    pubkeys = [bytes(state.validators[committee[p]].pubkey) for p in positions]
    attester_domain = get_domain(spec, state, DOMAIN_BEACON_ATTESTER, int(data.target.epoch))
    if not positions or not bls.FastAggregateVerify(
        pubkeys, compute_signing_root(spec, data, attester_domain), bytes(aggregate.signature)
    ):
        raise ApiError(
            400, "invalid aggregate signature", slot=slot, committee_index=committee_index
        )

    node.validators.attestations.add_aggregate(
        data, committee_index, len(committee), set(positions), bytes(aggregate.signature)
    )
    return aggregate


def check_and_pool_contribution(node: Any, signed: Any) -> None:
    """Check a `SignedContributionAndProof` as gossip validation does, then pool it.

    Raises:
        ApiError: 400 naming the failed check.
    """
    spec = node.spec
    message = signed.message
    contribution = message.contribution
    slot = int(contribution.slot)
    subcommittee = int(contribution.subcommittee_index)
    aggregator = int(message.aggregator_index)
    if subcommittee >= SYNC_COMMITTEE_SUBNET_COUNT:
        raise ApiError(400, "invalid subcommittee_index", subcommittee_index=subcommittee)
    _, state = node.validators.head_state_at(max(slot, node.chain.snapshot.head_slot))
    if spec.fork_of(state) < Fork.ALTAIR:
        raise ApiError(400, "sync committees start at altair", slot=slot)
    committee = sync_committee.sync_committee_indices(spec, state, slot, node.validators.index_of)
    size = sync_committee.subcommittee_size(spec)
    members = committee[subcommittee * size : (subcommittee + 1) * size]
    if aggregator not in members:
        raise ApiError(
            400, "aggregator is not in the sync subcommittee", aggregator_index=aggregator
        )
    proof = bytes(message.selection_proof)
    if not sync_committee.is_sync_aggregator(spec, proof):
        raise ApiError(400, "selection proof does not select a sync aggregator", slot=slot)

    epoch = compute_epoch_at_slot(spec, slot)
    types = spec.types(spec.fork_of(state))
    pubkey = bytes(state.validators[aggregator].pubkey)
    selection = types.SyncAggregatorSelectionData(slot=slot, subcommittee_index=subcommittee)
    selection_domain = get_domain(spec, state, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, epoch)
    _verify(
        pubkey,
        compute_signing_root(spec, selection, selection_domain),
        proof,
        "sync selection proof",
        aggregator_index=aggregator,
    )
    proof_domain = get_domain(spec, state, DOMAIN_CONTRIBUTION_AND_PROOF, epoch)
    _verify(
        pubkey,
        compute_signing_root(spec, message, proof_domain),
        bytes(signed.signature),
        "contribution and proof",
        aggregator_index=aggregator,
    )
    participants = [
        bytes(state.validators[member].pubkey)
        for member, bit in zip(members, contribution.aggregation_bits, strict=True)
        if bit and member >= 0
    ]
    domain = get_domain(spec, state, DOMAIN_SYNC_COMMITTEE, epoch)
    root = compute_signing_root(spec, bytes(contribution.beacon_block_root), domain)
    if not participants or not bls.FastAggregateVerify(
        participants, root, bytes(contribution.signature)
    ):
        raise ApiError(
            400, "invalid contribution signature", slot=slot, subcommittee_index=subcommittee
        )
    node.validators.sync_contributions.add_contribution(contribution)


def pooled_contribution(node: Any, slot: int, subcommittee: int, block_root: bytes) -> Any:
    """Return the `SyncCommitteeContribution` of the pooled messages or contributions for
    the arguments (whichever covers more positions), or None when there are none."""
    spec = node.spec
    pool = node.validators.sync_contributions
    with pool._lock:
        positions, signatures = pool._best_of((slot, block_root, subcommittee))
    if not positions:
        return None
    size = sync_committee.subcommittee_size(spec)
    types = spec.types(max(spec.fork_at_slot(slot), Fork.ALTAIR))
    return types.SyncCommitteeContribution(
        slot=slot,
        beacon_block_root=block_root,
        subcommittee_index=subcommittee,
        aggregation_bits=[position in positions for position in range(size)],
        signature=bls.Aggregate(signatures),
    )


def check_and_pool_sync_message(node: Any, message: Any) -> list[int]:
    """Check a `SyncCommitteeMessage` (the validator sits in the committee of its slot and
    signed the block root), then pool it at each of its subcommittee positions.

    Returns the subcommittees (sync committee subnets) the validator sits in.

    Raises:
        ApiError: 400 naming the failed check.
    """
    spec = node.spec
    slot = int(message.slot)
    validator_index = int(message.validator_index)
    _, state = node.validators.head_state_at(max(slot, node.chain.snapshot.head_slot))
    if spec.fork_of(state) < Fork.ALTAIR:
        raise ApiError(400, "sync committees start at altair", slot=slot)
    committee = sync_committee.sync_committee_indices(spec, state, slot, node.validators.index_of)
    positions = [p for p, member in enumerate(committee) if member == validator_index]
    if not positions:
        raise ApiError(
            400, "validator is not in the sync committee", validator_index=validator_index
        )

    block_root = bytes(message.beacon_block_root)
    domain = get_domain(spec, state, DOMAIN_SYNC_COMMITTEE, compute_epoch_at_slot(spec, slot))
    pubkey = bytes(state.validators[validator_index].pubkey)
    _verify(
        pubkey,
        compute_signing_root(spec, block_root, domain),
        bytes(message.signature),
        "sync committee message",
        validator_index=validator_index,
    )
    size = sync_committee.subcommittee_size(spec)
    by_subcommittee: dict[int, list[int]] = {}
    for position in positions:
        by_subcommittee.setdefault(position // size, []).append(position % size)
    pool = node.validators.sync_contributions
    for subcommittee, members in by_subcommittee.items():
        pool.add_message(slot, block_root, subcommittee, members, bytes(message.signature))
    return sorted(by_subcommittee)


def best_aggregate(node: Any, slot: int, data_root: bytes, committee_index: int | None) -> Any:
    """Return the pooled committee aggregate with the most votes for the arguments as an
    `Attestation`, or None. Only the chosen aggregate's signatures are aggregated."""
    best = None
    for aggregate in node.validators.attestations.aggregates_at(slot):
        if committee_index is not None and aggregate.committee_index != committee_index:
            continue
        if bytes(aggregate.data.hash_tree_root()) != data_root:
            continue
        if best is None or len(aggregate.bits) > len(best.bits):
            best = aggregate
    if best is None:
        return None
    spec = node.spec
    return committee_attestation(spec, spec.fork_at_slot(slot), best)
