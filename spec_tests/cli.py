"""`caplin-spec-tests`: run consensus-spec-tests cases through caplin."""

import argparse
import fnmatch
import multiprocessing
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from spec_tests.case import Case
from spec_tests.execute import FAILED, PASSED, SKIPPED, Outcome, run_case
from spec_tests.junit import write_junit
from spec_tests.registry import load_runners
from spec_tests.source import CaseKey, SourceError, check_source, iter_cases

# Cases sent to the worker pool ahead of the results, per worker: enough to keep
# workers busy, few enough that mainnet states in flight stay in the hundreds of MB.
_IN_FLIGHT_PER_JOB = 4

# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
_INTERRUPTED_STATUS = 130

# Filter options and the position of the value they match in a case key.
_FILTERS = (("preset", 0), ("fork", 1), ("runner", 2), ("handler", 3))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="caplin-spec-tests",
        description="Run consensus-spec-tests cases (directories or .tar.gz archives).",
    )
    parser.add_argument("paths", nargs="+", help="a tests/ directory or a .tar.gz archive")
    parser.add_argument("--preset", action="append", help="only this preset (repeatable)")
    parser.add_argument("--fork", action="append", help="only this fork (repeatable)")
    parser.add_argument("--runner", action="append", help="only this runner (repeatable)")
    parser.add_argument("--handler", action="append", help="only this handler (repeatable)")
    parser.add_argument(
        "-k",
        dest="pattern",
        help="only cases whose path contains PATTERN (shell wildcards allowed)",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=1, help="worker processes, 1 or more (default 1)"
    )
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report to FILE")
    parser.add_argument(
        "--failures", action="store_true", help="print each failing case with the reason"
    )
    parser.add_argument(
        "--skips", action="store_true", help="print each skipped case with the reason"
    )
    parser.add_argument(
        "--sample",
        type=_positive_int,
        metavar="N",
        help="run at most N cases per preset, fork, runner and handler (a quick check)",
    )
    return parser.parse_args(argv)


def make_filter(args: argparse.Namespace, seen: dict[str, set[str]] | None = None):
    """Return the case filter of `args`; record every preset, fork, runner, handler in `seen`."""
    pattern = args.pattern
    if pattern and not any(char in pattern for char in "*?["):
        pattern = f"*{pattern}*"

    def wanted(key: CaseKey) -> bool:
        if seen is not None:
            for option, position in _FILTERS:
                seen.setdefault(option, set()).add(key[position])
        preset, fork, runner, handler, _, _ = key
        if args.preset and preset not in args.preset:
            return False
        if args.fork and fork not in args.fork:
            return False
        if args.runner and runner not in args.runner:
            return False
        if args.handler and handler not in args.handler:
            return False
        return not pattern or fnmatch.fnmatchcase("/".join(key), pattern)

    return wanted


def all_cases(paths: Iterable[str], wanted, sample: int | None = None) -> Iterator[Case]:
    taken: Counter[tuple[str, str, str, str]] = Counter()

    def sampled(key: CaseKey) -> bool:
        if not wanted(key):
            return False
        if sample is None:
            return True
        group = key[:4]
        if taken[group] >= sample:
            return False
        taken[group] += 1
        return True

    for path in paths:
        yield from iter_cases(path, sampled)


def run_serial(cases: Iterable[Case]) -> Iterator[Outcome]:
    load_runners()
    for case in cases:
        yield run_case(case)


def run_parallel(cases: Iterable[Case], jobs: int) -> Iterator[Outcome]:
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=load_runners)
    try:
        pending: set[Future[Outcome]] = set()
        for case in cases:
            pending.add(pool.submit(run_case, case))
            while len(pending) >= jobs * _IN_FLIGHT_PER_JOB:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        for future in pending:
            yield future.result()
    finally:
        # On an error or Ctrl-C, queued cases are dropped instead of run to the end.
        pool.shutdown(wait=True, cancel_futures=True)


