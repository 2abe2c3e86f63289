"""The spool line format, defined once: what the git hooks, the shell hooks and a hand-off write,
and what a drain reads.

A line is tab-separated, and its last byte is its only raw newline:

    v1 <TAB> KIND <TAB> TIME <TAB> REPO [<TAB> FIELD]... <LF>

- `v1`, the format's version: a line that does not start with it is not ours and is skipped.
- KIND names the record the fields hold (below). A kind no writer of ours writes is dropped.
- TIME is one of:
  - empty: a git hook's line (`date` would be a process in git's path); its spool file's mtime
    is when it was written, and joins the line's key, so the same checkout twice is two lines;
  - `SECONDS.FRACTION` (bash's `$EPOCHREALTIME`, zsh's): when a typed command started; for
    an `event`, when it happened;
  - `@SECONDS.FRACTION` (fish's `date +%s.%N`): when a typed command ended; it started its
    duration before;
  - an ISO-8601 UTC time (`2026-11-25T09:46:40.250Z`): a hand-off's as earlier versions wrote
    it (and as a caller may still give it), a git hook line as the hooks of earlier versions
    wrote it (with `date`), or as the quarantine keeps it.
- REPO is the registered repository's root (a typed command: the one holding its folder).

The records, one per KIND, with their FIELDs in order:

- `commit` SHA REF, from post-commit. SHA is HEAD; REF is `refs/heads/NAME`, or `HEAD` when
  detached (every git hook line starts with these two, from `git rev-parse`).
- `checkout` SHA REF PREVIOUS BRANCH, from post-checkout: PREVIOUS is HEAD before; BRANCH is
  `1` for a branch checkout, `0` for a file checkout.
- `merge` SHA REF SQUASH BEFORE, from post-merge: SQUASH is `1` for a squash merge; BEFORE is
  where HEAD was (ORIG_HEAD).
- `rewrite` SHA REF HOW MAPPINGS, from post-rewrite: HOW is `amend` or `rebase`; MAPPINGS is
  git's stdin, each `OLD NEW [EXTRA]` line ended by `;` instead of a newline.
- `push` SHA REF REMOTE URL REFS, from pre-push: REFS is git's stdin, each `LOCAL_REF LOCAL_SHA
  REMOTE_REF REMOTE_SHA` line ended by `;`.
- `command` EXIT DURATION_MS CWD PIPESTATUS SHELL TEXT, from the shell hooks: PIPESTATUS is the
  pipe's statuses, space-separated; CWD and TEXT are escaped (backslash, tab, newline and CR as
  `\\\\`, `\\t`, `\\n`, `\\r`), so a command of many lines is one line here.
- `event` TYPE JSON, from `note` and `run` handing an event to the daemon (handoff.py): JSON is
  the payload, as `json.dumps` writes it (ASCII).
- `agent` AGENT JSON, from a coding agent's hook (`prtrace agent install`): AGENT names the agent
  (`claude-code`, `codex`, `gemini`, `cursor`); JSON is the hook's input as the agent wrote it,
  with the tabs, CRs and newlines between its tokens turned into spaces (a JSON text holds them
  nowhere else, so its meaning is unchanged). TIME is empty: the file's mtime is when the hook ran.

The other fields are written as they are, so they hold no tab, newline or CR. Fields missing at
the end of a line read as empty, and fields beyond a record's are ignored: lines of any earlier
version of this format are read the same way.

`encode_line` writes a record and `decode_line` reads one, so hand-offs and the daemon agree by
construction; the git hooks' `printf` is built from each record's `FIELDS` (hooks.py). The
shell hooks are shell code and cannot import this: tests type into the real shells and decode
what they wrote. The records are plain classes, not dataclasses: a hand-off's encoder is on the
path of every `prtrace note`, where importing dataclasses would cost more than the rest of it.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod

TYPE_CHECKING = False  # typing is not loaded on `note`'s path
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar, Self

__all__ = [
    "KINDS",
    "VERSION",
    "AgentRecord",
    "CheckoutRecord",
    "CommandRecord",
    "CommitRecord",
    "HandoffRecord",
    "MergeRecord",
    "PushRecord",
    "RewriteRecord",
    "SpoolRecord",
    "decode_line",
    "decode_record",
    "encode_line",
    "epoch_time",
    "escape",
    "is_count",
    "unescape",
]

VERSION = "v1"
HEADER = 4  # v1, KIND, TIME, REPO: the fields every line starts with

_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPED = r"\\(.)"  # compiled on first use (re caches it): not on `note`'s path
_RAW_UNSAFE = ("\t", "\n", "\r")  # a field written as it is must not split the line


def is_count(text: str, *, signed: bool = False) -> bool:
    """A whole number as the hooks write one: 1 to 12 ASCII digits (str.isdigit() alone takes
    "²", which int() does not), and a sign when allowed."""
    digits = text[1:] if signed and text.startswith("-") else text
    return 0 < len(digits) <= 12 and digits.isascii() and digits.isdigit()


def escape(text: str) -> str:
    """Escape `\\`, tab, newline and CR as the shell hooks do, so a record stays one line."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def unescape(text: str) -> str:
    """Undo the shell hooks' escaping of `\\`, tab, newline and CR (a lone `\\x` is kept)."""
    if "\\" not in text:
        return text
    return re.sub(_ESCAPED, lambda m: _ESCAPES.get(m.group(1), m.group(0)), text, flags=re.DOTALL)


