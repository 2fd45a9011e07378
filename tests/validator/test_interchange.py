"""Interchange export and import: round trips, the minimal form, invalid documents, the CLI."""

import json

import pytest

from caplin.cli import main as caplin_main
from caplin.validator.interchange import (
    InterchangeError,
    export_interchange,
    import_interchange,
)
from caplin.validator.slashing_protection import (
    SlashableSigningError,
    SlashingProtection,
    protection_path,
)

CHAIN = b"\x11" * 32
KEY = b"\xaa" * 48
OTHER_KEY = b"\xbb" * 48


def root(number: int) -> bytes:
    return number.to_bytes(32, "big")


def fill(db: SlashingProtection) -> None:
    db.check_and_record_block(KEY, 3, root(1))
    db.check_and_record_block(KEY, 9, root(2))
    db.check_and_record_attestation(KEY, 0, 1, root(3))
    db.check_and_record_attestation(KEY, 1, 2, root(4))
    db.check_and_record_attestation(OTHER_KEY, 0, 2, root(5))


def test_complete_round_trip(tmp_path):
    with SlashingProtection.open(tmp_path / "a", CHAIN) as db:
        fill(db)
        document = export_interchange(db)
    assert document["metadata"] == {
        "interchange_format_version": "5",
        "genesis_validators_root": "0x" + CHAIN.hex(),
    }
    entry = next(e for e in document["data"] if e["pubkey"] == "0x" + KEY.hex())
    assert entry["signed_blocks"] == [
        {"slot": "3", "signing_root": "0x" + root(1).hex()},
        {"slot": "9", "signing_root": "0x" + root(2).hex()},
    ]
    assert [a["target_epoch"] for a in entry["signed_attestations"]] == ["1", "2"]

    with SlashingProtection.open(tmp_path / "b", None) as db:
        assert import_interchange(db, json.loads(json.dumps(document))) == 2
        assert db.genesis_validators_root == CHAIN
        assert export_interchange(db) == document
        db.check_and_record_block(KEY, 9, root(2))
        with pytest.raises(SlashableSigningError):
            db.check_and_record_block(KEY, 9, root(7))
        with pytest.raises(SlashableSigningError):
            db.check_and_record_attestation(OTHER_KEY, 1, 2, root(8))


def test_minimal_export(tmp_path):
    with SlashingProtection.open(tmp_path / "a", CHAIN) as db:
        fill(db)
        document = export_interchange(db, minimal=True)
    entry = next(e for e in document["data"] if e["pubkey"] == "0x" + KEY.hex())
    assert entry["signed_blocks"] == [{"slot": "9", "signing_root": "0x" + root(2).hex()}]
    assert entry["signed_attestations"] == [
        {"source_epoch": "1", "target_epoch": "2", "signing_root": "0x" + root(4).hex()}
    ]


def test_watermarks_of_two_messages_exported(tmp_path):
    document = {
        "metadata": {
            "interchange_format_version": "5",
            "genesis_validators_root": "0x" + CHAIN.hex(),
        },
        "data": [
            {
                "pubkey": "0x" + KEY.hex(),
                "signed_blocks": [],
                "signed_attestations": [
                    {"source_epoch": "6", "target_epoch": "7"},
                    {"source_epoch": "8", "target_epoch": "8"},
                    {"source_epoch": "2", "target_epoch": "9"},
                ],
            }
        ],
    }
    with SlashingProtection.open(tmp_path / "a", CHAIN) as db:
        import_interchange(db, document)
        marks = db.watermarks(KEY)
        assert (marks.source_epoch, marks.target_epoch) == (8, 9)
        assert marks.attestation_root is None
        minimal = export_interchange(db, minimal=True)
    assert minimal["data"][0]["signed_attestations"] == [{"source_epoch": "8", "target_epoch": "9"}]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["metadata"].update(interchange_format_version="4"), "version"),
        (lambda d: d["metadata"].update(genesis_validators_root="0x" + "22" * 32), "another chain"),
        (lambda d: d["data"][0].update(pubkey="0x1234"), "48 bytes"),
        (lambda d: d["data"][0]["signed_blocks"].append({"slot": "-1"}), "decimal"),
        (lambda d: d["data"][0]["signed_blocks"].append({"slot": 5}), "must be a str"),
        (lambda d: d["data"][0]["signed_blocks"].append({"slot": str(2**64)}), "uint64"),
        (lambda d: d["data"][0].pop("signed_attestations"), "missing"),
        (lambda d: d.pop("data"), "missing"),
    ],
)
def test_invalid_document_imports_nothing(tmp_path, change, message):
    with SlashingProtection.open(tmp_path / "a", CHAIN) as db:
        fill(db)
        document = export_interchange(db)
    with SlashingProtection.open(tmp_path / "b", CHAIN) as db:
        change(document)
        with pytest.raises(InterchangeError, match=message):
            import_interchange(db, document)
        assert db.pubkeys() == []


def test_cli_export_and_import(tmp_path, capsys):
    source = tmp_path / "source"
    with SlashingProtection.open(protection_path(source), CHAIN) as db:
        fill(db)
    exported = tmp_path / "interchange.json"
    assert (
        caplin_main(
            ["validator", "slashing-protection", "export", str(exported), "--datadir", str(source)]
        )
        == 0
    )
    assert "exported 2 validators" in capsys.readouterr().out

    target = tmp_path / "target"
    assert (
        caplin_main(
            ["validator", "slashing-protection", "import", str(exported), "--datadir", str(target)]
        )
        == 0
    )
    with SlashingProtection.open(protection_path(target), CHAIN) as db:
        assert db.watermarks(KEY).block_slot == 9

    minimal = tmp_path / "minimal.json"
    arguments = ["validator", "slashing-protection", "export", str(minimal), "--minimal"]
    assert caplin_main([*arguments, "--datadir", str(target)]) == 0
    assert len(json.loads(minimal.read_text())["data"][0]["signed_blocks"]) == 1


def test_cli_rejects_running_node(tmp_path, capsys):
    with SlashingProtection.open(protection_path(tmp_path), CHAIN):
        code = caplin_main(
            [
                "validator",
                "slashing-protection",
                "export",
                str(tmp_path / "x.json"),
                "--datadir",
                str(tmp_path),
            ]
        )
    assert code == 1
    assert "in use by another process" in capsys.readouterr().err


def test_cli_exports_chosen_pubkeys(tmp_path, capsys):
    with SlashingProtection.open(protection_path(tmp_path), CHAIN) as db:
        fill(db)
    exported = tmp_path / "one.json"
    arguments = ["validator", "slashing-protection", "export", str(exported)]
    chosen = ["--pubkey", "0x" + OTHER_KEY.hex(), "--datadir", str(tmp_path)]
    assert caplin_main([*arguments, *chosen]) == 0
    data = json.loads(exported.read_text())["data"]
    assert [entry["pubkey"] for entry in data] == ["0x" + OTHER_KEY.hex()]

    assert caplin_main([*arguments, "--pubkey", "0x12", "--datadir", str(tmp_path)]) == 1
    assert "invalid --pubkey" in capsys.readouterr().err
