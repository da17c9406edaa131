//! Runs each protocol step under its deadline and keeps the cycle's transcript.
//!
//! Every network `.await` of a cycle goes through [`Recorder::step`]: the step gets the probe's
//! per-step timeout, cut short so that no step outlives the cycle's hard deadline, and a step
//! that runs out of time becomes a `timeout` failure at that step's stage. The transcript
//! (stage, start, duration, result) feeds the phase metrics and `mailcanary once`.
//!
//! Detail texts pass through [`Recorder::scrub`], which removes the cycle's secrets (and their
//! base64 forms, as they travel in SASL exchanges) before anything is stored.

use super::{Failure, Reason, Stage};
use base64::Engine;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// One step of a cycle as it happened.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub stage: Stage,
    /// Offset from the start of the cycle.
    pub at: Duration,
    pub duration: Duration,
    /// On success, a short note (e.g. the server's reply); on failure, the failure.
    pub result: Result<String, Failure>,
}

/// Times and bounds the steps of one cycle.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    deadline: Instant,
    step_timeout: Duration,
    /// What [`Recorder::scrub`] removes: each secret and SASL message, plain and base64, longest
    /// first (so a SASL message goes whole before the secret inside it).
    secrets: Vec<String>,
    /// The step under way, so a cycle cut off from outside can still name its stage.
    pub current: Option<Stage>,
    pub steps: Vec<StepRecord>,
    /// Leaf certificate notAfter (unix seconds) seen per endpoint (`host:port`) this cycle.
    pub certs: Vec<(String, i64)>,
}

/// `at + d`, or the latest instant the clock can hold when that is past it: a time that far
/// away is no deadline at all. Config durations are bounded to a year, so this only keeps a
/// bug from becoming a panic.
pub fn later(at: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(t) = at.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

impl Recorder {
    pub fn new(step_timeout: Duration, cycle_budget: Duration) -> Self {
        let start = Instant::now();
        Recorder {
            start,
            deadline: later(start, cycle_budget),
            step_timeout,
            secrets: Vec::new(),
            current: None,
            steps: Vec::new(),
            certs: Vec::new(),
        }
    }

    /// Registers a secret value that must never appear in a recorded detail.
    pub fn add_secret(&mut self, secret: &str) {
        if secret.len() >= 3 {
            self.add_pattern(secret.to_string());
        }
    }

    /// Registers a login's secret and the SASL messages that carry it (PLAIN, XOAUTH2,
    /// OAUTHBEARER), so a server that echoes what it was sent cannot leak it into a detail.
    pub fn add_login(&mut self, user: &str, secret: &str) {
        self.add_secret(secret);
        if secret.len() >= 3 {
            for blob in [
                format!("\0{user}\0{secret}"),
                format!("{user}\0{user}\0{secret}"),
                format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
                format!("n,a={user},\x01auth=Bearer {secret}\x01\x01"),
            ] {
                self.add_pattern(blob);
            }
        }
    }

    fn add_pattern(&mut self, plain: String) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&plain);
        self.secrets.extend([plain, b64]);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Removes every registered secret, plain or base64-encoded, from `text`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        // A pattern longer than the text cannot be in it: most details are a short reply.
        for s in self.secrets.iter().filter(|s| s.len() <= text.len()) {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }

    /// The cycle's hard deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the cycle's hard deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The probe's per-step timeout.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// The time a single step may take now.
    pub fn budget(&self) -> Duration {
        self.step_timeout.min(self.remaining())
    }

    /// Runs `fut` as step `stage` under [`Recorder::budget`], and records it.
    pub async fn step<T, F>(&mut self, stage: Stage, fut: F) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let budget = self.budget();
        self.step_within(stage, budget, fut).await
    }

    /// Like [`Recorder::step`] with an explicit budget (still capped by the cycle deadline).
    pub async fn step_within<T, F>(
        &mut self,
        stage: Stage,
        budget: Duration,
        fut: F,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let budget = budget.min(self.remaining());
        let began = Instant::now();
        self.current = Some(stage);
        let timed_out = || {
            Failure::new(
                stage,
                Reason::Timeout,
                format!("no answer within {}", fmt_duration(budget)),
            )
        };
        // No time left: fail without starting the step (a zero timeout would still let it run
        // until the timer driver's next tick, and a fast server could win that race).
        let result = if budget.is_zero() {
            Err(timed_out())
        } else {
            match tokio::time::timeout(budget, fut).await {
                Ok(r) => r.map_err(|f| self.clean(f)),
                Err(_) => Err(timed_out()),
            }
        };
        let note = match &result {
            Ok(_) => Ok(String::new()),
            Err(f) => Err(f.clone()),
        };
        self.record(stage, began, Instant::now(), note);
        result
    }

    /// `f` with its detail scrubbed of secrets and bounded in length: what every failure
    /// leaving a step looks like, so the cycle's reported failure is as clean as its transcript.
    pub fn clean(&self, mut f: Failure) -> Failure {
        f.detail = bounded(self.scrub(&f.detail));
        f
    }

    /// Records a step that was timed by the caller.
    pub fn record(
        &mut self,
        stage: Stage,
        began: Instant,
        ended: Instant,
        result: Result<String, Failure>,
    ) {
        let result = match result {
            Ok(note) => Ok(bounded(self.scrub(&note))),
            Err(f) => Err(self.clean(f)),
        };
        self.current = None;
        self.steps.push(StepRecord {
            stage,
            at: began.saturating_duration_since(self.start),
            duration: ended.saturating_duration_since(began),
            result,
        });
    }

    /// Attaches a note (e.g. the server's reply) to the last successful step.
    pub fn note(&mut self, text: &str) {
        let text = bounded(self.scrub(text));
        if let Some(StepRecord { result: Ok(n), .. }) = self.steps.last_mut() {
            *n = text;
        }
    }
}

