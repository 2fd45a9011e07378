"""The `caplin` command: flags in Erigon's style, a TOML config file, then the node.

With no flags it runs a local development chain (`--chain=dev`): interop validators inside
the node, the embedded execution engine with its eth JSON-RPC on 127.0.0.1:8545, and the
Beacon API on 127.0.0.1:5555. Command-line flags override the values of `--config FILE.toml`,
whose keys are flag names without the dashes (`"dev.validators" = 16`, or a `[dev]` table).
"""

import argparse
import logging
import signal
import sys
import time
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import trio

from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.logs import parse_verbosity, setup_logging
from caplin.storage import ENGINES
from caplin.storage.archive import DEFAULT_RESTORE_POINT_INTERVAL

log = logging.getLogger("caplin")

DEFAULT_DATADIR = Path.home() / ".local" / "share" / "caplin"
# The dev chain runs 4-second slots instead of the minimal config's 6, so its first
# finalized checkpoints arrive within a few minutes of starting (epoch 3 at slot 40).
DEV_SLOT_DURATION_MS = 4000
MIN_DEV_SLOT_DURATION_MS = 500
# A dev genesis further back than this (30 days) would make the node tick through that many
# slots before it starts.
MAX_DEV_PAST = 30 * 86_400
KNOWN_CHAINS = ("dev", "custom", "mainnet", "sepolia", "holesky", "hoodi")
API_NAMESPACES = (
    "beacon",
    "builder",
    "config",
    "debug",
    "events",
    "node",
    "validator",
    "lighthouse",
)
DEFAULT_API_NAMESPACES = tuple(n for n in API_NAMESPACES if n != "builder")


def _version() -> str:
    try:
        return version("caplin")
    except PackageNotFoundError:
        return "unknown"


