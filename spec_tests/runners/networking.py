"""networking runner: PeerDAS custody math and gossip validation of every topic.

`get_custody_groups` and `compute_columns_for_custody_group` compare a list
result from `meta.yaml`. The `gossip_*` handlers build a chain from the case's
anchor state and blocks, then feed each message to `sentinel.gossip` in order
and compare the verdict (valid, ignore or reject) with the expected one.
"""

from caplin import peerdas
from caplin.transition.state_transition import state_transition
from sentinel.gossip import BlockTree, Checkpoint, GossipValidator, PayloadStatus, Verdict
from spec_tests.case import Case
from spec_tests.registry import register


@register("networking", "get_custody_groups")
def run_get_custody_groups(case: Case) -> None:
    meta = case.meta
    result = peerdas.get_custody_groups(
        case.spec, int(meta["node_id"]), int(meta["custody_group_count"])
    )
    expected = [int(group) for group in meta["result"]]
    if result != expected:
        raise AssertionError(f"custody groups differ: expected {expected}, got {result}")


@register("networking", "compute_columns_for_custody_group")
def run_compute_columns_for_custody_group(case: Case) -> None:
    meta = case.meta
    result = peerdas.compute_columns_for_custody_group(case.spec, int(meta["custody_group"]))
    expected = [int(column) for column in meta["result"]]
    if result != expected:
        raise AssertionError(f"columns differ: expected {expected}, got {result}")


# --- gossip validation -----------------------------------------------------------------------

_EXPECTED = {"valid": Verdict.ACCEPT, "ignore": Verdict.IGNORE, "reject": Verdict.REJECT}
_PAYLOAD_STATUSES = {status.value: status for status in PayloadStatus}
_GOSSIP_HANDLERS = (
    "gossip_beacon_block",
    "gossip_beacon_aggregate_and_proof",
    "gossip_beacon_attestation",
    "gossip_voluntary_exit",
    "gossip_proposer_slashing",
    "gossip_attester_slashing",
    "gossip_bls_to_execution_change",
    "gossip_sync_committee_message",
    "gossip_sync_committee_contribution_and_proof",
    "gossip_blob_sidecar",
    "gossip_data_column_sidecar",
    "gossip_partial_data_column_sidecar",
)


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _build_chain(case: Case) -> tuple[BlockTree, dict[str, bytes]]:
    """Import the case's blocks into a `BlockTree`; return it and the root of each block file."""
    spec, fork = case.spec, case.fork_enum
    types = spec.types(fork)
    anchor_state = types.BeaconState.decode_bytes(case.ssz("state"))
    entries = case.meta.get("blocks") or []
    block_roots: dict[str, bytes] = {}
    if not entries:
        raise AssertionError("case has no anchor block")

    anchor = types.SignedBeaconBlock.decode_bytes(case.ssz(entries[0]["block"]))
    chain = BlockTree(spec, anchor_state, anchor.message)
    block_roots[entries[0]["block"]] = chain.anchor_root
    for entry in entries[1:]:
        signed_block = types.SignedBeaconBlock.decode_bytes(case.ssz(entry["block"]))
        status = _PAYLOAD_STATUSES.get(entry.get("payload_status", ""))
        post_state = None
        if not entry.get("failed") and not entry.get("pending"):
            parent_state = chain.get_block_state(bytes(signed_block.message.parent_root))
            post_state = state_transition(spec, parent_state, signed_block, verify_signatures=False)
        block_roots[entry["block"]] = chain.add_block(signed_block.message, post_state, status)
    return chain, block_roots


def _finalized_override(case: Case, block_roots: dict[str, bytes]) -> Checkpoint | None:
    finalized = case.meta.get("finalized_checkpoint")
    if finalized is None:
        return None
    if "root" in finalized:
        root = _hex(finalized["root"])
    else:
        root = block_roots.get(finalized["block"])
        if root is None:
            block_type = case.spec.types(case.fork_enum).SignedBeaconBlock
            root = bytes(
                block_type.decode_bytes(case.ssz(finalized["block"])).message.hash_tree_root()
            )
    return Checkpoint(int(finalized["epoch"]), root)


@register("networking", *_GOSSIP_HANDLERS)
def run_gossip(case: Case) -> None:
    spec, fork = case.spec, case.fork_enum
    meta = case.meta
    topic = meta["topic"]
    chain, block_roots = _build_chain(case)
    override = _finalized_override(case, block_roots)
    if override is not None:
        chain.set_finalized_checkpoint(override)

    validator = GossipValidator(spec, chain)
    header_type = getattr(spec.types(fork), "PartialDataColumnHeader", None)
    for entry in meta.get("seen_partial_data_column_headers") or []:
        header = header_type.decode_bytes(case.ssz(entry["header"]))
        validator.seen.add_partial_header(_hex(entry["block_root"]), header)

    base_time_ms = int(meta.get("current_time_ms", 0))
    for index, message in enumerate(meta.get("messages") or []):
        now_ms = int(message.get("current_time_ms", base_time_ms)) + int(
            message.get("offset_ms", 0)
        )
        group_id = None
        if "group_id" in message:
            group_type = spec.types(fork).PartialDataColumnGroupID
            group_id = group_type.decode_bytes(case.ssz(message["group_id"]))
        result = validator.validate_bytes(
            topic,
            case.ssz(message["message"]),
            now_ms,
            fork,
            subnet_id=message.get("subnet_id"),
            group_id=group_id,
            column_index=message.get("column_index"),
        )
        expected = _EXPECTED[message["expected"]]
        if result.verdict is not expected:
            raise AssertionError(
                f"message {index} ({message['message'][:40]}): expected {expected.value}"
                f" ({message.get('reason', '')}), got {result.verdict.value} ({result.reason})"
            )
