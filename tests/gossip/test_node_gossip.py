"""Two dev nodes on loopback: every gossip topic of the fork, its pools, and the fork switch.

The chain starts at deneb with electra at epoch 1 and 2-second slots. Within one test the nodes
join the electra topics one epoch ahead, switch their ENR at the fork, and leave the deneb
topics two epochs after it.
"""

import time
from pathlib import Path

import trio

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.node.network import NetworkConfig
from caplin.node.node import NodeConfig, run_node
from caplin.node.setup import DevParameters
from caplin.peerdas import get_validators_custody_requirement
from caplin.transition.helpers import compute_domain, compute_signing_root
from caplin.validator.keys import interop_secret_key
from sentinel.gossip import parse_topic
from sentinel.gossip.subscriptions import custody_column_subnets
from sentinel.gossip.topics import GossipTopic

SLOT_MS = 2000
PARAMETERS = DevParameters(
    validators=64,
    genesis_fork="deneb",
    # SHARD_COMMITTEE_PERIOD 0 lets a genesis validator exit at once.
    overrides=(
        ("SLOT_DURATION_MS", SLOT_MS),
        ("ELECTRA_FORK_EPOCH", 1),
        ("SHARD_COMMITTEE_PERIOD", 0),
    ),
)


def node_config(datadir: Path, genesis_time: int, **options) -> NodeConfig:
    network = NetworkConfig(listen_host="127.0.0.1", udp_port=0, tcp_port=0, **options)
    return NodeConfig(
        datadir=datadir,
        dev=PARAMETERS,
        genesis_time=genesis_time,
        api_enabled=False,
        rpc_enabled=False,
        network=network,
    )


async def wait_for(condition, timeout: float, description: str) -> None:
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.2)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


def names_on(node, digest: bytes) -> set[str]:
    names = set()
    for topic in node.network.gossip.topics:
        parsed = parse_topic(topic)
        if parsed.fork_digest == digest:
            suffix = "" if parsed.subnet_id is None else f"_{parsed.subnet_id}"
            names.add(parsed.name + suffix)
    return names


def sign(spec, secret_index: int, message, domain: bytes) -> bytes:
    return bls.Sign(interop_secret_key(secret_index), compute_signing_root(spec, message, domain))


def voluntary_exit(spec, state, validator_index: int, signer: int) -> bytes:
    types = spec.types(Fork.DENEB)
    message = types.VoluntaryExit(epoch=0, validator_index=validator_index)
    # Deneb (EIP-7044): exits are signed for the capella fork version.
    domain = compute_domain(
        spec,
        constants.DOMAIN_VOLUNTARY_EXIT,
        spec.fork_version(Fork.CAPELLA),
        bytes(state.genesis_validators_root),
    )
    signed = types.SignedVoluntaryExit(
        message=message, signature=sign(spec, signer, message, domain)
    )
    return signed.encode_bytes()


def bls_change(spec, state, validator_index: int) -> bytes:
    types = spec.types(Fork.DENEB)
    pubkey = bytes(state.validators[validator_index].pubkey)
    assert bytes(state.validators[validator_index].withdrawal_credentials)[1:] == sha256(pubkey)[1:]
    message = types.BLSToExecutionChange(
        validator_index=validator_index, from_bls_pubkey=pubkey, to_execution_address=b"\x11" * 20
    )
    domain = compute_domain(
        spec,
        constants.DOMAIN_BLS_TO_EXECUTION_CHANGE,
        None,
        bytes(state.genesis_validators_root),
    )
    signed = types.SignedBLSToExecutionChange(
        message=message, signature=sign(spec, validator_index, message, domain)
    )
    return signed.encode_bytes()


def proposer_slashing(spec, state, proposer_index: int) -> bytes:
    types = spec.types(Fork.DENEB)
    domain = compute_domain(
        spec,
        constants.DOMAIN_BEACON_PROPOSER,
        spec.fork_version(Fork.DENEB),
        bytes(state.genesis_validators_root),
    )
    headers = []
    for body_root in (b"\x01" * 32, b"\x02" * 32):
        header = types.BeaconBlockHeader(slot=3, proposer_index=proposer_index, body_root=body_root)
        headers.append(
            types.SignedBeaconBlockHeader(
                message=header, signature=sign(spec, proposer_index, header, domain)
            )
        )
    slashing = types.ProposerSlashing(signed_header_1=headers[0], signed_header_2=headers[1])
    return slashing.encode_bytes()


