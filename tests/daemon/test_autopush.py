"""The daemon pushes by itself: after a commit, while events wait, and through an outage of the
server, quietly (one log line when it goes, one when it is back), with every event stored once.

Real processes: the `prtrace` daemon started by `prtrace start`, a real `prtrace-server` that
is stopped and started again on the same port and data. The settings that steer it are
checked on their own first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prtrace_daemon.buffer import Buffer
from tests.cli.test_push_faults import server_events
from tests.conftest import git, run_prtrace
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for

OFFLINE = "is unreachable"
BACK = "is reachable again"


def trace_of(home: Path, repo: Path) -> tuple[str, int, dict[str, int]]:
    """(trace id, last seq, counts by state) of the repo's `main` trace."""
    with Buffer(home / "buffer.db") as buffer:
        trace = buffer.trace_for(str(repo), "main")
        assert trace is not None
        return trace.trace_id, trace.last_seq, buffer.trace_counts(trace.trace_id)


def states(home: Path, trace_id: str) -> set[tuple[str, str]]:
    """(type, state) of the trace's events in the buffer."""
    with Buffer(home / "buffer.db") as buffer:
        return {(e["type"], e["state"]) for e in buffer.events(trace_id)}


def on_server(url: str, trace_id: str) -> list[int]:
    try:
        response = httpx.get(f"{url}/v1/traces/{trace_id}", timeout=10)
    except httpx.TransportError:
        return []
    return [e["seq"] for e in response.json()["events"]] if response.status_code == 200 else []


def auto_push_state(home: Path) -> dict[str, Any]:
    try:
        state = json.loads((home / "push.json").read_text())
    except (OSError, ValueError):
        return {}
    seen = state.get("auto_push")
    return seen if isinstance(seen, dict) else {}


def log_lines(home: Path, words: str) -> list[str]:
    return [line for line in (home / "daemon.log").read_text().splitlines() if words in line]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"PRTRACE_AUTH": "off", "PRTRACE_DATA_DIR": str(tmp_path / "server-data")}
    live = ServerProcess(env, tmp_path / "server.log").start()
    try:
        yield live
    finally:
        live.stop()


def quick(monkeypatch: pytest.MonkeyPatch, server: ServerProcess, **more: str) -> None:
    """The daemon's environment (it inherits `prtrace start`'s): this server, short waits."""
    for key, value in {
        "PRTRACE_SERVER": server.url,
        "PRTRACE_PUSH_ATTEMPTS": "2",
        "PRTRACE_PUSH_RETRY_S": "0.05",
        "PRTRACE_AUTO_PUSH_BACKOFF_S": "0.3",
        "PRTRACE_AUTO_PUSH_BACKOFF_MAX_S": "1",
        **more,
    }.items():
        monkeypatch.setenv(key, value)


# the settings


