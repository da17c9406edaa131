//! How much an SMTP server may send in one reply, enforced as the bytes arrive.
//!
//! RFC 5321 (4.5.3.1.5) allows 512 octets per reply line; real servers stay far below the
//! limits here, which only stop a server that would make the probe buffer without end: a
//! reply line longer than [`MAX_LINE`] bytes, or a reply (all its `250-` continuation lines
//! and its last line) of more than [`MAX_LINES`] lines or [`MAX_REPLY`] bytes, fails the step
//! with `protocol_error` as soon as the limit is crossed.

use crate::probe::bounded::{Bounded, Scan};
use crate::probe::net::SharedConn;
use std::io;
use std::net::SocketAddr;

/// The connection lettre reads and writes: the shared socket, its replies bounded.
pub type BoundedConn = Bounded<SharedConn, SmtpScan>;

impl lettre::transport::smtp::client::AsyncTokioStream for BoundedConn {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        lettre::transport::smtp::client::AsyncTokioStream::peer_addr(self.get_ref())
    }
}

/// Longest reply line accepted, line break included.
pub const MAX_LINE: usize = 8 * 1024;
/// Most lines in one reply.
pub const MAX_LINES: usize = 100;
/// Most bytes in one reply.
pub const MAX_REPLY: usize = 64 * 1024;

/// Follows SMTP replies line by line: a line whose fourth byte is `-` continues the reply.
#[derive(Debug, Default)]
pub struct SmtpScan {
    /// Bytes of the current line so far.
    line: usize,
    /// Fourth byte of the current line, once read.
    sep: Option<u8>,
    /// Complete lines of the current reply.
    lines: usize,
    /// Bytes of the current reply so far.
    reply: usize,
}

impl Scan for SmtpScan {
    fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
        for &b in bytes {
            self.line += 1;
            self.reply += 1;
            if self.line == 4 {
                self.sep = Some(b);
            }
            if b == b'\n' {
                self.lines += 1;
                if self.sep != Some(b'-') {
                    // The last line of a reply: the next reply starts afresh.
                    self.lines = 0;
                    self.reply = 0;
                } else if self.lines >= MAX_LINES {
                    return Err(format!(
                        "reply of more than {MAX_LINES} lines: over the limit"
                    ));
                }
                self.line = 0;
                self.sep = None;
                continue;
            }
            if self.line > MAX_LINE {
                return Err(format!(
                    "reply line longer than {MAX_LINE} bytes: over the limit"
                ));
            }
            if self.reply > MAX_REPLY {
                return Err(format!(
                    "reply of more than {MAX_REPLY} bytes: over the limit"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Result<(), String> {
        let mut s = SmtpScan::default();
        chunks.iter().try_for_each(|c| s.read(c))
    }

    #[test]
    fn ordinary_replies_pass_in_any_chunking() {
        let ehlo = b"250-mail.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n";
        assert_eq!(scan(&[ehlo]), Ok(()));
        let split: Vec<&[u8]> = ehlo.chunks(3).collect();
        assert_eq!(scan(&split), Ok(()));
        // Many replies in a row, each within the limits, never add up.
        let many: Vec<&[u8]> = std::iter::repeat_n(&ehlo[..], 10_000).collect();
        assert_eq!(scan(&many), Ok(()));
    }

    #[test]
    fn a_line_at_the_limit_passes_one_byte_more_fails() {
        let mut line = b"250 ".to_vec();
        line.resize(MAX_LINE - 2, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(line.len(), MAX_LINE);
        assert_eq!(scan(&[&line]), Ok(()));
        let mut long = b"220 ".to_vec();
        long.resize(MAX_LINE + 1, b'x');
        let e = scan(&[&long]).unwrap_err();
        assert!(e.contains("longer than 8192 bytes"), "{e}");
    }

    #[test]
    fn endless_continuations_fail_on_lines_or_bytes() {
        let short: Vec<&[u8]> = std::iter::repeat_n(&b"250-x\r\n"[..], MAX_LINES).collect();
        let e = scan(&short).unwrap_err();
        assert!(e.contains("more than 100 lines"), "{e}");
        let mut ok: Vec<&[u8]> = std::iter::repeat_n(&b"250-x\r\n"[..], MAX_LINES - 1).collect();
        ok.push(b"250 x\r\n");
        assert_eq!(scan(&ok), Ok(()), "100 lines is within the limit");
        let wide = [b'x'; 1000];
        let mut s = SmtpScan::default();
        let e = (0..MAX_LINES)
            .try_for_each(|_| {
                s.read(b"250-")?;
                s.read(&wide)?;
                s.read(b"\r\n")
            })
            .unwrap_err();
        assert!(e.contains("more than 65536 bytes"), "{e}");
    }
}
