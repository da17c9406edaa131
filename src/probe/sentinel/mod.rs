//! Storage-integrity sentinels: a fixed set of signed messages planted once in a folder of the
//! probe's, and checked for presence, exact bytes and flags on later cycles.
//!
//! New canaries say nothing about mail already stored; the January 2023 outage was a storage
//! bug, and users feared their old mail was gone. Sentinels answer that: each has a name
//! (`X-Mailcanary-Sentinel: probe/n`), its SHA-256 and flags are recorded in the ledger at
//! planting time, and a check compares what the server returns (`BODY.PEEK[]`, read-only
//! `EXAMINE`, so `\Seen` is never set) with the record. Sentinels are never deleted by cleanup.

use crate::secret::Secret;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

mod check;
pub use check::{check, Checked};

pub use crate::config::DEFAULT_SENTINEL_FOLDER as DEFAULT_FOLDER;
pub use crate::ledger::Planted;

pub const HEADER: &str = "X-Mailcanary-Sentinel";

/// What a check found wrong with one sentinel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing {
        name: String,
    },
    Altered {
        name: String,
        size: usize,
        expected: usize,
    },
    Flags {
        name: String,
        found: Vec<String>,
        expected: Vec<String>,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { name } => write!(f, "sentinel {name} is missing"),
            Problem::Altered {
                name,
                size,
                expected,
            } => write!(
                f,
                "sentinel {name} content changed ({size} bytes, planted {expected})"
            ),
            Problem::Flags {
                name,
                found,
                expected,
            } => write!(
                f,
                "sentinel {name} flags changed to ({}), planted with ({})",
                found.join(" "),
                expected.join(" ")
            ),
        }
    }
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tag(key: &Secret, name: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("sentinel v1\n{name}\n{}", sha256_hex(body.as_bytes())).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn lines(seed: &str, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 80);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&format!(
            "{seed} line {i:06}: the quick brown fox jumps over the lazy dog\r\n"
        ));
        i += 1;
    }
    out
}

fn message(
    key: &Secret,
    name: &str,
    to: &str,
    extra_headers: &str,
    subject: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: mailcanary <{to}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Thu, 26 Nov 2026 00:00:00 +0000\r\nMessage-ID: <{}@mailcanary-sentinel>\r\n\
         MIME-Version: 1.0\r\n{extra_headers}{HEADER}: {name}\r\nX-Mailcanary-Tag: {}\r\n\r\n{body}",
        name.replace('/', "."),
        tag(key, name, body)
    )
    .into_bytes()
}

/// The sentinel set of `probe` for mailbox owner `to`: (name, bytes, flags to plant with).
/// Sizes from 1 KiB to 256 KiB, one with an attachment, one with non-ASCII headers.
pub fn set(key: &Secret, probe: &str, to: &str) -> Vec<(String, Vec<u8>, Vec<&'static str>)> {
    let n = |i: usize| format!("{probe}/{i}");
    let text = "Content-Type: text/plain; charset=us-ascii\r\n";
    let attachment: Vec<u8> = (0..48 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let b64_lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    let multipart_body = format!(
        "--sentinel-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Sentinel with an attachment.\r\n--sentinel-boundary\r\n\
         Content-Type: application/octet-stream; name=\"sentinel.bin\"\r\n\
         Content-Disposition: attachment; filename=\"sentinel.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--sentinel-boundary--\r\n",
        b64_lines.join("\r\n")
    );
    vec![
        (
            n(1),
            message(
                key,
                &n(1),
                to,
                text,
                "mailcanary sentinel 1 (small)",
                &lines("s1", 1024),
            ),
            vec![],
        ),
        (
            n(2),
            message(
                key,
                &n(2),
                to,
                text,
                "mailcanary sentinel 2 (medium)",
                &lines("s2", 32 * 1024),
            ),
            vec!["\\Seen"],
        ),
        (
            n(3),
            message(
                key,
                &n(3),
                to,
                text,
                "mailcanary sentinel 3 (large)",
                &lines("s3", 256 * 1024),
            ),
            vec!["\\Flagged", "\\Seen"],
        ),
        (
            n(4),
            message(
                key,
                &n(4),
                to,
                "Content-Type: multipart/mixed; boundary=\"sentinel-boundary\"\r\n",
                "mailcanary sentinel 4 (attachment)",
                &multipart_body,
            ),
            vec![],
        ),
        (
            n(5),
            message(
                key,
                &n(5),
                to,
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
                &format!(
                    "=?UTF-8?B?{}?=",
                    base64::engine::general_purpose::STANDARD
                        .encode("Größe sentinella – 日本のメール")
                ),
                "Sentinella con intestazioni non ASCII: Größe, città, 日本のメール, emoji 🐤.\r\n",
            ),
            vec!["\\Answered"],
        ),
    ]
}

/// Compares what the server holds with what was planted. `found` is (name, bytes, flags) of
/// every message carrying the sentinel header.
pub fn compare(planted: &[Planted], found: &[(String, Vec<u8>, Vec<String>)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for p in planted {
        let Some((_, bytes, flags)) = found
            .iter()
            .find(|(n, b, _)| n == &p.name && sha256_hex(b) == p.sha256)
            .or_else(|| found.iter().find(|(n, _, _)| n == &p.name))
        else {
            problems.push(Problem::Missing {
                name: p.name.clone(),
            });
            continue;
        };
        if sha256_hex(bytes) != p.sha256 {
            problems.push(Problem::Altered {
                name: p.name.clone(),
                size: bytes.len(),
                expected: p.size,
            });
            continue;
        }
        let mut got: Vec<String> = flags
            .iter()
            .filter(|f| f.starts_with('\\') && *f != "\\Recent")
            .cloned()
            .collect();
        got.sort();
        if got != p.flags {
            problems.push(Problem::Flags {
                name: p.name.clone(),
                found: got,
                expected: p.flags.clone(),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted(set: &[(String, Vec<u8>, Vec<&str>)]) -> Vec<Planted> {
        set.iter()
            .map(|(n, b, f)| Planted {
                name: n.clone(),
                sha256: sha256_hex(b),
                size: b.len(),
                flags: f.iter().map(|s| s.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn the_set_has_sizes_an_attachment_and_non_ascii() {
        let s = set(&Secret::new("k"), "p", "a@x.test");
        assert_eq!(s.len(), 5);
        assert!(s[0].1.len() >= 1024 && s[2].1.len() >= 256 * 1024);
        assert!(String::from_utf8_lossy(&s[3].1).contains("Content-Disposition: attachment"));
        assert!(!s[4].1.is_ascii());
        assert!(s
            .iter()
            .all(|(n, b, _)| String::from_utf8_lossy(b).contains(&format!("{HEADER}: {n}"))));
    }

    #[test]
    fn compare_finds_missing_altered_and_flag_changes() {
        let s = set(&Secret::new("k"), "p", "a@x.test");
        let p = planted(&s);
        let mut found: Vec<(String, Vec<u8>, Vec<String>)> = s
            .iter()
            .map(|(n, b, f)| {
                (
                    n.clone(),
                    b.clone(),
                    f.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect();
        assert!(compare(&p, &found).is_empty());
        found[0].1[50] ^= 1;
        found.remove(1);
        found[1].2 = vec!["\\Seen".into()];
        let problems = compare(&p, &found);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(matches!(problems[0], Problem::Altered { .. }));
        assert!(matches!(problems[1], Problem::Missing { .. }));
        assert!(matches!(problems[2], Problem::Flags { .. }));
    }
}
