"""The reads and token writes that SQLite and PostgreSQL answer with the same SQL.

Both index stores hold the same schema (the shared migrations) and both drivers hand back
rows indexed by column name, so these methods differ between them only in the placeholder.
Each store subclasses this, sets `_mark`, and provides `_connection()` and `_write()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any

from .index import (
    EventRecord,
    TokenRecord,
    TraceFilter,
    TraceRecord,
    event_record,
    token_record,
    trace_record,
)

__all__ = ["SqlQueries"]


class SqlQueries(ABC):
    _mark: str  # the driver's placeholder: ? or %s

    @abstractmethod
    def _connection(self) -> AbstractContextManager[Any]:
        """A connection for reads (the store's pool or its idle list)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A connection inside a write transaction, committed when the block ends."""

    def _rows(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
        with self._connection() as conn:
            return list(conn.execute(sql.replace("?", self._mark), args).fetchall())

    # reads

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        rows = self._rows("SELECT * FROM traces WHERE trace_id = ?", (trace_id,))
        return trace_record(rows[0]) if rows else None

    def list_traces(self, query: TraceFilter) -> list[TraceRecord]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("repo_name", query.repo),
            ("branch", query.branch),
            ("pr_id", query.pr_id),
            ("developer_id", query.developer),
            ("owner", query.owner),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.pr_number is not None:
            where.append("pr_id LIKE ?")
            args.append(f"%#{query.pr_number}")
        if query.after is not None:
            where.append("(created_at, trace_id) < (?, ?)")
            args.extend(query.after)
        sql = "SELECT * FROM traces"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, trace_id DESC LIMIT ?"
        args.append(query.limit)
        return [trace_record(row) for row in self._rows(sql, args)]

    def event_records(
        self,
        trace_id: str,
        *,
        type: str | None = None,
        after_seq: int | None = None,
        after_server_seq: int | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        sql = "SELECT * FROM events_index WHERE trace_id = ?"
        args: list[Any] = [trace_id]
        for condition, value in (("type =", type), ("seq >", after_seq), ("server_seq >", after_server_seq)):
            if value is not None:
                sql += f" AND {condition} ?"
                args.append(value)
        sql += " ORDER BY seq IS NULL, seq, server_seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [event_record(row) for row in self._rows(sql, args)]

    # tokens

    def add_token(self, token: TokenRecord) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_id, user_name, role, token_hash, created_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, ?)".replace("?", self._mark),
                (token.token_id, token.user, token.role, token.token_hash, token.created_at, token.revoked_at),
            )

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._rows("SELECT * FROM tokens WHERE token_id = ?", (token_id,))
        return token_record(rows[0]) if rows else None

    def list_tokens(self) -> list[TokenRecord]:
        return [token_record(row) for row in self._rows("SELECT * FROM tokens ORDER BY created_at, token_id")]

    def revoke_tokens(self, *, token_id: str | None = None, user: str | None = None, at: str) -> int:
        if (token_id is None) == (user is None):
            raise ValueError("revoke by token_id or by user, not both")
        column, value = ("token_id", token_id) if token_id is not None else ("user_name", user)
        with self._write() as conn:
            sql = f"UPDATE tokens SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL"
            return int(conn.execute(sql.replace("?", self._mark), (at, value)).rowcount)

    # compaction

    def traces_behind(self, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT trace_id FROM traces WHERE compacted_upto < last_server_seq ORDER BY updated_at LIMIT ?", (limit,)
        )
        return [row["trace_id"] for row in rows]

    def last_server_seq(self, trace_id: str) -> int:
        rows = self._rows("SELECT last_server_seq FROM traces WHERE trace_id = ?", (trace_id,))
        return int(rows[0]["last_server_seq"]) if rows else 0
