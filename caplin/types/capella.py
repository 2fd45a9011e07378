"""Capella SSZ containers: withdrawals, BLS-to-execution changes, historical summaries."""

from typing import Any

from caplin.config.constants import EXECUTION_PAYLOAD_GINDEX
from caplin.types.altair import floorlog2, light_client_types
from caplin.types.basic import (
    BLSPubkey,
    BLSSignature,
    Bytes32,
    Container,
    ExecutionAddress,
    Gwei,
    List,
    Root,
    ValidatorIndex,
    Vector,
    WithdrawalIndex,
    container,
    extend,
)
from caplin.types.bellatrix import blinded_types, payload_header_of
from caplin.types.phase0 import block_types


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the capella containers for preset `p` on top of bellatrix's `prev`."""

    class Withdrawal(Container):
        index: WithdrawalIndex
        validator_index: ValidatorIndex
        address: ExecutionAddress
        amount: Gwei

    class BLSToExecutionChange(Container):
        validator_index: ValidatorIndex
        from_bls_pubkey: BLSPubkey
        to_execution_address: ExecutionAddress

    class SignedBLSToExecutionChange(Container):
        message: BLSToExecutionChange
        signature: BLSSignature

    class HistoricalSummary(Container):
        block_summary_root: Root
        state_summary_root: Root

    payload = extend(
        prev["ExecutionPayload"], withdrawals=List[Withdrawal, p.MAX_WITHDRAWALS_PER_PAYLOAD]
    )
    header = payload_header_of(payload)
    body = body_with_payload(prev["BeaconBlockBody"], payload)
    body = extend(
        body,
        bls_to_execution_changes=List[SignedBLSToExecutionChange, p.MAX_BLS_TO_EXECUTION_CHANGES],
    )
    state = state_with_header(prev["BeaconState"], header)
    state = extend(
        state,
        next_withdrawal_index=WithdrawalIndex,
        next_withdrawal_validator_index=ValidatorIndex,
        historical_summaries=List[HistoricalSummary, p.HISTORICAL_ROOTS_LIMIT],
    )

    types: dict[str, type] = {
        "Withdrawal": Withdrawal,
        "BLSToExecutionChange": BLSToExecutionChange,
        "SignedBLSToExecutionChange": SignedBLSToExecutionChange,
        "HistoricalSummary": HistoricalSummary,
        "ExecutionPayload": payload,
        "ExecutionPayloadHeader": header,
        "BeaconBlockBody": body,
        "BeaconState": state,
        "NewPayloadRequest": extend_request(prev["NewPayloadRequest"], payload),
    }
    types.update(block_types(body))
    types.update(blinded_types(body, header))
    types.update(
        light_client_types(
            light_client_header(prev["BeaconBlockHeader"], header),
            prev["SyncCommittee"],
            prev["SyncAggregate"],
        )
    )
    return types


def light_client_header(beacon_header: type, payload_header: type) -> type:
    """Define the capella-and-later LightClientHeader around `payload_header`."""

    class LightClientHeader(Container):
        beacon: beacon_header  # type: ignore[valid-type]
        execution: payload_header  # type: ignore[valid-type]
        execution_branch: Vector[Bytes32, floorlog2(EXECUTION_PAYLOAD_GINDEX)]

    return LightClientHeader


def body_with_payload(body: type, payload: type) -> type:
    """Copy `body` with its execution_payload field changed to `payload`."""
    return _replace_field(body, "execution_payload", payload)


def state_with_header(state: type, header: type) -> type:
    """Copy `state` with its latest_execution_payload_header field changed to `header`."""
    return _replace_field(state, "latest_execution_payload_header", header)


def extend_request(request: type, payload: type, **fields: type) -> type:
    """Copy NewPayloadRequest with the fork's payload and any `fields` appended."""
    return extend(_replace_field(request, "execution_payload", payload), **fields)


def _replace_field(cls: type, name: str, kind: type) -> type:
    fields = dict(cls.fields())
    if name not in fields:
        raise KeyError(f"{cls.__name__} has no field {name}")
    fields[name] = kind
    return container(cls.__name__, fields)
