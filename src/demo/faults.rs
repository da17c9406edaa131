//! Fault injection: the fault vocabulary (`Fault`, `SmtpStep`, `ImapStep`, `Pop3Step`, `Action`,
//! ...) and
//! `Faults`, the runtime switchboard shared by every listener and session of one `DemoServer`.
//!
//! A fault occupies a *slot*: setting a fault replaces whatever was in its slot, clearing a
//! fault empties its slot (the action or payload of the fault passed to `clear` is ignored).
//! Slots are: one per SMTP, IMAP and POP3 step, one certificate slot per protocol, one IDLE
//! slot, and one slot per delivery-fault kind (delay, hold, duplicate, corrupt), so e.g. a
//! delivery delay and duplication can be active at once. Every change bumps a generation
//! counter that listeners watch (used to close and reopen listeners for `Action::Refuse`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Which protocol a fault or listener belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Smtp,
    Imap,
    Pop3,
}

/// The point of an SMTP session where an [`Action`] replaces normal behaviour. For command
/// steps the action is taken after the command line has been read (for `Auth`: after the whole
/// SASL exchange, i.e. where the final 235/535 would be sent; for `EndOfData`: after the
/// message has been received, in place of the `250 ... queued as` reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SmtpStep {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    EndOfData,
}

/// The point of an IMAP session where an [`Action`] replaces normal behaviour. `Login`
/// covers LOGIN and AUTHENTICATE (taken once the credentials are in), `Select` covers SELECT
/// and EXAMINE, `Expunge` covers EXPUNGE and UID EXPUNGE, `Search`/`Fetch`/`Store` cover the
/// UID forms too, `Idle` is the IDLE command itself (see [`IdleFault`] for faults while idling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImapStep {
    Greeting,
    StartTls,
    Capability,
    Id,
    Login,
    Select,
    Search,
    Fetch,
    Store,
    Expunge,
    Move,
    Append,
    Idle,
}

/// The point of a POP3 session where an [`Action`] replaces normal behaviour, taken after the
/// command line has been read. `User` is the USER command; `Auth` is where the credentials are
/// judged: PASS, or the end of an AUTH exchange (the reply that would be `+OK` or `-ERR [AUTH]`).
/// `Stat` covers STAT, `List` LIST, `Retr` both RETR and TOP. `Quit` is taken before the
/// deletions are committed: an action that does not answer `+OK` commits nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pop3Step {
    Greeting,
    Capa,
    Stls,
    User,
    Auth,
    Stat,
    List,
    Uidl,
    Retr,
    Dele,
    Quit,
}

/// What the server does at a faulted step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// At `Greeting`: the protocol's listeners are closed, so connecting gets ECONNREFUSED (TCP
    /// RST to the SYN); they are rebound on the same ports when the fault is cleared.
    /// At any other step it behaves like [`Action::Reset`].
    Refuse,
    /// Abort the connection with a TCP RST (SO_LINGER 0, then close) after reading the command
    /// (at `Greeting`: right after accept).
    Reset,
    /// Close the connection cleanly (FIN) without replying.
    Close,
    /// Never answer: keep the connection open, read and discard whatever the client sends,
    /// until it gives up (or the server's I/O timeout or shutdown).
    Stall,
    /// Send the normal reply, one byte per `Duration`.
    Drip(Duration),
    /// Send non-protocol bytes instead of the reply; the step's effect is not applied.
    Garbage,
    /// SMTP: reply with this code and text (text should start with the enhanced status code,
    /// e.g. `Reply(451, "4.3.0 Try again later")`). A 2xx/3xx code lets the step proceed with
    /// this text; 4xx/5xx rejects it; 421 also closes the connection.
    /// IMAP: answered as a tagged NO with this text. POP3: `-ERR` with this text, as `No`.
    Reply(u16, String),
    /// IMAP: tagged NO with this text (at `Login` with `[AUTHENTICATIONFAILED]`, at `Greeting`
    /// an untagged BYE and close); a text `"[CODE] text"` sends that response code instead,
    /// e.g. `No("[UNAVAILABLE] Try later")`. SMTP: `550` with this text.
    /// POP3: `-ERR` with this text (at `Auth`: `-ERR [AUTH] text`, unless the text starts with
    /// its own response code, e.g. `No("[SYS/TEMP] Try later")`; at `Greeting`: then close).
    No(String),
    /// IMAP: tagged BAD with this text (at `Greeting`: BYE and close). SMTP: `500` with this text.
    /// POP3: `-ERR` with this text, as `No`.
    Bad(String),
    /// More than any client should read, in place of the reply; then the connection is closed.
    Flood(Flood),
}

