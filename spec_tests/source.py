"""Read cases out of `tests/` directories and `.tar.gz` archives, without unpacking."""

import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from spec_tests.case import Case

CaseKey = tuple[str, str, str, str, str, str]
KeyFilter = Callable[[CaseKey], bool]

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class SourceError(Exception):
    """A path given to the runner is missing, of the wrong kind, or a corrupt archive."""


def check_source(path: str | os.PathLike[str]) -> None:
    """Raise `SourceError` unless `path` is a directory or a `.tar.gz`/`.tgz`/`.tar` file."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: not found; pass a tests/ directory or a .tar.gz archive")
    if path.is_dir():
        return
    if not path.name.endswith(_ARCHIVE_SUFFIXES):
        raise SourceError(f"{path}: not a tests directory or a .tar.gz, .tgz or .tar archive")


def _split(relative: str) -> tuple[CaseKey, str] | None:
    """Split `.../tests/<preset>/<fork>/<runner>/<handler>/<suite>/<case>/<file>`."""
    parts = relative.split("/")
    if "tests" in parts:
        parts = parts[parts.index("tests") + 1 :]
    if len(parts) < 7:
        return None
    key = (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    return key, "/".join(parts[6:])


def iter_cases(path: str | os.PathLike[str], wanted: KeyFilter) -> Iterator[Case]:
    """Yield every case under `path` whose key passes `wanted`."""
    path = Path(path)
    check_source(path)
    if path.is_dir():
        yield from _iter_directory(path, wanted)
        return
    try:
        yield from _iter_archive(path, wanted)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise SourceError(
            f"{path}: corrupt or truncated archive ({error}); download or pack it again"
        ) from error


def _iter_directory(root: Path, wanted: KeyFilter) -> Iterator[Case]:
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        if not files:
            continue
        relative = Path(directory).relative_to(root).as_posix()
        split = _split(f"{relative}/x") if relative != "." else None
        if split is None or split[1] != "x" or not wanted(split[0]):
            continue
        case = Case(*split[0])
        for sub_directory, _, sub_files in os.walk(directory):
            for name in sub_files:
                file_path = Path(sub_directory, name)
                case.files[file_path.relative_to(directory).as_posix()] = file_path.read_bytes()
        subdirs.clear()
        yield case


def _iter_archive(archive: Path, wanted: KeyFilter) -> Iterator[Case]:
    current: Case | None = None
    finished: set[CaseKey] = set()
    decisions: dict[CaseKey, bool] = {}
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            split = _split(member.name)
            if split is None:
                continue
            key, file_name = split
            # The filter is called once per case, however many files the case has.
            if key not in decisions:
                decisions[key] = wanted(key)
            if not decisions[key]:
                continue
            if current is None or key != _key(current):
                if current is not None:
                    finished.add(_key(current))
                    yield current
                if key in finished:
                    raise SourceError(
                        f"{archive}: files of case {'/'.join(key)} are not contiguous"
                    )
                current = Case(*key)
            extracted = tar.extractfile(member)
            assert extracted is not None
            current.files[file_name] = extracted.read()
    if current is not None:
        yield current


def _key(case: Case) -> CaseKey:
    return (case.preset, case.fork, case.runner, case.handler, case.suite, case.name)
