"""SSZ basic types and the spec's aliases for them, on remerkleable.

The aliases are the classes themselves (`Slot is uint64`), so values of
different aliases mix freely, as plain ints and bytes do in the spec.
"""

from remerkleable.basic import boolean, uint8, uint16, uint32, uint64, uint128, uint256
from remerkleable.bitfields import Bitlist, Bitvector
from remerkleable.byte_arrays import (
    ByteList,
    Bytes1,
    Bytes4,
    Bytes8,
    Bytes32,
    Bytes48,
    Bytes96,
    ByteVector,
)
from remerkleable.complex import Container, List, Vector

Bytes20 = ByteVector[20]

Slot = uint64
Epoch = uint64
CommitteeIndex = uint64
ValidatorIndex = uint64
Gwei = uint64
WithdrawalIndex = uint64
BlobIndex = uint64
ColumnIndex = uint64
RowIndex = uint64
CustodyIndex = uint64
SubnetID = uint64
ParticipationFlags = uint8

Root = Bytes32
Hash32 = Bytes32
Version = Bytes4
DomainType = Bytes4
ForkDigest = Bytes4
Domain = Bytes32
BLSPubkey = Bytes48
BLSSignature = Bytes96
ExecutionAddress = Bytes20
KZGCommitment = Bytes48
KZGProof = Bytes48
VersionedHash = Bytes32

__all__ = [
    "BLSPubkey",
    "BLSSignature",
    "Bitlist",
    "Bitvector",
    "BlobIndex",
    "ByteList",
    "ByteVector",
    "Bytes1",
    "Bytes20",
    "Bytes32",
    "Bytes4",
    "Bytes48",
    "Bytes8",
    "Bytes96",
    "ColumnIndex",
    "CommitteeIndex",
    "Container",
    "CustodyIndex",
    "Domain",
    "DomainType",
    "Epoch",
    "ExecutionAddress",
    "ForkDigest",
    "Gwei",
    "Hash32",
    "KZGCommitment",
    "KZGProof",
    "List",
    "ParticipationFlags",
    "Root",
    "RowIndex",
    "Slot",
    "SubnetID",
    "ValidatorIndex",
    "Vector",
    "Version",
    "VersionedHash",
    "WithdrawalIndex",
    "boolean",
    "uint128",
    "uint16",
    "uint256",
    "uint32",
    "uint64",
    "uint8",
]


def container(name: str, fields: dict[str, type]) -> type:
    """Create a Container class called `name` with `fields` in order.

    Used to derive a fork's container from the previous fork's fields without
    subclassing, so a container of one fork is never an instance of another's.
    """
    return type(name, (Container,), {"__annotations__": dict(fields), "__module__": __name__})


def extend(base: type, **fields: type) -> type:
    """Create a copy of the container `base` with `fields` appended after its own."""
    return container(base.__name__, {**base.fields(), **fields})


def copy_of(cls: type) -> type:
    """Create a new container class with the fields of `cls`, for a fork that keeps its layout."""
    return container(cls.__name__, cls.fields())
