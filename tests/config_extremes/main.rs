//! Config values of any size, any type and any content: 110,000 generated cases in all (the
//! `cases` of each property below). Every key of a probe and of a client profile gets, at
//! random, a plausible value, an extreme one (0, 1, -1, u64::MAX and i64 bounds, durations of
//! "18446744073709551615s", "1e30s", "-1s", fractions, up to 64 KiB of text), control
//! characters (CR, LF, NUL, ESC), unicode, or a value of the wrong type.
//!
//! For each case:
//! - loading (what `check`, the agent's start and a reload all run) never panics; an error
//!   names a position inside its file;
//! - a config that loads honours every range and wire rule of `Limits`, and what the agent
//!   derives from it when it applies a reload (instances, cycle budget, first start, jittered
//!   interval, step deadlines, delivery buckets) is computed without a panic;
//! - `report --since` parses any text into a time the report can print, or refuses it.
//!
//! Files are rewritten in one directory per property (in memory where the system allows), so
//! 110,000 cases fit in under a minute of a debug build.

use mailcanary::config::{plaintext_auth_sides, AuthMech, Config, Limits};
use mailcanary::ledger::Ledger;
use mailcanary::metrics::MetricsOptions;
use mailcanary::probe::recorder::{later, Recorder};
use mailcanary::scheduler::{cycle_budget, first_delay, jittered};
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use std::cell::Cell;
use std::path::Path;

mod gen;

use gen::*;
/// A directory the cases of one property rewrite in place.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        // In memory where the system has it: rewriting a file on a disk filesystem can flush it
        // (ext4's replace-via-truncate heuristic), which costs milliseconds per case.
        let shm = Path::new("/dev/shm");
        let d = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        std::fs::create_dir(d.path().join("probes")).unwrap();
        std::fs::write(d.path().join("k"), "key").unwrap();
        std::fs::write(d.path().join("pw"), "secret").unwrap();
        Dir(d)
    }

    fn load(&self, main: &str, probe: &str) -> Result<Config, mailcanary::config::ConfigErrors> {
        let m = self.0.path().join("mailcanary.toml");
        std::fs::write(&m, main).unwrap();
        std::fs::write(self.0.path().join("probes/p.toml"), probe).unwrap();
        // The loader the agent runs at start and on every reload.
        mailcanary::agent::load(&m)
    }
}

fn no_control(what: &str, s: &str) -> Result<(), TestCaseError> {
    prop_assert!(!s.chars().any(char::is_control), "{what} {s:?} loaded");
    Ok(())
}

/// What a config that loads must honour, and what applying it computes.
fn loaded(c: &Config) -> Result<(), TestCaseError> {
    for p in &c.probes {
        prop_assert!(p.interval >= Limits::MIN_INTERVAL && p.interval <= Limits::MAX_DURATION);
        prop_assert!(p.jitter < p.interval);
        prop_assert!(!p.timeout.is_zero() && p.timeout <= Limits::MAX_DURATION);
        prop_assert!(!p.deadline.is_zero() && p.deadline <= Limits::MAX_DURATION);
        prop_assert!(p.lost_after >= p.deadline && p.lost_after <= Limits::MAX_DURATION);
        prop_assert!((1..=Limits::MAX_SENTINEL_EVERY).contains(&p.sentinel_every));
        for (w, s) in [("from", &p.from), ("to", &p.to), ("mailbox", &p.mailbox)] {
            no_control(w, s)?;
        }
        for e in [Some(&p.smtp), p.imap.as_ref(), p.pop3.as_ref()]
            .into_iter()
            .flatten()
        {
            no_control("host", &e.host)?;
            no_control("username", &e.username)?;
            no_control(
                "tls_server_name",
                e.tls_server_name.as_deref().unwrap_or(""),
            )?;
        }
        let logs_in = p.clients.iter().any(|c| c.smtp.auth != AuthMech::None);
        prop_assert!(p.smtp.mx_domain.is_none() || !logs_in || p.smtp.tls_server_name.is_some());
        for cl in &p.clients {
            prop_assert!(plaintext_auth_sides(cl).is_empty() || cl.allow_plaintext_auth);
            prop_assert!(cl.id.len() <= Limits::MAX_ID_FIELDS);
            for (k, v) in &cl.id {
                no_control("ID name", k)?;
                no_control("ID value", v)?;
            }
            if let mailcanary::config::Watch::Poll(i) = cl.watch {
                prop_assert!(i >= Limits::MIN_POLL_INTERVAL && i <= Limits::MAX_DURATION);
            }
        }
    }
    // Applying it: what the scheduler and the metrics compute from these values.
    let instances = c.instances();
    let now = tokio::time::Instant::now();
    for (k, i) in instances.iter().enumerate() {
        let budget = cycle_budget(i);
        let _ = Recorder::new(i.probe.timeout, budget);
        let _ = first_delay(k, instances.len(), i.probe.interval);
        for spread in [-1.0, 0.0, 1.0, f64::NAN] {
            let _ = later(now, jittered(i.probe.interval, i.probe.jitter, spread));
        }
        let _ = later(now, i.probe.lost_after);
    }
    prop_assert!(!MetricsOptions::for_config(c).delivery_buckets.is_empty());
    Ok(())
}

