//! mailcanary: synthetic mail-availability monitoring.
//!
//! The agent sends signed canary messages over SMTP on a schedule, measures how long each takes
//! to become visible over IMAP under several client profiles, keeps a durable ledger of every
//! canary (on time, late, lost, recovered, duplicate, corrupt), and exports all of it to
//! Prometheus.
//!
//! # Layout
//!
//! - [`vocab`]: the shared vocabulary (stage, reason, failure, outcome); imports nothing else.
//! - [`logging`]: the process's log filter and format (`--log.level`, `--log.format`).
//! - [`landing`]: where a canary landed, read from its headers: authentication verdicts, spam
//!   score, the `Received` trail; pure and bounded, imports nothing else.
//! - [`config`]: the main file and probe files, validated; client profiles and presets.
//! - [`secret`]: passwords, tokens and the HMAC key, from files or the environment, redacted.
//! - [`probe`]: one cycle: SMTP send, IMAP watch, canary verification, failure classification.
//! - [`scheduler`]: one task per probe × client; interval, jitter, hard deadline, no overlap.
//! - [`ledger`]: SQLite record of every canary, surviving restarts; [`report`] reads it.
//! - [`metrics`]: the Prometheus metric contract.
//! - [`events`]: the one place a cycle's result becomes metrics, logs and status.
//! - [`status`]: the current view of every instance, for the status page.
//! - [`web`]: `/metrics`, `/healthz`, `/-/reload`, `/`, `/api/status`, `/api/report`.
//! - [`tls`]: TLS client setup and handshake error classification; [`stream`]: plain-or-TLS
//!   connections for both the probe and the embedded server.
//! - [`demo`]: the embedded SMTP + IMAP server behind `mailcanary demo` and the fault tests.
//! - [`agent`]: `mailcanary run`; [`once`]: `mailcanary once` and `check`; [`plant`]:
//!   `mailcanary sentinel plant`.

pub mod agent;
pub mod config;
pub mod demo;
pub mod events;
pub mod landing;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod once;
pub mod plant;
pub mod probe;
pub mod report;
pub mod scheduler;
pub mod secret;
pub mod status;
pub mod stream;
pub mod tls;
pub mod vocab;
pub mod web;
