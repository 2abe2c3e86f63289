"""The git facts capture needs, from the `git` command.

Every call sets GIT_OPTIONAL_LOCKS=0 so that capture never takes `.git/index.lock` from
under the developer's own `git commit`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from prtrace_core.gitblob import EMPTY_TREE
from prtrace_daemon.client_errors import GitFailed, NotAGitRepo

__all__ = [
    "GitRepo",
    "IndexEntry",
    "RawChange",
    "find_repo",
    "repo_name_from_url",
]

_ENV = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
# A hook runs with GIT_DIR & co. pointing at the repo that fired it; never let them leak into
# the git commands prtrace runs for other repos.
for _var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX"):
    _ENV.pop(_var, None)


_URL = re.compile(r"^(?P<scheme>[A-Za-z][\w.+-]*)://(?:[^/?#]*@)?[^/?#@]+(?P<path>/[^?#]*)")
_SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^:/]+):(?P<path>[^?#]+)$")  # git@host:owner/repo.git


def repo_name_from_url(url: str) -> str | None:
    """`owner/repo` from a remote URL — https (with or without `user:token@`, which is never
    kept), ssh://, scp-like `git@host:owner/repo`, any host — from the last two parts of its
    path, less `.git` and trailing slashes. None for a local path, file:// or a one-part path."""
    url = url.strip()
    match = _URL.match(url)
    if match is not None:
        if match["scheme"].lower() == "file":
            return None
        path = match["path"]
    elif "://" in url:
        return None  # a URL with no host (file:///srv/repo.git) or of a shape git does not take
    else:
        scp = _SCP.match(url)
        # `C:/src/repo` is a Windows path, not host C
        if scp is None or (len(scp["host"]) == 1 and scp["host"].isalpha()):
            return None
        path = scp["path"]
    parts = [p for p in path.split("/") if p]
    if parts:
        parts[-1] = parts[-1].removesuffix(".git")
    parts = [p for p in parts if p not in ("", ".", "..")]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


@dataclass(frozen=True, slots=True)
class RawChange:
    """One line of `git diff-tree --raw`: what a commit did to one path."""

    status: str  # A, M, D, R, C, T
    path: str
    old_path: str | None
    old_sha: str
    new_sha: str
    old_mode: str = ""  # "000000" when the path did not exist before
    new_mode: str = ""  # "000000" when the change deletes it


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One stage-0 entry of git's index."""

    mode: str
    sha: str


