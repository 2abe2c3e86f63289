-- prtrace index, version 1. Written in SQL that SQLite and PostgreSQL both accept:
-- TEXT, BIGINT and INTEGER only; timestamps are UTC ISO 8601 text, which sorts in time order.

CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY,
    repo_name TEXT NOT NULL,
    branch TEXT NOT NULL,
    pr_id TEXT,
    developer_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    envelope TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT '[]',
    event_count BIGINT NOT NULL DEFAULT 0,
    first_ts TEXT,
    last_ts TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    last_server_seq BIGINT NOT NULL DEFAULT 0,
    seq_mode TEXT CHECK (seq_mode IN ('client', 'server')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    compacted_upto BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX traces_listing ON traces (created_at, trace_id);
CREATE INDEX traces_repo_branch ON traces (repo_name, branch);
CREATE INDEX traces_pr ON traces (pr_id);
CREATE INDEX traces_developer ON traces (developer_id);
CREATE INDEX traces_owner ON traces (owner);

CREATE TABLE events_index (
    event_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL REFERENCES traces (trace_id),
    seq BIGINT,
    server_seq BIGINT NOT NULL,
    seq_by_server INTEGER NOT NULL DEFAULT 0,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    object_key TEXT NOT NULL,
    file TEXT,
    command TEXT,
    exit_code BIGINT,
    passed BIGINT,
    failed BIGINT,
    sha TEXT
);

CREATE INDEX events_index_order ON events_index (trace_id, seq, server_seq);
CREATE INDEX events_index_server_seq ON events_index (trace_id, server_seq);

CREATE TABLE tokens (
    token_id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('writer', 'reader', 'admin')),
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX tokens_user ON tokens (user_name);
