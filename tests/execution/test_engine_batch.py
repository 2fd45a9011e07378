"""Batched execution: a fresh engine re-executes a built chain; bad payloads stop the batch."""

import pytest
from eth.exceptions import HeaderNotFound
from execution_testkit import genesis

from execution.engine import EmbeddedEngine
from execution.errors import InvalidPayloadError, UnknownParentError
from execution.payload import (
    NewPayload,
    Withdrawal,
    build_header,
    compute_requests_hash,
    compute_transactions_root,
    decode_transactions,
)
from execution.storage import MemoryBackend


def rehash(request: NewPayload) -> NewPayload:
    """Recompute the block hash, so only the tampered field is wrong."""
    payload = request.payload
    header = build_header(
        payload,
        request.parent_beacon_block_root,
        compute_requests_hash(request.execution_requests),
        compute_transactions_root(decode_transactions(payload.transactions)),
    )
    return NewPayload(
        payload=payload.replace(block_hash=header.hash),
        parent_beacon_block_root=request.parent_beacon_block_root,
        versioned_hashes=request.versioned_hashes,
        execution_requests=request.execution_requests,
        expected_withdrawals=request.expected_withdrawals,
    )


def test_fresh_engine_replays_chain_in_one_batch(chain):
    requests = [b.request for b in chain.built]
    backend = MemoryBackend()
    fresh = EmbeddedEngine(backend, genesis())
    commits_before = backend.commits

    result = fresh.execute_batch(requests)

    assert result.executed == tuple(r.payload.block_hash for r in requests)
    assert backend.commits == commits_before + 1
    assert fresh.head().hash == chain.node.engine.head().hash
    for request in requests:
        header = fresh.header_by_hash(request.payload.block_hash)
        assert header.state_root == request.payload.state_root
        assert header.receipt_root == request.payload.receipts_root
        assert header.bloom.to_bytes(256, "big") == request.payload.logs_bloom
        assert header.requests_hash == compute_requests_hash(request.execution_requests)


def test_replayed_chain_has_requests(chain):
    types = {r[0] for b in chain.built for r in b.request.execution_requests}
    assert types == {0x00, 0x01}


def _tamper(request: NewPayload, field: str) -> NewPayload:
    payload = request.payload
    if field == "state_root":
        return rehash(
            NewPayload(**{**request.__dict__, "payload": payload.replace(state_root=b"\x01" * 32)})
        )
    if field == "receipts_root":
        return rehash(
            NewPayload(
                **{**request.__dict__, "payload": payload.replace(receipts_root=b"\x02" * 32)}
            )
        )
    if field == "logs_bloom":
        return rehash(
            NewPayload(**{**request.__dict__, "payload": payload.replace(logs_bloom=b"\x03" * 256)})
        )
    if field == "gas_used":
        return rehash(
            NewPayload(
                **{**request.__dict__, "payload": payload.replace(gas_used=payload.gas_used + 1)}
            )
        )
    if field == "block_hash":
        return NewPayload(
            **{**request.__dict__, "payload": payload.replace(block_hash=b"\x04" * 32)}
        )
    if field == "withdrawals":
        changed = tuple(
            Withdrawal(w.index, w.validator_index, w.address, w.amount + 1)
            for w in payload.withdrawals
        )
        return rehash(
            NewPayload(
                **{
                    **request.__dict__,
                    "payload": payload.replace(withdrawals=changed),
                    "expected_withdrawals": payload.withdrawals,
                }
            )
        )
    if field == "execution_requests":
        requests = tuple(r for r in request.execution_requests if r[0] != 0x01)
        return rehash(NewPayload(**{**request.__dict__, "execution_requests": requests}))
    if field == "blob_gas_used":
        too_much = payload.replace(blob_gas_used=10 * 131072)
        return rehash(NewPayload(**{**request.__dict__, "payload": too_much}))
    if field == "base_fee_per_gas":
        return rehash(
            NewPayload(
                **{
                    **request.__dict__,
                    "payload": payload.replace(base_fee_per_gas=payload.base_fee_per_gas + 1),
                }
            )
        )
    raise AssertionError(field)


