"""The embedded store is private to the server's user: the data dir 0700, index.db 0600 (and
the SQLite files beside it), whatever the umask and whoever made the folder first."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from prtrace_server.app import create_app
from prtrace_server.settings import ServerSettings
from tests.server.server_helpers import loopback_client, make_batch, note
from tests.support.server import SERVER


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under the umask it is parametrized with."""
    value: int = request.param
    previous = os.umask(value)
    try:
        yield value
    finally:
        os.umask(previous)


def serve_once(settings: ServerSettings) -> None:
    """Open the app on the settings, store one event (so SQLite writes its WAL), close it."""
    with loopback_client(create_app(settings)) as client:
        response = client.post("/v1/batches", json=make_batch("0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10", [note(1, "x")]))
        assert response.status_code == 200, response.text
        data = settings.data_dir
        for name in ("index.db-wal", "index.db-shm"):
            if (data / name).exists():
                assert mode(data / name) == 0o600, name


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002, 0o077], indirect=True, ids=oct)
def test_data_dir_is_0700_and_index_db_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "deep" / "data"
    serve_once(ServerSettings(auth="off", data_dir=data))
    assert mode(data) == 0o700
    assert mode(data / "index.db") == 0o600
    assert (data / "objects").is_dir()


def test_an_existing_open_data_dir_and_index_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o777)
    serve_once(ServerSettings(auth="off", data_dir=data))
    os.chmod(data / "index.db", 0o644)
    serve_once(ServerSettings(auth="off", data_dir=data))
    assert mode(data) == 0o700
    assert mode(data / "index.db") == 0o600


def test_a_database_in_a_folder_of_its_own_choosing_leaves_that_folder_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    data = tmp_path / "data"
    settings = ServerSettings(
        auth="off", data_dir=data, database_url=f"sqlite:///{shared}/index.db", storage_url=f"file://{tmp_path}/objects"
    )
    services = create_app(settings).state.services
    services.index.close()
    services.blobs.close()
    assert mode(shared) == 0o755  # not prtrace's to change
    assert mode(shared / "index.db") == 0o600
    assert mode(tmp_path / "objects") == 0o700  # made by prtrace, so made private
    assert not data.exists()  # the data dir holds nothing here, so it is not made


def test_the_token_command_makes_the_store_private_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PRTRACE_DATA_DIR": str(data)}
    proc = subprocess.run(
        ["sh", "-c", f'umask 000; exec "{SERVER}" token create --user alice'],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert mode(data) == 0o700
    assert mode(data / "index.db") == 0o600