def test_auto_push_is_on_by_default_and_the_variable_wins_over_config_toml(
    prtrace_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prtrace_daemon.config import load_settings

    config = prtrace_home / "config.toml"
    assert (load_settings(config).auto_push, load_settings(config).auto_push_set_by) == (True, "default")
    config.write_text("auto_push = false\n")
    assert (load_settings(config).auto_push, load_settings(config).auto_push_set_by) == (
        False, "auto_push = false in config.toml"
    )
    monkeypatch.setenv("PRTRACE_AUTO_PUSH", "yes")
    assert (load_settings(config).auto_push, load_settings(config).auto_push_set_by) == (True, "PRTRACE_AUTO_PUSH=yes")


@pytest.mark.parametrize(("config", "env"), [("auto_push = \"no\"\n", ""), ("", "sometimes")])
def test_an_auto_push_value_that_is_not_a_yes_or_no_is_refused(
    prtrace_home: Path, monkeypatch: pytest.MonkeyPatch, config: str, env: str
) -> None:
    from prtrace_core.errors import ConfigError
    from prtrace_daemon.config import load_settings

    (prtrace_home / "config.toml").write_text(config)
    if env:
        monkeypatch.setenv("PRTRACE_AUTO_PUSH", env)
    with pytest.raises(ConfigError, match=r"auto_push|PRTRACE_AUTO_PUSH"):
        load_settings(prtrace_home / "config.toml")
    # The daemon does not stop over it: it takes it as off.
    assert load_settings(prtrace_home / "config.toml", check=False).auto_push is False


def test_login_keeps_auto_push_false(prtrace_home: Path) -> None:
    from prtrace_daemon.config import load_settings, save_settings

    config = prtrace_home / "config.toml"
    config.write_text('auto_push = false\nredact_patterns = ["x"]\n')
    save_settings(config, server="https://prtrace.example.com", token="t0ken")
    settings = load_settings(config)
    assert settings.auto_push is False and settings.server == "https://prtrace.example.com"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PRTRACE_PUSH_ATTEMPTS", "0"), ("PRTRACE_PUSH_ATTEMPTS", "two"), ("PRTRACE_PUSH_BATCH_EVENTS", "5000"),
     ("PRTRACE_AUTO_PUSH_INTERVAL_S", "nan"), ("PRTRACE_PUSH_RETRY_S", "-1")],
)
def test_a_bad_pace_is_one_clear_error(repo: Path, prtrace_home: Path, variable: str, value: str) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    result = run_prtrace("push", "--server", "http://127.0.0.1:9", cwd=repo, env={variable: value})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {variable} must be ") and repr(value) in result.stderr


def test_the_pace_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from prtrace_daemon.config import PushTuning, push_tuning

    assert push_tuning() == PushTuning()
    monkeypatch.setenv("PRTRACE_PUSH_BATCH_EVENTS", "100")
    monkeypatch.setenv("PRTRACE_AUTO_PUSH_INTERVAL_S", "0.5")
    tuning = push_tuning()
    assert (tuning.batch_events, tuning.interval_s, tuning.attempts) == (100, 0.5, 6)


# the daemon


