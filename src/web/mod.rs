//! The agent's HTTP endpoints: `/metrics`, `/healthz`, `POST /-/reload` (only with
//! `--web.enable-lifecycle`), the status page at `/` and its JSON at `/api/status`, and the
//! ledger's incident report at `/api/report` (`report_api.rs`) for the fleet report.
//!
//! - `serve.rs` accepts connections and runs HTTP/1.1 on them; `conn.rs` bounds each one
//!   (timeouts), `table.rs` how many are open (the connection cap);
//! - `security.rs` holds TLS and basic auth from the web config file (`toolkit.rs`, the
//!   exporter-toolkit format) or the deprecated `[web]` section; `auth.rs` checks requests.

mod auth;
pub mod conn;
mod error;
mod page;
mod report_api;
pub mod security;
pub mod serve;
mod table;
pub mod toolkit;

use crate::metrics::{Exposition, Metrics};
use crate::status::StatusBoard;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
pub use conn::Limits;
pub use error::{ReloadRejected, WebError};
use std::path::PathBuf;
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
    /// The ledger file `/api/report` reads (`None`: it answers 404).
    pub ledger: Option<PathBuf>,
}

/// The HTTP server's flags.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// `--web.config.file`: TLS and basic auth in the exporter-toolkit format.
    pub config_file: Option<PathBuf>,
    /// `--web.enable-lifecycle`: serve `POST /-/reload`.
    pub enable_lifecycle: bool,
    pub limits: Limits,
}

/// The router for all endpoints; with basic auth configured, every one but `/healthz` needs it.
/// `/-/reload` answers 403 unless `lifecycle` is on.
pub fn router(state: WebState, security: Arc<security::Security>, lifecycle: bool) -> Router {
    let reload_route = if lifecycle {
        post(reload)
    } else {
        post(lifecycle_disabled)
    };
    let protected = Router::new()
        .route("/", get(status_page))
        .route("/api/status", get(status_json))
        .route("/api/report", get(report_api::report))
        .route("/metrics", get(metrics))
        .route("/-/reload", reload_route)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            security,
            auth::require,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(protected)
        .layer(axum::middleware::from_fn(serve::limit_body))
}

/// `POST /-/reload` without `--web.enable-lifecycle`: nothing is reloaded.
async fn lifecycle_disabled() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Lifecycle API is not enabled (start the agent with --web.enable-lifecycle, or send it \
         SIGHUP)\n",
    )
        .into_response()
}

/// Whether a browser says the request comes from another site (`Sec-Fetch-Site`, or an
/// `Origin` whose host is not the one asked): a page must not drive the lifecycle API.
fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| h.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
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
        axum::body::Body::from(page),
    )
        .into_response()
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

async fn reload(State(s): State<WebState>, headers: axum::http::HeaderMap) -> Response {
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        assert!(!super::cross_site(&headers(&[("host", "a:9797")])));
        assert!(!super::cross_site(&headers(&[
            ("host", "a:9797"),
            ("origin", "http://a:9797")
        ])));
        assert!(super::cross_site(&headers(&[
            ("host", "a:9797"),
            ("origin", "http://evil.example")
        ])));
        assert!(super::cross_site(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        assert!(super::cross_site(&headers(&[("origin", "null")])));
    }
}
