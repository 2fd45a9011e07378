"""Execution genesis: geth-format genesis files, the Prague system contracts, a dev genesis.

The engine runs Prague execution rules from genesis, so a genesis must have
Prague active at its timestamp (`pragueTime` <= `timestamp`, or absent, which
means active). Chains that started before Prague (mainnet, sepolia, ...)
cannot be executed from genesis by this engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from hashlib import sha256
from importlib import resources
from pathlib import Path
from typing import Any

from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA256, ZERO_HASH32
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth_utils import to_canonical_address

from caplin.errors import ConfigError
from execution.storage import Overlay

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337  # the chain id Anvil and Hardhat use for local chains
DEV_ACCOUNT_COUNT = 10
DEV_ACCOUNT_BALANCE = 10_000 * 10**18
DEFAULT_GAS_LIMIT = 30_000_000
INITIAL_BASE_FEE = 1_000_000_000  # EIP-1559 initial base fee, 1 Gwei

# Deposit contract storage: slots 0x21 + i hold zero_hashes[i] of its 32-level
# Merkle tree (zero_hashes[0] is zero and not stored).
DEPOSIT_CONTRACT_ZERO_HASH_SLOT = 0x21
DEPOSIT_CONTRACT_TREE_DEPTH = 32


@dataclass(frozen=True)
class GenesisAccount:
    """A prefunded account or contract at genesis."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Genesis:
    """The parts of a genesis file the engine uses."""

    chain_id: int
    alloc: dict[bytes, GenesisAccount]
    gas_limit: int = DEFAULT_GAS_LIMIT
    timestamp: int = 0
    extra_data: bytes = b""
    base_fee_per_gas: int = INITIAL_BASE_FEE
    mix_hash: bytes = ZERO_HASH32
    coinbase: bytes = b"\x00" * 20
    excess_blob_gas: int = 0
    blob_gas_used: int = 0
    deposit_contract_address: bytes = b""


@cache
def system_contracts() -> dict[str, tuple[bytes, bytes]]:
    """Return {name: (address, deployed code)} of the contracts Prague relies on.

    beacon_roots (EIP-4788), history_storage (EIP-2935), withdrawal_requests
    (EIP-7002), consolidation_requests (EIP-7251) and deposit_contract (the
    mainnet deposit contract whose logs EIP-6110 reads).
    """
    text = resources.files("execution").joinpath("system_contracts.json").read_text()
    contracts = json.loads(text)
    return {
        name: (to_canonical_address(entry["address"]), bytes.fromhex(entry["code"][2:]))
        for name, entry in contracts.items()
    }


def deposit_contract_storage() -> dict[int, int]:
    """Return the deposit contract's storage right after its constructor ran."""
    storage: dict[int, int] = {}
    node = b"\x00" * 32
    for height in range(1, DEPOSIT_CONTRACT_TREE_DEPTH):
        node = sha256(node + node).digest()
        storage[DEPOSIT_CONTRACT_ZERO_HASH_SLOT + height] = int.from_bytes(node, "big")
    return storage


def system_alloc() -> dict[bytes, GenesisAccount]:
    """Return the genesis accounts of every system contract (nonce 1, as deployed)."""
    alloc: dict[bytes, GenesisAccount] = {}
    for name, (address, code) in system_contracts().items():
        storage = deposit_contract_storage() if name == "deposit_contract" else {}
        alloc[address] = GenesisAccount(nonce=1, code=code, storage=storage)
    return alloc


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[tuple[bytes, bytes]]:
    """Derive (address, private key) of the first `count` dev accounts.

    The keys come from the test mnemonic at m/44'/60'/0'/0/i, as Anvil and
    Hardhat derive them; account 0 is 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266.
    """
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for index in range(count):
        account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        accounts.append((to_canonical_address(account.address), bytes(account.key)))
    return accounts