@pytest.mark.e2e
def test_the_daemon_pushes_through_an_outage_logging_only_when_it_goes_and_returns(
    repo: Path, prtrace_home: Path, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long interval: what is pushed here is pushed by a commit, or by the retries after one.
    quick(monkeypatch, server, PRTRACE_AUTO_PUSH_INTERVAL_S="3600")
    run_prtrace("start", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    git(repo, "commit", "-qam", "swap")
    trace_id, _, _ = trace_of(prtrace_home, repo)
    wait_for(lambda: trace_of(prtrace_home, repo)[2]["pending"] == 0 and trace_of(prtrace_home, repo)[1] >= 3,
             timeout_s=60, what="the commit pushed by the daemon")
    assert "commit" in [e["type"] for e in server_events(server.url, trace_id)]

    server.stop()  # the server goes away
    run_prtrace("note", "offline work", cwd=repo, check=True)
    git(repo, "commit", "-q", "--allow-empty", "-m", "while offline")
    wait_for(lambda: log_lines(prtrace_home, OFFLINE), timeout_s=60, what="the offline line")
    # Capture goes on while the pusher backs off: an edit is recorded as ever.
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    wait_for(lambda: ("edit", "pending") in states(prtrace_home, trace_id), timeout_s=60, what="the edit")
    # Several tries fail while it is away (each sets a new time for the next), one line in all.
    tries: set[str] = set()

    def three_tries() -> bool:
        at = auto_push_state(prtrace_home).get("next_try_at")
        if at:
            tries.add(at)
        return len(tries) >= 3

    wait_for(three_tries, timeout_s=60, what="three tries while offline")
    status = run_prtrace("status", cwd=repo, check=True).stdout
    assert "server unreachable since" in status and "the daemon tries again at" in status

    server.start()  # back, on the same port and data
    wait_for(lambda: trace_of(prtrace_home, repo)[2]["pending"] == 0, timeout_s=60, what="everything pushed after the outage")
    _, last_seq, counts = trace_of(prtrace_home, repo)
    assert counts == {"pending": 0, "acked": last_seq, "rejected": 0}
    events = server_events(server.url, trace_id)
    assert [e["seq"] for e in events] == list(range(1, last_seq + 1))
    assert len({e["event_id"] for e in events}) == last_seq
    assert [e["payload"].get("message") for e in events if e["type"] == "commit"] == ["swap", "while offline"]

    assert len(log_lines(prtrace_home, OFFLINE)) == 1
    assert len(log_lines(prtrace_home, BACK)) == 1
    status = run_prtrace("status", cwd=repo, check=True).stdout
    assert "auto-push: on" in status and "by the daemon" in status and "unreachable" not in status


@pytest.mark.e2e
def test_events_that_wait_are_pushed_every_interval_without_a_commit(
    repo: Path, prtrace_home: Path, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick(monkeypatch, server, PRTRACE_AUTO_PUSH_INTERVAL_S="0.5")
    run_prtrace("start", cwd=repo, check=True)
    run_prtrace("note", "no commit here", cwd=repo, check=True)
    trace_id, _, _ = trace_of(prtrace_home, repo)
    wait_for(lambda: len(on_server(server.url, trace_id)) >= 2, timeout_s=60, what="the periodic push")
    assert [e["type"] for e in server_events(server.url, trace_id)][:2] == ["start", "annotation"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("how", "said"),
    [("config", "auto_push = false in config.toml"), ("env", "PRTRACE_AUTO_PUSH=0")],
)
def test_auto_push_turned_off_pushes_nothing_and_status_says_what_turned_it_off(
    repo: Path, prtrace_home: Path, server: ServerProcess, monkeypatch: pytest.MonkeyPatch, how: str, said: str
) -> None:
    quick(monkeypatch, server, PRTRACE_AUTO_PUSH_INTERVAL_S="0.2")
    if how == "config":
        (prtrace_home / "config.toml").write_text("auto_push = false\n")
    else:
        monkeypatch.setenv("PRTRACE_AUTO_PUSH", "0")
    run_prtrace("start", cwd=repo, check=True)
    git(repo, "commit", "-q", "--allow-empty", "-m", "not pushed")
    trace_id, _, _ = trace_of(prtrace_home, repo)
    # The barrier: the commit is recorded and the pusher has looked since (several intervals).
    wait_for(lambda: trace_of(prtrace_home, repo)[1] >= 2, timeout_s=60, what="the commit recorded")
    first = wait_for(lambda: auto_push_state(prtrace_home).get("checked_at"), timeout_s=60, what="the pusher's look")
    wait_for(lambda: auto_push_state(prtrace_home).get("checked_at", "") > first, timeout_s=60, what="another look")
    assert auto_push_state(prtrace_home)["on"] is False
    assert on_server(server.url, trace_id) == []
    assert trace_of(prtrace_home, repo)[2]["acked"] == 0
    status = run_prtrace("status", cwd=repo, check=True).stdout
    assert f"auto-push: off ({said})" in status


@pytest.mark.e2e
def test_status_says_auto_push_is_on_with_a_server_and_how_to_turn_it_off(
    repo: Path, prtrace_home: Path, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick(monkeypatch, server, PRTRACE_AUTO_PUSH_INTERVAL_S="300")
    run_prtrace("start", cwd=repo, check=True)
    status = run_prtrace("status", cwd=repo, check=True).stdout
    assert "auto-push: on" in status and "auto_push = false in config.toml, or PRTRACE_AUTO_PUSH=0" in status
    run_prtrace("stop", cwd=repo, check=True)
    assert "auto-push: on, but the daemon is not running" in run_prtrace("status", cwd=repo, check=True).stdout
