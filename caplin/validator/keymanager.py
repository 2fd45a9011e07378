"""Keys managed at runtime (the Keymanager API's local keystores) and their files on disk.

Imported keystores are stored as `<datadir>/validator/keystores/0x<pubkey>.json`, with
their passwords in `<datadir>/validator/secrets/0x<pubkey>` (mode 0600), so that the node
decrypts and runs them again after a restart. The interop keys of a dev chain come from the
chain's parameters and are read-only: they cannot be deleted.

Importing a keystore first merges its slashing protection data, and only then makes the key
sign. Deleting a key first stops it from signing (under the client's duty lock), and only
then exports its slashing protection data.
"""

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caplin.errors import CaplinError
from caplin.validator.interchange import export_interchange, import_interchange
from caplin.validator.keystore import (
    DecryptedKeystore,
    KeystoreError,
    decrypt_keystore,
    keystore_pubkey,
)

log = logging.getLogger("caplin.validator")

TOKEN_FILE = "api-token.txt"
# The Keymanager API requires tokens of at least 256 bits, hex encoded.
MIN_TOKEN_HEX_CHARS = 64


class KeymanagerError(CaplinError):
    """The Keymanager token file or a stored keystore cannot be used."""


@dataclass(frozen=True)
class KeyStatus:
    """The outcome for one keystore or pubkey of an import or delete request."""

    status: str
    message: str = ""

    def as_json(self) -> dict[str, str]:
        body = {"status": self.status}
        if self.message:
            body["message"] = self.message
        return body


def validator_dir(datadir: str | Path) -> Path:
    return Path(datadir) / "validator"


def load_token(datadir: str | Path) -> str:
    """Return the Keymanager API bearer token of `datadir`, creating the token file if needed.

    Raises KeymanagerError when the file exists but cannot be read or contains a token shorter
    than 256 bits.
    """
    path = validator_dir(datadir) / TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(32)
        _write_private(path, token + "\n")
        log.info("keymanager API token created path=%s", path)
        return token
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise KeymanagerError("cannot read the keymanager API token file", path=path) from error
    if len(token) < MIN_TOKEN_HEX_CHARS or not all(c in "0123456789abcdefABCDEF" for c in token):
        raise KeymanagerError(
            "keymanager API token must be at least 64 hex characters; fix or delete the file",
            path=path,
        )
    return token


def load_keystores(datadir: str | Path) -> list[DecryptedKeystore]:
    """Decrypt every keystore stored under `datadir` with its stored password.

    A keystore that cannot be decrypted is logged and skipped, so one bad file does not
    stop the other validators.
    """
    keystores_dir = validator_dir(datadir) / "keystores"
    if not keystores_dir.is_dir():
        return []
    loaded = []
    for path in sorted(keystores_dir.glob("0x*.json")):
        secret_path = validator_dir(datadir) / "secrets" / path.stem
        try:
            loaded.append(decrypt_keystore(path.read_text(), secret_path.read_text()))
        except (OSError, KeystoreError) as error:
            log.error("stored keystore not loaded path=%s error=%s", path, error)
    return loaded


