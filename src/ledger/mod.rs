//! The canary ledger: a durable record of every canary sent, and how it ended.
//!
//! SQLite in WAL mode, so it survives `kill -9` and operators can read it with the `sqlite3`
//! shell. A canary row is written *before* SMTP DATA is sent (state `sending`), becomes
//! `in_flight` when the server answers 250, and is settled exactly once, by a single
//! conditional UPDATE, into one of the outcomes. Because each transition is one statement that
//! only applies from the expected state, a restart at any moment neither loses a canary nor
//! counts one twice.
//!
//! ```text
//! sending ──250──► in_flight ──seen ≤ deadline──► on_time
//!    │                 │     ├─seen > deadline──► late
//!    │                 │     └─seen in Junk─────► junk (also from lost; settled once)
//!    │ (4xx/5xx)       └──not seen by lost_after──► lost ──seen later──► recovered
//!    ▼                                             (a copy seen twice: +duplicate; bad tag: corrupt)
//! rejected        sending and never seen by lost_after ──► unconfirmed (not counted as lost)
//! ```
//!
//! Times are unix seconds (REAL). Every cycle's result is also kept (table `cycles`) for the
//! incident report; both tables are pruned after the retention period.

use end::{declare_lost_in, in_flight_in, record_cycle_in};
use rusqlite::{params, Connection, OptionalExtension};
use sql::{exec, join_uids, parse_uids, query_row, SCHEMA};

mod end;
mod error;
pub mod report;
mod sentinels;
mod sql;
mod types;
pub use end::CycleEnd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
pub use types::{NewCanary, Open, Outcome, Owner, Planted, Settled};

/// The durable ledger. Cheap to clone; calls are blocking and short. From async code they go
/// through [`Ledger::run`], which hands them to the ledger's own thread: one thread for every
/// write, rather than a blocking-pool thread (and a malloc arena) per call.
#[derive(Clone)]
pub struct Ledger {
    conn: Arc<Mutex<Connection>>,
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Unix seconds now.
pub fn now() -> f64 {
    unix(SystemTime::now())
}

/// Unix seconds of `t`.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub use error::LedgerError;

type Result<T> = std::result::Result<T, LedgerError>;

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn)
    }

    /// A throwaway ledger, for `mailcanary once` and tests.
    pub fn in_memory() -> Result<Ledger> {
        Self::init(Connection::open_in_memory().map_err(LedgerError::sql("open in memory"))?)
    }

    fn init(conn: Connection) -> Result<Ledger> {
        let db = LedgerError::sql;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db("set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db("switch to WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db("set synchronous"))?;
        // A small page cache: the agent touches recent rows only, and the cache is the one part
        // of the ledger that lives in the agent's memory.
        conn.pragma_update(None, "cache_size", -64)
            .map_err(db("set cache size"))?;
        // Every statement of the hot path is prepared once and kept (a cycle runs several).
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(SCHEMA).map_err(db("create schema"))?;
        conn.execute_batch(sentinels::SCHEMA)
            .map_err(db("create sentinel schema"))?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        // The thread ends when the last handle (and so the last sender) is gone.
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || queue.into_iter().for_each(|job| job()))
            .map_err(LedgerError::Thread)?;
        Ok(Ledger {
            conn: Arc::new(Mutex::new(conn)),
            jobs,
        })
    }

    /// Runs `f` on the connection; `doing` names the operation in its error.
    fn with<T>(
        &self,
        doing: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let guard = self.conn.lock().map_err(|_| LedgerError::Poisoned)?;
        f(&guard).map_err(LedgerError::sql(doing))
    }

    /// Runs `f` on the ledger's thread, so SQLite never stalls the async executor.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f(&this));
            }))
            .map_err(|_| LedgerError::Stopped)?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }
}

impl Ledger {
    /// Records a canary before its DATA is sent.
    pub fn record_sending(&self, c: &NewCanary) -> Result<()> {
        self.with("record a canary being sent", |db| {
            exec(db,
                "INSERT INTO canaries (id, probe, client, region, sent_at, deadline_s, lost_after_s, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'sending', ?5)",
                params![
                    c.id,
                    c.owner.probe,
                    c.owner.client,
                    c.owner.region,
                    c.sent_at,
                    c.deadline.as_secs_f64(),
                    c.lost_after.as_secs_f64()
                ],
            )
            .map(|_| ())
        })
    }

    /// The server answered 250 to DATA.
    pub fn mark_accepted(&self, id: &str, at: f64, queue_id: Option<&str>) -> Result<()> {
        self.with("mark a canary accepted", |db| {
            exec(db,
                "UPDATE canaries SET state = 'in_flight', accepted_at = ?2, queue_id = ?3, updated_at = ?2
                 WHERE id = ?1 AND state = 'sending'",
                params![id, at, queue_id],
            )
            .map(|_| ())
        })
    }

    /// The server refused the message: it was never in flight.
    pub fn mark_rejected(&self, id: &str) -> Result<()> {
        self.with("mark a canary rejected", |db| {
            exec(db,
                "UPDATE canaries SET state = 'rejected', updated_at = ?2 WHERE id = ?1 AND state = 'sending'",
                params![id, now()],
            )
            .map(|_| ())
        })
    }

    /// Canaries of `owner` still watched for: not yet seen (sending, in flight) or lost (a late
    /// arrival is then `recovered`).
    pub fn open_canaries(&self, owner: &Owner) -> Result<Vec<Open>> {
        self.with("list open canaries", |db| {
            let mut st = db.prepare_cached(
                "SELECT id, state, sent_at, accepted_at, uids FROM canaries
                 WHERE probe = ?1 AND client = ?2 AND region = ?3
                   AND state IN ('sending', 'in_flight', 'lost')
                 ORDER BY sent_at",
            )?;
            let rows = st.query_map(params![owner.probe, owner.client, owner.region], |r| {
                Ok(Open {
                    id: r.get(0)?,
                    state: r.get(1)?,
                    sent_at: r.get(2)?,
                    accepted_at: r.get(3)?,
                    uids: parse_uids(&r.get::<_, String>(4)?),
                })
            })?;
            rows.collect()
        })
    }

