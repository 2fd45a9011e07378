"""Fork upgrades: turn the last state of one fork into the first state of the next.

`upgrade_to(spec, state, fork)` applies every upgrade from the state's fork up
to `fork`, one fork at a time. Each `upgrade_to_<fork>` returns a new state of
the next fork's `BeaconState` type; the pre-state is left unchanged.
"""

from collections.abc import Callable
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import TransitionError
from caplin.transition.upgrade.altair import upgrade_to_altair
from caplin.transition.upgrade.bellatrix import upgrade_to_bellatrix
from caplin.transition.upgrade.capella import upgrade_to_capella
from caplin.transition.upgrade.deneb import upgrade_to_deneb
from caplin.transition.upgrade.electra import upgrade_to_electra
from caplin.transition.upgrade.fulu import upgrade_to_fulu

UPGRADES: dict[Fork, Callable[[Any, Any], Any]] = {
    Fork.ALTAIR: upgrade_to_altair,
    Fork.BELLATRIX: upgrade_to_bellatrix,
    Fork.CAPELLA: upgrade_to_capella,
    Fork.DENEB: upgrade_to_deneb,
    Fork.ELECTRA: upgrade_to_electra,
    Fork.FULU: upgrade_to_fulu,
}


def upgrade_to(spec: Any, state: Any, fork: Fork) -> Any:
    """Return `state` upgraded through every fork after its own, up to and including `fork`.

    Raises:
        TransitionError: `fork` is older than the state's fork.
    """
    current = spec.fork_of(state)
    if fork < current:
        raise TransitionError(
            "cannot upgrade a state to an older fork",
            state_fork=current.lower,
            fork=Fork(fork).lower,
        )
    while current < fork:
        current = Fork(current + 1)
        state = UPGRADES[current](spec, state)
    return state


__all__ = [
    "UPGRADES",
    "upgrade_to",
    "upgrade_to_altair",
    "upgrade_to_bellatrix",
    "upgrade_to_capella",
    "upgrade_to_deneb",
    "upgrade_to_electra",
    "upgrade_to_fulu",
]
