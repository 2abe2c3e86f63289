"""Files whose content capture never reads into a trace: secrets by their names (`.env*`, keys,
credentials), plus whatever the repo's `.prtraceignore` names.

Such a file still has its place in the trace: an edit says it was created, changed, renamed or
deleted, with no content, no diff and no blob id (git's blob id of a short secret file can be
brute-forced). To tell a real change from a touch, its snapshot keeps a keyed digest
(HMAC-SHA256 under a random key that never leaves the buffer) rather than the blob id, and
its content never enters the blob cache.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pathspec

__all__ = ["DEFAULT_WITHHELD", "DIGEST_PREFIX", "IGNORE_FILE", "Withheld", "is_digest"]

IGNORE_FILE = ".prtraceignore"

# gitignore-style, so a pattern without a slash matches at any depth. A `!pattern` line in
# .prtraceignore brings back a file these hold back (`!.env.example`, a template with no secret).
DEFAULT_WITHHELD: tuple[str, ...] = (
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "*.p12",
    "*.keystore",
    "secrets/",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    "*credentials*.json",
)

# Marks a snapshot entry that holds a keyed digest, not a git blob id: the two never compare equal.
DIGEST_PREFIX = "hmac:"

_WILDCARDS = re.compile(r"\[[^\]]*\]|[*?]")


def is_digest(value: str) -> bool:
    """Whether a snapshot's `blob_sha` is a withheld file's keyed digest."""
    return value.startswith(DIGEST_PREFIX)


def _literals(lines: list[str]) -> re.Pattern[str] | None:
    """A quick test that a path cannot match: a path a pattern matches contains each literal
    run of that pattern, so a path holding no pattern's longest run matches none of them.
    None when some pattern has no literal to look for (`*`), or escapes one (`\\#`)."""
    runs: list[str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue  # a negation only ever lets a path go: it never makes one match
        if "\\" in line:
            return None
        while line.startswith(("**/", "/")):  # `**/x` matches `x` at the top too: no `/` to require
            line = line[3:] if line.startswith("**/") else line[1:]
        longest = max(_WILDCARDS.split(line.strip("/")), key=len)
        if not longest:
            return None
        runs.append(longest)
    if not runs:
        return None
    return re.compile("|".join(re.escape(run) for run in sorted(set(runs))))


class Withheld:
    """Which paths of one repo are withheld, and the keyed digest their snapshots keep."""

    __slots__ = ("_key", "_quick", "_spec")

    def __init__(self, lines: tuple[str, ...] | list[str] = (), *, key: bytes) -> None:
        """`lines`: the repo's own patterns, read after the defaults (so they can override them)."""
        every = [*DEFAULT_WITHHELD, *lines]
        self._spec = pathspec.GitIgnoreSpec.from_lines(every)
        # A full scan asks about every file of the repo: most are let go by one regex search
        # rather than a dozen glob matches each.
        self._quick = _literals(every)
        self._key = key

    @classmethod
    def of_repo(cls, root: Path, *, key: bytes) -> Withheld:
        """The defaults plus the repo's `.prtraceignore`, read now (it may have just changed)."""
        try:
            text = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return cls(text.splitlines(), key=key)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if self._quick is not None and self._quick.search(path) is None:
            return False
        return self._spec.match_file(path)

    def digest(self, content: bytes) -> str:
        """What the snapshot keeps of a withheld file's content: enough to see it change,
        useless for guessing it without the key."""
        return DIGEST_PREFIX + hmac.new(self._key, content, hashlib.sha256).hexdigest()
