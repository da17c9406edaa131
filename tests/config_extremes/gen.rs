//! The generators of tests/config_extremes: TOML values of every type, plausible and extreme
//! keys of a probe, a client profile and the main file.

use proptest::prelude::*;

/// A TOML value of any type; rendered with the `toml` crate so strings are escaped as TOML
/// wants and every case is about the value, not about broken syntax.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<V>),
    Table(Vec<(String, V)>),
}

impl V {
    pub(crate) fn render(&self) -> String {
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
pub(crate) fn key(k: &str) -> String {
    toml::Value::String(k.to_string()).to_string()
}

pub(crate) fn controls() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\r', '\n', '\0', '\x1b', '\t', '\x7f', '\u{85}', '\u{2028}',
    ])
}

/// Text: ordinary, unicode, with a control character inside, or huge.
pub(crate) fn text(plausible: &'static [&'static str]) -> impl Strategy<Value = String> {
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

pub(crate) const DURATIONS: &[&str] = &[
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

pub(crate) fn duration_text() -> impl Strategy<Value = String> {
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

pub(crate) fn int() -> impl Strategy<Value = i64> {
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
pub(crate) fn wrong() -> impl Strategy<Value = V> {
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

pub(crate) fn dur() -> BoxedStrategy<V> {
    prop_oneof![6 => duration_text().prop_map(V::Str), 1 => wrong()].boxed()
}
pub(crate) fn num() -> BoxedStrategy<V> {
    prop_oneof![6 => int().prop_map(V::Int), 1 => wrong()].boxed()
}
pub(crate) fn txt(plausible: &'static [&'static str]) -> BoxedStrategy<V> {
    prop_oneof![6 => text(plausible).prop_map(V::Str), 1 => wrong()].boxed()
}
pub(crate) fn flag() -> BoxedStrategy<V> {
    prop_oneof![6 => any::<bool>().prop_map(V::Bool), 1 => wrong()].boxed()
}

/// `key = value` lines, each key present or not.
pub(crate) fn lines(keys: Vec<(&'static str, BoxedStrategy<V>)>) -> BoxedStrategy<String> {
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
pub(crate) fn one_of(keys: Vec<(&'static str, BoxedStrategy<V>)>) -> BoxedStrategy<String> {
    prop::strategy::Union::new(keys.into_iter().map(|(k, s)| {
        s.prop_map(move |v| format!("{k} = {}\n", v.render()))
            .boxed()
    }))
    .boxed()
}

pub(crate) const ADDRS: &[&str] = &["canary@example.test", "a@b", "no-at-sign", "<a@b>"];
pub(crate) const HOSTS: &[&str] = &["127.0.0.1", "mail.example.test", "::1", "example.test"];
pub(crate) const MAILBOXES: &[&str] = &["INBOX", "Sent", "a\"b", "Ünïcödé"];
pub(crate) const TLS: &[&str] = &["implicit", "starttls", "none"];
pub(crate) const AUTH: &[&str] = &["login", "plain", "xoauth2", "oauthbearer", "none"];
pub(crate) const PRESETS: &[&str] = &[
    "ios_mail",
    "outlook",
    "thunderbird",
    "gmail_android",
    "outlook_pop3",
    "mutt",
];
pub(crate) const POP3_AUTH: &[&str] = &["user", "plain", "xoauth2", "oauthbearer", "login"];
pub(crate) const WATCH: &[&str] = &["idle", "poll"];
pub(crate) const ID: &[&str] = &["name", "version", "iPhone Mail", "os"];

pub(crate) fn endpoint_keys(smtp: bool) -> Vec<(&'static str, BoxedStrategy<V>)> {
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

pub(crate) fn probe_keys() -> Vec<(&'static str, BoxedStrategy<V>)> {
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

pub(crate) const SECRETS: &str = "password_file = \"../pw\"\noauth_token_file = \"../pw\"\n";

pub(crate) fn endpoint(smtp: bool) -> BoxedStrategy<String> {
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
pub(crate) fn probe_file() -> impl Strategy<Value = String> {
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
pub(crate) fn main_file() -> impl Strategy<Value = String> {
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
            ("pop3_tls", txt(TLS)),
            ("pop3_auth", txt(POP3_AUTH)),
            ("pop3_port", num()),
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
