//! How much an IMAP server may send, enforced as the bytes arrive.
//!
//! IMAP sets no line length, and a literal `{N}` tells the client to expect `N` bytes: without
//! limits a server could make the probe buffer a line without end, or (through async-imap,
//! which reserves room for a literal when it is announced) allocate `N` bytes at once. The
//! limits, each crossing of which fails the step with `protocol_error` at once:
//!
//! | what | limit |
//! | --- | --- |
//! | a response line (literal bytes not counted) | [`MAX_LINE`] bytes |
//! | a literal | the probe's `imap_max_literal` (default [`DEFAULT_MAX_LITERAL`]), checked when `{N}` is announced, before any of it is read |
//! | one response, literals included | `imap_max_literal` + 2 × [`MAX_LINE`] |
//! | all responses to one command (everything read between two writes of the client) | [`MAX_RESPONSES`] responses, and 16 × the response limit in bytes |
//!
//! The last row is what stops an endless stream of small untagged responses (`* OK` forever).
//! The canary and sentinel messages are a few KiB: the default literal limit is far above them.

use crate::probe::bounded::Scan;

/// Longest response line accepted (the bytes of literals in it not counted).
pub const MAX_LINE: u64 = 64 * 1024;
/// The literal limit when the probe does not set `imap_max_literal`: 1 MiB.
pub const DEFAULT_MAX_LITERAL: u64 = 1024 * 1024;
/// Most responses read between two commands.
pub const MAX_RESPONSES: u64 = 10_000;
/// All responses to one command: at most this many times the largest single response.
const RESPONSES_BYTES_FACTOR: u64 = 16;

/// Where the scan is in a possible literal announcement `{123}` (or `{123+}`) at a line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Brace {
    None,
    Digits(u64),
    Closed(u64),
}

/// Follows IMAP responses: lines, literals, and the responses between two commands.
#[derive(Debug)]
pub struct ImapScan {
    max_literal: u64,
    max_response: u64,
    max_exchange: u64,
    /// Bytes of the current line so far.
    line: u64,
    brace: Brace,
    /// Bytes of the literal being read still to come.
    literal_left: u64,
    /// Bytes of the current response so far.
    response: u64,
    /// Complete responses, and bytes, since the client last wrote.
    responses: u64,
    exchange: u64,
}

impl ImapScan {
    /// A scan allowing literals of up to `max_literal` bytes.
    pub fn new(max_literal: u64) -> Self {
        let max_response = max_literal.saturating_add(MAX_LINE.saturating_mul(2));
        ImapScan {
            max_literal,
            max_response,
            max_exchange: max_response.saturating_mul(RESPONSES_BYTES_FACTOR),
            line: 0,
            brace: Brace::None,
            literal_left: 0,
            response: 0,
            responses: 0,
            exchange: 0,
        }
    }

    fn count(&mut self, n: u64) -> Result<(), String> {
        self.response = self.response.saturating_add(n);
        self.exchange = self.exchange.saturating_add(n);
        if self.response > self.max_response {
            return Err(format!(
                "response of more than {} bytes: over the limit",
                self.max_response
            ));
        }
        if self.exchange > self.max_exchange {
            return Err(format!(
                "more than {} bytes of responses to one command: over the limit",
                self.max_exchange
            ));
        }
        Ok(())
    }

    /// A line feed: a literal starts, or the response is complete.
    fn line_end(&mut self) -> Result<(), String> {
        self.line = 0;
        if let Brace::Closed(n) = std::mem::replace(&mut self.brace, Brace::None) {
            if n > self.max_literal {
                return Err(format!(
                    "literal of {n} bytes announced: over the limit of {} bytes (imap_max_literal)",
                    self.max_literal
                ));
            }
            self.literal_left = n;
            return Ok(());
        }
        self.response = 0;
        self.responses = self.responses.saturating_add(1);
        if self.responses > MAX_RESPONSES {
            return Err(format!(
                "more than {MAX_RESPONSES} responses to one command: over the limit"
            ));
        }
        Ok(())
    }
}

