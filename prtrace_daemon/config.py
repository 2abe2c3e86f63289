"""Client settings: environment over `config.toml` over defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from prtrace_daemon.errors import ConfigError

__all__ = ["Settings", "load_settings", "save_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """What the client needs to talk to a server. The token never appears in repr."""

    server: str | None = None
    token: str | None = field(default=None, repr=False)
    redact_patterns: tuple[str, ...] = ()
    shell_ignore: tuple[str, ...] = ()  # globs: typed commands the shell hooks leave out
    shell_wrap: tuple[str, ...] = ()  # commands the shell hooks send through `prtrace run`


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
    if check:
        from prtrace_core.redact import BadPattern, check_patterns

        try:
            check_patterns(lists["redact_patterns"])  # type: ignore[arg-type]
        except BadPattern as exc:
            raise ConfigError(f"{path}: {exc}", hint=exc.hint) from exc
    return Settings(
        server=server.rstrip("/") if server else None,
        token=token,
        **{key: tuple(value) for key, value in lists.items()},  # type: ignore[arg-type]
    )


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def save_settings(path: Path, **values: str | None) -> None:
    """Update keys in config.toml, written 0600 and atomically (it may hold a token)."""
    data = _read(path)
    for key, new in values.items():
        if new is None:
            data.pop(key, None)
        else:
            data[key] = new
    lines = []
    for key, value in data.items():
        if isinstance(value, str):
            lines.append(f"{key} = {_toml_string(value)}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_toml_string(str(v)) for v in value)}]")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
