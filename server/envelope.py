"""How a trace's envelope evolves as batches arrive, and how large it may grow. Pure; every
index store calls it inside its ingest transaction."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from prtrace_core.canonical import canonical_json

from .errors import EnvelopeTooLarge

__all__ = ["MAX_ENVELOPE_BYTES", "check_envelope_size", "languages_of", "merge_envelope"]

# The envelope describes a trace (repo, PR, developer); events carry the data. The index keeps
# it in the trace's row and every read of the trace loads it, so it stays small.
MAX_ENVELOPE_BYTES = 64 * 1024


def check_envelope_size(envelope: Mapping[str, Any], *, was: int = 0) -> int:
    """The envelope's size in canonical JSON; EnvelopeTooLarge when over the limit and larger
    than `was` (an envelope stored before the limit existed may stay as large as it was)."""
    size = len(canonical_json(envelope))
    if size > MAX_ENVELOPE_BYTES and size > was:
        raise EnvelopeTooLarge(
            f"envelope: {size:,} bytes of canonical JSON, over the {MAX_ENVELOPE_BYTES:,} byte limit "
            "(everything in the batch but its events)"
        )
    return size


def languages_of(envelope: Mapping[str, Any]) -> list[str]:
    """`repo.language` as a list of distinct strings, in first-seen order."""
    repo = envelope.get("repo")
    found = repo.get("language") if isinstance(repo, Mapping) else None
    return _distinct(found if isinstance(found, list) else [])


def merge_envelope(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The first batch names the trace; later ones may link a PR and add languages.

    A later `pr` replaces the stored one (a PR is linked, retitled, merged); `pr: null` never
    unlinks. `repo.language` is the union of every batch's. Everything else stays as first sent.
    EnvelopeTooLarge when the merge would grow it over MAX_ENVELOPE_BYTES.
    """
    base = copy.deepcopy(dict(old if old is not None else new))
    if old is not None and new.get("pr") is not None:
        base["pr"] = copy.deepcopy(new["pr"])
    repo = base.get("repo")
    if isinstance(repo, dict):
        repo["language"] = _distinct([*languages_of(base), *languages_of(new)])
    # Each batch's envelope is checked on arrival; this catches growth across batches (a new
    # language per batch, a longer PR title).
    if old is not None:
        check_envelope_size(base, was=len(canonical_json(old)))
    return base


def _distinct(items: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, str):
            seen.setdefault(item, None)
    return list(seen)
