"""Which actor wrote each line: carried through edits, summed up per commit, resolved for blame.

Pure functions over plain values; the daemon feeds them contents, diffs and git's answers.

- A file's *line authors* hold one actor index per line of its content (`UNKNOWN` when nobody
  recorded wrote it). An edit keeps the author of every line it leaves alone and gives the lines
  it inserts or replaces to its own actor. Lines are split as capture's diffs split them
  (`str.splitlines` after decoding UTF-8 with replacement), so an edit's own diff can advance
  them without reading either content.
- A commit's *authorship* names, per file, the lines it added against its first parent, as
  `[start, end, actor index]` ranges (1-based, inclusive) and agent / human / unknown counts.
- *Blame resolution* finds the actor of a line `git blame` traces to commit C: from C's own
  attribution, else from the commit C was rewritten from (amend, rebase), else from a commit
  with C's patch-id (cherry-pick), else by content: the same text attributed in the repository,
  in the same file first, the nearest line number winning a tie.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prtrace_core.patches import PatchError, hunks

__all__ = [
    "AUTHORSHIP_BUDGET",
    "UNKNOWN",
    "Attribution",
    "BlameLine",
    "BlameSources",
    "CommitAuthorship",
    "ContentMatcher",
    "LineAuthors",
    "Resolved",
    "actor_class",
    "added_lines",
    "advance",
    "advance_by_diff",
    "parse_blame_porcelain",
    "resolve",
    "split_lines",
]

UNKNOWN = -1  # the author index of a line nobody recorded wrote
# A commit's `authorship` in JSON at most: a quarter of the server's 256 KiB per event, beside
# the commit's own message and file list.
AUTHORSHIP_BUDGET = 64 * 1024
Actor = Mapping[str, Any]

_PORCELAIN_HEADER = re.compile(r"([0-9a-f]{40}|[0-9a-f]{64}) (\d+) (\d+)(?: \d+)?$")


def split_lines(content: bytes | None) -> list[str]:
    """A content's lines with their ends, split as capture's diffs split them."""
    if not content:
        return []
    return content.decode("utf-8", "replace").splitlines(keepends=True)


def _bare(line: str) -> str:
    """A line without its end: what `git blame` shows of it."""
    return line.rstrip("\r\n")


def _key(actor: Actor) -> str:
    return json.dumps(dict(actor), sort_keys=True, separators=(",", ":"))


def actor_class(actor: Actor | None) -> str:
    """ "agent" for a coding agent's line, "unknown" when nobody recorded wrote it, else "human"
    (the developer, or a tool the developer ran)."""
    if actor is None:
        return "unknown"
    return "agent" if actor.get("kind") == "agent" else "human"


@dataclass(frozen=True, slots=True)
class LineAuthors:
    """One actor index per line of a content (`UNKNOWN`: not known), and the actors indexed."""

    actors: tuple[dict[str, Any], ...] = ()
    lines: tuple[int, ...] = ()

    @classmethod
    def unknown(cls, count: int) -> LineAuthors:
        """A content of `count` lines nobody recorded wrote."""
        return cls((), (UNKNOWN,) * count)

    def index_of(self, actor: Actor) -> tuple[LineAuthors, int]:
        """These authors with `actor` among the actors, and its index."""
        key = _key(actor)
        for at, known in enumerate(self.actors):
            if _key(known) == key:
                return self, at
        return LineAuthors((*self.actors, dict(actor)), self.lines), len(self.actors)

    def actor(self, line: int) -> dict[str, Any] | None:
        """The actor of a 1-based line, None when not known."""
        if not 1 <= line <= len(self.lines) or self.lines[line - 1] == UNKNOWN:
            return None
        return self.actors[self.lines[line - 1]]

    def replaced(self, lines: Sequence[int]) -> LineAuthors:
        """The same actors with other line authors; actors no line names any more are dropped."""
        used = sorted({i for i in lines if i != UNKNOWN})
        if len(used) == len(self.actors):
            return LineAuthors(self.actors, tuple(lines))
        renumber = {old: new for new, old in enumerate(used)}
        renumber[UNKNOWN] = UNKNOWN
        return LineAuthors(tuple(self.actors[i] for i in used), tuple(renumber[i] for i in lines))

    def encode(self) -> str:
        """Compact JSON: the actors, and the lines as runs of [count, index]."""
        runs: list[list[int]] = []
        for index in self.lines:
            if runs and runs[-1][1] == index:
                runs[-1][0] += 1
            else:
                runs.append([1, index])
        return json.dumps({"actors": list(self.actors), "runs": runs}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> LineAuthors:
        """The authors `encode` wrote."""
        data = json.loads(text)
        lines: list[int] = []
        for count, index in data["runs"]:
            lines.extend([index] * count)
        return cls(tuple(data["actors"]), tuple(lines))


def advance(
    authors: LineAuthors, before: Sequence[str], after: Sequence[str], actor: Actor
) -> LineAuthors:
    """The authors of `after`: lines kept from `before` keep theirs, the others are `actor`'s.
    The matcher is the one capture's diffs use, so both agree on what an edit changed."""
    if len(authors.lines) != len(before):
        authors = LineAuthors.unknown(len(before))
    authors, mine = authors.index_of(actor)
    lines: list[int] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag == "equal":
            lines.extend(authors.lines[i1:i2])
        elif tag in ("replace", "insert"):
            lines.extend([mine] * (j2 - j1))
    return authors.replaced(lines)


