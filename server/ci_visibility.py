"""What GitHub told the server about a PR, and who is shown it.

A trace's PR id is whatever its client put in the envelope, so a writer can claim any PR
(`org/private#12`), and linking then copies that PR's CI runs into the claiming trace as
server-made `ci` events. GitHub's facts about a PR — its title and state, its CI runs — are
therefore shown in full only to those who read every trace (readers, admins). Anyone else sees
the PR as their own traces' clients described it, and only the CI runs whose `head_sha` is a
commit their own traces recorded: a run on work they did is theirs to see, a claimed PR's runs
are not. Every read that hands out a PR block or CI events (a trace, its events pages, the
export, a PR, the viewer) asks this module, so the rule lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from .auth import Principal
from .github import PullRequest
from .index import IndexStore, TraceRecord

__all__ = [
    "RECORDING_TYPES",
    "ci_shown",
    "github_pr",
    "is_server_ci",
    "recorded_commits",
    "without_foreign_ci",
]

E = TypeVar("E", bound=Mapping[str, Any])

# The event types that record a commit made or sent here: what `recorded_commits` reads.
RECORDING_TYPES: tuple[str, ...] = ("commit", "merge", "push")


def recorded_commits(events: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The commits the events name as made or sent here (lower-cased): commits' and merges'
    `sha`, pushed refs' `local_sha`. A checkout's target or a start's base is not among them:
    anyone may check out a commit they did not make."""
    found: set[str] = set()
    for event in events:
        payload = event.get("payload")
        if not isinstance(payload, Mapping):
            continue
        kind = event.get("type")
        if kind in ("commit", "merge"):
            shas: list[object] = [payload.get("sha")]
        elif kind == "push" and isinstance(payload.get("refs"), list):
            shas = [ref.get("local_sha") for ref in payload["refs"] if isinstance(ref, Mapping)]
        else:
            continue
        found.update(sha.lower() for sha in shas if isinstance(sha, str) and sha)
    return frozenset(found)


def ci_shown(principal: Principal, known: Collection[str]) -> Callable[[Mapping[str, Any]], bool]:
    """Which CI run payloads this reader is shown: all of them for one who reads every trace,
    else those whose `head_sha` is among `known`, the commits the reader's own traces recorded."""
    if principal.reads_all:
        return lambda _payload: True

    def shown(payload: Mapping[str, Any]) -> bool:
        head = payload.get("head_sha")
        return isinstance(head, str) and head.lower() in known

    return shown


def is_server_ci(event: Mapping[str, Any]) -> bool:
    """Whether the event is a CI run the server copied in from GitHub (not a client's event,
    whatever type the client gave it)."""
    return event.get("origin") == "server" and event.get("type") == "ci"


def without_foreign_ci(principal: Principal, events: Iterable[E], known: Collection[str] | None = None) -> list[E]:
    """The events less the server-made CI runs this reader is not shown. `known` is the trace's
    recorded commits; None computes them from `events` (when they are the whole trace)."""
    kept = list(events)
    if principal.reads_all:
        return kept
    if known is None:
        known = recorded_commits(kept)
    shown = ci_shown(principal, known)
    return [
        event
        for event in kept
        if not is_server_ci(event) or (isinstance(event.get("payload"), Mapping) and shown(event["payload"]))
    ]


def github_pr(index: IndexStore, trace: TraceRecord, principal: Principal) -> PullRequest | None:
    """GitHub's word on the trace's PR (a title changed, a merge), to put over what the client
    last sent; None when there is none, or when this reader is not shown it."""
    if not trace.pr_id or not principal.reads_all:
        return None
    return index.pull_request(trace.pr_id)
