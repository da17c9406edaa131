//! Reads an agent's ledger (SQLite, WAL: readable while the agent writes) from a test.
#![allow(dead_code)]

use mailcanary::ledger::Ledger;
use std::path::Path;

/// One canary row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub probe: String,
    pub state: String,
    pub sent_at: f64,
    pub accepted_at: Option<f64>,
    pub queue_id: Option<String>,
    pub seen_at: Option<f64>,
    pub delay: Option<f64>,
    pub copies: i64,
}

/// Every canary of the ledger at `path`, oldest first.
pub fn rows(path: &Path) -> Vec<Row> {
    if !path.exists() {
        return Vec::new();
    }
    let l = Ledger::open(path).expect("open ledger");
    l.query(|db| {
        let mut st = db.prepare(
            "SELECT id, state, sent_at, accepted_at, queue_id, seen_at, delay_s, copies, probe
             FROM canaries ORDER BY sent_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                state: r.get(1)?,
                sent_at: r.get(2)?,
                accepted_at: r.get(3)?,
                queue_id: r.get(4)?,
                seen_at: r.get(5)?,
                delay: r.get(6)?,
                copies: r.get(7)?,
                probe: r.get(8)?,
            })
        })?;
        rows.collect()
    })
    .expect("query ledger")
}
