"""Settings from `[tool.leakcheck]` in pyproject.toml or a leakcheck.toml, merged with command-line flags.

Discovery works like ruff's: starting at the scanned folder and walking up to the filesystem root, the
first folder holding a `leakcheck.toml`, or a `pyproject.toml` with a `[tool.leakcheck]` table, wins
(`leakcheck.toml` first when a folder has both). Nothing is merged across files.

Precedence, lowest first: built-in defaults, the config file, command-line flags. `skip` and `ignore`
given on the command line add to the file's lists; `severity` entries override the file's per check.
`sensitivity` names the near-duplicate detector's setting (leakcheck.near.sensitivity); `phash-distance`
and `dhash-distance` stay expert knobs beside it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from leakcheck.checks import DEFAULT_CHECKS, Check
from leakcheck.errors import ConfigError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS
from leakcheck.index import NearMethod
from leakcheck.model import Severity
from leakcheck.near.semantic import DEFAULT_MIN_SIMILARITY
from leakcheck.near.sensitivity import SENSITIVITIES
from leakcheck.progress import ProgressStart
from leakcheck.report import FailOn, Report
from leakcheck.scanning import scan
from leakcheck.sources.ignores import check_pattern
from leakcheck.splits import DEFAULT_ALIASES, canonical_split

CONFIG_NAMES = ("leakcheck.toml", "pyproject.toml")
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in DEFAULT_CHECKS)
FAIL_ON: tuple[FailOn, ...] = ("error", "warning", "never")

Origin = Literal["default", "config", "cli"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The effective settings of a run, with where each came from (`origins`: default, config or cli)."""

    sensitivity: str = "default"
    near: bool = True
    phash_distance: int | None = None
    dhash_distance: int = 14
    max_pixels: int = DEFAULT_MAX_PIXELS
    jobs: int | None = None
    fail_on: FailOn = "error"
    skip: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    baseline: Path | None = None
    config_file: Path | None = None
    origins: Mapping[str, Origin] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, got {self.sensitivity!r}")
        if self.fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, got {self.fail_on!r}")
        for check in (*self.skip, *self.severity):
            _known_check(check)
        object.__setattr__(self, "severity", MappingProxyType(dict(self.severity)))
        object.__setattr__(self, "splits", MappingProxyType(dict(self.splits)))
        object.__setattr__(self, "origins", MappingProxyType(dict(self.origins)))

    def checks(self) -> tuple[Check, ...]:
        """The default checks less those skipped."""
        return tuple(c for c in DEFAULT_CHECKS if c.id not in self.skip)

    def split_aliases(self) -> dict[str, tuple[str, ...]]:
        """The built-in split spellings extended by the configured ones."""
        merged = {name: tuple(spellings) for name, spellings in DEFAULT_ALIASES.items()}
        for name, extra in self.splits.items():
            # Split names are case-insensitive: 'Val' extends the built-in 'val', not a split of its own.
            name = canonical_split(name, merged) or name
            merged[name] = tuple(dict.fromkeys((*merged.get(name, (name,)), *extra)))
        return merged

    def to_parameters(self, data_root: Path) -> dict[str, Any]:
        """The settings as the report records them; file paths relative to the data root (POSIX). Not
        `jobs`: the number of workers changes no result, and the report must not change with it."""
        values: dict[str, Any] = {
            "sensitivity": self.sensitivity,
            "near": self.near,
            "phash-distance": self.phash_distance,
            "dhash-distance": self.dhash_distance,
            "max-pixels": self.max_pixels,
            "fail-on": self.fail_on,
            "skip": list(self.skip),
            "ignore": list(self.ignore),
            "severity": {k: str(v) for k, v in sorted(self.severity.items())},
            "splits": {k: list(v) for k, v in sorted(self.splits.items())},
            "baseline": _relative(self.baseline, data_root),
        }
        return {
            "file": _relative(self.config_file, data_root),
            "values": values,
            "origins": {key: self.origins.get(key, "default") for key in values},
        }


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def find_config(start: str | os.PathLike[str]) -> Path | None:
    """The nearest config file at or above `start`: a leakcheck.toml, or a pyproject.toml that has a
    [tool.leakcheck] table.

    The folders above `start` as it is written come first (a data folder that is a link into another
    disk still takes the config of the repository that holds the link), then those above the folder the
    link points to."""
    given = Path(os.path.abspath(start))
    try:
        resolved = given.resolve()
    except (OSError, RuntimeError):  # a link loop: the scan itself says what is wrong with the path
        return None
    seen: set[Path] = set()
    for path in (given, resolved):
        folder = path if _is(path, Path.is_dir) else path.parent
        for candidate in (folder, *folder.parents):
            if candidate in seen:
                continue
            seen.add(candidate)
            own = candidate / "leakcheck.toml"
            if _is(own, Path.is_file):
                return own
            pyproject = candidate / "pyproject.toml"
            if _is(pyproject, Path.is_file) and _tool_table(_read_toml(pyproject)) is not None:
                return pyproject
    return None


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """`test(path)`, False where the path cannot be examined (a folder on the way that is not readable)."""
    try:
        return test(path)
    except OSError:
        return False


