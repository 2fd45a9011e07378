"""SSZ encode, decode and hash_tree_root with strict input checks."""

from typing import Any

from caplin.errors import SSZError


def decode(cls: Any, data: bytes) -> Any:
    """Decode `data` as `cls`, raising SSZError naming the type and the problem."""
    try:
        return cls.decode_bytes(bytes(data))
    except Exception as error:  # noqa: BLE001 - first version, checks follow
        raise SSZError(f"invalid {cls.__name__} bytes: {error}", type=cls.__name__) from error


def encode(value: Any) -> bytes:
    """Return the SSZ serialization of `value`."""
    return value.encode_bytes()


def hash_tree_root(value: Any) -> bytes:
    """Return the 32-byte SSZ hash tree root of `value`."""
    return bytes(value.hash_tree_root())
