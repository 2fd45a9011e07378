"""Benchmark slot and block processing on a synthetic mainnet-preset electra state.

    .venv/bin/python bench/block.py --validators 1000000 --reference-validators 16384

Starts from the state that `bench/transition.py` builds, at the last slot of an epoch, and
times:

- `process_slots` to the first slot of the next epoch (so it includes `process_epoch`), then
  the state root;
- a full block at that slot, with and without signature verification, then the state root.
  The block carries MAX_ATTESTATIONS_ELECTRA aggregates, one per slot of the 8 slots before
  it, each covering every committee of its slot with every member attesting, and a sync
  aggregate signed by the whole sync committee, plus 16 expected withdrawals.

Every validator whose key signs something (the attesters, the sync committee and the
proposer) gets its interop key. Each aggregate signature is one `Sign` with the sum of the
members' secret keys, which equals the aggregate of their signatures, so verification in
the timed run is real. The "cold" block run starts with an empty pubkey cache and no
registry column tables, so it decompresses every public key it verifies. The other runs find
both cached, as in a node that has run for a while.

All times are CPU seconds of this process (`time.process_time`), printed with the load
average. With `--reference-validators N` it also runs the executable spec
(`eth-consensus-specs`, a test-only dependency) on the same N-validator pre-state and block,
checks that both reach the same post-state roots and prints the time ratios.
"""

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from remerkleable.basic import uint64

from caplin.config import ChainSpec
from caplin.config.constants import (
    DOMAIN_BEACON_ATTESTER,
    DOMAIN_BEACON_PROPOSER,
    DOMAIN_RANDAO,
    DOMAIN_SYNC_COMMITTEE,
)
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition.block import get_expected_withdrawals, process_block
from caplin.transition.engine import TrustingEngine
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    get_active_validator_indices,
    get_beacon_committee,
    get_beacon_proposer_index,
    get_block_root,
    get_block_root_at_slot,
    get_committee_count_per_slot,
    get_current_epoch,
    get_domain,
    get_randao_mix,
)
from caplin.transition.helpers.registry import clear_tables
from caplin.transition.signatures import SignatureBatch
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import add_block_signature, state_transition
from caplin.validator.keys import CURVE_ORDER, interop_key

_BENCH_DIR = Path(__file__).resolve().parent


def _load_transition_bench() -> Any:
    """Import bench/transition.py by path, so this file needs no package and no sys.path entry."""
    location = _BENCH_DIR / "transition.py"
    module_spec = importlib.util.spec_from_file_location("caplin_bench_transition", location)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


_transition_bench = _load_transition_bench()
synthetic_state = _transition_bench.synthetic_state
cpu_name = _transition_bench._cpu_name


@dataclass
class Scenario:
    """A pre-state at the last slot of an epoch and a valid signed block for the next slot."""

    pre: Any
    signed_block: Any
    attesters: int
    post_slots_root: bytes
    post_block_root: bytes


def _signer_keys(indices: list[int]) -> tuple[int, list[bytes]]:
    """Return the sum of the interop secret keys of `indices` (mod r) and their pubkeys."""
    keys = [interop_key(index) for index in indices]
    secret = sum(key.secret_key for key in keys) % CURVE_ORDER
    return secret, [key.pubkey for key in keys]


def _attested_committees(spec: Any, state: Any, slot: int) -> list[list[list[int]]]:
    """Return the committees of each of the MAX_ATTESTATIONS_ELECTRA slots before `slot`."""
    first = max(slot - spec.MAX_ATTESTATIONS_ELECTRA, 0)
    per_slot = []
    for attested_slot in range(first, slot):
        epoch = compute_epoch_at_slot(spec, attested_slot)
        count = get_committee_count_per_slot(spec, state, epoch)
        per_slot.append(
            [list(get_beacon_committee(spec, state, attested_slot, i)) for i in range(count)]
        )
    return per_slot


