"""A fast sample of the consensus spec tests: a few cases of every handler of every archive.

The full run is `make spec-tests`; this sample catches a broken runner early.
"""

import os
from pathlib import Path

import pytest

from spec_tests.cli import all_cases, run_serial
from spec_tests.execute import FAILED, PASSED

SPEC_TESTS = Path(
    os.environ.get("CAPLIN_SPEC_TESTS", Path(__file__).parents[3] / "shared" / "spec-tests")
)
ARCHIVES = sorted(SPEC_TESTS.glob("*.tar.gz"))
CASES_PER_HANDLER = 1


@pytest.mark.skipif(not ARCHIVES, reason=f"no spec-test archives in {SPEC_TESTS}")
@pytest.mark.parametrize("archive", ARCHIVES, ids=lambda path: path.name.removesuffix(".tar.gz"))
def test_spec_sample(archive: Path) -> None:
    outcomes = list(run_serial(all_cases([str(archive)], lambda key: True, CASES_PER_HANDLER)))
    failures = [f"{o.path}: {o.reason}" for o in outcomes if o.status == FAILED]
    assert outcomes, f"{archive} holds no cases"
    assert not failures, "\n".join(failures)
    print(f"{archive.name}: {sum(o.status == PASSED for o in outcomes)} passed")
