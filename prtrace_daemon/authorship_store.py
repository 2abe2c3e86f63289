"""Line authorship on the capture side: the line authors of each recorded file content, carried
through every edit; a commit's `authorship`; and the sources blame resolves lines from.

The buffer holds, per repository, path and blob id, who wrote each line of that content
(`prtrace_core.authorship.LineAuthors`, encoded). `advance_lines` moves them with each edit, in
the transaction that stores the edit, from the edit's own diff when it is complete (no content is
read), else by diffing the two contents (the blob cache's, else git's). Withheld and binary
files have no lines to attribute; a content neither holds leaves the file unknown.

At a commit, `CommitLines.prepare` (outside the write transaction: it reads git) finds the lines
each committed file added against the commit's first parent, and `CommitLines.apply` (inside it,
after the commit's own edits) reads their authors. Files the commit does not touch cost nothing.

Squash merges, rebases and cherry-picks bring lines whose authors are known elsewhere, while
capture records them as git's edits (the developer's, to the line state). For a commit that
concludes a squash merge (a squash `merge` recorded since the trace's last commit) or is made
on a detached HEAD (a rebase or cherry-pick replaying commits), an added line that the line
state does not give to an agent takes the author of the same text attributed in the
repository's commits (same file first, the nearest line winning), and the line state learns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prtrace_core.authorship import (
    Attribution,
    BlameLine,
    CommitAuthorship,
    ContentMatcher,
    LineAuthors,
    Resolved,
    actor_class,
    added_lines,
    advance,
    advance_by_diff,
    parse_blame_porcelain,
    resolve,
    split_lines,
)
from prtrace_core.errors import PrtraceError
from prtrace_core.gitblob import GITLINK, blob_sha
from prtrace_core.redact import Redactor
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Buffer, TraceRow, Writer
from prtrace_daemon.diffs import FILE_CAP, is_binary, redact_content
from prtrace_daemon.edits import Change
from prtrace_daemon.gitrepo import GitRepo, RawChange

if TYPE_CHECKING:
    from prtrace_daemon.recorder import Recorder  # it calls `advance_lines`: no import at run time

__all__ = [
    "KEEP_VERSIONS",
    "BlamedLine",
    "CommitLines",
    "RepoAttributions",
    "UnknownFile",
    "advance_lines",
    "blame",
]

KEEP_VERSIONS = 8  # line authors kept per path: a branch switch and back finds its version again
_NULL_SHA = "0" * 40


class UnknownFile(PrtraceError):
    """A file git does not know (at the revision asked for)."""

    hint = "name a file git tracks (`git ls-files` lists them), or the revision that has it"


def _content(repo: GitRepo, cache: BlobCache, redactor: Redactor, sha: str) -> bytes | None:
    """A version's content as capture keeps it: the cache's, else git's redacted now."""
    kept = cache.get(sha)
    if kept is not None:
        return kept
    raw = repo.read_blob(sha)
    return None if raw is None else redact_content(redactor, raw)


def _text_lines(content: bytes | None) -> list[str] | None:
    """A content's lines, None when it has none to attribute (absent, binary or over the cap)."""
    if content is None or is_binary(content) or len(content) > FILE_CAP:
        return None
    return split_lines(content)


