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

/// A TOML value of any type; rendered with the `toml` crate so strings are escaped as TOML
/// wants and every case is about the value, not about broken syntax.
#[derive(Debug, Clone)]
enum V {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<V>),
    Table(Vec<(String, V)>),
}

impl V {
    fn render(&self) -> String {
        match self {
            V::Str(s) => toml::Value::String(s.clone()).to_string(),
            V::Int(i) => i.to_string(),
            V::Float(f) => toml::Value::Float(*f).to_string(),
            V::Bool(b) => b.to_string(),
            V::Arr(a) => format!(
                "[{}]",
                a.iter().map(V::render).collect::<Vec<_>>().join(", ")
            ),
            V::Table(t) => format!(
                "{{ {} }}",
                t.iter()
                    .map(|(k, v)| format!("{} = {}", key(k), v.render()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A key as TOML writes it: quoted, so any text is a key.
fn key(k: &str) -> String {
    toml::Value::String(k.to_string()).to_string()
}

fn controls() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\r', '\n', '\0', '\x1b', '\t', '\x7f', '\u{85}', '\u{2028}',
    ])
}

/// Text: ordinary, unicode, with a control character inside, or huge.
fn text(plausible: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(plausible).prop_map(str::to_string),
        20 => "\\PC{0,24}",
        20 => ("[ -~]{0,12}", controls(), "[ -~]{0,12}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        10 => (prop::sample::select(plausible), controls()).prop_map(|(p, c)| format!("{p}{c}")),
        // Rare, as each costs milliseconds to parse: lengths around the limits, and 64 KiB.
        1 => (any::<char>(), prop::sample::select(vec![30, 31, 253, 254, 1024, 1025, 65_536]))
            .prop_map(|(c, n)| c.to_string().repeat(n)),
        5 => Just(String::new()),
    ]
}

const DURATIONS: &[&str] = &[
    "0s",
    "1ns",
    "99ms",
    "100ms",
    "1s",
    "1.5s",
    "30s",
    "10m",
    "1h",
    "365d",
    "366d",
    "365days 1s",
    "2years",
    "18446744073709551615s",
    "18446744073709551616s",
    "2000000000000000000s",
    "1e30s",
    "-1s",
    "0.0000001s",
    "NaN s",
    "inf",
    "9999999999999999999999999999999d",
];

fn duration_text() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "ns", "us", "ms", "s", "m", "h", "d", "w", "months", "y", "years", "",
    ]);
    prop_oneof![
        4 => prop::sample::select(DURATIONS).prop_map(str::to_string),
        2 => (any::<u64>(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        1 => (prop_oneof![Just(0u64), Just(1), Just(u64::MAX), 0u64..100_000], unit.clone())
            .prop_map(|(n, u)| format!("{n}{u}")),
        1 => (any::<f64>(), unit).prop_map(|(f, u)| format!("{f}{u}")),
        1 => text(DURATIONS),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            -1,
            2,
            25,
            465,
            587,
            993,
            65_535,
            65_536,
            100_000,
            100_001,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ]),
        any::<i64>(),
    ]
}

/// A value of a type no key here takes, or the right type by accident.
fn wrong() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(V::Int),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0)
        ]
        .prop_map(V::Float),
        any::<bool>().prop_map(V::Bool),
        "\\PC{0,8}".prop_map(V::Str),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(V::Arr),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..3).prop_map(V::Table),
        ]
    })
}

fn dur() -> BoxedStrategy<V> {
    prop_oneof![6 => duration_text().prop_map(V::Str), 1 => wrong()].boxed()
}
fn num() -> BoxedStrategy<V> {
    prop_oneof![6 => int().prop_map(V::Int), 1 => wrong()].boxed()
}
fn txt(plausible: &'static [&'static str]) -> BoxedStrategy<V> {
    prop_oneof![6 => text(plausible).prop_map(V::Str), 1 => wrong()].boxed()
}
fn flag() -> BoxedStrategy<V> {
    prop_oneof![6 => any::<bool>().prop_map(V::Bool), 1 => wrong()].boxed()
}