    /// Number of canaries of `owner` accepted and not yet seen nor declared lost.
    pub fn in_flight(&self, owner: &Owner) -> Result<i64> {
        self.with("count canaries in flight", |db| in_flight_in(db, owner))
    }

    /// A verified copy of canary `id` was seen at `seen_at` under `uid`. Returns the outcome to
    /// count, or `None` when this copy was already accounted for (or the id is not ours).
    pub fn settle_seen(&self, id: &str, uid: u32, seen_at: f64) -> Result<Option<Settled>> {
        self.settle_seen_in(id, uid, seen_at, false)
    }

    /// As [`Ledger::settle_seen`], for a copy seen in the account's Junk folder when `junk`:
    /// a canary not settled yet settles `junk` (with its delay). A canary settled `junk` is
    /// settled once: a copy of it found later in the mailbox (moved back out of Junk) is not
    /// counted again.
    pub fn settle_seen_in(
        &self,
        id: &str,
        uid: u32,
        seen_at: f64,
        junk: bool,
    ) -> Result<Option<Settled>> {
        self.with("settle a canary seen", |db| {
            let tx = db.unchecked_transaction()?;
            let row: Option<(String, f64, Option<f64>, f64, String)> = query_row(
                &tx,
                "SELECT state, sent_at, accepted_at, deadline_s, uids FROM canaries WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
            let Some((state, sent_at, accepted_at, deadline, uids)) = row else {
                return Ok(None);
            };
            if state == "junk" && !junk {
                return Ok(None);
            }
            let mut known = parse_uids(&uids);
            if known.contains(&uid) {
                return Ok(None);
            }
            known.push(uid);
            let delay = (seen_at - accepted_at.unwrap_or(sent_at)).max(0.0);
            let outcome = match state.as_str() {
                "sending" | "in_flight" | "lost" | "rejected" | "unconfirmed" if junk => {
                    Outcome::Junk
                }
                "sending" | "in_flight" if delay <= deadline => Outcome::OnTime,
                "sending" | "in_flight" => Outcome::Late,
                "lost" => Outcome::Recovered,
                "rejected" | "unconfirmed" => Outcome::Late,
                _ => Outcome::Duplicate,
            };
            let new_state = match outcome {
                Outcome::Duplicate => state.clone(),
                o => o.as_str().to_string(),
            };
            let first_sighting = outcome != Outcome::Duplicate;
            exec(
                &tx,
                "UPDATE canaries SET state = ?2, uids = ?3, copies = copies + 1, updated_at = ?4,
                    seen_at = CASE WHEN ?5 THEN ?4 ELSE seen_at END,
                    delay_s = CASE WHEN ?5 THEN ?6 ELSE delay_s END
                 WHERE id = ?1 AND state = ?7",
                params![
                    id,
                    new_state,
                    join_uids(&known),
                    seen_at,
                    first_sighting,
                    delay,
                    state
                ],
            )?;
            tx.commit()?;
            Ok(Some(Settled {
                outcome,
                delay,
                accepted_at: accepted_at.unwrap_or(sent_at),
            }))
        })
    }

    /// A message carrying canary `id` failed verification. Counts once per canary.
    pub fn mark_corrupt(&self, id: &str, uid: u32) -> Result<bool> {
        self.with("mark a canary corrupt", |db| {
            let n = exec(
                db,
                "UPDATE canaries SET state = 'corrupt', uids = uids || ',' || ?2, updated_at = ?3
                 WHERE id = ?1 AND state IN ('sending', 'in_flight', 'lost')",
                params![id, uid, now()],
            )?;
            Ok(n == 1)
        })
    }

    /// Declares lost every in-flight canary of `owner` older than its `lost_after`; a canary
    /// whose acceptance was never recorded becomes `unconfirmed` instead. Returns the ids lost.
    pub fn declare_lost(&self, owner: &Owner, at: f64) -> Result<Vec<String>> {
        self.with("declare canaries lost", |db| {
            let tx = db.unchecked_transaction()?;
            let lost = declare_lost_in(&tx, owner, at)?;
            tx.commit()?;
            Ok(lost)
        })
    }

    /// Whether `id` is a canary this ledger knows.
    pub fn knows(&self, id: &str) -> Result<bool> {
        self.with("look up a canary", |db| {
            query_row(
                db,
                "SELECT 1 FROM canaries WHERE id = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    /// Records the result of one cycle, for the incident report.
    pub fn record_cycle(
        &self,
        owner: &Owner,
        started_at: f64,
        failure: Option<(&str, &str)>,
    ) -> Result<()> {
        self.with("record a cycle", |db| {
            record_cycle_in(db, owner, started_at, failure)
        })
    }

    /// Deletes settled canaries and cycle results older than `before`.
    pub fn prune(&self, before: f64) -> Result<usize> {
        self.with("prune old rows", |db| {
            let a = exec(
                db,
                "DELETE FROM canaries WHERE updated_at < ?1
                   AND state NOT IN ('sending', 'in_flight', 'lost')",
                params![before],
            )?;
            let b = exec(
                db,
                "DELETE FROM cycles WHERE started_at < ?1",
                params![before],
            )?;
            Ok(a + b)
        })
    }

    /// Direct access for the report and for tests.
    pub fn query<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.with("query", f)
    }
}

#[cfg(test)]
mod tests;
