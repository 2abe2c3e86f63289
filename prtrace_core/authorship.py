"""Which actor wrote each line: carried through edits, summed up per commit, resolved for blame.

Pure functions over plain values; the daemon feeds them contents, diffs and git's answers.

- A file's *line authors* hold one actor index per line of its content (`UNKNOWN` when nobody
  recorded wrote it). An edit keeps the author of every line it leaves alone and gives the lines
  it inserts or replaces to its own actor. Lines are split as capture's diffs split them
  (`split_lines`: `str.splitlines` after decoding UTF-8 with replacement), so an edit's own diff
  can advance them without reading either content.
- Git splits lines on `\n` only, so a line of git's may be made of several of those pieces (a
  form feed, a lone `\r`, U+2028 split a line for Python, not for git). Wherever the line
  authors meet git (a commit's ranges, blame), they are turned into git's numbering
  (`in_git_numbering`): a git line made of several pieces is an agent's when any piece is
  (the agent wrote part of it), else the author of its last piece with text.
- A commit's *authorship* names, per file, the lines it added against its first parent, as
  `[start, end, actor index]` ranges (1-based, inclusive, git's numbering) and agent / human /
  unknown counts. Lines git wrote (`GIT`: a merge, a rebase, a cherry-pick) are nobody's: they
  count as unknown and are in no range, unless the daemon found who wrote them first.
- *Blame resolution* finds the actor of a line `git blame` traces to commit C: from C's own
  attribution (only for the file git names at C), else from the commit C was rewritten from
  (amend, rebase), else from a commit with C's patch-id (cherry-pick), else by content: the
  same text attributed in the same file, only when every such line has the same author, never
  for a line too plain to tell (blank, `}`, `pass`), and never when C's own record covers the
  file (the commit's word wins).
"""

from __future__ import annotations

import difflib
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prtrace_core.patches import PatchError, hunks

__all__ = [
    "AUTHORSHIP_BUDGET",
    "GIT",
    "UNKNOWN",
    "Attribution",
    "BlameLine",
    "BlameSources",
    "CommitAuthorship",
    "ContentMatcher",
    "LineAuthors",
    "LineRanges",
    "Resolved",
    "actor_class",
    "added_lines",
    "advance",
    "advance_by_diff",
    "git_lines",
    "in_git_numbering",
    "parse_blame_porcelain",
    "resolve",
    "split_lines",
    "telling",
    "with_git_lines",
]

UNKNOWN = -1  # the author index of a line nobody recorded wrote
# A commit's `authorship` in JSON at most: a quarter of the server's 256 KiB per event, beside
# the commit's own message and file list.
AUTHORSHIP_BUDGET = 64 * 1024
Actor = Mapping[str, Any]
# The author of the lines git itself writes (a merge, a squash, a rebase, a cherry-pick): not
# the developer's typing; a line keeps it until the daemon finds who wrote that text first.
GIT: Mapping[str, str] = {"kind": "tool", "name": "git"}

_WORD = re.compile(r"\w+")
_PORCELAIN_HEADER = re.compile(r"([0-9a-f]{40}|[0-9a-f]{64}) (\d+) (\d+)(?: \d+)?$")


def split_lines(content: bytes | None) -> list[str]:
    """A content's lines with their ends, split as capture's diffs split them."""
    if not content:
        return []
    return content.decode("utf-8", "replace").splitlines(keepends=True)


def git_lines(content: bytes | None) -> list[str]:
    """A content's lines with their ends, split as git splits them (on `\\n` only)."""
    if not content:
        return []
    rows = content.decode("utf-8", "replace").split("\n")
    lines = [row + "\n" for row in rows[:-1]]
    if rows[-1]:
        lines.append(rows[-1])
    return lines


def _git_groups(pieces: Sequence[str]) -> list[range]:
    """For each of git's lines, the `split_lines` pieces (indices) it is made of."""
    groups: list[range] = []
    start = 0
    for at, piece in enumerate(pieces):
        if piece.endswith("\n"):
            groups.append(range(start, at + 1))
            start = at + 1
    if start < len(pieces):
        groups.append(range(start, len(pieces)))
    return groups


