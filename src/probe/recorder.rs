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
    secrets: Vec<String>,
    /// The step under way, so a cycle cut off from outside can still name its stage.
    pub current: Option<Stage>,
    pub steps: Vec<StepRecord>,
    /// Leaf certificate notAfter (unix seconds) seen per endpoint (`host:port`) this cycle.
    pub certs: Vec<(String, i64)>,
}

impl Recorder {
    pub fn new(step_timeout: Duration, cycle_budget: Duration) -> Self {
        let start = Instant::now();
        Recorder {
            start,
            deadline: start + cycle_budget,
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
            self.secrets.push(secret.to_string());
        }
    }

    /// Removes every registered secret, plain or base64-encoded, from `text`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s, "[redacted]");
            let b64 = base64::engine::general_purpose::STANDARD.encode(s);
            out = out.replace(&b64, "[redacted]");
        }
        out
    }

    /// When the cycle started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// The cycle's hard deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the cycle's hard deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
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
        let result = match tokio::time::timeout(budget, fut).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                stage,
                Reason::Timeout,
                format!("no answer within {}", fmt_duration(budget)),
            )),
        };
        let note = match &result {
            Ok(_) => Ok(String::new()),
            Err(f) => Err(f.clone()),
        };
        self.record(stage, began, Instant::now(), note);
        result
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
            Ok(note) => Ok(self.scrub(&note)),
            Err(mut f) => {
                f.detail = self.scrub(&f.detail);
                Err(f)
            }
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
        let text = self.scrub(text);
        if let Some(StepRecord { result: Ok(n), .. }) = self.steps.last_mut() {
            *n = text;
        }
    }

    /// The first failure recorded, if any.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.steps.iter().find_map(|s| s.result.as_ref().err())
    }
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

    #[test]
    fn scrub_removes_plain_and_base64_secrets() {
        let mut r = Recorder::new(Duration::from_secs(1), Duration::from_secs(1));
        r.add_secret("hunter22");
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter22");
        let s = r.scrub(&format!("pw hunter22 and {b64}"));
        assert_eq!(s, "pw [redacted] and [redacted]");
    }
}
