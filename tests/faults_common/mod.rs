//! Shared by the fault-injection suites (`faults_demo`, `faults_stack`, `faults_once`): the
//! fault table of `docs/failures.md`, parsed, so the documentation and the tests share one
//! source of truth for every (`stage`, `reason`) pair and the words `once` prints; and a runner
//! that executes one probe cycle in-process, timed against the cycle's hard deadline.
#![allow(dead_code)]

pub mod demo;
pub mod pop3;

use mailcanary::config::{Config, Instance};
use mailcanary::events;
use mailcanary::ledger::Ledger;
use mailcanary::metrics::{InstanceMetrics, Metrics, MetricsOptions};
use mailcanary::probe::cycle::{CycleReport, InstanceMemory};
use mailcanary::probe::{Reason, Stage};
use mailcanary::scheduler::{self, Shared};
use mailcanary::status::StatusBoard;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which table of the document a row is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// "Fault server" table: produced by the embedded server (`src/demo`).
    Demo,
    /// "Real stack" table: produced by `scripts/mailstack.sh fault NAME on`.
    Stack,
}

/// One row of a fault table in `docs/failures.md`.
#[derive(Debug, Clone)]
pub struct Row {
    pub source: Source,
    /// Stable identifier (first column, in backticks).
    pub id: String,
    /// "how it is produced" column, verbatim.
    pub produced: String,
    /// The client profile the row runs under.
    pub profile: String,
    pub stage: Stage,
    pub reason: Reason,
    /// What `once` prints, in words: `<stage words>: <reason words>`.
    pub words: String,
    /// Text the failure detail must contain (the server's reply), when the row names one.
    pub reply: Option<String>,
}

/// The exact words `once` uses for a (stage, reason) pair in the tables.
pub fn words(stage: Stage, reason: Reason) -> String {
    format!("{}: {}", stage.describe(), reason.describe())
}

fn stage(s: &str) -> Stage {
    *Stage::ALL
        .iter()
        .find(|x| x.as_str() == s)
        .unwrap_or_else(|| panic!("docs/failures.md: {s:?} is not a stage of DESIGN.md"))
}

fn reason(s: &str) -> Reason {
    *Reason::ALL
        .iter()
        .find(|x| x.as_str() == s)
        .unwrap_or_else(|| panic!("docs/failures.md: {s:?} is not a reason of DESIGN.md"))
}

fn unquote(cell: &str) -> &str {
    cell.trim().trim_matches('`')
}

/// Every row of the two fault tables, in document order.
pub fn doc_rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/failures.md");
    let text = std::fs::read_to_string(&path).expect("read docs/failures.md");
    let mut source = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            source = if line.contains("Fault server") {
                Some(Source::Demo)
            } else if line.contains("Real stack") {
                Some(Source::Stack)
            } else {
                None
            };
            continue;
        }
        let Some(source) = source else { continue };
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        assert_eq!(
            cells.len(),
            7,
            "docs/failures.md: 7 columns expected: {line}"
        );
        let said = cells[6].trim();
        let (words, reply) = match said.split_once(" — ") {
            Some((w, r)) => (w.trim(), Some(unquote(r).to_string())),
            None => (said, None),
        };
        rows.push(Row {
            source,
            id: unquote(cells[0]).to_string(),
            produced: cells[2].trim().to_string(),
            profile: unquote(cells[3]).to_string(),
            stage: stage(unquote(cells[4])),
            reason: reason(unquote(cells[5])),
            words: words.to_string(),
            reply,
        });
    }
    rows
}

/// Rows of one table.
pub fn rows(source: Source) -> Vec<Row> {
    doc_rows()
        .into_iter()
        .filter(|r| r.source == source)
        .collect()
}

/// What one cycle did, and how long it took against its hard deadline.
pub struct Ran {
    pub report: CycleReport,
    pub wall: Duration,
    pub budget: Duration,
    pub transcript: String,
    pub inst: Instance,
    /// The metrics the cycle was exported to.
    pub metrics: Arc<Metrics>,
}

impl Ran {
    /// (stage, reason) of the cycle's failure, if it failed.
    pub fn pair(&self) -> Option<(Stage, Reason)> {
        self.report.failure().map(|f| (f.stage, f.reason))
    }

    /// `mailcanary_probe_success` of the instance after the cycle.
    pub fn success_gauge(&self) -> i64 {
        self.series().success.get()
    }

    /// `mailcanary_probe_failures_total` of the instance for (`stage`, `reason`).
    pub fn failures_counted(&self, stage: Stage, reason: Reason) -> u64 {
        (self.series().failures)
            .with_label_values(&[stage.as_str(), reason.as_str()])
            .get()
    }

    /// The instance's series (registered by [`run_cycle`]).
    pub fn series(&self) -> Arc<InstanceMetrics> {
        let key = self.inst.key();
        (self.metrics.instance(&key)).unwrap_or_else(|| panic!("{key} is not registered"))
    }

    /// How far the cycle ran past its hard deadline (zero when within it).
    pub fn overrun(&self) -> Duration {
        self.wall.saturating_sub(self.budget)
    }
}