def advance_lines(
    tx: Writer,
    repo: GitRepo,
    change: Change,
    actor: Mapping[str, Any],
    *,
    cache: BlobCache,
    redactor: Redactor,
) -> None:
    """Carry the file's line authors through one recorded edit made by `actor`."""
    payload = change.payload
    after_sha = payload.get("after_sha")
    if change.snapshot is None or payload.get("withheld") or payload.get("binary"):
        return  # deleted, or no lines to attribute
    if not isinstance(after_sha, str) or not after_sha:
        return
    root = str(repo.root)
    before_sha = payload.get("before_sha")
    before_path = payload.get("old_file") or change.path
    prior = tx.line_authors(root, before_path, before_sha) if isinstance(before_sha, str) else None
    if before_sha == after_sha:  # only the mode changed, or a rename kept the content
        if prior is not None and before_path != change.path:
            tx.put_line_authors(root, change.path, after_sha, prior, keep=KEEP_VERSIONS)
        return
    known = tx.line_authors(root, change.path, after_sha) if prior is None else None
    if known is not None:  # back to a content whose authors are known (a switch back, an undo)
        tx.put_line_authors(root, change.path, after_sha, known, keep=KEEP_VERSIONS)  # kept recent
        return
    base = LineAuthors.decode(prior) if prior is not None else None
    if not isinstance(before_sha, str):
        base = LineAuthors()  # a new file: every line is the edit's
    result: LineAuthors | None = None
    diff = payload.get("diff")
    complete = (
        isinstance(diff, str)
        and not payload.get("diff_truncated")
        and not payload.get("diff_omitted")
    )
    if base is not None and complete:
        result = advance_by_diff(base, str(diff), actor)
    if result is None:
        after = _text_lines(_content(repo, cache, redactor, after_sha))
        before = (
            []
            if not isinstance(before_sha, str)
            else _text_lines(_content(repo, cache, redactor, before_sha))
        )
        if after is None or before is None:
            return  # a content neither the cache nor git holds: the file's authors are unknown
        result = advance(base or LineAuthors.unknown(len(before)), before, after, actor)
    tx.put_line_authors(root, change.path, after_sha, result.encode(), keep=KEEP_VERSIONS)


@dataclass(slots=True)
class _CommittedFile:
    path: str
    blob: str
    lines: list[str]
    added: list[int]


@dataclass(slots=True)
class CommitLines:
    """What a commit added, file by file, found before its write transaction."""

    repo_path: str
    files: list[_CommittedFile] = field(default_factory=list)
    # text → actor of lines attributed elsewhere in the repository (squash, rebase, cherry-pick)
    borrowed: dict[str, dict[str, Any]] | None = None

    @classmethod
    def prepare(
        cls,
        recorder: Recorder,
        repo: GitRepo,
        changes: Sequence[RawChange],
        *,
        trace: TraceRow | None,
        ref: str,
    ) -> CommitLines:
        """The lines each committed file added against the first parent (`changes`: the commit's
        own, from `GitRepo.commit_changes`), for the commit HEAD's `ref` named, in `trace`."""
        # A commit on a detached HEAD (a rebase, a cherry-pick) or after a squash merge brings
        # lines written in other commits.
        replayed = not ref.startswith("refs/heads/") or (
            trace is not None and recorder.buffer.squash_pending(trace.trace_id)
        )
        withheld = recorder.withheld(repo)
        found = cls(str(repo.root))
        for change in changes:
            if change.status == "D" or change.new_mode == GITLINK or change.path in withheld:
                continue
            # git holds both sides; their lines are only compared, never kept (no redaction needed)
            lines = _text_lines(repo.read_blob(change.new_sha))
            if lines is None:
                continue
            parent: list[str] | None = []
            if change.status != "A" and change.old_sha != _NULL_SHA:
                parent = _text_lines(repo.read_blob(change.old_sha))
            added = added_lines(parent or [], lines)
            found.files.append(_CommittedFile(change.path, change.new_sha, lines, added))
        if replayed and found.files:
            found.borrowed = _borrowed(repo, recorder.buffer, found.files)
        return found

    def apply(self, tx: Writer) -> dict[str, Any]:
        """`{"authorship": …}` for the commit payload (empty when no file was added to), read
        from the line state in the commit's own transaction, after its edits."""
        built = CommitAuthorship()
        for file in self.files:
            stored = tx.line_authors(self.repo_path, file.path, file.blob)
            authors = LineAuthors.decode(stored) if stored is not None else None
            if authors is not None and len(authors.lines) != len(file.lines):
                authors = None  # not this content's lines after all
            if self.borrowed:
                learned = _with_borrowed(authors, file, self.borrowed)
                if learned is not None:
                    authors = learned
                    tx.put_line_authors(
                        self.repo_path, file.path, file.blob, authors.encode(), keep=KEEP_VERSIONS
                    )
            built.add_file(file.path, file.added, authors)
        payload = built.payload()
        return {"authorship": payload} if payload is not None else {}


