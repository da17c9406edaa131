//! A `kill -9` at any moment loses no canary from the ledger's accounting and counts none twice.
//!
//! The agent runs against the real stack and is killed at random points (while it starts and
//! resumes, during SMTP, while it watches, between cycles) over at least 200 cycles and 20 kills;
//! for the first kills Postfix answers DATA a second late, so some land after the server queued
//! the message and before the agent heard so.
//! Cleanup is off, so the mailbox keeps every canary the server delivered: that is the count of
//! canaries sent, taken from the server, independently of the agent. Afterwards every delivered
//! canary has its ledger row, settled exactly once, and every other row is one the server never
//! took (killed before the end of DATA).
//!
//! The kill points come from a seeded generator; the seed is printed, and
//! `MAILCANARY_TEST_SEED=<n>` replays a run.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::agent::{report, AgentProcess};
use support::ledger::{rows, Row};
use support::mailbox;
use support::stack::{self, Fault, ProbeSpec};

/// xorshift64*: enough to spread kill points, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("MAILCANARY_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            .max(1);
        println!("kill points from MAILCANARY_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

const SETTLED: [&str; 3] = ["on_time", "late", "recovered"];

fn open(r: &Row) -> bool {
    r.state == "sending" || r.state == "in_flight"
}

/// Kills so far, and where they landed as the newest canary shows it.
#[derive(Default, Debug)]
struct Kills {
    total: u32,
    /// Canaries in the ledger after the last kill.
    canaries: usize,
    /// Before the server's answer to DATA (the row says `sending`).
    mid_send: u32,
    /// The canaries those kills caught.
    caught_sending: Vec<String>,
    /// Accepted, not yet seen (`in_flight`).
    mid_watch: u32,
}

/// Starts the agent and kills it at a random point, again and again, until `done` holds; fails
/// after `max` lives.
fn kill_until(
    config: &std::path::Path,
    ledger: &std::path::Path,
    rng: &mut Rng,
    kills: &mut Kills,
    max: u32,
    done: impl Fn(&Kills) -> bool,
) {
    for _ in 0..max {
        if done(kills) {
            return;
        }
        // Not waiting for /healthz: a kill may land while the agent opens the ledger and
        // resumes the canaries of the life before.
        let mut agent = AgentProcess::spawn(config);
        std::thread::sleep(Duration::from_millis(rng.below(2500)));
        agent.signal("KILL");
        let (code, _) = agent.wait_exit(Duration::from_secs(10));
        assert_eq!(code, None, "exited by itself:\n{}", agent.log_text());
        kills.total += 1;
        let after = rows(ledger);
        kills.canaries = after.len();
        match after.last() {
            Some(r) if r.state == "sending" => {
                kills.mid_send += 1;
                kills.caught_sending.push(r.id.clone());
            }
            Some(r) if r.state == "in_flight" => kills.mid_watch += 1,
            _ => {}
        }
    }
    panic!("not done after {max} more lives: {kills:?}");
}

#[test]
fn kill_9_at_random_points_loses_no_canary_from_the_accounting() {
    let user = "kim";
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "kill9",
        user,
        clients: &["fast"],
        interval: "200ms",
        deadline: "5s",
        extra: "lost_after = \"20s\"\ncleanup = false",
    };
    let config = stack::write_config(dir.path(), &[spec], stack::FAST_CLIENT);
    let ledger = dir.path().join("ledger.db");
    let mut rng = Rng::seeded();
    let mut kills = Kills::default();

    // First, Postfix answers DATA a second late, so kills land between the end of the
    // message and the server's answer: queued by the server, unknown to the agent.
    {
        let _g = stack::exclusive();
        stack::require_up();
        mailbox::empty(user);
        let _slow = Fault::on("smtp-slow-data");
        kill_until(&config, &ledger, &mut rng, &mut kills, 60, |k| {
            k.mid_send >= 5
        });
    }
    // Then at full speed until at least 200 canaries (one per cycle) and 20 kills, 5 of them
    // while a canary was in flight.
    let _g = stack::shared();
    kill_until(&config, &ledger, &mut rng, &mut kills, 400, |k| {
        k.total >= 20 && k.mid_watch >= 5 && k.canaries >= 200
    });
    println!(
        "{} kills over {} canaries: {} before the server's answer to DATA, {} while the \
         canary was in flight",
        kills.total, kills.canaries, kills.mid_send, kills.mid_watch
    );

    // One last life, left alone until every canary is settled: those the server took are
    // found, those it never took turn `unconfirmed` after lost_after (20 s).
    let mut agent = AgentProcess::start(&config);
    agent.wait_for("every canary settled", Duration::from_secs(90), |_| {
        !rows(&ledger).iter().any(open)
    });
    agent.wait_for("no canary in flight", Duration::from_secs(15), |a| {
        a.value("mailcanary_canaries_in_flight", &[("probe", "kill9")]) == Some(0.0)
    });
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(15));

    let delivered = mailbox::canary_ids(user);
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "the server delivered a canary twice"
    );
    let ledger_rows = rows(&ledger);
    let by_id: HashMap<&str, &Row> = ledger_rows.iter().map(|r| (r.id.as_str(), r)).collect();
    for id in &delivered {
        let r = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("delivered canary {id} is not in the ledger"));
        assert!(
            SETTLED.contains(&r.state.as_str()) && r.copies == 1,
            "delivered once, must be settled once: {r:?}"
        );
    }
    for r in &ledger_rows {
        if !unique.contains(&r.id) {
            assert_eq!(r.state, "unconfirmed", "never delivered: {r:?}");
            assert!(
                r.accepted_at.is_none(),
                "accepted but never delivered: {r:?}"
            );
        }
    }
    // Killed before the server's answer: those the server had queued are settled like any.
    let queued_unanswered = kills
        .caught_sending
        .iter()
        .filter(|id| unique.contains(id))
        .count();
    println!(
        "of {} canaries killed before the answer to DATA, {queued_unanswered} were queued anyway",
        kills.caught_sending.len()
    );
    assert!(
        queued_unanswered >= 1,
        "no kill landed after the server queued a canary"
    );

    let settled = ledger_rows
        .iter()
        .filter(|r| SETTLED.contains(&r.state.as_str()))
        .count();
    assert_eq!(settled, delivered.len(), "ledger counts = canaries sent");
    assert!(kills.total >= 20 && ledger_rows.len() >= 200);

    // The report reads the same accounting.
    let json: serde_json::Value =
        serde_json::from_str(&report(&config, true)).expect("report JSON");
    let c = &json["instances"][0]["canaries"];
    let n = |k: &str| c[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("sent"), ledger_rows.len() as u64, "{c}");
    assert_eq!(
        n("on_time") + n("late") + n("recovered"),
        delivered.len() as u64,
        "{c}"
    );
    assert_eq!((n("in_flight"), n("lost")), (0, 0), "{c}");
    assert_eq!(
        n("unconfirmed"),
        (ledger_rows.len() - delivered.len()) as u64,
        "{c}"
    );
    println!(
        "{} kills over {} canaries: {} delivered and settled once ({} on time, {} late, \
         {} recovered), {} never taken by the server",
        kills.total,
        ledger_rows.len(),
        delivered.len(),
        n("on_time"),
        n("late"),
        n("recovered"),
        n("unconfirmed")
    );
}
