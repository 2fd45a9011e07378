"""Outcomes of gossip validation.

Gossipsub takes one of three results per message from the application: ACCEPT
(deliver and forward), IGNORE (drop without penalty, e.g. a duplicate or a
message that arrived too early) and REJECT (drop and penalise the sender, the
message breaks a rule no honest peer breaks).
"""

from dataclasses import dataclass
from enum import Enum

from caplin.errors import NetworkError


class Verdict(Enum):
    """The gossipsub validation result of one message."""

    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


@dataclass(frozen=True)
class ValidationResult:
    """A verdict with the rule that decided it (empty for ACCEPT)."""

    verdict: Verdict
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPT


ACCEPT = ValidationResult(Verdict.ACCEPT)


class GossipValidationError(NetworkError):
    """A gossip message failed an IGNORE or REJECT rule, as `verdict` records."""

    def __init__(self, verdict: Verdict, reason: str, **fields: object) -> None:
        self.verdict = verdict
        self.reason = reason
        super().__init__(reason, **fields)

    def result(self) -> ValidationResult:
        return ValidationResult(self.verdict, self.reason)


def ignore_unless(condition: object, reason: str, **fields: object) -> None:
    """Raise an IGNORE `GossipValidationError` with `reason` unless `condition` holds."""
    if not condition:
        raise GossipValidationError(Verdict.IGNORE, reason, **fields)


def reject_unless(condition: object, reason: str, **fields: object) -> None:
    """Raise a REJECT `GossipValidationError` with `reason` unless `condition` holds."""
    if not condition:
        raise GossipValidationError(Verdict.REJECT, reason, **fields)