/// An error names its file and a line inside it.
fn refused(dir: &Path, e: &mailcanary::config::ConfigErrors) -> Result<(), TestCaseError> {
    prop_assert!(!e.0.is_empty());
    for err in &e.0 {
        let text = std::fs::read(&err.file).unwrap_or_default();
        let lines = text.split(|b| *b == b'\n').count();
        prop_assert!(err.file.starts_with(dir), "{err}");
        prop_assert!(err.line >= 1 && err.line <= lines.max(1), "{err}");
        prop_assert!(!err.message.is_empty(), "{err}");
    }
    Ok(())
}

const VALID_MAIN: &str =
    "[agent]\nregion = \"t\"\nledger_path = \"ledger.db\"\nhmac_key_file = \"k\"\n\
                          probes = [\"probes/*.toml\"]\n\n[clients.mine]\npreset = \"outlook\"\n";

/// Cases of each property: 110,000 in all.
const PROBE_CASES: u32 = 40_000;
const CLIENT_CASES: u32 = 30_000;
const SINCE_CASES: u32 = 40_000;

/// Runs `cases` cases of `files` (each generated text made into a main file and a probe file),
/// loading each as the agent does: a config that loads must pass [`loaded`], one that does not
/// must be refused by [`refused`]. Returns how many loaded, so a property can check that its
/// generator reaches the checks on loaded configs, not only the refusals.
fn load_each(cases: u32, files: impl Strategy<Value = (String, String)>) -> u32 {
    let dir = Dir::new();
    let mut runner = TestRunner::new(Cases {
        cases,
        failure_persistence: None,
        ..Cases::default()
    });
    let loaded_n = Cell::new(0u32);
    runner
        .run(&files, |(main, probe)| {
            match dir.load(&main, &probe) {
                Ok(c) => {
                    loaded_n.set(loaded_n.get() + 1);
                    loaded(&c)?
                }
                Err(e) => refused(dir.0.path(), &e)?,
            }
            Ok(())
        })
        .unwrap();
    loaded_n.get()
}

#[test]
fn extreme_probe_values_never_panic_and_what_loads_is_in_range() {
    let files = probe_file().prop_map(|probe| (VALID_MAIN.to_string(), probe));
    let n = load_each(PROBE_CASES, files);
    assert!(n >= PROBE_CASES / 20, "only {n} cases loaded");
}

#[test]
fn extreme_client_profiles_never_panic_and_what_loads_is_in_range() {
    let valid_probe = "clients = [\"mine\"]\nfrom = \"a@example.test\"\nto = \"a@example.test\"\n\
                       [smtp]\nhost = \"127.0.0.1\"\npassword_file = \"../pw\"\n\
                       oauth_token_file = \"../pw\"\n[imap]\nhost = \"127.0.0.1\"\n\
                       password_file = \"../pw\"\noauth_token_file = \"../pw\"\n";
    let files = main_file().prop_map(move |main| (main, valid_probe.to_string()));
    let n = load_each(CLIENT_CASES, files);
    assert!(n >= CLIENT_CASES / 20, "only {n} cases loaded");
}

#[test]
fn report_since_of_any_text_is_a_printable_time_or_an_error() {
    let ledger = Ledger::in_memory().unwrap();
    let since = prop_oneof![
        2 => duration_text(),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}Z?",
        1 => "\\PC{0,40}",
    ];
    let mut runner = TestRunner::new(Cases {
        cases: SINCE_CASES,
        failure_persistence: None,
        ..Cases::default()
    });
    let now = mailcanary::ledger::now();
    runner
        .run(&since, |s| {
            match mailcanary::report::parse_since(&s, now) {
                Ok(t) => {
                    prop_assert!(
                        t.is_finite() && (0.0..=mailcanary::report::LAST_TIME).contains(&t)
                    );
                    let r = mailcanary::report::build(&ledger, t).unwrap();
                    prop_assert!(!mailcanary::report::render_text(&r).is_empty());
                }
                Err(e) => prop_assert!(e.to_string().contains("--since")),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_boundaries_themselves_load() {
    let dir = Dir::new();
    let probe = format!(
        "clients = [\"mine\"]\ninterval = \"{}\"\ndeadline = \"365d\"\ntimeout = \"365d\"\n\
         sentinel_every = {}\nfrom = \"a@example.test\"\nto = \"a@example.test\"\n\
         [smtp]\nhost = \"127.0.0.1\"\npassword_file = \"../pw\"\n\
         [imap]\nhost = \"127.0.0.1\"\npassword_file = \"../pw\"\n",
        humantime::format_duration(Limits::MIN_INTERVAL),
        Limits::MAX_SENTINEL_EVERY
    );
    let c = dir
        .load(VALID_MAIN, &probe)
        .unwrap_or_else(|e| panic!("{e}"));
    let p = &c.probes[0];
    assert_eq!(p.interval, Limits::MIN_INTERVAL);
    assert_eq!(p.deadline, Limits::MAX_DURATION);
    // The default lost_after (10 deadlines) stops at the longest duration allowed.
    assert_eq!(p.lost_after, Limits::MAX_DURATION);
    assert_eq!(cycle_budget(&c.instances()[0]), Limits::MAX_DURATION * 5);
}
