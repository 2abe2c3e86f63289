"""`prtrace pr` with the gh CLI: the branch's pull request found without a number, its title,
state and dates filled in; gh missing or failing is an error only when no number was given.

gh needs GitHub's network, which tests do not have. A small program named `gh`, first on
PATH, stands in for GitHub: it answers `pr view --json …` with what gh 2.x prints (compact
JSON, keys sorted, RFC 3339 times, `null` for a PR never merged) or fails as gh does, and
records where and with which arguments it was run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from prtrace_daemon.buffer import Buffer
from prtrace_daemon.gitrepo import repo_name_from_url
from tests.conftest import git, run_prtrace

FIELDS = "number,title,state,createdAt,mergedAt,url,headRefName"
NOT_LOGGED_IN = (
    "To get started with GitHub CLI, please run:  gh auth login\n"
    "Alternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.\n"
)


def gh_json(number: int, title: str, state: str, *, created: str = "2026-11-20T09:15:02Z",
            merged: str | None = None, repo: str = "acme/calc", host: str = "github.com",
            head: str = "feature") -> str:
    """What `gh pr view --json number,title,state,createdAt,mergedAt,url,headRefName` prints
    when its output is not a terminal."""
    doc = {"createdAt": created, "headRefName": head, "mergedAt": merged, "number": number,
           "state": state, "title": title, "url": f"https://{host}/{repo}/pull/{number}"}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


class FakeGh:
    """The `gh` program of one test: answers with `stdout`, `stderr` and `code`."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        self.log = folder / "gh-calls.txt"

    def answers(self, *, stdout: str = "", stderr: str = "", code: int = 0) -> FakeGh:
        (self.bin / "out.txt").write_text(stdout)
        (self.bin / "err.txt").write_text(stderr)
        script = self.bin / "gh"
        script.write_text(
            "#!/bin/sh\n"
            f"{{ pwd; for arg in \"$@\"; do printf '%s\\n' \"$arg\"; done; echo --; }} >> '{self.log}'\n"
            f"cat '{self.bin / 'out.txt'}'\n"
            f"cat '{self.bin / 'err.txt'}' >&2\n"
            f"exit {code}\n"
        )
        script.chmod(0o755)
        return self

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}

    def calls(self) -> list[tuple[str, list[str]]]:
        """(working folder, arguments) of each run."""
        if not self.log.exists():
            return []
        runs = self.log.read_text().split("--\n")
        return [(lines[0], lines[1:]) for run in runs if (lines := run.splitlines())]


@pytest.fixture
def gh(tmp_path: Path) -> FakeGh:
    return FakeGh(tmp_path / "fake-gh")


@pytest.fixture
def feature(repo: Path) -> Path:
    """The repo with an origin on GitHub, on branch `feature`, recorded (no daemon)."""
    git(repo, "remote", "add", "origin", "https://github.com/acme/calc.git")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "pkg").mkdir()
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    return repo


def linked_pr(home: Path, branch: str = "feature") -> dict[str, Any] | None:
    with Buffer(home / "buffer.db") as buffer:
        [trace] = [t for t in buffer.traces() if t.branch == branch]
        return trace.pr


def without_gh() -> dict[str, str]:
    """A PATH where no gh can be found (git stays)."""
    git_dir = str(Path(shutil.which("git") or "/usr/bin/git").parent)
    if shutil.which("gh", path=git_dir):
        pytest.skip("a real gh sits beside git on this machine")
    return {"PATH": git_dir}


# with gh, no number


def test_pr_alone_finds_the_branchs_open_pr_and_its_facts(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stdout=gh_json(7, "Add sub", "OPEN"))
    result = run_prtrace("pr", cwd=feature / "pkg", env=gh.env(), check=True)  # from a subfolder
    assert "acme/calc#7" in result.stdout and "Add sub" in result.stdout
    assert linked_pr(prtrace_home) == {
        "pr_id": "acme/calc#7", "title": "Add sub", "status": "open", "created_at": "2026-11-20T09:15:02.000Z",
    }
    [(cwd, args)] = gh.calls()
    assert Path(cwd).resolve() == feature.resolve()  # gh runs in the repository, not the subfolder
    assert args == ["pr", "view", "--json", FIELDS]


@pytest.mark.parametrize(("state", "merged", "status"), [("MERGED", "2026-11-24T18:00:00Z", "merged"), ("CLOSED", None, "closed")])
def test_gh_states_become_trace_statuses_with_their_dates(
    feature: Path, gh: FakeGh, prtrace_home: Path, state: str, merged: str | None, status: str
) -> None:
    gh.answers(stdout=gh_json(9, "Tidy up", state, merged=merged))
    run_prtrace("pr", cwd=feature, env=gh.env(), check=True)
    pr = linked_pr(prtrace_home)
    assert pr is not None and pr["status"] == status and pr["pr_id"] == "acme/calc#9"
    assert pr.get("merged_at") == ("2026-11-24T18:00:00.000Z" if merged else None)


