"""Random and mutated bytes for every container of every fork: only SSZError may come out."""

import random

import pytest
from random_values import random_value

from caplin.config import ChainSpec, Fork
from caplin.errors import SSZError
from caplin.types.basic import Container
from caplin.types.ssz import decode, encode

MUTATIONS_PER_TYPE = 40


def _containers() -> list[tuple[str, type]]:
    spec = ChainSpec.for_preset("minimal")
    seen: set[type] = set()
    found = []
    for fork in Fork:
        for name, cls in spec.types(fork):
            if issubclass(cls, Container) and cls not in seen:
                seen.add(cls)
                found.append((f"{fork.lower}.{name}", cls))
    return found


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    out = [b"", rng.randbytes(rng.randint(1, 64)), data + b"\x00", data + rng.randbytes(5)]
    for _ in range(MUTATIONS_PER_TYPE):
        kind = rng.randrange(4)
        if kind == 0 and data:
            out.append(data[: rng.randrange(len(data))])
        elif kind == 1 and data:
            position = rng.randrange(len(data))
            out.append(data[:position] + bytes([rng.randrange(256)]) + data[position + 1 :])
        elif kind == 2 and len(data) >= 4:
            # Overwrite a 4-byte window, often an offset in a variable-size container.
            position = rng.randrange(len(data) - 3)
            value = rng.choice([0, 1, 3, len(data), len(data) + 1, 2**32 - 1, rng.getrandbits(32)])
            out.append(data[:position] + value.to_bytes(4, "little") + data[position + 4 :])
        else:
            position = rng.randrange(len(data) + 1)
            out.append(data[:position] + rng.randbytes(rng.randint(1, 8)) + data[position:])
    return out


CONTAINERS = _containers()


@pytest.mark.parametrize(("name", "cls"), CONTAINERS, ids=[name for name, _ in CONTAINERS])
def test_mutated_bytes_raise_only_ssz_error(name, cls):
    rng = random.Random(name)
    data = encode(random_value(cls, rng))
    assert encode(decode(cls, data)) == data

    for candidate in _mutations(data, rng):
        try:
            value = decode(cls, candidate)
        except SSZError:
            continue
        # Whatever is accepted must be the canonical encoding of what was decoded.
        assert encode(value) == candidate, f"{name} accepted a non-canonical encoding"


ALL_TYPES = [
    (f"{fork.lower}.{name}", cls)
    for fork in Fork
    for name, cls in ChainSpec.for_preset("minimal").types(fork)
    if fork == Fork.PHASE0
    or cls is not getattr(ChainSpec.for_preset("minimal").types(fork.previous()), name, None)
]


@pytest.mark.parametrize(("name", "cls"), ALL_TYPES, ids=[name for name, _ in ALL_TYPES])
def test_tree_codec_matches_remerkleable(name, cls):
    rng = random.Random(f"tree {name}")
    value = random_value(cls, rng)
    expected = value.encode_bytes()
    assert encode(value) == expected

    decoded = decode(cls, expected)
    assert bytes(decoded.hash_tree_root()) == bytes(cls.decode_bytes(expected).hash_tree_root())
    assert encode(decoded) == expected
