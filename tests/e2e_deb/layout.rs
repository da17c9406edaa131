//! What `dpkg -i` put on the machine: the files where docs/operations.md says (the rules and
//! dashboards identical to the repository's, the man pages and completions of the CLI this test
//! was built with), the conffiles, the system user, its state directory and the HMAC key.

use crate::package::{passwd, run_ok, text, ETC, STATE, USER};
use crate::support::agent;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const CONFIG: &str = "/etc/mailcanary/mailcanary.toml";
/// The probe the package ships, under /etc/mailcanary/probes.
pub const EXAMPLE: &str = "/etc/mailcanary/probes/example.toml";

pub fn assert_installed_layout(deb_root: &Path) {
    // The binary, the conffiles, the shipped rules and dashboards, identical to the repository's.
    assert!(Path::new("/usr/bin/mailcanary").is_file());
    let conffiles = text(&run_ok("dpkg-query", &["-W", "-f=${Conffiles}", "mailcanary"]).stdout);
    for f in [CONFIG, EXAMPLE] {
        assert!(conffiles.contains(f), "{f} is not a conffile: {conffiles}");
    }
    let mut shipped = 0;
    for (dir, suffix) in [("alerts", ".rules.yml"), ("dashboards", ".json")] {
        for entry in std::fs::read_dir(deb_root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(suffix) {
                continue;
            }
            let installed = Path::new("/usr/share/mailcanary").join(dir).join(&name);
            assert_eq!(
                std::fs::read(&installed)
                    .unwrap_or_else(|e| panic!("{}: {e}", installed.display())),
                std::fs::read(&path).unwrap(),
                "{} differs from {}",
                installed.display(),
                path.display()
            );
            shipped += 1;
        }
    }
    assert!(shipped >= 2, "no rules or dashboards found to compare");

    // The man pages and completions are those of the CLI this test was built with.
    let fresh = tempfile::tempdir().unwrap();
    run_ok(agent::bin(), &["__assets", fresh.path().to_str().unwrap()]);
    let mut pages = 0;
    for entry in std::fs::read_dir(fresh.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let installed = match name.as_str() {
            n if n.ends_with(".1") => {
                pages += 1;
                let gz = format!("/usr/share/man/man1/{n}.gz");
                run_ok("zcat", &[&gz]).stdout
            }
            "mailcanary.bash" => {
                std::fs::read("/usr/share/bash-completion/completions/mailcanary").unwrap()
            }
            "_mailcanary" => {
                std::fs::read("/usr/share/zsh/vendor-completions/_mailcanary").unwrap()
            }
            "mailcanary.fish" => {
                std::fs::read("/usr/share/fish/vendor_completions.d/mailcanary.fish").unwrap()
            }
            other => panic!("__assets wrote {other}, which the package does not install"),
        };
        assert!(
            installed == std::fs::read(&path).unwrap(),
            "the installed {name} is not the current CLI's"
        );
    }
    assert!(
        pages > 1,
        "expected a man page per subcommand besides mailcanary.1"
    );

    // The system user, its state directory, the per-machine key.
    let user = passwd(USER);
    let uid: u32 = user[2].parse().unwrap();
    assert!(uid < 1000, "mailcanary is not a system user: {user:?}");
    assert_eq!(user[6], "/usr/sbin/nologin");
    let state = std::fs::metadata(STATE).unwrap();
    assert_eq!((state.uid(), state.mode() & 0o777), (uid, 0o750));
    let key = std::fs::metadata(format!("{ETC}/hmac.key")).unwrap();
    assert_eq!(
        (key.uid(), key.gid(), key.mode() & 0o777),
        (0, user[3].parse().unwrap(), 0o640)
    );
    assert!(
        key.len() >= 64,
        "the generated key is too short: {} bytes",
        key.len()
    );
}
