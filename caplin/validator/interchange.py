"""The EIP-3076 slashing protection interchange format, version 5: import and export.

An interchange is a JSON document with `metadata` (`interchange_format_version` "5" and the
chain's `genesis_validators_root`) and `data`, one entry per validator key with its
`signed_blocks` (`slot`, optional `signing_root`) and `signed_attestations` (`source_epoch`,
`target_epoch`, optional `signing_root`). Numbers are decimal strings and byte strings are
0x-prefixed hex.

The complete form lists every record the database keeps. The minimal form lists only each
key's newest block and attestation watermarks, because those are enough to enforce the
EIP-3076 conditions.
"""

import json
from pathlib import Path
from typing import Any

from caplin.validator.slashing_protection import (
    UINT64_MAX,
    SignedAttestationRecord,
    SignedBlockRecord,
    SlashingProtection,
    SlashingProtectionError,
)

INTERCHANGE_FORMAT_VERSION = "5"

Records = dict[bytes, tuple[list[SignedBlockRecord], list[SignedAttestationRecord]]]


class InterchangeError(SlashingProtectionError):
    """An interchange document is malformed, of another version or of another chain."""


def parse_interchange(document: Any) -> tuple[bytes, Records]:
    """Validate a decoded interchange document; return (genesis validators root, records).

    Entries with the same pubkey are merged. Raises InterchangeError naming the first
    invalid field.
    """
    if not isinstance(document, dict):
        raise InterchangeError("interchange must be a JSON object")
    metadata = _field(document, "metadata", dict, "interchange")
    version = _field(metadata, "interchange_format_version", str, "metadata")
    if version != INTERCHANGE_FORMAT_VERSION:
        raise InterchangeError(
            "unsupported interchange format version; only version 5 is supported",
            version=version,
        )
    root = _hex(_field(metadata, "genesis_validators_root", str, "metadata"), 32, "metadata")
    records: Records = {}
    for index, entry in enumerate(_field(document, "data", list, "interchange")):
        where = f"data[{index}]"
        if not isinstance(entry, dict):
            raise InterchangeError("interchange entry must be an object", entry=where)
        pubkey = _hex(_field(entry, "pubkey", str, where), 48, where)
        blocks, attestations = records.setdefault(pubkey, ([], []))
        for position, block in enumerate(_field(entry, "signed_blocks", list, where)):
            blocks.append(_parse_block(block, f"{where}.signed_blocks[{position}]"))
        for position, item in enumerate(_field(entry, "signed_attestations", list, where)):
            attestations.append(
                _parse_attestation(item, f"{where}.signed_attestations[{position}]")
            )
    return root, records


def _parse_block(block: Any, where: str) -> SignedBlockRecord:
    if not isinstance(block, dict):
        raise InterchangeError("signed block must be an object", entry=where)
    return SignedBlockRecord(_uint64(block, "slot", where), _optional_root(block, where))


def _parse_attestation(item: Any, where: str) -> SignedAttestationRecord:
    if not isinstance(item, dict):
        raise InterchangeError("signed attestation must be an object", entry=where)
    return SignedAttestationRecord(
        _uint64(item, "source_epoch", where),
        _uint64(item, "target_epoch", where),
        _optional_root(item, where),
    )


def _field(mapping: dict, name: str, kind: type, where: str) -> Any:
    if name not in mapping:
        raise InterchangeError("missing interchange field", field=name, entry=where)
    value = mapping[name]
    if not isinstance(value, kind):
        raise InterchangeError(
            f"interchange field must be a {kind.__name__}", field=name, entry=where
        )
    return value


def _uint64(mapping: dict, name: str, where: str) -> int:
    text = _field(mapping, name, str, where)
    if not text.isdecimal() or not text.isascii():
        raise InterchangeError(
            "interchange number must be a decimal string", field=name, value=text
        )
    value = int(text)
    if value > UINT64_MAX:
        raise InterchangeError("interchange number exceeds uint64", field=name, value=text)
    return value


def _optional_root(mapping: dict, where: str) -> bytes | None:
    if mapping.get("signing_root") is None:
        return None
    return _hex(_field(mapping, "signing_root", str, where), 32, where)


