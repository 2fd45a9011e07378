"""Bellatrix SSZ containers: the execution payload joins the block and state."""

from typing import Any

from caplin.types.altair import light_client_types
from caplin.types.basic import (
    ByteList,
    Bytes32,
    ByteVector,
    Container,
    ExecutionAddress,
    Hash32,
    List,
    Root,
    container,
    copy_of,
    extend,
    uint64,
    uint256,
)
from caplin.types.phase0 import block_types


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the bellatrix containers for preset `p` on top of altair's `prev`."""
    Transaction = ByteList[p.MAX_BYTES_PER_TRANSACTION]

    class ExecutionPayload(Container):
        parent_hash: Hash32
        fee_recipient: ExecutionAddress
        state_root: Bytes32
        receipts_root: Bytes32
        logs_bloom: ByteVector[p.BYTES_PER_LOGS_BLOOM]
        prev_randao: Bytes32
        block_number: uint64
        gas_limit: uint64
        gas_used: uint64
        timestamp: uint64
        extra_data: ByteList[p.MAX_EXTRA_DATA_BYTES]
        base_fee_per_gas: uint256
        block_hash: Hash32
        transactions: List[Transaction, p.MAX_TRANSACTIONS_PER_PAYLOAD]

    ExecutionPayloadHeader = payload_header_of(ExecutionPayload)

    class PowBlock(Container):
        block_hash: Hash32
        parent_hash: Hash32
        total_difficulty: uint256

    class NewPayloadRequest(Container):
        execution_payload: ExecutionPayload

    body = extend(prev["BeaconBlockBody"], execution_payload=ExecutionPayload)
    state = extend(prev["BeaconState"], latest_execution_payload_header=ExecutionPayloadHeader)

    types = {
        "Transaction": Transaction,
        "ExecutionPayload": ExecutionPayload,
        "ExecutionPayloadHeader": ExecutionPayloadHeader,
        "PowBlock": PowBlock,
        "NewPayloadRequest": NewPayloadRequest,
        "BeaconBlockBody": body,
        "BeaconState": state,
    }
    types.update(block_types(body))
    types.update(blinded_types(body, ExecutionPayloadHeader))
    types.update(
        light_client_types(
            copy_of(prev["LightClientHeader"]), prev["SyncCommittee"], prev["SyncAggregate"]
        )
    )
    return types


def payload_header_of(payload: type) -> type:
    """Derive ExecutionPayloadHeader: the payload's fields, with list fields replaced by roots.

    `transactions` becomes `transactions_root` and `withdrawals` becomes
    `withdrawals_root`; every other field keeps its type and position.
    """
    fields: dict[str, type] = {}
    for name, kind in payload.fields().items():
        if name in ("transactions", "withdrawals"):
            fields[f"{name}_root"] = Root
        else:
            fields[name] = kind
    return container("ExecutionPayloadHeader", fields)


def blinded_types(body: type, payload_header: type) -> dict[str, type]:
    """Define the builder API's blinded block containers, whose body carries the payload header."""
    # The header takes the payload's position in the body.
    ordered = {
        ("execution_payload_header" if name == "execution_payload" else name): (
            payload_header if name == "execution_payload" else kind
        )
        for name, kind in body.fields().items()
    }
    blinded_body = container("BlindedBeaconBlockBody", ordered)
    types = {"BlindedBeaconBlockBody": blinded_body}
    types.update(block_types(blinded_body, name_prefix="Blinded"))
    return types
