"""The eth JSON-RPC methods of the embedded execution engine.

`EthRpc.handle(body)` takes a raw JSON-RPC 2.0 request (single or batch)
and returns the raw response, or None for a batch of notifications only.
Errors follow JSON-RPC 2.0: -32700 parse error, -32600 invalid request,
-32601 method not found, -32602 invalid params, -32603 internal error, and
geth's codes for execution (-32000 rejected transaction, 3 reverted call).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from eth.abc import BlockHeaderAPI
from eth.db.atomic import AtomicDB
from eth.estimators.gas import binary_gas_search
from eth.exceptions import HeaderNotFound, Revert, TransactionNotFound, VMError
from eth.vm.forks.cancun.state import fake_exponential
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.blocks import PragueBlock
from eth.vm.forks.prague.constants import (
    BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
    MAX_BLOB_GAS_PER_BLOCK,
)
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from execution.engine import EmbeddedEngine
from execution.errors import TransactionPoolError
from execution.rpc_views import (
    block_json,
    data,
    quantity,
    receipt_json,
    transaction_json,
)
from execution.storage import Overlay
from execution.txpool import TransactionPool, fee_field
from execution.vm import CallTimeoutError, call_deadline, timed_vm_class

logger = logging.getLogger("caplin.execution.rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
EXECUTION_REVERTED = 3

DEFAULT_MAX_BATCH = 100
# geth's defaults for --rpc.gascap and --rpc.evmtimeout: the most gas an eth_call or
# eth_estimateGas may use, and how long it may run.
DEFAULT_GAS_CAP = 50_000_000
DEFAULT_CALL_TIMEOUT = 5.0
DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 Gwei, the tip suggested when recent blocks paid none
MAX_FEE_HISTORY_BLOCKS = 1024
FEE_HISTORY_WINDOW = 20  # blocks sampled for the suggested priority fee


class RpcError(Exception):
    """A JSON-RPC error with its code and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _shown(value: Any) -> str:
    """Return `value` for an error message, cut to 70 characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 70 else text[:67] + "..."


def parse_quantity(value: Any, name: str) -> int:
    """Parse a JSON-RPC quantity: 0x-prefixed hex without leading zeros, as geth accepts."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise RpcError(
            INVALID_PARAMS, f"invalid {name} {_shown(value)}: expected a hex quantity like 0x1a"
        )
    if len(value) > 3 and value[2] == "0":
        raise RpcError(
            INVALID_PARAMS, f"invalid {name} {_shown(value)}: hex quantity with leading zeros"
        )
    if len(value) > 66:
        raise RpcError(INVALID_PARAMS, f"invalid {name} {_shown(value)}: larger than 256 bits")
    try:
        return int(value, 16)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid {name} {_shown(value)}: not hex") from None


