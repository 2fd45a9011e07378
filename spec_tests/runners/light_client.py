"""light_client runner: proofs, update ranking, the sync store, and full-node data collection.

Objects in `sync` and `data_collection` cases are named with a fork digest;
the digest selects the fork whose SSZ types decode the file.
"""

from typing import Any

from caplin.lightclient import (
    LightClientDataCollector,
    get_lc_execution_root,
    gloas,
    initialize_light_client_store,
    is_better_update,
    lc_object_kind,
    process_light_client_store_force_update,
    process_light_client_update,
    upgrade_lc_store,
)
from sentinel.gossip.topics import fork_digests
from spec_tests.case import Case
from spec_tests.registry import CaseNotImplemented, register
from spec_tests.runners.merkle_proof import check_single_merkle_proof


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


class _Decoder:
    def __init__(self, case: Case, genesis_validators_root: bytes) -> None:
        self.case = case
        self.digests: dict[bytes, int] = dict(fork_digests(case.spec, genesis_validators_root))
        for digest in gloas.gloas_fork_digests(case.spec, genesis_validators_root):
            self.digests[digest] = gloas.GLOAS

    def fork(self, digest: str) -> int:
        try:
            return self.digests[_hex(digest)]
        except KeyError:
            raise CaseNotImplemented(f"fork digest {digest} of a fork after gloas") from None

    def decode(self, kind: str, digest: str, name: str) -> Any:
        types = gloas.light_client_types(self.case.spec, self.fork(digest))
        return getattr(types, kind).decode_bytes(self.case.ssz(name))


def _store_fork(case: Case, version: str) -> int:
    fork = case.spec.fork_of_version(_hex(version))
    if fork is not None:
        return fork
    if _hex(version) == gloas.gloas_fork_version(case.spec):
        return gloas.GLOAS
    raise CaseNotImplemented(f"light client store of fork version {version} (after gloas)")


@register("light_client", "single_merkle_proof")
def run_single_merkle_proof(case: Case) -> None:
    check_single_merkle_proof(case)


@register("light_client", "update_ranking")
def run_update_ranking(case: Case) -> None:
    spec = case.spec
    update_type = spec.types(case.fork_enum).LightClientUpdate
    count = int(case.meta["updates_count"])
    updates = [update_type.decode_bytes(case.ssz(f"updates_{index}")) for index in range(count)]
    for better_index in range(count):
        for worse_index in range(better_index + 1, count):
            if is_better_update(spec, updates[worse_index], updates[better_index]):
                raise AssertionError(
                    f"update {worse_index} ranks above update {better_index}, expected below"
                )


def _check_header(spec: Any, subject: str, header: Any, expected: dict) -> None:
    slot = int(header.beacon.slot)
    if slot != int(expected["slot"]):
        raise AssertionError(f"{subject} slot differs: expected {expected['slot']}, got {slot}")
    root = bytes(header.beacon.hash_tree_root())
    if root != _hex(expected["beacon_root"]):
        raise AssertionError(
            f"{subject} beacon root differs: expected {expected['beacon_root']}, got 0x{root.hex()}"
        )
    if "execution_root" in expected:
        execution_root = get_lc_execution_root(spec, header)
        if execution_root != _hex(expected["execution_root"]):
            raise AssertionError(
                f"{subject} execution root differs: expected {expected['execution_root']}, "
                f"got 0x{execution_root.hex()}"
            )


def _check_store(spec: Any, store: Any, checks: dict, step: int) -> None:
    for name in ("finalized_header", "optimistic_header"):
        if name in checks:
            _check_header(spec, f"step {step} {name}", getattr(store, name), checks[name])


@register("light_client", "sync")
def run_sync(case: Case) -> None:
    spec = case.spec
    meta = case.meta
    genesis_validators_root = _hex(meta["genesis_validators_root"])
    decoder = _Decoder(case, genesis_validators_root)
    store_fork = _store_fork(case, meta["store_fork_version"])

    bootstrap = decoder.decode("LightClientBootstrap", meta["bootstrap_fork_digest"], "bootstrap")
    store = initialize_light_client_store(
        spec, _hex(meta["trusted_block_root"]), bootstrap, store_fork
    )

    for index, step in enumerate(case.yaml("steps")):
        if "force_update" in step:
            body = step["force_update"]
            process_light_client_store_force_update(spec, store, int(body["current_slot"]))
        elif "process_update" in step:
            body = step["process_update"]
            update = decoder.decode("LightClientUpdate", body["update_fork_digest"], body["update"])
            process_light_client_update(
                spec, store, update, int(body["current_slot"]), genesis_validators_root
            )
        elif "upgrade_store" in step:
            body = step["upgrade_store"]
            store = upgrade_lc_store(spec, store, _store_fork(case, body["store_fork_version"]))
        else:
            raise AssertionError(f"unknown step {sorted(step)} at index {index}")
        _check_store(spec, store, body.get("checks", {}), index)