def _padded(fields: Sequence[str], n: int) -> list[str]:
    """The first `n` fields, missing ones empty: a shorter line is an earlier writer's."""
    return [*fields[:n], *[""] * (n - len(fields))]


def _entries(flat: str, size: int, *, exact: bool) -> list[tuple[str, ...]]:
    """git's stdin lines as a hook flattens them (`a b c;d e f;`), split into words: `size`
    words each (`exact`), or at least `size`, of which the first `size` are kept."""
    out = []
    for entry in flat.split(";"):
        words = entry.split()
        if len(words) == size if exact else len(words) >= size:
            out.append(tuple(words[:size]))
    return out


def _flat(entries: Sequence[Sequence[str]]) -> str:
    return "".join(" ".join(entry) + ";" for entry in entries)


class SpoolRecord(ABC):
    """What one spool line says, after its header: a subclass per KIND, whose FIELDS name its
    attributes in the order the line holds them. (abc is loaded with Python itself: no cost to
    `note`.)"""

    __slots__ = ()
    kind: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]

    @abstractmethod
    def fields(self) -> tuple[str, ...]:
        """The fields as written on the line, after the header."""

    @classmethod
    @abstractmethod
    def from_fields(cls, fields: Sequence[str]) -> Self | None:
        """The record the fields hold, or None when they can never be one (malformed)."""

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SpoolRecord)
            and type(other) is type(self)
            and other._values() == self._values()
        )

    __hash__ = None  # type: ignore[assignment]  # a hand-off's payload is a dict

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({args})"


class CommitRecord(SpoolRecord):
    """post-commit: HEAD names a new commit."""

    __slots__ = ("ref", "sha")
    kind = "commit"
    FIELDS = ("sha", "ref")

    def __init__(self, sha: str, ref: str) -> None:
        self.sha = sha
        self.ref = ref

    def fields(self) -> tuple[str, ...]:
        return (self.sha, self.ref)

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self:
        sha, ref = _padded(fields, 2)
        return cls(sha, ref)


class CheckoutRecord(SpoolRecord):
    """post-checkout: HEAD moved from `previous` to `sha`; `branch` off for a file checkout."""

    __slots__ = ("branch", "previous", "ref", "sha")
    kind = "checkout"
    FIELDS = ("sha", "ref", "previous", "branch")

    def __init__(self, sha: str, ref: str, previous: str, branch: bool) -> None:
        self.sha = sha
        self.ref = ref
        self.previous = previous
        self.branch = branch

    def fields(self) -> tuple[str, ...]:
        return (self.sha, self.ref, self.previous, "1" if self.branch else "0")

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self:
        sha, ref, previous, flag = _padded(fields, 4)
        return cls(sha, ref, previous, flag == "1")


