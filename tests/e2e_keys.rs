//! The canary HMAC key rotated under a running agent (the embedded mail server, the agent as a
//! process): canaries signed with the old key and in flight when the key file changes and the
//! agent reloads still settle late or on time, never `corrupt`, and are cleaned up; canaries
//! sent after the reload carry the new key; a canary signed with a key the agent never had is
//! still left in place as a forgery.

mod support;

use mailcanary::demo::command::USER;
use mailcanary::demo::{DeliveryFault, Fault};
use mailcanary::probe::canary::{self, Verdict};
use mailcanary::secret::{KeyRing, Secret};
use std::time::{Duration, SystemTime};
use support::agent::{find, AgentProcess};
use support::demo::{probe, DemoBackend};
use support::ledger::rows;

fn verdict(key: &str, bytes: &[u8]) -> Verdict {
    canary::verify(&KeyRing::new(Secret::new(key)), bytes)
}

#[test]
fn a_rotated_key_still_settles_canaries_in_flight_and_signs_new_ones() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    // `rot` cleans up (its verified canaries are deleted); `kept` does not, so the test can
    // read the canaries it sends after the rotation.
    let rot = probe("rot", &["ios_mail"], 800, 1500);
    let mut kept = probe("kept", &["thunderbird"], 800, 1500);
    kept.extra = "cleanup = false".into();
    let config = be.config(dir.path(), &[rot, kept]);
    let ledger = dir.path().join("ledger.db");
    let key_file = dir.path().join("secrets/hmac.key");
    let old_key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let agent = AgentProcess::start_with(&config, &["--web.enable-lifecycle"]);
    agent.wait_for("both probes delivering", Duration::from_secs(30), |a| {
        let s = a.scrape();
        ["rot", "kept"]
            .iter()
            .all(|p| find(&s, "mailcanary_probe_success", &[("probe", p)]) == Some(1.0))
    });

    // Hold delivery until canaries signed with the old key are in flight.
    let faults = be.server().faults();
    faults.set(Fault::Delivery(DeliveryFault::Hold));
    agent.wait_for(
        "old-key canaries in flight",
        Duration::from_secs(30),
        |_| {
            let r = rows(&ledger);
            r.iter()
                .filter(|r| r.probe == "rot" && r.state == "in_flight")
                .count()
                >= 2
        },
    );
    let rotated_at = mailcanary::ledger::now();
    let old_in_flight: Vec<String> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "in_flight" || r.state == "sending")
        .map(|r| r.id)
        .collect();

    // Rotate: the key file's content changes, its path does not; the agent reloads.
    let new_key = "a-new-canary-key-written-by-the-rotation-test";
    std::fs::write(&key_file, format!("{new_key}\n")).unwrap();
    let r = agent.post_reload();
    assert_eq!(r.status, 200, "{}", r.text());
    agent.wait_for(
        "canaries of both probes sent after the rotation",
        Duration::from_secs(30),
        |_| {
            let r = rows(&ledger);
            ["rot", "kept"].iter().all(|p| {
                r.iter().any(|r| {
                    r.probe == *p && r.sent_at > rotated_at + 0.5 && r.accepted_at.is_some()
                })
            })
        },
    );

    // Release: every canary held across the rotation settles, none corrupt.
    faults.clear(&Fault::Delivery(DeliveryFault::Hold));
    be.server().release_held();
    agent.wait_for(
        "every canary in flight at the rotation settled",
        Duration::from_secs(30),
        |_| {
            let r = rows(&ledger);
            old_in_flight.iter().all(|id| {
                r.iter()
                    .any(|r| &r.id == id && r.state != "in_flight" && r.state != "sending")
            })
        },
    );
    let all = rows(&ledger);
    for id in &old_in_flight {
        let row = all.iter().find(|r| &r.id == id).unwrap();
        assert!(
            row.state == "late" || row.state == "on_time",
            "signed with the old key, in flight at the rotation: {row:?}"
        );
    }
    assert!(all.iter().all(|r| r.state != "corrupt"), "{all:?}");
    let s = agent.scrape();
    assert_eq!(
        find(&s, "mailcanary_canaries_total", &[("outcome", "corrupt")]).unwrap_or(0.0),
        0.0
    );
    // `rot`'s old-key canaries verified, so cleanup deleted them.
    let store = be.server().store();
    for id in old_in_flight
        .iter()
        .filter(|id| all.iter().any(|r| &r.id == *id && r.probe == "rot"))
    {
        agent.wait_for("old-key canary cleaned up", Duration::from_secs(15), |_| {
            store
                .search_header(USER, "INBOX", canary::ID_HEADER, id)
                .is_empty()
        });
    }

    // `kept`'s canaries sent after the rotation are signed with the new key, not the old.
    let inbox = store.messages(USER, "INBOX").unwrap();
    let new_ones: Vec<_> = all
        .iter()
        .filter(|r| r.probe == "kept" && r.sent_at > rotated_at + 0.5 && r.state == "on_time")
        .filter_map(|r| {
            inbox
                .iter()
                .find(|m| canary::header(&m.bytes, canary::ID_HEADER).as_deref() == Some(&r.id))
        })
        .collect();
    assert!(
        !new_ones.is_empty(),
        "a kept canary sent after the rotation"
    );
    for m in &new_ones {
        assert!(matches!(verdict(new_key, &m.bytes), Verdict::Valid { .. }));
        assert!(matches!(
            verdict(&old_key, &m.bytes),
            Verdict::Forged { .. }
        ));
    }

    // A canary of `rot` signed with a key the agent never had: left in place as a forgery.
    let stranger = canary::build(
        &Secret::new("a-key-the-agent-never-had"),
        "rot/ios_mail/demo",
        USER,
        USER,
        SystemTime::now(),
    );
    store.append(USER, "INBOX", &stranger.message, &[]).unwrap();
    agent.wait_for("the forgery noticed", Duration::from_secs(30), |a| {
        a.log_text()
            .contains("messages with canary headers whose tag does not verify were left in place")
    });
    // Noticed and examined; a few more cycles later it is still there.
    let cycles = |a: &AgentProcess| {
        a.value("mailcanary_probe_cycles_total", &[("probe", "rot")])
            .unwrap_or(0.0)
    };
    let at = cycles(&agent);
    agent.wait_for("three more cycles", Duration::from_secs(30), |a| {
        cycles(a) >= at + 3.0
    });
    assert_eq!(
        store
            .search_header(USER, "INBOX", canary::ID_HEADER, &stranger.id)
            .len(),
        1,
        "a forgery is never deleted"
    );
    assert!(rows(&ledger).iter().all(|r| r.state != "corrupt"));
}
