//! `mailcanary demo --scenario libero`: a compressed replay of the Libero / Virgilio Mail outage
//! of January 2023 (see INCIDENT.md), driven by a fixed timeline that switches the embedded
//! servers' faults while the agent probes them.
//!
//! | at (speed 1) | phase | what the servers do |
//! | --- | --- | --- |
//! | 0 s | 1/4 normal | nothing wrong |
//! | 30 s | 2/4 storage failure | IMAP logins get `NO [UNAVAILABLE]`, POP3 logins `-ERR [SYS/TEMP]`; SMTP still says 250, but the mail it accepts is written to the broken storage and never delivered |
//! | 45 s | (2/4) | the provider stops writing to the broken storage: mail accepted from now on is queued (held) |
//! | 90 s | 3/4 partial restore | storage back: the queue is delivered (late), logins work again, except for iOS Mail |
//! | 135 s | 4/4 full restore | iOS Mail logs in again and finds its mail (late) |
//! | 210 s | end | the canaries written to the broken storage have been declared lost; the report tells |
//!
//! The probe runs every 10 s with a 5 s delivery deadline and declares a canary lost after
//! 120 s (all divided by `--scenario-speed`): a canary its own cycle could not watch is seen by
//! a later cycle, so it counts as late; the longest queue (iOS: 45 s → 135 s) stays under
//! `lost_after`; and the last canary the storage swallowed is declared lost before the end.
//!
//! **One profile broken.** The fault switchboard of a [`DemoServer`] is server-wide: no fault
//! can single out one client. So the iOS Mail profile is routed (with `[clients.ios_mail]`
//! port overrides in the demo config) to a second embedded server, `ios`, with its own mailbox,
//! which gets the same faults as `main` but keeps its IMAP logins failing through phase 3.
//! Every other profile talks to `main`, including one that reads over POP3 (`outlook_pop3` among
//! the demo's default clients), which the storage failure breaks at its POP3 login.
//!
//! **Swallowed mail.** The server has no "accept and discard" fault; mail accepted in the
//! first 15 s of the failure goes on a delivery delay of a year ([`SWALLOWED`]), which nothing
//! in the demo outlives: it never arrives.
//!
//! Every step is printed with its time, shown in the status page banner
//! ([`crate::status::set_notice`]), and recorded in `scenario.json` beside the demo config: the
//! phases' start times, the login-broken and swallowing windows, and each server's delivery
//! log (when every message was accepted and when it became visible), from which a test
//! recomputes what the report must say.

use crate::demo::setup::{DemoProbe, PASSWORD, TOKEN, USER};
use crate::demo::{
    Action, Addrs, DeliveryFault, DemoServer, Fault, ImapStep, Pop3Step, ServerOptions, User,
};
use crate::status::{set_notice, Notice};
use std::path::Path;
use std::time::Duration;

/// The only scenario so far.
mod record;
pub use record::{DeliveryRecord, PhaseRecord, Record, RecordError, ServerRecord, Window};

pub const LIBERO: &str = "libero";
/// Number of phases.
pub const PHASES: u32 = 4;
/// The client profile the partial restore leaves broken.
pub const IOS_CLIENT: &str = "ios_mail";
/// The delivery delay standing for "written to the broken storage, never delivered".
pub const SWALLOWED: Duration = Duration::from_secs(365 * 24 * 3600);
/// The reply to every IMAP login while storage is down.
pub const LOGIN_REPLY: &str =
    "[UNAVAILABLE] Mailbox storage temporarily unavailable, try again later";
/// The reply to every POP3 login while storage is down (RFC 3206's temporary system error).
pub const POP3_LOGIN_REPLY: &str =
    "[SYS/TEMP] Mailbox storage temporarily unavailable, try again later";

/// The faults of a broken mailbox storage: IMAP and POP3 logins fail alike.
fn storage_faults() -> [Fault; 2] {
    [
        Fault::Imap(ImapStep::Login, Action::No(LOGIN_REPLY.into())),
        Fault::Pop3(Pop3Step::Auth, Action::No(POP3_LOGIN_REPLY.into())),
    ]
}