/// The scheduler's shared state for `config`, with a throwaway ledger.
pub fn shared(config: &Config) -> Shared {
    let ledger = Ledger::in_memory().expect("in-memory ledger");
    Shared {
        cycles: Arc::new(mailcanary::agent::cycle_ctx(config, ledger).expect("cycle context")),
        metrics: Arc::new(
            Metrics::new(&config.agent.region, MetricsOptions::for_config(config))
                .expect("metrics"),
        ),
        status: StatusBoard::default(),
    }
}

/// Runs one cycle of `inst` exactly as the scheduler does, timing it, and exports it as the
/// agent would. The instance's success gauge is set to 1 first, as after an earlier good cycle,
/// so a failed cycle must be seen to turn it to 0.
pub async fn run_cycle(shared: &Shared, inst: &Instance, mem: &mut InstanceMemory) -> Ran {
    shared.metrics.register_instance(inst);
    shared.metrics.if_live(inst, |s| s.success.set(1));
    let budget = scheduler::cycle_budget(inst);
    let began = Instant::now();
    let report = scheduler::run_cycle(shared, inst, mem).await;
    let wall = began.elapsed();
    events::cycle_finished(&shared.metrics, &shared.status, inst, &report);
    Ran {
        transcript: mailcanary::once::transcript(inst, &report),
        report,
        wall,
        budget,
        inst: inst.clone(),
        metrics: shared.metrics.clone(),
    }
}

/// The instance of `config` running under client profile `client`.
pub fn instance(config: &Config, client: &str) -> Instance {
    config
        .instances()
        .into_iter()
        .find(|i| i.client.name == client)
        .unwrap_or_else(|| panic!("no instance for client {client}"))
}

/// Checks a failed cycle against its row: exact pair, the words `once` prints, the reply text,
/// and the deadline. Returns a description of every mismatch (empty when the row holds).
pub fn check(row: &Row, ran: &Ran) -> Vec<String> {
    let mut bad = Vec::new();
    let want = (row.stage, row.reason);
    if ran.pair() != Some(want) {
        bad.push(format!(
            "{}: expected ({}, {}), got {:?}",
            row.id,
            row.stage,
            row.reason,
            ran.report.failure().map(|f| f.to_string())
        ));
    }
    if ran.success_gauge() != 0 || ran.failures_counted(row.stage, row.reason) != 1 {
        bad.push(format!(
            "{}: exported mailcanary_probe_success {} and failures_total{{stage={},reason={}}} {}, \
             expected 0 and 1",
            row.id,
            ran.success_gauge(),
            row.stage,
            row.reason,
            ran.failures_counted(row.stage, row.reason)
        ));
    }
    if row.words != words(row.stage, row.reason) {
        bad.push(format!(
            "{}: docs say {:?}, the code's words are {:?}",
            row.id,
            row.words,
            words(row.stage, row.reason)
        ));
    }
    let result_line = format!(
        "RESULT: FAILED at {} ({}): {}",
        row.stage.as_str(),
        row.stage.describe(),
        row.reason.describe()
    );
    if !ran.transcript.contains(&result_line) {
        bad.push(format!(
            "{}: transcript lacks {result_line:?}:\n{}",
            row.id, ran.transcript
        ));
    }
    if let Some(reply) = &row.reply {
        let detail = ran.report.failure().map(|f| f.detail.as_str());
        if !detail.is_some_and(|d| d.contains(reply.as_str())) {
            bad.push(format!(
                "{}: failure detail {detail:?} lacks the reply {reply:?}",
                row.id
            ));
        }
        if !ran.transcript.contains(reply.as_str()) {
            bad.push(format!("{}: transcript lacks the reply {reply:?}", row.id));
        }
    }
    // Phase gauges describe this cycle only: each phase reads the time of its steps that
    // succeeded in it, so a phase the failure cut off reads 0, not an earlier cycle's time.
    let series = ran.series();
    for phase in mailcanary::metrics::phases(&ran.inst) {
        let exported = series.phase.with_label_values(&[phase.as_str()]).get();
        let ran_ok: f64 = (ran.report.steps.iter())
            .filter(|s| s.stage == phase && s.result.is_ok())
            .map(|s| s.duration.as_secs_f64())
            .sum();
        if (exported - ran_ok).abs() > 1e-9 {
            bad.push(format!(
                "{}: mailcanary_phase_duration_seconds{{phase={phase}}} is {exported}, the \
                 cycle's successful {phase} steps took {ran_ok}",
                row.id
            ));
        }
    }
    let whole = series.probe_duration.get();
    if whole <= 0.0 || whole > ran.wall.as_secs_f64() {
        bad.push(format!(
            "{}: mailcanary_probe_duration_seconds {whole}, the cycle took {:?}",
            row.id, ran.wall
        ));
    }
    if ran.wall > ran.budget + Duration::from_secs(1) {
        bad.push(format!(
            "{}: cycle took {:?}, hard deadline {:?} + 1 s",
            row.id, ran.wall, ran.budget
        ));
    }
    bad
}