def in_git_numbering(authors: LineAuthors, pieces: Sequence[str]) -> LineAuthors:
    """The authors of a content (`pieces`: its `split_lines`) per line of git's. A git line made
    of several pieces is an agent's when any piece is (the last such agent: it wrote part of
    the line), else the author of its last piece with text beyond its line end."""
    if len(authors.lines) != len(pieces):
        raise ValueError("the authors do not describe these lines")
    lines: list[int] = []
    for group in _git_groups(pieces):
        if len(group) == 1:
            lines.append(authors.lines[group[0]])
            continue
        own = [authors.lines[at] for at in group]
        agents = [i for i in own if i != UNKNOWN and authors.actors[i].get("kind") == "agent"]
        with_text = [authors.lines[at] for at in group if "".join(pieces[at].splitlines()).strip()]
        lines.append(agents[-1] if agents else (with_text or own)[-1])
    return authors.replaced(lines)


def with_git_lines(
    authors: LineAuthors, pieces: Sequence[str], found: Mapping[int, Actor]
) -> LineAuthors:
    """The authors (in `split_lines` numbering) with each git line named in `found` (1-based,
    git's numbering) given, piece by piece, to the actor found for it."""
    lines = list(authors.lines)
    for number, group in enumerate(_git_groups(pieces), start=1):
        actor = found.get(number)
        if actor is not None:
            authors, index = authors.index_of(actor)
            lines[group.start : group.stop] = [index] * len(group)
    return authors.replaced(lines)


def telling(text: str) -> bool:
    """Whether a line says enough to be matched by its text: two words at least, so a blank
    line, `}`, `pass` or `else:` (written alike by everyone) never is."""
    return len(_WORD.findall(text)) >= 2


def _bare(line: str) -> str:
    """A line without its end: what `git blame` shows of it."""
    return line.rstrip("\r\n")


def _key(actor: Actor) -> str:
    return json.dumps(dict(actor), sort_keys=True, separators=(",", ":"))


def actor_class(actor: Actor | None) -> str:
    """ "agent" for a coding agent's line, "human" for the developer's; "unknown" when nobody
    recorded wrote it or a tool did (git's merges and rebases write lines nobody typed)."""
    kind = actor.get("kind") if actor is not None else None
    return kind if kind in ("agent", "human") else "unknown"


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
        """A committed file: the lines the commit added (1-based, git's numbering), authored as
        `authors` (in git's numbering) says (None: all unknown). A tool's lines count as
        unknown and are in no range: git wrote them, nobody typed them."""
        actors = authors.actors if authors is not None else ()
        lines = authors.lines if authors is not None else ()
        kinds = [actor_class(actor) for actor in actors]
        # the file's actor index → the commit's (a tool, named by no range, is not listed)
        mine = [
            self._index(a) if k != "unknown" else UNKNOWN
            for a, k in zip(actors, kinds, strict=True)
        ]
        counts = {"agent": 0, "human": 0, "unknown": 0}
        ranges: list[list[int]] = []
        for line in added:
            own = lines[line - 1] if 1 <= line <= len(lines) else UNKNOWN
            if own == UNKNOWN or mine[own] == UNKNOWN:
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


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquoted(name: str) -> str:
    """A file name as git wrote it, C-quoted when it holds a newline, a quote, a backslash or
    (by default) a byte beyond ASCII: the name itself (undecodable bytes kept as surrogates,
    as git's trees are read)."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    raw = bytearray()
    body = name[1:-1]
    at = 0
    while at < len(body):
        char = body[at]
        if char != "\\" or at + 1 == len(body):
            raw += char.encode("utf-8", "surrogateescape")
            at += 1
        elif body[at + 1] in _ESCAPES:
            raw.append(_ESCAPES[body[at + 1]])
            at += 2
        elif body[at + 1 : at + 4].isdigit():
            raw.append(int(body[at + 1 : at + 4], 8) & 0xFF)
            at += 4
        else:
            raw += b"\\"
            at += 1
    return raw.decode("utf-8", "surrogateescape")


def parse_blame_porcelain(data: bytes) -> list[BlameLine]:
    """The lines of `git blame --porcelain` output, in the file's order."""
    lines: list[BlameLine] = []
    paths: dict[str, str] = {}
    commit = ""
    origin = final = 0
    for raw in data.decode("utf-8", "surrogateescape").split("\n"):
        if raw.startswith("\t"):
            text = raw[1:].rstrip("\r").encode("utf-8", "surrogateescape")
            lines.append(
                BlameLine(
                    commit, origin, final, paths.get(commit, ""), text.decode("utf-8", "replace")
                )
            )
            continue
        if raw.startswith("filename "):
            paths[commit] = _unquoted(raw[9:])
        elif (header := _PORCELAIN_HEADER.match(raw)) is not None:
            commit, origin, final = header[1], int(header[2]), int(header[3])
    return lines


