"""Who did an event: the `--actor` filter every reading command shares, and the short label a
timeline shows for an actor.

An event's `actor` is `{"kind": "human"|"agent"|"tool", "name": …, "session": …, "model": …}`
(DESIGN §3). An event without one (recorded before actors existed, or a server's `ci` event) is
of no known actor: it matches neither `--actor human` nor `--actor agent`, so a filter never
claims for someone what nobody knows they did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = [
    "ACTOR_CHOICES",
    "ActorKind",
    "UnknownActorKind",
    "actor_kind",
    "actor_label",
    "filter_events",
    "matches",
]

# What `--actor` takes. A `tool` actor (an importer's claim) is named by neither.
ActorKind = Literal["agent", "human"]
ACTOR_CHOICES: tuple[ActorKind, ...] = ("agent", "human")


class UnknownActorKind(ValueError):
    """An `--actor` value that is neither `agent` nor `human`."""


def actor_kind(event: Mapping[str, Any]) -> str | None:
    """The event's actor kind as stored, or None when it has no actor (or a malformed one)."""
    actor = event.get("actor")
    if not isinstance(actor, Mapping):
        return None
    kind = actor.get("kind")
    return kind if isinstance(kind, str) else None


def matches(event: Mapping[str, Any], wanted: str | None) -> bool:
    """Whether the event passes `--actor wanted` (None: no filter, everything passes)."""
    if wanted is None:
        return True
    if wanted not in ACTOR_CHOICES:
        raise UnknownActorKind(f"{wanted!r}: use agent or human")
    return actor_kind(event) == wanted


def filter_events(events: Iterable[Mapping[str, Any]], wanted: str | None) -> list[Any]:
    """The events `--actor wanted` keeps, in their order."""
    return [event for event in events if matches(event, wanted)]


def actor_label(actor: object) -> str:
    """A short name for a timeline column: `human`, the agent's name (with its subagent, as
    `claude-code/Explore`), a tool's name; empty for no actor."""
    if not isinstance(actor, Mapping):
        return ""
    kind = actor.get("kind")
    name = actor.get("name")
    if kind == "human":
        return "human"
    label = name if isinstance(name, str) and name else kind if isinstance(kind, str) else ""
    subagent = actor.get("subagent")
    if isinstance(subagent, str) and subagent:
        label = f"{label}/{subagent}"
    return label
