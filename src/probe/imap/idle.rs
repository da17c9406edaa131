//! IDLE (RFC 2177): arming it, waiting for a push that may announce new mail, and ending it.
//! The watch (`probe::watch`) decides what to do with a push.

use super::push::announces_mail;
use super::{classify, fmt_duration, ImapSession, State};
use crate::probe::recorder::Recorder;
use crate::probe::{Failure, Reason, Stage};
use async_imap::extensions::idle::IdleResponse;
use std::time::Duration;
use tokio::time::Instant;

impl ImapSession {
    /// Arms IDLE so that a delivery from now on is pushed. No-op when the server lacks IDLE.
    pub async fn start_idle(&mut self, rec: &mut Recorder) -> Result<(), Failure> {
        if !self.caps.idle {
            return Ok(());
        }
        let State::Selected(session) = std::mem::replace(&mut self.state, State::Closed) else {
            return Ok(());
        };
        let mut handle = session.idle();
        rec.step(Stage::ImapSearch, async {
            handle
                .init()
                .await
                .map_err(|e| classify(Stage::ImapSearch, &e))
        })
        .await?;
        rec.note("IDLE armed");
        self.state = State::Idling(handle);
        Ok(())
    }

    /// Waits in IDLE until the server pushes something or `until` passes. Returns the instant
    /// of the push, or `None` at `until`. Leaves the session selected (IDLE ended).
    pub async fn wait_push(
        &mut self,
        rec: &mut Recorder,
        until: Instant,
    ) -> Result<Option<Instant>, Failure> {
        let State::Idling(mut handle) = std::mem::replace(&mut self.state, State::Closed) else {
            return Err(Failure::new(
                Stage::ImapSearch,
                Reason::Internal,
                "not idling",
            ));
        };
        let to_until = until.saturating_duration_since(Instant::now());
        let wait = to_until.min(rec.remaining());
        // The cycle's hard deadline comes before the delivery deadline: an empty wait then
        // proves nothing about delivery, and is the cycle timing out while it watched.
        let cut_short = wait < to_until;
        let began = Instant::now();
        rec.current = Some(Stage::ImapSearch);
        let end = began + wait;
        let pushed = loop {
            let left = end.saturating_duration_since(Instant::now());
            let (fut, _stop) = handle.wait_with_timeout(left.max(Duration::from_millis(1)));
            // Bounded by `left` inside async-imap; the outer timeout is a guard, and firing it
            // means the same as async-imap's own timeout: nothing was pushed.
            match tokio::time::timeout(left + Duration::from_millis(100), fut).await {
                Ok(Ok(IdleResponse::NewData(d))) if announces_mail(d.parsed()) => {
                    break Ok(Some(Instant::now()))
                }
                // Another session's expunge or flag change: no new message, keep idling.
                Ok(Ok(IdleResponse::NewData(_))) => {}
                Ok(Ok(IdleResponse::Timeout)) | Err(_) => break Ok(None),
                Ok(Ok(IdleResponse::ManualInterrupt)) => {
                    break Err(Failure::new(
                        Stage::ImapSearch,
                        Reason::Reset,
                        "server closed the connection during IDLE",
                    ))
                }
                Ok(Err(e)) => break Err(classify(Stage::ImapSearch, &e)),
            }
        };
        let pushed = match pushed {
            Ok(None) if cut_short => Err(Failure::new(
                Stage::ImapSearch,
                Reason::Timeout,
                format!(
                    "cycle deadline reached {} before the delivery deadline",
                    fmt_duration(to_until.saturating_sub(wait))
                ),
            )),
            other => other,
        };
        let pushed = match pushed {
            Ok(p) => p,
            Err(f) => {
                let f = rec.clean(f);
                rec.record(Stage::ImapSearch, began, Instant::now(), Err(f.clone()));
                return Err(f);
            }
        };
        let session = rec
            .step(Stage::ImapSearch, async {
                handle
                    .done()
                    .await
                    .map_err(|e| classify(Stage::ImapSearch, &e))
            })
            .await?;
        rec.note(if pushed.is_some() {
            "IDLE push received, DONE"
        } else {
            "IDLE wait over, DONE"
        });
        self.state = State::Selected(session);
        Ok(pushed)
    }

    /// Whether the session is currently in IDLE.
    pub fn idling(&self) -> bool {
        matches!(self.state, State::Idling(_))
    }
}
