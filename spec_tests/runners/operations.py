"""The `operations` runner: one block operation applied to `pre`, compared with `post`.

Each handler names the operation's SSZ file and how to call its `process_*` function. The
operation runs on `pre`, then its signatures are verified unless `meta.yaml` has
`bls_setting: 2`. A case without `post` must be rejected with a `BlockProcessingError`;
any other exception is a failure, because every invalid input must raise the typed error.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caplin.errors import BlockProcessingError
from caplin.transition import block
from caplin.transition.engine import FixedAnswerEngine
from caplin.transition.signatures import SignatureBatch
from caplin.types.ssz import decode
from spec_tests.case import Case
from spec_tests.registry import register

# bls_setting in meta.yaml: 1 means signatures must be verified, 2 that they must not be.
_BLS_OFF = 2


# Applies one decoded operation: (case, spec, state, operation, sigs).
Apply = Callable[[Case, Any, Any, Any, SignatureBatch], None]


@dataclass(frozen=True)
class Operation:
    """How one handler's case is read and applied."""

    file: str
    type_name: str
    apply: Apply


def _with_sigs(function: Callable[..., None]) -> Apply:
    def apply(case: Case, spec: Any, state: Any, operation: Any, sigs: SignatureBatch) -> None:
        function(spec, state, operation, sigs)

    return apply


def _without_sigs(function: Callable[..., None]) -> Apply:
    def apply(case: Case, spec: Any, state: Any, operation: Any, sigs: SignatureBatch) -> None:
        function(spec, state, operation)

    return apply


def _apply_execution_payload(
    case: Case, spec: Any, state: Any, body: Any, sigs: SignatureBatch
) -> None:
    execution = case.yaml("execution") if case.has_yaml("execution") else {}
    engine = FixedAnswerEngine(bool(execution.get("execution_valid", True)))
    block.process_execution_payload(spec, state, body, engine)


OPERATIONS = {
    "attestation": Operation("attestation", "Attestation", _with_sigs(block.process_attestation)),
    "attester_slashing": Operation(
        "attester_slashing", "AttesterSlashing", _with_sigs(block.process_attester_slashing)
    ),
    "block_header": Operation("block", "BeaconBlock", _without_sigs(block.process_block_header)),
    "deposit": Operation("deposit", "Deposit", _with_sigs(block.process_deposit)),
    "proposer_slashing": Operation(
        "proposer_slashing", "ProposerSlashing", _with_sigs(block.process_proposer_slashing)
    ),
    "voluntary_exit": Operation(
        "voluntary_exit", "SignedVoluntaryExit", _with_sigs(block.process_voluntary_exit)
    ),
    "sync_aggregate": Operation(
        "sync_aggregate", "SyncAggregate", _with_sigs(block.process_sync_aggregate)
    ),
    "execution_payload": Operation("body", "BeaconBlockBody", _apply_execution_payload),
    "withdrawals": Operation(
        "execution_payload", "ExecutionPayload", _without_sigs(block.process_withdrawals)
    ),
    "bls_to_execution_change": Operation(
        "address_change",
        "SignedBLSToExecutionChange",
        _with_sigs(block.process_bls_to_execution_change),
    ),
    "deposit_request": Operation(
        "deposit_request", "DepositRequest", _without_sigs(block.process_deposit_request)
    ),
    "withdrawal_request": Operation(
        "withdrawal_request", "WithdrawalRequest", _without_sigs(block.process_withdrawal_request)
    ),
    "consolidation_request": Operation(
        "consolidation_request",
        "ConsolidationRequest",
        _without_sigs(block.process_consolidation_request),
    ),
}


def _differing_fields(actual: Any, expected: Any) -> list[str]:
    return [
        name
        for name in type(expected).fields()
        if getattr(actual, name).hash_tree_root() != getattr(expected, name).hash_tree_root()
    ]


@register("operations", *OPERATIONS)
def run(case: Case) -> None:
    operation = OPERATIONS[case.handler]
    spec = case.spec
    types = spec.types(case.fork_enum)
    state = decode(types.BeaconState, case.ssz("pre"))
    value = decode(getattr(types, operation.type_name), case.ssz(operation.file))
    sigs = SignatureBatch(enabled=case.meta.get("bls_setting", 0) != _BLS_OFF)
    name = f"{case.handler} operation"

    if not case.has_ssz("post"):
        try:
            operation.apply(case, spec, state, value, sigs)
            sigs.verify()
        except BlockProcessingError:
            return
        raise AssertionError(f"{name} was accepted, but the case expects it to be rejected")

    try:
        operation.apply(case, spec, state, value, sigs)
        sigs.verify()
    except BlockProcessingError as error:
        raise AssertionError(
            f"{name} was rejected, but the case expects a post state: {error}"
        ) from error

    expected = decode(types.BeaconState, case.ssz("post"))
    actual_root = bytes(state.hash_tree_root())
    expected_root = bytes(expected.hash_tree_root())
    if actual_root != expected_root:
        fields = ", ".join(_differing_fields(state, expected))
        raise AssertionError(
            f"{name}: post state root 0x{actual_root.hex()}, expected 0x{expected_root.hex()}. "
            f"Fields that differ: {fields}"
        )
