"""The index's GitHub tables (migration 0004) and the writes that put GitHub's facts into
traces, in SQL that SQLite and PostgreSQL both answer.

Names GitHub compares without case (owner/repo) are compared here through `LOWER(…)`, which
the migration indexes: a remote URL may spell them differently from GitHub.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson

from .github import CiRun, PullRequest
from .index import EventWrite, TraceRecord
from .index_rows import ci_run_record, dumps, event_row, pull_request_record, trace_record
from .index_sql import SqlQueries

__all__ = ["GithubQueries", "pr_numbers_text"]

def pr_numbers_text(numbers: Iterable[int]) -> str:
    """`,12,15,`: the form `ci_runs.pr_numbers` holds, so `LIKE '%,12,%'` finds a number."""
    listed = sorted(set(numbers))
    return "," + ",".join(str(n) for n in listed) + "," if listed else ""


class GithubQueries(SqlQueries):
    """Deliveries, pull requests, CI runs, and the links from them to traces."""

    # deliveries

    def delivery_seen(self, delivery_id: str) -> bool:
        """Whether a delivery with this X-GitHub-Delivery id was handled to the end."""
        return bool(self._rows("SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?", (delivery_id,)))

    def record_delivery(self, delivery_id: str, event: str, received_at: str) -> None:
        """Remember a handled delivery (after its effects are stored: a crash between the two
        leaves a redelivery that is applied again, harmlessly)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT (delivery_id) DO NOTHING".replace("?", self._mark),
                (delivery_id, event, received_at),
            )

    # pull requests

    def save_pull_request(self, pr: PullRequest) -> None:
        """Insert or update the PR; a delivery older than the stored row changes nothing."""
        columns = ("repo_name", "number", "pr_id", "title", "status", "head_repo", "head_branch",
                   "head_sha", "url", "created_at", "merged_at", "closed_at", "updated_at")
        values = (pr.repo_name, pr.number, pr.pr_id, pr.title, pr.status, pr.head_repo, pr.head_branch,
                  pr.head_sha, pr.url, pr.created_at, pr.merged_at, pr.closed_at, pr.updated_at)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO pull_requests ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT (repo_name, number) DO UPDATE SET {updates} "
                "WHERE pull_requests.updated_at <= excluded.updated_at".replace("?", self._mark),
                values,
            )

    def pull_request(self, pr_id: str) -> PullRequest | None:
        """The PR GitHub described under this id (owner/repo#N, any case), or None."""
        rows = self._rows("SELECT * FROM pull_requests WHERE LOWER(pr_id) = ?", (pr_id.lower(),))
        return pull_request_record(rows[0]) if rows else None

    def pull_requests_of_branch(self, repo_name: str, branch: str) -> list[PullRequest]:
        """PRs whose head is this branch of this repository (the PR's own or a fork), newest first."""
        rows = self._rows(
            "SELECT * FROM pull_requests WHERE head_branch = ? AND LOWER(head_repo) = ? "
            "ORDER BY created_at DESC, number DESC",
            (branch, repo_name.lower()),
        )
        return [pull_request_record(row) for row in rows]

    # CI runs

    def save_ci_run(self, run: CiRun) -> None:
        """Store a CI state change once (by its content)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO ci_runs (ci_id, repo_name, head_repo, head_branch, head_sha, pr_numbers, ts, event) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ci_id) DO NOTHING".replace("?", self._mark),
                (run.ci_id, run.repo_name, run.head_repo, run.head_branch, run.head_sha,
                 pr_numbers_text(run.pr_numbers), run.ts, orjson.dumps(run.event()).decode()),
            )

    def ci_runs_of_branch(self, repo_name: str, branch: str, *, since: str | None) -> list[CiRun]:
        """CI runs on this branch of this repository (the repository the branch lives in)."""
        sql = "SELECT * FROM ci_runs WHERE head_branch = ? AND LOWER(head_repo) = ?"
        args: list[Any] = [branch, repo_name.lower()]
        if since is not None:
            sql += " AND ts >= ?"
            args.append(since)
        return [ci_run_record(row) for row in self._rows(sql + " ORDER BY ts", args)]

    def ci_runs_of_pr(self, repo_name: str, number: int) -> list[CiRun]:
        """CI runs GitHub reported for the PR by number."""
        rows = self._rows(
            "SELECT * FROM ci_runs WHERE LOWER(repo_name) = ? AND pr_numbers LIKE ? ORDER BY ts",
            (repo_name.lower(), f"%,{number},%"),
        )
        return [ci_run_record(row) for row in rows]

    # traces and their links

    def traces_of_branch(self, repo_names: Collection[str], branch: str) -> list[TraceRecord]:
        """Traces recorded on this branch of any of these repositories."""
        names = sorted({name.lower() for name in repo_names})
        marks = ", ".join("?" * len(names))
        rows = self._rows(
            f"SELECT * FROM traces WHERE LOWER(repo_name) IN ({marks}) AND branch = ?", [*names, branch]
        )
        return [trace_record(row) for row in rows]

    def traces_of_pr(self, pr_id: str) -> list[TraceRecord]:
        """Traces linked to the PR (any case of its id), oldest first."""
        rows = self._rows(
            "SELECT * FROM traces WHERE LOWER(pr_id) = ? ORDER BY created_at, trace_id", (pr_id.lower(),)
        )
        return [trace_record(row) for row in rows]

    def traces_to_link(self, limit: int) -> list[str]:
        """Traces created or linked by their client since GitHub's facts were applied to them."""
        rows = self._rows("SELECT trace_id FROM traces WHERE needs_link = 1 LIMIT ?", (limit,))
        return [row["trace_id"] for row in rows]

    def set_trace_pr(self, trace_id: str, pr: PullRequest) -> bool:
        """Link a trace that has no PR to this one (its envelope's `pr` too); False when the
        trace has a PR already — a link its client made is kept."""
        with self._write() as conn:
            row = conn.execute(
                f"SELECT envelope, pr_id FROM traces WHERE trace_id = ?{self._row_lock}".replace("?", self._mark),
                (trace_id,),
            ).fetchone()
            if row is None or row["pr_id"] is not None:
                return False
            envelope = orjson.loads(row["envelope"])
            envelope["pr"] = pr.envelope_pr()
            conn.execute(
                "UPDATE traces SET pr_id = ?, envelope = ? WHERE trace_id = ?".replace("?", self._mark),
                (pr.pr_id, dumps(envelope), trace_id),
            )
            return True

    def trace_linked(self, trace_id: str, pr_id: str | None) -> None:
        """GitHub's facts are applied to the trace as it was linked to `pr_id`; a client that
        linked it to another PR meanwhile leaves it to be linked again."""
        with self._write() as conn:
            conn.execute(
                "UPDATE traces SET needs_link = 0 WHERE trace_id = ? AND COALESCE(pr_id, '') = ?".replace(
                    "?", self._mark
                ),
                (trace_id, pr_id or ""),
            )

    def add_server_events(self, trace_id: str, events: Sequence[EventWrite], *, received_at: str) -> list[str]:
        """Store events the server made (`seq` NULL) in an existing trace, once each; returns
        the ids stored now. server_seq comes from the trace's counter, as for ingest."""
        with self._write() as conn:
            row = self._locked_trace(conn, trace_id)
            if row is None:
                return []
            current = trace_record(row)
            existing = self._existing(conn, [event.event_id for event in events])
            fresh: list[EventWrite] = []
            for event in events:
                if event.event_id not in existing:
                    existing.add(event.event_id)
                    fresh.append(event)
            if not fresh:
                return []
            stamps = [event.ts for event in fresh]
            first_ts = min(filter(None, [current.first_ts, *stamps]))
            last_ts = max(filter(None, [current.last_ts, *stamps]))
            server_seq = current.last_server_seq
            conn.execute(
                self._sql(
                    "UPDATE traces SET last_server_seq = ?, event_count = event_count + ?, first_ts = ?, "
                    "last_ts = ?, updated_at = ? WHERE trace_id = ?"
                ),
                (server_seq + len(fresh), len(fresh), first_ts, last_ts, received_at, trace_id),
            )
            self._insert_events(conn, [
                event_row(event, trace_id=trace_id, seq=None, server_seq=server_seq + offset, seq_by_server=False,
                          received_at=received_at)
                for offset, event in enumerate(fresh, start=1)
            ])
            return [event.event_id for event in fresh]

    # PR documents

    def mark_prs_pending(self, pr_ids: Iterable[str], mark: str) -> None:
        """These PRs' documents are behind (their traces or GitHub's facts changed)."""
        rows = [(pr_id, mark) for pr_id in sorted(set(pr_ids))]
        if not rows:
            return
        with self._write() as conn:
            conn.cursor().executemany(
                "INSERT INTO prs_pending (pr_id, mark) VALUES (?, ?) "
                "ON CONFLICT (pr_id) DO UPDATE SET mark = excluded.mark".replace("?", self._mark),
                rows,
            )

    def prs_pending(self, limit: int) -> list[tuple[str, str]]:
        """(pr_id, mark) of PRs whose document is behind."""
        return [(row["pr_id"], row["mark"]) for row in self._rows(
            "SELECT pr_id, mark FROM prs_pending ORDER BY pr_id LIMIT ?", (limit,)
        )]

    def pr_written(self, pr_id: str, mark: str) -> None:
        """The document is written as of `mark`; a later mark keeps the PR pending."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM prs_pending WHERE pr_id = ? AND mark = ?".replace("?", self._mark), (pr_id, mark)
            )
