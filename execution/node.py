"""An execution node: the engine, its transaction pool and its JSON-RPC, wired together."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from execution.builder import BuiltPayload, build_payload
from execution.engine import BatchResult, EmbeddedEngine
from execution.payload import Withdrawal
from execution.rpc import EthRpc
from execution.txpool import TransactionPool

logger = logging.getLogger("caplin.execution")

SECONDS_PER_SLOT = 12


class ExecutionNode:
    """Engine, pool and RPC methods over one database.

    `build_block` builds a payload on the head and stores it as the new head.
    The beacon node's proposer does the same through `build_payload` and
    `EmbeddedEngine.import_built`, and a dev chain without validators advances
    this way.
    """

    def __init__(self, engine: EmbeddedEngine, pool: TransactionPool | None = None) -> None:
        self.engine = engine
        if pool is None:
            pool = TransactionPool(engine.chain_id, block_gas_limit=lambda: engine.head().gas_limit)
        self.pool = pool
        self.rpc = EthRpc(engine, self.pool)

    def build(
        self,
        *,
        timestamp: int | None = None,
        fee_recipient: bytes = b"\x00" * 20,
        prev_randao: bytes = b"\x00" * 32,
        parent_beacon_block_root: bytes = b"\x00" * 32,
        withdrawals: Sequence[Withdrawal] = (),
    ) -> BuiltPayload:
        """Build a payload on the current head from the pool (not imported)."""
        head = self.engine.head()
        return build_payload(
            self.engine,
            self.pool,
            parent_hash=head.hash,
            timestamp=timestamp if timestamp is not None else head.timestamp + SECONDS_PER_SLOT,
            fee_recipient=fee_recipient,
            prev_randao=prev_randao,
            parent_beacon_block_root=parent_beacon_block_root,
            withdrawals=withdrawals,
        )

    def import_payloads(self, built: Sequence[BuiltPayload]) -> BatchResult:
        """Execute built payloads as one batch and drop their transactions from the pool."""
        result = self.engine.execute_batch([b.request for b in built])
        state = self.engine.state_at(self.engine.head())
        self.pool.remove_stale(state.get_nonce)
        return result

    def build_block(self, **options: object) -> BuiltPayload:
        """Build a payload on the head and store it, without re-executing, as the new head."""
        built = self.build(**options)  # type: ignore[arg-type]
        self.engine.import_built(built)
        self.pool.remove_stale(self.engine.state_at(self.engine.head()).get_nonce)
        logger.info(
            "execution block built number=%d hash=0x%s transactions=%d",
            built.request.payload.block_number,
            built.request.payload.block_hash.hex(),
            len(built.transaction_hashes),
        )
        return built