TAMPERED_FIELDS = [
    "state_root",
    "receipts_root",
    "logs_bloom",
    "gas_used",
    "block_hash",
    "withdrawals",
    "execution_requests",
    "base_fee_per_gas",
    "blob_gas_used",
]


@pytest.mark.parametrize("field", TAMPERED_FIELDS)
def test_bad_payload_stops_batch(chain, field):
    requests = [b.request for b in chain.built]
    bad_index = 1  # block 2 carries the deposit and withdrawal requests
    requests[bad_index] = _tamper(requests[bad_index], field)
    fresh = EmbeddedEngine(MemoryBackend(), genesis())

    with pytest.raises(InvalidPayloadError) as raised:
        fresh.execute_batch(requests)

    error = raised.value
    assert error.field == field
    assert error.block_number == bad_index + 1
    assert error.committed == (requests[0].payload.block_hash,)
    assert fresh.header_by_hash(requests[0].payload.block_hash).block_number == 1
    for later in requests[bad_index:]:
        with pytest.raises(HeaderNotFound):
            fresh.header_by_hash(later.payload.block_hash)
    assert fresh.head().hash == requests[0].payload.block_hash


def test_error_names_expected_and_actual(chain):
    request = _tamper(chain.built[0].request, "state_root")
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    with pytest.raises(InvalidPayloadError) as raised:
        fresh.execute_batch([request])
    assert raised.value.actual == b"\x01" * 32
    assert raised.value.expected == chain.built[0].request.payload.state_root
    assert "state_root" in str(raised.value)


def test_invalid_transaction_names_index(chain):
    request = chain.built[0].request
    transactions = request.payload.transactions
    # Block 3 holds only transfers with nonces of 2 or more, too high for block 1.
    swapped = (chain.built[2].request.payload.transactions[0],) + transactions[1:]
    tampered = rehash(
        NewPayload(**{**request.__dict__, "payload": request.payload.replace(transactions=swapped)})
    )
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    with pytest.raises(InvalidPayloadError) as raised:
        fresh.execute_batch([tampered, chain.built[1].request])
    assert raised.value.field == "transactions"
    assert raised.value.fields["transaction_index"] == 0
    assert raised.value.committed == ()


def test_unknown_parent_is_rejected(chain):
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    with pytest.raises(UnknownParentError):
        fresh.execute_batch([chain.built[1].request])


def test_engine_protocol_returns_verdicts(chain):
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    assert fresh.verify_and_notify_new_payload(chain.built[0].request) is True
    assert fresh.notify_new_payload(chain.built[0].request) is True
    assert fresh.verify_and_notify_new_payload(_tamper(chain.built[1].request, "gas_used")) is False
    # verify_and_notify_new_payload leaves the head to fork choice.
    assert fresh.head().block_number == 0


def test_engine_protocol_raises_without_parent(chain):
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    with pytest.raises(UnknownParentError):
        fresh.verify_and_notify_new_payload(chain.built[2].request)


def test_known_block_hash_with_other_fields_is_invalid(chain):
    fresh = EmbeddedEngine(MemoryBackend(), genesis())
    request = chain.built[0].request
    assert fresh.verify_and_notify_new_payload(request) is True
    # Same block hash, other contents: the stored verdict must not be reused.
    forged = NewPayload(
        payload=request.payload.replace(gas_used=request.payload.gas_used + 1),
        parent_beacon_block_root=request.parent_beacon_block_root,
        execution_requests=request.execution_requests,
    )
    assert fresh.verify_and_notify_new_payload(forged) is False
    extra_blob = NewPayload(
        payload=request.payload,
        parent_beacon_block_root=request.parent_beacon_block_root,
        versioned_hashes=(b"\x01" + b"\x00" * 31,),
        execution_requests=request.execution_requests,
    )
    assert fresh.verify_and_notify_new_payload(extra_blob) is False
    with pytest.raises(InvalidPayloadError) as raised:
        fresh.execute_batch([forged])
    assert raised.value.field == "block_hash"
    assert fresh.verify_and_notify_new_payload(request) is True