def _tool_table(pyproject: Mapping[str, Any]) -> Any:
    """pyproject's [tool.leakcheck] value, or None when there is none."""
    tool = pyproject.get("tool")
    return tool.get("leakcheck") if isinstance(tool, dict) else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", hint="fix the syntax") from None
    except RecursionError:  # (tomllib parses nested arrays and inline tables recursively)
        raise ConfigError(f"{path}: not valid TOML (arrays or tables nested too deeply)", hint="nest less") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})", hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated values of a config file, keyed by Settings field name.

    A pyproject.toml contributes its [tool.leakcheck] table (none: no values); any other file its top level.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key or bad value (the message names file and key).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such config file", hint="check the --config path")
    data = _read_toml(file)
    if file.name == "pyproject.toml":
        found = _tool_table(data)
        table, prefix = {} if found is None else found, "tool.leakcheck."
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: 'tool.leakcheck' must be a table", hint="write it as [tool.leakcheck]")
    else:
        table, prefix = data, ""
    values: dict[str, Any] = {}
    for key, raw in table.items():
        spec = _KEYS.get(key)
        if spec is None:
            close = difflib.get_close_matches(key.replace("_", "-"), list(_KEYS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(sorted(_KEYS))
            if not prefix and key == "tool" and isinstance(raw, dict) and "leakcheck" in raw:
                hint = (f"{file.name} holds the keys at its top level, without a [tool.leakcheck] header (that "
                        "header belongs in pyproject.toml): remove the header line")  # fmt: skip
            raise ConfigError(f"{file}: unknown key '{prefix}{key}'", hint=hint)
        name, parse = spec
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{file}: bad value for '{prefix}{key}': {exc}") from None
    if "baseline" in values:
        values["baseline"] = (file.parent / values["baseline"]).resolve()
    return values


# --- value parsers: each raises ValueError with the reason -------------------------------------------


def _int_between(low: int, high: int | None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"expected an integer, got {raw!r}")
        if raw < low or (high is not None and raw > high):
            raise ValueError(f"must be between {low} and {high}, got {raw}" if high else f"must be >= {low}, got {raw}")
        return raw

    return parse


def _bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"expected true or false, got {raw!r}")
    return raw


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return cast(str, raw)

    return parse


def _strings(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"expected a list of strings, got {raw!r}")
    return tuple(raw)


def _check_ids(raw: Any) -> tuple[str, ...]:
    ids = _strings(raw)
    for check in ids:
        _known_check(check)
    return tuple(dict.fromkeys(ids))


def _known_check(check: str) -> None:
    if check not in CHECK_IDS:
        raise ValueError(f"unknown check {check!r}; checks are {', '.join(CHECK_IDS)}")


def _globs(raw: Any) -> tuple[str, ...]:
    patterns = _strings(raw)
    for pattern in patterns:
        problem = check_pattern(pattern)
        if problem:
            raise ValueError(f"{pattern!r}: {problem}")
    return patterns


def _severities(raw: Any) -> dict[str, Severity]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a table of check = severity, got {raw!r}")
    out: dict[str, Severity] = {}
    for check, level in raw.items():
        _known_check(check)
        if not isinstance(level, str):
            raise ValueError(f"{check}: expected error, warning or info, got {level!r}")
        try:
            out[check] = Severity.parse(level)
        except ValueError as exc:
            raise ValueError(f"{check}: {exc}") from None
    return out


def _split_aliases(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a table of split = [folder names], got {raw!r}")
    owner: dict[str, str] = {}
    for name, spellings in DEFAULT_ALIASES.items():
        for s in (name, *spellings):
            owner[s.casefold()] = name
    out: dict[str, tuple[str, ...]] = {}
    for name, spellings in raw.items():
        if "/" in name or not name.strip():
            raise ValueError(f"{name!r} is not a split name")
        try:
            names = _strings(spellings)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        for s in names:
            if "/" in s or not s.strip():
                raise ValueError(f"{name}: {s!r} is not a folder name")
            claimed = owner.get(s.casefold())
            if claimed is not None and claimed != name:
                raise ValueError(f"{s!r} already names the split {claimed!r}")
            owner[s.casefold()] = name
        out[name] = names
    return out


def _path(raw: Any) -> Path:
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"expected a file path, got {raw!r}")
    return Path(raw)


# kebab-case key -> (Settings field, parser)
_KEYS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "sensitivity": ("sensitivity", _choice(tuple(SENSITIVITIES))),
    "near": ("near", _bool),
    "phash-distance": ("phash_distance", _int_between(0, 64)),
    "dhash-distance": ("dhash_distance", _int_between(0, 64)),
    "max-pixels": ("max_pixels", _int_between(1, None)),
    "jobs": ("jobs", _int_between(1, None)),
    "fail-on": ("fail_on", _choice(FAIL_ON)),
    "skip": ("skip", _check_ids),
    "ignore": ("ignore", _globs),
    "severity": ("severity", _severities),
    "splits": ("splits", _split_aliases),
    "baseline": ("baseline", _path),
}
_FIELD_KEYS = {name: key for key, (name, _) in _KEYS.items()}


