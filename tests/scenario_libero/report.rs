//! The late and lost canaries of `mailcanary report --json` after the
//! libero replay, compared with what the scenario's record says must have happened.
//!
//! The model, per canary the ledger shows accepted by SMTP: not in its server's delivery log →
//! lost (and it must have been accepted while the storage swallowed mail); delivered → late
//! when its own cycle could not watch for it (its IMAP or POP3 login failed, so only a later
//! cycle, an interval later, could see it) or when the client could read it only more than a
//! deadline after it was accepted (it became visible, or its client's logins came back, later).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Per client: (late, lost) that the record implies for the canaries in the ledger.
fn expected(record: &Value, ledger: &Path) -> BTreeMap<String, (u64, u64)> {
    let deadline = record["deadline_s"].as_f64().unwrap();
    let l = mailcanary::ledger::Ledger::open(ledger).unwrap();
    type Canary = (String, String, f64, Option<f64>);
    let (canaries, cycles) = l
        .query(|db| {
            let mut st = db.prepare("SELECT id, client, sent_at, accepted_at FROM canaries")?;
            let c: Vec<Canary> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = db.prepare(
                "SELECT client, started_at, coalesce(stage, '') FROM cycles ORDER BY started_at",
            )?;
            let y: Vec<(String, f64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((c, y))
        })
        .unwrap();
    // The model below assumes the scenario's only failures: logins refused, canaries not
    // delivered in time.
    for (c, _, stage) in &cycles {
        assert!(
            ["", "imap_login", "pop3_login", "delivery"].contains(&stage.as_str()),
            "{c}: unexpected failure stage {stage}"
        );
    }
    // The record is saved when the replay ends; the agent finishes the cycles under way while
    // the demo shuts down after that, and what those canaries did is in no record.
    let finished = record["finished_at"].as_f64().expect("the record's end");
    let mut out = BTreeMap::new();
    for (id, client, sent_at, accepted_at) in canaries {
        let Some(accepted) = accepted_at.filter(|a| *a < finished) else {
            continue;
        };
        let server = record["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["clients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == &client)
            })
            .expect("a server for every client");
        let delivered = server["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["tracking_id"] == id.as_str());
        // Could the canary's own cycle log in to watch for it?
        let own = cycles
            .iter()
            .rev()
            .find(|(c, at, _)| *c == client && *at <= sent_at)
            .expect("the canary's cycle");
        let watched = !["imap_login", "pop3_login"].contains(&own.2.as_str());
        let e = out.entry(client.clone()).or_insert((0, 0));
        match delivered {
            None => {
                // Never delivered: accepted while the broken storage swallowed mail.
                let w = &record["swallowing"];
                let (from, until) = (w["from"].as_f64().unwrap(), w["until"].as_f64().unwrap());
                assert!(
                    (from - 0.5..until + 1.0).contains(&accepted),
                    "{client}: canary {id} accepted at {accepted} outside the swallowing window \
                     {from}..{until}, and never delivered"
                );
                e.1 += 1;
            }
            Some(d) => {
                let visible = d["visible_at"].as_f64().unwrap();
                let broken = &server["login_broken"];
                let (from, until) = (broken["from"].as_f64(), broken["until"].as_f64());
                // The client can read it once it is visible and logins work.
                let readable = match (from, until) {
                    (Some(f), Some(u)) if visible >= f && visible < u => u,
                    _ => visible,
                };
                if !watched || readable - accepted > deadline {
                    e.0 += 1;
                }
            }
        }
    }
    out
}

pub fn check(report: &Value, record: &Value, ledger: &Path) {
    let expected = expected(record, ledger);
    println!("expected (late, lost) per client from the record: {expected:?}");
    let phase = |n: usize| record["phases"][n - 1]["started_at"].as_f64().unwrap();
    let interval = record["interval_s"].as_f64().unwrap();
    let instances = report["instances"].as_array().unwrap();
    assert_eq!(instances.len(), super::CLIENTS.len(), "{report:#}");
    for i in instances {
        let client = i["client"].as_str().unwrap();
        let (late, lost) = expected[client];
        let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
        assert_eq!(
            (n(&i["canaries"], "late"), n(&i["canaries"], "lost")),
            (late, lost),
            "{client}: report vs record"
        );
        assert_eq!(n(&i["canaries"], "recovered"), 0, "{client}");
        assert!(
            late >= 1 && lost >= 1,
            "{client}: the outage delayed and lost mail"
        );
        // One outage, from the storage failure to this client's restore, holding all of it.
        let outages = i["outages"].as_array().unwrap();
        assert_eq!(outages.len(), 1, "{client}: {outages:#?}");
        let o = &outages[0];
        let restored = if client == "ios_mail" {
            phase(4)
        } else {
            phase(3)
        };
        let (start, end) = (o["start"].as_f64().unwrap(), o["end"].as_f64().unwrap());
        assert!((phase(2) - 1.2 * interval..phase(2) + 1.2 * interval).contains(&start));
        // (A cycle that started just before the restore may log in just after it.)
        assert!(
            (restored - 1.0..restored + 1.2 * interval).contains(&end),
            "{client}: {o:#}"
        );
        assert_eq!(
            (n(&o["canaries"], "late"), n(&o["canaries"], "lost")),
            (late, lost),
            "{client}: every late and lost canary was sent during the outage"
        );
        println!("{client}: {late} late, {lost} lost — report and record agree");
    }
    let late = |c: &str| expected[c].0;
    for c in super::CLIENTS.iter().filter(|c| **c != "ios_mail") {
        assert!(
            late("ios_mail") > late(c),
            "iOS, restored last, has the most late mail"
        );
    }
}