def _hex(text: str, size: int, where: str) -> bytes:
    if not text.startswith("0x"):
        raise InterchangeError("interchange hex value must start with 0x", value=text, entry=where)
    try:
        value = bytes.fromhex(text[2:])
    except ValueError:
        raise InterchangeError("invalid interchange hex value", value=text, entry=where) from None
    if len(value) != size:
        raise InterchangeError(
            f"interchange hex value must be {size} bytes", value=text, entry=where
        )
    return value


def import_interchange(protection: SlashingProtection, document: Any) -> int:
    """Import a decoded interchange document into `protection`; return the number of keys.

    A database without a genesis validators root takes the document's. The records are
    merged in one transaction, and a document that fails validation imports nothing.
    Raises InterchangeError for an invalid document or one of another chain.
    """
    root, records = parse_interchange(document)
    if not protection.genesis_validators_root:
        protection.adopt_genesis_validators_root(root)
    elif root != protection.genesis_validators_root:
        raise InterchangeError(
            "interchange belongs to another chain",
            genesis_validators_root=root,
            expected_genesis_validators_root=protection.genesis_validators_root,
        )
    protection.merge(records)
    return len(records)


def export_interchange(
    protection: SlashingProtection, *, minimal: bool = False, pubkeys: list[bytes] | None = None
) -> dict[str, Any]:
    """Return the interchange document of `protection`, for `pubkeys` or every key.

    With `minimal` each key gets one block (its newest slot) and one attestation (its newest
    source and target epochs, which may come from two messages and then carry no signing
    root). Otherwise every kept record is listed, plus the attestation watermarks when no
    kept record carries them.
    """
    if not protection.genesis_validators_root:
        raise SlashingProtectionError(
            "slashing protection database has no genesis validators root yet; nothing to export",
            path=protection.path,
        )
    data = []
    for pubkey in protection.pubkeys() if pubkeys is None else pubkeys:
        marks = protection.watermarks(pubkey)
        if minimal:
            blocks = (
                []
                if marks.block_slot is None
                else [SignedBlockRecord(marks.block_slot, marks.block_root)]
            )
            attestations = []
        else:
            blocks = protection.signed_blocks(pubkey)
            attestations = protection.signed_attestations(pubkey)
        if marks.target_epoch is not None and marks.source_epoch is not None:
            newest = (marks.source_epoch, marks.target_epoch)
            if all((a.source_epoch, a.target_epoch) != newest for a in attestations):
                attestations.append(
                    SignedAttestationRecord(newest[0], newest[1], marks.attestation_root)
                )
        data.append(_entry(pubkey, blocks, attestations))
    return {
        "metadata": {
            "interchange_format_version": INTERCHANGE_FORMAT_VERSION,
            "genesis_validators_root": "0x" + protection.genesis_validators_root.hex(),
        },
        "data": data,
    }


def _entry(
    pubkey: bytes, blocks: list[SignedBlockRecord], attestations: list[SignedAttestationRecord]
) -> dict[str, Any]:
    signed_blocks = []
    for block in blocks:
        item = {"slot": str(block.slot)}
        if block.signing_root is not None:
            item["signing_root"] = "0x" + block.signing_root.hex()
        signed_blocks.append(item)
    signed_attestations = []
    for attestation in attestations:
        item = {
            "source_epoch": str(attestation.source_epoch),
            "target_epoch": str(attestation.target_epoch),
        }
        if attestation.signing_root is not None:
            item["signing_root"] = "0x" + attestation.signing_root.hex()
        signed_attestations.append(item)
    return {
        "pubkey": "0x" + pubkey.hex(),
        "signed_blocks": signed_blocks,
        "signed_attestations": signed_attestations,
    }


def read_interchange_file(path: str | Path) -> Any:
    """Return the decoded JSON of an interchange file. Raises InterchangeError."""
    try:
        with open(path, "rb") as file:
            return json.load(file)
    except OSError as error:
        raise InterchangeError("cannot read interchange file", path=path, error=error) from error
    except ValueError as error:
        raise InterchangeError(
            "interchange file is not valid JSON", path=path, error=error
        ) from None


def write_interchange_file(path: str | Path, document: dict[str, Any]) -> None:
    """Write `document` to `path` as indented JSON, replacing the file in one rename."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
    partial.replace(path)
