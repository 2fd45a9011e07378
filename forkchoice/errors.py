"""Errors of the fork-choice store.

Each class says whether the input may become valid later (`...NotReadyError`:
an unknown parent, a slot still in the future, data not yet available) or
breaks a rule for good (`Invalid...Error`). `rule` names the failed check; the
keyword fields carry the values involved. A rejected input leaves the store
unchanged.
"""

from typing import Any

from caplin.errors import ForkChoiceError


class _RuleError(ForkChoiceError):
    def __init__(self, rule: str, message: str, **fields: Any) -> None:
        self.rule = rule
        super().__init__(f"{rule}: {message}", **fields)


class InvalidBlockError(_RuleError):
    """A block breaks a fork-choice rule or fails the state transition."""


class BlockNotReadyError(_RuleError):
    """A block cannot be imported yet: unknown parent, future slot, missing data or PoW block."""


class InvalidAttestationError(_RuleError):
    """An attestation is inconsistent with the store or carries an invalid signature."""


class AttestationNotReadyError(_RuleError):
    """An attestation refers to an unknown block or to a slot or epoch not yet reached."""


class InvalidAttesterSlashingError(_RuleError):
    """An attester slashing is not slashable or one of its attestations is invalid."""