@dataclass(frozen=True, slots=True)
class LineRanges:
    """A file's attributed lines, as sorted ranges that do not overlap, each with its actor
    index: looked up by bisection, never expanded line by line (an imported range may claim
    millions of lines)."""

    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()
    actors: tuple[int, ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int, int]]) -> LineRanges:
        """From (start, end, actor index) in any order; where two overlap, the one that starts
        first keeps the lines they share."""
        kept: list[tuple[int, int, int]] = []
        last = 0
        for start, end, index in sorted(ranges, key=lambda r: r[0]):
            start = max(start, last + 1, 1)
            if start <= end:
                kept.append((start, end, index))
                last = end
        return cls(*_columns(kept))

    def __bool__(self) -> bool:
        return bool(self.starts)

    def get(self, line: int) -> int | None:
        """The actor index of a 1-based line, None when no range holds it."""
        at = bisect_right(self.starts, line) - 1
        return self.actors[at] if at >= 0 and line <= self.ends[at] else None

    def items(self, last: int) -> Iterator[tuple[int, int]]:
        """(line, actor index) of every attributed line up to `last`, in order."""
        for start, end, index in zip(self.starts, self.ends, self.actors, strict=True):
            if start > last:
                return
            for line in range(start, min(end, last) + 1):
                yield line, index

    def uncovered(self, start: int, end: int, index: int) -> list[tuple[int, int, int]]:
        """The parts of `start`-`end` no range of these holds, each given `index`."""
        parts: list[tuple[int, int, int]] = []
        at = bisect_right(self.ends, start - 1)  # the first range that ends at `start` or later
        while start <= end:
            if at < len(self.starts) and self.starts[at] <= end:
                if self.starts[at] > start:
                    parts.append((start, self.starts[at] - 1, index))
                start = max(start, self.ends[at] + 1)
                at += 1
            else:
                parts.append((start, end, index))
                break
        return parts

    def filled(self, other: LineRanges, renumber: Sequence[int]) -> LineRanges:
        """These ranges, and `other`'s lines where these say nothing (`renumber`: `other`'s
        actor index → the one it has here)."""
        parts = list(zip(self.starts, self.ends, self.actors, strict=True))
        for start, end, index in zip(other.starts, other.ends, other.actors, strict=True):
            parts.extend(self.uncovered(start, end, renumber[index]))
        return LineRanges(*_columns(sorted(parts)))


