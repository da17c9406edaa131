//! The header fields of a message, top first, without copying the block: each field is its
//! name and the raw lines of its value; only the fields a caller asks for are unfolded, into
//! at most [`super::MAX_FIELD_BYTES`] bytes.

use super::MAX_FIELD_BYTES;

/// One header field: its name and its raw value lines (the first line after the colon, then
/// each continuation line), CR and LF left out.
pub(super) struct Field<'a> {
    pub(super) name: &'a [u8],
    first: &'a [u8],
    /// The rest of the block after the first line, for the continuation lines.
    rest: &'a [u8],
}

impl Field<'_> {
    /// The value unfolded (each line break and the whitespace around it read as one space),
    /// trimmed, as text (invalid UTF-8 replaced), at most [`MAX_FIELD_BYTES`] bytes of it.
    pub(super) fn value(&self) -> String {
        let mut out: Vec<u8> = Vec::new();
        let push = |line: &[u8], out: &mut Vec<u8>| {
            let line = line.trim_ascii();
            if line.is_empty() || out.len() >= MAX_FIELD_BYTES {
                return;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            let room = MAX_FIELD_BYTES.saturating_sub(out.len());
            out.extend_from_slice(&line[..line.len().min(room)]);
        };
        push(self.first, &mut out);
        for line in lines(self.rest) {
            if !line.starts_with(b" ") && !line.starts_with(b"\t") {
                break;
            }
            push(line, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The lines of `block`, LF or CRLF ended, without their ending.
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The header fields of `message`, top first, up to the first empty line. A line that is
/// neither a field (`name:`) nor a continuation is skipped.
pub(super) fn fields(message: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut rest = message;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (line, after) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // The end of the header block.
            rest = &rest[rest.len()..];
            return None;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        return Some(Field {
            name: line[..colon].trim_ascii(),
            first: &line[colon + 1..],
            rest,
        });
    })
}
