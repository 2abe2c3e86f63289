"""Content for replay and verify, by blob id: git's object database first, then the blob cache
capture keeps under PRTRACE_HOME (which holds uncommitted versions git never saw).

One `git cat-file --batch` process serves every blob, so a replay of thousands of edits
costs one process, not one per file.
"""

from __future__ import annotations

import re
import subprocess
from collections import OrderedDict
from typing import IO

from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.gitrepo import GitRepo

__all__ = ["GitSources"]

_TREES_KEPT = 8
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class GitSources:
    """The replay engine's `Sources` over a repository (and, optionally, the blob cache)."""

    def __init__(self, repo: GitRepo | None, cache: BlobCache | None = None) -> None:
        self.repo = repo
        self.cache = cache
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # `git cat-file --batch[-check]`
        self._trees: OrderedDict[str, dict[str, tuple[str, str]] | None] = OrderedDict()

    def close(self) -> None:
        for proc in self._procs.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self._procs.clear()

    def _cat_file(self, option: str) -> tuple[IO[bytes], IO[bytes]]:
        """stdin and stdout of the long-lived `git cat-file <option>` process."""
        assert self.repo is not None
        proc = self._procs.get(option)
        if proc is None:
            proc = self._procs[option] = subprocess.Popen(
                ["git", "cat-file", option], cwd=self.repo.root, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        assert proc.stdin is not None and proc.stdout is not None
        return proc.stdin, proc.stdout

    def __enter__(self) -> GitSources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_commit(self, sha: str) -> bool:
        """Whether the repository has this commit."""
        if self.repo is None or not _OBJECT_ID.fullmatch(sha):
            return False
        (fields,) = self._check_objects([f"{sha}^{{commit}}"])
        return len(fields) == 3 and fields[1] == b"commit"

    def _check_objects(self, names: list[str]) -> list[list[bytes]]:
        """`git cat-file --batch-check` on each name: "<id> <type> <size>" or "<name> missing",
        split, from one long-lived process."""
        stdin, stdout = self._cat_file("--batch-check")
        answers: list[list[bytes]] = []
        for start in range(0, len(names), 256):  # a few at a time: both pipes stay far from full
            chunk = names[start : start + 256]
            stdin.write(b"".join(f"{name}\n".encode("utf-8", "surrogateescape") for name in chunk))
            stdin.flush()
            answers += [stdout.readline().split() for _ in chunk]
        return answers

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        """{path: (mode, blob id)} of a commit, or None when the repository lacks it."""
        if commit in self._trees:
            self._trees.move_to_end(commit)
            return self._trees[commit]
        tree = self._read_tree(commit)
        self._trees[commit] = tree
        if len(self._trees) > _TREES_KEPT:
            self._trees.popitem(last=False)
        return tree

    def _read_tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        if self.repo is None or not _OBJECT_ID.fullmatch(commit) or not self.has_commit(commit):
            return None
        return self.repo.tree(commit)

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        """{path: blob id or None} of a few paths in a commit, asked of one long-lived
        `git cat-file --batch-check` rather than reading the commit's whole tree."""
        if self.repo is None or not _OBJECT_ID.fullmatch(commit) or not self.has_commit(commit):
            return None
        if any("\n" in path for path in paths):  # not askable line by line: read the tree
            tree = self.tree(commit) or {}
            return {path: tree[path][1] if path in tree else None for path in paths}
        ids: dict[str, str | None] = {}
        for path, fields in zip(paths, self._check_objects([f"{commit}:{path}" for path in paths]), strict=True):
            ids[path] = fields[0].decode() if len(fields) == 3 and fields[1] == b"blob" else None
        return ids

    def blob(self, sha: str) -> bytes | None:
        """The blob's content from git, else from the cache; None when neither has it."""
        data = self._git_blob(sha)
        if data is None and self.cache is not None:
            data = self.cache.get(sha)
        return data

    def first_parent(self, commit: str) -> str | None:
        """The commit's first parent, read from the commit object; None for a root commit or a
        commit the repository lacks."""
        found = self._object(commit)
        if found is None or found[0] != b"commit":
            return None
        for row in found[1].split(b"\n"):
            if not row:  # the blank line that ends the header: no parent line came
                break
            if row.startswith(b"parent "):
                return row[len(b"parent ") :].decode("ascii", "replace")
        return None

    def _git_blob(self, sha: str) -> bytes | None:
        found = self._object(sha)
        return found[1] if found is not None and found[0] == b"blob" else None

    def _object(self, sha: str) -> tuple[bytes, bytes] | None:
        """(type, content) of an object, by id, from the long-lived `git cat-file --batch`."""
        if self.repo is None or not _OBJECT_ID.fullmatch(sha):
            return None
        stdin, stdout = self._cat_file("--batch")
        stdin.write(sha.encode("ascii", "replace") + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:  # "<sha> missing"
            return None
        size = int(header[2])
        data = _read_exactly(stdout, size)
        stdout.read(1)  # the newline after the content
        return header[1], data


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = stream.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)