// The timeline at speed 1, in seconds from the start.
const AT_FAILURE: f64 = 30.0;
const AT_QUEUE: f64 = 45.0;
const AT_PARTIAL: f64 = 90.0;
const AT_FULL: f64 = 135.0;
const AT_END: f64 = 210.0;
const INTERVAL: f64 = 10.0;
const DEADLINE: f64 = 5.0;
const LOST_AFTER: f64 = 120.0;

// What the timeline promises, checked at compile time. A canary its own cycle could not watch
// is seen one interval (minus jitter) later, so it is late:
const _: () = assert!(DEADLINE < INTERVAL * 0.9 - 1.0);
// the longest queue (iOS: queued from AT_QUEUE, readable from AT_FULL, seen within an interval
// and its jitter) is seen before lost_after:
const _: () = assert!(AT_FULL - AT_QUEUE + INTERVAL * 1.1 < LOST_AFTER - INTERVAL);
// the last swallowed canary is declared lost (at a cycle end) before the end:
const _: () = assert!(AT_QUEUE + LOST_AFTER + 2.0 * INTERVAL * 1.1 < AT_END);
// and the replay takes at most 4 minutes at speed 1.
const _: () = assert!(AT_END <= 240.0);

/// One phase as printed and shown in the banner.
pub struct PhaseText {
    pub title: &'static str,
    pub headline: &'static str,
    pub detail: &'static str,
    pub look_for: &'static str,
}

/// The four phases.
pub const PHASE_TEXT: [PhaseText; 4] = [
    PhaseText {
        title: "normal",
        headline: "mail works for every client profile",
        detail: "Canaries sent over SMTP appear within a second, over IMAP or POP3, for every \
                 profile.",
        look_for: "every cell green (✓ UP) with its delivery time; the sparklines fill in.",
    },
    PhaseText {
        title: "storage failure",
        headline: "IMAP and POP3 logins fail, SMTP still accepts",
        detail: "The mailbox storage broke. Every IMAP login gets NO [UNAVAILABLE], every POP3 \
                 login -ERR [SYS/TEMP]; SMTP still answers 250. At first the mail it accepts is \
                 written to the broken storage and never arrives; soon the provider stops that \
                 and queues inbound mail instead.",
        look_for: "every cell red (✗ DOWN) at 'IMAP login' (the POP3 profile at 'POP3 login'); \
                   the outage clock; 'in flight' growing: canaries accepted by SMTP and not seen.",
    },
    PhaseText {
        title: "partial restore",
        headline: "mail works for every profile except iOS",
        detail: "Storage is back: the queued mail is delivered, late, and logins work again, \
                 over IMAP and POP3, except for iOS Mail, whose logins still fail.",
        look_for: "ios_mail alone red; the others green again, their 'late' counters up by the \
                   canaries that were queued.",
    },
    PhaseText {
        title: "full restore",
        headline: "iOS back, queued mail delivered late",
        detail: "iOS Mail logs in again and finds its mail, late. The canaries written to the \
                 broken storage never arrive: after lost_after the agent declares them lost.",
        look_for: "every cell green; 'late' on every card; 'lost' once lost_after has passed; \
                   then the report.",
    },
];

/// The probe the scenario runs under `clients`, its times divided by `speed`.
pub fn probe(speed: f64, clients: Vec<String>) -> DemoProbe {
    let t = |s: f64| Duration::from_secs_f64(s / speed);
    DemoProbe {
        name: LIBERO.into(),
        clients,
        interval: t(INTERVAL),
        deadline: t(DEADLINE),
        timeout: Duration::from_secs(5),
        extra: format!("lost_after = \"{}ms\"", t(LOST_AFTER).as_millis()),
    }
}

/// The two embedded servers of the scenario.
pub struct Libero {
    pub main: DemoServer,
    pub ios: DemoServer,
    speed: f64,
}

