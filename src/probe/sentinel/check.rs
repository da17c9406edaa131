//! The check a cycle runs on the sentinels: read-only, every `sentinel_every` cycles, and only
//! when sentinels were planted for the probe.

use super::{compare, Problem, HEADER};
use crate::config::Instance;
use crate::probe::context::{CycleCtx, InstanceMemory};
use crate::probe::fault::local_fault;
use crate::probe::imap::ImapSession;
use crate::probe::recorder::Recorder;
use crate::probe::{Failure, Reason, Stage};

/// What a sentinel check established.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// `Some` only when the check ran to the end: whether every sentinel is intact. When the
    /// check could not run (IMAP trouble) the gauge keeps its last value.
    pub intact: Option<bool>,
    /// A broken sentinel (`verify`), or what kept the check from running.
    pub failure: Option<Failure>,
}

/// Checks the probe's sentinels when planted and due (every `sentinel_every` cycles).
pub async fn check(
    ctx: &CycleCtx,
    s: &mut ImapSession,
    rec: &mut Recorder,
    inst: &Instance,
    mem: &mut InstanceMemory,
) -> Checked {
    let every = u64::from(inst.probe.sentinel_every.max(1));
    let due = mem.cycles.is_multiple_of(every);
    mem.cycles += 1;
    if !due {
        return Checked::default();
    }
    let failed = |f: Failure| Checked {
        intact: None,
        failure: Some(f),
    };
    let broken = |f: Failure| Checked {
        intact: Some(false),
        failure: Some(f),
    };
    let probe = inst.probe.name.clone();
    let (folder, planted) = match ctx.ledger.run(move |l| l.sentinels(&probe)).await {
        Ok(r) => r,
        Err(e) => return failed(local_fault(Stage::Verify, e)),
    };
    if planted.is_empty() {
        return Checked::default();
    }
    if let Err(f) = s.examine(rec, &folder).await {
        // A folder the server refuses to open is storage gone: every sentinel is missing.
        return if f.reason == Reason::PermFail {
            broken(Failure::new(
                Stage::Verify,
                Reason::NotDelivered,
                format!("sentinel folder {folder} cannot be opened: {}", f.detail),
            ))
        } else {
            failed(f)
        };
    }
    let prefix = format!("{}/", inst.probe.name);
    let found = match s.fetch_matching(rec, HEADER, &prefix).await {
        Ok(f) => f,
        Err(f) => return failed(f),
    };
    let began = tokio::time::Instant::now();
    let found: Vec<(String, Vec<u8>, Vec<String>)> = found
        .into_iter()
        .filter_map(|(_, bytes, flags)| {
            let name = crate::probe::canary::header(header_block(&bytes), HEADER)?;
            Some((name, bytes, flags))
        })
        .collect();
    let problems = compare(&planted, &found);
    let result = match problems.first() {
        None => Ok(format!("{} sentinels intact", planted.len())),
        Some(first) => {
            let reason = match first {
                Problem::Missing { .. } => Reason::NotDelivered,
                _ => Reason::Corrupt,
            };
            let detail: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            Err(Failure::new(Stage::Verify, reason, detail.join("; ")))
        }
    };
    rec.record(
        Stage::Verify,
        began,
        tokio::time::Instant::now(),
        result.clone(),
    );
    match result {
        Ok(_) => Checked {
            intact: Some(true),
            failure: None,
        },
        Err(f) => broken(f),
    }
}

/// The header block of a message (up to the first empty line).
fn header_block(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &raw[..i + 2])
        .unwrap_or(raw)
}
