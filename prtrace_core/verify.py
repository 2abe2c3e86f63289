"""Checking a trace against itself and, when the repository is at hand, against the code it
produced. Each check has a name and every finding names the seq(s) it concerns, so a reader
can go straight to the events with `prtrace show REF --json`.

| check | what it means |
|---|---|
| `seq_gap` | seqs missing between 1 and the last (an event never arrived) |
| `seq_duplicate` | the same event twice at one seq (a store that did not dedup) |
| `seq_resent` | a changed event re-sent at the same seq: reported, not a fault |
| `ts_order` | a `ts` earlier than the one before it by more than the tolerance |
| `start` | seq 1 is not a `start` event |
| `file_chain` | an edit's before_sha is not where the trace left that file |
| `diff_apply` | a diff does not apply to the content before it, or does not give after_sha |
| `commit_state` | a commit's file differs, by blob id, from the state the edits produced |

A withheld file's edits (`withheld: true`: a secret capture never reads) carry no blob ids and
no diff, so neither `file_chain` nor `diff_apply` has anything to check in them: they are
counted in a note, never a fault, and the file's next version is taken as it comes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prtrace_core.replay import Finding, Replayer, Sources, effective_events
from prtrace_core.timestamps import parse_ts

__all__ = ["CHECKS", "Report", "verify_trace"]

CHECKS = ("seq_gap", "seq_duplicate", "seq_resent", "ts_order", "start", "file_chain", "diff_apply", "commit_state")
TS_TOLERANCE_S = 2.0


@dataclass(slots=True)
class Report:
    """What `verify` found: faults fail it, warnings and notes are told."""

    trace_id: str | None
    events: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def faults(self) -> list[Finding]:
        return [f for f in self.findings if not f.warning]

    @property
    def ok(self) -> bool:
        return not self.faults

    def as_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "events": self.events,
            "ok": self.ok,
            "checked": self.checked,
            "faults": [f.as_dict() for f in self.faults],
            "warnings": [f.as_dict() for f in self.findings if f.warning],
            "notes": self.notes,
        }


def _seq(event: Mapping[str, Any]) -> int | None:
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _ordered(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(
        (e for e in events if _seq(e) is not None),
        key=lambda e: (_seq(e), e.get("server_seq") or 0),
    )


def _runs(numbers: list[int]) -> str:
    """`4-6, 9` for [4, 5, 6, 9]."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def check_seqs(events: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Gaps, duplicates and re-sent changes among the client's seqs."""
    findings: list[Finding] = []
    by_seq: dict[int, list[Mapping[str, Any]]] = {}
    for event in _ordered(events):
        by_seq.setdefault(_seq(event) or 0, []).append(event)
    if not by_seq:
        return findings
    missing = [n for n in range(1, max(by_seq) + 1) if n not in by_seq]
    if missing:
        shown = missing[:50]
        more = f" and {len(missing) - 50} more" if len(missing) > 50 else ""
        findings.append(Finding("seq_gap", tuple(shown), f"seq {_runs(shown)}{more} missing: "
                                f"{len(missing)} event(s) never arrived"))
    for seq, group in by_seq.items():
        if len(group) < 2:
            continue
        ids = [e.get("event_id") for e in group]
        if len(set(ids)) < len(ids):
            findings.append(Finding("seq_duplicate", (seq,), f"seq {seq}: the same event is stored {len(ids)} times"))
        if len(set(ids)) > 1:
            findings.append(Finding(
                "seq_resent", (seq,), f"seq {seq}: {len(set(ids))} different events were sent at this seq "
                "(an event changed and sent again); the last one received counts", warning=True))
    return findings