class MergeRecord(SpoolRecord):
    """post-merge (a merge or a pull): HEAD is `sha`, and was `before` (empty when unknown)."""

    __slots__ = ("before", "ref", "sha", "squash")
    kind = "merge"
    FIELDS = ("sha", "ref", "squash", "before")

    def __init__(self, sha: str, ref: str, squash: bool, before: str) -> None:
        self.sha = sha
        self.ref = ref
        self.squash = squash
        self.before = before

    def fields(self) -> tuple[str, ...]:
        return (self.sha, self.ref, "1" if self.squash else "0", self.before)

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self:
        sha, ref, squash, before = _padded(fields, 4)
        return cls(sha, ref, squash == "1", before)


class RewriteRecord(SpoolRecord):
    """post-rewrite: an amend or a rebase made each old commit a new one."""

    __slots__ = ("how", "mappings", "ref", "sha")
    kind = "rewrite"
    FIELDS = ("sha", "ref", "how", "mappings")

    def __init__(self, sha: str, ref: str, how: str, mappings: tuple[tuple[str, str], ...]) -> None:
        self.sha = sha
        self.ref = ref
        self.how = how
        self.mappings = mappings  # (old sha, new sha)

    def fields(self) -> tuple[str, ...]:
        return (self.sha, self.ref, self.how, _flat(self.mappings))

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self:
        sha, ref, how, flat = _padded(fields, 4)
        mappings = tuple((old, new) for old, new in _entries(flat, 2, exact=False))
        return cls(sha, ref, how, mappings)


class PushRecord(SpoolRecord):
    """pre-push: the remote pushed to, and the refs the push updates there."""

    __slots__ = ("ref", "refs", "remote", "sha", "url")
    kind = "push"
    FIELDS = ("sha", "ref", "remote", "url", "refs")

    def __init__(
        self, sha: str, ref: str, remote: str, url: str, refs: tuple[tuple[str, str, str, str], ...]
    ) -> None:
        self.sha = sha
        self.ref = ref
        self.remote = remote
        self.url = url
        self.refs = refs  # (local ref, local sha, remote ref, remote sha)

    def fields(self) -> tuple[str, ...]:
        return (self.sha, self.ref, self.remote, self.url, _flat(self.refs))

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self:
        sha, ref, remote, url, flat = _padded(fields, 5)
        refs = tuple((a, b, c, d) for a, b, c, d in _entries(flat, 4, exact=True))
        return cls(sha, ref, remote, url, refs)