/// `HH:MM:SS` UTC of a unix time.
pub fn clock(t: f64) -> String {
    let s = t.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl Libero {
    /// Starts both servers.
    pub async fn start(speed: f64) -> std::io::Result<Libero> {
        let opts = || ServerOptions {
            users: vec![User::new(USER, PASSWORD).with_token(TOKEN)],
            ..ServerOptions::default()
        };
        Ok(Libero {
            main: DemoServer::start(opts()).await?,
            ios: DemoServer::start(opts()).await?,
            speed,
        })
    }

    /// Which server each client profile talks to.
    pub fn routes(&self, clients: &[String]) -> Vec<(String, Addrs)> {
        clients
            .iter()
            .map(|c| {
                let s = if c == IOS_CLIENT {
                    &self.ios
                } else {
                    &self.main
                };
                (c.clone(), s.addrs())
            })
            .collect()
    }

    /// Both servers' CAs, for the agent's `ca_file`.
    pub fn ca_pem(&self) -> String {
        format!("{}{}", self.main.ca_pem(), self.ios.ca_pem())
    }

    fn servers(&self) -> [&DemoServer; 2] {
        [&self.main, &self.ios]
    }

    /// Plays the timeline, printing each step, updating the banner and `record_path`.
    /// `report_hint(start)` is the command line that prints the report afterwards.
    pub async fn play(
        &self,
        clients: &[String],
        record_path: &Path,
        report_hint: &dyn Fn(f64) -> String,
    ) -> Result<Record, RecordError> {
        let start = tokio::time::Instant::now();
        let t0 = crate::ledger::now();
        let speed = self.speed;
        let (main_clients, ios_clients): (Vec<String>, Vec<String>) =
            clients.iter().cloned().partition(|c| c != IOS_CLIENT);
        let server = |name: &str, clients: Vec<String>| ServerRecord {
            name: name.into(),
            clients,
            login_broken: Window::default(),
            released: 0,
            deliveries: Vec::new(),
        };
        let mut rec = Record {
            scenario: LIBERO.into(),
            speed,
            started_at: t0,
            interval_s: INTERVAL / speed,
            deadline_s: DEADLINE / speed,
            lost_after_s: LOST_AFTER / speed,
            servers: vec![server("main", main_clients), server("ios", ios_clients)],
            ..Record::default()
        };
        let wait = |at: f64| tokio::time::sleep_until(start + Duration::from_secs_f64(at / speed));
        let storage = storage_faults();
        let swallow = Fault::Delivery(DeliveryFault::Delay(SWALLOWED));
        let hold = Fault::Delivery(DeliveryFault::Hold);

        self.phase(&mut rec, 1);
        self.save(&mut rec, record_path)?;

        wait(AT_FAILURE).await;
        for s in self.servers() {
            s.faults().set(swallow.clone());
            storage.iter().for_each(|f| s.faults().set(f.clone()));
        }
        let now = crate::ledger::now();
        rec.swallowing.from = Some(now);
        rec.servers
            .iter_mut()
            .for_each(|s| s.login_broken.from = Some(now));
        self.phase(&mut rec, 2);
        self.save(&mut rec, record_path)?;

        wait(AT_QUEUE).await;
        for s in self.servers() {
            s.faults().set(hold.clone());
            s.faults().clear(&swallow);
        }
        rec.swallowing.until = Some(crate::ledger::now());
        say(&format!(
            "  the provider stops writing to the broken storage: mail accepted from now on is \
             queued; mail accepted since {} is gone",
            clock(rec.swallowing.from.unwrap_or(t0))
        ));
        self.save(&mut rec, record_path)?;

        wait(AT_PARTIAL).await;
        for s in self.servers() {
            s.faults().clear(&hold);
        }
        storage.iter().for_each(|f| self.main.faults().clear(f));
        rec.servers[0].login_broken.until = Some(crate::ledger::now());
        rec.servers[0].released = self.main.release_held();
        rec.servers[1].released = self.ios.release_held();
        self.phase(&mut rec, 3);
        say(&format!(
            "  {} queued message(s) delivered now; iOS Mail's {} are in its mailbox, which it \
             still cannot open",
            rec.servers[0].released, rec.servers[1].released
        ));
        self.save(&mut rec, record_path)?;

        wait(AT_FULL).await;
        storage.iter().for_each(|f| self.ios.faults().clear(f));
        rec.servers[1].login_broken.until = Some(crate::ledger::now());
        self.phase(&mut rec, 4);
        self.save(&mut rec, record_path)?;

        wait(AT_END).await;
        let end = crate::ledger::now();
        rec.finished_at = Some(end);
        self.save(&mut rec, record_path)?;
        let hint = report_hint(t0);
        say(&format!(
            "scenario complete after {}. What happened to the mail sent during the outage:\n  {hint}\n\
             (the record of what the servers did: {})",
            humantime::format_duration(Duration::from_secs((end - t0).round() as u64)),
            record_path.display()
        ));
        set_notice(Some(Notice {
            scenario: LIBERO.into(),
            phase: PHASES + 1,
            phases: PHASES,
            title: "replay complete".into(),
            detail: format!(
                "The outage is over; the agent keeps probing the restored servers. What happened \
                 to the mail sent during it: {hint}"
            ),
            look_for: "the late and lost counters on each card.".into(),
            since: end,
        }));
        Ok(rec)
    }

    /// Enters phase `n` (1-based): prints it, shows it, records it.
    fn phase(&self, rec: &mut Record, n: u32) {
        let Some(p) = PHASE_TEXT.get(n as usize - 1) else {
            return;
        };
        let now = crate::ledger::now();
        say(&format!(
            "phase {n}/{PHASES}: {} — {}\n  {}\n  look at: {}",
            p.title, p.headline, p.detail, p.look_for
        ));
        rec.phases.push(PhaseRecord {
            number: n,
            title: p.title.into(),
            started_at: now,
        });
        set_notice(Some(Notice {
            scenario: LIBERO.into(),
            phase: n,
            phases: PHASES,
            title: format!("{} — {}", p.title, p.headline),
            detail: p.detail.into(),
            look_for: p.look_for.into(),
            since: now,
        }));
    }

    /// Copies both delivery logs into `rec` and writes it to `path`.
    fn save(&self, rec: &mut Record, path: &Path) -> Result<(), RecordError> {
        for (r, s) in rec.servers.iter_mut().zip(self.servers()) {
            r.deliveries = s
                .store()
                .deliveries()
                .into_iter()
                .map(|d| {
                    let visible = crate::ledger::unix(d.visible_at_system);
                    let waited = d.visible_at.saturating_duration_since(d.accepted_at);
                    DeliveryRecord {
                        tracking_id: d.tracking_id,
                        queue_id: d.queue_id,
                        accepted_at: visible - waited.as_secs_f64(),
                        visible_at: visible,
                    }
                })
                .collect();
        }
        let text = serde_json::to_string_pretty(rec).map_err(RecordError::Encode)?;
        std::fs::write(path, text).map_err(|source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Stops both servers.
    pub async fn shutdown(self) {
        self.main.shutdown().await;
        self.ios.shutdown().await;
    }
}

/// Prints a line of the scenario's transcript, with the time.
fn say(text: &str) {
    println!("{} {text}", clock(crate::ledger::now()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_failure_breaks_imap_and_pop3_logins() {
        let f = crate::demo::Faults::new();
        storage_faults().into_iter().for_each(|x| f.set(x));
        assert!(matches!(f.imap(ImapStep::Login), Some(Action::No(t)) if t == LOGIN_REPLY));
        assert!(matches!(f.pop3(Pop3Step::Auth), Some(Action::No(t)) if t == POP3_LOGIN_REPLY));
    }

    #[test]
    fn the_probe_scales_with_speed() {
        let p = probe(2.0, vec!["ios_mail".into()]);
        assert_eq!(p.interval, Duration::from_secs(5));
        assert_eq!(p.extra, "lost_after = \"60000ms\"");
    }
}
