"""discv5 v5.1 cryptography for the "v4" identity scheme.

ECDH returns the 33-byte compressed shared point, session keys come from
HKDF-SHA256 (salt = the WHOAREYOU challenge data), the ID signature is a
secp256k1 `r || s` over a sha256 of the identity proof input, and messages are
sealed with AES-128-GCM (16-byte tag appended). Header masking is AES-128-CTR
keyed with the first 16 bytes of the destination node id.
"""

import hashlib

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sentinel.enr import verify_v4_signature

KEY_AGREEMENT_TEXT = b"discovery v5 key agreement"
IDENTITY_PROOF_TEXT = b"discovery v5 identity proof"


class DecryptionError(ValueError):
    """A message whose AES-GCM tag does not authenticate under the session key."""


def ecdh(public_key: bytes, private_key: bytes) -> bytes:
    """Return the 33-byte compressed point `public_key * private_key`."""
    return coincurve.PublicKey(public_key).multiply(private_key).format(compressed=True)


def derive_session_keys(
    ephemeral_key: bytes,
    dest_pubkey: bytes,
    node_id_a: bytes,
    node_id_b: bytes,
    challenge_data: bytes,
) -> tuple[bytes, bytes]:
    """Derive (initiator_key, recipient_key) on the initiator (node A) side."""
    return derive_keys_from_secret(
        ecdh(dest_pubkey, ephemeral_key), node_id_a, node_id_b, challenge_data
    )


def derive_keys_from_secret(
    secret: bytes, node_id_a: bytes, node_id_b: bytes, challenge_data: bytes
) -> tuple[bytes, bytes]:
    """Run HKDF over an ECDH secret: 32 bytes split into the two 16-byte keys."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=challenge_data,
        info=KEY_AGREEMENT_TEXT + node_id_a + node_id_b,
    )
    key_data = hkdf.derive(secret)
    return key_data[:16], key_data[16:]


def _id_signature_hash(challenge_data: bytes, ephemeral_pubkey: bytes, node_id_b: bytes) -> bytes:
    data = IDENTITY_PROOF_TEXT + challenge_data + ephemeral_pubkey + node_id_b
    return hashlib.sha256(data).digest()


def sign_id_nonce(
    static_key: bytes, challenge_data: bytes, ephemeral_pubkey: bytes, node_id_b: bytes
) -> bytes:
    """Return the 64-byte handshake ID signature of node A for node B."""
    digest = _id_signature_hash(challenge_data, ephemeral_pubkey, node_id_b)
    return coincurve.PrivateKey(static_key).sign_recoverable(digest, hasher=None)[:64]


def verify_id_nonce(
    pubkey: bytes,
    signature: bytes,
    challenge_data: bytes,
    ephemeral_pubkey: bytes,
    node_id_b: bytes,
) -> bool:
    """Check a handshake ID signature against the initiator's static public key."""
    digest = _id_signature_hash(challenge_data, ephemeral_pubkey, node_id_b)
    return verify_v4_signature(pubkey, digest, signature)


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """Encrypt and authenticate; the 16-byte tag is appended to the ciphertext."""
    return AESGCM(key).encrypt(nonce, plaintext, ad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    """Decrypt and authenticate. Raises `DecryptionError` when the tag does not match."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise DecryptionError("message authentication failed") from None


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Mask or unmask header bytes (CTR is its own inverse)."""
    cipher = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return cipher.update(data) + cipher.finalize()
