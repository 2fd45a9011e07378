"""EIP-2335 BLS12-381 keystores (version 4): decryption, and encryption for new keystores.

A keystore encrypts a secret key with AES-128-CTR under the first 16 bytes of a key derived
from the password by scrypt or PBKDF2-HMAC-SHA256. The checksum, SHA-256 over bytes 16..32
of the derived key followed by the ciphertext, detects a wrong password.
Before key derivation, the password is NFKD-normalized, stripped of the C0 (0x00-0x1F), C1
(0x80-0x9F) and Delete (0x7F) control codes, and UTF-8 encoded.
"""

import hashlib
import hmac
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from caplin.crypto import bls
from caplin.errors import CaplinError
from caplin.validator.keys import CURVE_ORDER, ValidatorKey

KEYSTORE_VERSION = 4
# Bounds on the key derivation cost a keystore may require, so an imported file cannot make
# the node spend minutes or gigabytes on it. The EIP-2335 test vectors use scrypt n=2**18,
# r=8, p=1 (256 MiB) and PBKDF2 c=2**18.
MAX_SCRYPT_MEMORY = 1 << 30
MAX_PBKDF2_ROUNDS = 1 << 22


class KeystoreError(CaplinError):
    """A keystore is malformed, uses an unsupported function, or the password is wrong."""


@dataclass(frozen=True)
class DecryptedKeystore:
    """The key of a keystore with its EIP-2334 derivation path ("" when none)."""

    key: ValidatorKey
    path: str


def normalize_password(password: str) -> bytes:
    """Return the bytes that key derivation uses for `password`."""
    text = unicodedata.normalize("NFKD", password)
    allowed = "".join(c for c in text if not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F))
    return allowed.encode("utf-8")


def decrypt_keystore(keystore: Any, password: str) -> DecryptedKeystore:
    """Decrypt a keystore (a decoded JSON object or its text) with `password`.

    Raises KeystoreError when the keystore is malformed, requires an unsupported or too
    expensive function, the password is wrong, or the secret key does not match `pubkey`.
    """
    if isinstance(keystore, (str, bytes)):
        try:
            keystore = json.loads(keystore)
        except ValueError:
            raise KeystoreError("keystore is not valid JSON") from None
    if not isinstance(keystore, dict):
        raise KeystoreError("keystore must be a JSON object")
    if keystore.get("version") != KEYSTORE_VERSION:
        raise KeystoreError("unsupported keystore version", version=keystore.get("version"))
    crypto = _mapping(keystore, "crypto")
    kdf = _mapping(crypto, "kdf")
    checksum = _mapping(crypto, "checksum")
    cipher = _mapping(crypto, "cipher")
    derived = _derive_key(kdf, normalize_password(password))

    ciphertext = _hex(cipher, "message")
    if checksum.get("function") != "sha256":
        raise KeystoreError("unsupported keystore checksum", function=checksum.get("function"))
    expected = _hex(checksum, "message")
    if not hmac.compare_digest(hashlib.sha256(derived[16:32] + ciphertext).digest(), expected):
        raise KeystoreError("invalid keystore password: the checksum does not match")

    secret = _decrypt(cipher, derived[:16], ciphertext)
    secret_key = int.from_bytes(secret, "big")
    if not 0 < secret_key < CURVE_ORDER:
        raise KeystoreError("keystore secret is not a valid BLS secret key")
    pubkey = bytes(bls.SkToPk(secret_key))
    stated = keystore.get("pubkey")
    if stated is not None and _parse_hex(str(stated), "pubkey") != pubkey:
        raise KeystoreError("keystore pubkey does not match its secret key", pubkey=stated)
    return DecryptedKeystore(ValidatorKey(secret_key, pubkey), str(keystore.get("path", "")))


def keystore_pubkey(keystore: dict) -> bytes:
    """Return the `pubkey` a keystore states, without decrypting it. Raises KeystoreError."""
    pubkey = _parse_hex(str(keystore.get("pubkey", "")), "pubkey")
    if len(pubkey) != 48:
        raise KeystoreError("keystore pubkey must be 48 bytes", pubkey=keystore.get("pubkey"))
    return pubkey


