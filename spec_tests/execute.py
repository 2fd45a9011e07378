"""Run one case and classify the outcome."""

import time
import traceback
from dataclasses import dataclass

from spec_tests.case import Case
from spec_tests.registry import CaseNotImplemented, has_runner, lookup

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    path: str
    preset: str
    fork: str
    runner: str
    handler: str
    status: str
    reason: str
    seconds: float


def run_case(case: Case) -> Outcome:
    """Run `case` with its registered function; never raises."""
    started = time.perf_counter()
    function = lookup(case.runner, case.handler)
    if function is None and not has_runner(case.runner):
        status, reason = SKIPPED, f"no implementation for runner {case.runner}"
    elif function is None:
        status = SKIPPED
        reason = f"no implementation for runner {case.runner} handler {case.handler}"
    else:
        try:
            function(case)
            status, reason = PASSED, ""
        except CaseNotImplemented as error:
            status, reason = SKIPPED, f"not implemented: {error}"
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            status, reason = FAILED, _describe(error)
    seconds = time.perf_counter() - started
    return Outcome(
        case.path, case.preset, case.fork, case.runner, case.handler, status, reason, seconds
    )


def _describe(error: Exception) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}{where}"