def check_clock(applied: Sequence[Mapping[str, Any]], tolerance_s: float = TS_TOLERANCE_S) -> list[Finding]:
    """`ts` should not run backwards, in seq order, by more than the tolerance. `applied`: the
    events as a replay applies them (`effective_events`)."""
    findings: list[Finding] = []
    previous: tuple[int, float] | None = None
    for event in applied:
        try:
            moment = parse_ts(str(event.get("ts"))).timestamp()
        except ValueError:
            findings.append(Finding("ts_order", (_seq(event) or 0,), f"seq {_seq(event)}: ts {event.get('ts')!r} is not a timestamp"))
            continue
        seq = _seq(event) or 0
        if previous is not None and moment < previous[1] - tolerance_s:
            findings.append(Finding(
                "ts_order", (previous[0], seq),
                f"seq {seq} is {previous[1] - moment:.1f}s earlier than seq {previous[0]} before it"))
        if previous is None or moment >= previous[1]:
            previous = (seq, moment)
    return findings


def check_start(applied: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Seq 1 is the `start` event: the tree capture began from (`applied` as for check_clock)."""
    first = next((e for e in applied if _seq(e) == 1), None)
    if first is None:
        return [Finding("start", (1,), "there is no seq 1, so no start event to replay from")]
    if first.get("type") != "start":
        return [Finding("start", (1,), f"seq 1 is a {first.get('type')!r} event, not a start event")]
    return []


def _commit_findings(replayer: Replayer, seq: int, payload: Mapping[str, Any], sources: Sources) -> tuple[list[Finding], bool]:
    """(faults, checked): the commit's files against the state the edits before it produced."""
    sha = payload.get("sha")
    files = [f for f in payload.get("files") or [] if isinstance(f, str)]
    committed_ids = sources.blob_ids(sha, files) if isinstance(sha, str) else None
    if committed_ids is None:
        return [], False
    findings = []
    for path in files:
        state = replayer.files.get(path)
        if state is not None and state.sha is None:
            continue  # changed while paused, or withheld: unknown, not wrong
        ours = state.sha if state is not None else None
        theirs = committed_ids.get(path)
        if ours != theirs:
            findings.append(Finding(
                "commit_state", (seq,) if state is None or state.seq is None else (state.seq, seq),
                f"seq {seq}: commit {str(sha)[:12]} has {path} as {theirs[:12] if theirs else 'absent'}, "
                f"but the edits before it left {ours[:12] if ours else 'no such file'}", path))
    return findings, True


def verify_trace(
    trace: Mapping[str, Any], *, sources: Sources | None = None, tolerance_s: float = TS_TOLERANCE_S
) -> Report:
    """Run every check on one trace. With `sources` (the repository) the file chains start from
    the base commit, diffs are applied to real content, and commits are compared with the
    state the edits produced; without, those checks do what the trace alone allows.
    Raises BaseCommitMissing when the sources lack the commit the trace starts from."""
    events = [e for e in trace.get("events") or [] if isinstance(e, Mapping)]
    applied = effective_events(events)
    report = Report(str(trace.get("trace_id")) if trace.get("trace_id") else None, len(events))
    report.findings += check_seqs(events)
    report.findings += check_clock(applied, tolerance_s)
    report.findings += check_start(applied)
    report.checked += ["seq_gap", "seq_duplicate", "ts_order", "start", "file_chain", "diff_apply"]
    replayer = Replayer(sources)
    commits = commits_checked = 0
    for event in applied:
        replayer.apply(event)
        if event.get("type") == "commit" and sources is not None:
            commits += 1
            payload = event.get("payload") or {}
            found, done = _commit_findings(replayer, _seq(event) or 0, payload, sources)
            report.findings += found
            commits_checked += done
    report.findings += replayer.findings
    if sources is None:
        report.notes.append("no repository at hand: commits not compared, file chains start at each file's first edit")
    else:
        report.checked.append("commit_state")
        if commits > commits_checked:
            report.notes.append(f"{commits - commits_checked} of {commits} commit(s) not compared: "
                                "the repository does not have them (rewritten, or not fetched)")
    if replayer.diffs_unchecked:
        report.notes.append(f"{replayer.diffs_unchecked} diff(s) not applied: the content before them is not at hand")
    if replayer.withheld_edits:
        report.notes.append(f"{replayer.withheld_edits} edit(s) of withheld files (secrets never captured): "
                            "nothing in them to check")
    return report
