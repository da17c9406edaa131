//! SMTP delivery into the store and the delivery log: the `Delivered` record with the instant
//! of IMAP visibility, its broadcast channel, and lookups by header value.

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::{lock, Store, LOG_CAP};
use crate::demo::message;

/// One message made visible in a mailbox by SMTP delivery (not by APPEND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The account it went to (the user's name as configured).
    pub recipient: String,
    pub mailbox: String,
    pub uid: u32,
    /// The id from `250 2.0.0 Ok: queued as <QUEUEID>`.
    pub queue_id: String,
    /// Value of the tracked header (`ServerOptions::track_header`, default `X-Mailcanary-Id`).
    pub tracking_id: Option<String>,
    pub message_id: Option<String>,
    /// When the server accepted the message (end of DATA, before the 250 was written).
    pub accepted_at: Instant,
    /// The instant the message became visible to IMAP (inserted under the store lock).
    pub visible_at: Instant,
    pub visible_at_system: SystemTime,
    pub size: usize,
    /// True for the second copy made by the `Duplicate` fault.
    pub duplicate: bool,
    /// True if the `Corrupt` fault altered the body.
    pub corrupted: bool,
}

impl Store {
    /// Deliver one accepted message into `recipient`'s INBOX, log it and broadcast it.
    pub(crate) fn deliver(
        &self,
        recipient: &str,
        bytes: Bytes,
        queue_id: &str,
        accepted_at: Instant,
        duplicate: bool,
        corrupted: bool,
    ) -> Option<Delivered> {
        let size = bytes.len();
        let (recipient, uid, visible_at, visible_at_system) = {
            let mut state = lock(&self.inner.state);
            let account = state.accounts.get_mut(&recipient.to_lowercase())?;
            let name = account.user.name.clone();
            let folder = account.folders.get_mut("INBOX")?;
            let now = SystemTime::now();
            let uid = folder.insert(bytes.clone(), BTreeSet::new(), now);
            (name, uid, Instant::now(), now)
        };
        self.bump();
        let delivered = Delivered {
            recipient,
            mailbox: "INBOX".to_string(),
            uid,
            queue_id: queue_id.to_string(),
            tracking_id: message::header_value(&bytes, &self.inner.track_header),
            message_id: message::header_value(&bytes, "Message-ID"),
            accepted_at,
            visible_at,
            visible_at_system,
            size,
            duplicate,
            corrupted,
        };
        {
            let mut log = lock(&self.inner.log);
            if log.len() >= LOG_CAP {
                log.drain(..LOG_CAP / 10);
            }
            log.push((delivered.clone(), bytes));
        }
        let _ = self.inner.deliveries.send(delivered.clone());
        Some(delivered)
    }

    /// Every logged delivery, oldest first (the last 10 000 at most).
    pub fn deliveries(&self) -> Vec<Delivered> {
        lock(&self.inner.log)
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Logged deliveries of messages whose header `header` equals `value` (both compared
    /// case-insensitively, value trimmed), oldest first.
    pub fn find_deliveries(&self, header: &str, value: &str) -> Vec<Delivered> {
        let value = value.trim();
        lock(&self.inner.log)
            .iter()
            .filter(|(_, bytes)| {
                message::header_values(bytes, header)
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(value))
            })
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// The first logged delivery with `header: value` (see [`Store::find_deliveries`]).
    pub fn find_delivery(&self, header: &str, value: &str) -> Option<Delivered> {
        self.find_deliveries(header, value).into_iter().next()
    }

    pub(crate) fn subscribe_deliveries(&self) -> broadcast::Receiver<Delivered> {
        self.inner.deliveries.subscribe()
    }
}