# --- data_collection -------------------------------------------------------------------------


def _check_object(decoder: _Decoder, subject: str, actual: Any, expected: dict | None) -> None:
    spec = decoder.case.spec
    if expected is None:
        if actual is not None:
            raise AssertionError(f"{subject}: expected none, got one")
        return
    if actual is None:
        raise AssertionError(f"{subject}: expected {expected['data']}, got none")
    kind, actual_fork = lc_object_kind(spec, actual)
    expected_fork = decoder.fork(expected["fork_digest"])
    if actual_fork != expected_fork:
        raise AssertionError(
            f"{subject}: expected {expected_fork.lower} types, got {actual_fork.lower} types"
        )
    expected_object = decoder.decode(kind, expected["fork_digest"], expected["data"])
    actual_root = bytes(actual.hash_tree_root())
    if actual_root != bytes(expected_object.hash_tree_root()):
        raise AssertionError(
            f"{subject} differs: expected {expected['data']}, got 0x{actual_root.hex()}"
        )


def _check_collector(decoder: _Decoder, collector: LightClientDataCollector, checks: dict) -> None:
    finalized = checks["latest_finalized_checkpoint"]
    if (collector.latest_finalized_epoch, collector.latest_finalized.root) != (
        int(finalized["epoch"]),
        _hex(finalized["root"]),
    ):
        raise AssertionError(
            f"finalized checkpoint differs: expected {finalized}, got epoch "
            f"{collector.latest_finalized_epoch} root 0x{collector.latest_finalized.root.hex()}"
        )
    for entry in checks["bootstraps"]:
        bootstrap = collector.get_light_client_bootstrap(_hex(entry["block_root"]))
        subject = f"bootstrap of {entry['block_root']}"
        _check_object(decoder, subject, bootstrap, entry.get("bootstrap"))
    for entry in checks["best_updates"]:
        update = collector.get_light_client_update_for_period(int(entry["period"]))
        _check_object(
            decoder, f"best update of period {entry['period']}", update, entry.get("update")
        )
    _check_object(
        decoder,
        "latest finality update",
        collector.get_light_client_finality_update(),
        checks.get("latest_finality_update"),
    )
    _check_object(
        decoder,
        "latest optimistic update",
        collector.get_light_client_optimistic_update(),
        checks.get("latest_optimistic_update"),
    )


def _genesis_block(spec: Any, state: Any) -> Any:
    types = spec.types(spec.fork_of(state))
    block = types.BeaconBlock(slot=state.slot, state_root=state.hash_tree_root())
    return types.SignedBeaconBlock(message=block)


@register("light_client", "data_collection")
def run_data_collection(case: Case) -> None:
    from caplin.transition.state_transition import state_transition

    spec = case.spec
    state_type = spec.types(case.fork_enum).BeaconState
    anchor_state = state_type.decode_bytes(case.ssz("initial_state"))
    genesis_validators_root = bytes(anchor_state.genesis_validators_root)
    decoder = _Decoder(case, genesis_validators_root)
    collector = LightClientDataCollector(spec, anchor_state, _genesis_block(spec, anchor_state))

    for index, step in enumerate(case.yaml("steps")):
        if "new_block" in step:
            body = step["new_block"]
            block = decoder.decode("SignedBeaconBlock", body["fork_digest"], body["data"])
            parent_state = collector.post_states[bytes(block.message.parent_root)]
            post_state = state_transition(spec, parent_state, block, verify_signatures=False)
            collector.on_block(block, post_state)
        elif "new_head" in step:
            body = step["new_head"]
            collector.on_head(_hex(body["head_block_root"]))
            _check_collector(decoder, collector, body["checks"])
        else:
            raise AssertionError(f"unknown step {sorted(step)} at index {index}")
