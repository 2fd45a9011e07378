"""Gossip topic strings, fork digests, payload decompression and message ids.

A topic is `/eth2/{fork_digest}/{name}/ssz_snappy`, where the fork digest
is 4 bytes in lower-case hex and subnet topics end their name with
`_{subnet_id}`. Payloads are SSZ bytes compressed with the snappy block
format, at most `MAX_PAYLOAD_SIZE` bytes once decompressed.
"""

from dataclasses import dataclass
from typing import Any

import cramjam

from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.helpers import compute_fork_data_root, compute_fork_digest

ENCODING = "ssz_snappy"
SUBNET_TOPICS = ("beacon_attestation", "sync_committee", "blob_sidecar", "data_column_sidecar")
MESSAGE_ID_LENGTH = 20


@dataclass(frozen=True)
class GossipTopic:
    """A parsed topic: its fork digest, base name and subnet (None for global topics)."""

    fork_digest: bytes
    name: str
    subnet_id: int | None = None

    def __str__(self) -> str:
        name = self.name if self.subnet_id is None else f"{self.name}_{self.subnet_id}"
        return f"/eth2/{self.fork_digest.hex()}/{name}/{ENCODING}"


def parse_topic(topic: str) -> GossipTopic:
    """Parse a topic string. Raises `ValueError` when it is not an eth2 ssz_snappy topic."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "eth2" or parts[4] != ENCODING:
        raise ValueError(f"not an eth2 {ENCODING} gossip topic: {topic!r}")
    try:
        digest = bytes.fromhex(parts[2])
    except ValueError:
        raise ValueError(f"invalid fork digest in gossip topic {topic!r}") from None
    if len(digest) != 4:
        raise ValueError(f"fork digest of gossip topic {topic!r} is not 4 bytes")

    name = parts[3]
    for base in SUBNET_TOPICS:
        prefix = base + "_"
        suffix = name[len(prefix) :]
        if name.startswith(prefix) and suffix.isdigit():
            return GossipTopic(digest, base, int(suffix))
    return GossipTopic(digest, name)


def fork_digests(spec: Any, genesis_validators_root: bytes) -> dict[bytes, Fork]:
    """Map every fork digest the chain can use to its fork.

    Before Fulu a digest depends only on the fork version. From Fulu on it also
    mixes in the blob parameters, so every `BLOB_SCHEDULE` entry adds a digest.
    """
    digests: dict[bytes, Fork] = {}
    for fork in Fork:
        if fork < Fork.FULU:
            version = spec.fork_version(fork)
            digests[compute_fork_data_root(spec, version, genesis_validators_root)[:4]] = fork
            continue
        fulu_epoch = int(spec.FULU_FORK_EPOCH)
        if fulu_epoch == FAR_FUTURE_EPOCH:
            continue
        epochs = {fulu_epoch}
        for entry in spec.BLOB_SCHEDULE:
            epochs.add(max(int(entry["EPOCH"]), fulu_epoch))
        for epoch in epochs:
            digests[compute_fork_digest(spec, genesis_validators_root, epoch)] = fork
    return digests


def max_compressed_length(payload_size: int) -> int:
    """Return the worst-case snappy block size of `payload_size` bytes (32 + n + n / 6)."""
    return 32 + payload_size + payload_size // 6


def _uncompressed_length(data: bytes) -> int:
    # A snappy block starts with its uncompressed length as a little-endian varint.
    length, shift = 0, 0
    for position, byte in enumerate(data[:5]):
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
        shift += 7
        if position == 4:
            break
    raise ValueError("invalid snappy length prefix")


def decompress_payload(spec: Any, data: bytes) -> bytes:
    """Return the SSZ bytes of a gossip payload.

    Checks the sizes before decompressing, so a hostile length costs nothing.
    Raises `ValueError` for a payload that is too large or not valid snappy.
    """
    limit = int(spec.MAX_PAYLOAD_SIZE)
    if len(data) > max_compressed_length(limit):
        raise ValueError(f"compressed payload of {len(data)} bytes exceeds the limit")
    length = _uncompressed_length(data)
    if length > limit:
        raise ValueError(f"payload of {length} bytes exceeds MAX_PAYLOAD_SIZE {limit}")
    try:
        payload = bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as error:
        raise ValueError(f"invalid snappy payload: {error}") from None
    if len(payload) != length:
        raise ValueError("snappy payload length differs from its prefix")
    return payload


def compress_payload(payload: bytes) -> bytes:
    """Return `payload` in the snappy block format used on gossip."""
    return bytes(cramjam.snappy.compress_raw(payload))


def compute_message_id(spec: Any, topic: str, data: bytes, fork: Fork) -> bytes:
    """Return the 20-byte gossipsub message id of a raw (compressed) message.

    From Altair the topic is part of the id. A message that does not decompress
    gets an id in the invalid-snappy domain, over its raw bytes.
    """
    try:
        content = decompress_payload(spec, data)
        domain = bytes(spec.MESSAGE_DOMAIN_VALID_SNAPPY)
    except ValueError:
        content = bytes(data)
        domain = bytes(spec.MESSAGE_DOMAIN_INVALID_SNAPPY)
    if fork >= Fork.ALTAIR:
        encoded_topic = topic.encode()
        prefix = domain + len(encoded_topic).to_bytes(8, "little") + encoded_topic
    else:
        prefix = domain
    return sha256(prefix + content)[:MESSAGE_ID_LENGTH]
