"""Blob transactions: pool admission with sidecars, blob limits and fees in the builder."""

import functools

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys
from execution_testkit import ACCOUNTS, RECIPIENT, add, genesis, new_node

from caplin.crypto import kzg
from execution.blobs import GAS_PER_BLOB, split_network_form
from execution.builder import build_payload
from execution.engine import EmbeddedEngine
from execution.errors import InvalidPayloadError, TransactionPoolError
from execution.genesis import DEV_CHAIN_ID
from execution.trie import decode_rlp
from execution.txpool import TransactionPool


def make_blob(seed: int) -> bytes:
    # Each 32-byte field element starts with a zero byte, so it is below the BLS modulus.
    return b"".join(b"\x00" + bytes([(seed + i) % 256]) * 31 for i in range(4096))


@functools.cache
def blob_set() -> list[tuple[bytes, bytes, bytes, list[bytes]]]:
    """Return four blobs with their commitments, blob proofs and cell proofs."""
    result = []
    for seed in range(4):
        blob = make_blob(seed)
        commitment = kzg.blob_to_kzg_commitment(blob)
        proof = kzg.compute_blob_kzg_proof(blob, commitment)
        _, cell_proofs = kzg.compute_cells_and_kzg_proofs(blob)
        result.append((blob, commitment, proof, cell_proofs))
    return result


@pytest.fixture()
def blobs():
    return blob_set()


def sign_blob(
    blobs,
    sender: int,
    nonce: int,
    indices: list[int],
    *,
    cell_proofs: bool = False,
    max_fee_per_blob_gas: int = 10**9,
    tip: int = 10**9,
) -> tuple[bytes, bytes]:
    """Return (network form, eth-account's canonical signed transaction)."""
    chosen = [blobs[i] for i in indices]
    signed = Account.sign_transaction(
        {
            "to": RECIPIENT,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": tip,
            "maxFeePerBlobGas": max_fee_per_blob_gas,
            "blobVersionedHashes": [kzg.kzg_commitment_to_versioned_hash(c[1]) for c in chosen],
            "nonce": nonce,
            "chainId": DEV_CHAIN_ID,
            "type": 3,
        },
        ACCOUNTS[sender][1],
    )
    canonical = bytes(signed.raw_transaction)
    body, _ = decode_rlp(canonical, 1)
    sidecar_blobs = [c[0] for c in chosen]
    commitments = [c[1] for c in chosen]
    if cell_proofs:
        proofs = [p for c in chosen for p in c[3]]
        wrapped = [body, 1, sidecar_blobs, commitments, proofs]
    else:
        wrapped = [body, sidecar_blobs, commitments, [c[2] for c in chosen]]
    return b"\x03" + rlp.encode(wrapped), canonical


def rejection(node, raw) -> str:
    with pytest.raises(TransactionPoolError) as raised:
        add(node, raw)
    return raised.value.message


@pytest.mark.parametrize("cell_proofs", [False, True])
def test_pool_takes_both_sidecar_forms(blobs, cell_proofs):
    node = new_node()
    network, canonical = sign_blob(blobs, 0, 0, [0, 1], cell_proofs=cell_proofs)
    tx_hash = add(node, network)
    assert tx_hash == keccak(canonical)
    pooled = node.pool.get(tx_hash)
    assert pooled.raw == canonical
    assert pooled.sidecar.commitments == (blobs[0][1], blobs[1][1])
    assert pooled.sidecar.proofs == (blobs[0][2], blobs[1][2])
    assert len(pooled.sidecar.cell_proofs) == (256 if cell_proofs else 0)


