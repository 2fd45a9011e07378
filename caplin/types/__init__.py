"""SSZ types of every fork, built per preset and cached.

`types_for(preset_name, preset, fork)` returns a `ForkTypes` namespace with
every SSZ class of `fork` (`ns.BeaconState`, `ns.Attestation`, ...). Each fork
starts from the previous fork's classes and redefines the ones it changes.
Fork-versioned containers (see `FORK_VERSIONED`) are distinct classes in every
fork even where the layout did not change, so `fork_of` can tell them apart.
The namespaces also hold the p2p containers (`caplin.types.p2p`).

Decode, encode and root values with `caplin.types.ssz`, and convert them to
and from Beacon-API JSON with `caplin.types.json`.
"""

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from caplin.config.forks import Fork
from caplin.types import (  # _speedups first: it patches remerkleable before any class is built
    _speedups,  # noqa: F401
    altair,
    bellatrix,
    capella,
    deneb,
    electra,
    fulu,
    p2p,
    phase0,
)
from caplin.types.basic import copy_of

_BUILDERS = {
    Fork.PHASE0: phase0.build,
    Fork.ALTAIR: altair.build,
    Fork.BELLATRIX: bellatrix.build,
    Fork.CAPELLA: capella.build,
    Fork.DENEB: deneb.build,
    Fork.ELECTRA: electra.build,
    Fork.FULU: fulu.build,
}

FORK_VERSIONED = (
    "BeaconState",
    "BeaconBlockBody",
    "BeaconBlock",
    "SignedBeaconBlock",
    "BlindedBeaconBlockBody",
    "BlindedBeaconBlock",
    "SignedBlindedBeaconBlock",
    "ExecutionPayload",
    "ExecutionPayloadHeader",
    "NewPayloadRequest",
    "LightClientHeader",
    "LightClientBootstrap",
    "LightClientUpdate",
    "LightClientFinalityUpdate",
    "LightClientOptimisticUpdate",
)


class ForkTypes(SimpleNamespace):
    """The SSZ classes of one fork and preset, as attributes named like the spec's."""

    fork: Fork
    preset_name: str

    def names(self) -> list[str]:
        """Return the names of every SSZ class in this namespace."""
        return [name for name, value in vars(self).items() if isinstance(value, type)]

    def __iter__(self) -> Iterator[tuple[str, type]]:
        return ((name, getattr(self, name)) for name in self.names())


_cache: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[Fork, ForkTypes]] = {}
_fork_of_class: dict[type, Fork] = {}


def types_for(preset_name: str, preset: dict[str, Any], fork: Fork) -> ForkTypes:
    """Return the SSZ classes of `fork` for a preset, building every fork once per preset."""
    key = (preset_name, tuple(sorted(preset.items())))
    forks = _cache.get(key)
    if forks is None:
        forks = _build_all(preset_name, preset)
        _cache[key] = forks
    return forks[Fork(fork)]


def _build_all(preset_name: str, preset: dict[str, Any]) -> dict[Fork, ForkTypes]:
    values = SimpleNamespace(**preset)
    built: dict[Fork, ForkTypes] = {}
    previous: dict[str, type] = {}
    for fork in Fork:
        classes = dict(previous)
        classes.update(_BUILDERS[fork](values, previous))
        classes.update(p2p.build(values, fork, classes))
        for name in FORK_VERSIONED:
            if name in classes and classes[name] is previous.get(name):
                classes[name] = copy_of(classes[name])
        for cls in classes.values():
            if isinstance(cls, type):
                _fork_of_class.setdefault(cls, fork)
        built[fork] = ForkTypes(fork=fork, preset_name=preset_name, **classes)
        previous = classes
    return built


def fork_of(value: Any) -> Fork:
    """Return the fork of an SSZ object or class built by `types_for`.

    Exact for the FORK_VERSIONED containers; for other classes it is the fork
    that introduced (or last changed) the class. Raises TypeError for a class
    not built here.
    """
    cls = value if isinstance(value, type) else type(value)
    try:
        return _fork_of_class[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not an SSZ class built by caplin.types") from None


__all__ = ["FORK_VERSIONED", "ForkTypes", "fork_of", "types_for"]