def parse_severity_flag(text: str) -> tuple[str, Severity]:
    """`CHECK=LEVEL` from the command line, validated like the config's [severity] table."""
    check, sep, level = text.partition("=")
    if not sep:
        raise ValueError(f"expected CHECK=LEVEL, got {text!r}")
    ((name, severity),) = _severities({check.strip(): level.strip()}).items()
    return name, severity


def resolve_settings(config: Mapping[str, Any], cli: Mapping[str, Any], *, config_file: Path | None = None) -> Settings:
    """Merge defaults, config values and command-line values (both keyed by Settings field; None = not given)."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for name in _FIELD_KEYS:
        from_config: Any = config.get(name)
        from_cli: Any = cli.get(name)
        if isinstance(from_cli, (tuple, list, dict)) and not from_cli:
            from_cli = None  # an empty list from a repeatable flag means the flag was not given
        if name in ("skip", "ignore") and from_cli:
            values[name] = tuple(dict.fromkeys((*(from_config or ()), *from_cli)))
        elif name == "severity" and from_cli:
            values[name] = {**(from_config or {}), **from_cli}
        elif from_cli is not None:
            values[name] = from_cli
        elif from_config is not None:
            values[name] = from_config
        else:
            continue
        origins[_FIELD_KEYS[name]] = "cli" if from_cli is not None else "config"
    return Settings(**values, config_file=config_file, origins=origins)


def load_settings(
    data: str | os.PathLike[str],
    *,
    cli: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    discover: bool = True,
) -> Settings:
    """The effective settings for scanning `data`: the named config file, else the discovered one (unless
    `discover` is false), overridden by `cli` values."""
    path = Path(config_file) if config_file is not None else (find_config(data) if discover else None)
    config = read_config(path) if path is not None else {}
    return resolve_settings(config, cli or {}, config_file=path.resolve() if path is not None else None)


def apply_severity(report: Report, overrides: Mapping[str, Severity]) -> Report:
    """The report with each overridden check's findings at the configured severity: the one place where
    configuration changes the evidence's weight."""
    if not overrides:
        return report
    findings = tuple(
        dataclasses.replace(f, severity=overrides[f.check]) if f.check in overrides else f for f in report.findings
    )
    return dataclasses.replace(report, findings=findings)


def scan_with_settings(
    path: str | os.PathLike[str],
    settings: Settings,
    *,
    progress: ProgressStart | None = None,
    group_pattern: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    min_score: float | None = None,
    near_method: NearMethod = "verified",
    semantic: str | os.PathLike[str] | None = None,
    semantic_min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> Report:
    """`scan` as configured: sensitivity, thresholds, skipped checks, split aliases, ignore globs, severity
    overrides; the effective settings are recorded in `report.parameters["config"]`. The keyword
    arguments after `progress` are passed to `scan` as they are."""
    report = scan(
        path,
        near=settings.near,
        sensitivity=settings.sensitivity,
        min_score=min_score,
        near_method=near_method,
        semantic=semantic,
        semantic_min_similarity=semantic_min_similarity,
        phash_distance=settings.phash_distance,
        dhash_distance=settings.dhash_distance,
        max_pixels=settings.max_pixels,
        jobs=settings.jobs,
        checks=settings.checks(),
        split_aliases=settings.split_aliases(),
        ignore=settings.ignore,
        progress=progress,
        group_pattern=group_pattern,
        data_dir=data_dir,
        cache=cache,
        cache_dir=cache_dir,
    )
    report = apply_severity(report, settings.severity)
    parameters = {**report.parameters, "config": settings.to_parameters(Path(path))}
    return dataclasses.replace(report, parameters=parameters)
