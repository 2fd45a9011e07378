"""Upgrade electra to fulu: the proposer lookahead in the state."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import initialize_proposer_lookahead
from caplin.transition.upgrade.common import carry_over, upgraded_fork


def upgrade_to_fulu(spec: Any, pre: Any) -> Any:
    """Return the fulu state that continues the electra state `pre`."""
    types = spec.types(Fork.FULU)
    post = carry_over(pre, types.BeaconState, fork=upgraded_fork(spec, pre, Fork.FULU))
    post.proposer_lookahead = initialize_proposer_lookahead(spec, post)
    return post
