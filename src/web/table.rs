//! The HTTP server's table of open connections, bounded by `--web.max-connections`. When it is
//! full, a new connection evicts the connection that has been idle longest (no request being
//! answered), connections that never sent a byte first, so idle or half-open connections can
//! never lock a scraper out; only when every slot is answering a request is the new connection
//! closed at once.

use super::conn::{Limits, State};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// Every open connection, bounded by [`Limits::max_connections`].
pub struct Table {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Vec<(u64, Arc<State>)>>,
}

/// A connection's place in the [`Table`]; freed on drop.
pub struct Slot {
    table: Arc<Table>,
    id: u64,
    pub state: Arc<State>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            open.retain(|(id, _)| *id != self.id);
        }
    }
}

/// What [`Table::admit`] decided for a new connection.
pub enum Admission {
    Admitted(Slot),
    /// Every slot is answering a request: the new connection is closed.
    Full,
}

impl Table {
    pub fn new(limits: Limits) -> Arc<Table> {
        Arc::new(Table {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a new connection, evicting the longest-idle one when the table is full.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let Ok(mut open) = self.open.lock() else {
            return Admission::Full;
        };
        if open.len() >= self.limits.max_connections.max(1) {
            let victim = open
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| s.evictable())
                // Connections that never sent a byte go first, then the longest idle.
                .min_by_key(|(_, (_, s))| (!s.silent(), s.last_activity()))
                .map(|(i, _)| i);
            let Some(i) = victim else {
                return Admission::Full;
            };
            let (_, state) = open.swap_remove(i);
            state.close();
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let state = Arc::new(State::new(self.epoch));
        open.push((id, state.clone()));
        Admission::Admitted(Slot {
            table: self.clone(),
            id,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max: usize) -> Limits {
        Limits {
            read_header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            max_connections: max,
        }
    }

    #[test]
    fn a_connection_that_never_sent_a_byte_goes_before_one_that_did() {
        let table = Table::new(limits(2));
        let Admission::Admitted(talker) = table.admit() else {
            panic!("talker")
        };
        let Admission::Admitted(silent) = table.admit() else {
            panic!("silent")
        };
        talker.state.request_started();
        talker.state.request_ended();
        let Admission::Admitted(_new) = table.admit() else {
            panic!("new")
        };
        let open = table.open.lock().unwrap();
        assert!(open.iter().any(|(id, _)| *id == talker.id));
        assert!(!open.iter().any(|(id, _)| *id == silent.id));
    }

    #[test]
    fn a_full_table_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let table = Table::new(limits(2));
        let Admission::Admitted(a) = table.admit() else {
            panic!("a")
        };
        let Admission::Admitted(b) = table.admit() else {
            panic!("b")
        };
        b.state.request_started();
        // a is idle: it makes room for c.
        let Admission::Admitted(c) = table.admit() else {
            panic!("c")
        };
        assert_eq!(table.len(), 2);
        drop(a);
        assert_eq!(table.len(), 2, "a was already out of the table");
        c.state.request_started();
        assert!(matches!(table.admit(), Admission::Full));
        drop((b, c));
        assert_eq!(table.len(), 0);
    }
}
