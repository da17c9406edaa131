//! The Debian package as the test handles it: building it (scripts/deb.sh), installing and
//! removing it with dpkg, a guard that purges it whatever happens, lintian's tags, and what
//! dpkg and the system say about the package and its user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PACKAGE: &str = "mailcanary";
pub const USER: &str = "mailcanary";
pub const ETC: &str = "/etc/mailcanary";
pub const STATE: &str = "/var/lib/mailcanary";

/// Runs a command, panicking with its output unless it exits 0.
pub fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds the package with scripts/deb.sh and returns the .deb it printed on its last line.
///
/// The script runs in a clean environment, as from a shell: `cargo test` hands its tests the
/// variables it set for the crate (`CARGO_PKG_*`, `OUT_DIR`, the build script's `MAILCANARY_*`),
/// and cargo counts variables that build scripts and `env!` read as inputs, so inheriting them
/// would rebuild the release binary that scripts/test.sh built before the tests.
pub fn build(root: &Path) -> PathBuf {
    let mut cmd = Command::new(root.join("scripts/deb.sh"));
    cmd.env_clear();
    for keep in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let out = cmd.output().expect("run scripts/deb.sh");
    assert!(
        out.status.success(),
        "scripts/deb.sh failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    let deb = root.join(last);
    assert!(
        last.ends_with(".deb") && deb.is_file(),
        "scripts/deb.sh did not print the .deb it built:\n{stdout}"
    );
    deb
}

/// dpkg's status of the package: `installed`, `config-files`, or `not-installed`.
pub fn status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .expect("run dpkg-query");
    let s = text(&out.stdout);
    if out.status.success() && !s.is_empty() {
        s
    } else {
        "not-installed".into()
    }
}

/// Whether a user or a group of that name exists (`getent passwd` / `getent group`).
pub fn entity_exists(database: &str, name: &str) -> bool {
    Command::new("getent")
        .args([database, name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The user's `getent passwd` fields: name, x, uid, gid, gecos, home, shell.
pub fn passwd(name: &str) -> Vec<String> {
    let out = run_ok("getent", &["passwd", name]);
    text(&out.stdout)
        .trim()
        .split(':')
        .map(str::to_string)
        .collect()
}

/// Installed: purges the package when dropped, so that the machine is left as it was even
/// when the test fails half-way (and the `mailcanary` user with it).
pub struct Installed;

impl Installed {
    /// `dpkg -i`; refuses to touch a machine where mailcanary is already installed, or where a
    /// `mailcanary` user exists that the package did not create (purging would delete it).
    pub fn install(deb: &Path) -> Installed {
        assert_eq!(
            status(),
            "not-installed",
            "the mailcanary package is already on this machine (`dpkg -P mailcanary` to let the \
             test install its own)"
        );
        assert!(
            !entity_exists("passwd", USER) && !entity_exists("group", USER),
            "a mailcanary user or group exists without the package; the test would delete it"
        );
        let guard = Installed;
        run_ok("dpkg", &["-i", deb.to_str().expect("utf-8 path")]);
        guard
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-P", PACKAGE]).output();
    }
}

/// The tags lintian reports on the package (`E: mailcanary: tag-name details` → `tag-name`),
/// with each full line for the failure message.
pub fn lintian_tags(deb: &Path) -> Vec<(String, String)> {
    let out = Command::new("lintian")
        .args(["--allow-root", "--display-info", "--tag-display-limit", "0"])
        .arg(deb)
        .output()
        .expect("run lintian (scripts/test.sh installs it)");
    // lintian exits non-zero both when it reports an error tag and when it could not check the
    // package at all: only the first prints an `E:` tag.
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() || stdout.lines().any(|l| l.starts_with("E: ")),
        "lintian failed ({}): {stdout}{}",
        out.status,
        text(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ": ");
            let (_level, _package, rest) = (parts.next()?, parts.next()?, parts.next()?);
            let tag = rest.split_whitespace().next()?.to_string();
            Some((tag, line.to_string()))
        })
        .collect()
}
