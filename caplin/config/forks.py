"""Fork names in activation order."""

from enum import IntEnum


class Fork(IntEnum):
    """A consensus fork; comparison follows activation order."""

    PHASE0 = 0
    ALTAIR = 1
    BELLATRIX = 2
    CAPELLA = 3
    DENEB = 4
    ELECTRA = 5
    FULU = 6

    @property
    def lower(self) -> str:
        return self.name.lower()

    @classmethod
    def from_name(cls, name: str) -> "Fork":
        try:
            return cls[name.upper()]
        except KeyError:
            known = ", ".join(fork.lower for fork in cls)
            raise ValueError(f"unknown fork {name!r}; expected one of {known}") from None

    def previous(self) -> "Fork | None":
        return Fork(self - 1) if self > Fork.PHASE0 else None


FORKS = tuple(Fork)
