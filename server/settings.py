"""Server configuration, from the environment (`PRTRACE_*`), in one place."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

__all__ = ["ServerSettings", "check_bind_host", "is_loopback", "load_settings"]


class ServerSettings(BaseSettings):
    """Where the index and the objects live, and whether requests need a token."""

    model_config = SettingsConfigDict(env_prefix="PRTRACE_", env_ignore_empty=True, extra="ignore")

    data_dir: Path = Field(default=Path("prtrace-data"), description="embedded storage folder")
    # URLs may hold a password: kept out of repr.
    database_url: str | None = Field(default=None, repr=False, description="sqlite:///PATH or postgresql://…")
    storage_url: str | None = Field(default=None, repr=False, description="file://PATH or s3://BUCKET[/prefix]")
    auth: Literal["required", "off"] = "required"
    # The compaction queue; unset, the worker hears only of batches its own process takes.
    redis_url: str | None = Field(default=None, repr=False, description="redis://… for the compaction queue")
    redis_stream: str = Field(
        default="prtrace:compaction", min_length=1, description="the Redis stream (one per installation)"
    )
    # An orphan (a batch object no index row points at) is deleted once it is this old: a batch
    # in flight writes its object before its index rows commit.
    orphan_grace_s: float = Field(default=3600.0, gt=0, description="seconds before an orphan is deleted")
    orphan_interval_s: float = Field(default=600.0, gt=0, description="seconds between orphan sweeps")
    # Enables POST /v1/webhooks/github; GitHub signs each delivery with it.
    github_webhook_secret: SecretStr | None = Field(default=None, description="the GitHub webhook's secret")
    # The viewer's session cookie holds an API token: behind a TLS proxy the server itself sees
    # plain http, so `auto` also believes the proxy's X-Forwarded-Proto; `true` for a proxy that
    # does not send it, `false` for plain http on a trusted network only.
    cookie_secure: Literal["auto", "true", "false"] = Field(
        default="auto", description="Secure on the /ui session cookie: auto (https or X-Forwarded-Proto), true, false"
    )

    @field_validator("auth", "cookie_secure", mode="before")
    @classmethod
    def _auth_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def index_url(self) -> str:
        """The index database URL: PRTRACE_DATABASE_URL, else SQLite in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir.resolve()}/index.db"

    @property
    def blob_url(self) -> str:
        """The object store URL: PRTRACE_STORAGE_URL, else a folder in the data dir."""
        return self.storage_url or f"file://{self.data_dir.resolve()}/objects"


def load_settings() -> ServerSettings:
    """Settings from the environment; a bad value is a ConfigError naming the variable."""
    try:
        return ServerSettings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "PRTRACE_" + str(first["loc"][0]).upper() if first["loc"] else "PRTRACE_*"
        raise ConfigError(f"{name}: {first['msg']}") from None


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 — addresses only this machine can reach."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_host(settings: ServerSettings, host: str) -> None:
    """Refuse to serve without authentication anywhere but on loopback."""
    if settings.auth == "off" and not is_loopback(host):
        raise ConfigError(
            f"PRTRACE_AUTH=off is only allowed on a loopback address, not on {host}",
            hint="bind to 127.0.0.1, or set PRTRACE_AUTH=required and create tokens with "
            "`prtrace-server token create`",
        )
