"""The spec-test runner itself: reading, filtering, counting, reporting."""

import io
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import cramjam
import pytest

from spec_tests import cli
from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.source import iter_cases

CASE_ROOT = "tests/minimal/phase0/selftest_runner"


@register("selftest_runner", "good")
def _always_passes(case: Case) -> None:
    assert case.ssz("value") == b"\x01\x02"


@register("selftest_runner", "bad")
def _always_fails(case: Case) -> None:
    raise AssertionError("expected root 0x00, got 0x01")


def _write_tree(root: Path) -> None:
    for handler in ("good", "bad", "missing"):
        for index in range(3):
            case = root / CASE_ROOT / handler / "pyspec_tests" / f"case_{index}"
            case.mkdir(parents=True)
            (case / "value.ssz_snappy").write_bytes(bytes(cramjam.snappy.compress_raw(b"\x01\x02")))
            (case / "meta.yaml").write_text("bls_setting: 1\n")


def _write_archive(root: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "tests", arcname="tests")


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    _write_tree(tmp_path)
    return tmp_path


def test_directory_and_archive_same_cases(tree: Path, tmp_path: Path) -> None:
    archive = tmp_path / "cases.tar.gz"
    _write_archive(tree, archive)
    from_dir = sorted(c.path for c in iter_cases(tree / "tests", lambda key: True))
    from_tar = sorted(c.path for c in iter_cases(archive, lambda key: True))
    assert len(from_dir) == 9
    assert from_dir == from_tar


def test_case_reads_ssz_and_meta(tree: Path) -> None:
    case = next(iter_cases(tree / "tests", lambda key: key[3] == "good"))
    assert case.ssz("value") == b"\x01\x02"
    assert case.meta == {"bls_setting": 1}
    assert case.has_ssz("value")
    assert not case.has_yaml("steps")


def test_counts_and_exit_status(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main([str(tree / "tests"), "--runner", "selftest_runner", "--failures"])
    output = capsys.readouterr().out
    assert status == 1
    assert "3 passed, 3 failed, 3 skipped" in output
    assert "no implementation for runner selftest_runner handler missing" in output
    assert "expected root 0x00, got 0x01" in output


def test_filters_select_handler(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main([str(tree / "tests"), "--handler", "good", "-k", "case_1"])
    assert status == 0
    assert "1 passed, 0 failed, 0 skipped" in capsys.readouterr().out


def test_sample_limits_cases(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main([str(tree / "tests"), "--sample", "1"])
    assert "1 passed, 1 failed, 1 skipped" in capsys.readouterr().out


def test_junit_report(tree: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    cli.main([str(tree / "tests"), "--junit", str(report)])
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "9"
    assert suite.get("failures") == "3"
    assert suite.get("skipped") == "3"


def test_no_match_is_an_error(tree: Path) -> None:
    assert cli.main([str(tree / "tests"), "--fork", "nosuchfork"]) == 2


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    assert cli.main([str(tmp_path / "absent.tar.gz")]) == 2


def test_unpacked_member_outside_tests_is_ignored(tmp_path: Path) -> None:
    archive = tmp_path / "odd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("README.md")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert list(iter_cases(archive, lambda key: True)) == []
