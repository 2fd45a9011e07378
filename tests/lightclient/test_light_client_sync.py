"""Tests of the light client: full-node data, the sync store, ranking and upgrades.

The chain is three Altair blocks built by hand (no state transition): block 8
is the trusted and finalized block, block 9 is attested, and block 10 carries
the sync aggregate signed by the whole (known-key) sync committee.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from caplin import lightclient
from caplin.config import ChainSpec, constants
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.lightclient.headers import upgrade_lc_object
from caplin.transition.helpers import compute_domain, compute_signing_root

SPEC = ChainSpec.from_config({"ALTAIR_FORK_EPOCH": 0, "BELLATRIX_FORK_EPOCH": 1}, preset="minimal")
TYPES = SPEC.types(Fork.ALTAIR)
GENESIS_VALIDATORS_ROOT = b"\x42" * 32
SECRET_KEYS = list(range(1, SPEC.SYNC_COMMITTEE_SIZE + 1))


def _committee(offset: int) -> Any:
    pubkeys = [bls.SkToPk(key + offset) for key in SECRET_KEYS]
    return TYPES.SyncCommittee(pubkeys=pubkeys, aggregate_pubkey=bls.AggregatePKs(pubkeys))


CURRENT_COMMITTEE = _committee(0)
NEXT_COMMITTEE = _committee(1000)


@dataclass
class Chain:
    states: dict[int, Any]
    blocks: dict[int, Any]


def _post_state(slot: int, block: Any, finalized: Any) -> Any:
    # A post-state's latest block header has a zero state root until the next slot.
    header = TYPES.BeaconBlockHeader(
        slot=block.slot,
        proposer_index=block.proposer_index,
        parent_root=block.parent_root,
        body_root=block.body.hash_tree_root(),
    )
    return TYPES.BeaconState(
        genesis_validators_root=GENESIS_VALIDATORS_ROOT,
        slot=slot,
        latest_block_header=header,
        current_sync_committee=CURRENT_COMMITTEE,
        next_sync_committee=NEXT_COMMITTEE,
        finalized_checkpoint=finalized,
    )


def _sync_aggregate(attested_root: bytes, signature_slot: int, signers: int) -> Any:
    fork_version = SPEC.fork_version(SPEC.fork_at_slot(signature_slot - 1))
    domain = compute_domain(
        SPEC, constants.DOMAIN_SYNC_COMMITTEE, fork_version, GENESIS_VALIDATORS_ROOT
    )
    signing_root = compute_signing_root(SPEC, attested_root, domain)
    signatures = [bls.Sign(key, signing_root) for key in SECRET_KEYS[:signers]]
    bits = [index < signers for index in range(SPEC.SYNC_COMMITTEE_SIZE)]
    return TYPES.SyncAggregate(
        sync_committee_bits=bits, sync_committee_signature=bls.Aggregate(signatures)
    )


def _build_chain(signers: int) -> Chain:
    states: dict[int, Any] = {}
    blocks: dict[int, Any] = {}
    parent_root = b"\x00" * 32
    finalized = TYPES.Checkpoint()
    for slot in (8, 9, 10):
        body = TYPES.BeaconBlockBody()
        if slot == 10:
            body.sync_aggregate = _sync_aggregate(parent_root, slot, signers)
        block = TYPES.BeaconBlock(slot=slot, proposer_index=1, parent_root=parent_root, body=body)
        state = _post_state(slot, block, finalized)
        block.state_root = state.hash_tree_root()
        blocks[slot] = TYPES.SignedBeaconBlock(message=block)
        states[slot] = state
        parent_root = bytes(block.hash_tree_root())
        if slot == 8:
            finalized = TYPES.Checkpoint(epoch=1, root=parent_root)
    return Chain(states, blocks)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return _build_chain(SPEC.SYNC_COMMITTEE_SIZE)


def _update(chain: Chain) -> Any:
    return lightclient.create_light_client_update(
        SPEC, chain.states[10], chain.blocks[10], chain.states[9], chain.blocks[9], chain.blocks[8]
    )


def _store(chain: Chain) -> lightclient.LightClientStore:
    bootstrap = lightclient.create_light_client_bootstrap(SPEC, chain.states[8], chain.blocks[8])
    trusted_root = bytes(chain.blocks[8].message.hash_tree_root())
    return lightclient.initialize_light_client_store(SPEC, trusted_root, bootstrap)


def test_bootstrap_initializes_store(chain: Chain) -> None:
    store = _store(chain)
    assert int(store.finalized_header.beacon.slot) == 8
    assert store.current_sync_committee.hash_tree_root() == CURRENT_COMMITTEE.hash_tree_root()
    assert not lightclient.is_next_sync_committee_known(store)


def test_bootstrap_with_wrong_trusted_root_fails(chain: Chain) -> None:
    bootstrap = lightclient.create_light_client_bootstrap(SPEC, chain.states[8], chain.blocks[8])
    with pytest.raises(lightclient.LightClientError, match="trusted block"):
        lightclient.initialize_light_client_store(SPEC, b"\x01" * 32, bootstrap)


def test_bootstrap_from_wrong_state_fails(chain: Chain) -> None:
    with pytest.raises(lightclient.LightClientDataError):
        lightclient.create_light_client_bootstrap(SPEC, chain.states[9], chain.blocks[8])


def test_update_is_finality_and_sync_committee_update(chain: Chain) -> None:
    update = _update(chain)
    assert lightclient.is_finality_update(update)
    assert lightclient.is_sync_committee_update(update)
    assert int(update.finalized_header.beacon.slot) == 8
    assert int(update.signature_slot) == 10


def test_update_supplies_next_sync_committee(chain: Chain) -> None:
    store = _store(chain)
    lightclient.process_light_client_update(
        SPEC, store, _update(chain), 10, GENESIS_VALIDATORS_ROOT
    )
    assert store.next_sync_committee.hash_tree_root() == NEXT_COMMITTEE.hash_tree_root()
    assert int(store.optimistic_header.beacon.slot) == 9
    assert int(store.finalized_header.beacon.slot) == 8
    assert store.best_valid_update is None


def test_update_with_bad_signature_leaves_store(chain: Chain) -> None:
    store = _store(chain)
    update = _update(chain)
    update.sync_aggregate.sync_committee_signature = bls.Sign(999, b"\x00" * 32)
    with pytest.raises(lightclient.LightClientError, match="signature"):
        lightclient.process_light_client_update(SPEC, store, update, 10, GENESIS_VALIDATORS_ROOT)
    assert int(store.optimistic_header.beacon.slot) == 8
    assert not lightclient.is_next_sync_committee_known(store)


def test_update_from_the_future_fails(chain: Chain) -> None:
    store = _store(chain)
    with pytest.raises(lightclient.LightClientError, match="out of order"):
        lightclient.process_light_client_update(
            SPEC, store, _update(chain), 9, GENESIS_VALIDATORS_ROOT
        )


def test_weak_update_waits_for_force_update() -> None:
    weak_chain = _build_chain(signers=1)
    store = _store(weak_chain)
    update = _update(weak_chain)
    lightclient.process_light_client_update(SPEC, store, update, 10, GENESIS_VALIDATORS_ROOT)
    assert store.best_valid_update is not None
    assert not lightclient.is_next_sync_committee_known(store)

    lightclient.process_light_client_store_force_update(SPEC, store, 10)
    assert store.best_valid_update is not None

    timeout_slot = 8 + SPEC.UPDATE_TIMEOUT + 1
    lightclient.process_light_client_store_force_update(SPEC, store, timeout_slot)
    assert store.best_valid_update is None
    assert lightclient.is_next_sync_committee_known(store)
    # Without newer finality the attested header replaces the finalized one.
    assert int(store.finalized_header.beacon.slot) == 9


def test_finality_and_optimistic_updates_are_parts_of_update(chain: Chain) -> None:
    update = _update(chain)
    finality = lightclient.create_light_client_finality_update(SPEC, update)
    optimistic = lightclient.create_light_client_optimistic_update(SPEC, update)
    assert finality.finalized_header.hash_tree_root() == update.finalized_header.hash_tree_root()
    assert optimistic.attested_header.hash_tree_root() == update.attested_header.hash_tree_root()

    store = _store(chain)
    lightclient.process_light_client_optimistic_update(
        SPEC, store, optimistic, 10, GENESIS_VALIDATORS_ROOT
    )
    assert int(store.optimistic_header.beacon.slot) == 9


def _ranked(participants: int, finalized: bool, attested_slot: int = 9) -> Any:
    update = TYPES.LightClientUpdate(signature_slot=attested_slot + 1)
    update.attested_header.beacon.slot = attested_slot
    bits = [index < participants for index in range(SPEC.SYNC_COMMITTEE_SIZE)]
    update.sync_aggregate.sync_committee_bits = bits
    if finalized:
        update.finality_branch[0] = b"\x01" * 32
    return update


RANKING = [
    ("supermajority beats minority", _ranked(24, False), _ranked(20, True)),
    ("more minority participants", _ranked(10, False), _ranked(9, True)),
    ("finality at equal participation", _ranked(24, True), _ranked(24, False)),
    ("participation beyond supermajority", _ranked(30, True), _ranked(25, True)),
    ("older attested slot", _ranked(24, True, 9), _ranked(24, True, 12)),
]


@pytest.mark.parametrize(("name", "better", "worse"), RANKING, ids=[row[0] for row in RANKING])
def test_is_better_update(name: str, better: Any, worse: Any) -> None:
    assert lightclient.is_better_update(SPEC, better, worse)
    assert not lightclient.is_better_update(SPEC, worse, better)


def test_upgrade_pads_branches_and_keeps_beacon_header(chain: Chain) -> None:
    update = _update(chain)
    upgraded = upgrade_lc_object(SPEC, update, Fork.ELECTRA)
    assert lightclient.lc_object_kind(SPEC, upgraded) == ("LightClientUpdate", Fork.ELECTRA)
    assert upgraded.attested_header.beacon.hash_tree_root() == (
        update.attested_header.beacon.hash_tree_root()
    )
    assert bytes(upgraded.finality_branch[0]) == b"\x00" * 32
    assert [bytes(node) for node in upgraded.finality_branch[1:]] == [
        bytes(node) for node in update.finality_branch
    ]
    # Before Capella the execution part of an upgraded header stays empty.
    assert lightclient.is_valid_light_client_header(SPEC, upgraded.attested_header)
    assert lightclient.get_lc_execution_root(SPEC, upgraded.attested_header) == b"\x00" * 32


def test_upgraded_store_accepts_legacy_update(chain: Chain) -> None:
    store = lightclient.upgrade_lc_store(SPEC, _store(chain), Fork.ELECTRA)
    lightclient.process_light_client_update(
        SPEC, store, _update(chain), 10, GENESIS_VALIDATORS_ROOT
    )
    assert lightclient.is_next_sync_committee_known(store)
    assert lightclient.lc_object_kind(SPEC, store.optimistic_header)[1] == Fork.ELECTRA


def test_collector_serves_best_update(chain: Chain) -> None:
    collector = lightclient.LightClientDataCollector(SPEC, chain.states[8], chain.blocks[8])
    collector.on_block(chain.blocks[9], chain.states[9])
    collector.on_block(chain.blocks[10], chain.states[10])
    collector.on_head(bytes(chain.blocks[10].message.hash_tree_root()))

    expected = _update(chain)
    best = collector.get_light_client_update_for_period(0)
    assert best is not None
    assert best.attested_header.hash_tree_root() == expected.attested_header.hash_tree_root()
    assert best.next_sync_committee.hash_tree_root() == NEXT_COMMITTEE.hash_tree_root()
    assert [
        update.hash_tree_root() for update in collector.get_light_client_updates_by_range(0, 4)
    ] == [best.hash_tree_root()]
    assert collector.get_light_client_updates_by_range(1, 4) == []

    finality = collector.get_light_client_finality_update()
    assert finality is not None
    assert int(finality.attested_header.beacon.slot) == 9
    assert int(finality.signature_slot) == 10
    optimistic = collector.get_light_client_optimistic_update()
    assert optimistic.attested_header.hash_tree_root() == finality.attested_header.hash_tree_root()

    anchor_root = bytes(chain.blocks[8].message.hash_tree_root())
    bootstrap = collector.get_light_client_bootstrap(anchor_root)
    assert bootstrap is not None
    store = lightclient.initialize_light_client_store(SPEC, anchor_root, bootstrap)
    assert int(store.finalized_header.beacon.slot) == 8


def test_gloas_store_accepts_legacy_update(chain: Chain) -> None:
    from caplin.lightclient import gloas

    update = upgrade_lc_object(SPEC, _update(chain), gloas.GLOAS)
    assert lightclient.lc_object_kind(SPEC, update) == ("LightClientUpdate", gloas.GLOAS)
    assert len(update.finality_branch) == 9
    assert len(update.next_sync_committee_branch) == 11
    assert lightclient.is_valid_light_client_header(SPEC, update.attested_header)
    assert lightclient.get_lc_execution_root(SPEC, update.attested_header) == b"\x00" * 32

    store = lightclient.upgrade_lc_store(SPEC, _store(chain), gloas.GLOAS)
    lightclient.process_light_client_update(
        SPEC, store, _update(chain), 10, GENESIS_VALIDATORS_ROOT
    )
    assert lightclient.is_next_sync_committee_known(store)
    assert int(store.optimistic_header.beacon.slot) == 9


def test_collector_block_with_unknown_parent(chain: Chain) -> None:
    collector = lightclient.LightClientDataCollector(SPEC, chain.states[8], chain.blocks[8])
    collector.on_block(chain.blocks[10], chain.states[10])
    collector.on_head(bytes(chain.blocks[10].message.hash_tree_root()))
    assert collector.get_light_client_update_for_period(0) is None
    assert collector.get_light_client_finality_update() is None