def test_pool_rejects_bad_blob_transactions(blobs):
    node = new_node()
    network, canonical = sign_blob(blobs, 0, 0, [0])
    assert rejection(node, canonical).startswith("blob transaction without its blobs")

    items, _ = decode_rlp(network, 1)
    swapped = b"\x03" + rlp.encode([items[0], items[1], [blobs[1][1]], items[3]])
    assert "does not match its versioned hash" in rejection(node, swapped)
    wrong_proof = b"\x03" + rlp.encode([items[0], items[1], items[2], [blobs[1][2]]])
    assert "KZG proofs do not verify" in rejection(node, wrong_proof)
    missing = b"\x03" + rlp.encode([items[0], [], [], []])
    assert "0 blobs" in rejection(node, missing)

    engine = node.engine
    strict = TransactionPool(
        engine.chain_id, block_gas_limit=lambda: 30_000_000, max_blobs_per_transaction=1
    )
    two, _ = sign_blob(blobs, 0, 0, [0, 1])
    state = engine.state_at(engine.head())
    with pytest.raises(TransactionPoolError, match="too many blobs"):
        strict.add(two, lambda a: (state.get_nonce(a), state.get_balance(a)))
    with pytest.raises(TransactionPoolError, match="insufficient funds"):
        strict.add(network, lambda a: (0, 21_000 * 10**10 + 1 + GAS_PER_BLOB * 10**9 - 1))


def test_builder_includes_blobs_and_returns_the_bundle(blobs):
    node = new_node()
    add(node, sign_blob(blobs, 0, 0, [0, 1])[0])
    add(node, sign_blob(blobs, 1, 0, [2], cell_proofs=True)[0])
    built = node.build()
    payload = built.request.payload
    assert len(payload.transactions) == 2
    assert payload.blob_gas_used == 3 * GAS_PER_BLOB
    bundle = built.blobs_bundle
    # Higher tips first; both pay the same, so the order is the pool's tie-break.
    order = [0, 1, 2] if bundle.blobs[0] == blobs[0][0] else [2, 0, 1]
    assert bundle.blobs == tuple(blobs[i][0] for i in order)
    assert bundle.commitments == tuple(blobs[i][1] for i in order)
    assert bundle.proofs == tuple(blobs[i][2] for i in order)
    assert bundle.cell_proofs == ()  # one transaction came without cell proofs
    assert built.request.versioned_hashes == tuple(
        kzg.kzg_commitment_to_versioned_hash(c) for c in bundle.commitments
    )
    # A fresh engine executes the payload and accepts its blob fields.
    fresh = EmbeddedEngine.in_memory(genesis())
    assert fresh.execute_batch([built.request]).executed == (payload.block_hash,)


def test_builder_keeps_the_blob_limit_and_blob_fee(blobs):
    node = new_node()
    engine = node.engine
    best = add(node, sign_blob(blobs, 0, 0, [0, 1], tip=3 * 10**9)[0])
    add(node, sign_blob(blobs, 1, 0, [2, 3], tip=2 * 10**9)[0])
    # A blob fee cap below the minimum blob base fee could never be included.
    assert rejection(node, sign_blob(blobs, 2, 0, [3], max_fee_per_blob_gas=0)[0]).startswith(
        "max fee per blob gas below"
    )
    head = engine.head()
    options = {
        "parent_hash": head.hash,
        "timestamp": head.timestamp + 12,
        "fee_recipient": b"\x00" * 20,
        "prev_randao": b"\x00" * 32,
        "parent_beacon_block_root": b"\x00" * 32,
    }
    built = build_payload(engine, node.pool, max_blobs=3, **options)
    # The best tip fits; the second would make 4 blobs.
    assert built.transaction_hashes == (best,)
    assert len(built.blobs_bundle.blobs) == 2
    everything = build_payload(engine, node.pool, max_blobs=9, **options)
    assert len(everything.transaction_hashes) == 2
    assert everything.request.payload.blob_gas_used == 4 * GAS_PER_BLOB


@pytest.mark.slow
def test_eth_account_network_form(blobs):
    """eth-account's own blob signing (EIP-7594 form); slow: it loads its trusted setup."""
    signed = Account.sign_transaction(
        {
            "to": RECIPIENT,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerBlobGas": 10**9,
            "nonce": 0,
            "chainId": DEV_CHAIN_ID,
            "type": 3,
        },
        ACCOUNTS[0][1],
        blobs=[blobs[0][0]],
    )
    canonical, sidecar = split_network_form(bytes(signed.raw_transaction))
    assert sidecar.commitments == (blobs[0][1],)
    assert len(sidecar.cell_proofs) == 128
    # eth-account 0.14 hashes the network form. The transaction hash, which the pool returns
    # and receipts carry, is the hash of the canonical form that a block contains.
    assert bytes(signed.hash) == keccak(bytes(signed.raw_transaction))
    assert add(new_node(), bytes(signed.raw_transaction)) == keccak(canonical)


