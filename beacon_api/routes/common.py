"""Helpers shared by the route modules."""

from fastapi import Request

from beacon_api.chain import ChainReader


def chain_of(request: Request) -> ChainReader:
    """Return the `ChainReader` the app was created with."""
    return request.app.state.chain


def query_list(request: Request, name: str) -> list[str]:
    """Return every value of a repeatable query parameter, splitting comma-separated values."""
    values = []
    for raw in request.query_params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


# State the validator routes keep between requests.


class ValidatorApiState:
    """Proposer preparations, subscribed validators and validators seen through the API."""

    # Epochs of API submissions kept for liveness.
    OBSERVED_EPOCHS = 4

    def __init__(self) -> None:
        self.preparations: dict[int, tuple[bytes, int]] = {}
        self.subscribed_validators: set[int] = set()
        self.observed: dict[int, set[int]] = {}

    def fee_recipient(self, validator_index: int, epoch: int) -> bytes | None:
        entry = self.preparations.get(validator_index)
        if entry is None or entry[1] < epoch:
            return None
        return entry[0]

    def observe(self, epoch: int, indices: list[int]) -> None:
        self.observed.setdefault(epoch, set()).update(indices)
        for old in [e for e in self.observed if e + self.OBSERVED_EPOCHS < epoch]:
            del self.observed[old]


def state_of(request: Request) -> ValidatorApiState:
    state = getattr(request.app.state, "validator_api", None)
    if state is None:
        state = request.app.state.validator_api = ValidatorApiState()
    return state


def observe(request: Request, slot: int, indices: list[int]) -> None:
    """Record validators seen at `slot` through the API, for the liveness route."""
    epoch = slot // chain_of(request).spec.SLOTS_PER_EPOCH
    state_of(request).observe(epoch, indices)
