"""process_deposit_request: queue a deposit reported by the execution layer (electra,
EIP-6110)."""

from collections.abc import Sequence
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
    process_deposit_requests(spec, state, [deposit_request])


@uint64_checked("deposit_request")
def process_deposit_requests(spec: Any, state: Any, deposit_requests: Sequence[Any]) -> None:
    """Apply `process_deposit_request` to each request in order, appending them in one pass.

    A payload may carry thousands of requests, and appending each through the state's view
    rebinds the whole state tree every time, so the queue is extended while detached.
    """
    if not deposit_requests:
        return
    fork = spec.fork_of(state)
    if fork == Fork.ELECTRA:
        if int(state.deposit_requests_start_index) == UNSET_DEPOSIT_REQUESTS_START_INDEX:
            state.deposit_requests_start_index = int(deposit_requests[0].index)

    pending_type = spec.types(fork).PendingDeposit
    slot = int(state.slot)
    queue = state.pending_deposits.copy()
    for request in deposit_requests:
        # DepositRequest and PendingDeposit have the same five fields up to the last one
        # (index, slot), so the request's subtrees are reused and only that field is set.
        pending = pending_type.view_from_backing(request.get_backing())
        pending.slot = slot
        queue.append(pending)
    state.pending_deposits = queue