def test_pr_alone_when_gh_finds_none_is_one_clear_error(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stderr='no pull requests found for branch "feature"\n', code=1)
    result = run_prtrace("pr", cwd=feature, env=gh.env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith("error: ") and 'no pull requests found for branch "feature"' in error
    assert hint.startswith("hint: ") and "gh pr create" in hint and "prtrace pr 123" in hint
    assert linked_pr(prtrace_home) is None


def test_pr_alone_with_gh_not_logged_in_says_to_log_in(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stderr=NOT_LOGGED_IN, code=4)
    result = run_prtrace("pr", cwd=feature, env=gh.env())
    assert result.returncode == 1
    error, hint = result.stderr.strip().splitlines()
    assert "not logged in" in error and "gh auth login" in hint and "prtrace pr 123" in hint
    assert linked_pr(prtrace_home) is None


def test_pr_alone_without_gh_is_one_line_and_a_hint(feature: Path, prtrace_home: Path) -> None:
    result = run_prtrace("pr", cwd=feature, env=without_gh())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith("error: ") and "gh" in error
    assert hint.startswith("hint: ") and "prtrace pr 123" in hint and "gh auth login" in hint
    assert linked_pr(prtrace_home) is None


# with a number


def test_a_number_with_gh_fills_in_that_pr(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stdout=gh_json(12, "Faster parser", "MERGED", merged="2026-11-25T08:00:00Z"))
    run_prtrace("pr", "PR-12", cwd=feature, env=gh.env(), check=True)
    assert linked_pr(prtrace_home) == {
        "pr_id": "acme/calc#12", "title": "Faster parser", "status": "merged",
        "created_at": "2026-11-20T09:15:02.000Z", "merged_at": "2026-11-25T08:00:00.000Z",
    }
    [(_, args)] = gh.calls()
    assert args == ["pr", "view", "12", "--json", FIELDS]


def test_a_number_for_another_repo_asks_gh_about_that_repo(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stdout=gh_json(3, "Upstream fix", "OPEN", repo="upstream/calc"))
    run_prtrace("pr", "upstream/calc#3", cwd=feature, env=gh.env(), check=True)
    pr = linked_pr(prtrace_home)
    assert pr is not None and pr["pr_id"] == "upstream/calc#3" and pr["title"] == "Upstream fix"
    [(_, args)] = gh.calls()
    assert args == ["pr", "view", "3", "--repo", "upstream/calc", "--json", FIELDS]


def test_title_option_wins_over_gh(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stdout=gh_json(7, "WIP", "OPEN"))
    run_prtrace("pr", "7", "--title", "Add subtraction", cwd=feature, env=gh.env(), check=True)
    pr = linked_pr(prtrace_home)
    assert pr is not None and pr["title"] == "Add subtraction" and pr["status"] == "open"


@pytest.mark.parametrize(("stderr", "code"), [(NOT_LOGGED_IN, 4), ("error connecting to api.github.com\n", 1)])
def test_a_number_links_even_when_gh_fails(feature: Path, gh: FakeGh, prtrace_home: Path, stderr: str, code: int) -> None:
    gh.answers(stderr=stderr, code=code)
    result = run_prtrace("pr", "7", cwd=feature, env=gh.env())
    assert result.returncode == 0, result.stderr
    assert "note: linked by number only" in result.stderr and "Traceback" not in result.stderr
    assert linked_pr(prtrace_home) == {"pr_id": "acme/calc#7", "status": "open"}


def test_a_number_works_without_gh(feature: Path, prtrace_home: Path) -> None:
    result = run_prtrace("pr", "7", "--title", "Add sub", cwd=feature, env=without_gh())
    assert result.returncode == 0 and result.stderr == ""
    assert linked_pr(prtrace_home) == {"pr_id": "acme/calc#7", "title": "Add sub", "status": "open"}


def test_relinking_to_another_pr_drops_the_first_ones_facts(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    gh.answers(stdout=gh_json(7, "Add sub", "MERGED", merged="2026-11-24T18:00:00Z"))
    run_prtrace("pr", cwd=feature, env=gh.env(), check=True)
    run_prtrace("pr", "8", cwd=feature, env=without_gh(), check=True)
    assert linked_pr(prtrace_home) == {"pr_id": "acme/calc#8", "status": "open"}


def test_a_title_from_gh_is_redacted_before_it_is_stored(feature: Path, gh: FakeGh, prtrace_home: Path) -> None:
    token = "ghp_" + "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5"
    gh.answers(stdout=gh_json(7, f"rotate {token}", "OPEN"))
    run_prtrace("pr", cwd=feature, env=gh.env(), check=True)
    pr = linked_pr(prtrace_home)
    assert pr is not None and pr["title"].startswith("rotate ") and token not in pr["title"]
    assert not any(token.encode() in path.read_bytes() for path in prtrace_home.rglob("*") if path.is_file())


def test_github_enterprise_remote_and_pr(repo: Path, gh: FakeGh, prtrace_home: Path) -> None:
    git(repo, "remote", "add", "origin", "ssh://git@ghe.corp.example:2222/platform/billing.git")
    git(repo, "checkout", "-q", "-b", "feature")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    gh.answers(stdout=gh_json(41, "Invoices", "OPEN", repo="platform/billing", host="ghe.corp.example"))
    run_prtrace("pr", cwd=repo, env=gh.env(), check=True)
    pr = linked_pr(prtrace_home)
    assert pr is not None and pr["pr_id"] == "platform/billing#41"


def test_gh_that_does_not_answer_in_time_is_stopped(repo: Path, gh: FakeGh, monkeypatch: pytest.MonkeyPatch) -> None:
    from prtrace_daemon.gh import GhFailed, pr_view

    script = gh.bin / "gh"
    script.write_text("#!/bin/sh\nsleep 60 &\nwait\n")  # a child of its own, holding the pipes too
    script.chmod(0o755)
    monkeypatch.setenv("PATH", gh.env()["PATH"])
    with pytest.raises(GhFailed, match=r"did not answer within 0\.5 s"):
        pr_view(repo, timeout_s=0.5)


# unit: gh's answer and the remote URL


def test_parse_pr_view_takes_gh_zero_time_and_missing_fields_as_none() -> None:
    from prtrace_daemon.gh import parse_pr_view

    facts = parse_pr_view('{"number":5,"mergedAt":"0001-01-01T00:00:00Z","state":"OPEN"}\n')
    assert (facts.number, facts.status, facts.merged_at, facts.title, facts.repo) == (5, "open", None, None, None)


@pytest.mark.parametrize("answer", ["", "not json", "[]", '{"title":"x"}', '{"number":"7"}', '{"number":true}'])
def test_parse_pr_view_refuses_an_answer_without_a_number(answer: str) -> None:
    from prtrace_daemon.gh import GhFailed, parse_pr_view

    with pytest.raises(GhFailed):
        parse_pr_view(answer)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/acme/calc.git", "acme/calc"),
        ("https://github.com/acme/calc", "acme/calc"),
        ("https://github.com/acme/calc/", "acme/calc"),
        ("https://github.com/acme/calc.git/", "acme/calc"),
        ("  https://github.com/acme/calc.git\n", "acme/calc"),
        ("https://github.com:443/acme/calc.git", "acme/calc"),
        ("http://github.com/acme/calc", "acme/calc"),
        ("git@github.com:acme/calc.git", "acme/calc"),
        ("git@github.com:acme/calc", "acme/calc"),
        ("github.com:acme/calc.git", "acme/calc"),
        ("ssh://git@github.com/acme/calc.git", "acme/calc"),
        ("ssh://git@github.com:22/acme/calc.git", "acme/calc"),
        ("git+ssh://git@github.com/acme/calc.git", "acme/calc"),
        ("git://github.com/acme/calc.git", "acme/calc"),
        ("https://ghe.corp.example/platform/billing.git", "platform/billing"),
        ("ssh://git@ghe.corp.example:2222/platform/billing.git", "platform/billing"),
        ("git@ghe.corp.example:platform/billing.git", "platform/billing"),
        ("https://x-access-token:ghp_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5@github.com/acme/calc.git", "acme/calc"),
        ("https://dev:p@ss:w0rd@github.com/acme/calc", "acme/calc"),
        ("https://ghp_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5@github.com/acme/calc/", "acme/calc"),
    ],
)
def test_repo_name_from_remote_urls(url: str, name: str) -> None:
    assert repo_name_from_url(url) == name


@pytest.mark.parametrize(
    "url",
    ["/srv/git/acme/calc.git", "../calc", "file:///srv/git/acme/calc.git", "C:/src/acme/calc",
     "https://github.com/acme", "git@github.com:calc.git", "https://token@github.com/calc", ""],
)
def test_urls_without_an_owner_name_no_repo(url: str) -> None:
    assert repo_name_from_url(url) is None


def test_a_token_in_the_origin_url_is_never_stored(repo: Path, prtrace_home: Path) -> None:
    token = "ghp_" + "Zz3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5"
    git(repo, "remote", "add", "origin", f"https://x-access-token:{token}@github.com/acme/calc.git")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("pr", "7", cwd=repo, env=without_gh(), check=True)
    assert linked_pr(prtrace_home, "main") == {"pr_id": "acme/calc#7", "status": "open"}
    assert not any(token.encode() in path.read_bytes() for path in prtrace_home.rglob("*") if path.is_file())
