"""Forks, fork choice and pruning of the execution engine."""

import pytest
from eth.exceptions import HeaderNotFound
from execution_testkit import add, build_chain, genesis, new_node, sign

from execution.builder import build_payload
from execution.engine import EmbeddedEngine
from execution.errors import ExecutionError, UnknownParentError
from execution.pruning import Marker
from execution.storage import MemoryBackend


def fork_payload(node, parent_hash, timestamp, sender=3, nonce=0, value=777):
    """Build a payload on `parent_hash` holding one transfer (not imported)."""
    add(node, sign(sender, nonce, value=value))
    return build_payload(
        node.engine,
        node.pool,
        parent_hash=parent_hash,
        timestamp=timestamp,
        fee_recipient=b"\x22" * 20,
        prev_randao=b"\x07" * 32,
        parent_beacon_block_root=b"\x08" * 32,
    )


def test_execute_on_non_head_parent_and_switch():
    chain = build_chain(blocks=3, transfers=2, with_requests=False)
    engine = chain.node.engine
    block1 = chain.built[0].request.payload
    main_head = engine.head()
    assert main_head.block_number == 3

    fork = fork_payload(chain.node, block1.block_hash, block1.timestamp + 5, sender=7)
    engine.execute_batch([fork.request], set_head=False)
    assert engine.head().hash == main_head.hash

    fork_hash = fork.request.payload.block_hash
    engine.forkchoice_updated(fork_hash)
    assert engine.head().hash == fork_hash
    assert engine.head().block_number == 2
    # Both branch tips keep their states while neither is finalized.
    assert engine.has_state(main_head.hash)
    assert engine.has_state(fork_hash)
    fork_tx = fork.transaction_hashes[0]
    assert chain.node.rpc._locate(fork_tx) is not None

    engine.forkchoice_updated(main_head.hash)
    assert engine.head().hash == main_head.hash
    assert chain.node.rpc._locate(fork_tx) is None


def test_fork_batch_moves_head():
    chain = build_chain(blocks=2, transfers=1, with_requests=False)
    engine = chain.node.engine
    genesis_hash = engine.genesis_hash
    genesis_header = engine.header_by_hash(genesis_hash)
    fork = fork_payload(chain.node, genesis_hash, genesis_header.timestamp + 3, sender=6)
    result = engine.execute_batch([fork.request])
    assert result.head_hash == fork.request.payload.block_hash
    assert engine.head().block_number == 1


def test_finalization_prunes_orphans_and_old_states():
    chain = build_chain(blocks=4, transfers=1, with_requests=False)
    engine = chain.node.engine
    engine.retained_states = 1
    payloads = [b.request.payload for b in chain.built]
    orphan = fork_payload(chain.node, payloads[0].block_hash, payloads[0].timestamp + 1, sender=8)
    engine.execute_batch([orphan.request], set_head=False)
    orphan_hash = orphan.request.payload.block_hash

    engine.forkchoice_updated(payloads[3].block_hash, finalized_hash=payloads[2].block_hash)

    assert engine.finalized_hash() == payloads[2].block_hash
    with pytest.raises(HeaderNotFound):
        engine.header_by_hash(orphan_hash)
    # Full mode keeps `retained_states` states below the finalized block 3.
    assert engine.has_state(payloads[1].block_hash)
    assert not engine.has_state(payloads[0].block_hash)
    with pytest.raises(UnknownParentError):
        engine.execute_batch([orphan.request])
    with pytest.raises(UnknownParentError):
        fork_payload(chain.node, payloads[0].block_hash, payloads[0].timestamp + 2, sender=9)


def test_archive_mode_keeps_old_states():
    backend = MemoryBackend()
    engine = EmbeddedEngine(backend, genesis(), mode="archive", retained_states=0)
    node = new_node(engine)
    for sender in range(3):
        add(node, sign(sender, 0))
        node.build_block()
    head = engine.head()
    engine.forkchoice_updated(head.hash, finalized_hash=head.hash)
    assert engine.has_state(engine.genesis_hash)


