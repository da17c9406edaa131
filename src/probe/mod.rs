//! One probe cycle.
//!
//! A cycle is an ordered list of protocol steps; each returns its timing or a [`Failure`]: one
//! [`Stage`] (where) and one [`Reason`] (how), from the vocabulary in [`crate::vocab`].
//!
//! - [`net`]: TCP connect, TLS upgrade and the error classification they share;
//! - [`bounded`]: the limits on what a server can make the probe read;
//! - [`smtp`]: sending a canary with per-phase timings;
//! - [`imap`]: the watcher session (login, select, IDLE or poll, fetch, cleanup);
//! - [`pop3`]: the watcher for profiles that read over POP3 (a session per poll);
//! - [`canary`]: building and verifying signed canary messages;
//! - [`sentinel`]: the stored messages checked for presence, bytes and flags;
//! - [`recorder`]: runs each step under its deadline and keeps the transcript;
//! - [`cycle`]: puts them together (`conclude` holds what both readers share: SMTP send and
//!   the end of a cycle); `settle` records what was found in the ledger; `watch`
//!   waits for the canary and decides whether a cycle sweeps for earlier ones; `verdicts`
//!   checks the probe's `expect_auth` against where the verified canary landed.

pub mod bounded;
pub mod canary;
mod conclude;
mod context;
pub mod cycle;
pub mod dns;
mod fault;
pub mod imap;
mod junk;
pub mod net;
pub mod pop3;
pub mod recorder;
pub mod sentinel;
mod settle;
pub mod smtp;
mod verdicts;
mod watch;

pub use crate::vocab::{Failure, Reason, Stage};
