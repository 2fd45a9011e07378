"""`caplin validator ...`: offline tools for the validators a datadir runs.

    caplin validator slashing-protection export FILE [--datadir DIR] [--minimal]
        [--pubkey 0x...]...
    caplin validator slashing-protection import FILE [--datadir DIR]

Both read or write the EIP-3076 interchange format (version 5). They need the node stopped:
the database lock held by a running node makes them exit with an error.
"""

import argparse
import sys
from pathlib import Path

from caplin.errors import CaplinError
from caplin.validator.interchange import (
    export_interchange,
    import_interchange,
    read_interchange_file,
    write_interchange_file,
)
from caplin.validator.slashing_protection import SlashingProtection, protection_path

DEFAULT_DATADIR = Path.home() / ".local" / "share" / "caplin"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caplin validator", description="Tools for the validators of a caplin datadir."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    protection = commands.add_parser(
        "slashing-protection", help="export or import slashing protection data (EIP-3076)"
    )
    actions = protection.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the database to an interchange file")
    export.add_argument("file", type=Path, help="interchange file to write")
    export.add_argument(
        "--minimal",
        action="store_true",
        help="write only each key's newest block and attestation instead of every record",
    )
    export.add_argument(
        "--pubkey",
        action="append",
        dest="pubkeys",
        metavar="0x...",
        help="export only this validator pubkey (repeatable); default: every pubkey",
    )
    imported = actions.add_parser("import", help="merge an interchange file into the database")
    imported.add_argument("file", type=Path, help="interchange file to read")
    for command in (export, imported):
        command.add_argument(
            "--datadir", type=Path, default=DEFAULT_DATADIR, help="data directory of the node"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `caplin validator` command; return the process exit code."""
    args = build_parser().parse_args(argv)
    path = protection_path(args.datadir.expanduser())
    try:
        if args.action == "export":
            pubkeys = None if args.pubkeys is None else [_pubkey(text) for text in args.pubkeys]
            return _export(path, args.file, args.minimal, pubkeys)
        return _import(path, args.file)
    except CaplinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _pubkey(text: str) -> bytes:
    try:
        pubkey = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        pubkey = b""
    if len(pubkey) != 48:
        raise CaplinError("invalid --pubkey: expected 48 bytes as 0x-prefixed hex", value=text)
    return pubkey


def _export(path: Path, file: Path, minimal: bool, pubkeys: list[bytes] | None) -> int:
    if not (path / "data.mdb").exists():
        print(f"error: no slashing protection database in {path}", file=sys.stderr)
        return 1
    with SlashingProtection.open(path, None) as protection:
        document = export_interchange(protection, minimal=minimal, pubkeys=pubkeys)
    write_interchange_file(file, document)
    print(f"exported {len(document['data'])} validators to {file}")
    return 0


def _import(path: Path, file: Path) -> int:
    document = read_interchange_file(file)
    with SlashingProtection.open(path, None) as protection:
        count = import_interchange(protection, document)
    print(f"imported {count} validators from {file}")
    return 0
