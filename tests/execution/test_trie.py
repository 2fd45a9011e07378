"""The in-memory trie against py-evm's HexaryTrie: same roots, same reads, nodes that reload."""

import random

import pytest
import rlp
from eth.db.trie import _make_trie_root_and_nodes
from eth.rlp.accounts import Account
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from execution.trie import BLANK_ROOT, Trie, ordered_trie_root
from execution.vm import encode_account


@pytest.mark.parametrize("count", [0, 1, 2, 15, 16, 17, 127, 128, 129, 300])
def test_ordered_root_matches_py_evm(count):
    rng = random.Random(count)
    items = tuple(rng.randbytes(rng.choice([1, 5, 20, 40, 100])) for _ in range(count))
    root, nodes = ordered_trie_root(items)
    expected_root, expected_nodes = _make_trie_root_and_nodes(items)
    assert root == expected_root
    assert set(expected_nodes) <= set(nodes) | {root}


@pytest.mark.parametrize("seed", range(40))
def test_random_writes_and_deletes_match_hexary_trie(seed):
    rng = random.Random(seed)
    reference = HexaryTrie({})
    stored: dict[bytes, bytes] = {}
    trie = Trie(stored.get)
    key_sizes = [1, 2, 3] if seed % 2 else [32]
    keys = [rng.randbytes(rng.choice(key_sizes)) for _ in range(rng.randint(1, 50))]
    if seed % 4 == 1:  # shared prefixes: extensions, branch values, collapses
        keys = [bytes([k[0] & 0x11]) + k[1:] for k in keys]
    for _ in range(150):
        key = rng.choice(keys)
        value = b"" if rng.random() < 0.3 else rng.randbytes(rng.choice([1, 3, 10, 40]))
        if value:
            reference[key] = value
        elif key in reference:
            del reference[key]
        trie.set(key, value)
        if rng.random() < 0.2:
            new_nodes: dict[bytes, bytes] = {}
            root = trie.root_hash(new_nodes)
            stored.update(new_nodes)
            assert root == reference.root_hash
            reloaded = Trie(stored.get, root)  # only from the stored nodes
            for probe in keys:
                assert reloaded.get(probe) == reference.get(probe)
            if rng.random() < 0.5:
                trie = reloaded  # continue writing on lazily loaded nodes
    assert trie.root_hash({}) == reference.root_hash


def test_old_root_stays_valid_after_writes():
    stored: dict[bytes, bytes] = {}
    trie = Trie(stored.get)
    for index in range(50):
        trie.set(bytes([index]) * 32, b"v%d" % index)
    new_nodes: dict[bytes, bytes] = {}
    first_root = trie.root_hash(new_nodes)
    stored.update(new_nodes)
    first_node = trie.root
    trie.set(bytes([3]) * 32, b"changed")
    trie.delete(bytes([4]) * 32)
    new_nodes = {}
    trie.root_hash(new_nodes)
    stored.update(new_nodes)
    old = Trie(stored.get, first_node, known_root_hash=first_root)
    assert old.get(bytes([3]) * 32) == b"v3"
    assert old.get(bytes([4]) * 32) == b"v4"
    assert old.root_hash({}) == first_root


def test_empty_trie_and_missing_node():
    assert Trie({}.get).root_hash({}) == BLANK_ROOT
    with pytest.raises(MissingTrieNode):
        Trie({}.get, b"\x11" * 32).get(b"key")


def test_account_encoding_matches_pyrlp():
    rng = random.Random(7)
    for _ in range(500):
        account = Account(
            rng.choice([0, 1, 127, 128, 2**64 - 1, rng.getrandbits(20)]),
            rng.choice([0, 1, 2**256 - 1, rng.getrandbits(rng.randint(1, 256))]),
            rng.randbytes(32),
            rng.randbytes(32),
        )
        assert encode_account(account) == rlp.encode(account, sedes=Account)


def test_receipt_encoding_matches_py_evm():
    from eth.rlp.logs import Log
    from eth.rlp.receipts import Receipt
    from eth.vm.forks.prague.receipts import PragueTypedReceipt as TypedReceipt

    from execution.vm import encode_receipt

    rng = random.Random(9)
    for count in range(6):
        logs = [
            Log(
                rng.randbytes(20),
                tuple(rng.getrandbits(256) for _ in range(i % 5)),
                rng.randbytes(i * 40),
            )
            for i in range(count)
        ]
        inner = Receipt(rng.choice([b"", b"\x01"]), rng.getrandbits(rng.randint(1, 40)), logs)
        assert encode_receipt(inner) == inner.encode()
        for type_id in (1, 2, 3, 4):
            typed = TypedReceipt(type_id, inner)
            assert encode_receipt(typed) == typed.encode()
