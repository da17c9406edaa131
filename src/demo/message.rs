//! Minimal RFC 5322 helpers over raw message bytes: split header/body, find (unfolded) header
//! values, pick raw header lines for `BODY[HEADER.FIELDS (...)]`, and the body alteration used
//! by the `Corrupt` delivery fault. Lenient by design: never fails, never panics.

/// Byte offset where the body starts (after the first empty line), and the header length
/// including that empty line. A message without an empty line is all header.
pub(crate) fn split(bytes: &[u8]) -> (usize, usize) {
    let mut i = 0;
    while i < bytes.len() {
        // Position `i` is the start of a line.
        if bytes[i..].starts_with(b"\r\n") {
            return (i + 2, i + 2);
        }
        if bytes[i] == b'\n' {
            return (i + 1, i + 1);
        }
        match bytes[i..].iter().position(|b| *b == b'\n') {
            Some(p) => i += p + 1,
            None => return (bytes.len(), bytes.len()),
        }
    }
    (bytes.len(), bytes.len())
}

/// The header section (including the terminating empty line, if any).
pub(crate) fn header_section(bytes: &[u8]) -> &[u8] {
    &bytes[..split(bytes).1]
}

/// The body (everything after the empty line).
pub(crate) fn body(bytes: &[u8]) -> &[u8] {
    &bytes[split(bytes).0..]
}

/// Raw header fields: (name, raw bytes of the whole field incl. continuation lines and line end).
pub(crate) fn raw_fields(bytes: &[u8]) -> Vec<(String, &[u8])> {
    let header = header_section(bytes);
    let mut fields: Vec<(String, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < header.len() {
        let end = match header[i..].iter().position(|b| *b == b'\n') {
            Some(p) => i + p + 1,
            None => header.len(),
        };
        let line = &header[i..end];
        let blank = line == b"\r\n" || line == b"\n";
        if blank {
            break;
        }
        if (line[0] == b' ' || line[0] == b'\t') && !fields.is_empty() {
            if let Some(last) = fields.last_mut() {
                last.2 = end;
            }
        } else if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
            fields.push((name, i, end));
        }
        i = end;
    }
    fields
        .into_iter()
        .map(|(n, s, e)| (n, &header[s..e]))
        .collect()
}

/// Unfolded, trimmed values of every field called `name` (case-insensitive).
pub(crate) fn header_values(bytes: &[u8], name: &str) -> Vec<String> {
    raw_fields(bytes)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, raw)| {
            let raw = String::from_utf8_lossy(raw);
            let value = raw.split_once(':').map(|(_, v)| v).unwrap_or("");
            value
                .replace("\r\n", "")
                .replace('\n', "")
                .trim()
                .to_string()
        })
        .collect()
}

/// First value of header `name`, if present.
pub(crate) fn header_value(bytes: &[u8], name: &str) -> Option<String> {
    header_values(bytes, name).into_iter().next()
}

/// The raw lines of the named fields (or of all other fields when `not`), followed by the
/// empty line, as `BODY[HEADER.FIELDS (...)]` / `HEADER.FIELDS.NOT` return them.
pub(crate) fn select_fields(bytes: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, raw) in raw_fields(bytes) {
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(&name));
        if listed != not {
            out.extend_from_slice(raw);
            if !raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Case-insensitive (ASCII) substring test on bytes.
pub(crate) fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Alter one byte of the body (the first letter or digit, else the first byte that is not a
/// line ending); if the body is empty, append a line. Length is kept when a byte is altered.
/// `bytes` with the receiving side's verdicts on top, as a filter writes them: SPF passed, the
/// DKIM signature did not verify, so DMARC failed.
pub(crate) fn dkim_failed(hostname: &str, bytes: Vec<u8>) -> Vec<u8> {
    let mut out = format!(
        "Authentication-Results: {hostname}; dkim=fail (signature did not verify) \
         header.d=example.test;\r\n\tspf=pass smtp.mailfrom=example.test;\r\n\
         \tdmarc=fail header.from=example.test\r\n"
    )
    .into_bytes();
    out.extend(bytes);
    out
}

pub(crate) fn corrupt(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let start = split(bytes).0;
    let pick = out[start..]
        .iter()
        .position(|b| b.is_ascii_alphanumeric())
        .or_else(|| out[start..].iter().position(|b| *b != b'\r' && *b != b'\n'));
    match pick {
        Some(p) => {
            let b = &mut out[start + p];
            *b = if *b == b'X' { b'Y' } else { b'X' };
        }
        None => out.extend_from_slice(b"corrupted\r\n"),
    }
    out
}

/// Number of lines of `bytes` (for BODYSTRUCTURE of text parts).
pub(crate) fn line_count(bytes: &[u8]) -> u32 {
    let n = bytes.iter().filter(|b| **b == b'\n').count();
    let extra = usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
    u32::try_from(n + extra).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@example.test\r\nX-Mailcanary-Id: abc-123\r\nSubject: hello\r\n world\r\n\r\nBody line\r\n";

    #[test]
    fn splits_and_finds_headers() {
        assert_eq!(body(MSG), b"Body line\r\n");
        assert!(header_section(MSG).ends_with(b"world\r\n\r\n"));
        assert_eq!(
            header_value(MSG, "x-mailcanary-id").as_deref(),
            Some("abc-123")
        );
        assert_eq!(header_value(MSG, "Subject").as_deref(), Some("hello world"));
        assert_eq!(header_value(MSG, "To"), None);
    }

    #[test]
    fn selects_fields_in_message_order() {
        let got = select_fields(MSG, &["subject".into(), "FROM".into()], false);
        assert_eq!(
            got,
            b"From: a@example.test\r\nSubject: hello\r\n world\r\n\r\n"
        );
        let not = select_fields(MSG, &["subject".into(), "from".into()], true);
        assert_eq!(not, b"X-Mailcanary-Id: abc-123\r\n\r\n");
    }

    #[test]
    fn tolerates_odd_input() {
        assert_eq!(split(b""), (0, 0));
        assert_eq!(body(b"no header end"), b"");
        assert_eq!(header_value(b"\r\n\r\n", "x"), None);
        assert_eq!(raw_fields(b" leading continuation\r\nA: b\r\n").len(), 1);
        assert!(contains_ci(b"Hello World", b"wORLD"));
        assert!(!contains_ci(b"abc", b"abcd"));
    }

    #[test]
    fn corrupt_changes_body_only() {
        let c = corrupt(MSG);
        assert_eq!(c.len(), MSG.len());
        assert_eq!(header_section(&c), header_section(MSG));
        assert_ne!(body(&c), body(MSG));
        assert!(corrupt(b"A: b\r\n\r\n").ends_with(b"corrupted\r\n"));
        assert_eq!(line_count(b"a\r\nb"), 2);
    }
}
