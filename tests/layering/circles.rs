//! Import circles between files: the module path of each file under `src/`, the arrows from
//! the `crate::…` and `super::…` paths it uses, and the strongly connected sets among them.

use super::{ident, rust_files};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The module path of a file under `src/` (`probe/imap/mod.rs` → `probe::imap`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .filter_map(|c| c.as_os_str().to_str().map(str::to_string))
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// Every path `text` uses from `crate::` or `super::`, made absolute for a file whose module
/// path is `here`; brace groups are expanded. Code after `#[cfg(test)]` is left out: tests may
/// reach anywhere in their own file's module.
fn used_paths(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    // `super` of a `mod.rs` file is the parent of its directory module, as of any other file.
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let (base, skip) = if rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if rest.starts_with("super::") {
            (parent.clone(), "super::".len())
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        i += skip;
        if boundary {
            let mut base = base;
            let mut tail = &code[i..];
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            expand(tail, base, &mut out);
        }
    }
    out
}

/// `a::b::{c, d::e}` after `base` → `base::a::b::c`, `base::a::b::d::e`.
fn expand(tail: &str, mut base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut tail = tail;
    loop {
        if let Some(group) = tail.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        expand(group[start..k].trim(), base.clone(), out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(group[start..k].trim(), base.clone(), out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        match ident(tail) {
            Some(seg) => {
                tail = &tail[seg.len()..];
                base.push(seg);
                match tail.strip_prefix("::") {
                    Some(t) => tail = t,
                    None => break,
                }
            }
            None => break,
        }
    }
    out.push(base);
}

/// The file-level import graph: module path → the module paths of the files it uses.
fn file_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: HashMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_path(&src, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (here, file) in &modules {
        let text = std::fs::read_to_string(file).expect("read source");
        let mut to = BTreeSet::new();
        for path in used_paths(&text, here) {
            // The longest prefix of the path that is a file of its own.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p));
            if let Some(t) = target {
                let ancestor = t.len() <= here.len() && here[..t.len()] == t[..];
                if !ancestor {
                    to.insert(t);
                }
            }
        }
        graph.insert(here.clone(), to);
    }
    graph
}

/// The circles in `graph`: each strongly connected set of more than one file.
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let reach = |from: &Vec<String>| -> BTreeSet<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        graph.keys().map(|k| (k, reach(k))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (a, from_a) in &reached {
        if done.contains(*a) || !from_a.contains(*a) {
            continue;
        }
        let set: Vec<String> = from_a
            .iter()
            .filter(|b| reached.get(b).is_some_and(|r| r.contains(*a)))
            .inspect(|b| {
                done.insert((*b).clone());
            })
            .map(|b| b.join("::"))
            .collect();
        if set.len() > 1 {
            out.push(set);
        }
    }
    out
}

#[test]
fn no_two_files_import_each_other() {
    let graph = file_graph();
    let arrows: usize = graph.values().map(BTreeSet::len).sum();
    println!("{} files, {arrows} arrows between them", graph.len());
    assert!(
        arrows > 100,
        "found only {arrows} arrows: is the parser reading the files?"
    );
    let found = circles(&graph);
    assert!(found.is_empty(), "import circles between files: {found:?}");
}

#[test]
fn a_circle_is_caught() {
    let here = |p: &str| p.split("::").map(str::to_string).collect::<Vec<_>>();
    // What the parser reads, on made-up files.
    assert_eq!(
        used_paths("use super::{context::{A, B}, net};", &here("probe::cycle"),),
        vec![
            here("probe::context::A"),
            here("probe::context::B"),
            here("probe::net")
        ]
    );
    assert_eq!(
        used_paths(
            "let x = crate::vocab::Stage::Dns; // crate::agent",
            &here("x"),
        ),
        vec![here("vocab::Stage::Dns")]
    );
    // A two-file circle and a three-file one are reported; a chain is not.
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(here(a)).or_default().insert(here(b));
            g.entry(here(b)).or_default();
        }
        g
    };
    assert_eq!(circles(&graph(&[("a", "b"), ("b", "a")])).len(), 1);
    assert_eq!(
        circles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])).len(),
        1
    );
    assert!(circles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
}
