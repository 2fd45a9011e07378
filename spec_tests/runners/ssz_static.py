"""ssz_static: decode each object, check its hash_tree_root, re-encode it byte for byte."""

from caplin.types.ssz import decode, encode, hash_tree_root
from spec_tests.case import Case
from spec_tests.registry import register


@register("ssz_static")
def run(case: Case) -> None:
    types = case.spec.types(case.fork_enum)
    cls = getattr(types, case.handler, None)
    if not isinstance(cls, type):
        raise AssertionError(f"no SSZ type {case.handler} in {case.fork} ({case.preset})")

    serialized = case.ssz("serialized")
    value = decode(cls, serialized)

    expected_root = case.yaml("roots")["root"]
    actual_root = "0x" + hash_tree_root(value).hex()
    if actual_root != expected_root:
        raise AssertionError(f"{case.handler} root: expected {expected_root}, got {actual_root}")

    reencoded = encode(value)
    if reencoded != serialized:
        position = _first_difference(serialized, reencoded)
        raise AssertionError(
            f"{case.handler} re-encoding differs: {len(serialized)} bytes in, "
            f"{len(reencoded)} bytes out, first difference at byte {position}"
        )


def _first_difference(left: bytes, right: bytes) -> int:
    for position, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return position
    return min(len(left), len(right))
