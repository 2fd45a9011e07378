"""process_deposit_request: queue a deposit reported by the execution layer (electra,
EIP-6110)."""

from typing import Any

from caplin.config.constants import UNSET_DEPOSIT_REQUESTS_START_INDEX
from caplin.config.forks import Fork

from ._common import uint64_checked


@uint64_checked("deposit_request")
def process_deposit_request(spec: Any, state: Any, deposit_request: Any) -> None:
    """Append the request to `pending_deposits`. Its signature is checked when it is applied.

    Electra also records the index of the first request, which ends the eth1 bridge deposits.
    Fulu no longer tracks it.
    """
    fork = spec.fork_of(state)
    if fork == Fork.ELECTRA:
        if int(state.deposit_requests_start_index) == UNSET_DEPOSIT_REQUESTS_START_INDEX:
            state.deposit_requests_start_index = int(deposit_request.index)

    state.pending_deposits.append(
        spec.types(fork).PendingDeposit(
            pubkey=deposit_request.pubkey,
            withdrawal_credentials=deposit_request.withdrawal_credentials,
            amount=deposit_request.amount,
            signature=deposit_request.signature,
            slot=state.slot,
        )
    )