def advance_by_diff(authors: LineAuthors, diff: str, actor: Actor) -> LineAuthors | None:
    """The authors after an edit, read from the edit's own unified diff (no content needed);
    None when the diff does not fit the lines these authors describe."""
    authors, mine = authors.index_of(actor)
    old = authors.lines
    lines: list[int] = []
    position = 0
    try:
        found = hunks(diff)
    except PatchError:
        return None
    for start, old_len, rows in found:
        at = start - 1 if old_len else start  # an empty range names the line it follows
        if at < position or at + old_len > len(old):
            return None
        lines.extend(old[position:at])
        position = at
        for tag, _text in rows:
            if tag == " ":
                lines.append(old[position])
                position += 1
            elif tag == "-":
                position += 1
            else:
                lines.append(mine)
    lines.extend(old[position:])
    return authors.replaced(lines)


def added_lines(parent: Sequence[str], commit: Sequence[str]) -> list[int]:
    """The 1-based numbers of the lines of `commit` that are not kept from `parent`."""
    added: list[int] = []
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, parent, commit).get_opcodes():
        if tag in ("replace", "insert"):
            added.extend(range(j1 + 1, j2 + 1))
    return added


@dataclass(slots=True)
class CommitAuthorship:
    """The `authorship` of a commit's payload, built file by file."""

    actors: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _index(self, actor: Actor) -> int:
        key = _key(actor)
        for at, known in enumerate(self.actors):
            if _key(known) == key:
                return at
        self.actors.append(dict(actor))
        return len(self.actors) - 1

    def add_file(self, path: str, added: Sequence[int], authors: LineAuthors | None) -> None:
        """A committed file: the lines the commit added (1-based), authored as `authors` says
        (None: all unknown)."""
        actors = authors.actors if authors is not None else ()
        lines = authors.lines if authors is not None else ()
        mine = [self._index(actor) for actor in actors]  # the file's actor index → the commit's
        kinds = [actor_class(actor) for actor in actors]
        counts = {"agent": 0, "human": 0, "unknown": 0}
        ranges: list[list[int]] = []
        for line in added:
            own = lines[line - 1] if 1 <= line <= len(lines) else UNKNOWN
            if own == UNKNOWN:
                counts["unknown"] += 1
                continue
            counts[kinds[own]] += 1
            index = mine[own]
            if ranges and ranges[-1][1] == line - 1 and ranges[-1][2] == index:
                ranges[-1][1] = line
            else:
                ranges.append([line, line, index])
        self.files[path] = {**counts, "ranges": ranges}

    def payload(self, budget: int = AUTHORSHIP_BUDGET) -> dict[str, Any] | None:
        """The commit payload's `authorship`, None when no file was added to it.

        Kept within `budget` bytes of JSON, so a commit of thousands of files (a vendored
        library, a generated tree) still fits in an event the server takes (256 KiB): the files
        with the most ranges give up their ranges first (`ranges_omitted`, their counts kept);
        past that, the last files are left out whole and only summed (`omitted`)."""
        if not self.files:
            return None
        files = {path: dict(entry) for path, entry in self.files.items()}
        size = {path: len(json.dumps([path, entry])) for path, entry in files.items()}
        total = sum(size.values())
        for path in sorted(files, key=lambda p: -len(files[p]["ranges"])):
            if total <= budget or not files[path]["ranges"]:
                break
            files[path] = {**files[path], "ranges": [], "ranges_omitted": True}
            shrunk = len(json.dumps([path, files[path]]))
            total -= size[path] - shrunk
            size[path] = shrunk
        omitted = {"files": 0, "agent": 0, "human": 0, "unknown": 0}
        while total > budget and files:
            path, entry = files.popitem()
            total -= size[path]
            omitted["files"] += 1
            for kind in ("agent", "human", "unknown"):
                omitted[kind] += entry[kind]
        payload: dict[str, Any] = {"actors": self.actors, "files": files}
        if omitted["files"]:
            payload["omitted"] = omitted
        return payload