def parse_data(value: Any, name: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise RpcError(
            INVALID_PARAMS,
            f"invalid {name} {_shown(value)}: expected 0x-prefixed hex of whole bytes",
        )
    try:
        decoded = bytes.fromhex(value[2:])
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid {name} {_shown(value)}: not hex") from None
    if length is not None and len(decoded) != length:
        raise RpcError(
            INVALID_PARAMS,
            f"invalid {name} {_shown(value)}: expected {length} bytes, got {len(decoded)}",
        )
    return decoded


def _param(params: list[Any], index: int, name: str, default: Any = ...) -> Any:
    if index < len(params) and params[index] is not None:
        return params[index]
    if default is ...:
        raise RpcError(INVALID_PARAMS, f"missing value for required argument {index} ({name})")
    return default


def client_version() -> str:
    try:
        caplin_version = version("caplin")
    except PackageNotFoundError:
        caplin_version = "dev"
    return f"caplin/v{caplin_version}/py-evm-{version('py-evm')}/python3"


class EthRpc:
    """eth_*, net_* and web3_* methods over an engine and its transaction pool.

    `on_transaction` is called with each accepted transaction hash (a dev
    node uses it to build a block at once).
    """

    def __init__(
        self,
        engine: EmbeddedEngine,
        pool: TransactionPool,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        gas_cap: int = DEFAULT_GAS_CAP,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        on_transaction: Callable[[bytes], None] | None = None,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.max_batch = max_batch
        self.gas_cap = gas_cap
        self.call_timeout = call_timeout
        self._timed_vm_class = timed_vm_class(engine.vm_class)
        self.on_transaction = on_transaction
        # Each method with its handler and the largest number of params it takes.
        self.methods: dict[str, tuple[Callable[[list[Any]], Any], int]] = {
            "eth_chainId": (lambda p: quantity(engine.chain_id), 0),
            "net_version": (lambda p: str(engine.chain_id), 0),
            "web3_clientVersion": (lambda p: client_version(), 0),
            "eth_blockNumber": (lambda p: quantity(engine.head().block_number), 0),
            "eth_getBalance": (self.get_balance, 2),
            "eth_getTransactionCount": (self.get_transaction_count, 2),
            "eth_getCode": (self.get_code, 2),
            "eth_sendRawTransaction": (self.send_raw_transaction, 1),
            "eth_getBlockByNumber": (self.get_block_by_number, 2),
            "eth_getBlockByHash": (self.get_block_by_hash, 2),
            "eth_getTransactionByHash": (self.get_transaction_by_hash, 1),
            "eth_getTransactionReceipt": (self.get_transaction_receipt, 1),
            "eth_call": (self.call, 2),
            "eth_estimateGas": (self.estimate_gas, 2),
            "eth_gasPrice": (self.gas_price, 0),
            "eth_maxPriorityFeePerGas": (lambda p: quantity(self.suggested_priority_fee()), 0),
            "eth_feeHistory": (self.fee_history, 3),
        }

    # --- envelope ---

    def handle(self, body: bytes) -> bytes | None:
        """Handle one raw JSON-RPC request body (single or batch) and return the response body."""
        try:
            request = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as error:
            return _encode(_error_response(None, RpcError(PARSE_ERROR, f"parse error: {error}")))
        except RecursionError:
            error = RpcError(PARSE_ERROR, "parse error: JSON nested too deeply")
            return _encode(_error_response(None, error))
        if isinstance(request, list):
            if not request:
                return _encode(_error_response(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(request) > self.max_batch:
                error = RpcError(
                    INVALID_REQUEST,
                    f"batch of {len(request)} calls is too large: at most {self.max_batch}",
                )
                return _encode(_error_response(None, error))
            responses = [r for r in (self.handle_call(item) for item in request) if r is not None]
            return _encode(responses) if responses else None
        response = self.handle_call(request)
        return _encode(response) if response is not None else None

    def handle_call(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error_response(
                None, RpcError(INVALID_REQUEST, "invalid request: expected a JSON object")
            )
        request_id = request.get("id")
        if not _valid_id(request_id):
            error = RpcError(
                INVALID_REQUEST,
                f"invalid request id {_shown(request_id)}: expected a string, number or null",
            )
            return _error_response(None, error)
        if request.get("jsonrpc") != "2.0":
            error = RpcError(
                INVALID_REQUEST,
                f'invalid request: jsonrpc is {_shown(request.get("jsonrpc"))}, expected "2.0"',
            )
            return _error_response(request_id, error)
        is_notification = "id" not in request
        method = request.get("method")
        params = request.get("params", [])
        try:
            if not isinstance(method, str):
                raise RpcError(INVALID_REQUEST, "invalid request: method must be a string")
            if params is None:
                params = []
            if not isinstance(params, list):
                raise RpcError(INVALID_PARAMS, "params must be an array")
            entry = self.methods.get(method)
            if entry is None:
                raise RpcError(
                    METHOD_NOT_FOUND, f"the method {_shown(method)} does not exist/is not available"
                )
            handler, max_params = entry
            if len(params) > max_params:
                raise RpcError(
                    INVALID_PARAMS,
                    f"too many arguments for {method}: got {len(params)}, want at most "
                    f"{max_params}",
                )
            result = handler(params)
        except RpcError as error:
            return None if is_notification else _error_response(request_id, error)
        except Exception:
            logger.exception("JSON-RPC method failed method=%s", method)
            error = RpcError(INTERNAL_ERROR, "internal error")
            return None if is_notification else _error_response(request_id, error)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    # --- block selection ---

    def resolve_block(self, tag: Any) -> BlockHeaderAPI:
        """Resolve a block tag, number, or EIP-1898 object to a header."""
        reader = self.engine.reader()
        if isinstance(tag, dict):
            if "blockHash" in tag:
                return self._header_by_hash(parse_data(tag["blockHash"], "blockHash", 32))
            tag = tag.get("blockNumber")
        if tag in (None, "latest", "pending"):
            return reader.get_canonical_head()
        if tag in ("safe", "finalized"):
            return self._header_by_hash(self.engine.finalized_hash())
        if tag == "earliest":
            number = 0
        else:
            number = parse_quantity(tag, "block number")
        try:
            return reader.get_canonical_block_header_by_number(number)
        except HeaderNotFound:
            raise RpcError(SERVER_ERROR, "header not found") from None

    def _header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        try:
            return self.engine.header_by_hash(block_hash)
        except HeaderNotFound:
            raise RpcError(SERVER_ERROR, "header not found") from None

    def _state(self, tag: Any) -> Any:
        header = self.resolve_block(tag)
        if not self.engine.has_state(header.hash):
            raise RpcError(SERVER_ERROR, f"state of block {header.block_number} is not available")
        return self.engine.state_at(header)

    # --- accounts ---

    def get_balance(self, params: list[Any]) -> str:
        account = parse_data(_param(params, 0, "address"), "address", 20)
        return quantity(self._state(_param(params, 1, "block", "latest")).get_balance(account))

    def get_transaction_count(self, params: list[Any]) -> str:
        account = parse_data(_param(params, 0, "address"), "address", 20)
        tag = _param(params, 1, "block", "latest")
        nonce = self._state(tag).get_nonce(account)
        if tag == "pending":
            nonce = self.pool.next_nonce(account, nonce)
        return quantity(nonce)

    def get_code(self, params: list[Any]) -> str:
        account = parse_data(_param(params, 0, "address"), "address", 20)
        return data(self._state(_param(params, 1, "block", "latest")).get_code(account))

    # --- transactions ---

    def send_raw_transaction(self, params: list[Any]) -> str:
        raw = parse_data(_param(params, 0, "data"), "transaction data")
        state = self.engine.state_at(self.engine.head())
        try:
            tx_hash = self.pool.add(raw, lambda a: (state.get_nonce(a), state.get_balance(a)))
        except TransactionPoolError as error:
            # The message first, as geth words it, since tools match on it; then the values.
            raise RpcError(error.code, str(error)) from None
        logger.debug("transaction accepted hash=0x%s", tx_hash.hex())
        if self.on_transaction is not None:
            self.on_transaction(tx_hash)
        return data(tx_hash)

    def _locate(self, tx_hash: bytes) -> tuple[BlockHeaderAPI, int, Any] | None:
        reader = self.engine.reader()
        try:
            number, index = reader.get_transaction_index(tx_hash)
            header = reader.get_canonical_block_header_by_number(number)
        except (TransactionNotFound, HeaderNotFound):
            return None
        transactions = reader.get_block_transactions(header, PragueBlock.transaction_builder)
        # py-evm keeps lookups of transactions from blocks that a reorg replaced.
        if index >= len(transactions) or transactions[index].hash != tx_hash:
            return None
        return header, index, transactions[index]

    def get_transaction_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = parse_data(_param(params, 0, "hash"), "transaction hash", 32)
        located = self._locate(tx_hash)
        if located is not None:
            header, index, transaction = located
            return transaction_json(transaction, header, index)
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return transaction_json(pooled.transaction, None, None)
        return None

    def get_transaction_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = parse_data(_param(params, 0, "hash"), "transaction hash", 32)
        located = self._locate(tx_hash)
        if located is None:
            return None
        header, index, transaction = located
        reader = self.engine.reader()
        receipts = reader.get_receipts(header, PragueBlock.receipt_builder)
        log_offset = sum(len(r.logs) for r in receipts[:index])
        previous_gas = receipts[index - 1].gas_used if index > 0 else 0
        return receipt_json(receipts[index], transaction, header, index, previous_gas, log_offset)

    # --- blocks ---

    def get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        try:
            header = self.resolve_block(_param(params, 0, "block"))
        except RpcError as error:
            if error.message == "header not found":
                return None
            raise
        return self._block_json(header, bool(_param(params, 1, "full", False)))

    def get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        block_hash = parse_data(_param(params, 0, "hash"), "block hash", 32)
        try:
            header = self.engine.header_by_hash(block_hash)
        except HeaderNotFound:
            return None
        return self._block_json(header, bool(_param(params, 1, "full", False)))

    def _block_json(self, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
        reader = self.engine.reader()
        transactions = reader.get_block_transactions(header, PragueBlock.transaction_builder)
        withdrawals = reader.get_block_withdrawals(header)
        return block_json(header, transactions, withdrawals, full)

    # --- calls ---

    def _call_transaction(self, call: Any, state: Any, header: BlockHeaderAPI) -> Any:
        if not isinstance(call, dict):
            raise RpcError(INVALID_PARAMS, "invalid call object: expected an object")
        sender = parse_data(call["from"], "from", 20) if call.get("from") else b"\x00" * 20
        to = parse_data(call["to"], "to", 20) if call.get("to") else b""
        if call.get("input") and call.get("data") and call["input"] != call["data"]:
            raise RpcError(
                INVALID_PARAMS,
                'both "data" and "input" are set and not equal; pass call data in "input"',
            )
        payload = call.get("input") or call.get("data")
        call_data = parse_data(payload, "input") if payload else b""
        value = parse_quantity(call["value"], "value") if call.get("value") else 0
        gas = parse_quantity(call["gas"], "gas") if call.get("gas") else header.gas_limit
        if gas > self.gas_cap:
            logger.debug("call gas capped gas=%d cap=%d", gas, self.gas_cap)
            gas = self.gas_cap
        unsigned = self.engine.vm_class.create_unsigned_transaction(
            nonce=state.get_nonce(sender), gas_price=0, gas=gas, to=to, value=value, data=call_data
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _costless_vm(self, header: BlockHeaderAPI) -> Any:
        db = AtomicDB(Overlay(self.engine.backend))
        return self.engine.build_vm(db, header, self._timed_vm_class)

    def _timed_out(self) -> RpcError:
        return RpcError(
            SERVER_ERROR,
            f"execution aborted (timeout = {self.call_timeout:g}s); lower the call's gas or "
            "simplify the call",
        )

    def call(self, params: list[Any]) -> str:
        # NOTE: py-evm's costless state runs the call in a child block of `header`, so
        # NUMBER is one higher than geth's eth_call. TIMESTAMP is the later of the wall
        # clock and the block's timestamp + 1.
        header = self.resolve_block(_param(params, 1, "block", "latest"))
        vm = self._costless_vm(header)
        with vm.in_costless_state() as state:
            transaction = self._call_transaction(_param(params, 0, "call"), state, header)
            try:
                with call_deadline(self.call_timeout):
                    computation = state.costless_execute_transaction(transaction)
            except CallTimeoutError:
                raise self._timed_out() from None
            except (VMError, ValidationError) as error:
                # Checks before the EVM runs, such as EIP-3860's init code size limit.
                raise RpcError(SERVER_ERROR, f"execution failed: {error}") from None
        if computation.is_error:
            _raise_execution_error(computation)
        return data(computation.output)

    def estimate_gas(self, params: list[Any]) -> str:
        header = self.resolve_block(_param(params, 1, "block", "latest"))
        vm = self._costless_vm(header)
        with vm.in_costless_state() as state:
            transaction = self._call_transaction(_param(params, 0, "call"), state, header)
            try:
                # One deadline for the whole binary search, which runs the call many times.
                with call_deadline(self.call_timeout):
                    return quantity(binary_gas_search(state, transaction, tolerance=1))
            except CallTimeoutError:
                raise self._timed_out() from None
            except Revert as error:
                raise RpcError(
                    EXECUTION_REVERTED, "execution reverted", _revert_data(error)
                ) from None
            except (VMError, ValidationError) as error:
                raise RpcError(
                    SERVER_ERROR,
                    f"gas required exceeds allowance or always failing transaction: {error}",
                ) from None

    # --- fees ---

    def _tips_of(self, header: BlockHeaderAPI) -> list[tuple[int, int]]:
        """Return (effective tip, gas used) of each transaction of `header`, sorted by tip."""
        reader = self.engine.reader()
        transactions = reader.get_block_transactions(header, PragueBlock.transaction_builder)
        receipts = reader.get_receipts(header, PragueBlock.receipt_builder)
        tips = []
        previous = 0
        for transaction, receipt in zip(transactions, receipts, strict=True):
            max_fee = fee_field(transaction, "max_fee_per_gas")
            tip = min(
                fee_field(transaction, "max_priority_fee_per_gas"),
                max_fee - header.base_fee_per_gas,
            )
            tips.append((tip, receipt.gas_used - previous))
            previous = receipt.gas_used
        return sorted(tips)

    def suggested_priority_fee(self) -> int:
        """Return the median tip of recent blocks, or 1 Gwei when they had no transactions."""
        reader = self.engine.reader()
        head = reader.get_canonical_head()
        tips: list[int] = []
        for number in range(
            max(1, head.block_number - FEE_HISTORY_WINDOW + 1), head.block_number + 1
        ):
            tips.extend(
                tip for tip, _ in self._tips_of(reader.get_canonical_block_header_by_number(number))
            )
        if not tips:
            return DEFAULT_PRIORITY_FEE
        return sorted(tips)[len(tips) // 2]

    def gas_price(self, params: list[Any]) -> str:
        head = self.engine.head()
        return quantity(calculate_expected_base_fee_per_gas(head) + self.suggested_priority_fee())

    def fee_history(self, params: list[Any]) -> dict[str, Any]:
        count, newest, percentiles = self._fee_history_params(params)
        reader = self.engine.reader()
        oldest = max(0, newest.block_number - count + 1)
        base_fees, gas_ratios, blob_fees, blob_ratios, rewards = [], [], [], [], []

        for number in range(oldest, newest.block_number + 1):
            header = reader.get_canonical_block_header_by_number(number)
            base_fees.append(quantity(header.base_fee_per_gas))
            gas_ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            blob_fees.append(quantity(_blob_base_fee(header.excess_blob_gas)))
            blob_ratios.append(header.blob_gas_used / MAX_BLOB_GAS_PER_BLOCK)
            if percentiles is not None:
                tips = _rewards(self._tips_of(header), header.gas_used, percentiles)
                rewards.append([quantity(tip) for tip in tips])

        # The lists of fees run one block past the newest: the next block's fees.
        base_fees.append(quantity(calculate_expected_base_fee_per_gas(newest)))
        blob_fees.append(quantity(_blob_base_fee(calc_excess_blob_gas_prague(newest))))
        result: dict[str, Any] = {
            "oldestBlock": quantity(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": gas_ratios,
            "baseFeePerBlobGas": blob_fees,
            "blobGasUsedRatio": blob_ratios,
        }
        if percentiles is not None:
            result["reward"] = rewards
        return result

    def _fee_history_params(
        self, params: list[Any]
    ) -> tuple[int, BlockHeaderAPI, list[float] | None]:
        raw_count = _param(params, 0, "blockCount")
        count = raw_count if isinstance(raw_count, int) else parse_quantity(raw_count, "blockCount")
        if count < 1 or count > MAX_FEE_HISTORY_BLOCKS:
            raise RpcError(
                INVALID_PARAMS, f"blockCount must be between 1 and {MAX_FEE_HISTORY_BLOCKS}"
            )

        newest = self.resolve_block(_param(params, 1, "newestBlock"))
        percentiles = _param(params, 2, "rewardPercentiles", None)
        if percentiles is not None and (
            not isinstance(percentiles, list)
            or any(not isinstance(p, (int, float)) or p < 0 or p > 100 for p in percentiles)
            or percentiles != sorted(percentiles)
        ):
            raise RpcError(
                INVALID_PARAMS, "rewardPercentiles must be increasing values in [0, 100]"
            )
        return count, newest, percentiles


def _blob_base_fee(excess_blob_gas: int) -> int:
    return fake_exponential(1, excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)


def _rewards(tips: list[tuple[int, int]], gas_used: int, percentiles: list[float]) -> list[int]:
    """Return the tip at each gas-weighted percentile, as eth_feeHistory defines it."""
    if not tips:
        return [0 for _ in percentiles]
    rewards = []
    index = 0
    cumulative = tips[0][1]
    for percentile in percentiles:
        threshold = gas_used * percentile / 100
        while cumulative < threshold and index < len(tips) - 1:
            index += 1
            cumulative += tips[index][1]
        rewards.append(tips[index][0])
    return rewards


def _revert_data(error: Exception) -> str:
    output = error.args[0] if error.args and isinstance(error.args[0], bytes) else b""
    return data(output)


def _raise_execution_error(computation: Any) -> None:
    error = computation.error
    if isinstance(error, Revert):
        raise RpcError(EXECUTION_REVERTED, "execution reverted", data(computation.output))
    raise RpcError(SERVER_ERROR, f"execution failed: {type(error).__name__}: {error}")


def _reject_constant(name: str) -> Any:
    # JSON has no NaN or Infinity, but Python's json module accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _valid_id(request_id: Any) -> bool:
    """Return whether `request_id` is a JSON-RPC 2.0 id: a string, a number or null."""
    if request_id is None or isinstance(request_id, str):
        return True
    return isinstance(request_id, (int, float)) and not isinstance(request_id, bool)


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def _encode(response: Any) -> bytes:
    return json.dumps(response, separators=(",", ":")).encode()
