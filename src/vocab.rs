//! The vocabulary every layer reports in: where a cycle failed ([`Stage`]), how ([`Reason`]),
//! the two together with the server's words ([`Failure`]), and how a canary ended
//! ([`Outcome`]), and how an I/O error reads as a reason ([`classify_io`]). All come from fixed
//! sets, so they can be metric labels.
//!
//! This module imports nothing else from the crate: config, ledger, metrics, probe and the
//! rest import it, and so share one spelling of each value without depending on each other.

use std::{fmt, io};

macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $label:literal, $words:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The metric label value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// What it means, in words an on-call engineer reads at 3 am.
            pub fn describe(self) -> &'static str {
                match self { $($name::$variant => $words),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

label_enum! {
    /// Where a cycle failed, listed in the order of the mail path.
    Stage {
        Dns => "dns", "resolving the server name";
        Connect => "connect", "connecting to the SMTP server";
        Tls => "tls", "TLS with the SMTP server";
        Greeting => "greeting", "waiting for the SMTP greeting";
        Ehlo => "ehlo", "SMTP EHLO";
        Auth => "auth", "SMTP authentication";
        MailFrom => "mail_from", "SMTP MAIL FROM";
        Rcpt => "rcpt", "SMTP RCPT TO";
        Data => "data", "sending the message (SMTP DATA)";
        Delivery => "delivery", "delivery into the mailbox";
        ImapConnect => "imap_connect", "connecting to the IMAP server";
        ImapTls => "imap_tls", "TLS with the IMAP server";
        ImapGreeting => "imap_greeting", "waiting for the IMAP greeting";
        ImapLogin => "imap_login", "IMAP login";
        ImapSelect => "imap_select", "opening the mailbox (IMAP SELECT)";
        ImapSearch => "imap_search", "watching the mailbox for the canary (IDLE / SEARCH)";
        ImapFetch => "imap_fetch", "fetching the message";
        Pop3Connect => "pop3_connect", "connecting to the POP3 server";
        Pop3Tls => "pop3_tls", "TLS with the POP3 server";
        Pop3Greeting => "pop3_greeting", "waiting for the POP3 greeting";
        Pop3Login => "pop3_login", "POP3 login";
        Pop3List => "pop3_list", "watching the POP3 mailbox for the canary (UIDL)";
        Pop3Retr => "pop3_retr", "reading the message over POP3 (TOP / RETR)";
        Verify => "verify", "verifying the message content";
        Cleanup => "cleanup", "removing delivered canaries";
    }
}

label_enum! {
    /// How a stage failed.
    Reason {
        Timeout => "timeout", "no answer within the deadline";
        Refused => "refused", "connection refused";
        Reset => "reset", "connection reset or closed by the server";
        TlsHandshake => "tls_handshake", "TLS handshake failed";
        CertInvalid => "cert_invalid", "server certificate not valid (expired, wrong name or untrusted)";
        AuthRejected => "auth_rejected", "credentials rejected";
        TempFail => "temp_fail", "temporary failure reported by the server";
        PermFail => "perm_fail", "permanent failure reported by the server";
        ProtocolError => "protocol_error", "the server's reply made no sense";
        NotDelivered => "not_delivered", "accepted but not seen in the mailbox in time";
        Corrupt => "corrupt", "the message arrived altered";
        Junk => "junk", "delivered, but filed into the Junk folder instead of the mailbox";
        AuthVerdict => "auth_verdict", "the receiving side's Authentication-Results did not say pass for a method the probe expects";
        Internal => "internal", "internal error in the agent";
    }
}

/// A failed step: where, how, and what was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub reason: Reason,
    /// The server's reply or the error text, redacted; never a metric label.
    pub detail: String,
}

impl Failure {
    pub fn new(stage: Stage, reason: Reason, detail: impl Into<String>) -> Self {
        Failure {
            stage,
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} (stage={} reason={})",
            self.stage.describe(),
            self.reason.describe(),
            self.stage,
            self.reason
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// How a canary ended, as counted in `mailcanary_canaries_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    OnTime,
    Late,
    Lost,
    Recovered,
    Duplicate,
    Corrupt,
    /// Found in the account's Junk folder instead of the mailbox (IMAP profiles only).
    Junk,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::OnTime,
        Outcome::Late,
        Outcome::Lost,
        Outcome::Recovered,
        Outcome::Duplicate,
        Outcome::Corrupt,
        Outcome::Junk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::OnTime => "on_time",
            Outcome::Late => "late",
            Outcome::Lost => "lost",
            Outcome::Recovered => "recovered",
            Outcome::Duplicate => "duplicate",
            Outcome::Corrupt => "corrupt",
            Outcome::Junk => "junk",
        }
    }
}

/// Maps an I/O error to a failure reason.
///
/// `refused`: nothing listens, or the network actively rejects the connection (ICMP
/// unreachable). `reset`: the server hung up, by RST or by closing (EOF) before a complete
/// reply; also the fallback for any other transport error. `timeout`: the kernel gave up.
/// `InvalidData` is what a byte stream that is not the protocol (e.g. not UTF-8) produces.
pub fn classify_io(e: &io::Error) -> Reason {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused | HostUnreachable | NetworkUnreachable => Reason::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => {
            Reason::Reset
        }
        TimedOut | WouldBlock => Reason::Timeout,
        InvalidData => Reason::ProtocolError,
        _ => Reason::Reset,
    }
}
