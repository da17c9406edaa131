//! Build information for `mailcanary --version` and the `mailcanary_build_info` metric: the git
//! revision (when building from a git checkout of mailcanary itself; `unknown` from a source
//! tarball) and the version of the compiler, as Prometheus' own build_info reports them.

use std::path::Path;
use std::process::Command;

/// Runs a command and returns its trimmed standard output, if it ran and succeeded.
fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The commit being built and the git files whose change means another commit, or `None` when
/// the sources are not a git checkout of this crate (a tarball unpacked inside some other
/// repository must not report that repository's revision).
fn git_revision(dir: &Path) -> Option<(String, Vec<String>)> {
    let top = output("git", &["rev-parse", "--show-toplevel"], dir)?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    let revision = output("git", &["rev-parse", "HEAD"], dir)?;
    let mut watch = vec![output("git", &["rev-parse", "--git-path", "HEAD"], dir)?];
    if let Some(branch) = output("git", &["symbolic-ref", "-q", "HEAD"], dir) {
        watch.extend(output("git", &["rev-parse", "--git-path", &branch], dir));
    }
    watch.extend(output(
        "git",
        &["rev-parse", "--git-path", "packed-refs"],
        dir,
    ));
    Some((revision, watch))
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&dir);
    let revision = match git_revision(dir) {
        Some((revision, watch)) => {
            for path in watch {
                let path = dir.join(path);
                // A path that does not exist would make cargo rerun this script on every build.
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            revision
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // `rustc 1.95.0 (59807616e 2026-04-14)`: the label takes the version number.
    let rustc_line = output(&rustc, &["-V"], dir).unwrap_or_else(|| "rustc unknown".into());
    let rustc_version = rustc_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("unknown")
        .to_string();

    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=MAILCANARY_REVISION={revision}");
    println!("cargo:rustc-env=MAILCANARY_RUSTC_VERSION={rustc_version}");
    println!(
        "cargo:rustc-env=MAILCANARY_LONG_VERSION={version} (revision {revision}, {rustc_line})"
    );
}