def _give_interop_keys(spec: Any, pre: Any, indices: set[int]) -> None:
    """Replace the pubkeys of `indices` in `pre` with their interop pubkeys.

    Pending deposits that top up one of those validators follow its new pubkey, so epoch
    processing treats them as before.
    """
    validators = pre.validators
    renamed = {}
    for index in sorted(indices):
        old = bytes(validators[index].pubkey)
        new = interop_key(index).pubkey
        validators[index].pubkey = new
        renamed[old] = new
    deposits = pre.pending_deposits
    for position in range(len(deposits)):
        new = renamed.get(bytes(deposits[position].pubkey))
        if new is not None:
            deposits[position].pubkey = new


def _set_sync_committee(spec: Any, pre: Any, members: list[int]) -> None:
    types = spec.types(Fork.ELECTRA)
    pubkeys = [interop_key(index).pubkey for index in members]
    committee = types.SyncCommittee(pubkeys=pubkeys, aggregate_pubkey=bls.AggregatePKs(pubkeys))
    pre.current_sync_committee = committee
    pre.next_sync_committee = committee


def _attestations(spec: Any, state: Any, committees: list[list[list[int]]], slot: int) -> list:
    types = spec.types(Fork.ELECTRA)
    current_epoch = get_current_epoch(spec, state)
    attestations = []
    first = slot - len(committees)
    for offset, slot_committees in enumerate(committees):
        attested_slot = first + offset
        epoch = compute_epoch_at_slot(spec, attested_slot)
        source = (
            state.current_justified_checkpoint
            if epoch == current_epoch
            else state.previous_justified_checkpoint
        )
        data = types.AttestationData(
            slot=attested_slot,
            index=0,
            beacon_block_root=get_block_root_at_slot(spec, state, attested_slot),
            source=source,
            target=types.Checkpoint(epoch=epoch, root=get_block_root(spec, state, epoch)),
        )
        members = [index for committee in slot_committees for index in committee]
        secret, _ = _signer_keys(members)
        domain = get_domain(spec, state, DOMAIN_BEACON_ATTESTER, epoch)
        committee_bits = [i < len(slot_committees) for i in range(spec.MAX_COMMITTEES_PER_SLOT)]
        attestations.append(
            types.Attestation(
                aggregation_bits=[True] * len(members),
                data=data,
                signature=bls.Sign(secret, compute_signing_root(spec, data, domain)),
                committee_bits=committee_bits,
            )
        )
    return attestations


def _sync_aggregate(spec: Any, state: Any, members: list[int], slot: int) -> Any:
    types = spec.types(Fork.ELECTRA)
    previous_slot = slot - 1
    domain = get_domain(
        spec, state, DOMAIN_SYNC_COMMITTEE, compute_epoch_at_slot(spec, previous_slot)
    )
    root = compute_signing_root(
        spec, bytes(get_block_root_at_slot(spec, state, previous_slot)), domain
    )
    secret, _ = _signer_keys(members)
    return types.SyncAggregate(
        sync_committee_bits=[True] * spec.SYNC_COMMITTEE_SIZE,
        sync_committee_signature=bls.Sign(secret, root),
    )


def _execution_payload(spec: Any, state: Any, slot: int, rng: np.random.Generator) -> Any:
    types = spec.types(Fork.ELECTRA)
    header = state.latest_execution_payload_header
    withdrawals = get_expected_withdrawals(spec, state).withdrawals
    return types.ExecutionPayload(
        parent_hash=header.block_hash,
        fee_recipient=rng.bytes(20),
        state_root=rng.bytes(32),
        receipts_root=rng.bytes(32),
        prev_randao=get_randao_mix(spec, state, get_current_epoch(spec, state)),
        block_number=int(header.block_number) + 1,
        gas_limit=36_000_000,
        gas_used=18_000_000,
        timestamp=int(state.genesis_time) + slot * spec.SECONDS_PER_SLOT,
        base_fee_per_gas=10**9,
        block_hash=rng.bytes(32),
        withdrawals=[withdrawal.to_ssz(spec, Fork.ELECTRA) for withdrawal in withdrawals],
    )


