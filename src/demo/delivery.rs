//! The path from SMTP acceptance to IMAP visibility: queue ids, the configured delivery delay,
//! and the delivery faults (extra delay, hold until `release_held`, duplicate, corrupt).
//! A message with zero total delay is made visible before the `250 ... queued as` reply is
//! written; delayed ones are delivered by a tracked task that stops at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::demo::{message, Shared};

/// One accepted copy waiting for delivery.
struct Pending {
    recipient: String,
    bytes: Bytes,
    queue_id: String,
    accepted_at: Instant,
    duplicate: bool,
    corrupted: bool,
}

/// Queue-id generator and the list of held messages.
pub(crate) struct Queue {
    counter: AtomicU64,
    held: Mutex<Vec<Pending>>,
}

impl Queue {
    pub fn new() -> Queue {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Queue {
            counter: AtomicU64::new(seed & 0xFF_FFFF_FFFF),
            held: Mutex::new(Vec::new()),
        }
    }

    /// A fresh queue id: 10 to 12 upper-case hex digits, unique within this server.
    pub fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:010X}", n & 0xFFFF_FFFF_FFFF)
    }

    /// Number of messages (copies) currently held.
    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn deliver(shared: &Shared, p: Pending) {
    let _ = shared.store.deliver(
        &p.recipient,
        p.bytes,
        &p.queue_id,
        p.accepted_at,
        p.duplicate,
        p.corrupted,
    );
}

/// Accept a message for `recipients` (already validated): apply the delivery faults and
/// deliver now, later, or hold it. Returns the queue id.
pub(crate) fn accept(shared: &Arc<Shared>, recipients: &[String], data: Vec<u8>) -> String {
    let accepted_at = Instant::now();
    let queue_id = shared.queue.next_id();
    let plan = shared.faults.delivery_plan();
    let data = if plan.dkim_fail {
        message::dkim_failed(&shared.opts.hostname, data)
    } else {
        data
    };
    let bytes = Bytes::from(if plan.corrupt {
        message::corrupt(&data)
    } else {
        data
    });
    let delay = shared.opts.delivery_delay.saturating_add(plan.extra_delay);
    let mut pending = Vec::new();
    for rcpt in recipients {
        let copies = if plan.duplicate { 2 } else { 1 };
        for copy in 0..copies {
            pending.push(Pending {
                recipient: rcpt.clone(),
                bytes: bytes.clone(),
                queue_id: queue_id.clone(),
                accepted_at,
                duplicate: copy > 0,
                corrupted: plan.corrupt,
            });
        }
    }
    if plan.hold {
        shared
            .queue
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(pending);
    } else if delay.is_zero() {
        for p in pending {
            deliver(shared, p);
        }
    } else {
        let task_shared = shared.clone();
        let mut shutdown = shared.shutdown.clone();
        shared.spawn(async move {
            let deadline = tokio::time::Instant::from_std(accepted_at) + delay;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    for p in pending {
                        deliver(&task_shared, p);
                    }
                }
                _ = crate::demo::stopped(&mut shutdown) => {}
            }
        });
    }
    queue_id
}

/// Deliver every held message now. Returns how many copies were delivered.
pub(crate) fn release_held(shared: &Shared) -> usize {
    let held: Vec<Pending> =
        std::mem::take(&mut *shared.queue.held.lock().unwrap_or_else(|e| e.into_inner()));
    let n = held.len();
    for p in held {
        deliver(shared, p);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_are_hex_and_unique() {
        let q = Queue::new();
        let a = q.next_id();
        let b = q.next_id();
        assert_ne!(a, b);
        assert!(
            a.len() >= 10
                && a.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_eq!(q.held_count(), 0);
    }
}
