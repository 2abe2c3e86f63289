"""Fixtures for the server tests: an app on a temporary data dir, the sample batch, tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import TestClient, index_of, load_sample

from prtrace_server.app import create_app
from prtrace_server.index import Role
from prtrace_server.settings import ServerSettings
from prtrace_server.tokens import issue_token


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No setting leaks in from the environment, and a default ./prtrace-data lands in tmp.
    for name in [name for name in os.environ if name.startswith("PRTRACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sample_batch() -> dict[str, Any]:
    """A fresh copy of the run guide's sample batch."""
    return load_sample()


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", auth="off")


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app that requires tokens."""
    settings = ServerSettings(data_dir=tmp_path / "data", auth="required")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def token_for(auth_client: TestClient) -> Callable[..., dict[str, str]]:
    """Headers carrying a fresh token for a user and role."""

    def make(user: str, role: Role = "writer") -> dict[str, str]:
        _, token = issue_token(index_of(auth_client), user=user, role=role)
        return {"Authorization": f"Bearer {token}"}

    return make
