//! How much a POP3 server may send, enforced as the bytes arrive (through [`Bounded`]).
//!
//! POP3 replies are a status line, and for some commands a multi-line response ended by a line
//! holding a single dot. A server could send a line without end, or a multi-line response
//! without its final dot (an endless `UIDL`, a `RETR` of a huge message): the limits, each
//! crossing of which fails the step with `protocol_error` at once, are
//!
//! | what | limit |
//! | --- | --- |
//! | a line (status line or a line of a multi-line response) | [`MAX_LINE`] bytes |
//! | everything read in answer to one command | the probe's `imap_max_literal` (the largest message it reads, default 1 MiB) + 2 × [`MAX_LINE`] |
//!
//! RFC 1939 keeps status lines to 512 octets and message lines to 1000; the line limit leaves
//! room for servers that stretch that without letting one line grow without end. A canary is a
//! few KiB and a `UIDL` listing some 80 bytes a message, so the defaults read a mailbox of over
//! ten thousand messages.
//!
//! [`Bounded`]: crate::probe::bounded::Bounded

use crate::probe::bounded::Scan;

/// Longest line accepted.
pub const MAX_LINE: u64 = 64 * 1024;

/// Follows POP3 replies: the current line, and everything since the client last wrote.
#[derive(Debug)]
pub struct Pop3Scan {
    max_exchange: u64,
    line: u64,
    exchange: u64,
}

impl Pop3Scan {
    /// A scan allowing a message (or listing) of up to `max_message` bytes per command.
    pub fn new(max_message: u64) -> Self {
        Pop3Scan {
            max_exchange: max_message.saturating_add(MAX_LINE.saturating_mul(2)),
            line: 0,
            exchange: 0,
        }
    }
}

impl Scan for Pop3Scan {
    fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
        let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.exchange = self.exchange.saturating_add(n);
        if self.exchange > self.max_exchange {
            return Err(format!(
                "more than {} bytes in answer to one command: over the limit",
                self.max_exchange
            ));
        }
        // Every line feed ends the line open so far; the bytes after the last one stay open.
        let mut segments = bytes.split(|&b| b == b'\n').peekable();
        while let Some(seg) = segments.next() {
            let len = u64::try_from(seg.len()).unwrap_or(u64::MAX);
            self.line = self.line.saturating_add(len);
            if self.line > MAX_LINE {
                return Err(format!(
                    "a line of more than {MAX_LINE} bytes: over the limit"
                ));
            }
            if segments.peek().is_some() {
                self.line = 0;
            }
        }
        Ok(())
    }

    fn wrote(&mut self) {
        self.exchange = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_end_crosses_the_line_limit() {
        let mut s = Pop3Scan::new(10 * MAX_LINE);
        let chunk = vec![b'x'; 4096];
        let mut read = 0u64;
        let err = loop {
            match s.read(&chunk) {
                Ok(()) => read += chunk.len() as u64,
                Err(e) => break e,
            }
        };
        assert!(err.contains("line of more than"), "{err}");
        assert!(read <= MAX_LINE, "{read}");
    }

    #[test]
    fn many_short_lines_cross_the_exchange_limit_and_a_write_resets_it() {
        let max = 128 * 1024;
        let mut s = Pop3Scan::new(max);
        let chunk = b"1 0123456789abcdef\r\n".repeat(100);
        let mut read = 0u64;
        let err = loop {
            match s.read(&chunk) {
                Ok(()) => read += chunk.len() as u64,
                Err(e) => break e,
            }
        };
        assert!(err.contains("in answer to one command"), "{err}");
        assert!(read <= max + 2 * MAX_LINE, "{read}");
        s.wrote();
        assert!(s.read(&chunk).is_ok(), "a new command starts a new count");
    }

    #[test]
    fn lines_up_to_the_limit_pass_whole_or_in_pieces() {
        let mut s = Pop3Scan::new(16 * MAX_LINE);
        let mut line = vec![b'a'; MAX_LINE as usize];
        line.push(b'\n');
        assert!(s.read(&line).is_ok());
        let (a, b) = line.split_at(1000);
        assert!(s.read(a).is_ok() && s.read(b).is_ok());
        let mut long = vec![b'a'; MAX_LINE as usize + 1];
        long.push(b'\n');
        assert!(s.read(&long).is_err());
    }
}
