"""Line authorship on the capture side: the line authors of each recorded file content, carried
through every edit; a commit's `authorship`; and the sources blame resolves lines from.

The buffer holds, per repository, path and blob id, who wrote each line of that content
(`prtrace_core.authorship.LineAuthors`, encoded, in capture's own line numbering).
`advance_lines` moves them with each edit, in the transaction that stores the edit, from the
edit's own diff when it is complete (no content is read), else by diffing the two contents (the
blob cache's, else git's). Withheld and binary files have no lines to attribute; a content
neither holds leaves the file unknown.

At a commit, `CommitLines.prepare` (outside the write transaction: it reads git) finds the lines
each committed file added against the commit's first parent, in git's numbering, and
`CommitLines.apply` (inside it, after the commit's own edits) reads their authors. Files the
commit does not touch cost nothing.

Lines git writes are nobody's typing: a merge's or a squash merge's changes, and the commits git
makes itself (a rebase, a cherry-pick, a revert, `git am`: `made_by_git` reads the reflog), are
recorded as the edits of `GIT`. At a commit made by git or following a squash merge, an added
line whose author is `GIT` or unknown borrows the author of the same text attributed in the
repository's commits (the same file, else the name it had before a rename), only when every
such line agrees; the line state learns it. The developer's own lines (a conflict resolved during
a rebase, recorded by the scan) are never rewritten. Lines git wrote that nothing attributes
stay unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prtrace_core.authorship import (
    Attribution,
    CommitAuthorship,
    ContentMatcher,
    LineAuthors,
    Resolved,
    actor_class,
    added_lines,
    advance,
    advance_by_diff,
    git_lines,
    in_git_numbering,
    parse_blame_porcelain,
    resolve,
    split_lines,
    with_git_lines,
)
from prtrace_core.errors import PrtraceError
from prtrace_core.gitblob import GITLINK, blob_sha
from prtrace_core.redact import Redactor
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Buffer, TraceRow, Writer
from prtrace_daemon.diffs import FILE_CAP, is_binary, redact_content
from prtrace_daemon.edits import Change
from prtrace_daemon.gitobjects import GitSources
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
    "made_by_git",
    "squash_changes",
]

KEEP_VERSIONS = 8  # line authors kept per path: a branch switch and back finds its version again
_NULL_SHA = "0" * 40
_REFLOG_DEPTH = 64  # reflog entries searched for the commit a hook reports
# how git names, in HEAD's reflog, the commits it makes itself (`rebase -i (pick): …`)
_GIT_MADE = re.compile(r"(rebase|pull --rebase|cherry-pick|revert|am)\b")


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


def made_by_git(repo: GitRepo, sha: str) -> bool:
    """Whether git made the commit itself, replaying or undoing other commits (a rebase, a
    cherry-pick, a revert, `git am`), as HEAD's reflog says of the move that first reached it."""
    out = repo.git(
        "reflog", "show", "--format=%H%x00%gs", "HEAD", "-n", str(_REFLOG_DEPTH), check=False
    )
    made = None
    for row in out.decode("utf-8", "replace").splitlines():  # newest first
        commit, _, subject = row.partition("\0")
        if commit == sha:
            made = subject  # keep going: the oldest entry is the one that made it
    # `rebase (continue)`: the commit that ends a stop holds a resolution, the developer's or
    # the agent's whose command continued the rebase, not git's replay
    return made is not None and "(continue)" not in made and _GIT_MADE.match(made) is not None


def squash_changes(repo: GitRepo, sha: str) -> list[RawChange]:
    """What a squash merge staged (the index against HEAD, `sha`): git's edits, recorded as
    such at once rather than left to the next scan as the developer's. Empty when HEAD has
    moved on since or the index holds a conflict (the developer's resolution is theirs)."""
    head = repo.git("rev-parse", "-q", "--verify", "HEAD", check=False).strip().decode()
    if head != sha:
        return []
    staged = repo.staged_changes()  # reads the index, takes no lock: a `git add` never waits
    if any(change.status == "U" for change in staged):
        return []  # unmerged entries: a conflict, whose resolution is the developer's
    return staged