/// `key = value` lines, each key present or not.
fn lines(keys: Vec<(&'static str, BoxedStrategy<V>)>) -> BoxedStrategy<String> {
    keys.into_iter()
        .map(|(k, s)| {
            prop::option::weighted(0.4, s)
                .prop_map(move |v| {
                    v.map(|v| format!("{k} = {}\n", v.render()))
                        .unwrap_or_default()
                })
                .boxed()
        })
        .collect::<Vec<_>>()
        .prop_map(|l| l.concat())
        .boxed()
}

/// Exactly one of the keys, as a `key = value` line: the rest of the file stays valid, so the
/// value itself decides whether it loads.
fn one_of(keys: Vec<(&'static str, BoxedStrategy<V>)>) -> BoxedStrategy<String> {
    prop::strategy::Union::new(keys.into_iter().map(|(k, s)| {
        s.prop_map(move |v| format!("{k} = {}\n", v.render()))
            .boxed()
    }))
    .boxed()
}

const ADDRS: &[&str] = &["canary@example.test", "a@b", "no-at-sign", "<a@b>"];
const HOSTS: &[&str] = &["127.0.0.1", "mail.example.test", "::1", "example.test"];
const MAILBOXES: &[&str] = &["INBOX", "Sent", "a\"b", "Ünïcödé"];
const TLS: &[&str] = &["implicit", "starttls", "none"];
const AUTH: &[&str] = &["login", "plain", "xoauth2", "oauthbearer", "none"];
const PRESETS: &[&str] = &[
    "ios_mail",
    "outlook",
    "thunderbird",
    "gmail_android",
    "mutt",
];
const WATCH: &[&str] = &["idle", "poll"];
const ID: &[&str] = &["name", "version", "iPhone Mail", "os"];

fn endpoint_keys(smtp: bool) -> Vec<(&'static str, BoxedStrategy<V>)> {
    let mut keys = vec![
        ("implicit_tls_port", num()),
        ("starttls_port", num()),
        ("plain_port", num()),
        ("tls_server_name", txt(HOSTS)),
        ("username", txt(ADDRS)),
    ];
    if smtp {
        keys.push(("mx_domain", txt(HOSTS)));
    }
    keys
}

fn probe_keys() -> Vec<(&'static str, BoxedStrategy<V>)> {
    vec![
        ("interval", dur()),
        ("jitter", dur()),
        ("timeout", dur()),
        ("deadline", dur()),
        ("lost_after", dur()),
        ("sentinel_every", num()),
        ("mailbox", txt(MAILBOXES)),
        ("sentinel_folder", txt(MAILBOXES)),
        ("cleanup", flag()),
        ("from", txt(ADDRS)),
        ("to", txt(ADDRS)),
    ]
}

const SECRETS: &str = "password_file = \"../pw\"\noauth_token_file = \"../pw\"\n";

fn endpoint(smtp: bool) -> BoxedStrategy<String> {
    (
        lines(endpoint_keys(smtp)),
        prop::option::weighted(0.9, txt(HOSTS)),
    )
        .prop_map(|(l, host)| {
            let host = host
                .map(|h| format!("host = {}\n", h.render()))
                .unwrap_or_default();
            format!("{host}{l}{SECRETS}")
        })
        .boxed()
}

/// A probe file: its top-level keys, then `[smtp]` and `[imap]`. Half the cases change one key
/// of a valid probe, half draw every key at random.
fn probe_file() -> impl Strategy<Value = String> {
    let base = |top: String, smtp: String, imap: String| {
        let from = if top.starts_with("from =") {
            ""
        } else {
            "from = \"a@example.test\"\n"
        };
        let to = if top.starts_with("to =") {
            ""
        } else {
            "to = \"a@example.test\"\n"
        };
        let host = |l: &str| {
            if l.starts_with("host =") || l.starts_with("mx_domain =") {
                String::new()
            } else {
                "host = \"127.0.0.1\"\n".to_string()
            }
        };
        format!(
            "clients = [\"mine\", \"thunderbird\"]\n{top}{from}{to}\n[smtp]\n{}{smtp}{SECRETS}\n[imap]\n{}{imap}{SECRETS}",
            host(&smtp),
            host(&imap)
        )
    };
    let one = prop_oneof![
        3 => one_of(probe_keys()).prop_map(move |l| base(l, String::new(), String::new())),
        1 => one_of(endpoint_keys(true)).prop_map(move |l| base(String::new(), l, String::new())),
        1 => one_of(endpoint_keys(false)).prop_map(move |l| base(String::new(), String::new(), l)),
    ];
    let clients = prop_oneof![
        4 => Just("clients = [\"mine\", \"thunderbird\"]\n".to_string()),
        1 => Just("clients = [\"mine\"]\n".to_string()),
        1 => wrong().prop_map(|v| format!("clients = {}\n", v.render())),
    ];
    let all = (
        clients,
        lines(probe_keys()),
        endpoint(true),
        endpoint(false),
    )
        .prop_map(|(c, top, smtp, imap)| format!("{c}{top}\n[smtp]\n{smtp}\n[imap]\n{imap}"));
    prop_oneof![one, all]
}

/// A main file whose `[clients.mine]` profile gets random keys.
fn main_file() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        3 => prop::collection::vec((text(ID), text(ID)), 0..4).prop_map(|kv| {
            V::Table(kv.into_iter().map(|(k, v)| (k, V::Str(v))).collect())
        }),
        1 => prop::collection::vec((text(ID), text(ID)), 29..33).prop_map(|kv| {
            V::Table(kv.into_iter().map(|(k, v)| (k, V::Str(v))).collect())
        }),
        1 => wrong(),
    ];
    let keys = || -> Vec<(&'static str, BoxedStrategy<V>)> {
        vec![
            ("preset", txt(PRESETS)),
            ("imap_tls", txt(TLS)),
            ("smtp_tls", txt(TLS)),
            ("imap_auth", txt(AUTH)),
            ("smtp_auth", txt(AUTH)),
            ("imap_port", num()),
            ("smtp_port", num()),
            ("watch", txt(WATCH)),
            ("poll_interval", dur()),
            ("allow_plaintext_auth", flag()),
            ("id", id.clone().boxed()),
        ]
    };
    let mine = prop_oneof![one_of(keys()), lines(keys())];
    let preset = prop::sample::select(&PRESETS[..4]);
    (preset, mine).prop_map(|(base, mine)| {
        // Without `preset` the profile is its own and needs every mode: start from a preset
        // unless the random lines name one.
        let preset = if mine.contains("preset = ") {
            String::new()
        } else {
            format!("preset = \"{base}\"\n")
        };
        format!(
            "[agent]\nregion = \"t\"\nledger_path = \"ledger.db\"\nhmac_key_file = \"k\"\n\
             probes = [\"probes/*.toml\"]\n\n[clients.mine]\n{preset}{mine}"
        )
    })
}

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
        for e in [&p.smtp, &p.imap] {
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

#[test]
fn extreme_probe_values_never_panic_and_what_loads_is_in_range() {
    let dir = Dir::new();
    let mut runner = TestRunner::new(Cases {
        cases: PROBE_CASES,
        failure_persistence: None,
        ..Cases::default()
    });
    let loaded_n = Cell::new(0u32);
    runner
        .run(&probe_file(), |probe| {
            match dir.load(VALID_MAIN, &probe) {
                Ok(c) => {
                    loaded_n.set(loaded_n.get() + 1);
                    loaded(&c)?
                }
                Err(e) => refused(dir.0.path(), &e)?,
            }
            Ok(())
        })
        .unwrap();
    // The generator must reach the checks on loaded configs, not only the refusals.
    let n = loaded_n.get();
    assert!(n >= PROBE_CASES / 20, "only {n} cases loaded");
}

#[test]
fn extreme_client_profiles_never_panic_and_what_loads_is_in_range() {
    let dir = Dir::new();
    let mut runner = TestRunner::new(Cases {
        cases: CLIENT_CASES,
        failure_persistence: None,
        ..Cases::default()
    });
    let valid_probe = "clients = [\"mine\"]\nfrom = \"a@example.test\"\nto = \"a@example.test\"\n\
                       [smtp]\nhost = \"127.0.0.1\"\npassword_file = \"../pw\"\n\
                       oauth_token_file = \"../pw\"\n[imap]\nhost = \"127.0.0.1\"\n\
                       password_file = \"../pw\"\noauth_token_file = \"../pw\"\n";
    let loaded_n = Cell::new(0u32);
    runner
        .run(&main_file(), |main| {
            match dir.load(&main, valid_probe) {
                Ok(c) => {
                    loaded_n.set(loaded_n.get() + 1);
                    loaded(&c)?
                }
                Err(e) => refused(dir.0.path(), &e)?,
            }
            Ok(())
        })
        .unwrap();
    let n = loaded_n.get();
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
