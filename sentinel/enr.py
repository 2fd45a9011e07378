"""Ethereum Node Records (EIP-778) with the "v4" identity scheme and the eth2 fields.

A record is the RLP list `[signature, seq, k1, v1, k2, v2, ...]` with keys sorted
and unique, at most 300 bytes. The "v4" signature is a 64-byte secp256k1 `r || s`
over `keccak256(rlp([seq, k1, v1, ...]))`, and the node id is the keccak256 of
the uncompressed public key (x || y). The text form is `enr:` followed by the
URL-safe base64 of the RLP, without padding.

Consensus-layer keys: `eth2` (SSZ `ENRForkID`: fork_digest, next_fork_version,
next_fork_epoch), `attnets` (SSZ Bitvector[64]), `syncnets` (SSZ Bitvector[4])
and `cgc` (custody group count, a big-endian integer, from Fulu).
"""

import base64
import ipaddress
from dataclasses import dataclass, field

import coincurve
from eth_hash.auto import keccak

from sentinel import rlp

MAX_RECORD_SIZE = 300
ATTESTATION_SUBNET_COUNT = 64
SYNC_COMMITTEE_SUBNET_COUNT = 4


class ENRError(ValueError):
    """An invalid, unsigned or wrongly signed node record."""


@dataclass(frozen=True)
class ENRForkID:
    """The `eth2` ENR value: the current fork digest and the next scheduled fork."""

    fork_digest: bytes
    next_fork_version: bytes
    next_fork_epoch: int

    def encode(self) -> bytes:
        """Return the 16-byte SSZ serialization."""
        return (
            self.fork_digest + self.next_fork_version + self.next_fork_epoch.to_bytes(8, "little")
        )

    @classmethod
    def decode(cls, data: bytes) -> "ENRForkID":
        """Decode the SSZ serialization. Raises `ENRError` unless it is 16 bytes."""
        if len(data) != 16:
            raise ENRError(f"eth2 ENR value must be 16 bytes, got {len(data)}")
        return cls(data[:4], data[4:8], int.from_bytes(data[8:], "little"))


def node_id_from_pubkey(pubkey: bytes) -> bytes:
    """Return the 32-byte "v4" node id of a compressed or uncompressed secp256k1 key."""
    uncompressed = coincurve.PublicKey(pubkey).format(compressed=False)
    return keccak(uncompressed[1:])


