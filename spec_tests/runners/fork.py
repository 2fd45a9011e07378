"""The `fork` runner: upgrade `pre` (previous fork) with the case's upgrade and match `post`."""

from caplin.config.forks import Fork
from caplin.transition.upgrade import UPGRADES
from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.sanity import check_post_state, decode_state


@register("fork")
def run_fork(case: Case) -> None:
    post_fork = Fork.from_name(case.meta.get("fork", case.fork))
    previous = post_fork.previous()
    if previous is None:
        raise AssertionError(f"fork case names {post_fork.lower}, which has no previous fork")
    pre = decode_state(case, "pre", previous)
    post = UPGRADES[post_fork](case.spec, pre)
    check_post_state(case, post, post_fork)