def _with_borrowed(
    authors: LineAuthors | None, file: _CommittedFile, borrowed: Mapping[str, dict[str, Any]]
) -> LineAuthors | None:
    """The authors with lines git brought given to who wrote them elsewhere; None if none was."""
    current = authors or LineAuthors.unknown(len(file.lines))
    lines = list(current.lines)
    changed = False
    for number in file.added:
        actor = current.actor(number)
        if actor_class(actor) == "agent":
            continue
        theirs = borrowed.get(file.lines[number - 1].rstrip("\r\n"))
        if theirs is None or theirs == actor:
            continue
        current, index = current.index_of(theirs)
        lines[number - 1] = index
        changed = True
    return current.replaced(lines) if changed else None


def _borrowed(
    repo: GitRepo, buffer: Buffer, files: Sequence[_CommittedFile]
) -> dict[str, dict[str, Any]]:
    """text → actor, for the added lines' texts attributed in the repository's commits."""
    sources = RepoAttributions(buffer, repo)
    found: dict[str, dict[str, Any]] = {}
    for file in files:
        for number in file.added:
            text = file.lines[number - 1].rstrip("\r\n")
            if text.strip() and text not in found:
                line = BlameLine(_NULL_SHA, number, number, file.path, text)
                actor = sources.by_content(line)
                if actor is not None:
                    found[text] = actor
    return found


class RepoAttributions:
    """The repository's attributions as blame asks for them (`prtrace_core.authorship.BlameSources`):
    commit events' authorship and imported `attribution` events from the buffer, rewrites'
    mappings, patch-ids and file contents from git; uncommitted lines from the line state."""

    def __init__(self, buffer: Buffer, repo: GitRepo) -> None:
        self.buffer = buffer
        self.repo = repo
        self._own: dict[str, Attribution] = {}
        self._older: dict[str, list[str]] = {}
        imported: dict[str, Attribution] = {}
        for kind, payload in buffer.authorship_events(str(repo.root)):
            if kind == "commit" and isinstance(payload.get("sha"), str):
                self._own[payload["sha"]] = Attribution.of(
                    payload["sha"], payload.get("authorship") or {}
                )
            elif kind == "attribution" and isinstance(payload.get("commit"), str):
                source = str(payload.get("source") or "import")
                imported[payload["commit"]] = Attribution.of(payload["commit"], payload, source)
            elif kind == "rewrite":
                for mapping in payload.get("mappings") or []:
                    old, new = mapping.get("old_sha"), mapping.get("new_sha")
                    if isinstance(old, str) and isinstance(new, str) and old != new:
                        self._older.setdefault(new, []).append(old)
        for commit, att in imported.items():
            self._own.setdefault(commit, att)  # a commit's own record wins over an import
        self._lines: dict[tuple[str, str], list[str] | None] = {}
        self._patch_ids: dict[str, str] | None = None
        self._work: dict[str, LineAuthors | None] = {}
        self._content = ContentMatcher(self)

    # BlameSources

    def attribution(self, commit: str) -> Attribution | None:
        if commit == _NULL_SHA:
            return None  # uncommitted lines: `work_tree` answers for them
        return self._own.get(commit)

    def rewritten_from(self, commit: str) -> Sequence[str]:
        return self._older.get(commit, [])

    def same_patch(self, commit: str) -> Sequence[str]:
        if commit == _NULL_SHA or not self._own:
            return []
        if self._patch_ids is None:
            self._patch_ids = self._patch_id_of(list(self._own))
        mine = self._patch_id_of([commit]).get(commit)
        if mine is None:
            return []
        return [other for other, pid in self._patch_ids.items() if pid == mine and other != commit]

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        key = (commit, path)
        if key not in self._lines:
            self._prefetch([key])
        return self._lines.get(key)

    def attributions(self) -> Iterable[Attribution]:
        atts = list(self._own.values())
        self._prefetch(
            [(att.commit, path) for att in atts for path, lines in att.files.items() if lines]
        )
        return atts

    # helpers

    def by_content(self, line: BlameLine) -> dict[str, Any] | None:
        """The actor of the same text attributed in the repository (`resolve`'s last step)."""
        return self._content.actor(line)

    def work_tree(self, path: str) -> LineAuthors | None:
        """The line authors of the file as it is on disk, from the line state."""
        if path not in self._work:
            try:
                content: bytes | None = (self.repo.root / path).read_bytes()
            except OSError:
                content = None
            lines = _text_lines(content)
            authors = None
            if content is not None and lines is not None:
                stored = self.buffer.line_authors(str(self.repo.root), path, blob_sha(content))
                authors = LineAuthors.decode(stored) if stored is not None else None
            if authors is not None and len(authors.lines) != len(lines or []):
                authors = None
            self._work[path] = authors
        return self._work[path]

    def _prefetch(self, keys: Sequence[tuple[str, str]]) -> None:
        """Read many `commit:path` contents with one `git cat-file --batch`."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._lines]
        if not wanted:
            return
        request = "".join(f"{commit}:{path}\n" for commit, path in wanted).encode(
            "utf-8", "surrogateescape"
        )
        out = self.repo.git("cat-file", "--batch", input=request, check=False)
        at = 0
        for key in wanted:
            end = out.find(b"\n", at)
            if end < 0:
                self._lines[key] = None
                continue
            header = out[at:end].split()
            at = end + 1
            if len(header) != 3 or header[1] != b"blob":
                self._lines[key] = None  # "missing", or not a file
                continue
            size = int(header[2])
            self._lines[key] = _text_lines(out[at : at + size])
            at += size + 1

    def _patch_id_of(self, commits: Sequence[str]) -> dict[str, str]:
        """commit → `git patch-id --stable` of its diff (merges and empty commits have none)."""
        if not commits:
            return {}
        log = self.repo.git(
            "log",
            "-p",
            "--no-walk=unsorted",
            "--no-color",
            "--no-ext-diff",
            "--no-decorate",
            "--format=commit %H",
            *commits,
            "--",
            check=False,
        )
        out = self.repo.git("patch-id", "--stable", input=log, check=False)
        ids: dict[str, str] = {}
        for row in out.decode("ascii", "replace").splitlines():
            parts = row.split()
            if len(parts) == 2:
                ids[parts[1]] = parts[0]
        return ids


@dataclass(frozen=True, slots=True)
class BlamedLine:
    """One line of `prtrace blame`: git's answer and who wrote it."""

    number: int
    commit: str
    actor: dict[str, Any] | None
    via: str | None
    text: str


