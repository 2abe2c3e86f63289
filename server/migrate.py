"""The versioned schema: SQL files in `migrations/`, applied in order by every index store and
recorded in `schema_migrations`.

The migrations are written in SQL both databases accept, so one runner applies them; a store
only opens the transaction and takes its lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
advisory lock, so replicas starting together migrate one at a time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from prtrace_core.timestamps import now_ts

__all__ = ["MIGRATIONS_TABLE", "Migration", "apply_migrations", "load_migrations", "split_statements"]

MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: `0001_init.sql` is version "0001", name "init"."""

    version: str
    name: str
    sql: str

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, oldest first."""
    folder = resources.files(__package__ or "prtrace_server").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(match[1], match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def apply_migrations(conn: Any, *, mark: str) -> list[str]:
    """Apply the migrations `conn` has not yet recorded; the versions applied now.

    `conn` is inside a transaction that holds the store's migration lock, and `mark` is its
    driver's placeholder (`?` or `%s`).
    """
    conn.execute(MIGRATIONS_TABLE)
    done = {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)".replace("?", mark),
            (migration.version, migration.name, now_ts()),
        )
        applied.append(migration.version)
    return applied


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: `--` comment lines dropped, split at `;` line ends.

    Migrations hold plain DDL, no string literal with a semicolon in it, so this is enough.
    """
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return [part.strip() for part in parts if part.strip()]
