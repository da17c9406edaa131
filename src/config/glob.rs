//! File-name wildcards for `agent.probes` (`probes/*.toml`), without a crate for it.

use std::path::{Path, PathBuf};

/// A pattern that cannot be expanded; it becomes a config error at the pattern.
#[derive(Debug, thiserror::Error)]
pub(super) enum GlobError {
    #[error("wildcards are only supported in the file name")]
    WildcardInDirectory,
    #[error("cannot list {}: {source}", .dir.display())]
    List {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Expands a path whose last component may hold `*` and `?` wildcards; sorted results.
pub(super) fn glob(pattern: &Path) -> Result<Vec<PathBuf>, GlobError> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dir = pattern.parent().unwrap_or(Path::new("."));
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err(GlobError::WildcardInDirectory);
    }
    if !name.contains(['*', '?']) {
        return Ok(if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            vec![]
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|source| GlobError::List {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| wildcard(name.as_bytes(), n.as_bytes()))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.toml", b"a.toml"));
        assert!(!wildcard(b"*.toml", b"a.toml.bak"));
        assert!(wildcard(b"p?.toml", b"p1.toml"));
    }
}