/// Longest detail kept: a server's reply can be arbitrarily long (or a whole message).
pub const MAX_DETAIL: usize = 400;

/// `text` cut to [`MAX_DETAIL`] bytes (on a character boundary), with an ellipsis if cut.
pub fn bounded(text: String) -> String {
    if text.len() <= MAX_DETAIL {
        return text;
    }
    let mut end = MAX_DETAIL;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A duration for humans: `12.3ms`, `1.52s`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.1}ms", s * 1000.0)
    } else {
        format!("{s:.2}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_step_that_hangs_times_out_at_its_stage() {
        let mut r = Recorder::new(Duration::from_secs(5), Duration::from_secs(60));
        let res: Result<(), Failure> = r.step(Stage::Greeting, std::future::pending()).await;
        let f = res.unwrap_err();
        assert_eq!((f.stage, f.reason), (Stage::Greeting, Reason::Timeout));
        assert_eq!(r.steps[0].duration, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn no_step_outlives_the_cycle_deadline() {
        let mut r = Recorder::new(Duration::from_secs(30), Duration::from_secs(8));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = r.step::<(), _>(Stage::Rcpt, std::future::pending()).await;
        assert_eq!(r.steps[0].duration, Duration::from_secs(3));
        assert_eq!(r.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_step_starts_after_the_cycle_deadline() {
        let mut r = Recorder::new(Duration::from_secs(5), Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let res = r.step(Stage::ImapSearch, async { Ok(()) }).await;
        let f = res.unwrap_err();
        assert_eq!((f.stage, f.reason), (Stage::ImapSearch, Reason::Timeout));
    }

    #[test]
    fn scrub_removes_sasl_messages_carrying_the_secret() {
        let mut r = Recorder::new(Duration::from_secs(1), Duration::from_secs(1));
        r.add_login("ann@example.test", "hunter22");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let plain = b64("\0ann@example.test\0hunter22");
        let xoauth = b64("user=ann@example.test\x01auth=Bearer hunter22\x01\x01");
        let s = r.scrub(&format!("535 bad {plain} / {xoauth}"));
        assert_eq!(s, "535 bad [redacted] / [redacted]");
    }

    #[test]
    fn details_are_bounded() {
        let long = "é".repeat(MAX_DETAIL);
        let b = bounded(long);
        assert!(b.len() <= MAX_DETAIL + "…".len() && b.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn scrub_removes_plain_and_base64_secrets() {
        let mut r = Recorder::new(Duration::from_secs(1), Duration::from_secs(1));
        r.add_secret("hunter22");
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter22");
        let s = r.scrub(&format!("pw hunter22 and {b64}"));
        assert_eq!(s, "pw [redacted] and [redacted]");
    }
}
