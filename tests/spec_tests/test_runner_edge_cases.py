"""The spec-test runner on bad input: every mistake gets a named error and exit status 2."""

import os
import tarfile
from pathlib import Path

import cramjam
import pytest

from spec_tests import cli
from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.source import SourceError, iter_cases

CASE_DIR = "tests/minimal/phase0/edge_runner/good/pyspec_tests"


@register("edge_runner", "good")
def _passes(case: Case) -> None:
    assert case.ssz("value") == b"\x01"


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for index in range(20):
        case = root / CASE_DIR / f"case_{index}"
        case.mkdir(parents=True)
        (case / "value.ssz_snappy").write_bytes(bytes(cramjam.snappy.compress_raw(b"\x01")))
        (case / "padding.bin").write_bytes(os.urandom(4096))
    path = tmp_path / "cases.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root / "tests", arcname="tests")
    return path


def test_missing_path_named(tmp_path: Path, archive: Path, capsys) -> None:
    missing = tmp_path / "absent.tar.gz"
    status = cli.main([str(archive), str(missing)])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{missing}: not found" in err


def test_missing_path_reported_before_running(tmp_path: Path, archive: Path, capsys) -> None:
    status = cli.main([str(archive), str(tmp_path / "absent")])
    out = capsys.readouterr().out
    assert status == 2
    assert "passed" not in out


def test_file_of_wrong_kind(tmp_path: Path, capsys) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert cli.main([str(text)]) == 2
    assert "not a tests directory" in capsys.readouterr().err


def test_truncated_archive(tmp_path: Path, archive: Path, capsys) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert cli.main([str(truncated)]) == 2
    err = capsys.readouterr().err
    assert f"{truncated}: corrupt or truncated archive" in err


def test_garbage_archive(tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(os.urandom(3000))
    assert cli.main([str(garbage)]) == 2
    assert "corrupt or truncated archive" in capsys.readouterr().err


def test_truncated_archive_source_error(tmp_path: Path, archive: Path) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(SourceError):
        list(iter_cases(truncated, lambda key: True))


def test_directory_without_cases(tmp_path: Path, capsys) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    assert cli.main([str(tmp_path)]) == 2
    assert "contain no cases" in capsys.readouterr().err


def test_unknown_filter_values_named(archive: Path, capsys) -> None:
    status = cli.main([str(archive), "--runner", "nosuch", "--fork", "Phase0"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--runner nosuch: not in these paths (they contain: edge_runner)" in err
    assert "--fork Phase0: not in these paths (they contain: phase0)" in err


@pytest.mark.parametrize("option", ["--jobs", "--sample"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_count_options_rejected(archive: Path, option: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(archive), option, value])
    assert exit_info.value.code == 2


def test_junit_missing_directory(tmp_path: Path, archive: Path, capsys) -> None:
    report = tmp_path / "absent" / "report.xml"
    status = cli.main([str(archive), "--junit", str(report), "--jobs", "3"])
    captured = capsys.readouterr()
    assert status == 2
    assert "not found; create it first" in captured.err
    assert "passed" not in captured.out


def test_junit_path_is_directory(tmp_path: Path, archive: Path, capsys) -> None:
    assert cli.main([str(archive), "--junit", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_huge_pattern_matches_nothing(archive: Path, capsys) -> None:
    pattern = "*a" * 3000
    assert cli.main([str(archive), "-k", pattern]) == 2
    assert "no cases matched" in capsys.readouterr().err


def test_good_archive_passes(archive: Path, capsys) -> None:
    assert cli.main([str(archive)]) == 0
    assert "20 passed, 0 failed, 0 skipped" in capsys.readouterr().out


def test_interrupt_prints_partial_counts(archive: Path, capsys, monkeypatch) -> None:
    seen = 0

    def run_then_interrupt(cases):
        nonlocal seen
        for outcome in original(cases):
            seen += 1
            if seen == 3:
                raise KeyboardInterrupt
            yield outcome

    original = cli.run_serial
    monkeypatch.setattr(cli, "run_serial", run_then_interrupt)
    status = cli.main([str(archive)])
    captured = capsys.readouterr()
    assert status == 130
    assert "2 passed" in captured.out
    assert "interrupted after 2 cases" in captured.err


def test_corrupt_snappy_names_file(tmp_path: Path, capsys) -> None:
    case = tmp_path / CASE_DIR / "case_0"
    case.mkdir(parents=True)
    (case / "value.ssz_snappy").write_bytes(b"garbage")
    status = cli.main([str(tmp_path / "tests"), "--failures"])
    out = capsys.readouterr().out
    assert status == 1
    assert "value.ssz_snappy is not valid snappy" in out


def test_missing_case_file_named(tmp_path: Path, capsys) -> None:
    case = tmp_path / CASE_DIR / "case_0"
    case.mkdir(parents=True)
    (case / "meta.yaml").write_text("bls_setting: 1\n")
    status = cli.main([str(tmp_path / "tests"), "--failures"])
    out = capsys.readouterr().out
    assert status == 1
    assert "has no file value.ssz_snappy" in out
