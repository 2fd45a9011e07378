"""EIP-2335 keystores: the EIP's published test vectors, round trips and invalid files."""

import copy

import pytest

from caplin.validator.keys import interop_key
from caplin.validator.keystore import (
    KeystoreError,
    decrypt_keystore,
    encrypt_keystore,
    normalize_password,
)

# The test vectors of EIP-2335: password, its encoding, secret key and both keystores.
# "testpassword" in mathematical fraktur letters, then the key emoji U+1F511.
PASSWORD = "".join(chr(0x1D51E + ord(c) - ord("a")) for c in "testpassword") + "\U0001f511"
ENCODED_PASSWORD = "7465737470617373776f7264f09f9491"
SECRET = 0x000000000019D6689C085AE165831E934FF763AE46A2A6C172B3F1B60A8CE26F
PUBKEY = (
    "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27"
    "f4ae4040902382ae2910c15e2b420d07"
)
SALT = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
IV = "264daa3f303d7259501c93d997d84fe6"


def vector(kdf: dict, checksum: str, ciphertext: str, path: str) -> dict:
    return {
        "crypto": {
            "kdf": {"function": kdf["function"], "params": kdf["params"], "message": ""},
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": IV}, "message": ciphertext},
        },
        "pubkey": PUBKEY,
        "path": path,
        "uuid": "64625def-3331-4eea-ab6f-782f3ed16a83",
        "version": 4,
    }


PBKDF2_VECTOR = vector(
    {
        "function": "pbkdf2",
        "params": {"dklen": 32, "c": 262144, "prf": "hmac-sha256", "salt": SALT},
    },
    "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1",
    "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad",
    "m/12381/60/0/0",
)
SCRYPT_VECTOR = vector(
    {"function": "scrypt", "params": {"dklen": 32, "n": 262144, "p": 1, "r": 8, "salt": SALT}},
    "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484",
    "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f",
    "m/12381/60/3141592653/589793238",
)


def test_password_normalized():
    assert normalize_password(PASSWORD).hex() == ENCODED_PASSWORD
    assert normalize_password("a\x00b\x7fc\x85 d") == b"abc d"


@pytest.mark.parametrize("keystore", [PBKDF2_VECTOR, SCRYPT_VECTOR], ids=["pbkdf2", "scrypt"])
def test_eip_vector_decrypts(keystore):
    decrypted = decrypt_keystore(keystore, PASSWORD)
    assert decrypted.key.secret_key == SECRET
    assert decrypted.key.pubkey.hex() == PUBKEY
    assert decrypted.path == keystore["path"]


def test_wrong_password_rejected():
    with pytest.raises(KeystoreError, match="invalid keystore password"):
        decrypt_keystore(PBKDF2_VECTOR, "testpassword")


@pytest.mark.parametrize("kdf", ["pbkdf2", "scrypt"])
def test_round_trip(kdf):
    key = interop_key(3)
    keystore = encrypt_keystore(key, "secret", kdf=kdf, rounds=16, path="m/12381/3600/3/0/0")
    decrypted = decrypt_keystore(keystore, "secret")
    assert decrypted.key == key
    assert decrypted.path == "m/12381/3600/3/0/0"


def broken(change) -> dict:
    keystore = copy.deepcopy(PBKDF2_VECTOR)
    change(keystore)
    return keystore


@pytest.mark.parametrize(
    "keystore, message",
    [
        (broken(lambda k: k.update(version=3)), "version"),
        (broken(lambda k: k["crypto"].pop("checksum")), "checksum"),
        (broken(lambda k: k["crypto"]["kdf"].update(function="argon2")), "key derivation"),
        (broken(lambda k: k["crypto"]["cipher"].update(function="aes-128-cbc")), "cipher"),
        (broken(lambda k: k["crypto"]["kdf"]["params"].update(c=1 << 30)), "round count"),
        (broken(lambda k: k["crypto"]["kdf"]["params"].update(prf="hmac-sha1")), "PBKDF2"),
        (broken(lambda k: k["crypto"]["kdf"]["params"].update(salt="zz")), "hex"),
        (broken(lambda k: k.update(pubkey="aa" * 48)), "does not match"),
        ("{not json", "JSON"),
    ],
)
def test_invalid_keystore_rejected(keystore, message):
    with pytest.raises(KeystoreError, match=message):
        decrypt_keystore(keystore, PASSWORD)


def test_costly_scrypt_rejected():
    keystore = copy.deepcopy(SCRYPT_VECTOR)
    keystore["crypto"]["kdf"]["params"]["n"] = 1 << 22
    with pytest.raises(KeystoreError, match="scrypt"):
        decrypt_keystore(keystore, PASSWORD)