def blame(buffer: Buffer, repo: GitRepo, path: str, rev: str | None = None) -> list[BlamedLine]:
    """Each line of the file (at `rev`, else in the work tree, as `git blame`) with its actor.
    UnknownFile when git does not know the file there."""
    root = repo.root.resolve()
    full = (Path.cwd() / path).resolve()
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise UnknownFile(f"{path} is not in the repository {root}") from None
    known = _exists(repo, rev, rel) if rev is not None else bool(repo.tracked([rel]))
    if not known:
        at = f" at {rev}" if rev else ""
        raise UnknownFile(f"git does not know {path}{at}")
    out = repo.git("blame", "--porcelain", *([rev] if rev else []), "--", rel)
    sources = RepoAttributions(buffer, repo)
    lines = parse_blame_porcelain(out)
    committed = [line for line in lines if line.commit != _NULL_SHA]
    resolved = {id(r.line): r for r in resolve(committed, sources)}
    work = sources.work_tree(rel) if len(committed) != len(lines) else None
    answer: list[BlamedLine] = []
    for line in lines:
        found: Resolved | None = resolved.get(id(line))
        if found is not None:
            answer.append(
                BlamedLine(line.final_line, line.commit, found.actor, found.via, line.text)
            )
            continue
        actor = work.actor(line.final_line) if work is not None else None
        via = "uncommitted" if actor is not None else None
        if actor is None and line.text.strip():
            actor = sources.by_content(line)
            via = "content" if actor is not None else None
        answer.append(BlamedLine(line.final_line, line.commit, actor, via, line.text))
    return answer


def _exists(repo: GitRepo, rev: str, rel: str) -> bool:
    """Whether `rev:rel` names a file git holds."""
    return repo.git("cat-file", "-t", f"{rev}:{rel}", check=False).strip() == b"blob"