def _columns(
    ranges: Sequence[tuple[int, int, int]],
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    return (
        tuple(r[0] for r in ranges),
        tuple(r[1] for r in ranges),
        tuple(r[2] for r in ranges),
    )


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who wrote the lines a commit added: from its commit event, or imported, or both merged."""

    commit: str
    actors: tuple[dict[str, Any], ...]
    files: Mapping[str, LineRanges]  # path → its attributed lines
    source: str = "commit"
    # the files the commit's own record speaks for (no content guess overrides its word)
    covered: frozenset[str] = frozenset()

    @classmethod
    def of(cls, commit: str, authorship: Mapping[str, Any], source: str = "commit") -> Attribution:
        """From an `authorship` (a commit payload's) or an `attribution` event's payload."""
        actors = tuple(a for a in authorship.get("actors") or [] if isinstance(a, dict))
        files: dict[str, LineRanges] = {}
        covered: set[str] = set()
        entries = authorship.get("files")
        for path, entry in (entries if isinstance(entries, Mapping) else {}).items():
            found: list[tuple[int, int, int]] = []
            body = entry if isinstance(entry, Mapping) else {}
            for item in body.get("ranges") or []:
                try:
                    start, end, index = (int(v) for v in item)
                except (TypeError, ValueError):
                    continue
                if 0 <= index < len(actors):
                    found.append((start, end, index))
            files[str(path)] = LineRanges.of(found)
            if source == "commit" and not body.get("ranges_omitted"):
                covered.add(str(path))
        return cls(commit, actors, files, source, frozenset(covered))

    def merged(self, other: Attribution) -> Attribution:
        """This attribution, completed by `other` file by file and line by line: a line this
        one does not name (a file-only record, an unknown line) takes `other`'s author."""
        actors = list(self.actors)
        keys = [_key(a) for a in actors]
        renumber: list[int] = []
        for actor in other.actors:
            key = _key(actor)
            if key not in keys:
                keys.append(key)
                actors.append(actor)
            renumber.append(keys.index(key))
        files = dict(self.files)
        for path, ranges in other.files.items():
            files[path] = files.get(path, LineRanges()).filled(ranges, renumber)
        return Attribution(
            self.commit, tuple(actors), files, self.source, self.covered | other.covered
        )

    def speaks_for(self, path: str) -> bool:
        """Whether the commit's own record covers this file (its unnamed lines are unknown)."""
        return path in self.covered


class BlameSources(Protocol):
    """What resolution asks of the repository and the buffer (the daemon answers)."""

    def attribution(self, commit: str) -> Attribution | None:
        """The commit's attribution, if one was recorded or imported."""

    def rewritten_from(self, commit: str) -> Sequence[str]:
        """The commits `commit` was made from by an amend or a rebase (new → old)."""

    def same_patch(self, commit: str, path: str) -> Sequence[str]:
        """Attributed commits naming `path` whose patch-id is `commit`'s."""

    def origin_path(self, older: str, commit: str, path: str) -> str | None:
        """The name `path` of `commit` had in the `older` commit, when git sees a rename."""

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        """The file's lines (git's: `git_lines`) at the commit; None if git lacks it."""

    def attributions(self, path: str) -> Iterable[Attribution]:
        """The attributions that name `path`, for matching by content."""


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
    """Who wrote a line of this text in the same file: the file's attributed lines, indexed
    per path on first use. An answer only when every attributed line of that text has the same
    author; a line too plain to tell (`telling`) is never matched."""

    def __init__(self, sources: BlameSources) -> None:
        self.sources = sources
        self._by_path: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}

    def _index(self, path: str) -> dict[str, dict[str, dict[str, Any]]]:
        """text → {actor key: actor} over the attributed lines of `path`."""
        index = self._by_path.get(path)
        if index is None:
            index = self._by_path[path] = {}
            for att in self.sources.attributions(path):
                ranges = att.files.get(path)
                text = self.sources.file_lines(att.commit, path) if ranges else None
                if ranges is None or text is None:
                    continue
                for n, at in ranges.items(len(text)):
                    bare = _bare(text[n - 1])
                    if telling(bare):
                        actor = att.actors[at]
                        index.setdefault(bare, {})[_key(actor)] = actor
        return index

    def forget(self, path: str) -> None:
        """Drop the index of `path`: an attribution naming it was added."""
        self._by_path.pop(path, None)

    def authors(self, path: str, text: str) -> list[dict[str, Any]]:
        """The distinct authors of this text's attributed lines in `path` (none for a line too
        plain to tell)."""
        if not telling(text):
            return []
        return list(self._index(path).get(text, {}).values())

    def actor(self, path: str, text: str) -> dict[str, Any] | None:
        """The one author of this text's attributed lines in `path`; None if none or several."""
        found = self.authors(path, text)
        return found[0] if len(found) == 1 else None


class _Resolver:
    def __init__(self, sources: BlameSources) -> None:
        self.sources = sources
        self.content = ContentMatcher(sources)

    def _path_in(self, att: Attribution, line: BlameLine) -> str | None:
        """The line's file as `att` names it: git's name for it at the line's commit, or the
        name it had in `att`'s commit when git sees it renamed since."""
        if line.path in att.files:
            return line.path
        if att.commit == line.commit:
            return None  # another file of the same commit says nothing of this one
        older = self.sources.origin_path(att.commit, line.commit, line.path)
        return older if older is not None and older in att.files else None

    def in_attribution(
        self, att: Attribution, line: BlameLine, *, same_commit: bool
    ) -> dict[str, Any] | None:
        """The line's actor in one attribution: by its number in the commit itself; in a commit
        it was copied from, the same text nearest its number."""
        path = self._path_in(att, line)
        ranges = att.files.get(path) if path is not None else None
        if not ranges or path is None:
            return None
        text = None if same_commit else self.sources.file_lines(att.commit, path)
        if text is None:
            index = ranges.get(line.origin_line)
            return att.actors[index] if index is not None else None
        found = _nearest(
            ((n, i) for n, i in ranges.items(len(text)) if _bare(text[n - 1]) == line.text),
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
        for commit in src.same_patch(line.commit, line.path):
            if commit not in seen and (actor := self._from(commit, line, same_commit=False)):
                return Resolved(line, actor, "patch-id", commit)
        own = src.attribution(line.commit)
        if own is not None and own.speaks_for(line.path):
            return Resolved(line, None)  # the commit's record says nobody known wrote it
        if (actor := self.content.actor(line.path, line.text)) is not None:
            return Resolved(line, actor, "content")
        return Resolved(line, None)


def resolve(lines: Iterable[BlameLine], sources: BlameSources) -> list[Resolved]:
    """Who wrote each blamed line, in the order: the commit's own attribution, the commit it
    was rewritten from, a commit with its patch-id, the same text attributed in the same file."""
    resolver = _Resolver(sources)
    return [resolver.resolve(line) for line in lines]