/// What an [`Action::Flood`] sends. Streamed from one small buffer: the server's memory stays
/// flat however much it sends, and it stops when the client hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// One reply line of this many bytes: SMTP `220 xxx…` (greeting) or `250 xxx…`, IMAP
    /// `* OK xxx…`, POP3 `+OK xxx…`.
    LongLine(u64),
    /// A reply that never ends: SMTP `220-`/`250-` continuation lines, IMAP untagged `* OK`
    /// responses, until the client hangs up. POP3: at a multi-line step (`Capa`, `List`, `Uidl`,
    /// `Retr`) `+OK` and body lines without the terminating `.`; elsewhere a `+OK` line without
    /// end.
    Endless,
    /// IMAP: `* 1 FETCH (UID 1 BODY[] {n}` announcing a literal of `n` bytes, then the bytes.
    /// SMTP: like `LongLine(n)`. POP3: at a multi-line step `+OK` and `n` bytes of well-formed
    /// 80-byte lines, then the terminating `.` (at `Retr`: a huge message); elsewhere like
    /// `LongLine(n)`.
    Literal(u64),
}

impl Action {
    /// `Drip` at the classic rate of one byte per second.
    pub fn drip() -> Action {
        Action::Drip(Duration::from_secs(1))
    }
}

/// Which certificate a TLS handshake presents. All are signed by the server's CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertFault {
    /// Valid dates, but issued for `wrong.example.invalid` only.
    WrongName,
    /// Right names, but notAfter lies in the past.
    Expired,
}

/// Faults of an IMAP session that is idling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleFault {
    /// Close the connection (FIN, no BYE) instead of pushing the next EXISTS/EXPUNGE.
    DropConnection,
    /// Never push while idling; the news comes with the next command after DONE.
    NeverPush,
}

/// Faults of the delivery from SMTP acceptance to the IMAP store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryFault {
    /// Deliver this much later than the configured delivery delay.
    Delay(Duration),
    /// Do not deliver; keep the message until `DemoServer::release_held`.
    Hold,
    /// Deliver every message twice (two UIDs, two `Delivered` events).
    Duplicate,
    /// Alter one byte of the body after accepting it (the SMTP client saw a 250).
    Corrupt,
    /// Write the receiving side's `Authentication-Results` on top of the message with
    /// `dkim=fail` (the canary itself is intact).
    DkimFail,
}

/// One fault. See the module docs for how `set` and `clear` treat slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Smtp(SmtpStep, Action),
    Imap(ImapStep, Action),
    Pop3(Pop3Step, Action),
    Cert(Proto, CertFault),
    Idle(IdleFault),
    Delivery(DeliveryFault),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Smtp(SmtpStep),
    Imap(ImapStep),
    Pop3(Pop3Step),
    Cert(Proto),
    Idle,
    DeliveryDelay,
    DeliveryHold,
    DeliveryDuplicate,
    DeliveryCorrupt,
    DeliveryDkimFail,
}

impl Fault {
    fn slot(&self) -> Slot {
        match self {
            Fault::Smtp(step, _) => Slot::Smtp(*step),
            Fault::Imap(step, _) => Slot::Imap(*step),
            Fault::Pop3(step, _) => Slot::Pop3(*step),
            Fault::Cert(proto, _) => Slot::Cert(*proto),
            Fault::Idle(_) => Slot::Idle,
            Fault::Delivery(DeliveryFault::Delay(_)) => Slot::DeliveryDelay,
            Fault::Delivery(DeliveryFault::Hold) => Slot::DeliveryHold,
            Fault::Delivery(DeliveryFault::Duplicate) => Slot::DeliveryDuplicate,
            Fault::Delivery(DeliveryFault::Corrupt) => Slot::DeliveryCorrupt,
            Fault::Delivery(DeliveryFault::DkimFail) => Slot::DeliveryDkimFail,
        }
    }
}

