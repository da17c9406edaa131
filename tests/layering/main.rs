//! The crate's layers point one way. Reads every file under `src/`, finds each `crate::<module>`
//! it names (outside comments), and fails when a module names one it may not: the table below
//! is the architecture in one screen, lowest layer first.
//!
//! A module may always name itself; `main.rs` and `lib.rs` wire everything and are not checked.
//!
//! Within the layers, no two files import each other, directly or round a longer circle: a
//! file's module path comes from where it lies under `src/`, and each `crate::…`, `super::…`
//! path it uses is an arrow to the file that defines it (a file naming its own parent module,
//! where its siblings are re-exported, is not counted).

use std::collections::{BTreeMap, BTreeSet};

mod circles;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may import, lowest layer first.
const ALLOWED: &[(&str, &[&str])] = &[
    // The shared words: stage, reason, failure, outcome. Imports nothing.
    ("vocab", &[]),
    // The process's log output. Imports nothing.
    ("logging", &[]),
    // Where a canary landed, read from its header bytes. Imports nothing.
    ("landing", &[]),
    // Leaves that serve everyone.
    ("secret", &["vocab"]),
    ("config", &["landing", "secret", "vocab"]),
    ("ledger", &["config", "vocab"]),
    ("metrics", &["config", "landing", "vocab"]),
    ("status", &["config", "landing", "vocab"]),
    ("tls", &["config", "vocab"]),
    ("stream", &["tls", "vocab"]),
    // One probe cycle, on top of the leaves.
    (
        "probe",
        &[
            "config", "landing", "ledger", "secret", "stream", "tls", "vocab",
        ],
    ),
    // What a finished cycle becomes (metrics, logs, status), and the timing of cycles.
    (
        "events",
        &[
            "config", "landing", "ledger", "metrics", "probe", "status", "vocab",
        ],
    ),
    (
        "scheduler",
        &[
            "config", "events", "ledger", "metrics", "probe", "status", "vocab",
        ],
    ),
    // The HTTP side reads the leaves only; it never drives a probe.
    (
        "web",
        &[
            "config", "landing", "ledger", "metrics", "secret", "status", "vocab",
        ],
    ),
    // The running agent puts it all together.
    (
        "agent",
        &[
            "config",
            "events",
            "ledger",
            "metrics",
            "probe",
            "scheduler",
            "secret",
            "status",
            "stream",
            "tls",
            "vocab",
            "web",
        ],
    ),
    // Commands: each may use the agent and anything below it; nothing imports a command.
    (
        "once",
        &[
            "agent",
            "config",
            "events",
            "landing",
            "ledger",
            "metrics",
            "probe",
            "scheduler",
            "secret",
            "status",
            "stream",
            "tls",
            "vocab",
        ],
    ),
    (
        "plant",
        &[
            "agent", "config", "ledger", "probe", "secret", "stream", "tls", "vocab",
        ],
    ),
    (
        "report",
        &["agent", "config", "ledger", "secret", "tls", "vocab"],
    ),
    (
        "demo",
        &[
            "agent", "config", "ledger", "report", "secret", "status", "stream", "tls", "vocab",
        ],
    ),
];

/// The top-level module a file under `src/` belongs to (`None` for main.rs and lib.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "main" | "lib")).then(|| name.to_string())
}

/// The top-level modules `text` names as `crate::<name>`, comments left out. A grouped
/// `use crate::{a, b::c}` names `a` and `b`.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    out.extend(ident(item.trim()));
                }
            } else {
                out.extend(ident(rest));
            }
        }
    }
    out
}

pub(crate) fn ident(s: &str) -> Option<String> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| s[..end].to_string())
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every forbidden import as `file: module -> target`.
fn violations(files: &[(String, String, String)]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for (file, module, text) in files {
        let Some(may) = allowed.get(module.as_str()) else {
            bad.push(format!(
                "{file}: module `{module}` is not in the layering table"
            ));
            continue;
        };
        for target in named(text) {
            if target != *module && !may.contains(&target.as_str()) {
                bad.push(format!("{file}: {module} -> {target}"));
            }
        }
    }
    bad
}

fn sources() -> Vec<(String, String, String)> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let module = module_of(&src, f)?;
            let text = std::fs::read_to_string(f).expect("read source");
            let rel = f.strip_prefix(&src).unwrap_or(f).display().to_string();
            Some((rel, module, text))
        })
        .collect()
}

#[test]
fn every_import_points_down() {
    let files = sources();
    assert!(files.len() > 50, "read {} files under src/", files.len());
    let bad = violations(&files);
    println!(
        "{} files checked against {} layers",
        files.len(),
        ALLOWED.len()
    );
    assert!(
        bad.is_empty(),
        "imports against the layering:\n{}",
        bad.join("\n")
    );
}

#[test]
fn an_upward_import_is_caught() {
    // The checker itself, on made-up files: each would be refused if it were in src/.
    let file = |module: &str, text: &str| ("x.rs".to_string(), module.to_string(), text.into());
    let cases = [
        file("metrics", "use crate::probe::cycle::CycleCtx;"),
        file("vocab", "pub fn f() -> crate::config::Config { todo!() }"),
        file("ledger", "use crate::{vocab::Outcome, scheduler::Shared};"),
        file("web", "    let _ = crate::agent::load(p); // reload"),
        file("newmodule", "use crate::vocab::Stage;"),
    ];
    for case in cases {
        assert_eq!(violations(std::slice::from_ref(&case)).len(), 1, "{case:?}");
    }
    // Comments and allowed arrows are not.
    let fine = [
        file(
            "metrics",
            "// see crate::probe for the phases\nuse crate::vocab::Stage;",
        ),
        file("probe", "use crate::{config::Config, ledger::Ledger};"),
        file("scheduler", "use crate::scheduler::Shared;"),
    ];
    for case in fine {
        assert!(
            violations(std::slice::from_ref(&case)).is_empty(),
            "{case:?}"
        );
    }
}
