"""Open a chain's databases: create the genesis on first start, resume it afterwards.

The beacon database lives in `<datadir>/beacon` and the embedded execution engine's in
`<datadir>/execution`. The beacon database stores the parameters the chain was created with
(validator count, preset, genesis fork, config overrides, genesis time), so a restart rebuilds
the same spec and execution genesis. A restart with other parameters is rejected, because they
would describe another chain.

A custom chain (`open_custom_chain`) comes from another client's config.yaml and genesis.ssz.
Its datadir stores the chain's identity (preset, slot duration, fork versions and epochs) and
the genesis validators root, and has no execution database: see `PreMergeExecution`.
"""

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.custom import chain_identity, load_custom_config, load_genesis_state
from caplin.config.forks import Fork
from caplin.errors import BlockProcessingError, ConfigError, StorageError
from caplin.node.chain import BeaconChain
from caplin.node.devchain import build_genesis_state, dev_chain_spec, genesis_block
from caplin.node.execution import NodeExecution
from caplin.storage.archive import DEFAULT_RESTORE_POINT_INTERVAL
from caplin.storage.beacon_db import BeaconDB
from caplin.storage.lmdb_store import check_lmdb_file
from caplin.validator.keys import ValidatorKey, interop_keys
from execution import EmbeddedEngine, TransactionPool, dev_genesis
from execution.payload import payload_to_ssz

log = logging.getLogger("caplin.node")

# The `chain` value stored in the parameters of a custom chain's datadir.
CUSTOM_CHAIN = "custom"


@dataclass(frozen=True)
class DevParameters:
    """Parameters that define a dev chain: equal parameters build the same genesis."""

    validators: int = 64
    preset: str = "minimal"
    genesis_fork: str = "electra"
    overrides: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "validators": self.validators,
            "preset": self.preset,
            "genesis_fork": self.genesis_fork,
            "overrides": [list(item) for item in self.overrides],
        }


@dataclass(frozen=True)
class CustomParameters:
    """The files that define a custom chain (`--custom-config`, `--custom-genesis`)."""

    config_path: Path
    genesis_path: Path


@dataclass
class DevChain:
    """An open chain: spec, databases, fork choice, keys and the execution engine.

    A custom chain has no embedded engine, transaction pool or validator keys (`engine` and
    `txpool` are None, `keys` is empty).
    """

    spec: Any
    db: BeaconDB
    chain: BeaconChain
    engine: EmbeddedEngine | None
    txpool: TransactionPool | None
    keys: list[ValidatorKey]
    genesis_time: int
    created: bool

    def close(self) -> None:
        self.chain.flush()
        self.db.close()
        if self.engine is not None:
            self.engine.close()


def open_dev_chain(
    datadir: str | Path,
    parameters: DevParameters,
    *,
    db_engine: str = "lmdb",
    genesis_delay: int = 5,
    genesis_time: int | None = None,
    archive: bool = False,
    archive_restore_interval: int = DEFAULT_RESTORE_POINT_INTERVAL,
) -> DevChain:
    """Open (or create) the dev chain under `datadir`.

    A new chain starts `genesis_delay` seconds from now unless `genesis_time` is given.
    `archive` keeps every finalized state, with a restore point every
    `archive_restore_interval` slots (see `caplin.storage.archive`).

    Raises:
        StorageError: the datadir contains another chain or a newer schema version.
        ConfigError: the parameters are invalid (unknown fork or preset).
    """
    datadir = Path(datadir)
    try:
        fork = Fork.from_name(parameters.genesis_fork)
    except (KeyError, ValueError) as error:
        raise ConfigError("unknown genesis fork", fork=parameters.genesis_fork) from error
    if parameters.validators < 1:
        raise ConfigError(
            "a dev chain needs at least one validator", validators=parameters.validators
        )

    db = BeaconDB.open(datadir / "beacon", db_engine)
    try:
        db.check_schema()
        stored = db.chain_parameters()
        created = stored is None
        if stored is not None and stored.get("chain") == CUSTOM_CHAIN:
            raise StorageError(
                "datadir contains a custom chain; start it with --chain=custom and its "
                "--custom-config and --custom-genesis, or use another datadir",
                datadir=str(datadir),
            )
        if stored is not None:
            genesis_time = int(stored["genesis_time"])
        else:
            _remove_unfinished_execution(datadir / "execution")
            if genesis_time is None:
                genesis_time = int(time.time()) + genesis_delay
        keys = interop_keys(parameters.validators)
        execution_genesis = dev_genesis(timestamp=genesis_time)
        check_lmdb_file(datadir / "execution")
        engine = EmbeddedEngine.open_lmdb(str(datadir / "execution"), execution_genesis)
    except BaseException:
        db.close()
        raise

    try:
        spec = dev_chain_spec(
            parameters.preset, fork, engine.genesis_hash, dict(parameters.overrides)
        )
        db.spec = spec
        state = _genesis_state(spec, keys, genesis_time, engine)
        genesis_root = bytes(state.genesis_validators_root)
        db.check_genesis(genesis_root)
        if stored is not None:
            _check_parameters(stored, parameters)
        else:
            types = spec.types(spec.fork_of(state))
            signed = types.SignedBeaconBlock(message=genesis_block(spec, state))
            db.initialize({**parameters.as_dict(), "genesis_time": genesis_time}, signed, state)
            log.info(
                "dev chain created validators=%d fork=%s preset=%s genesis_time=%d "
                "genesis_validators_root=0x%s",
                parameters.validators,
                parameters.genesis_fork,
                parameters.preset,
                genesis_time,
                genesis_root.hex(),
            )
        chain = BeaconChain(
            spec,
            db,
            NodeExecution(engine),
            engine,
            archive=archive,
            restore_point_interval=archive_restore_interval,
        )
    except BaseException:
        db.close()
        engine.close()
        raise
    fulu_scheduled = int(getattr(spec, "FULU_FORK_EPOCH", FAR_FUTURE_EPOCH)) != FAR_FUTURE_EPOCH
    txpool = TransactionPool(
        engine.chain_id,
        block_gas_limit=lambda: engine.head().gas_limit,
        cell_proofs=fulu_scheduled,
    )
    return DevChain(spec, db, chain, engine, txpool, keys, genesis_time, created)


