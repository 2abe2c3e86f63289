"""The seed's run guide, step for step, against `scripts/stack` (its stand-in for Docker)."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.stack import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _printed(pattern: str, log: Path, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> re.Match[str]:
    """The first match of `pattern` in the stack's output, once the stack has printed it."""

    def search() -> re.Match[str] | None:
        text = log.read_text(errors="replace")
        match = re.search(pattern, text)
        assert match or proc.poll() is None, f"the stack exited:\n{text}"
        return match

    return wait_for(
        search, lambda: f"{pattern!r} in the stack's output:\n{log.read_text(errors='replace')}", timeout_s, 0.2
    )


def test_run_guide_steps_hold_against_the_stack(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        stack = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "stack.py"), "--dir", str(tmp_path / "stack"), "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PRTRACE_AUTH": "off"},
        )
    try:
        psql = _printed(r"(\S+/psql -h 127\.0\.0\.1 -p \d+ -U postgres -d telemetry)", log, stack).group(1)
        endpoint = _printed(r"S3 \(SeaweedFS\)\s+(http://127\.0\.0\.1:\d+)", log, stack).group(1)
        url = f"http://127.0.0.1:{port}"
        sample = json.loads((ROOT / "tests" / "fixtures" / "sample_batch.json").read_text())

        # 2. Post a sample telemetry batch
        first = httpx.post(f"{url}/ingest", json=sample, timeout=30).json()
        assert len(first["accepted_event_ids"]) == len(sample["events"]) and first["rejected"] == []

        # 3. Validate data: PostgreSQL, with the psql line the stack printed
        traces = subprocess.run([*psql.split(), "-c", "SELECT * FROM traces;"], capture_output=True, text=True, check=True)
        assert sample["trace_id"] in traces.stdout
        count = subprocess.run([*psql.split(), "-At", "-c", "SELECT COUNT(*) FROM events_index;"],
                               capture_output=True, text=True, check=True)
        assert count.stdout.strip() == str(len(sample["events"]))

        # ... and the trace's raw/<trace_id>.ndjson in bucket `traces`
        import boto3
        from botocore.config import Config

        from tests.support.stack import S3_ACCESS_KEY, S3_SECRET_KEY

        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                          aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))

        def compacted() -> bytes | None:
            try:
                body: bytes = s3.get_object(Bucket="traces", Key=f"raw/{sample['trace_id']}.ndjson")["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None
            return body if len(body.splitlines()) == len(sample["events"]) else None

        body = wait_for(compacted, "the compacted object", 30, 0.2)
        assert [json.loads(line)["seq"] for line in body.splitlines()] == [e["seq"] for e in sample["events"]]
        s3.close()

        # 4. Validate deduplication: the same batch accepts 0; one changed field accepts 1
        again = httpx.post(f"{url}/ingest", json=sample, timeout=30).json()
        assert len(again["accepted_event_ids"]) == 0
        changed = copy.deepcopy(sample)
        commit = next(e for e in changed["events"] if e["type"] == "commit")
        commit["payload"]["files_changed"] += 1
        assert len(httpx.post(f"{url}/ingest", json=changed, timeout=30).json()["accepted_event_ids"]) == 1
    finally:
        stack.send_signal(signal.SIGINT)
        code = stack.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert code == 0 and "stopped" in text and "Traceback" not in text, text
    with socket.socket() as sock:  # everything stopped: the server's port is free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0
