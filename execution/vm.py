"""The py-evm virtual machine the engine runs: Prague rules, validated by the engine itself.

py-evm 0.12 has no Osaka (fulu's execution fork), so a chain at fulu still
runs Prague execution rules here, including Prague's blob limits (target 6,
max 9 blobs per block).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from eth.abc import (
    BlockAndMetaWitness,
    BlockAPI,
    BlockHeaderAPI,
    DatabaseAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    WithdrawalAPI,
)
from eth.constants import BLANK_ROOT_HASH
from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
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
from eth.vm.interrupt import EVMMissingData
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from eth_utils import ExtendedDebugLogger, ValidationError, get_extended_debug_logger

from execution.payload import compute_requests_hash
from execution.trie import (
    Node,
    Trie,
    encode_bytes,
    encode_list,
    key_to_nibbles,
    ordered_trie_root,
)

# Byte ranges of each field inside the ABI-encoded DepositEvent log data (EIP-6110).
_DEPOSIT_LOG_FIELDS = (
    slice(192, 240),  # pubkey, 48 bytes
    slice(288, 320),  # withdrawal_credentials, 32 bytes
    slice(352, 360),  # amount, 8 bytes little-endian Gwei
    slice(416, 512),  # signature, 96 bytes
    slice(544, 552),  # index, 8 bytes little-endian
)
_DEPOSIT_LOG_SIZE = 576


class StateTrieCache:
    """Account-trie data that the blocks of one batch share.

    It keeps the in-memory roots the last blocks computed, with every node
    they have loaded or created, and the hashed trie path of each address.
    So the next block reads accounts from memory instead of decoding trie
    nodes from the database again. Nodes are immutable once hashed, so a
    block on another parent still sees its parent's state unchanged.

    A cache must live no longer than the database writes of its blocks: its
    nodes are not stored again once hashed, so a cache used by a block whose
    writes were dropped must be dropped too.
    """

    def __init__(self, max_roots: int = 16, max_paths: int = 1 << 18) -> None:
        self.roots: OrderedDict[bytes, Node] = OrderedDict()
        self.paths: dict[bytes, bytes] = {}
        self.max_roots = max_roots
        self.max_paths = max_paths

    def open(self, get_node: Any, root_hash: bytes) -> Trie:
        node = self.roots.get(root_hash)
        if node is None:
            return Trie(get_node, root_hash)
        return Trie(get_node, node, known_root_hash=root_hash)

    def remember(self, root_hash: bytes, root: Any) -> None:
        if root is None or isinstance(root, bytes):
            return
        self.roots[root_hash] = root
        self.roots.move_to_end(root_hash)
        while len(self.roots) > self.max_roots:
            self.roots.popitem(last=False)

    def path(self, address: bytes) -> bytes:
        path = self.paths.get(address)
        if path is None:
            if len(self.paths) >= self.max_paths:
                self.paths.clear()
            path = self.paths[address] = key_to_nibbles(keccak(address))
        return path


class CachingAtomicDB(AtomicDB):
    """An AtomicDB that carries the `StateTrieCache` the account database should use."""

    def __init__(self, wrapped_db: DatabaseAPI, state_trie_cache: StateTrieCache) -> None:
        super().__init__(wrapped_db)
        self.state_trie_cache = state_trie_cache


class AccountTrie(BaseDB):
    """The account trie keyed by address, in place of py-evm's `HashTrie(HexaryTrie)`.

    Reads return b"" for an absent account, as HexaryTrie does. Writes stay
    in memory; reading `root_hash` hashes the changed nodes and writes them
    to `node_db`, which the account database persists with the block.
    """

    def __init__(self, node_db: DatabaseAPI, state_root: bytes, cache: StateTrieCache) -> None:
        self._node_db = node_db
        self._cache = cache
        self._trie = cache.open(node_db.get, state_root)

    def __getitem__(self, address: bytes) -> bytes:
        return self._trie.get_path(self._cache.path(address), address)

    def __setitem__(self, address: bytes, value: bytes) -> None:
        self._trie.set_path(self._cache.path(address), value, address)

    def __delitem__(self, address: bytes) -> None:
        self._trie.set_path(self._cache.path(address), b"", address)

    def _exists(self, address: bytes) -> bool:
        return self[address] != b""

    @property
    def root_hash(self) -> Hash32:
        new_nodes: dict[bytes, bytes] = {}
        root_hash = self._trie.root_hash(new_nodes)
        for node_hash, encoded in new_nodes.items():
            self._node_db[node_hash] = encoded
        self._cache.remember(root_hash, self._trie.root)
        return Hash32(root_hash)

    @root_hash.setter
    def root_hash(self, value: bytes) -> None:
        if value != self._trie.known_root_hash:
            self._trie = self._cache.open(self._node_db.get, value)

    @contextlib.contextmanager
    def squash_changes(self) -> Iterator[AccountTrie]:
        # Changes are held in memory until the root is hashed, so nothing to squash.
        yield self


class CaplinAccountDB(AccountDB):
    """py-evm's AccountDB on the in-memory `AccountTrie`, building changed accounts directly.

    The trie shares decoded nodes through the `StateTrieCache` of a
    `CachingAtomicDB` (a fresh cache for any other database). `Account.copy`
    deep-copies and re-validates every field (about 40 us against 6 us for
    a new `Account`), and a transfer changes four balances and a nonce.
    Relies on py-evm 0.12's private attributes (`_trie`, `_trie_cache`,
    `_journaltrie`, `_get_account`, `_set_account`), which is why py-evm is
    pinned.
    """

    def __init__(self, db: Any, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        cache = getattr(db, "state_trie_cache", None) or StateTrieCache(max_roots=2)
        self._trie = AccountTrie(self._batchtrie, state_root, cache)
        self._trie_logger = KeyAccessLoggerDB(self._trie, log_missing_keys=False)
        self._trie_cache = CacheDB(self._trie_logger)
        self._journaltrie = JournalDB(self._trie_cache)

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

    def _set_account(self, address: Address, account: Account) -> None:
        # pyrlp's sedes encoding costs about 150 us an account; the layout is fixed.
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)


def _encode_int(value: int) -> bytes:
    return encode_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def encode_account(account: Account) -> bytes:
    """RLP of [nonce, balance, storage_root, code_hash], as `rlp.encode(account)` gives."""
    return encode_list(
        _encode_int(account.nonce)
        + _encode_int(account.balance)
        + encode_bytes(account.storage_root)
        + encode_bytes(account.code_hash)
    )


_STATE_LOGGER = get_extended_debug_logger("eth.vm.state.CaplinPragueState")


class CaplinPragueState(PragueState):
    account_db_class = CaplinAccountDB

    @property
    def logger(self) -> ExtendedDebugLogger:
        # py-evm looks its logger up by name on every access, several times a transaction.
        return _STATE_LOGGER


def _encode_log(log: Any) -> bytes:
    topics = b"".join(
        encode_bytes(topic if isinstance(topic, bytes) else topic.to_bytes(32, "big"))
        for topic in log.topics
    )
    return encode_list(encode_bytes(log.address) + encode_list(topics) + encode_bytes(log.data))


def encode_receipt(receipt: ReceiptAPI) -> bytes:
    """The receipt's consensus encoding, as `receipt.encode()` gives (typed: type byte first)."""
    inner = getattr(receipt, "_inner", None)
    prefix = b""
    if inner is not None:
        prefix = bytes([receipt.type_id])
        receipt = inner
    logs = b"".join(_encode_log(log) for log in receipt.logs)
    return prefix + encode_list(
        encode_bytes(receipt.state_root)
        + _encode_int(receipt.gas_used)
        + encode_bytes(receipt.bloom.to_bytes(256, "big"))
        + encode_list(logs)
    )


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
        # The raw transactions of the payload being imported, when the engine sets them.
        self.encoded_transactions: Sequence[bytes] | None = None

    def apply_transaction(
        self, header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> tuple[Any, Any]:
        result = super().apply_transaction(header, transaction)
        self.transactions_applied += 1
        return result

    def apply_all_transactions(
        self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
    ) -> tuple[BlockHeaderAPI, tuple[Any, ...], tuple[Any, ...]]:
        # py-evm's version copies the header (deep-copying and re-validating every
        # field) twice per transaction; this one keeps the running totals and copies once.
        if base_header.block_number != self.get_header().block_number:
            raise ValidationError(
                f"this VM runs block {self.get_header().block_number}, "
                f"not block {base_header.block_number}"
            )
        running = _RunningHeader(base_header)
        bloom = base_header.bloom
        blob_gas_used = base_header.blob_gas_used
        receipts = []
        computations = []
        for transaction in transactions:
            snapshot = self.state.snapshot()
            try:
                receipt, computation = self.apply_transaction(running, transaction)
            except EVMMissingData:
                self.state.revert(snapshot)
                raise
            running.gas_used = receipt.gas_used
            bloom |= receipt.bloom
            blob_gas_used += get_total_blob_gas(transaction)
            receipts.append(receipt)
            computations.append(computation)
        self.receipts = tuple(receipts)
        header = base_header
        if transactions:
            header = base_header.copy(
                bloom=bloom, gas_used=running.gas_used, blob_gas_used=blob_gas_used
            )
        return header, self.receipts, tuple(computations)

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        # py-evm's version builds these tries with HexaryTrie, which re-hashes per item.
        encoded = self.encoded_transactions
        if encoded is None or len(encoded) != len(transactions):
            encoded = [t.encode() for t in transactions]
        transactions_root, transaction_nodes = ordered_trie_root(encoded)
        self.chaindb.persist_trie_data_dict(transaction_nodes)
        receipts_root, receipt_nodes = ordered_trie_root(encode_receipt(r) for r in receipts)
        self.chaindb.persist_trie_data_dict(receipt_nodes)
        block_fields: dict[str, Any] = {"transactions": transactions}
        header_fields = {"transaction_root": transactions_root, "receipt_root": receipts_root}
        if withdrawals:
            withdrawals_root, withdrawal_nodes = ordered_trie_root(w.encode() for w in withdrawals)
            self.chaindb.persist_trie_data_dict(withdrawal_nodes)
            block_fields["withdrawals"] = withdrawals
            header_fields["withdrawals_root"] = withdrawals_root
        block_fields["header"] = new_header.copy(**header_fields)
        return base_block.copy(**block_fields)

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

    # py-evm's block.copy deep-copies every transaction; these three copy a block
    # twice each, so they build the new block around the same immutable transactions.

    def finalize_block(self, block: BlockAPI) -> BlockAndMetaWitness:
        if block.number > 0:
            snapshot = self.state.snapshot()
            try:
                self._assign_block_rewards(block)
            except EVMMissingData:
                self.state.revert(snapshot)
                raise
            self.state.commit(snapshot)
        meta_witness = self.state.persist()
        header = block.header.copy(state_root=self.state.state_root)
        return BlockAndMetaWitness(_with_header(block, header), meta_witness)

    def pack_block(self, block: BlockAPI, *args: Any, **kwargs: Any) -> BlockAPI:
        if args or "uncles" in kwargs:
            return super().pack_block(block, *args, **kwargs)
        return _with_header(block, block.header.copy(**kwargs) if kwargs else block.header)

    @staticmethod
    def compute_requests_hash(block: BlockAPI) -> BlockAPI:
        requests_hash = compute_requests_hash(block.block_requests)
        return _with_header(block, block.header.copy(requests_hash=requests_hash))

    def mine_block(self, block: BlockAPI, *args: Any, **kwargs: Any) -> Any:
        packed = self.pack_block(block, *args, **kwargs)
        return self.finalize_block(packed)


def _with_header(block: BlockAPI, header: BlockHeaderAPI) -> BlockAPI:
    """Return `block` with `header`, sharing the (immutable) transactions, uncles, withdrawals."""
    return type(block)(
        header=header,
        transactions=block.transactions,
        uncles=block.uncles,
        withdrawals=block.withdrawals,
    )


class _RunningHeader:
    """The block header as a transaction sees it: the gas used so far, the rest from the base.

    `apply_transaction` reads only `gas_used` and `gas_limit` of the header
    it gets (the gas limit check and the receipt's cumulative gas).
    """

    def __init__(self, base: BlockHeaderAPI) -> None:
        self.base = base
        self.gas_used = base.gas_used
        self.gas_limit = base.gas_limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


def vm_class_for(deposit_contract_address: bytes) -> type[CaplinPragueVM]:
    """Return a CaplinPragueVM subclass that reads deposits from `deposit_contract_address`."""
    if not deposit_contract_address or deposit_contract_address == DEPOSIT_CONTRACT_ADDRESS:
        return CaplinPragueVM
    return type(
        "CaplinPragueVM",
        (CaplinPragueVM,),
        {"deposit_contract_address": deposit_contract_address},
    )


class CallTimeoutError(Exception):
    """A call run by `timed_vm_class` passed its deadline.

    It derives from Exception, not py-evm's VMError, so the computation does not
    catch it as a failed call: it unwinds the whole call.
    """


_call_deadline = threading.local()


class _DeadlineOpcodes(dict):
    """An opcode table that checks the calling thread's deadline on every opcode lookup."""

    def __getitem__(self, opcode: int) -> Any:
        deadline = getattr(_call_deadline, "at", None)
        if deadline is not None and time.monotonic() > deadline:
            raise CallTimeoutError(f"call ran past its deadline at opcode 0x{opcode:02x}")
        return dict.__getitem__(self, opcode)


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[None]:
    """Make calls of a `timed_vm_class` VM in this thread raise CallTimeoutError after `seconds`."""
    _call_deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _call_deadline.at = None


def timed_vm_class(vm_class: type[CaplinPragueVM]) -> type[CaplinPragueVM]:
    """Return a subclass of `vm_class` whose EVM stops at the deadline of `call_deadline`.

    For eth_call and eth_estimateGas: the caller sets the gas, so a loop can
    run far longer than any block allows. Block execution keeps the plain
    opcode table, because the lookup check costs time on every opcode.
    """
    state_class = vm_class._state_class
    computation_class = state_class.computation_class
    timed_computation = type(
        "TimedComputation",
        (computation_class,),
        {"opcodes": _DeadlineOpcodes(computation_class.opcodes)},
    )
    timed_state = type("TimedState", (state_class,), {"computation_class": timed_computation})
    return type(vm_class.__name__, (vm_class,), {"_state_class": timed_state})
