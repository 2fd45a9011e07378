"""JUnit XML report of spec-test outcomes."""

import xml.etree.ElementTree as ET
from collections import defaultdict

from spec_tests.execute import FAILED, SKIPPED, Outcome


def write_junit(path: str, outcomes: list[Outcome]) -> None:
    """Write one testsuite per preset/fork/runner, one testcase per case."""
    suites: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        suites[f"{outcome.preset}.{outcome.fork}.{outcome.runner}"].append(outcome)
    root = ET.Element("testsuites")
    for suite_name, members in sorted(suites.items()):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(members)),
            failures=str(sum(o.status == FAILED for o in members)),
            skipped=str(sum(o.status == SKIPPED for o in members)),
            time=f"{sum(o.seconds for o in members):.3f}",
        )
        for outcome in members:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=f"{suite_name}.{outcome.handler}",
                name=outcome.path,
                time=f"{outcome.seconds:.3f}",
            )
            if outcome.status == FAILED:
                ET.SubElement(element, "failure", message=outcome.reason)
            elif outcome.status == SKIPPED:
                ET.SubElement(element, "skipped", message=outcome.reason)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
