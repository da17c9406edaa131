//! Every config error has a fixture and an exact expected message (file:line:column: field:
//! message), in tests/testdata/config: `invalid-NAME.toml` and `invalid-NAME.expected`.

use mailcanary::config::Config;
use std::path::Path;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/config")
}

#[test]
fn each_invalid_fixture_gives_exactly_its_expected_errors() {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("invalid-") && name.ends_with(".toml")) {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{name} has no .expected file"));
        let errors = Config::load(&path).expect_err(&name).to_string();
        let prefix = format!("{}/", dir().display());
        let got = errors.replace(&prefix, "");
        assert_eq!(got.trim_end(), expected.trim_end(), "{name}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures");
}

#[test]
fn the_valid_fixture_loads_with_defaults_and_overrides() {
    let c = Config::load(&dir().join("valid.toml")).unwrap();
    assert_eq!(c.agent.region, "test");
    assert_eq!(c.agent.listen_address.to_string(), "0.0.0.0:9797");
    let p = &c.probes[0];
    assert_eq!(p.name, "good", "the name defaults to the file name");
    assert_eq!(p.interval.as_secs(), 60);
    assert_eq!(p.lost_after, p.deadline * 10);
    assert_eq!(
        p.imap.as_ref().map(|e| e.username.as_str()),
        Some("a@example.test")
    );
    assert!(p.pop3.is_none());
    assert_eq!(
        p.junk_folder, None,
        "unset: the server's SPECIAL-USE \\Junk folder"
    );
    assert_eq!(p.authserv_id, None, "unset: the topmost field is trusted");
    assert!(p.expect_auth.is_empty(), "unset: no verdict is required");
    let insts = c.instances();
    assert_eq!(insts.len(), 1);
    assert_eq!(insts[0].key(), "good/thunderbird");
}

#[test]
fn example_probes_shipped_in_the_repo_are_valid() {
    // probes/*.toml need the test stack's secret files; `mailcanary check` on them is run in
    // tests/e2e_core.rs's environment. Here: they parse and name only known client profiles.
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("probes")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(v.get("clients").is_some(), "{}", path.display());
    }
}
