"""The errors leakcheck raises, each carrying the exit code the CLI returns for it.

Hierarchy::

    LeakcheckError            exit 3  (a bug; the CLI shows the traceback)
    ├── UsageError            exit 2  bad option value or combination
    │   └── MissingExtraError         an optional dependency is not installed (also an ImportError)
    ├── InputError            exit 2  the data cannot be read as asked
    │   ├── DataNotFoundError         missing folder or file
    │   ├── LayoutError               no recognisable splits
    │   ├── ManifestError             malformed manifest / array input
    │   ├── ConfigError               bad [tool.leakcheck] / leakcheck.toml key or value
    │   └── BaselineError             unreadable or malformed baseline file
    └── RefusedError          exit 1  findings at the refusal threshold stopped an action (training)

Per-file problems inside a readable dataset (a truncated JPEG, a zero-byte file) are not errors: they
become findings, and the scan goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakcheck.report import Report


class LeakcheckError(Exception):
    """Base class; an instance that is not a subclass below means a bug."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(LeakcheckError):
    """A bad option value or combination of options."""

    exit_code = 2


class InputError(LeakcheckError):
    """The input cannot be read as asked."""

    exit_code = 2


class DataNotFoundError(InputError):
    """A folder or file the user named does not exist or cannot be listed."""


class LayoutError(InputError):
    """The folder does not have the `<split>/<class>/<image>` layout."""


class ManifestError(InputError):
    """A manifest or array input is malformed."""


class ConfigError(InputError):
    """A configuration file that cannot be parsed, or holds an unknown key or a bad value."""


class BaselineError(InputError):
    """A baseline file that is missing, not JSON, or not a leakcheck baseline."""


# --- optional features (leakcheck.keras) ---------------------------------------------------------------
class MissingExtraError(UsageError, ImportError):
    """An optional feature's dependency is missing; the hint names the extra to install."""


class RefusedError(LeakcheckError):
    """leakcheck refused to go on (train) because of findings; `report` holds them."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, report: Report | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report