def build_scenario(spec: Any, count: int, seed: int = 1) -> Scenario:
    """Build the pre-state of `count` validators and a valid, fully signed block on it."""
    rng = np.random.default_rng(seed + 1000)
    types = spec.types(Fork.ELECTRA)
    pre = synthetic_state(spec, count, seed)
    pre.latest_execution_payload_header.block_hash = rng.bytes(32)
    pre.latest_execution_payload_header.block_number = 21_000_000
    slot = int(pre.slot) + 1

    # Committees and the proposer do not depend on pubkeys, so a probe run finds the signers.
    probe = process_slots(spec, pre.copy(), slot)
    committees = _attested_committees(spec, probe, slot)
    proposer = get_beacon_proposer_index(spec, probe)
    active = get_active_validator_indices(spec, probe, get_current_epoch(spec, probe))
    sync_members = sorted(
        int(i) for i in rng.choice(np.asarray(active), spec.SYNC_COMMITTEE_SIZE, replace=False)
    )
    signers = {index for slot_list in committees for c in slot_list for index in c}
    signers |= set(sync_members) | {proposer}
    _give_interop_keys(spec, pre, signers)
    _set_sync_committee(spec, pre, sync_members)

    state = process_slots(spec, pre.copy(), slot)
    if get_beacon_proposer_index(spec, state) != proposer:
        raise AssertionError("the proposer changed when the signers got their interop keys")
    post_slots_root = bytes(state.hash_tree_root())
    proposer_key = interop_key(proposer)
    epoch = get_current_epoch(spec, state)
    randao_domain = get_domain(spec, state, DOMAIN_RANDAO, epoch)
    body = types.BeaconBlockBody(
        randao_reveal=bls.Sign(
            proposer_key.secret_key, compute_signing_root(spec, uint64(epoch), randao_domain)
        ),
        eth1_data=state.eth1_data,
        graffiti=b"caplin block bench".ljust(32, b"\x00"),
        attestations=_attestations(spec, state, committees, slot),
        sync_aggregate=_sync_aggregate(spec, state, sync_members, slot),
        execution_payload=_execution_payload(spec, state, slot, rng),
    )
    block = types.BeaconBlock(
        slot=slot,
        proposer_index=proposer,
        parent_root=state.latest_block_header.hash_tree_root(),
        body=body,
    )
    process_block(spec, state, block, SignatureBatch(enabled=False), TrustingEngine())
    post_block_root = bytes(state.hash_tree_root())
    block.state_root = post_block_root
    proposer_domain = get_domain(spec, state, DOMAIN_BEACON_PROPOSER, epoch)
    signed_block = types.SignedBeaconBlock(
        message=block,
        signature=bls.Sign(
            proposer_key.secret_key, compute_signing_root(spec, block, proposer_domain)
        ),
    )
    attesters = sum(len(c) for slot_list in committees for c in slot_list)
    return Scenario(pre, signed_block, attesters, post_slots_root, post_block_root)


def time_slots(spec: Any, scenario: Scenario) -> tuple[float, float, Any]:
    """Return the CPU seconds of `process_slots` and of the state root after it, and the state."""
    state = scenario.pre.copy()
    started = time.process_time()
    process_slots(spec, state, int(scenario.signed_block.message.slot))
    processed = time.process_time()
    root = bytes(state.hash_tree_root())
    rooted = time.process_time()
    if root != scenario.post_slots_root:
        raise AssertionError(f"post-slots root 0x{root.hex()} is not the expected one")
    return processed - started, rooted - processed, state


def time_block(spec: Any, scenario: Scenario, slotted: Any, verify: bool) -> tuple[float, float]:
    """Return the CPU seconds of the block on `slotted` and of the state root after it.

    The block path is what `state_transition` runs after `process_slots`: the proposer
    signature, `process_block` and one `SignatureBatch.verify`.
    """
    state = slotted.copy()
    signed_block = scenario.signed_block
    started = time.process_time()
    sigs = SignatureBatch(enabled=verify)
    add_block_signature(spec, state, signed_block, sigs)
    process_block(spec, state, signed_block.message, sigs, TrustingEngine())
    sigs.verify()
    processed = time.process_time()
    root = bytes(state.hash_tree_root())
    rooted = time.process_time()
    if root != scenario.post_block_root:
        raise AssertionError(f"post-block root 0x{root.hex()} is not the expected one")
    return processed - started, rooted - processed


