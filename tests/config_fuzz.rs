//! Config loading under random and mutated input: 10,000+ cases of TOML mutated from valid
//! files (byte flips, truncations, splices, duplicated and dropped lines, random keys and
//! values) and of random text. No case panics, and every error names a file and a position
//! inside that file.

use mailcanary::config::Config;
use proptest::prelude::*;
use std::path::Path;

const MAIN: &str = r#"[agent]
region = "eu-west"
listen_address = "127.0.0.1:9797"
ledger_path = "ledger.db"
hmac_key_file = "hmac.key"
probes = ["probes/*.toml"]

[clients.mine]
preset = "thunderbird"
watch = "poll"
poll_interval = "2s"
id = { name = "x", version = "1" }
"#;

const PROBE: &str = r#"clients = ["thunderbird", "ios_mail", "mine"]
interval = "30s"
jitter = "3s"
timeout = "10s"
deadline = "30s"
lost_after = "10m"
from = "a@example.test"
to = "a@example.test"

[smtp]
host = "127.0.0.1"
starttls_port = 587
password_file = "../pw"

[imap]
host = "127.0.0.1"
implicit_tls_port = 993
password_env = "MAILCANARY_FUZZ_PW"
"#;

const FRAGMENTS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "\"",
    "'",
    "{",
    "}",
    ",",
    "\n",
    "#",
    "\\",
    "é",
    "\u{0}",
    "= 70000",
    "interval = \"-1s\"",
    "port = 99999999999999999999",
    "[agent]\n",
    "[smtp]\n",
    "clients = []",
    "clients = 5",
    "host = \"\"",
    "jitter = \"1h\"",
    "= \"\"\"",
    "[clients.\"bad name\"]\n",
    "watch = \"poll\"",
    "imap_auth = \"none\"",
    "probes = [\"../*\"]",
    "x.y.z = 1",
    "\t",
    "\r\n",
];

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, usize),
    DupLine(usize),
    DropLine(usize),
}

fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for e in edits {
        let n = b.len().max(1);
        match e {
            Edit::Flip(i, v) => {
                if !b.is_empty() {
                    let i = i % n;
                    b[i] = *v;
                }
            }
            Edit::Truncate(i) => b.truncate(i % (n + 1)),
            Edit::Insert(i, f) => {
                let at = i % (b.len() + 1);
                let frag = FRAGMENTS[f % FRAGMENTS.len()].as_bytes();
                b.splice(at..at, frag.iter().copied());
            }
            Edit::DupLine(i) | Edit::DropLine(i) => {
                let s = String::from_utf8_lossy(&b).to_string();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let k = i % lines.len();
                if matches!(e, Edit::DupLine(_)) {
                    lines.insert(k, lines[k]);
                } else {
                    lines.remove(k);
                }
                b = lines.join("\n").into_bytes();
            }
        }
    }
    b
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Flip(i, v)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, f)| Edit::Insert(i, f)),
        any::<usize>().prop_map(Edit::DupLine),
        any::<usize>().prop_map(Edit::DropLine),
    ]
}

/// Loads `main` + `probe` from a fresh directory and checks the outcome's shape.
fn check(main: &[u8], probe: &[u8]) {
    // In memory where the system has it: on a disk, creating and removing 13,000 directories
    // is most of this test's time.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    std::fs::create_dir(dir.path().join("probes")).unwrap();
    std::fs::write(dir.path().join("hmac.key"), "k").unwrap();
    std::fs::write(dir.path().join("pw"), "p").unwrap();
    std::fs::write(dir.path().join("mailcanary.toml"), main).unwrap();
    std::fs::write(dir.path().join("probes/p.toml"), probe).unwrap();
    if let Err(errors) = Config::load(&dir.path().join("mailcanary.toml")) {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            let text = std::fs::read(&e.file).unwrap_or_default();
            let lines = text.split(|b| *b == b'\n').count();
            assert!(e.file.starts_with(dir.path()), "{e}");
            assert!(
                e.line >= 1 && e.line <= lines.max(1),
                "line out of the file: {e}"
            );
            assert!(e.column >= 1, "{e}");
            let shown = e.to_string();
            let prefix = format!("{}:{}:{}: ", e.file.display(), e.line, e.column);
            assert!(shown.starts_with(&prefix), "{shown}");
            assert!(!e.message.is_empty(), "{shown}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_probe_files(edits in proptest::collection::vec(edit(), 1..6)) {
        std::env::set_var("MAILCANARY_FUZZ_PW", "p");
        check(MAIN.as_bytes(), &apply(PROBE, &edits));
    }

    #[test]
    fn mutated_main_files(edits in proptest::collection::vec(edit(), 1..6)) {
        std::env::set_var("MAILCANARY_FUZZ_PW", "p");
        check(&apply(MAIN, &edits), PROBE.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text(main in "\\PC{0,300}", probe in "(\\PC|\n){0,300}") {
        check(main.as_bytes(), probe.as_bytes());
    }
}

#[test]
fn the_unmutated_files_are_valid() {
    std::env::set_var("MAILCANARY_FUZZ_PW", "p");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("probes")).unwrap();
    std::fs::write(dir.path().join("hmac.key"), "k").unwrap();
    std::fs::write(dir.path().join("pw"), "p").unwrap();
    std::fs::write(dir.path().join("mailcanary.toml"), MAIN).unwrap();
    std::fs::write(dir.path().join("probes/p.toml"), PROBE).unwrap();
    let c = Config::load(Path::new(&dir.path().join("mailcanary.toml"))).unwrap();
    assert_eq!(c.instances().len(), 3);
}