@dataclass(slots=True)
class _CommittedFile:
    path: str
    old_path: str | None  # its name in the first parent, when git sees a rename
    blob: str
    pieces: list[str]  # capture's lines (`split_lines`): the line state's numbering
    lines: list[str]  # git's lines
    added: list[int]  # in git's numbering


@dataclass(slots=True)
class CommitLines:
    """What a commit added, file by file, found before its write transaction."""

    repo_path: str
    sha: str
    files: list[_CommittedFile] = field(default_factory=list)
    # (path, git line) → who wrote that text elsewhere, for lines git brought (squash, rebase, pick)
    borrowed: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    sources: RepoAttributions | None = None  # told of this commit's authorship once applied

    @classmethod
    def prepare(
        cls,
        recorder: Recorder,
        repo: GitRepo,
        changes: Sequence[RawChange],
        *,
        trace: TraceRow | None,
        by_git: bool,
        sha: str,
        sources: RepoAttributions | None = None,
    ) -> CommitLines:
        """The lines commit `sha` added to each file against its first parent (`changes`: the
        commit's own, from `GitRepo.commit_changes`), in `trace`; `by_git`: git made the commit
        (`made_by_git`). `sources`: the repository's attributions, kept across the commits of
        one drain (a rebase replays many), else read for this commit."""
        # a commit git made, or the one that concludes a squash merge, holds lines written in
        # other commits
        replayed = by_git or (trace is not None and recorder.buffer.squash_pending(trace.trace_id))
        withheld = recorder.withheld(repo)
        found = cls(str(repo.root), sha, sources=sources)
        for change in changes:
            if change.status == "D" or change.new_mode == GITLINK or change.path in withheld:
                continue
            # git holds both sides; their lines are only compared, never kept (no redaction needed)
            content = _attributable(repo.read_blob(change.new_sha))
            if content is None:
                continue
            parent: list[str] = []
            if change.status != "A" and change.old_sha != _NULL_SHA:
                parent = git_lines(_attributable(repo.read_blob(change.old_sha)))
            lines = git_lines(content)
            old_path = change.old_path if change.status == "R" else None
            found.files.append(
                _CommittedFile(
                    change.path,
                    old_path,
                    change.new_sha,
                    split_lines(content),
                    lines,
                    added_lines(parent, lines),
                )
            )
        if replayed and found.files:
            found.sources = sources or RepoAttributions(recorder.buffer, repo)
            found.borrowed = _borrowed(found.sources, found.files)
        return found

    def apply(self, tx: Writer) -> dict[str, Any]:
        """`{"authorship": …}` for the commit payload (empty when no file was added to), read
        from the line state in the commit's own transaction, after its edits."""
        built = CommitAuthorship()
        for file in self.files:
            stored = tx.line_authors(self.repo_path, file.path, file.blob)
            authors = LineAuthors.decode(stored) if stored is not None else None
            if authors is not None and len(authors.lines) != len(file.pieces):
                authors = None  # not this content's lines after all
            in_git = in_git_numbering(authors, file.pieces) if authors is not None else None
            found = {
                number: actor
                for number in file.added
                if (actor := self.borrowed.get((file.path, number))) is not None
                and _git_or_unknown(in_git, number)
            }
            if found:
                authors = with_git_lines(
                    authors or LineAuthors.unknown(len(file.pieces)), file.pieces, found
                )
                tx.put_line_authors(
                    self.repo_path, file.path, file.blob, authors.encode(), keep=KEEP_VERSIONS
                )
                in_git = in_git_numbering(authors, file.pieces)
            built.add_file(file.path, file.added, in_git)
        payload = built.payload()
        if payload is not None and self.sources is not None:
            self.sources.add_commit(self.sha, payload)
        return {"authorship": payload} if payload is not None else {}


def _attributable(content: bytes | None) -> bytes | None:
    """The content, None when it has no lines to attribute (absent, binary or over the cap)."""
    if content is None or is_binary(content) or len(content) > FILE_CAP:
        return None
    return content