def _bench_caplin(spec: Any, count: int, runs: int) -> tuple[Scenario, dict[str, Any]]:
    started = time.process_time()
    scenario = build_scenario(spec, count)
    built = time.process_time()
    print(
        f"{count} validators: pre-state and signed block built in {built - started:.1f} s "
        f"(setup, not timed); {scenario.attesters} attesters in "
        f"{len(scenario.signed_block.message.body.attestations)} aggregates"
    )
    slots = [time_slots(spec, scenario) for _ in range(runs)]
    slotted = slots[-1][2]
    bls.clear_pubkey_cache()
    clear_tables()
    cold_verified = time_block(spec, scenario, slotted, verify=True)
    state_transition(spec, scenario.pre, scenario.signed_block)
    print("  state_transition accepts the block with every signature verified")
    verified = [time_block(spec, scenario, slotted, verify=True) for _ in range(runs)]
    unverified = [time_block(spec, scenario, slotted, verify=False) for _ in range(runs)]
    figures = {
        "slots": _medians([run[:2] for run in slots]),
        "block verified": _medians(verified),
        "block unverified": _medians(unverified),
    }
    print(
        f"  cold block, signatures verified: "
        f"{cold_verified[0] * 1000:.0f} ms, state root {cold_verified[1] * 1000:.0f} ms"
    )
    for name, (work, root) in figures.items():
        print(
            f"  {name} (median of {runs}): {work * 1000:.0f} ms, state root after "
            f"{root * 1000:.0f} ms, sum {(work + root) * 1000:.0f} ms"
        )
    return scenario, figures


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)


def _bench_reference(scenario: Scenario, figures: dict[str, Any]) -> None:
    # bench/ssz.py, first on the path when this file runs as a script, would shadow the
    # `ssz` package that the executable spec imports.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _BENCH_DIR]
    from eth_consensus_specs.electra import mainnet as reference

    # eth-consensus-specs 1.7.0b4 verifies signatures with py-arkworks-bls12381.
    pre = reference.BeaconState.decode_bytes(scenario.pre.encode_bytes())
    signed_block = reference.SignedBeaconBlock.decode_bytes(scenario.signed_block.encode_bytes())
    block = signed_block.message

    state = pre.copy()
    started = time.process_time()
    reference.process_slots(state, block.slot)
    processed = time.process_time()
    slots_root = bytes(reference.hash_tree_root(state))
    rows = [("slots", processed - started, time.process_time() - processed)]
    if slots_root != scenario.post_slots_root:
        raise AssertionError("the executable spec reaches another post-slots root")

    for verify in (True, False):
        reference.bls.bls_active = verify
        block_state = state.copy()
        started = time.process_time()
        if verify and not reference.verify_block_signature(block_state, signed_block):
            raise AssertionError("the executable spec rejects the proposer signature")
        reference.process_block(block_state, block)
        processed = time.process_time()
        block_root = bytes(reference.hash_tree_root(block_state))
        rooted = time.process_time()
        if block_root != scenario.post_block_root:
            raise AssertionError("the executable spec reaches another post-block root")
        name = "block verified" if verify else "block unverified"
        rows.append((name, processed - started, rooted - processed))
    reference.bls.bls_active = True

    print("  post-state roots agree with the executable spec")
    for name, work, root in rows:
        ours = sum(figures[name])
        print(
            f"  executable spec {name}: {work * 1000:.0f} ms, state root {root * 1000:.0f} ms; "
            f"spec / caplin {(work + root) / ours:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--validators",
        type=int,
        default=1_000_000,
        help="registry size of the main run; 0 skips it (default 1000000)",
    )
    parser.add_argument(
        "--reference-validators",
        type=int,
        default=16_384,
        help="registry size for the executable-spec comparison; 0 skips it (default 16384)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs of each measurement (default 3)"
    )
    args = parser.parse_args()

    spec = ChainSpec.for_preset("mainnet")
    print(f"python {platform.python_version()}, {platform.machine()}, {cpu_name()}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.reference_validators:
        scenario, figures = _bench_caplin(spec, args.reference_validators, args.runs)
        _bench_reference(scenario, figures)
    if args.validators:
        _bench_caplin(spec, args.validators, args.runs)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
