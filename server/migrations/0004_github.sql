-- prtrace index, version 4: what GitHub's webhooks tell (pull requests and CI runs), kept per
-- repository so that a trace pushed after them is linked too, and the deliveries already
-- handled, so a redelivery changes nothing.

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL
);

-- repo_name is the base repository (owner/repo), head_repo the repository the branch lives
-- in (a fork's own name, else the same). updated_at is GitHub's: a delivery older than the
-- row it would replace is ignored.
CREATE TABLE pull_requests (
    repo_name TEXT NOT NULL,
    number BIGINT NOT NULL,
    pr_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'merged')),
    head_repo TEXT NOT NULL,
    head_branch TEXT NOT NULL,
    head_sha TEXT,
    url TEXT,
    created_at TEXT,
    merged_at TEXT,
    closed_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repo_name, number)
);

CREATE INDEX pull_requests_head ON pull_requests (head_branch);
CREATE INDEX pull_requests_pr_id ON pull_requests (LOWER(pr_id));

-- One row per CI state change GitHub reported (a check run queued, then completed; a re-run
-- is a new attempt): `event` is the `ci` event as traces hold it, without trace or seq.
-- pr_numbers lists the PRs GitHub named, as `,12,15,` so that LIKE '%,12,%' finds them.
CREATE TABLE ci_runs (
    ci_id TEXT PRIMARY KEY,
    repo_name TEXT NOT NULL,
    head_repo TEXT NOT NULL,
    head_branch TEXT,
    head_sha TEXT,
    pr_numbers TEXT NOT NULL DEFAULT '',
    ts TEXT NOT NULL,
    event TEXT NOT NULL
);

CREATE INDEX ci_runs_repo_branch ON ci_runs (LOWER(repo_name), head_branch);
CREATE INDEX ci_runs_head_repo_branch ON ci_runs (LOWER(head_repo), head_branch);

-- GitHub names are case-insensitive; a remote URL may spell them differently from GitHub.
CREATE INDEX traces_repo_branch_lower ON traces (LOWER(repo_name), branch);
CREATE INDEX traces_pr_lower ON traces (LOWER(pr_id));

-- A trace created, or linked to a PR by its client, since GitHub's facts were last applied
-- to it. Set by ingest; cleared by the linker (after ingest, and by the worker's sweep).
ALTER TABLE traces ADD COLUMN needs_link INTEGER NOT NULL DEFAULT 0;
CREATE INDEX traces_needs_link ON traces (trace_id) WHERE needs_link = 1;

-- PRs whose document (prs/<owner>/<repo>/<n>.json) is behind; the worker rewrites them.
CREATE TABLE prs_pending (
    pr_id TEXT PRIMARY KEY,
    mark TEXT NOT NULL
);