def test_rpc_shows_pooled_blob_transaction(blobs):
    node = new_node()
    network, canonical = sign_blob(blobs, 0, 0, [0])
    response = node.rpc.handle_call(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + network.hex()],
        }
    )
    assert response["result"] == "0x" + keccak(canonical).hex()
    view = node.rpc.handle_call(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "eth_getTransactionByHash",
            "params": [response["result"]],
        }
    )["result"]
    assert view["type"] == "0x3"
    assert view["maxFeePerBlobGas"] == hex(10**9)
    assert view["blobVersionedHashes"] == [
        "0x" + kzg.kzg_commitment_to_versioned_hash(blobs[0][1]).hex()
    ]


def sign_blob_create(blobs, sender: int, *, max_fee_per_blob_gas: int = 10**9) -> bytes:
    """Return, in network form, a blob transaction with no `to`: a contract creation, which
    EIP-4844 forbids and eth-account refuses to sign, so it is signed here field by field."""
    blob, commitment, proof, _ = blobs[0]
    versioned_hash = kzg.kzg_commitment_to_versioned_hash(commitment)
    # chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to, value, data,
    # access_list, max_fee_per_blob_gas, blob_versioned_hashes.
    fields = [DEV_CHAIN_ID, 0, 10**9, 10**10, 100_000, b"", 0, b"\x60\x00"]
    fields += [[], max_fee_per_blob_gas, [versioned_hash]]
    signature = keys.PrivateKey(ACCOUNTS[sender][1]).sign_msg_hash(
        keccak(b"\x03" + rlp.encode(fields))
    )
    body = fields + [signature.v, signature.r, signature.s]
    return b"\x03" + rlp.encode([body, [blob], [commitment], [proof]])


def test_pool_rejects_blob_contract_creation(blobs):
    node = new_node()
    assert rejection(node, sign_blob_create(blobs, 0)).startswith("blob transaction of type create")


def test_pool_rejects_zero_blob_fee_cap(blobs):
    node = new_node()
    raw, _ = sign_blob(blobs, 0, 0, [0], max_fee_per_blob_gas=0)
    assert rejection(node, raw) == "max fee per blob gas below the minimum blob base fee"


def test_engine_rejects_blob_contract_creation(blobs):
    from test_engine_batch import rehash

    from execution.payload import NewPayload

    node = new_node()
    add(node, sign_blob(blobs, 0, 0, [0])[0])
    built = node.build()
    canonical = split_network_form(sign_blob_create(blobs, 1))[0]
    request = built.request
    payload = request.payload.replace(transactions=(*request.payload.transactions, canonical))
    tampered = rehash(NewPayload(**{**request.__dict__, "payload": payload}))
    fresh = EmbeddedEngine.in_memory(genesis())
    with pytest.raises(InvalidPayloadError) as raised:
        fresh.execute_batch([tampered])
    assert raised.value.field == "transactions"
    assert "transaction 1 is invalid: blob transaction of type create" in str(raised.value)


def test_blob_receipt_has_blob_gas(blobs):
    import json

    node = new_node()
    tx_hash = add(node, sign_blob(blobs, 0, 0, [0, 1])[0])
    node.build_block()
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getTransactionReceipt",
        "params": ["0x" + tx_hash.hex()],
    }
    receipt = json.loads(node.rpc.handle(json.dumps(body).encode()))["result"]
    assert receipt["type"] == "0x3"
    assert int(receipt["blobGasUsed"], 16) == 2 * GAS_PER_BLOB
    assert int(receipt["blobGasPrice"], 16) >= 1