def print_table(outcomes: list[Outcome]) -> None:
    groups: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        groups[(outcome.preset, outcome.fork, outcome.runner)][outcome.status] += 1
    header = f"{'preset':<8} {'fork':<10} {'runner':<18} {'passed':>7} {'failed':>7} {'skipped':>7}"
    print(header)
    print("-" * len(header))
    for (preset, fork, runner), counts in sorted(groups.items(), key=_group_order):
        print(
            f"{preset:<8} {fork:<10} {runner:<18} "
            f"{counts[PASSED]:>7} {counts[FAILED]:>7} {counts[SKIPPED]:>7}"
        )


_FORK_ORDER = ["phase0", "altair", "bellatrix", "capella", "deneb", "electra", "fulu"]


def _group_order(item):
    (preset, fork, runner), _ = item
    fork_rank = _FORK_ORDER.index(fork) if fork in _FORK_ORDER else len(_FORK_ORDER)
    return (preset, fork_rank, fork, runner)


def print_skip_summary(outcomes: list[Outcome]) -> None:
    reasons: Counter[str] = Counter(o.reason for o in outcomes if o.status == SKIPPED)
    if reasons:
        print("\nskipped:")
        for reason, count in sorted(reasons.items()):
            print(f"  {count:>6}  {reason}")


def check_junit_path(path: str) -> str | None:
    """Return why a JUnit report cannot be written to `path`, or None when it can."""
    if os.path.isdir(path):
        return f"--junit {path}: is a directory; give a file name such as {path}/report.xml"
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        return f"--junit {path}: directory {directory} not found; create it first"
    if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"--junit {path}: permission denied; choose a writable path"
    return None


def describe_no_match(args: argparse.Namespace, seen: dict[str, set[str]]) -> str:
    """Say which filter values matched nothing, with the values the paths do contain."""
    lines = ["error: no cases matched the paths and filters"]
    if not seen:
        lines.append(
            "  the paths contain no cases; expected tests/<preset>/<fork>/<runner>/<handler>/"
            "<suite>/<case>/ files"
        )
    for option, _ in _FILTERS:
        values = getattr(args, option) or []
        found = seen.get(option, set())
        for value in values:
            if value not in found:
                known = ", ".join(sorted(found)) or "none"
                lines.append(f"  --{option} {value}: not in these paths (they contain: {known})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv`; return the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(argv: list[str] | None) -> int:
    args = parse_args(argv)
    # Bad paths are reported before any case runs, not after the first archive.
    problems: list[str] = []
    for path in args.paths:
        try:
            check_source(path)
        except SourceError as error:
            problems.append(str(error))
    junit_problem = check_junit_path(args.junit) if args.junit else None
    if junit_problem:
        problems.append(junit_problem)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2

    seen: dict[str, set[str]] = {}
    wanted = make_filter(args, seen)
    cases = all_cases(args.paths, wanted, args.sample)
    started = time.perf_counter()
    stream = run_serial(cases) if args.jobs <= 1 else run_parallel(cases, args.jobs)
    outcomes: list[Outcome] = []
    interrupted = False
    try:
        for outcome in stream:
            outcomes.append(outcome)
            if outcome.status == FAILED and args.failures:
                print(f"FAIL {outcome.path}: {outcome.reason}", flush=True)
            if outcome.status == SKIPPED and args.skips:
                print(f"SKIP {outcome.path}: {outcome.reason}", flush=True)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.perf_counter() - started

    print_table(outcomes)
    print_skip_summary(outcomes)
    if args.junit:
        try:
            write_junit(args.junit, outcomes)
        except OSError as error:
            print(f"error: --junit {args.junit}: report not written: {error}", file=sys.stderr)
            return 2
    counts = Counter(outcome.status for outcome in outcomes)
    print(
        f"\n{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped"
        f" in {elapsed:.1f}s"
    )
    if interrupted:
        print(f"interrupted after {len(outcomes)} cases; counts above are partial", file=sys.stderr)
        return _INTERRUPTED_STATUS
    if not outcomes:
        print(describe_no_match(args, seen), file=sys.stderr)
        return 2
    return 1 if counts[FAILED] else 0


if __name__ == "__main__":
    sys.exit(main())