async def test_topics_pools_and_fork_switch(tmp_path):
    genesis_time = int(time.time()) + 3
    async with trio.open_nursery() as nursery:
        first_stop, second_stop = trio.Event(), trio.Event()
        first = await nursery.start(
            lambda task_status: run_node(
                node_config(tmp_path / "first", genesis_time),
                shutdown=first_stop,
                task_status=task_status,
            )
        )
        config = node_config(
            tmp_path / "second", genesis_time, static_peers=[first.network.record.to_text()]
        )
        config.run_validators = False
        second = await nursery.start(
            lambda task_status: run_node(config, shutdown=second_stop, task_status=task_status)
        )
        spec = first.spec
        forks = first.network.sentinel.forks
        deneb, electra = forks.digest_of_fork(Fork.DENEB), forks.digest_of_fork(Fork.ELECTRA)
        first_peer = first.network.sentinel.host.peer_id
        await wait_for(
            lambda: first_peer in second.network.sentinel.host.peers.connected, 30, "the peering"
        )

        # Epoch 0: deneb topics, and electra's one epoch ahead of the fork.
        globals_deneb = {
            "beacon_block",
            "beacon_aggregate_and_proof",
            "voluntary_exit",
            "proposer_slashing",
            "attester_slashing",
            "sync_committee_contribution_and_proof",
            "bls_to_execution_change",
        }
        blobs_deneb = {f"blob_sidecar_{i}" for i in range(spec.BLOB_SIDECAR_SUBNET_COUNT)}
        blobs_electra = {f"blob_sidecar_{i}" for i in range(spec.BLOB_SIDECAR_SUBNET_COUNT_ELECTRA)}
        long_lived = second.network.attnets
        assert len(long_lived) == spec.SUBNETS_PER_NODE
        assert second.network.sentinel.discovery.record.attnets == long_lived
        second_subnets = {f"beacon_attestation_{i}" for i in long_lived}
        assert names_on(second, deneb) == globals_deneb | blobs_deneb | second_subnets
        assert names_on(second, electra) == globals_deneb | blobs_electra | second_subnets
        # The first node runs every validator: its committees cover 16 subnets per epoch and
        # its validators fill every sync subcommittee.
        first_names = names_on(first, deneb)
        duty_subnets = {name for name in first_names if name.startswith("beacon_attestation_")}
        assert len(duty_subnets) >= 16
        assert {f"sync_committee_{i}" for i in range(4)} <= first_names
        assert first.network.syncnets == frozenset(range(4))
        assert int(first.network.metadata().seq_number) >= 2
        assert first.network.sentinel.discovery.record.syncnets == frozenset(range(4))

        # Operations published by the first node land in the second node's pool.
        state = first.chain.snapshot.head_state
        topic = str(GossipTopic(deneb, "voluntary_exit"))
        await wait_for(
            lambda: (
                topic in second.network.sentinel.pubsub.topic_ids
                and first.network.sentinel.pubsub.peer_topics.get(topic)
            ),
            20,
            "the voluntary_exit subscription to reach the first node",
        )
        assert await first.network.publish("voluntary_exit", voluntary_exit(spec, state, 3, 3))
        assert await first.network.publish("bls_to_execution_change", bls_change(spec, state, 5))
        assert await first.network.publish("proposer_slashing", proposer_slashing(spec, state, 7))
        operations = second.network.operations
        await wait_for(lambda: len(operations) == 3, 20, "three operations in the pool")
        assert [int(e.message.validator_index) for e in operations.voluntary_exits()] == [3]
        assert [int(c.message.validator_index) for c in operations.bls_to_execution_changes()] == [
            5
        ]
        slashings = operations.proposer_slashings()
        assert [int(s.signed_header_1.message.proposer_index) for s in slashings] == [7]

        # An exit signed with another validator's key is rejected and costs the sender score.
        assert await first.network.publish("voluntary_exit", voluntary_exit(spec, state, 4, 9))
        peers = second.network.sentinel.host.peers
        await wait_for(lambda: peers.score(first_peer) < 0, 20, "the REJECT penalty")
        assert [int(e.message.validator_index) for e in operations.voluntary_exits()] == [3]

        # From epoch 1 the ENR carries the electra digest, and blocks and aggregates keep flowing.
        slots_per_epoch = int(spec.SLOTS_PER_EPOCH)
        await wait_for(
            lambda: first.current_slot() >= slots_per_epoch + 1, 40, "the electra fork epoch"
        )
        await wait_for(
            lambda: second.network.sentinel.discovery.record.eth2.fork_digest == electra,
            4 * SLOT_MS / 1000,
            "the ENR of the electra fork",
        )
        assert second.network.sentinel.fork_digest == electra
        # Two epochs after the fork the deneb topics are left.
        await wait_for(
            lambda: first.current_slot() >= 3 * slots_per_epoch + 1, 40, "two epochs after it"
        )
        await wait_for(
            lambda: not names_on(second, deneb) and not names_on(first, deneb),
            4 * SLOT_MS / 1000,
            "the deneb topics to be left",
        )
        assert not any(deneb.hex() in topic for topic in second.network.sentinel.pubsub.topic_ids)
        assert names_on(second, electra) >= globals_deneb | blobs_electra
        electra_block = str(GossipTopic(electra, "beacon_block"))
        assert first.network.sentinel.pubsub.peer_topics.get(electra_block)
        await wait_for(
            lambda: second.chain.snapshot.head_root == first.chain.snapshot.head_root,
            20,
            "the second node to follow the first's head",
        )
        assert spec.fork_of(second.chain.snapshot.head_state) == Fork.ELECTRA
        assert second.network.gossip_blocks >= slots_per_epoch
        assert second.network.gossip_aggregates > 0
        assert len(second.validators.attestations) > 0

        second_stop.set()
        first_stop.set()


async def test_fulu_node_joins_custody_column_subnets(tmp_path):
    config = node_config(tmp_path / "fulu", int(time.time()) + 2)
    config.dev = DevParameters(validators=64, genesis_fork="fulu")
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        node = await nursery.start(
            lambda task_status: run_node(config, shutdown=stop, task_status=task_status)
        )
        spec = node.spec
        network = node.network
        state = node.chain.snapshot.head_state
        expected_count = get_validators_custody_requirement(spec, state, list(range(64)))
        assert network.custody_group_count == expected_count
        assert int(network.metadata().custody_group_count) == expected_count
        record = network.sentinel.discovery.record
        assert record.cgc == expected_count
        assert record.pairs[b"nfd"] == b"\x00" * 4

        digest = network.sentinel.forks.digest_of_fork(Fork.FULU)
        names = names_on(node, digest)
        columns = {name for name in names if name.startswith("data_column_sidecar_")}
        subnets = custody_column_subnets(spec, network.gossip.node_id, expected_count)
        assert columns == {f"data_column_sidecar_{i}" for i in subnets}
        assert not any(name.startswith("blob_sidecar_") for name in names)
        assert {"beacon_block", "bls_to_execution_change"} <= names
        stop.set()
