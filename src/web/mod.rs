//! The agent's HTTP endpoints: `/metrics`, `/healthz`, `POST /-/reload`, the status page at `/`
//! and its JSON at `/api/status`.

mod error;
mod page;
pub mod serve;

use crate::metrics::{Exposition, Metrics};
use crate::status::StatusBoard;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
pub use error::{ReloadRejected, WebError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A reload request; the agent answers with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), ReloadRejected>>;

/// What the handlers read.
#[derive(Clone)]
pub struct WebState {
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
    pub region: String,
    pub reload: mpsc::Sender<ReloadRequest>,
}

/// The router for all endpoints; with basic auth configured, every one but `/healthz` needs it.
pub fn router(state: WebState, web: &crate::config::Web) -> Result<Router, WebError> {
    let protected = Router::new()
        .route("/", get(status_page))
        .route("/api/status", get(status_json))
        .route("/metrics", get(metrics))
        .route("/-/reload", post(reload))
        .with_state(state);
    let open = Router::new().route("/healthz", get(|| async { "ok\n" }));
    serve::with_auth(protected, open, web)
}

/// `/metrics`: encoded off the probes' threads, one encoding shared by concurrent scrapes
/// ([`Exposition`]), and sent without copying the page.
async fn metrics(State(s): State<WebState>) -> Response {
    let Some(page) = Exposition::page(&s.metrics).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        axum::body::Body::from(bytes::Bytes::from_owner(PageBytes(page))),
    )
        .into_response()
}

/// A shared page as a response body's bytes.
struct PageBytes(Arc<str>);

impl AsRef<[u8]> for PageBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The status page's data as JSON: `region`, `version`, `now` (unix seconds), `instances`
/// (one [`crate::status::InstanceStatus`] each: state, last success and delivery time,
/// `down_since`, `in_flight`, `late_total` / `lost_total` / `recovered_total`, the sparkline
/// `history`, recent `failures` with stage, reason, words and the server's detail, and
/// certificate notAfter per endpoint), `sentinels` (a [`crate::status::SentinelSummary`]: `state`
/// `not_configured`, `intact` or `broken` as the page shows it, `checking`, and the `broken`
/// instances with what their check found) and `notice` (the demo scenario's phase, or null).
async fn status_json(State(s): State<WebState>) -> impl IntoResponse {
    let instances = s.status.snapshot();
    let sentinels = crate::status::SentinelSummary::of(&instances);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "region": s.region,
            "version": env!("CARGO_PKG_VERSION"),
            "now": crate::ledger::now(),
            "instances": instances,
            "sentinels": sentinels,
            "notice": crate::status::notice(),
        })),
    )
}

async fn status_page(State(s): State<WebState>) -> impl IntoResponse {
    let instances = s.status.snapshot();
    let notice = crate::status::notice();
    let html = page::render(&page::View {
        region: &s.region,
        instances: &instances,
        now: crate::ledger::now(),
        notice: notice.as_ref(),
    });
    ([(header::CACHE_CONTROL, "no-store")], Html(html))
}

async fn reload(State(s): State<WebState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "agent is shutting down\n").into_response();
    }
    match tokio::time::timeout(std::time::Duration::from_secs(30), rx).await {
        Ok(Ok(Ok(()))) => (StatusCode::OK, "config reloaded\n").into_response(),
        Ok(Ok(Err(e))) => (
            StatusCode::BAD_REQUEST,
            format!("reload rejected, old config kept:\n{e}\n"),
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload did not complete\n",
        )
            .into_response(),
    }
}
