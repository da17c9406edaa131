//! Where a canary landed, as the receiving side wrote it into the canary's header block: its
//! authentication verdicts (`Authentication-Results`, RFC 8601), its spam score and the
//! `Received` trail with the delay of each hop. Pure code over bytes the probe already fetched
//! (IMAP `BODY.PEEK[]`, POP3 `RETR`): no I/O, and it imports nothing else from the crate, so the
//! probe, the status page and `once` share its types without importing each other.
//!
//! Header text is server (and sender) text: every read here is bounded and never panics.
//! At most [`MAX_FIELDS`] header fields are looked at, top first; an interesting field is
//! unfolded into at most [`MAX_FIELD_BYTES`] bytes (the rest of it is ignored); at most
//! [`MAX_AUTH_HEADERS`] `Authentication-Results` fields (the topmost) and [`MAX_HOPS`] hops
//! (the oldest) are kept; names shown from them are sanitised and cut to [`MAX_NAME_CHARS`].
//!
//! Trust ([`Landing::trusted`]): a sender can write `Authentication-Results` fields of its own,
//! but they end up below those the receiving side adds on top. With an `authserv_id`
//! configured, only fields carrying that authserv-id (case-insensitive) count, the topmost of
//! them; without one, only the topmost field of all.

mod authres;
mod fields;
mod received;
#[cfg(test)]
mod tests;

pub use received::{parse_date, Hop};

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Header fields looked at, from the top of the block.
pub const MAX_FIELDS: usize = 1000;
/// Bytes of one unfolded field value considered.
pub const MAX_FIELD_BYTES: usize = 8192;
/// `Authentication-Results` fields kept (the topmost: the receiving side's are on top).
pub const MAX_AUTH_HEADERS: usize = 16;
/// `Received` hops kept (the oldest).
pub const MAX_HOPS: usize = 32;
/// Characters of an authserv-id, a host or a protocol name kept for display.
pub const MAX_NAME_CHARS: usize = 64;

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $label:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The metric label value (and the word `once` prints).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// The authentication methods the agent reports (others in the header are ignored).
    Method {
        Spf => "spf",
        Dkim => "dkim",
        Dmarc => "dmarc",
        Arc => "arc",
    }
}

word_enum! {
    /// A method's result: RFC 8601's fixed values, and `unknown` for anything else.
    AuthResult {
        None => "none",
        Pass => "pass",
        Fail => "fail",
        SoftFail => "softfail",
        Neutral => "neutral",
        Policy => "policy",
        TempError => "temperror",
        PermError => "permerror",
        Unknown => "unknown",
    }
}

impl Method {
    /// The method named `s` (case-insensitive), if it is one the agent reports.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

impl AuthResult {
    /// The result named `s` (case-insensitive); `Unknown` outside RFC 8601's list.
    pub fn parse(s: &str) -> AuthResult {
        AuthResult::ALL
            .iter()
            .copied()
            .find(|r| *r != AuthResult::Unknown && r.as_str().eq_ignore_ascii_case(s))
            .unwrap_or(AuthResult::Unknown)
    }
}

/// One `Authentication-Results` field: who wrote it and its result per reported method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthHeader {
    /// The authserv-id, sanitised for display (see [`sanitise`]); compared as written.
    pub authserv_id: String,
    /// Per method: `pass` when any result of that method in the field says pass (a message
    /// may carry several DKIM signatures, and one valid signature of the right domain is what
    /// DMARC needs), otherwise the first result the field gives for it.
    pub results: BTreeMap<Method, AuthResult>,
    /// The authserv-id exactly as written (bounded), for the trust comparison.
    #[serde(skip)]
    id_raw: String,
}

impl AuthHeader {
    /// The result for `m`, when the field gives one.
    pub fn result(&self, m: Method) -> Option<AuthResult> {
        self.results.get(&m).copied()
    }

    /// `spf=pass dkim=pass dmarc=pass`, in method order; `none` when it reports none of them.
    pub fn summary(&self) -> String {
        if self.results.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .results
            .iter()
            .map(|(m, r)| format!("{m}={r}"))
            .collect();
        parts.join(" ")
    }
}

/// What the receiving side wrote into one canary's header block.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Landing {
    /// The `Authentication-Results` fields, topmost first (at most [`MAX_AUTH_HEADERS`]).
    pub auth: Vec<AuthHeader>,
    /// The topmost spam score that parses as a finite number (`X-Spam-Score`,
    /// `X-Spam-Status: ... score=`, `X-Rspamd-Score`).
    pub spam_score: Option<f64>,
    /// The `Received` trail, oldest first (at most [`MAX_HOPS`], the oldest).
    pub hops: Vec<Hop>,
}

impl Landing {
    /// The one `Authentication-Results` field to believe: with `authserv_id`, the topmost field
    /// carrying it (case-insensitive); without, the topmost field of all.
    pub fn trusted(&self, authserv_id: Option<&str>) -> Option<&AuthHeader> {
        match authserv_id {
            Some(id) => self.auth.iter().find(|h| h.id_raw.eq_ignore_ascii_case(id)),
            None => self.auth.first(),
        }
    }
}

/// Reads the header block of `message` (a whole message, or its header block alone).
/// `accepted_unix` is when our SMTP server accepted the canary (unix seconds): the first hop's
/// delay counts from it.
pub fn read(message: &[u8], accepted_unix: f64) -> Landing {
    let mut landing = Landing::default();
    let mut hops: VecDeque<received::Parsed> = VecDeque::new();
    for field in fields::fields(message).take(MAX_FIELDS) {
        let name = field.name;
        if name.eq_ignore_ascii_case(b"Authentication-Results") {
            if landing.auth.len() < MAX_AUTH_HEADERS {
                if let Some(h) = authres::parse(&field.value()) {
                    landing.auth.push(h);
                }
            }
        } else if name.eq_ignore_ascii_case(b"Received") {
            hops.push_front(received::parse(&field.value()));
            hops.truncate(MAX_HOPS);
        } else if landing.spam_score.is_none()
            && SPAM_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
        {
            landing.spam_score = spam_score(name, &field.value());
        }
    }
    landing.hops = received::trail(hops.into_iter(), accepted_unix);
    landing
}

/// The fields that carry a spam score.
const SPAM_HEADERS: [&[u8]; 3] = [b"X-Spam-Score", b"X-Spam-Status", b"X-Rspamd-Score"];

/// The score of one spam header, when it is one and its value is a finite number.
fn spam_score(name: &[u8], value: &str) -> Option<f64> {
    let text = if name.eq_ignore_ascii_case(b"X-Spam-Score")
        || name.eq_ignore_ascii_case(b"X-Rspamd-Score")
    {
        value.split_whitespace().next()?
    } else if name.eq_ignore_ascii_case(b"X-Spam-Status") {
        let at = value.to_ascii_lowercase().find("score=")?;
        let rest = value.get(at + "score=".len()..)?;
        rest.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .next()?
    } else {
        return None;
    };
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `s` with anything but `A-Z a-z 0-9 . - _ : [ ] @` replaced by `?`, cut to
/// [`MAX_NAME_CHARS`] characters: safe to print, and short.
pub fn sanitise(s: &str) -> String {
    s.chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_:[]@".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}