def parse_bool(value: str | bool) -> bool:
    """Parse `true`/`false` (also 1/0, yes/no) as Erigon's boolean flags accept them."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r}; use true or false")


def _verbosity(value: str) -> int:
    try:
        return parse_verbosity(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}; use 0..65535")
    return port


def _address(value: str) -> bytes:
    text = value.removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise argparse.ArgumentTypeError(f"invalid execution address {value!r}; use 0x + 40 hex")
    return raw


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _flag(parser: Any, *names: str, **options: Any) -> None:
    if options.get("type") is parse_bool:
        options.setdefault("nargs", "?")
        options.setdefault("const", True)
    parser.add_argument(*names, **options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caplin",
        description="Ethereum beacon node. Without flags it runs a local dev chain.",
    )
    parser.add_argument("--version", action="version", version=f"caplin {_version()}")
    _flag(parser, "--config", metavar="FILE.toml", help="read flags from a TOML file")
    _flag(parser, "--datadir", type=Path, default=DEFAULT_DATADIR, help="data directory")
    _flag(
        parser,
        "--chain",
        default="dev",
        help="dev, custom (with --custom-config and --custom-genesis), mainnet, sepolia, "
        "holesky or hoodi",
    )
    _flag(
        parser,
        "--db.engine",
        dest="db_engine",
        choices=ENGINES,
        default="lmdb",
        help="key-value engine of the beacon database",
    )

    api = parser.add_argument_group("Beacon API")
    _flag(
        api,
        "--beacon.api",
        dest="api_namespaces",
        type=_csv,
        default=list(DEFAULT_API_NAMESPACES),
        help="comma-separated namespaces to serve (" + ", ".join(API_NAMESPACES) + ")",
    )
    _flag(api, "--beacon.api.addr", dest="api_addr", default="127.0.0.1", help="REST address")
    _flag(api, "--beacon.api.port", dest="api_port", type=_port, default=5555, help="REST port")
    _flag(
        api,
        "--beacon.api.cors.allow-origins",
        dest="api_cors",
        type=_csv,
        default=[],
        help="comma-separated CORS origins (none by default)",
    )
    _flag(
        api,
        "--beacon.api.enabled",
        dest="api_enabled",
        type=parse_bool,
        default=True,
        help="serve the Beacon API",
    )

    execution = parser.add_argument_group("embedded execution")
    _flag(
        execution,
        "--http",
        dest="http_enabled",
        type=parse_bool,
        default=True,
        help="serve the eth JSON-RPC of the embedded execution engine",
    )
    _flag(execution, "--http.addr", dest="http_addr", default="127.0.0.1", help="JSON-RPC address")
    _flag(
        execution, "--http.port", dest="http_port", type=_port, default=8545, help="JSON-RPC port"
    )

    caplin = parser.add_argument_group("consensus and networking")
    _flag(
        caplin,
        "--caplin.archive",
        dest="archive",
        type=parse_bool,
        default=False,
        help="keep every finalized state queryable (fixed when the datadir is created)",
    )
    _flag(
        caplin,
        "--caplin.archive.restore-interval",
        dest="archive_restore_interval",
        type=int,
        default=DEFAULT_RESTORE_POINT_INTERVAL,
        help="slots between full state snapshots in archive mode; a larger value stores less "
        "and replays more blocks per historical state",
    )
    _flag(
        caplin,
        "--caplin.checkpoint-sync-url",
        dest="checkpoint_sync_urls",
        type=_csv,
        default=[],
        help="Beacon API URLs to fetch the finalized state from",
    )
    _flag(
        caplin,
        "--caplin.discovery.addr",
        dest="discovery_addr",
        default="0.0.0.0",
        help="discv5 UDP address",
    )
    _flag(
        caplin,
        "--caplin.discovery.port",
        dest="discovery_port",
        type=_port,
        default=4000,
        help="discv5 UDP port",
    )
    _flag(
        caplin,
        "--caplin.discovery.tcpport",
        dest="discovery_tcpport",
        type=_port,
        default=4001,
        help="libp2p TCP port",
    )
    _flag(
        caplin,
        "--sentinel.enable",
        dest="sentinel_enabled",
        type=parse_bool,
        default=False,
        help="run the Sentinel (discv5, libp2p, gossip, range sync); bootnodes or static "
        "peers turn it on too",
    )
    _flag(caplin, "--sentinel.bootnodes", dest="bootnodes", type=_csv, default=[], help="ENRs")
    _flag(
        caplin,
        "--sentinel.staticpeers",
        dest="staticpeers",
        type=_csv,
        default=[],
        help="comma-separated peers to keep connected: /ip4/.../tcp/.../p2p/<id> multiaddrs or "
        "enr: records",
    )
    _flag(
        caplin, "--caplin.max-peer-count", dest="max_peers", type=int, default=64, help="peer limit"
    )

    custom = parser.add_argument_group("custom chain (--chain=custom)")
    _flag(
        custom,
        "--custom-config",
        dest="custom_config",
        default=None,
        metavar="FILE.yaml",
        help="chain config of the custom chain (consensus-specs config.yaml format)",
    )
    _flag(
        custom,
        "--custom-genesis",
        dest="custom_genesis",
        default=None,
        metavar="FILE.ssz",
        help="genesis BeaconState of the custom chain, SSZ-encoded",
    )
    _flag(
        custom,
        "--custom-beacon-api",
        dest="custom_beacon_api",
        default=None,
        metavar="URL",
        help="Beacon API of a node of the custom chain: fetch its config and genesis state "
        "into the datadir when --custom-config and --custom-genesis are not given",
    )
    logs = parser.add_argument_group("logging")
    _flag(
        logs,
        "--verbosity",
        "--log.console.verbosity",
        dest="verbosity",
        type=_verbosity,
        default=logging.INFO,
        help="console verbosity: 0 crit .. 5 trace, or a name (default info)",
    )
    _flag(
        logs,
        "--log.json",
        "--log.console.json",
        dest="log_json",
        type=parse_bool,
        default=False,
        help="JSON console logs",
    )
    _flag(logs, "--log.dir.path", dest="log_dir", default=None, help="directory of log files")
    _flag(
        logs, "--log.dir.prefix", dest="log_prefix", default="caplin", help="log file name prefix"
    )
    _flag(
        logs,
        "--log.dir.verbosity",
        dest="log_dir_verbosity",
        type=_verbosity,
        default=logging.DEBUG,
        help="log file verbosity (default debug)",
    )
    _flag(
        logs,
        "--log.dir.json",
        dest="log_dir_json",
        type=parse_bool,
        default=False,
        help="JSON log files",
    )

    metrics = parser.add_argument_group("metrics")
    _flag(
        metrics,
        "--metrics",
        dest="metrics",
        type=parse_bool,
        default=False,
        help="serve Prometheus metrics",
    )
    _flag(
        metrics, "--metrics.addr", dest="metrics_addr", default="127.0.0.1", help="metrics address"
    )
    _flag(
        metrics,
        "--metrics.port",
        dest="metrics_port",
        type=_port,
        default=6061,
        help="metrics port",
    )

    dev = parser.add_argument_group("dev chain (--chain=dev)")
    _flag(
        dev,
        "--dev.validators",
        dest="dev_validators",
        type=int,
        default=64,
        help="number of interop validators at genesis",
    )
    _flag(
        dev,
        "--dev.genesis-fork",
        dest="dev_genesis_fork",
        default="electra",
        choices=[f.lower for f in Fork],
        help="fork active at genesis",
    )
    _flag(
        dev,
        "--dev.preset",
        dest="dev_preset",
        default="minimal",
        choices=("minimal", "mainnet"),
        help="preset of the dev chain",
    )
    _flag(
        dev,
        "--dev.config",
        dest="dev_config",
        default=None,
        metavar="FILE.yaml",
        help="chain config values to override (fork epochs, SLOT_DURATION_MS, ...)",
    )
    _flag(
        dev,
        "--dev.slot-duration",
        dest="dev_slot_duration",
        type=int,
        default=DEV_SLOT_DURATION_MS,
        metavar="MS",
        help="slot length of the dev chain in milliseconds (a --dev.config SLOT_DURATION_MS wins)",
    )
    _flag(
        dev,
        "--dev.genesis-delay",
        dest="dev_genesis_delay",
        type=int,
        default=3,
        help="seconds from the first start to genesis",
    )
    _flag(
        dev,
        "--dev.fee-recipient",
        dest="dev_fee_recipient",
        type=_address,
        default=None,
        help="execution address receiving priority fees (default: dev account 0)",
    )
    _flag(
        dev,
        "--dev.run-validators",
        dest="dev_run_validators",
        type=parse_bool,
        default=True,
        help="run the interop validators in the node; false makes a node that only follows",
    )
    _flag(
        dev,
        "--dev.genesis-time",
        dest="dev_genesis_time",
        type=int,
        default=None,
        metavar="SECONDS",
        help="Unix genesis time of a new dev chain (give a second node the first node's)",
    )
    return parser


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def apply_config_file(parser: argparse.ArgumentParser, path: str) -> None:
    """Make the values of the TOML file at `path` the parser's defaults.

    Raises CaplinError naming the file and key when it cannot be read or a key is unknown.
    """
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CaplinError("cannot read the config file", path=path, error=error) from error
    actions = {
        option.lstrip("-"): action for action in parser._actions for option in action.option_strings
    }
    defaults: dict[str, Any] = {}
    for key, value in _flatten(table).items():
        action = actions.get(key)
        if action is None or key == "config":
            raise CaplinError("unknown key in the config file", path=path, key=key)
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        # TOML booleans are ints to Python, so `true` would pass int() as 1.
        if isinstance(value, bool) and action.type is not parse_bool:
            raise CaplinError(
                "invalid value in the config file: expected a number or string, not a boolean",
                path=path,
                key=key,
            )
        if action.type is not None and isinstance(value, str | int | float):
            try:
                value = action.type(value if isinstance(value, str | bool) else str(value))
            except (argparse.ArgumentTypeError, ValueError) as error:
                raise CaplinError(
                    "invalid value in the config file", path=path, key=key, error=error
                ) from error

        # argparse checks choices only on the command line, never on defaults.
        if action.choices is not None and value not in action.choices:
            raise CaplinError(
                "invalid value in the config file",
                path=path,
                key=key,
                value=value,
                choices=",".join(str(choice) for choice in action.choices),
            )
        defaults[action.dest] = value
    parser.set_defaults(**defaults)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    first, _ = parser.parse_known_args(argv)
    if first.config:
        apply_config_file(parser, first.config)
    return parser.parse_args(argv)


def node_config(args: argparse.Namespace) -> Any:
    """Build the `NodeConfig` of parsed flags. Raises CaplinError on unusable values."""
    from caplin.node.node import NodeConfig
    from caplin.node.setup import DevParameters
    from execution import dev_accounts

    overrides: dict[str, Any] = {}
    if args.dev_config:
        import yaml

        try:
            with open(args.dev_config) as file:
                overrides = yaml.safe_load(file) or {}
        except (OSError, yaml.YAMLError) as error:
            raise CaplinError(
                "cannot read the dev chain config", path=args.dev_config, error=error
            ) from error
        if not isinstance(overrides, dict):
            raise CaplinError("dev chain config must be a mapping", path=args.dev_config)
    if args.dev_slot_duration < MIN_DEV_SLOT_DURATION_MS:
        raise CaplinError(
            f"--dev.slot-duration must be at least {MIN_DEV_SLOT_DURATION_MS} milliseconds: "
            "shorter slots leave no time to produce and import a block",
            value=args.dev_slot_duration,
        )
    if args.dev_genesis_time is not None and args.dev_genesis_time < time.time() - MAX_DEV_PAST:
        raise CaplinError(
            "--dev.genesis-time lies more than 30 days in the past: the node would first have "
            "to tick through every slot since then; give a recent Unix time or leave it out",
            value=args.dev_genesis_time,
        )
    overrides.setdefault("SLOT_DURATION_MS", args.dev_slot_duration)
    fee_recipient = args.dev_fee_recipient or dev_accounts(1)[0][0]
    parameters = DevParameters(
        validators=args.dev_validators,
        preset=args.dev_preset,
        genesis_fork=args.dev_genesis_fork,
        overrides=tuple(sorted((str(k), v) for k, v in overrides.items())),
    )
    unknown = [n for n in args.api_namespaces if n not in API_NAMESPACES]
    if unknown:
        raise CaplinError("unknown Beacon API namespace", namespaces=",".join(unknown))
    network = None
    if args.sentinel_enabled or args.bootnodes or args.staticpeers:
        from caplin.node.network import NetworkConfig

        network = NetworkConfig(
            listen_host=args.discovery_addr,
            udp_port=args.discovery_port,
            tcp_port=args.discovery_tcpport,
            bootnodes=list(args.bootnodes),
            static_peers=list(args.staticpeers),
            max_peers=args.max_peers,
        )
    custom = _custom_parameters(args)
    if custom is not None and network is None:
        # A custom chain is another client's chain: without peers there is nothing to follow.
        from caplin.node.network import NetworkConfig

        network = NetworkConfig(
            listen_host=args.discovery_addr,
            udp_port=args.discovery_port,
            tcp_port=args.discovery_tcpport,
            max_peers=args.max_peers,
        )
    return NodeConfig(
        datadir=Path(args.datadir).expanduser(),
        dev=parameters,
        db_engine=args.db_engine,
        genesis_delay=args.dev_genesis_delay,
        api_enabled=args.api_enabled,
        api_addr=args.api_addr,
        api_port=args.api_port,
        api_namespaces=tuple(args.api_namespaces),
        api_cors_origins=tuple(args.api_cors),
        rpc_enabled=args.http_enabled,
        rpc_addr=args.http_addr,
        rpc_port=args.http_port,
        metrics_enabled=args.metrics,
        metrics_addr=args.metrics_addr,
        metrics_port=args.metrics_port,
        fee_recipient=fee_recipient,
        network=network,
        genesis_time=args.dev_genesis_time,
        # A custom chain's validator keys are not in the node.
        run_validators=args.dev_run_validators and custom is None,
        custom=custom,
        archive=args.archive,
        archive_restore_interval=args.archive_restore_interval,
    )


def _custom_parameters(args: argparse.Namespace) -> Any:
    """Return the `CustomParameters` of `--chain=custom`, or None for the dev chain.

    Raises CaplinError when a file flag is missing or the Beacon API fetch fails.
    """
    from caplin.node.setup import CustomParameters

    if args.chain != "custom":
        if args.custom_config or args.custom_genesis or args.custom_beacon_api:
            raise CaplinError("--custom-* flags need --chain=custom", chain=args.chain)
        return None
    config, genesis = args.custom_config, args.custom_genesis
    if args.custom_beacon_api and not (config and genesis):
        from caplin.config.custom import fetch_custom_chain

        fetched = Path(args.datadir).expanduser() / "custom"
        config_path, genesis_path = fetch_custom_chain(args.custom_beacon_api, fetched)
        config = config or config_path
        genesis = genesis or genesis_path
    if not config or not genesis:
        raise CaplinError(
            "--chain=custom needs --custom-config FILE.yaml and --custom-genesis FILE.ssz, "
            "or --custom-beacon-api URL",
            custom_config=config,
            custom_genesis=genesis,
        )
    return CustomParameters(config_path=Path(config), genesis_path=Path(genesis))


async def _run_until_signal(config: Any) -> None:
    from caplin.node.node import run_node

    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signum in signals:
                    log.info("shutdown requested signal=%s", signal.Signals(signum).name)
                    shutdown.set()
                    return

            nursery.start_soon(watch)
            await run_node(config, shutdown=shutdown)
            nursery.cancel_scope.cancel()


def _leaves(errors: list[BaseException]) -> list[BaseException]:
    """Return the exceptions inside (possibly nested) exception groups."""
    leaves: list[BaseException] = []
    for error in errors:
        if isinstance(error, BaseExceptionGroup):
            leaves.extend(_leaves(list(error.exceptions)))
        else:
            leaves.append(error)
    return leaves


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["validator"]:
        from caplin.validator.cli import main as validator_main

        return validator_main(arguments[1:])
    try:
        args = parse_args(argv)
    except CaplinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    setup_logging(
        args.verbosity,
        json_console=args.log_json,
        dir_path=args.log_dir,
        dir_prefix=args.log_prefix,
        dir_verbosity=args.log_dir_verbosity,
        dir_json=args.log_dir_json,
    )
    if args.chain not in KNOWN_CHAINS:
        log.error("unknown chain chain=%s; choose one of %s", args.chain, ", ".join(KNOWN_CHAINS))
        return 2
    if args.chain not in ("dev", "custom"):
        log.error(
            "only the dev chain and custom chains run in this build: public networks need "
            "checkpoint sync and their bootnodes, which are not wired in yet; start with "
            "--chain=dev or --chain=custom chain=%s",
            args.chain,
        )
        return 2
    if args.checkpoint_sync_urls:
        log.warning("checkpoint sync is not implemented yet; ignoring it")
    try:
        config = node_config(args)
    except CaplinError as error:
        log.error("invalid flags error=%s", error)
        return 2
    failures: list[BaseException] = []
    try:
        trio.run(_run_until_signal, config)
    except* CaplinError as group:
        failures.extend(group.exceptions)
    except* OSError as group:
        # Mostly a port in use; the message names the address.
        failures.extend(group.exceptions)
    for error in _leaves(failures):
        if isinstance(error, OSError):
            log.error(
                "node failed: a port or file is unavailable (is another node running?) error=%s",
                error,
            )
        else:
            log.error("node failed error=%s", error)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
