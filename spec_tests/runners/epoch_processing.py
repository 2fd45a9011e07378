"""The `epoch_processing` runner: one epoch step on `pre`, compared with `post`.

The handler names the step (`process_<handler>`). A case without `post` must raise.
Cases that also carry `pre_epoch`/`post_epoch` are checked a second time through the
whole `process_epoch`, and through `process_epoch_simple` when the two paths differ.
"""

from typing import Any

from caplin.transition import epoch
from caplin.types.ssz import decode
from spec_tests.case import Case
from spec_tests.registry import CaseNotImplemented, register


def _step(handler: str) -> Any:
    step = getattr(epoch, f"process_{handler}", None)
    if step is None:
        raise CaseNotImplemented(f"no epoch step process_{handler}")
    return step


def _root_mismatch(label: str, actual: Any, expected: Any) -> AssertionError:
    fields = [
        name
        for name in type(expected).fields()
        if getattr(actual, name).hash_tree_root() != getattr(expected, name).hash_tree_root()
    ]
    return AssertionError(
        f"{label}: state root 0x{actual.hash_tree_root().hex()}, expected "
        f"0x{expected.hash_tree_root().hex()}; fields that differ: {', '.join(fields)}"
    )


def check_transition(case: Case, function: Any, pre_name: str, post_name: str, label: str) -> None:
    """Run `function(spec, state)` on `pre_name` and compare the result with `post_name`."""
    spec = case.spec
    state_type = spec.types(case.fork_enum).BeaconState
    state = decode(state_type, case.ssz(pre_name))
    if not case.has_ssz(post_name):
        try:
            function(spec, state)
        except Exception:  # noqa: BLE001 - any rejection is the expected outcome
            return
        raise AssertionError(f"{label} accepted a state the case marks invalid")

    function(spec, state)
    expected = decode(state_type, case.ssz(post_name))
    if state.hash_tree_root() != expected.hash_tree_root():
        raise _root_mismatch(label, state, expected)


@register("epoch_processing")
def run(case: Case) -> None:
    step = _step(case.handler)
    check_transition(case, step, "pre", "post", step.__name__)
    if case.has_ssz("pre_epoch"):
        check_transition(case, epoch.process_epoch, "pre_epoch", "post_epoch", "process_epoch")
        if epoch.process_epoch is not epoch.process_epoch_simple:
            check_transition(
                case, epoch.process_epoch_simple, "pre_epoch", "post_epoch", "process_epoch_simple"
            )