class PreMergeExecution:
    """The execution engine of a custom chain, which runs no execution client.

    A chain that has not merged has only empty payloads, and the state transition never
    calls the engine for them. A block with a real payload cannot be verified here, so it is
    rejected with an error naming the missing engine, instead of being trusted.
    """

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        payload = new_payload_request.execution_payload
        raise BlockProcessingError(
            "execution_payload",
            "block carries an execution payload, but a custom chain runs no execution engine; "
            "caplin follows custom chains only before the merge",
            block_number=int(payload.block_number),
            block_hash=bytes(payload.block_hash),
        )

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return self.verify_and_notify_new_payload(new_payload_request)


def open_custom_chain(
    datadir: str | Path,
    parameters: CustomParameters,
    *,
    db_engine: str = "lmdb",
    archive: bool = False,
    archive_restore_interval: int = DEFAULT_RESTORE_POINT_INTERVAL,
) -> DevChain:
    """Open (or create) the custom chain of `parameters` under `datadir`.

    Raises:
        ConfigError: the config or genesis file is unreadable or invalid.
        StorageError: the datadir contains another chain (another genesis, another config
            identity, or a dev chain) or a newer schema version.
    """
    datadir = Path(datadir)
    spec = load_custom_config(parameters.config_path)
    state = load_genesis_state(spec, parameters.genesis_path)
    genesis_root = bytes(state.genesis_validators_root)
    genesis_time = int(state.genesis_time)
    identity = chain_identity(spec)

    db = BeaconDB.open(datadir / "beacon", db_engine)
    try:
        db.check_schema()
        db.spec = spec
        db.check_genesis(genesis_root)
        stored = db.chain_parameters()
        created = stored is None
        types = spec.types(spec.fork_of(state))
        signed = types.SignedBeaconBlock(message=genesis_block(spec, state))
        # Equal validator sets give equal genesis validators roots, so the genesis block
        # root (which commits to the whole genesis state) distinguishes the chains.
        identity["genesis_block_root"] = "0x" + bytes(signed.message.hash_tree_root()).hex()
        if stored is None:
            chain_record = {"chain": CUSTOM_CHAIN, "genesis_time": genesis_time, **identity}
            db.initialize(chain_record, signed, state)
            log.info(
                "custom chain created fork=%s preset=%s validators=%d genesis_time=%d "
                "genesis_validators_root=0x%s",
                spec.fork_of(state).lower,
                spec.preset_name,
                len(state.validators),
                genesis_time,
                genesis_root.hex(),
            )
        else:
            _check_custom_identity(stored, identity, parameters.config_path)
        chain = BeaconChain(
            spec,
            db,
            PreMergeExecution(),
            None,
            archive=archive,
            restore_point_interval=archive_restore_interval,
        )
    except BaseException:
        db.close()
        raise
    return DevChain(spec, db, chain, None, None, [], genesis_time, created)


def _check_custom_identity(stored: dict[str, Any], identity: dict[str, Any], path: Path) -> None:
    if stored.get("chain") != CUSTOM_CHAIN:
        raise StorageError(
            "datadir contains a dev chain; use another datadir for the custom chain",
            config=str(path),
        )
    for name, value in identity.items():
        if stored.get(name) != value:
            raise StorageError(
                "datadir contains another custom chain (other genesis or config); use another "
                "datadir or the files it was created with",
                key=name,
                stored=stored.get(name),
                requested=value,
                config=str(path),
            )


def _remove_unfinished_execution(path: Path) -> None:
    """Delete an execution database left by a first start that stopped before it wrote the
    beacon genesis. Its genesis time was not stored, so the next start cannot reuse it."""
    if path.exists():
        log.warning("removing execution database of an unfinished first start path=%s", path)
        shutil.rmtree(path)


def _genesis_state(spec: Any, keys: list[ValidatorKey], genesis_time: int, engine: Any) -> Any:
    fork = spec.fork_at_epoch(0)
    payload = None
    if fork >= Fork.BELLATRIX:
        payload = payload_to_ssz(engine.genesis_payload(), spec.types(fork).ExecutionPayload)
    return build_genesis_state(
        spec, [k.pubkey for k in keys], genesis_time, engine.genesis_hash, payload
    )


def _check_parameters(stored: dict[str, Any], parameters: DevParameters) -> None:
    requested = parameters.as_dict()
    for name, value in requested.items():
        if stored.get(name) != value:
            raise StorageError(
                "datadir contains a dev chain created with other parameters; use another "
                "datadir or the same flags",
                parameter=name,
                stored=stored.get(name),
                requested=value,
            )
