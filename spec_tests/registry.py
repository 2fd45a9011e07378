"""Which function runs which runner and handler.

Runner modules in `spec_tests/runners/` register themselves with `register`;
every module there is imported by `load_runners`. A case whose runner or
handler has no registered function is reported as skipped, never as passed.
"""

import importlib
import pkgutil
from collections.abc import Callable

from spec_tests.case import Case

CaseFunction = Callable[[Case], None]

_ALL_HANDLERS = "*"
_registry: dict[tuple[str, str], CaseFunction] = {}
_loaded = False


class CaseNotImplemented(Exception):
    """Raised by a case function for a case it cannot run yet; counted as skipped."""


def register(runner: str, *handlers: str) -> Callable[[CaseFunction], CaseFunction]:
    """Register a function for `runner` and the given handlers (all handlers if none)."""

    def decorate(function: CaseFunction) -> CaseFunction:
        for handler in handlers or (_ALL_HANDLERS,):
            key = (runner, handler)
            if key in _registry and _registry[key] is not function:
                raise RuntimeError(f"runner {runner} handler {handler} registered twice")
            _registry[key] = function
        return function

    return decorate


def lookup(runner: str, handler: str) -> CaseFunction | None:
    load_runners()
    return _registry.get((runner, handler)) or _registry.get((runner, _ALL_HANDLERS))


def has_runner(runner: str) -> bool:
    load_runners()
    return any(key[0] == runner for key in _registry)


def load_runners() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import spec_tests.runners as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