class CommandRecord(SpoolRecord):
    """A command typed in an interactive shell (`prtrace shell-init`); its output is not seen."""

    __slots__ = ("command", "cwd", "duration_ms", "exit_code", "pipestatus", "shell")
    kind = "command"
    FIELDS = ("exit_code", "duration_ms", "cwd", "pipestatus", "shell", "command")

    def __init__(
        self,
        command: str,
        exit_code: int,
        *,
        duration_ms: int | None = None,
        cwd: str = "",
        pipestatus: tuple[int, ...] = (),
        shell: str = "",
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.duration_ms = duration_ms  # None: the shell did not say
        self.cwd = cwd  # where it started ("" unknown)
        self.pipestatus = pipestatus  # each command's status in a pipe (one for no pipe)
        self.shell = shell

    def fields(self) -> tuple[str, ...]:
        duration = "" if self.duration_ms is None else str(self.duration_ms)
        statuses = " ".join(str(status) for status in self.pipestatus)
        return (
            str(self.exit_code),
            duration,
            escape(self.cwd),
            statuses,
            self.shell,
            escape(self.command),
        )

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self | None:
        exit_code, duration, cwd, pipestatus, shell, text = _padded(fields, 6)
        command = unescape(text)
        if not command.strip() or not is_count(exit_code, signed=True):
            return None
        statuses = pipestatus.split()
        return cls(
            command,
            int(exit_code),
            duration_ms=int(duration) if is_count(duration) else None,
            cwd=unescape(cwd),
            pipestatus=tuple(int(s) for s in statuses)
            if all(is_count(s) for s in statuses)
            else (),
            shell=shell,
        )


class HandoffRecord(SpoolRecord):
    """An event `note` or `run` handed to the daemon to record (handoff.py)."""

    __slots__ = ("payload", "type")
    kind = "event"
    FIELDS = ("type", "payload")

    def __init__(self, type: str, payload: dict[str, Any]) -> None:
        self.type = type
        self.payload = payload

    def fields(self) -> tuple[str, ...]:
        return (self.type, json.dumps(self.payload))

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self | None:
        type, raw = _padded(fields, 2)
        try:
            # not orjson: a non-UTF-8 argument arrives as a lone surrogate
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not type or not isinstance(payload, dict):
            return None
        return cls(type, payload)


class AgentRecord(SpoolRecord):
    """A coding agent's hook input, as its hook appended it (`prtrace agent install`)."""

    __slots__ = ("agent", "payload")
    kind = "agent"
    FIELDS = ("agent", "payload")

    def __init__(self, agent: str, payload: dict[str, Any]) -> None:
        self.agent = agent
        self.payload = payload

    def fields(self) -> tuple[str, ...]:
        return (self.agent, json.dumps(self.payload))

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Self | None:
        agent, raw = _padded(fields, 2)
        try:
            # not orjson: a lone surrogate from a file name must not sink the whole call
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not agent or not isinstance(payload, dict):
            return None
        return cls(agent, payload)


KINDS: dict[str, type[SpoolRecord]] = {
    record.kind: record
    for record in (
        CommitRecord,
        CheckoutRecord,
        MergeRecord,
        RewriteRecord,
        PushRecord,
        CommandRecord,
        HandoffRecord,
        AgentRecord,
    )
}
_ESCAPED_FIELDS = {(CommandRecord, 2), (CommandRecord, 5)}  # written escaped: any text goes


def encode_line(record: SpoolRecord, *, repo: str, ts: str = "") -> bytes:
    """The line that records `record` for the repository `repo`, newline included; `ts` as
    TIME above. Raises ValueError for a field that would split the line (a tab, newline or CR
    in a field written as it is)."""
    parts = (VERSION, record.kind, ts, repo, *record.fields())
    for at, part in enumerate(parts):
        if (type(record), at - HEADER) not in _ESCAPED_FIELDS and any(
            c in part for c in _RAW_UNSAFE
        ):
            raise ValueError(f"a {record.kind} line cannot hold a tab, newline or CR in field {at}")
    return "\t".join(parts).encode("utf-8", "surrogateescape") + b"\n"


def epoch_time(ns: int) -> str:
    """TIME as `SECONDS.FRACTION` for a `time.time_ns()` reading: a hand-off writes its time so,
    loading no datetime on `note`'s path."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def decode_line(raw: bytes) -> tuple[str, str, str, tuple[str, ...]] | None:
    """A line's KIND, TIME, REPO and fields (as written), or None for a line not of this format."""
    parts = raw.decode("utf-8", "surrogateescape").rstrip("\n").split("\t")
    if len(parts) < HEADER or parts[0] != VERSION or not parts[1] or not parts[3]:
        return None
    return parts[1], parts[2], parts[3], tuple(parts[HEADER:])


def decode_record(kind: str, fields: Sequence[str]) -> SpoolRecord | None:
    """The record a line of `kind` holds; None for a kind no writer of ours writes, or fields
    that can never be one."""
    record = KINDS.get(kind)
    return record.from_fields(fields) if record is not None else None
