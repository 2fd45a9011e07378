"""Seeded random SSZ values of any type, for round-trip and fuzz tests."""

import random
from typing import Any

from remerkleable.basic import uint

from caplin.types.basic import (
    Bitlist,
    Bitvector,
    ByteList,
    ByteVector,
    Container,
    List,
    Vector,
    boolean,
)

# Lists get at most this many elements, so huge limits stay cheap.
MAX_LIST_ELEMENTS = 3


def random_value(cls: Any, rng: random.Random) -> Any:
    """Return a random value of the SSZ type `cls`."""
    if issubclass(cls, boolean):
        return cls(rng.random() < 0.5)
    if issubclass(cls, uint):
        return cls(rng.getrandbits(cls.type_byte_length() * 8))
    if issubclass(cls, ByteVector):
        return cls(rng.randbytes(cls.type_byte_length()))
    if issubclass(cls, ByteList):
        return cls(rng.randbytes(rng.randint(0, min(cls.limit(), 40))))
    if issubclass(cls, Bitvector):
        return cls(*(rng.random() < 0.5 for _ in range(cls.vector_length())))
    if issubclass(cls, Bitlist):
        length = rng.randint(0, min(cls.limit(), 20))
        return cls(*(rng.random() < 0.5 for _ in range(length)))
    if issubclass(cls, Vector):
        element = cls.element_cls()
        return cls(*(random_value(element, rng) for _ in range(cls.vector_length())))
    if issubclass(cls, List):
        element = cls.element_cls()
        count = rng.randint(0, min(cls.limit(), MAX_LIST_ELEMENTS))
        return cls(*(random_value(element, rng) for _ in range(count)))
    if issubclass(cls, Container):
        return cls(**{name: random_value(kind, rng) for name, kind in cls.fields().items()})
    raise TypeError(f"no random values for {cls.__name__}")