def test_forkchoice_rejects_unknown_block():
    engine = EmbeddedEngine(MemoryBackend(), genesis())
    with pytest.raises(UnknownParentError):
        engine.forkchoice_updated(b"\x09" * 32)


def test_finalized_off_canonical_chain_rejected():
    chain = build_chain(blocks=2, transfers=1, with_requests=False)
    engine = chain.node.engine
    block1 = chain.built[0].request.payload
    fork = fork_payload(chain.node, block1.block_hash, block1.timestamp + 4, sender=7)
    engine.execute_batch([fork.request], set_head=False)
    with pytest.raises(ExecutionError):
        engine.forkchoice_updated(
            engine.head().hash, finalized_hash=fork.request.payload.block_hash
        )
    assert engine.finalized_hash() == engine.genesis_hash


def test_garbage_collection_keeps_retained_states():
    chain = build_chain(blocks=4, transfers=2, with_requests=True)
    engine = chain.node.engine
    engine.retained_states = 1
    payloads = [b.request.payload for b in chain.built]
    orphan = fork_payload(chain.node, payloads[0].block_hash, payloads[0].timestamp + 1, sender=7)
    engine.execute_batch([orphan.request], set_head=False)
    genesis_root = engine.header_by_hash(engine.genesis_hash).state_root
    keys_before = len(engine.backend.data)

    engine.forkchoice_updated(payloads[3].block_hash, finalized_hash=payloads[2].block_hash)
    removed = engine.collect_garbage()

    assert removed > 0
    assert (
        len(engine.backend.data) == keys_before - removed + 0
        or len(engine.backend.data) < keys_before
    )
    assert engine.backend.get_raw(genesis_root) is None
    assert engine.backend.get_raw(orphan.request.payload.state_root) is None
    # The kept states and block bodies still read in full, and the chain goes on.
    missing = []

    def get(key):
        value = engine.backend.get_raw(key)
        if value is None:
            missing.append(key)
        return value

    walker = Marker(get)
    for payload in payloads[1:]:
        assert engine.has_state(payload.block_hash)
        walker.mark_state(payload.state_root)
        walker.mark_trie(payload.receipts_root)
    assert missing == []
    assert chain.node.rpc._locate(chain.built[0].transaction_hashes[0]) is not None
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    fresh.execute_batch([b.request for b in chain.built])
    add(chain.node, sign(0, 4))
    built = chain.node.build_block()
    fresh.execute_batch([built.request])
    assert fresh.head().hash == engine.head().hash


def test_archive_collection_keeps_history():
    engine = EmbeddedEngine(MemoryBackend(), genesis(), mode="archive")
    node = new_node(engine)
    for sender in range(3):
        add(node, sign(sender, 0))
        node.build_block()
    genesis_root = engine.header_by_hash(engine.genesis_hash).state_root
    engine.forkchoice_updated(engine.head().hash, finalized_hash=engine.head().hash)
    assert engine.collect_garbage() == 0
    assert engine.backend.get_raw(genesis_root) is not None


def test_finalization_runs_collection_on_interval():
    engine = EmbeddedEngine(MemoryBackend(), genesis(), retained_states=0, gc_interval=2)
    node = new_node(engine)
    genesis_root = engine.header_by_hash(engine.genesis_hash).state_root
    hashes = []
    for sender in range(3):
        add(node, sign(sender, 0))
        hashes.append(node.build_block().request.payload.block_hash)

    engine.forkchoice_updated(hashes[2], finalized_hash=hashes[0])
    assert engine.backend.get_raw(genesis_root) is not None
    engine.forkchoice_updated(hashes[2], finalized_hash=hashes[1])
    assert engine.backend.get_raw(genesis_root) is None
    assert engine.has_state(hashes[1])
