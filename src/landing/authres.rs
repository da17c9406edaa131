//! One `Authentication-Results` field value (RFC 8601 §2.2), unfolded:
//!
//! ```text
//! authserv-id [version] ( "; none" / 1*( ";" method[/version] "=" result [reason] [props] ) )
//! ```
//!
//! Comments in parentheses (nested, with `\` escapes) count as white space; quoted strings are
//! one value. Only `method=result` of each resinfo is read; its reason and properties
//! (`header.d=...`, `smtp.mailfrom=...`) are skipped up to the next `;`. Methods other than
//! spf, dkim, dmarc and arc are ignored; a result outside RFC 8601's list is `unknown`. A field
//! without an authserv-id is not an `Authentication-Results` field at all.

use super::{sanitise, AuthHeader, AuthResult, Method};
use std::collections::BTreeMap;

#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Atom(&'a str),
    Quoted(String),
    Semi,
    Eq,
    Slash,
}

/// The tokens of `s`: comments and white space dropped. An unclosed comment or quoted string
/// runs to the end of the value.
fn lex(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth: u32 = 0;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'(' => depth = depth.saturating_add(1),
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'"' => {
                let mut v = Vec::new();
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(c) = b.get(i) {
                        v.push(*c);
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Quoted(String::from_utf8_lossy(&v).into_owned()));
            }
            b';' => {
                out.push(Tok::Semi);
                i += 1;
            }
            b'=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            b'/' => {
                out.push(Tok::Slash);
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b" \t\r\n()\";=/".contains(&b[i]) {
                    i += 1;
                }
                if i == start {
                    // A stray `)`: skipped.
                    i += 1;
                    continue;
                }
                // `start..i` ends before an ASCII byte or at the end: a char boundary.
                out.push(Tok::Atom(s.get(start..i).unwrap_or("")));
            }
        }
    }
    out
}

/// The field's authserv-id and its results per reported method; `None` when the value does
/// not start with an authserv-id.
pub(super) fn parse(value: &str) -> Option<AuthHeader> {
    let toks = lex(value);
    let id_raw = match toks.first()? {
        Tok::Atom(a) => (*a).to_string(),
        Tok::Quoted(q) => q.clone(),
        _ => return None,
    };
    if id_raw.is_empty() {
        return None;
    }
    let mut rest = &toks[1..];
    // An optional version: digits only.
    if let Some(Tok::Atom(v)) = rest.first() {
        if v.bytes().all(|c| c.is_ascii_digit()) {
            rest = &rest[1..];
        }
    }
    let mut results: BTreeMap<Method, AuthResult> = BTreeMap::new();
    // Each resinfo starts after a `;`; anything before the first `;` is ignored.
    for resinfo in rest.split(|t| *t == Tok::Semi).skip(1) {
        let (method, after) = match resinfo {
            [Tok::Atom(m), Tok::Slash, Tok::Atom(_), after @ ..] => (*m, after),
            [Tok::Atom(m), after @ ..] => (*m, after),
            _ => continue,
        };
        let [Tok::Eq, Tok::Atom(result), ..] = after else {
            continue; // `none`, or not a methodspec
        };
        let Some(method) = Method::parse(method) else {
            continue;
        };
        let result = AuthResult::parse(result);
        results
            .entry(method)
            .and_modify(|r| {
                if result == AuthResult::Pass {
                    *r = AuthResult::Pass;
                }
            })
            .or_insert(result);
    }
    let id_raw: String = id_raw.chars().take(super::MAX_NAME_CHARS * 4).collect();
    Some(AuthHeader {
        authserv_id: sanitise(&id_raw),
        results,
        id_raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_nest_and_quoted_strings_are_one_token() {
        let t = lex(r#"a (x (y; z) \) w) "q;\"r" ;b=c/d"#);
        assert_eq!(
            t,
            vec![
                Tok::Atom("a"),
                Tok::Quoted("q;\"r".into()),
                Tok::Semi,
                Tok::Atom("b"),
                Tok::Eq,
                Tok::Atom("c"),
                Tok::Slash,
                Tok::Atom("d"),
            ]
        );
    }

    #[test]
    fn unclosed_comments_and_quotes_end_the_value() {
        assert_eq!(lex("a (b ; c"), vec![Tok::Atom("a")]);
        assert_eq!(lex("a ) b"), vec![Tok::Atom("a"), Tok::Atom("b")]);
        assert_eq!(lex("\"a\\"), vec![Tok::Quoted("a".into())]);
        assert!(parse("(only a comment").is_none());
        assert!(parse("; spf=pass").is_none());
    }
}