# ---------------------------------------------------------------- blame


@dataclass(frozen=True, slots=True)
class BlameLine:
    """One line of `git blame --porcelain`: where git says it comes from."""

    commit: str
    origin_line: int  # its number in `path` at `commit`
    final_line: int  # its number in the file blamed
    path: str  # the file's name at `commit` (it may have been renamed since)
    text: str  # without its line end


def parse_blame_porcelain(data: bytes) -> list[BlameLine]:
    """The lines of `git blame --porcelain` output, in the file's order."""
    lines: list[BlameLine] = []
    paths: dict[str, str] = {}
    commit = ""
    origin = final = 0
    for raw in data.decode("utf-8", "replace").split("\n"):
        if raw.startswith("\t"):
            lines.append(
                BlameLine(commit, origin, final, paths.get(commit, ""), raw[1:].rstrip("\r"))
            )
            continue
        if raw.startswith("filename "):
            paths[commit] = raw[9:]
        elif (header := _PORCELAIN_HEADER.match(raw)) is not None:
            commit, origin, final = header[1], int(header[2]), int(header[3])
    return lines


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who wrote the lines a commit added: from its commit event, or imported."""

    commit: str
    actors: tuple[dict[str, Any], ...]
    files: Mapping[str, Mapping[int, int]]  # path → {1-based line: actor index}
    source: str = "commit"

    @classmethod
    def of(cls, commit: str, authorship: Mapping[str, Any], source: str = "commit") -> Attribution:
        """From an `authorship` (a commit payload's) or an `attribution` event's payload."""
        actors = tuple(a for a in authorship.get("actors") or [] if isinstance(a, dict))
        files: dict[str, dict[int, int]] = {}
        for path, entry in (authorship.get("files") or {}).items():
            lines: dict[int, int] = {}
            for item in (entry or {}).get("ranges") or []:
                try:
                    start, end, index = (int(v) for v in item)
                except (TypeError, ValueError):
                    continue
                if 0 <= index < len(actors):
                    lines.update(dict.fromkeys(range(start, end + 1), index))
            files[str(path)] = lines
        return cls(commit, actors, files, source)


class BlameSources(Protocol):
    """What resolution asks of the repository and the buffer (the daemon answers)."""

    def attribution(self, commit: str) -> Attribution | None:
        """The commit's attribution, if one was recorded or imported."""

    def rewritten_from(self, commit: str) -> Sequence[str]:
        """The commits `commit` was made from by an amend or a rebase (new → old)."""

    def same_patch(self, commit: str) -> Sequence[str]:
        """Attributed commits whose patch-id is `commit`'s."""

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        """The file's lines (split as `split_lines` does) at the commit; None if git lacks it."""

    def attributions(self) -> Iterable[Attribution]:
        """Every attribution of the repository, for matching by content."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """A blamed line and who wrote it (None: not known), found how, in which commit."""

    line: BlameLine
    actor: dict[str, Any] | None
    via: str | None = None  # "commit", "rewrite", "patch-id", "content"
    source: str | None = None  # the attributed commit the actor was read from


def _nearest(candidates: Iterable[tuple[int, int]], line: int) -> int | None:
    """The actor index of the candidate (line number, index) nearest `line`."""
    best = min(candidates, key=lambda c: (abs(c[0] - line), c[0]), default=None)
    return best[1] if best is not None else None


class ContentMatcher:
    """Who wrote a line of this text elsewhere in the repository: every attributed line's text,
    indexed on first use (the same file first, then any; the nearest line number wins)."""

    def __init__(self, sources: BlameSources) -> None:
        self.sources = sources
        self._by_text: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] | None = None

    def _index(self) -> dict[str, dict[str, list[tuple[int, dict[str, Any]]]]]:
        """text → path → [(line, actor)] over every attributed line of the repository."""
        if self._by_text is None:
            self._by_text = {}
            for att in self.sources.attributions():
                for path, entry in att.files.items():
                    text = self.sources.file_lines(att.commit, path) if entry else None
                    if text is None:
                        continue
                    for n, index in entry.items():
                        bare = _bare(text[n - 1]) if n <= len(text) else ""
                        if bare.strip():  # a blank line says nothing of who wrote it
                            places = self._by_text.setdefault(bare, {})
                            places.setdefault(path, []).append((n, att.actors[index]))
        return self._by_text

    def actor(self, line: BlameLine) -> dict[str, Any] | None:
        """The actor of the attributed line with the same text nearest this one, if any."""
        if not line.text.strip():
            return None
        places = self._index().get(line.text)
        if not places:
            return None
        pool = places.get(line.path) or [c for group in places.values() for c in group]
        return min(pool, key=lambda c: (abs(c[0] - line.origin_line), c[0]))[1]


class _Resolver:
    def __init__(self, sources: BlameSources) -> None:
        self.sources = sources
        self.content = ContentMatcher(sources)
        self.patch: dict[str, Sequence[str]] = {}

    def in_attribution(
        self, att: Attribution, line: BlameLine, *, same_commit: bool
    ) -> dict[str, Any] | None:
        """The line's actor in one attribution: by its number in the commit itself; in a commit
        it was copied from, the same text nearest its number."""
        path = line.path if line.path in att.files else None
        if path is None and len(att.files) == 1:
            path = next(iter(att.files))  # the file was renamed since
        entry = att.files.get(path) if path is not None else None
        if not entry or path is None:
            return None
        text = None if same_commit else self.sources.file_lines(att.commit, path)
        if text is None:
            index = entry.get(line.origin_line)
            return att.actors[index] if index is not None else None
        found = _nearest(
            (
                (n, i)
                for n, i in entry.items()
                if n <= len(text) and _bare(text[n - 1]) == line.text
            ),
            line.origin_line,
        )
        return att.actors[found] if found is not None else None

    def _from(self, commit: str, line: BlameLine, *, same_commit: bool) -> dict[str, Any] | None:
        att = self.sources.attribution(commit)
        return self.in_attribution(att, line, same_commit=same_commit) if att is not None else None

    def resolve(self, line: BlameLine) -> Resolved:
        src = self.sources
        if (actor := self._from(line.commit, line, same_commit=True)) is not None:
            return Resolved(line, actor, "commit", line.commit)
        seen = {line.commit}
        older = list(src.rewritten_from(line.commit))
        while older:  # an amend of a rebased commit: follow the chain back
            commit = older.pop(0)
            if commit in seen:
                continue
            seen.add(commit)
            if (actor := self._from(commit, line, same_commit=False)) is not None:
                return Resolved(line, actor, "rewrite", commit)
            older.extend(src.rewritten_from(commit))
        if line.commit not in self.patch:
            self.patch[line.commit] = src.same_patch(line.commit)
        for commit in self.patch[line.commit]:
            if commit not in seen and (actor := self._from(commit, line, same_commit=False)):
                return Resolved(line, actor, "patch-id", commit)
        if (actor := self.content.actor(line)) is not None:
            return Resolved(line, actor, "content")
        return Resolved(line, None)


def resolve(lines: Iterable[BlameLine], sources: BlameSources) -> list[Resolved]:
    """Who wrote each blamed line, in the order: the commit's own attribution, the commit it
    was rewritten from, a commit with its patch-id, the same text attributed elsewhere."""
    resolver = _Resolver(sources)
    return [resolver.resolve(line) for line in lines]
