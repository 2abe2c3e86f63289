"""`scripts/stack`: PostgreSQL, S3 (SeaweedFS), Redis and prtrace-server on this machine, no
Docker, until Ctrl-C: the stand-in for infra/docker-compose.yml.

Development tooling, kept out of the installed package with the services it starts
(tests/support/stack.py) and their fixed development credentials."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository root is what `tests.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess
from tests.support.stack import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    LocalRedis,
    LocalS3,
    free_port,
    start_postgres,
    start_redis,
)


def _port_or_free(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def run_stack(root: Path, *, server_port: int = 8000, fresh: bool = False) -> int:
    """`scripts/stack`: PostgreSQL, S3, Redis and prtrace-server on this machine until Ctrl-C."""
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    say = print
    pg = start_postgres(root / "pgdata", _port_or_free(5432))
    s3: LocalS3 | None = None
    redis: LocalRedis | None = None
    server: ServerProcess | None = None
    try:
        pg.create_database("telemetry")
        s3 = LocalS3(root / "s3", _port_or_free(8333))
        s3.start()
        s3.create_bucket("traces")
        redis = start_redis(root / "redis", _port_or_free(6379))
        env = {
            **os.environ,
            "PRTRACE_DATABASE_URL": pg.url("telemetry"),
            "PRTRACE_STORAGE_URL": "s3://traces",
            "PRTRACE_AUTH": os.environ.get("PRTRACE_AUTH", "off"),
            "AWS_ENDPOINT_URL": s3.endpoint,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "PRTRACE_REDIS_URL": redis.url(),
        }
        # its request log stays in this terminal, as `prtrace-server serve` run by hand would show it
        server = ServerProcess(env, None, port=server_port).start(timeout_s=60)
        filer = s3.ports["filer"]
        say(
            f"""
prtrace stack is up (data in {root}); Ctrl-C stops everything.

  prtrace-server  http://127.0.0.1:{server_port}   (PRTRACE_AUTH={env['PRTRACE_AUTH']}; OpenAPI at /docs)
  PostgreSQL      {pg.url('telemetry')}
                  {pg.psql_command('telemetry')} -c "SELECT * FROM traces;"
  S3 (SeaweedFS)  {s3.endpoint}   bucket: traces
                  access key: {S3_ACCESS_KEY}   secret key: {S3_SECRET_KEY}
                  browse: http://127.0.0.1:{filer}/buckets/traces/raw/
  Redis           {redis.url()}   (compaction queue: stream prtrace:compaction)

  Use it:  curl -s localhost:{server_port}/ingest -H "Content-Type: application/json" -d @tests/fixtures/sample_batch.json
           prtrace push --server http://127.0.0.1:{server_port}
  Server settings for other processes (e.g. `prtrace-server worker`, token commands):
           export PRTRACE_DATABASE_URL='{pg.url('telemetry')}' PRTRACE_STORAGE_URL=s3://traces \\
                  AWS_ENDPOINT_URL={s3.endpoint} AWS_ACCESS_KEY_ID={S3_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={S3_SECRET_KEY} AWS_REGION=us-east-1 \\
                  PRTRACE_REDIS_URL={redis.url()}
""",
            flush=True,
        )
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        assert server.process is not None
        try:
            while not stop and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return 0 if server.process.poll() in (None, 0) else 1
    finally:
        say("stopping …", flush=True)
        if server is not None:
            server.stop(timeout_s=15)
        if redis is not None:
            redis.stop()
        if s3 is not None:
            s3.stop()
        pg.stop()
        say("stopped", flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/stack", description=run_stack.__doc__)
    parser.add_argument("--dir", type=Path, default=Path(".stack"), help="where the services keep their data")
    parser.add_argument("--port", type=int, default=8000, help="prtrace-server's port")
    parser.add_argument("--fresh", action="store_true", help="start from empty storage")
    options = parser.parse_args()
    try:
        sys.exit(run_stack(options.dir.absolute(), server_port=options.port, fresh=options.fresh))
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:  # ServerStartError too
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