class KeyManager:
    """Lists, imports and deletes the keys of `client` (a `ValidatorClient`).

    `readonly` pubkeys (the dev chain's interop keys) are listed but never deleted. Methods
    block on the client's duty lock and on key derivation, so the API calls them in a worker
    thread.
    """

    def __init__(self, client: Any, datadir: str | Path, readonly: set[bytes]) -> None:
        self.client = client
        self.datadir = Path(datadir)
        self.readonly = set(readonly)
        self.paths = _stored_paths(self.datadir)
        self.token = load_token(datadir)

    def held(self) -> set[bytes]:
        return set(self.client.pubkeys())

    def list_keys(self) -> list[dict[str, Any]]:
        """Return the Keymanager API `data` entries of every key the client has."""
        entries = []
        for pubkey in self.client.pubkeys():
            entry: dict[str, Any] = {
                "validating_pubkey": "0x" + pubkey.hex(),
                "readonly": pubkey in self.readonly,
            }
            if self.paths.get(pubkey):
                entry["derivation_path"] = self.paths[pubkey]
            entries.append(entry)
        return entries

    def import_keystores(
        self, keystores: list[str], passwords: list[str], slashing_protection: Any = None
    ) -> list[KeyStatus]:
        """Import `keystores[i]` unlocked by `passwords[i]`; return one status per keystore.

        `slashing_protection` (a decoded EIP-3076 document) is merged first. Raises
        InterchangeError when it is invalid or of another chain, and then imports nothing.
        """
        if len(keystores) != len(passwords):
            raise KeymanagerError(
                "keystores and passwords differ in length",
                keystores=len(keystores),
                passwords=len(passwords),
            )
        if slashing_protection is not None:
            import_interchange(self.client.protection, slashing_protection)
        pairs = zip(keystores, passwords, strict=True)
        return [self._import_one(text, password) for text, password in pairs]

    def _import_one(self, text: str, password: str) -> KeyStatus:
        try:
            keystore = json.loads(text)
        except ValueError:
            return KeyStatus("error", "keystore is not valid JSON")
        try:
            if not isinstance(keystore, dict):
                raise KeystoreError("keystore must be a JSON object")
            # The pubkey field is optional in EIP-2335, so a keystore without one is decrypted
            # before the duplicate check.
            if keystore.get("pubkey") is not None and keystore_pubkey(keystore) in self.held():
                return KeyStatus("duplicate")
            decrypted = decrypt_keystore(keystore, password)
            if decrypted.key.pubkey in self.held():
                return KeyStatus("duplicate")
        except (KeystoreError, ValueError) as error:
            return KeyStatus("error", str(error))
        pubkey = decrypted.key.pubkey
        try:
            self._store(pubkey, text, password)
        except OSError as error:
            log.error("keystore not stored pubkey=0x%s error=%s", pubkey.hex(), error)
            return KeyStatus("error", f"cannot store the keystore: {error}")
        self.paths[pubkey] = decrypted.path
        active = self.client.add_key(decrypted.key)
        log.info("keystore imported pubkey=0x%s active=%s", pubkey.hex(), active)
        return KeyStatus("imported")

    def delete_keys(self, pubkeys: list[bytes]) -> tuple[list[KeyStatus], dict[str, Any]]:
        """Stop and delete `pubkeys`; return their statuses and slashing protection document.

        The document lists the keys with status deleted or not_active (keys without a
        keystore but with slashing protection records).
        """
        statuses = []
        exported = []
        with self.client.duty_lock:
            for pubkey in pubkeys:
                status = self._delete_one(pubkey)
                statuses.append(status)
                if status.status in ("deleted", "not_active"):
                    exported.append(pubkey)
        document = export_interchange(self.client.protection, pubkeys=list(dict.fromkeys(exported)))
        return statuses, document

    def _delete_one(self, pubkey: bytes) -> KeyStatus:
        if pubkey in self.readonly and pubkey in self.client.pubkeys():
            return KeyStatus("error", "read-only key: a dev chain's interop keys cannot be deleted")
        if self.client.remove_key(pubkey):
            self._remove_files(pubkey)
            log.info("key deleted pubkey=0x%s", pubkey.hex())
            return KeyStatus("deleted")
        if pubkey in self.client.protection.pubkeys():
            return KeyStatus("not_active")
        return KeyStatus("not_found")

    def _store(self, pubkey: bytes, text: str, password: str) -> None:
        name = "0x" + pubkey.hex()
        base = validator_dir(self.datadir)
        (base / "keystores").mkdir(parents=True, exist_ok=True)
        (base / "secrets").mkdir(parents=True, exist_ok=True)
        _write_private(base / "secrets" / name, password)
        _write_private(base / "keystores" / f"{name}.json", text)

    def _remove_files(self, pubkey: bytes) -> None:
        name = "0x" + pubkey.hex()
        base = validator_dir(self.datadir)
        for path in (base / "keystores" / f"{name}.json", base / "secrets" / name):
            path.unlink(missing_ok=True)
        self.paths.pop(pubkey, None)


def _stored_paths(datadir: Path) -> dict[bytes, str]:
    """Return the derivation path of each stored keystore, read without decrypting it."""
    paths = {}
    for path in sorted((validator_dir(datadir) / "keystores").glob("0x*.json")):
        try:
            keystore = json.loads(path.read_text())
            paths[keystore_pubkey(keystore)] = str(keystore.get("path", ""))
        except (OSError, ValueError, AttributeError, KeystoreError):
            continue
    return paths


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only, replacing it in one rename."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)


def open_keymanager(client: Any, datadir: str | Path, readonly: set[bytes]) -> KeyManager | None:
    """Return the KeyManager of `client`, or None (logged) when its token file is unusable."""
    try:
        manager = KeyManager(client, datadir, readonly)
    except KeymanagerError as error:
        log.error("keymanager API disabled error=%s", error)
        return None
    log.info("keymanager API enabled token_file=%s", validator_dir(datadir) / TOKEN_FILE)
    return manager
