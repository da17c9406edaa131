//! Unit-test support for the whole crate: a real [`Config`] with one probe, loaded from files
//! written into a temporary folder, for tests that need a probe or an instance as the agent
//! would build them.

use super::{Config, Instance};
use std::path::Path;

/// A config in `dir` with one probe `p` (client profile `thunderbird`, region `r`, SMTP and
/// IMAP host `h`), `extra` added to its `[[probe]]` table. Panics with the config errors.
pub(crate) fn one_probe(dir: &Path, extra: &str) -> Config {
    std::fs::write(dir.join("k"), "key\n").expect("key");
    let main = dir.join("m.toml");
    std::fs::write(
        &main,
        format!(
            "[agent]\nregion = \"r\"\nhmac_key_file = \"k\"\n\
             [[probe]]\nname = \"p\"\nclients = [\"thunderbird\"]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n{extra}\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             [probe.imap]\nhost = \"h\"\npassword_file = \"k\"\n"
        ),
    )
    .expect("config");
    Config::load(&main).unwrap_or_else(|e| panic!("{e}"))
}

/// The one instance of [`one_probe`]'s config, loaded from a folder of its own.
pub(crate) fn one_instance(extra: &str) -> Instance {
    let dir = tempfile::tempdir().expect("tempdir");
    one_probe(dir.path(), extra).instances().remove(0)
}