def encrypt_keystore(
    key: ValidatorKey,
    password: str,
    *,
    path: str = "",
    kdf: str = "scrypt",
    rounds: int | None = None,
) -> dict[str, Any]:
    """Return a new keystore of `key` under `password`.

    `kdf` is "scrypt" (n=2**18 unless `rounds`) or "pbkdf2" (c=2**18 unless `rounds`); tests
    pass small `rounds` to keep derivation fast.
    """
    salt = os.urandom(32)
    if kdf == "scrypt":
        params: dict[str, Any] = {"dklen": 32, "n": rounds or 1 << 18, "r": 8, "p": 1}
    elif kdf == "pbkdf2":
        params = {"dklen": 32, "c": rounds or 1 << 18, "prf": "hmac-sha256"}
    else:
        raise KeystoreError("unsupported keystore key derivation function", function=kdf)
    params["salt"] = salt.hex()
    kdf_module = {"function": kdf, "params": params, "message": ""}
    derived = _derive_key(kdf_module, normalize_password(password))
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(derived[:16]), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(key.secret_key.to_bytes(32, "big")) + encryptor.finalize()
    return {
        "crypto": {
            "kdf": kdf_module,
            "checksum": {
                "function": "sha256",
                "params": {},
                "message": hashlib.sha256(derived[16:32] + ciphertext).hexdigest(),
            },
            "cipher": {
                "function": "aes-128-ctr",
                "params": {"iv": iv.hex()},
                "message": ciphertext.hex(),
            },
        },
        "pubkey": key.pubkey.hex(),
        "path": path,
        "uuid": str(uuid.uuid4()),
        "version": KEYSTORE_VERSION,
    }


def _derive_key(kdf: dict, password: bytes) -> bytes:
    params = _mapping(kdf, "params")
    function = kdf.get("function")
    salt = _hex(params, "salt")
    dklen = _int(params, "dklen")
    if dklen < 32:
        raise KeystoreError("keystore dklen must be at least 32", dklen=dklen)
    if function == "scrypt":
        n, r, p = _int(params, "n"), _int(params, "r"), _int(params, "p")
        memory = 128 * r * n * p
        if n < 2 or n & (n - 1) or memory > MAX_SCRYPT_MEMORY:
            raise KeystoreError("unsupported scrypt parameters", n=n, r=r, p=p)
        return hashlib.scrypt(
            password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=memory + (1 << 20)
        )
    if function == "pbkdf2":
        if params.get("prf") != "hmac-sha256":
            raise KeystoreError("unsupported PBKDF2 function", prf=params.get("prf"))
        rounds = _int(params, "c")
        if rounds > MAX_PBKDF2_ROUNDS:
            raise KeystoreError("PBKDF2 round count too large", c=rounds)
        return hashlib.pbkdf2_hmac("sha256", password, salt, rounds, dklen)
    raise KeystoreError("unsupported keystore key derivation function", function=function)


def _decrypt(cipher: dict, key: bytes, ciphertext: bytes) -> bytes:
    if cipher.get("function") != "aes-128-ctr":
        raise KeystoreError("unsupported keystore cipher", function=cipher.get("function"))
    iv = _hex(_mapping(cipher, "params"), "iv")
    if len(iv) != 16:
        raise KeystoreError("keystore cipher iv must be 16 bytes")
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _mapping(parent: dict, name: str) -> dict:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise KeystoreError("keystore field missing or not an object", field=name)
    return value


def _int(parent: dict, name: str) -> int:
    value = parent.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise KeystoreError("keystore field must be a positive integer", field=name)
    return value


def _hex(parent: dict, name: str) -> bytes:
    value = parent.get(name)
    if not isinstance(value, str):
        raise KeystoreError("keystore field missing or not a string", field=name)
    return _parse_hex(value, name)


def _parse_hex(text: str, name: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise KeystoreError("keystore field is not valid hex", field=name) from None
