"""The GitHub CLI, when it is installed and logged in: which pull request a branch has, and its
title, state and dates, so `prtrace pr` needs no number and links a PR with its facts.

gh runs as a program of its own — no shell, the repository as its working folder, no prompt,
no colour — and is killed with everything it started when it does not answer in time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_core.timestamps import format_ts, parse_ts

__all__ = [
    "GH_FIELDS",
    "GH_TIMEOUT_S",
    "GhFailed",
    "GhMissing",
    "GhNotLoggedIn",
    "NoPullRequest",
    "PullRequestFacts",
    "parse_pr_view",
    "pr_view",
]

GH_FIELDS = "number,title,state,createdAt,mergedAt,url,headRefName"
GH_TIMEOUT_S = 15.0
_STATUS = {"OPEN": "open", "CLOSED": "closed", "MERGED": "merged"}
# https://HOST/OWNER/REPO/pull/N, any host (GitHub Enterprise too)
_PR_URL = re.compile(r"^https?://[^/]+/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/pull/(?P<number>\d+)/?$")
_NUMBER_HINT = "name the pull request instead: prtrace pr 123 (or owner/repo#123)"


class GhFailed(PrtraceError):
    """gh could not say which pull request this is."""

    hint = _NUMBER_HINT


class GhMissing(GhFailed):
    """The gh CLI is not installed (or cannot be run)."""

    hint = f"{_NUMBER_HINT}; or install gh (https://cli.github.com) and run `gh auth login`"


class GhNotLoggedIn(GhFailed):
    """gh is installed but not logged in to GitHub."""

    hint = f"run `gh auth login`, or {_NUMBER_HINT}"


class NoPullRequest(GhFailed):
    """gh found no pull request for the branch."""

    hint = f"open one (gh pr create), or {_NUMBER_HINT}"


@dataclass(frozen=True, slots=True)
class PullRequestFacts:
    """What gh says of a pull request, in the trace's terms."""

    number: int
    repo: str | None  # owner/repo, from its URL
    title: str | None
    status: str | None  # open | closed | merged
    created_at: str | None  # trace timestamps
    merged_at: str | None
    url: str | None
    head: str | None  # the branch it is made from


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "GH_PROMPT_DISABLED": "1",
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_NO_EXTENSION_UPDATE_NOTIFIER": "1",
        "NO_COLOR": "1",
        "GIT_OPTIONAL_LOCKS": "0",  # gh reads the remotes with git: never take the index lock
    }
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX"):  # set inside a git hook
        env.pop(var, None)
    return env


def pr_view(
    root: Path, number: int | None = None, *, repo: str | None = None, timeout_s: float = GH_TIMEOUT_S
) -> PullRequestFacts:
    """`gh pr view [NUMBER] [--repo REPO] --json …` run in `root`: the branch's pull request
    (no number) or that one. GhMissing, GhNotLoggedIn, NoPullRequest or GhFailed otherwise."""
    exe = shutil.which("gh")
    if exe is None:
        raise GhMissing("the gh CLI is not installed, so prtrace cannot look up this branch's pull request")
    args = [exe, "pr", "view"]
    if number is not None:
        args.append(str(number))
    if repo is not None:
        args += ["--repo", repo]
    args += ["--json", GH_FIELDS]
    try:
        proc = subprocess.Popen(
            args, cwd=root, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,  # its own group: a timeout kills it whole
        )
    except OSError as exc:
        raise GhMissing(f"gh cannot be run: {exc.strerror or exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.communicate()
        raise GhFailed(f"gh did not answer within {timeout_s:g} s") from None
    if proc.returncode != 0:
        _raise_for(proc.returncode, err.decode("utf-8", "replace"))
    return parse_pr_view(out.decode("utf-8", "replace"))


def _raise_for(code: int, stderr: str) -> None:
    text = stderr.strip()
    lowered = text.lower()
    # gh exits 4 when it has no credentials, and says "gh auth login"
    if code == 4 or "gh auth login" in lowered or "not logged in" in lowered:
        raise GhNotLoggedIn("gh is not logged in to GitHub, so it cannot look up the pull request")
    if "no pull requests found" in lowered:
        raise NoPullRequest(f"gh: {_first_line(text)}")
    raise GhFailed(f"gh pr view failed (exit {code}): {_first_line(text) or 'no message'}")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]


def parse_pr_view(text: str) -> PullRequestFacts:
    """gh's JSON for `pr view --json number,title,state,createdAt,mergedAt,url,headRefName`.
    A field missing or of another shape is left empty; only the number is required."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise GhFailed(f"gh answered something that is not JSON: {text.strip()[:100]!r}") from exc
    number = data.get("number") if isinstance(data, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise GhFailed("gh's answer has no pull request number")
    url = _text(data.get("url"))
    match = _PR_URL.match(url or "")
    return PullRequestFacts(
        number=number,
        repo=f"{match['owner']}/{match['repo']}" if match else None,
        title=_text(data.get("title")),
        status=_STATUS.get(str(data.get("state", "")).upper()),
        created_at=_timestamp(data.get("createdAt")),
        merged_at=_timestamp(data.get("mergedAt")),
        url=url,
        head=_text(data.get("headRefName")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(value: object) -> str | None:
    """gh's RFC 3339 time (`2024-05-01T12:34:56Z`) as a trace timestamp; None for null, empty
    or Go's zero time (`0001-01-01T00:00:00Z`, which some gh versions print for "never")."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return format_ts(parse_ts(value))
    except ValueError:
        return None