def _git_or_unknown(authors: LineAuthors | None, number: int) -> bool:
    """Whether nobody but git is known to have written the line (1-based, git's numbering)."""
    actor = authors.actor(number) if authors is not None else None
    return actor_class(actor) == "unknown"


def _borrowed(
    sources: RepoAttributions, files: Sequence[_CommittedFile]
) -> dict[tuple[str, int], dict[str, Any]]:
    """(path, line) → actor, for the added lines whose text has one author among the lines
    attributed in the repository's commits: in the same file, else under the name it had before
    a rename."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for file in files:
        for number in file.added:
            text = file.lines[number - 1].rstrip("\r\n")
            authors = sources.authors_of(file.path, text)
            if not authors and file.old_path is not None:
                authors = sources.authors_of(file.old_path, text)
            if len(authors) == 1:
                found[(file.path, number)] = authors[0]
    return found


class RepoAttributions:
    """The repository's attributions as blame asks for them (`prtrace_core.authorship.BlameSources`):
    commit events' authorship and imported `attribution` events from the buffer, merged per
    commit; rewrites' mappings, patch-ids, renames and file contents from git; uncommitted lines
    from the line state. Everything is read on first need and only for the paths asked."""

    def __init__(self, buffer: Buffer, repo: GitRepo) -> None:
        self.buffer = buffer
        self.repo = repo
        self._atts: dict[str, Attribution] | None = None
        self._older: dict[str, list[str]] = {}
        self._by_path: dict[str, list[str]] = {}  # path → the commits whose attribution names it
        self._lines: dict[tuple[str, str], list[str] | None] = {}
        self._patch_ids: dict[str, str | None] = {}
        self._renames: dict[tuple[str, str], dict[str, str]] = {}
        self._work: dict[str, LineAuthors | None] = {}
        self._content = ContentMatcher(self)

    def _load(self) -> dict[str, Attribution]:
        """commit → its attribution: its own record first (a later record of the same commit
        fills what an earlier one left unknown), then its imports, newest first, line by line."""
        if self._atts is not None:
            return self._atts
        own: dict[str, Attribution] = {}
        imported: dict[str, list[Attribution]] = {}
        for kind, payload in self.buffer.authorship_events(str(self.repo.root)):
            if kind == "commit" and isinstance(payload.get("sha"), str):
                att = Attribution.of(payload["sha"], payload.get("authorship") or {})
                own[att.commit] = own[att.commit].merged(att) if att.commit in own else att
            elif kind == "attribution" and isinstance(payload.get("commit"), str):
                source = str(payload.get("source") or "import")
                att = Attribution.of(payload["commit"], payload, source)
                imported.setdefault(att.commit, []).append(att)
            elif kind == "rewrite":
                for mapping in payload.get("mappings") or []:
                    old, new = mapping.get("old_sha"), mapping.get("new_sha")
                    if isinstance(old, str) and isinstance(new, str) and old != new:
                        self._older.setdefault(new, []).append(old)
        for commit, atts in imported.items():
            for att in reversed(atts):
                own[commit] = own[commit].merged(att) if commit in own else att
        for commit, att in own.items():
            for path in att.files:
                self._by_path.setdefault(path, []).append(commit)
        self._atts = own
        return own

    def add_commit(self, sha: str, authorship: Mapping[str, Any]) -> None:
        """A commit's authorship recorded since these were read (the same drain)."""
        if self._atts is None:
            return  # not read yet: reading will find it
        att = Attribution.of(sha, authorship)
        self._atts[sha] = self._atts[sha].merged(att) if sha in self._atts else att
        for path in att.files:
            commits = self._by_path.setdefault(path, [])
            if sha not in commits:
                commits.append(sha)
            self._content.forget(path)  # indexed again, from cached contents, when next asked

    # BlameSources

    def attribution(self, commit: str) -> Attribution | None:
        if commit == _NULL_SHA:
            return None  # uncommitted lines: `work_tree` answers for them
        return self._load().get(commit)

    def rewritten_from(self, commit: str) -> Sequence[str]:
        self._load()
        return self._older.get(commit, [])

    def same_patch(self, commit: str, path: str) -> Sequence[str]:
        self._load()
        others = [c for c in self._by_path.get(path, []) if c != commit]
        if commit == _NULL_SHA or not others:
            return []
        asked = [c for c in (commit, *others) if c not in self._patch_ids]
        if asked:
            ids = self._patch_id_of(asked)
            self._patch_ids.update({c: ids.get(c) for c in asked})
        mine = self._patch_ids.get(commit)
        return [c for c in others if mine is not None and self._patch_ids.get(c) == mine]

    def origin_path(self, older: str, commit: str, path: str) -> str | None:
        key = (older, commit)
        if key not in self._renames:
            out = self.repo.git(
                "diff-tree", "-r", "-M", "--name-status", "-z", older, commit, check=False
            )
            fields = out.decode("utf-8", "surrogateescape").split("\0")
            renames: dict[str, str] = {}
            at = 0
            while at < len(fields) and fields[at]:
                if fields[at][0] in "RC" and at + 2 < len(fields):
                    renames[fields[at + 2]] = fields[at + 1]
                    at += 3
                else:
                    at += 2
            self._renames[key] = renames
        return self._renames[key].get(path)

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        key = (commit, path)
        if key not in self._lines:
            self._prefetch([key])
        return self._lines.get(key)

    def attributions(self, path: str) -> Iterable[Attribution]:
        atts = self._load()
        named = [atts[commit] for commit in self._by_path.get(path, [])]
        self._prefetch([(att.commit, path) for att in named if att.files.get(path)])
        return named

    # helpers

    def by_content(self, path: str, text: str) -> dict[str, Any] | None:
        """The one author of this text's attributed lines in `path` (`resolve`'s last step)."""
        return self._content.actor(path, text)

    def authors_of(self, path: str, text: str) -> list[dict[str, Any]]:
        """The distinct authors of this text's attributed lines in `path`."""
        return self._content.authors(path, text)

    def work_tree(self, path: str) -> LineAuthors | None:
        """The line authors of the file as it is on disk, from the line state, in git's
        numbering."""
        if path not in self._work:
            try:
                content: bytes | None = (self.repo.root / path).read_bytes()
            except OSError:
                content = None
            content = _attributable(content)
            authors = None
            if content is not None:
                pieces = split_lines(content)
                stored = self.buffer.line_authors(str(self.repo.root), path, blob_sha(content))
                authors = LineAuthors.decode(stored) if stored is not None else None
                if authors is not None and len(authors.lines) == len(pieces):
                    authors = in_git_numbering(authors, pieces)
                else:
                    authors = None
            self._work[path] = authors
        return self._work[path]

    def _prefetch(self, keys: Sequence[tuple[str, str]]) -> None:
        """Read many `commit:path` contents through one pair of long-lived `git cat-file`
        processes (a path with a newline, which git's line-based requests cannot name, is
        looked up in the commit's tree)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._lines]
        if not wanted:
            return
        by_commit: dict[str, list[str]] = {}
        for commit, path in wanted:
            by_commit.setdefault(commit, []).append(path)
        with GitSources(self.repo) as objects:
            for commit, paths in by_commit.items():
                ids = objects.blob_ids(commit, paths) or {}
                for path in paths:
                    blob = ids.get(path)
                    content = _attributable(objects.blob(blob)) if blob else None
                    self._lines[(commit, path)] = git_lines(content) if content else None

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
        if actor_class(actor) == "unknown":  # nobody known, or git (a squash not yet committed)
            borrowed = sources.by_content(rel, line.text)
            if borrowed is not None:
                actor, via = borrowed, "content"
        answer.append(BlamedLine(line.final_line, line.commit, actor, via, line.text))
    return answer


def _exists(repo: GitRepo, rev: str, rel: str) -> bool:
    """Whether `rev:rel` names a file git holds."""
    return repo.git("cat-file", "-t", f"{rev}:{rel}", check=False).strip() == b"blob"