/// What the delivery path must do with one accepted message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DeliveryPlan {
    pub extra_delay: Duration,
    pub hold: bool,
    pub duplicate: bool,
    pub corrupt: bool,
    pub dkim_fail: bool,
}

/// The runtime fault switchboard. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Faults {
    slots: Arc<Mutex<HashMap<Slot, Fault>>>,
    generation: Arc<watch::Sender<u64>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.active()).finish()
    }
}

impl Faults {
    pub fn new() -> Faults {
        let (tx, _rx) = watch::channel(0u64);
        Faults {
            slots: Arc::new(Mutex::new(HashMap::new())),
            generation: Arc::new(tx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Slot, Fault>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Activate `fault`, replacing any fault in the same slot.
    pub fn set(&self, fault: Fault) {
        self.lock().insert(fault.slot(), fault);
        self.bump();
    }

    /// Deactivate the fault occupying `fault`'s slot (its action/payload is ignored).
    pub fn clear(&self, fault: &Fault) {
        self.lock().remove(&fault.slot());
        self.bump();
    }

    /// Deactivate every fault.
    pub fn clear_all(&self) {
        self.lock().clear();
        self.bump();
    }

    /// Currently active faults (in no particular order).
    pub fn active(&self) -> Vec<Fault> {
        self.lock().values().cloned().collect()
    }

    /// Convenience: reject authentication on every protocol (SMTP `535 5.7.8`, IMAP
    /// `NO [AUTHENTICATIONFAILED]`, POP3 `-ERR [AUTH]`).
    pub fn reject_auth(&self) {
        self.set(Fault::Smtp(
            SmtpStep::Auth,
            Action::Reply(535, "5.7.8 Authentication credentials invalid".into()),
        ));
        self.set(Fault::Imap(
            ImapStep::Login,
            Action::No("Authentication failed.".into()),
        ));
        self.set(Fault::Pop3(
            Pop3Step::Auth,
            Action::No("Authentication failed.".into()),
        ));
    }

    /// Receiver that changes whenever any fault is set or cleared.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub(crate) fn smtp(&self, step: SmtpStep) -> Option<Action> {
        match self.lock().get(&Slot::Smtp(step)) {
            Some(Fault::Smtp(_, action)) => Some(action.clone()),
            _ => None,
        }
    }

    pub(crate) fn imap(&self, step: ImapStep) -> Option<Action> {
        match self.lock().get(&Slot::Imap(step)) {
            Some(Fault::Imap(_, action)) => Some(action.clone()),
            _ => None,
        }
    }

    pub(crate) fn pop3(&self, step: Pop3Step) -> Option<Action> {
        match self.lock().get(&Slot::Pop3(step)) {
            Some(Fault::Pop3(_, action)) => Some(action.clone()),
            _ => None,
        }
    }

    /// True while connections to `proto` must be refused at the TCP level.
    pub(crate) fn refused(&self, proto: Proto) -> bool {
        let action = match proto {
            Proto::Smtp => self.smtp(SmtpStep::Greeting),
            Proto::Imap => self.imap(ImapStep::Greeting),
            Proto::Pop3 => self.pop3(Pop3Step::Greeting),
        };
        matches!(action, Some(Action::Refuse))
    }

    pub(crate) fn cert(&self, proto: Proto) -> Option<CertFault> {
        match self.lock().get(&Slot::Cert(proto)) {
            Some(Fault::Cert(_, kind)) => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn idle(&self) -> Option<IdleFault> {
        match self.lock().get(&Slot::Idle) {
            Some(Fault::Idle(kind)) => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn delivery_plan(&self) -> DeliveryPlan {
        let slots = self.lock();
        let mut plan = DeliveryPlan::default();
        for fault in slots.values() {
            match fault {
                Fault::Delivery(DeliveryFault::Delay(d)) => plan.extra_delay = *d,
                Fault::Delivery(DeliveryFault::Hold) => plan.hold = true,
                Fault::Delivery(DeliveryFault::Duplicate) => plan.duplicate = true,
                Fault::Delivery(DeliveryFault::Corrupt) => plan.corrupt = true,
                Fault::Delivery(DeliveryFault::DkimFail) => plan.dkim_fail = true,
                _ => {}
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests;
