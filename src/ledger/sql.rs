//! The ledger's SQL plumbing: its schema, statements run from the connection's statement cache,
//! and the comma-separated UID lists kept per canary.

use rusqlite::Connection;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS canaries (
    id TEXT PRIMARY KEY,
    probe TEXT NOT NULL,
    client TEXT NOT NULL,
    region TEXT NOT NULL,
    sent_at REAL NOT NULL,
    accepted_at REAL,
    queue_id TEXT,
    deadline_s REAL NOT NULL,
    lost_after_s REAL NOT NULL,
    state TEXT NOT NULL,
    seen_at REAL,
    delay_s REAL,
    lost_at REAL,
    uids TEXT NOT NULL DEFAULT '',
    copies INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS canaries_by_owner ON canaries(probe, client, region, state);
CREATE TABLE IF NOT EXISTS cycles (
    probe TEXT NOT NULL,
    client TEXT NOT NULL,
    region TEXT NOT NULL,
    started_at REAL NOT NULL,
    ok INTEGER NOT NULL,
    stage TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS cycles_by_time ON cycles(started_at);
";

/// Runs `sql` from the connection's statement cache.
pub(super) fn exec(
    db: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    db.prepare_cached(sql)?.execute(p)
}

/// The single row of `sql`, from the connection's statement cache.
pub(super) fn query_row<T>(
    db: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    db.prepare_cached(sql)?.query_row(p, f)
}

pub(super) fn parse_uids(s: &str) -> Vec<u32> {
    s.split(',').filter_map(|u| u.trim().parse().ok()).collect()
}

pub(super) fn join_uids(u: &[u32]) -> String {
    u.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}