class GitRepo:
    """A git work tree, addressed by its top-level folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
        """Run git in the work tree and return stdout; with `check`, a failure is GitFailed,
        quoting git's stderr."""
        proc = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=_ENV,
            input=input,
            capture_output=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise GitFailed(["git", *args], proc.returncode, proc.stderr)
        return proc.stdout

    def head(self) -> tuple[str | None, str]:
        """(HEAD's sha or None before the first commit, the branch name or `detached@<sha>`)."""
        out = self.git("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", check=False)
        lines = out.decode().split()
        sha = lines[0] if lines and re.fullmatch(r"[0-9a-f]{40,64}", lines[0]) else None
        ref = next((line for line in lines if line.startswith("refs/heads/")), None)
        if ref is not None:
            return sha, ref.removeprefix("refs/heads/")
        if sha is None:
            # An unborn branch: HEAD names a branch that has no commit yet.
            branch = self.git("symbolic-ref", "--short", "-q", "HEAD", check=False).decode().strip()
            return None, branch or "HEAD"
        return sha, f"detached@{sha[:12]}"

    def name(self) -> str:
        """`owner/repo` from the origin remote, else the folder's name."""
        url = self.git("config", "--get", "remote.origin.url", check=False).decode().strip()
        return (repo_name_from_url(url) if url else None) or self.root.name

    def list_files(self, within: Collection[str] | None = None) -> list[str]:
        """Tracked and untracked-but-not-ignored files, as git sees them (only those at or under
        the paths `within`, taken literally, when given)."""
        args = ["ls-files", "-co", "--exclude-standard", "-z", "--deduplicate"]
        if within is not None:
            if not within:
                return []
            args = ["--literal-pathspecs", *args, "--", *within]
        out = self.git(*args)
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    def ignored_dirs(self) -> list[str]:
        """Folders git ignores as a whole (node_modules/, build/ …), found without walking them."""
        out = self.git("ls-files", "-o", "-i", "--exclude-standard", "--directory", "-z")
        return [p.rstrip("/") for p in out.decode("utf-8", "surrogateescape").split("\0") if p.endswith("/")]

    def index_entries(self) -> dict[str, IndexEntry]:
        """Mode and blob id of each file in the index (stage 0)."""
        out = self.git("ls-files", "-s", "-z")
        entries: dict[str, IndexEntry] = {}
        for entry in out.decode("utf-8", "surrogateescape").split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, sha, stage = meta.split()
            if stage == "0":
                entries[path] = IndexEntry(mode, sha)
        return entries

    def tracked(self, paths: Collection[str]) -> set[str]:
        """Those of `paths` (taken literally) that git tracks: in the index, staged or committed."""
        if not paths:
            return set()
        out = self.git("--literal-pathspecs", "ls-files", "-c", "-z", "--", *paths)
        return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}

    def dirty_paths(self) -> set[str]:
        """Paths that differ from the index or are untracked (git's stat cache makes this cheap)."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
        paths = set()
        for entry in out.decode("utf-8", "surrogateescape").split("\0"):
            if len(entry) > 3:
                paths.add(entry[3:])
        return paths

    def diff_head(self, paths: Sequence[str] = ()) -> str:
        """`git diff HEAD` (or against the empty tree before the first commit)."""
        base = self.head()[0] or EMPTY_TREE
        out = self.git("diff", "--no-color", "--no-ext-diff", base, "--", *paths, check=False)
        return out.decode("utf-8", "replace")

    def read_blob(self, sha: str) -> bytes | None:
        """A blob's content from the object database, or None when git does not have it."""
        proc = subprocess.run(
            ["git", "cat-file", "blob", sha], cwd=self.root, env=_ENV, capture_output=True, check=False
        )
        return proc.stdout if proc.returncode == 0 else None

    def tree(self, commit: str) -> dict[str, tuple[str, str]]:
        """{path: (mode, blob id)} of every file in a commit."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit)
        tree: dict[str, tuple[str, str]] = {}
        for entry in out.decode("utf-8", "surrogateescape").split("\0"):
            if entry:
                meta, _, path = entry.partition("\t")
                mode, _kind, sha = meta.split()
                tree[path] = (mode, sha)
        return tree

    def commit_changes(self, sha: str) -> list[RawChange]:
        """What the commit changed against its first parent (all of it for a root commit)."""
        return self._raw_changes("-M", "--root", sha)

    def tree_changes(self, old: str, new: str) -> list[RawChange]:
        """What differs between two commits' trees (a checkout from `old` to `new`)."""
        return self._raw_changes("--no-renames", old, new)

    def staged_changes(self) -> list[RawChange]:
        """What the index holds against HEAD (a squash merge's changes), read with no lock."""
        return self._parse_raw(self.git("diff-index", "--cached", "-r", "--raw", "-z", "--no-renames", "HEAD"))

    def _raw_changes(self, *args: str) -> list[RawChange]:
        return self._parse_raw(self.git("diff-tree", "-r", "--raw", "-z", "--no-commit-id", *args))

    @staticmethod
    def _parse_raw(out: bytes) -> list[RawChange]:
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        changes: list[RawChange] = []
        i = 0
        while i < len(fields) and fields[i].startswith(":"):
            old_mode, new_mode, old_sha, new_sha, status = fields[i][1:].split()
            kind = status[0]
            if kind in "RC":
                changes.append(RawChange(kind, fields[i + 2], fields[i + 1], old_sha, new_sha, old_mode, new_mode))
                i += 3
            else:
                changes.append(RawChange(kind, fields[i + 1], None, old_sha, new_sha, old_mode, new_mode))
                i += 2
        return changes

    def commit_info(self, sha: str) -> dict[str, object]:
        """Message, parents and line counts of a commit, as the `commit` payload holds them.

        One `git diff-tree` gives both the header and the counts: 3.0 ms a commit against 6.2
        for `git show` + `git diff-tree` and 4.2 for GitPython (docs/architecture.md)."""
        out = self.git(
            "diff-tree", "-r", "-z", "--numstat", "--root", "--always", "--no-renames",
            "--format=%H%x00%P%x00%B%x00", sha,
        ).decode("utf-8", "replace")
        # sha NUL parents NUL message NUL, then -z's NUL and a newline before the counts; a count
        # starts with a digit or `-`, so stripping those never eats a path.
        full, parents, message, numstat = out.split("\0", 3)
        files: list[str] = []
        insertions = deletions = 0
        for entry in numstat.lstrip("\0\n").split("\0"):
            if not entry.strip():
                continue
            added, removed, path = entry.split("\t", 2)
            files.append(path)
            insertions += int(added) if added.isdigit() else 0
            deletions += int(removed) if removed.isdigit() else 0
        return {
            "sha": full,
            "message": message.strip(),
            "files_changed": len(files),
            "files": files,
            "insertions": insertions,
            "deletions": deletions,
            "parents": parents.split(),
        }


def find_repo(start: Path) -> GitRepo:
    """The work tree that holds `start`; NotAGitRepo when there is none."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, env=_ENV, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise NotAGitRepo("git is not installed or not on PATH", hint="install git") from exc
    top = proc.stdout.decode().strip()
    if proc.returncode != 0 or not top:
        raise NotAGitRepo(f"not inside a git work tree: {start}")
    return GitRepo(Path(top))