def encode_bitvector(indices: set[int] | frozenset[int], length: int) -> bytes:
    """Return the SSZ Bitvector[length] with the given bits set."""
    data = bytearray((length + 7) // 8)
    for index in indices:
        if not 0 <= index < length:
            raise ENRError(f"subnet {index} is outside Bitvector[{length}]")
        data[index // 8] |= 1 << (index % 8)
    return bytes(data)


def decode_bitvector(data: bytes, length: int) -> frozenset[int]:
    """Return the set bits of an SSZ Bitvector[length]. Raises `ENRError` on a bad size."""
    if len(data) != (length + 7) // 8:
        raise ENRError(f"Bitvector[{length}] must be {(length + 7) // 8} bytes, got {len(data)}")
    if length % 8 and data[-1] >> (length % 8):
        raise ENRError(f"Bitvector[{length}] has bits set past its length")
    return frozenset(i for i in range(length) if data[i // 8] >> (i % 8) & 1)


def _sign(private_key: bytes, content: bytes) -> bytes:
    signature = coincurve.PrivateKey(private_key).sign_recoverable(keccak(content), hasher=None)
    return signature[:64]


def verify_v4_signature(pubkey: bytes, message_hash: bytes, signature: bytes) -> bool:
    """Check a 64-byte `r || s` secp256k1 signature over a 32-byte hash."""
    if len(signature) != 64:
        return False
    try:
        der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(signature))
        return coincurve.verify_signature(der, message_hash, pubkey, hasher=None)
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class ENR:
    """A signed node record. `pairs` maps each key to its raw value bytes."""

    seq: int
    pairs: dict[bytes, bytes]
    signature: bytes
    raw: bytes = field(repr=False, default=b"")

    # Construction and serialization.

    @classmethod
    def create(cls, private_key: bytes, seq: int = 1, **values: bytes | int) -> "ENR":
        """Build and sign a "v4" record.

        `values` uses the ENR keys (`ip`, `tcp`, `udp`, `eth2`, `attnets`, ...); ints
        are encoded as big-endian, and `ip`/`ip6` also accept text addresses.
        """
        pairs: dict[bytes, bytes] = {
            b"id": b"v4",
            b"secp256k1": coincurve.PrivateKey(private_key).public_key.format(compressed=True),
        }
        for key, value in values.items():
            if key in ("ip", "ip6") and isinstance(value, str):
                value = ipaddress.ip_address(value).packed
            pairs[key.encode()] = rlp.encode_int(value) if isinstance(value, int) else bytes(value)
        content = rlp.encode(cls._content(seq, pairs))
        record = cls(seq, pairs, _sign(private_key, content))
        return cls.decode(record.encode())

    @staticmethod
    def _content(seq: int, pairs: dict[bytes, bytes]) -> list[rlp.Item]:
        items: list[rlp.Item] = [rlp.encode_int(seq)]
        for key in sorted(pairs):
            items += [key, pairs[key]]
        return items

    def encode(self) -> bytes:
        """Return the RLP encoding."""
        if self.raw:
            return self.raw
        return rlp.encode([self.signature, *self._content(self.seq, self.pairs)])

    @classmethod
    def decode(cls, data: bytes) -> "ENR":
        """Decode and verify an RLP record. Raises `ENRError` when invalid."""
        if len(data) > MAX_RECORD_SIZE:
            raise ENRError(f"record of {len(data)} bytes exceeds {MAX_RECORD_SIZE} bytes")
        try:
            items = rlp.decode(data)
        except rlp.RLPError as error:
            raise ENRError(f"invalid record RLP: {error}") from None
        if not isinstance(items, list) or len(items) < 2 or len(items) % 2:
            raise ENRError("record must be a list of signature, seq and key/value pairs")
        if not all(isinstance(item, bytes) for item in items[:2]):
            raise ENRError("record signature and seq must be byte strings")

        signature, seq_bytes = items[0], items[1]
        try:
            seq = rlp.decode_int(seq_bytes)  # type: ignore[arg-type]
        except rlp.RLPError as error:
            raise ENRError(f"invalid record seq: {error}") from None
        pairs: dict[bytes, bytes] = {}
        keys = items[2::2]
        for key, value in zip(keys, items[3::2], strict=True):
            if not isinstance(key, bytes):
                raise ENRError("record key must be a byte string")
            if pairs and key <= max(pairs):
                raise ENRError(f"record keys are not sorted and unique at {key!r}")
            pairs[key] = value if isinstance(value, bytes) else rlp.encode(value)

        record = cls(seq, pairs, signature, bytes(data))  # type: ignore[arg-type]
        record._verify()
        return record

    def _verify(self) -> None:
        if self.pairs.get(b"id") != b"v4":
            raise ENRError(f"unsupported identity scheme {self.pairs.get(b'id')!r}")
        pubkey = self.pairs.get(b"secp256k1")
        if pubkey is None or len(pubkey) != 33:
            raise ENRError("v4 record needs a 33-byte secp256k1 key")
        content = rlp.encode(self._content(self.seq, self.pairs))
        try:
            valid = verify_v4_signature(pubkey, keccak(content), self.signature)
        except ValueError:
            valid = False
        if not valid:
            raise ENRError(f"invalid record signature (seq {self.seq})")

    @classmethod
    def from_text(cls, text: str) -> "ENR":
        """Decode the `enr:` text form."""
        text = text.strip()
        if not text.startswith("enr:"):
            raise ENRError("ENR text must start with 'enr:'")
        body = text[4:]
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise ENRError("ENR text is not URL-safe base64") from None
        return cls.decode(data)

    def to_text(self) -> str:
        """Return the `enr:` text form."""
        return "enr:" + base64.urlsafe_b64encode(self.encode()).decode().rstrip("=")

    def updated(self, private_key: bytes, **values: bytes | int) -> "ENR":
        """Return this record with `values` changed and seq + 1, signed again."""
        current = {key.decode(): value for key, value in self.pairs.items()}
        current.pop("id")
        current.pop("secp256k1")
        current.update(values)
        return ENR.create(private_key, self.seq + 1, **current)

    # Accessors.

    @property
    def public_key(self) -> bytes:
        """The 33-byte compressed secp256k1 key."""
        return self.pairs[b"secp256k1"]

    @property
    def node_id(self) -> bytes:
        """The 32-byte node id."""
        return node_id_from_pubkey(self.public_key)

    def _int(self, key: bytes) -> int | None:
        value = self.pairs.get(key)
        return None if value is None else int.from_bytes(value, "big")

    @property
    def ip(self) -> str | None:
        """The IPv4 address as text."""
        value = self.pairs.get(b"ip")
        return str(ipaddress.IPv4Address(value)) if value and len(value) == 4 else None

    @property
    def ip6(self) -> str | None:
        """The IPv6 address as text."""
        value = self.pairs.get(b"ip6")
        return str(ipaddress.IPv6Address(value)) if value and len(value) == 16 else None

    @property
    def tcp(self) -> int | None:
        """The libp2p TCP port."""
        return self._int(b"tcp")

    @property
    def udp(self) -> int | None:
        """The discv5 UDP port."""
        return self._int(b"udp")

    @property
    def eth2(self) -> ENRForkID | None:
        """The decoded `eth2` fork id, or None when absent."""
        value = self.pairs.get(b"eth2")
        return None if value is None else ENRForkID.decode(value)

    @property
    def attnets(self) -> frozenset[int]:
        """Attestation subnets the node subscribes to."""
        value = self.pairs.get(b"attnets")
        return frozenset() if value is None else decode_bitvector(value, ATTESTATION_SUBNET_COUNT)

    @property
    def syncnets(self) -> frozenset[int]:
        """Sync committee subnets the node subscribes to."""
        value = self.pairs.get(b"syncnets")
        if value is None:
            return frozenset()
        return decode_bitvector(value, SYNC_COMMITTEE_SUBNET_COUNT)

    @property
    def cgc(self) -> int | None:
        """The custody group count (Fulu), or None when absent."""
        return self._int(b"cgc")

    def udp_endpoint(self) -> tuple[str, int] | None:
        """Return (ip, udp port) when the record has both."""
        if self.ip is None or self.udp is None:
            return None
        return self.ip, self.udp

    def tcp_multiaddr(self) -> str | None:
        """Return `/ip4/{ip}/tcp/{port}` when the record has an IPv4 address and TCP port."""
        if self.ip is None or self.tcp is None:
            return None
        return f"/ip4/{self.ip}/tcp/{self.tcp}"
