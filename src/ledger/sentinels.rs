//! The sentinels planted for each probe: name, digest, size and flags, as recorded at planting.

use super::{sql::exec, Ledger, Planted, Result};
use rusqlite::params;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sentinels (
    probe TEXT NOT NULL,
    name TEXT NOT NULL,
    folder TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    flags TEXT NOT NULL,
    planted_at REAL NOT NULL,
    PRIMARY KEY (probe, name)
);
";

impl Ledger {
    /// Records the sentinels just planted for `probe` in `folder`, replacing earlier records.
    pub fn record_sentinels(&self, probe: &str, folder: &str, planted: &[Planted]) -> Result<()> {
        self.with("record sentinels", |db| {
            let tx = db.unchecked_transaction()?;
            exec(
                &tx,
                "DELETE FROM sentinels WHERE probe = ?1",
                params![probe],
            )?;
            for p in planted {
                exec(
                    &tx,
                    "INSERT INTO sentinels (probe, name, folder, sha256, size, flags, planted_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        probe,
                        p.name,
                        folder,
                        p.sha256,
                        p.size as i64,
                        p.flags.join(" "),
                        super::now()
                    ],
                )?;
            }
            tx.commit()
        })
    }

    /// The folder and sentinels recorded for `probe` (empty when none were planted).
    pub fn sentinels(&self, probe: &str) -> Result<(String, Vec<Planted>)> {
        self.with("list sentinels", |db| {
            let mut st = db.prepare_cached(
                "SELECT folder, name, sha256, size, flags FROM sentinels WHERE probe = ?1 ORDER BY name",
            )?;
            let mut folder = String::new();
            let rows = st.query_map(params![probe], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Planted {
                        name: r.get(1)?,
                        sha256: r.get(2)?,
                        size: r.get::<_, i64>(3)? as usize,
                        flags: r
                            .get::<_, String>(4)?
                            .split_whitespace()
                            .map(str::to_string)
                            .collect(),
                    },
                ))
            })?;
            let mut planted = Vec::new();
            for row in rows {
                let (f, p) = row?;
                folder = f;
                planted.push(p);
            }
            Ok((folder, planted))
        })
    }
}
