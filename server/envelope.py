"""How a trace's envelope evolves as batches arrive. Pure; every index store calls it inside
its ingest transaction."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["languages_of", "merge_envelope"]


def languages_of(envelope: Mapping[str, Any]) -> list[str]:
    """`repo.language` as a list of distinct strings, in first-seen order."""
    repo = envelope.get("repo")
    found = repo.get("language") if isinstance(repo, Mapping) else None
    return _distinct(found if isinstance(found, list) else [])


def merge_envelope(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The first batch names the trace; later ones may link a PR and add languages.

    A later `pr` replaces the stored one (a PR is linked, retitled, merged); `pr: null` never
    unlinks. `repo.language` is the union of every batch's. Everything else stays as first sent.
    """
    base = copy.deepcopy(dict(old if old is not None else new))
    if old is not None and new.get("pr") is not None:
        base["pr"] = copy.deepcopy(new["pr"])
    repo = base.get("repo")
    if isinstance(repo, dict):
        repo["language"] = _distinct([*languages_of(base), *languages_of(new)])
    return base


def _distinct(items: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, str):
            seen.setdefault(item, None)
    return list(seen)
