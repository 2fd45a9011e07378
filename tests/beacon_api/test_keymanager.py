"""The Keymanager API's /eth/v1/keystores on a loopback server, with a real dev chain.

Responses are checked against the bundled Keymanager OpenAPI document. The validator client
has interop keys 0..7 of a 16-validator chain, so keys 8..15 are in the registry but not
held, and key 20 is not in the registry at all.
"""

import functools
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from beacon_api.server import serve
from caplin.validator.client import ValidatorClient
from caplin.validator.interchange import export_interchange
from caplin.validator.keymanager import KeyManager, validator_dir
from caplin.validator.keys import interop_key
from caplin.validator.keystore import encrypt_keystore
from tests.node.devnet import open_past_chain

DOCUMENT_PATH = Path("/work/shared/api/keymanager-oapi-v1.1.0.yaml")
ROUTE = "/eth/v1/keystores"


@functools.cache
def document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT_PATH.read_text())


def check_schema(method: str, status: int, body: Any) -> None:
    """Assert that `body` matches the document's response schema of `method` and `status`."""
    responses = document()["paths"][ROUTE][method]["responses"]
    assert str(status) in responses, f"{method} {status} is not documented"
    response = responses[str(status)]
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#/")
    else:
        pointer = f"paths/{ROUTE.replace('/', '~1')}/{method}/responses/{status}"
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:keymanager", resource)
    schema = {"$ref": f"urn:keymanager#/{pointer}/content/application~1json/schema"}
    errors = list(Draft202012Validator(schema, registry=registry).iter_errors(body))
    assert not errors, [error.message for error in errors[:5]]


