"""The `transition` runner: blocks across a fork boundary at `fork_epoch`.

The case starts in the fork before `post_fork`. Blocks with index up to
`fork_block` are of the pre-fork type, the rest of the post-fork type; without
`fork_block`, every block is post-fork. The chain config puts every earlier
fork at epoch 0 and `post_fork` at `fork_epoch`.
"""

from typing import Any

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.sanity import decode_block, decode_state, run_block_case


def transition_spec(case: Case, post_fork: Fork, fork_epoch: int) -> Any:
    """Return the case's spec with forks before `post_fork` at 0 and `post_fork` at `fork_epoch`."""
    base = case.spec
    config = dict(base.config)
    for fork in list(Fork)[1:]:
        if fork < post_fork:
            config[f"{fork.name}_FORK_EPOCH"] = 0
        elif fork == post_fork:
            config[f"{fork.name}_FORK_EPOCH"] = fork_epoch
        else:
            config[f"{fork.name}_FORK_EPOCH"] = FAR_FUTURE_EPOCH
    return ChainSpec(base.preset_name, base.preset, config)


@register("transition")
def run_transition(case: Case) -> None:
    meta = case.meta
    post_fork = Fork.from_name(meta["post_fork"])
    pre_fork = post_fork.previous()
    if pre_fork is None:
        raise AssertionError("transition case has no fork before its post_fork")
    spec = transition_spec(case, post_fork, int(meta["fork_epoch"]))
    fork_block = meta.get("fork_block")

    state = decode_state(case, "pre", pre_fork, spec)
    blocks = []
    for index, name in enumerate(case.ssz_files("blocks")):
        is_pre_fork = fork_block is not None and index <= int(fork_block)
        blocks.append(decode_block(case, name, pre_fork if is_pre_fork else post_fork, spec))
    run_block_case(case, spec, state, blocks, post_fork)