def dev_genesis(
    timestamp: int = 0, chain_id: int = DEV_CHAIN_ID, gas_limit: int = DEFAULT_GAS_LIMIT
) -> Genesis:
    """Build the dev chain genesis: system contracts plus ten funded mnemonic accounts."""
    alloc = system_alloc()
    for address, _ in dev_accounts():
        alloc[address] = GenesisAccount(balance=DEV_ACCOUNT_BALANCE)
    deposit_address = system_contracts()["deposit_contract"][0]
    return Genesis(
        chain_id=chain_id,
        alloc=alloc,
        gas_limit=gas_limit,
        timestamp=timestamp,
        deposit_contract_address=deposit_address,
    )


def _int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text.startswith(("0x", "0X")) else int(text)


def _hex_bytes(value: Any) -> bytes:
    if not value:
        return b""
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith(("0x", "0X")) else text)


def parse_genesis(data: dict[str, Any] | str | Path, with_system_contracts: bool = True) -> Genesis:
    """Parse a geth-format genesis (a dict, a JSON string or a file path).

    With `with_system_contracts`, system contracts missing from `alloc` are
    added, because Prague blocks need them. Raises ConfigError on a genesis
    the engine cannot run.
    """
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
        data = json.loads(Path(data).read_text())
    elif isinstance(data, str):
        data = json.loads(data)
    config = data.get("config", {})
    if "chainId" not in config:
        raise ConfigError("genesis config has no chainId")
    timestamp = _int(data.get("timestamp"))
    prague_time = config.get("pragueTime")
    if prague_time is not None and _int(prague_time) > timestamp:
        raise ConfigError(
            "genesis must start at Prague; this engine runs only Prague rules",
            prague_time=_int(prague_time),
            genesis_timestamp=timestamp,
        )

    alloc: dict[bytes, GenesisAccount] = system_alloc() if with_system_contracts else {}
    for address_text, entry in data.get("alloc", {}).items():
        address_hex = address_text if address_text.startswith("0x") else "0x" + address_text
        storage = {_int(k): _int(v) for k, v in entry.get("storage", {}).items()}
        alloc[to_canonical_address(address_hex)] = GenesisAccount(
            balance=_int(entry.get("balance")),
            nonce=_int(entry.get("nonce")),
            code=_hex_bytes(entry.get("code")),
            storage=storage,
        )
    deposit_address = config.get("depositContractAddress")
    return Genesis(
        chain_id=_int(config["chainId"]),
        alloc=alloc,
        gas_limit=_int(data.get("gasLimit"), DEFAULT_GAS_LIMIT),
        timestamp=timestamp,
        extra_data=_hex_bytes(data.get("extraData")),
        base_fee_per_gas=_int(data.get("baseFeePerGas"), INITIAL_BASE_FEE),
        mix_hash=_hex_bytes(data.get("mixHash")) or ZERO_HASH32,
        coinbase=_hex_bytes(data.get("coinbase")) or b"\x00" * 20,
        excess_blob_gas=_int(data.get("excessBlobGas")),
        blob_gas_used=_int(data.get("blobGasUsed")),
        deposit_contract_address=to_canonical_address(deposit_address) if deposit_address else b"",
    )


def write_genesis(genesis: Genesis, db: Overlay) -> PragueBlockHeader:
    """Write the genesis state and block into `db` and return the genesis header."""
    account_db = AccountDB(AtomicDB(db))
    for address, account in genesis.alloc.items():
        account_db.set_balance(address, account.balance)
        account_db.set_nonce(address, account.nonce)
        if account.code:
            account_db.set_code(address, account.code)
        for slot, value in account.storage.items():
            account_db.set_storage(address, slot, value)
    account_db.persist()

    header = PragueBlockHeader(
        difficulty=0,
        block_number=0,
        gas_limit=genesis.gas_limit,
        timestamp=genesis.timestamp,
        coinbase=genesis.coinbase,
        state_root=account_db.state_root,
        extra_data=genesis.extra_data,
        mix_hash=genesis.mix_hash,
        base_fee_per_gas=genesis.base_fee_per_gas,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=genesis.blob_gas_used,
        excess_blob_gas=genesis.excess_blob_gas,
        parent_beacon_block_root=ZERO_HASH32,
        requests_hash=EMPTY_SHA256,
    )
    ChainDB(AtomicDB(db)).persist_block(PragueBlock(header, transactions=[], uncles=[]))
    return header