class KeymanagerServer:
    """`beacon_api.server.serve` with a KeyManager, in its own trio loop on a thread."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager
        self.url = ""
        self._started = threading.Event()
        self._token: Any = None
        self._scope: Any = None
        self._thread = threading.Thread(target=lambda: trio.run(self._main), daemon=True)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                start = functools.partial(
                    serve, None, host="127.0.0.1", port=0, namespaces=(), keymanager=self.manager
                )
                self.url = (await nursery.start(start))[0]
                self._started.set()

    def __enter__(self) -> "KeymanagerServer":
        self._thread.start()
        assert self._started.wait(timeout=30), "keymanager server did not start"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._token.run_sync_soon(self._scope.cancel)
        self._thread.join(timeout=30)


@pytest.fixture
def setup(tmp_path):
    dev = open_past_chain(tmp_path / "chain", "electra", slots=8, validators=16)
    client = ValidatorClient(dev.chain, dev.keys[:8], datadir=tmp_path)
    readonly = {key.pubkey for key in dev.keys[:8]}
    manager = KeyManager(client, tmp_path, readonly)
    try:
        with KeymanagerServer(manager) as server:
            headers = {"Authorization": f"Bearer {manager.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
                yield dev, client, manager, http
    finally:
        client.close()
        dev.close()


def keystore_text(index: int, password: str) -> str:
    path = f"m/12381/3600/{index}/0/0"
    keystore = encrypt_keystore(interop_key(index), password, kdf="pbkdf2", rounds=2, path=path)
    return json.dumps(keystore)


def hex_key(index: int) -> str:
    return "0x" + interop_key(index).pubkey.hex()


def test_token_required(setup):
    _, _, manager, http = setup
    response = http.get(ROUTE, headers={"Authorization": ""})
    assert response.status_code == 401
    check_schema("get", 401, response.json())

    response = http.get(ROUTE, headers={"Authorization": "Bearer " + "0" * 64})
    assert response.status_code == 403
    check_schema("get", 403, response.json())

    token_file = validator_dir(manager.datadir) / "api-token.txt"
    assert token_file.read_text().strip() == manager.token
    assert token_file.stat().st_mode & 0o077 == 0


def test_list_keys(setup):
    _, _, _, http = setup
    response = http.get(ROUTE)
    assert response.status_code == 200
    body = response.json()
    check_schema("get", 200, body)
    assert [entry["validating_pubkey"] for entry in body["data"]] == [hex_key(i) for i in range(8)]
    assert all(entry["readonly"] for entry in body["data"])


def test_import_statuses(setup):
    _, client, _, http = setup
    request = {
        "keystores": [
            keystore_text(9, "nine"),
            keystore_text(20, "twenty"),
            keystore_text(0, "zero"),
            keystore_text(10, "ten"),
            "not json",
        ],
        "passwords": ["nine", "twenty", "zero", "wrong", "x"],
    }
    response = http.post(ROUTE, json=request)
    assert response.status_code == 200
    body = response.json()
    check_schema("post", 200, body)
    statuses = [item["status"] for item in body["data"]]
    assert statuses == ["imported", "imported", "duplicate", "error", "error"]
    assert "password" in body["data"][3]["message"]

    assert 9 in client.keys
    assert interop_key(20).pubkey in client.pubkeys()
    assert 10 not in client.keys
    listed = [entry["validating_pubkey"] for entry in http.get(ROUTE).json()["data"]]
    assert hex_key(9) in listed
    assert hex_key(20) in listed


def test_import_without_pubkey_field(setup):
    _, client, _, http = setup
    keystore = json.loads(keystore_text(13, "thirteen"))
    del keystore["pubkey"]
    duplicate = json.loads(keystore_text(1, "one"))
    del duplicate["pubkey"]
    request = {
        "keystores": [json.dumps(keystore), json.dumps(duplicate)],
        "passwords": ["thirteen", "one"],
    }
    response = http.post(ROUTE, json=request)
    assert [item["status"] for item in response.json()["data"]] == ["imported", "duplicate"]
    assert 13 in client.keys


def test_import_merges_slashing_protection(setup):
    dev, client, _, http = setup
    root = "0x" + client.protection.genesis_validators_root.hex()
    interchange = {
        "metadata": {"interchange_format_version": "5", "genesis_validators_root": root},
        "data": [
            {
                "pubkey": hex_key(9),
                "signed_blocks": [{"slot": "100"}],
                "signed_attestations": [{"source_epoch": "3", "target_epoch": "12"}],
            }
        ],
    }
    request = {
        "keystores": [keystore_text(9, "nine")],
        "passwords": ["nine"],
        "slashing_protection": json.dumps(interchange),
    }
    response = http.post(ROUTE, json=request)
    assert response.status_code == 200
    marks = client.protection.watermarks(interop_key(9).pubkey)
    assert marks.block_slot == 100
    assert marks.target_epoch == 12


def test_import_other_chain_rejected(setup):
    _, client, _, http = setup
    interchange = {
        "metadata": {
            "interchange_format_version": "5",
            "genesis_validators_root": "0x" + "ee" * 32,
        },
        "data": [],
    }
    request = {
        "keystores": [keystore_text(9, "nine")],
        "passwords": ["nine"],
        "slashing_protection": json.dumps(interchange),
    }
    response = http.post(ROUTE, json=request)
    assert response.status_code == 400
    check_schema("post", 400, response.json())
    assert "another chain" in response.json()["message"]
    assert 9 not in client.keys


@pytest.mark.parametrize(
    "request_body",
    [
        {"keystores": ["{}"]},
        {"keystores": ["{}"], "passwords": []},
        {"keystores": "x", "passwords": "y"},
    ],
)
def test_import_malformed_request(setup, request_body):
    _, _, _, http = setup
    response = http.post(ROUTE, json=request_body)
    assert response.status_code == 400
    check_schema("post", 400, response.json())


def test_delete_statuses(setup, tmp_path):
    _, client, _, http = setup
    http.post(ROUTE, json={"keystores": [keystore_text(9, "nine")], "passwords": ["nine"]})
    nine = interop_key(9).pubkey
    client.protection.check_and_record_block(nine, 5, b"\x05" * 32)
    # Key 12 was never held here but has a record, as if another client had signed with it.
    client.protection.check_and_record_block(interop_key(12).pubkey, 6, b"\x06" * 32)

    pubkeys = [hex_key(9), hex_key(0), hex_key(12), hex_key(30)]
    response = http.request("DELETE", ROUTE, json={"pubkeys": pubkeys})
    assert response.status_code == 200
    body = response.json()
    check_schema("delete", 200, body)
    statuses = [item["status"] for item in body["data"]]
    assert statuses == ["deleted", "error", "not_active", "not_found"]

    interchange = json.loads(body["slashing_protection"])
    exported = {entry["pubkey"]: entry for entry in interchange["data"]}
    assert set(exported) == {hex_key(9), hex_key(12)}
    assert exported[hex_key(9)]["signed_blocks"][0]["slot"] == "5"

    assert 9 not in client.keys
    assert nine not in client.pubkeys()
    assert not (validator_dir(tmp_path) / "keystores" / f"{hex_key(9)}.json").exists()
    # The records stay, so a second identical request returns them too.
    again = http.request("DELETE", ROUTE, json={"pubkeys": [hex_key(9)]}).json()
    assert again["data"][0]["status"] == "not_active"
    assert json.loads(again["slashing_protection"]) == export_interchange(
        client.protection, pubkeys=[nine]
    )


def test_delete_malformed_pubkey(setup):
    _, _, _, http = setup
    response = http.request("DELETE", ROUTE, json={"pubkeys": ["0x1234"]})
    assert response.status_code == 400
    check_schema("delete", 400, response.json())


def test_imported_keys_reloaded_after_restart(setup, tmp_path):
    dev, client, _, http = setup
    http.post(ROUTE, json={"keystores": [keystore_text(11, "eleven")], "passwords": ["eleven"]})
    client.close()
    restarted = ValidatorClient(dev.chain, dev.keys[:8], datadir=tmp_path)
    try:
        assert 11 in restarted.keys
        assert len(restarted.keys) == 9
        listed = KeyManager(restarted, tmp_path, set()).list_keys()
        entry = next(e for e in listed if e["validating_pubkey"] == hex_key(11))
        assert entry["derivation_path"] == "m/12381/3600/11/0/0"
    finally:
        restarted.close()
