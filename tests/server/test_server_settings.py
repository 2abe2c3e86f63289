"""Server settings from the environment, and the loopback rule for PRTRACE_AUTH=off."""

from __future__ import annotations

from pathlib import Path

import pytest

from prtrace_server.errors import ConfigError
from prtrace_server.settings import ServerSettings, check_bind_host, is_loopback, load_settings


def test_defaults_keep_everything_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.auth == "required"
    assert settings.index_url == f"sqlite:///{tmp_path}/prtrace-data/index.db"
    assert settings.blob_url == f"file://{tmp_path}/prtrace-data/objects"


def test_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRTRACE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PRTRACE_AUTH", "OFF")
    monkeypatch.setenv("PRTRACE_STORAGE_URL", "file:///srv/objects")
    settings = load_settings()
    assert settings.auth == "off"
    assert settings.index_url == f"sqlite:///{tmp_path}/elsewhere/index.db"
    assert settings.blob_url == "file:///srv/objects"


def test_database_url_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRTRACE_DATABASE_URL", "postgresql://u:hunter2@db/telemetry")
    assert "hunter2" not in repr(load_settings())


def test_bad_auth_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRTRACE_AUTH", "sometimes")
    with pytest.raises(ConfigError, match="PRTRACE_AUTH"):
        load_settings()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", "localhost.example.com"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_auth_off_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        check_bind_host(ServerSettings(auth="off"), "0.0.0.0")
    check_bind_host(ServerSettings(auth="off"), "127.0.0.1")
    check_bind_host(ServerSettings(auth="required"), "0.0.0.0")
