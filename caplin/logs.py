"""Logging setup: key=value console and file logs with Erigon's verbosity levels.

Verbosity runs 0 (crit) to 5 (trace), or the names. Messages follow the project's form,
`short message key=value key=value`; the JSON formatter turns the same record into one JSON
object per line, with the key=value pairs as fields. A filter rate-limits repeated records
(same logger, level and message template) so a failure that repeats every slot cannot flood
the log.
"""

import json
import logging
import sys
import time
from pathlib import Path

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

VERBOSITY_LEVELS = {
    0: logging.CRITICAL,
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
    5: TRACE,
}
VERBOSITY_NAMES = {
    "crit": 0,
    "critical": 0,
    "error": 1,
    "eror": 1,
    "warn": 2,
    "warning": 2,
    "info": 3,
    "debug": 4,
    "dbug": 4,
    "trace": 5,
    "trce": 5,
}


def parse_verbosity(value: str | int) -> int:
    """Return the logging level of a verbosity given as 0..5 or a name (info, debug, ...).

    Raises ValueError for anything else.
    """
    text = str(value).strip().lower()
    if text.isdigit() and int(text) in VERBOSITY_LEVELS:
        return VERBOSITY_LEVELS[int(text)]
    if text in VERBOSITY_NAMES:
        return VERBOSITY_LEVELS[VERBOSITY_NAMES[text]]
    raise ValueError(
        f"invalid verbosity {value!r}; use 0..5 or crit, error, warn, info, debug, trace"
    )


class KeyValueFormatter(logging.Formatter):
    """`2026-01-01T00:00:00.000Z INFO [caplin.node] message key=value`."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (
            f"{timestamp}.{int(record.msecs):03d}Z {record.levelname:<5} [{record.name}] "
            f"{record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg and every key=value field."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        words = message.split(" ")
        text = [w for w in words if "=" not in w]
        entry: dict[str, object] = {
            "t": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "lvl": record.levelname.lower(),
            "logger": record.name,
            "msg": " ".join(text),
        }
        for word in words:
            key, sep, value = word.partition("=")
            if sep and key and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class RepeatFilter(logging.Filter):
    """Let one record per (logger, level, template) through every `interval` seconds; the next
    record that passes carries `repeated=N` with the count of those dropped."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} repeated={last[1]}"
        self._last[key] = (now, 0)
        return True


def setup_logging(
    verbosity: int = logging.INFO,
    *,
    json_console: bool = False,
    dir_path: str | None = None,
    dir_prefix: str = "caplin",
    dir_verbosity: int = logging.DEBUG,
    dir_json: bool = False,
) -> None:
    """Configure the root logger: console on stderr, plus a file `<dir_path>/<prefix>.log`."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    repeat_filter = RepeatFilter()

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(verbosity)
    console.setFormatter(JsonFormatter() if json_console else KeyValueFormatter())
    console.addFilter(repeat_filter)
    root.addHandler(console)
    level = verbosity

    if dir_path:
        directory = Path(dir_path)
        directory.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(directory / f"{dir_prefix}.log")
        file_handler.setLevel(dir_verbosity)
        file_handler.setFormatter(JsonFormatter() if dir_json else KeyValueFormatter())
        file_handler.addFilter(repeat_filter)
        root.addHandler(file_handler)
        level = min(level, dir_verbosity)
    root.setLevel(level)
    # Libraries whose info logs are per request or per connection.
    for noisy in ("hypercorn.access", "hpack", "multipart"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
