"""Client settings: environment over `config.toml` over defaults.

`Settings` is what a user sets (a server, a token, patterns, whether the daemon pushes);
`PushTuning` is how pushes pace themselves (tries, waits, batch limits, the daemon's
intervals), from environment variables only: tests and unusual networks shorten them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from prtrace_core.errors import ConfigError

__all__ = ["AUTO_PUSH_ENV", "PushTuning", "Settings", "load_settings", "push_tuning", "save_settings"]

AUTO_PUSH_ENV = "PRTRACE_AUTO_PUSH"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the client needs to talk to a server. The token never appears in repr."""

    server: str | None = None
    token: str | None = field(default=None, repr=False)
    redact_patterns: tuple[str, ...] = ()
    shell_ignore: tuple[str, ...] = ()  # globs: typed commands the shell hooks leave out
    shell_wrap: tuple[str, ...] = ()  # commands the shell hooks send through `prtrace run`
    auto_push: bool = True  # the daemon pushes on its own when a server is set
    auto_push_set_by: str = "default"  # where `auto_push` came from: the variable, config.toml or default


def _read(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def load_settings(path: Path, *, check: bool = True) -> Settings:
    """Read settings; `PRTRACE_SERVER` / `PRTRACE_TOKEN` win over the file.

    `check`: refuse a `redact_patterns` entry that is invalid or too slow here, when the config
    is loaded, rather than during capture. Capture paths pass False and leave such a pattern
    out (`Redactor(skip_invalid=True)`), so a typo never stops a command from running."""
    data = _read(path)
    server = os.environ.get("PRTRACE_SERVER") or data.get("server")
    token = os.environ.get("PRTRACE_TOKEN") or data.get("token")
    lists = {key: data.get(key, []) for key in ("redact_patterns", "shell_ignore", "shell_wrap")}
    if server is not None and not isinstance(server, str):
        raise ConfigError(f"{path}: `server` must be a string")
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"{path}: `token` must be a string")
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: `{key}` must be a list of strings")
    auto_push, set_by = _auto_push(path, data, strict=check)
    if check:
        from prtrace_core.redact import BadPattern, check_patterns

        try:
            check_patterns(lists["redact_patterns"])  # type: ignore[arg-type]
        except BadPattern as exc:
            raise ConfigError(f"{path}: {exc}", hint=exc.hint) from exc
    return Settings(
        server=server.rstrip("/") if server else None,
        token=token,
        auto_push=auto_push,
        auto_push_set_by=set_by,
        **{key: tuple(value) for key, value in lists.items()},  # type: ignore[arg-type]
    )


def _auto_push(path: Path, data: dict[str, object], *, strict: bool) -> tuple[bool, str]:
    """Whether the daemon pushes by itself, and what said so: PRTRACE_AUTO_PUSH over
    `auto_push` in config.toml over on. A value that is neither is an error when `strict`;
    otherwise (the daemon) it counts as off: whoever set it meant to change something."""
    raw = os.environ.get(AUTO_PUSH_ENV, "").strip()
    if raw.lower() in _TRUE or raw.lower() in _FALSE:
        return raw.lower() in _TRUE, f"{AUTO_PUSH_ENV}={raw}"
    if raw:
        if strict:
            raise ConfigError(f"{AUTO_PUSH_ENV} must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}")
        return False, f"{AUTO_PUSH_ENV}={raw} (not understood)"
    value = data.get("auto_push")
    if value is None:
        return True, "default"
    if not isinstance(value, bool):
        if strict:
            raise ConfigError(f"{path}: `auto_push` must be true or false")
        return False, "auto_push in config.toml (not understood)"
    return value, f"auto_push = {'true' if value else 'false'} in config.toml"


@dataclass(frozen=True, slots=True)
class PushTuning:
    """How pushes pace themselves. Each field has its environment variable (in `_TUNING`)."""

    attempts: int = 6  # tries per request while the server is unreachable or busy
    retry_s: float = 0.5  # the first wait between tries; it doubles, up to 30 s
    batch_events: int = 1000  # events per batch (the server takes at most 1,000)
    batch_bytes: int = 1024 * 1024  # JSON bytes per batch before gzip
    interval_s: float = 300.0  # the daemon pushes this often while events wait
    backoff_s: float = 30.0  # the daemon's first wait after a push failed; it doubles
    backoff_max_s: float = 900.0  # ... up to this


# field -> (variable, smallest allowed, largest allowed)
_TUNING: dict[str, tuple[str, float, float]] = {
    "attempts": ("PRTRACE_PUSH_ATTEMPTS", 1, 1000),
    "retry_s": ("PRTRACE_PUSH_RETRY_S", 0.0, 60.0),
    "batch_events": ("PRTRACE_PUSH_BATCH_EVENTS", 1, 1000),
    "batch_bytes": ("PRTRACE_PUSH_BATCH_BYTES", 1024, 1024 * 1024),
    "interval_s": ("PRTRACE_AUTO_PUSH_INTERVAL_S", 0.1, 86400.0),
    "backoff_s": ("PRTRACE_AUTO_PUSH_BACKOFF_S", 0.05, 86400.0),
    "backoff_max_s": ("PRTRACE_AUTO_PUSH_BACKOFF_MAX_S", 0.05, 86400.0),
}


def push_tuning() -> PushTuning:
    """PushTuning from the environment; ConfigError for a value that is not a number in range
    (batch limits may only be lowered: the server refuses more)."""
    defaults = PushTuning()
    values: dict[str, float | int] = {}
    for name, (variable, low, high) in _TUNING.items():
        raw = os.environ.get(variable, "").strip()
        if not raw:
            continue
        whole = isinstance(getattr(defaults, name), int)
        try:
            number: float | int = int(raw) if whole else float(raw)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:  # NaN fails too
            kind = "a whole number" if whole else "a number of seconds"
            raise ConfigError(f"{variable} must be {kind} from {low:g} to {high:g}, not {raw!r}")
        values[name] = number
    tuning = PushTuning(**values)  # type: ignore[arg-type]
    if tuning.backoff_max_s < tuning.backoff_s:
        raise ConfigError("PRTRACE_AUTO_PUSH_BACKOFF_MAX_S must not be below PRTRACE_AUTO_PUSH_BACKOFF_S")
    return tuning


def save_settings(path: Path, **values: str | None) -> None:
    """Set (or, with None, remove) top-level keys in config.toml, keeping the user's other keys,
    comments and order; written 0600 and atomically (it may hold a token)."""
    import tomlkit  # only writes need it: reads stay on tomllib, off `note`'s start-up
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    for key, new in values.items():
        if new is None:
            document.pop(key, None)
        else:
            document[key] = new
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)  # a leftover .tmp keeps its mode through O_CREAT
        fh.write(tomlkit.dumps(document))
        fh.flush()
        os.fsync(fd)
    os.replace(tmp, path)
