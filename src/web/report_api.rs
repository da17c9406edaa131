//! `GET /api/report?since=S&until=U` (unix seconds; `until` defaults to now): the incident
//! report of this agent's ledger for that period, as JSON `{"region", "version", "report"}`,
//! for `mailcanary report --agent URL ...` to merge with other agents'. Behind the same basic
//! auth and TLS as every endpoint but `/healthz`.
//!
//! The report is read on a connection of its own, read-only, off the async threads, one report
//! at a time: a long period costs the asker time, never the probes their ledger writes.

use super::WebState;
use crate::ledger::report::{read, LAST_TIME};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Reports built at once.
static BUILDING: Semaphore = Semaphore::const_new(1);
/// How long a request waits for the report being built before it.
const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// The query string, as text: each parameter is checked here, with a message naming it.
#[derive(Deserialize)]
pub struct Period {
    since: Option<String>,
    until: Option<String>,
}

/// A time parameter: unix seconds from 0 to [`LAST_TIME`].
fn seconds(name: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(t) if (0.0..=LAST_TIME).contains(&t) => Ok(t),
        _ => Err(format!(
            "{name}={value:?}: expected unix seconds from 0 to {LAST_TIME}\n"
        )),
    }
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

pub async fn report(State(s): State<WebState>, Query(p): Query<Period>) -> Response {
    let Some(path) = s.ledger.clone() else {
        return (StatusCode::NOT_FOUND, "this agent keeps no ledger\n").into_response();
    };
    let since = match p.since.as_deref().map(|v| seconds("since", v)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return bad(e),
        None => return bad("since (unix seconds) is required\n".into()),
    };
    let until = match p.until.as_deref().map(|v| seconds("until", v)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return bad(e),
        None => crate::ledger::now(),
    };
    if until < since {
        return bad(format!("until={until} is before since={since}\n"));
    }
    let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_WAIT, BUILDING.acquire()).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "another report is being built; try again\n",
        )
            .into_response();
    };
    let built = tokio::task::spawn_blocking(move || read(&path, since, Some(until))).await;
    match built {
        Ok(Ok(report)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "region": s.region,
                "version": env!("CARGO_PKG_VERSION"),
                "report": report,
            })),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "report for /api/report failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the ledger (see the agent's log)\n",
            )
                .into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "report task failed\n").into_response(),
    }
}
