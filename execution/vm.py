"""The py-evm virtual machine the engine runs: Prague rules, validated by the engine itself.

py-evm 0.12 has no Osaka (fulu's execution fork), so a chain at fulu still
runs Prague execution rules here, including Prague's blob limits (target 6,
max 9 blobs per block).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.constants import (
    DEPOSIT_CONTRACT_ADDRESS,
    DEPOSIT_EVENT_SIGNATURE_HASH,
    DEPOSIT_REQUEST_TYPE,
)
from eth.vm.forks.prague.state import PragueState
from eth_typing import Address

# Byte ranges of each field inside the ABI-encoded DepositEvent log data (EIP-6110).
_DEPOSIT_LOG_FIELDS = (
    slice(192, 240),  # pubkey, 48 bytes
    slice(288, 320),  # withdrawal_credentials, 32 bytes
    slice(352, 360),  # amount, 8 bytes little-endian Gwei
    slice(416, 512),  # signature, 96 bytes
    slice(544, 552),  # index, 8 bytes little-endian
)
_DEPOSIT_LOG_SIZE = 576


class CaplinAccountDB(AccountDB):
    """py-evm's AccountDB, building changed accounts directly.

    `Account.copy` deep-copies and re-validates every field (about 40 us
    against 6 us for a new `Account`), and a transfer changes four balances
    and a nonce. Relies on py-evm 0.12's private `_get_account` and
    `_set_account`, which is why py-evm is pinned.
    """

    def set_balance(self, address: Address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        self._set_account(
            address, Account(account.nonce, balance, account.storage_root, account.code_hash)
        )

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        account = self._get_account(address)
        self._set_account(
            address, Account(nonce, account.balance, account.storage_root, account.code_hash)
        )


class CaplinPragueState(PragueState):
    account_db_class = CaplinAccountDB


class CaplinPragueVM(PragueVM):
    """PragueVM that leaves block validation to the engine and records what it computed.

    `mine_block` skips py-evm's `validate_block`: the engine compares every
    computed field with the payload and raises a typed error naming the
    field. After `import_block`, `execution_requests` holds the EIP-7685
    requests the block produced (empty ones dropped) and `transactions_applied`
    the number of transactions that executed, which is the index of the
    failing one when a transaction raises.
    """

    deposit_contract_address: bytes = DEPOSIT_CONTRACT_ADDRESS
    _state_class = CaplinPragueState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execution_requests: list[bytes] = []
        self.transactions_applied = 0
        self.receipts: tuple[Any, ...] | None = None

    def apply_transaction(
        self, header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> tuple[Any, Any]:
        result = super().apply_transaction(header, transaction)
        self.transactions_applied += 1
        return result

    def apply_all_transactions(
        self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
    ) -> tuple[BlockHeaderAPI, tuple[Any, ...], tuple[Any, ...]]:
        header, receipts, computations = super().apply_all_transactions(transactions, base_header)
        self.receipts = receipts
        return header, receipts, computations

    def increment_blob_gas_used(
        self, old_header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> BlockHeaderAPI:
        # Most transactions carry no blobs, so skip py-evm's header copy for them.
        blob_gas = get_total_blob_gas(transaction)
        if blob_gas == 0:
            return old_header
        return old_header.copy(blob_gas_used=old_header.blob_gas_used + blob_gas)

    def process_deposit_request_data(self, block: BlockAPI) -> None:
        # py-evm reads deposits only from the mainnet address; a devnet may use another.
        data = b""
        # The receipts of this import, kept in memory, save decoding them from the trie.
        receipts = self.receipts if self.receipts is not None else block.get_receipts(self.chaindb)
        for receipt in receipts:
            for log in receipt.logs:
                if log.address != self.deposit_contract_address or not log.topics:
                    continue
                topic = log.topics[0]
                topic_bytes = topic if isinstance(topic, bytes) else topic.to_bytes(32, "big")
                if topic_bytes != DEPOSIT_EVENT_SIGNATURE_HASH:
                    continue
                if len(log.data) != _DEPOSIT_LOG_SIZE:
                    continue
                data += b"".join(log.data[part] for part in _DEPOSIT_LOG_FIELDS)
        block.block_requests.append(DEPOSIT_REQUEST_TYPE + data)

    def block_postprocessing(self, block: BlockAPI) -> BlockAPI:
        processed = super().block_postprocessing(block)
        self.execution_requests = [r for r in block.block_requests if len(r) > 1]
        return processed

    def mine_block(self, block: BlockAPI, *args: Any, **kwargs: Any) -> Any:
        packed = self.pack_block(block, *args, **kwargs)
        return self.finalize_block(packed)


def vm_class_for(deposit_contract_address: bytes) -> type[CaplinPragueVM]:
    """Return a CaplinPragueVM subclass that reads deposits from `deposit_contract_address`."""
    if not deposit_contract_address or deposit_contract_address == DEPOSIT_CONTRACT_ADDRESS:
        return CaplinPragueVM
    return type(
        "CaplinPragueVM",
        (CaplinPragueVM,),
        {"deposit_contract_address": deposit_contract_address},
    )
