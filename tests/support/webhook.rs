//! The webhook receiver Alertmanager notifies in tests: every JSON POST with the instant it
//! arrived, built on the test HTTP server of `http.rs`.
#![allow(dead_code)]

use super::http::Server;
use serde_json::Value;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One POST received by the [`WebhookReceiver`].
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub body: Value,
}

impl Received {
    /// The alerts in an Alertmanager webhook payload.
    pub fn alerts(&self) -> Vec<&Value> {
        self.body["alerts"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// True if the payload carries alert `alertname` with `status` ("firing" or "resolved").
    pub fn has_alert(&self, alertname: &str, status: &str) -> bool {
        self.alert(alertname, status).is_some()
    }

    /// The first alert `alertname` with `status` in the payload.
    pub fn alert(&self, alertname: &str, status: &str) -> Option<&Value> {
        self.alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
    }
}

type Inbox = Arc<(Mutex<Vec<Received>>, Condvar)>;

/// Records every JSON POST body with the instant it arrived; answers 200.
pub struct WebhookReceiver {
    server: Server,
    inbox: Inbox,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let inbox: Inbox = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&inbox);
        let server = Server::start(move |req| {
            if req.method != "POST" {
                return (405, "text/plain", b"POST only\n".to_vec());
            }
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return (400, "text/plain", b"not JSON\n".to_vec());
            };
            let (lock, cvar) = &*sink;
            lock.lock().expect("webhook inbox").push(Received {
                at: Instant::now(),
                body,
            });
            cvar.notify_all();
            (200, "text/plain", b"ok\n".to_vec())
        });
        WebhookReceiver { server, inbox }
    }

    /// `http://127.0.0.1:PORT/webhook`: give this to `Alertmanager::start`.
    pub fn url(&self) -> String {
        format!("{}/webhook", self.server.base_url())
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inbox.0.lock().expect("webhook inbox").clone()
    }

    /// Everything received at or after `since`.
    pub fn received_since(&self, since: Instant) -> Vec<Received> {
        let all = self.received();
        all.into_iter().filter(|r| r.at >= since).collect()
    }

    /// The first POST (already received or arriving within `timeout`) matching `predicate`.
    pub fn wait_for(
        &self,
        predicate: impl Fn(&Received) -> bool,
        timeout: Duration,
    ) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.inbox;
        let mut got = lock.lock().expect("webhook inbox");
        loop {
            if let Some(r) = got.iter().find(|r| predicate(r)) {
                return Some(r.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            got = cvar.wait_timeout(got, left).expect("webhook inbox").0;
        }
    }
}
