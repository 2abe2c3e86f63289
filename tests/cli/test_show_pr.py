"""`prtrace show PR-N` as a user runs it: a PR linked by the CLI and by GitHub's webhooks, its
traces from two developers and its CI runs in one timeline, from a real `prtrace-server`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import git, run_prtrace, serving
from tests.fixtures import github_payloads as gh


def _developer(tmp_path: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A clone of acme/webapp on the PR's branch, with its own PRTRACE_HOME."""
    home = tmp_path / f"home-{name}"
    home.mkdir()
    root = tmp_path / name
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "git@github.com:acme/webapp.git")
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "initial")
    git(root, "checkout", "-qb", "fix-empty-input")
    return root, {"PRTRACE_HOME": str(home)}


def _deliver(url: str, event: str, payload: dict[str, object]) -> None:
    body, headers = gh.delivery(event, payload)
    response = httpx.post(f"{url}/v1/webhooks/github", content=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.e2e
def test_show_pr_merges_two_developers_and_ci_in_one_timeline(tmp_path: Path) -> None:
    with serving(tmp_path / "server", env={"PRTRACE_GITHUB_WEBHOOK_SECRET": gh.SECRET}) as url:
        alice, alice_env = _developer(tmp_path, "alice")
        bob, bob_env = _developer(tmp_path, "bob")
        run_prtrace("start", "--no-daemon", cwd=alice, env=alice_env, check=True)
        run_prtrace("note", "alice: reproducing the crash", cwd=alice, env=alice_env, check=True)
        run_prtrace("push", "--server", url, cwd=alice, env=alice_env, check=True)
        # GitHub tells the server about the PR; alice's trace is linked by its branch
        _deliver(url, "pull_request", gh.pull_request(created_at="2020-01-01T00:00:00Z"))
        # bob links his trace by hand, before any CI ran
        run_prtrace("start", "--no-daemon", cwd=bob, env=bob_env, check=True)
        run_prtrace("note", "bob: the fix", cwd=bob, env=bob_env, check=True)
        run_prtrace("pr", "123", cwd=bob, env=bob_env, check=True)
        run_prtrace("push", "--server", url, cwd=bob, env=bob_env, check=True)
        _deliver(url, "check_run", gh.check_run(started_at="2099-01-01T00:00:00Z", completed_at="2099-01-01T00:02:00Z"))

        shown = run_prtrace("show", "PR-123", "--server", url, cwd=alice, env=alice_env, check=True)
        out = shown.stdout
        assert "acme/webapp#123" in out and "Handle empty input" in out
        assert "T1" in out and "T2" in out
        assert "alice: reproducing the crash" in out and "bob: the fix" in out
        assert "pytest: failure" in out
        assert out.index("alice: reproducing") < out.index("bob: the fix") < out.index("pytest: failure")

        document = json.loads(
            run_prtrace("show", "acme/webapp#123", "--json", "--server", url, cwd=bob, env=bob_env, check=True).stdout
        )
        assert len(document["traces"]) == 2
        kinds = [(e["type"], e["trace_id"] is None) for e in document["events"]]
        assert kinds[-1] == ("ci", True)
        assert {e["trace_id"] for e in document["events"] if e["type"] == "annotation"} == {
            t["trace_id"] for t in document["traces"]
        }


def test_show_pr_locally_merges_the_buffer_s_traces(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/acme/webapp.git")
    git(repo, "checkout", "-qb", "first")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("note", "on the first branch", cwd=repo, check=True)
    run_prtrace("pr", "7", cwd=repo, check=True)
    git(repo, "checkout", "-qb", "second")
    run_prtrace("note", "on the second branch", cwd=repo, check=True)
    run_prtrace("pr", "7", cwd=repo, check=True)
    out = run_prtrace("show", "PR-7", "--local", cwd=repo, check=True, env={"COLUMNS": "200"}).stdout
    assert "acme/webapp#7" in out and "T1" in out and "T2" in out
    assert out.index("on the first branch") < out.index("on the second branch")
    document = json.loads(run_prtrace("show", "7", "--local", "--json", cwd=repo, check=True).stdout)
    assert sorted(t["branch"] for t in document["traces"]) == ["first", "second"]
    assert document["ci_runs"] == 0
    assert [e["payload"].get("text") for e in document["events"] if e["type"] == "annotation"] == [
        "on the first branch", "on the second branch",
    ]