impl Scan for ImapScan {
    fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.literal_left > 0 {
                let n = usize::try_from(self.literal_left)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                self.literal_left = self.literal_left.saturating_sub(n as u64);
                rest = rest.get(n..).unwrap_or_default();
                self.count(n as u64)?;
                continue;
            }
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            rest = tail;
            self.count(1)?;
            self.line = self.line.saturating_add(1);
            self.brace = match (b, self.brace) {
                (b'\n', _) => {
                    self.line_end()?;
                    continue;
                }
                (b'{', _) => Brace::Digits(0),
                (b'0'..=b'9', Brace::Digits(n)) => Brace::Digits(
                    n.saturating_mul(10)
                        .saturating_add(u64::from(b.saturating_sub(b'0'))),
                ),
                (b'+', Brace::Digits(n)) => Brace::Digits(n),
                (b'}', Brace::Digits(n)) => Brace::Closed(n),
                (b'\r', Brace::Closed(n)) => Brace::Closed(n),
                _ => Brace::None,
            };
            if self.line > MAX_LINE {
                return Err(format!(
                    "response line longer than {MAX_LINE} bytes: over the limit"
                ));
            }
        }
        Ok(())
    }

    fn wrote(&mut self) {
        self.responses = 0;
        self.exchange = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FETCH: &[u8] = b"* 1 FETCH (UID 7 BODY[] {11}\r\nhello\r\nabc)\r\na3 OK done\r\n";

    #[test]
    fn literals_within_the_limit_pass_in_any_chunking() {
        let mut s = ImapScan::new(11);
        assert_eq!(s.read(FETCH), Ok(()));
        for size in 1..FETCH.len() {
            let mut s = ImapScan::new(11);
            for c in FETCH.chunks(size) {
                assert_eq!(s.read(c), Ok(()), "chunks of {size}");
            }
            assert_eq!((s.responses, s.literal_left, s.line), (2, 0, 0));
        }
    }

    #[test]
    fn a_literal_over_the_limit_fails_when_announced() {
        let mut s = ImapScan::new(10);
        let e = s.read(b"* 1 FETCH (UID 7 BODY[] {11}\r\n").unwrap_err();
        assert!(e.contains("literal of 11 bytes"), "{e}");
        let mut s = ImapScan::new(DEFAULT_MAX_LITERAL);
        let e = s.read(b"* 1 FETCH (BODY[] {500000000}\r\n").unwrap_err();
        assert!(e.contains("literal of 500000000 bytes"), "{e}");
        // Digits past u64 saturate rather than wrap to something small.
        let mut s = ImapScan::new(DEFAULT_MAX_LITERAL);
        let e = s.read(b"* 1 FETCH (BODY[] {99999999999999999999999}\r\n");
        assert!(e.is_err());
        // Braces that do not end the line announce nothing.
        let mut s = ImapScan::new(10);
        assert_eq!(s.read(b"* OK [ALERT] {500000000} is just text\r\n"), Ok(()));
        assert_eq!(s.literal_left, 0);
    }

    #[test]
    fn long_lines_fail_at_the_limit() {
        let mut s = ImapScan::new(DEFAULT_MAX_LITERAL);
        let line = vec![b'x'; usize::try_from(MAX_LINE).unwrap() - 2];
        assert_eq!(s.read(&line), Ok(()));
        assert_eq!(s.read(b"\r\n"), Ok(()));
        assert_eq!(s.read(&line), Ok(()));
        let e = s.read(b"xxx").unwrap_err();
        assert!(e.contains("longer than 65536 bytes"), "{e}");
    }

    #[test]
    fn endless_untagged_responses_fail_until_the_client_writes() {
        let mut s = ImapScan::new(DEFAULT_MAX_LITERAL);
        for _ in 0..MAX_RESPONSES {
            assert_eq!(s.read(b"* OK still here\r\n"), Ok(()));
        }
        s.wrote();
        for _ in 0..MAX_RESPONSES {
            assert_eq!(s.read(b"* OK still here\r\n"), Ok(()));
        }
        let e = s.read(b"* OK still here\r\n").unwrap_err();
        assert!(e.contains("more than 10000 responses"), "{e}");
    }

    #[test]
    fn responses_to_one_command_are_bounded_in_bytes() {
        let mut s = ImapScan::new(1000);
        let body = vec![b'x'; 1000];
        let mut err = None;
        for _ in 0..5000 {
            let r = s
                .read(b"* 1 FETCH (BODY[] {1000}\r\n")
                .and_then(|_| s.read(&body))
                .and_then(|_| s.read(b")\r\n"));
            if let Err(e) = r {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("bounded");
        assert!(e.contains("bytes of responses to one command"), "{e}");
    }
}
