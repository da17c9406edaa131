//! Fetching an agent's report for the fleet report: `GET {agent}/api/report?since=&until=` over
//! HTTP or HTTPS (the CA file given, plus the web PKI roots), with basic auth when asked, the
//! whole exchange under one deadline and the body bounded. Whatever goes wrong comes back as a
//! sentence naming the step, for the report to print next to the agent's URL; no error carries
//! the credentials.

use super::fleet::AgentReport;
use super::ReportError;
use crate::secret::Secret;
use crate::tls::TlsContext;
use base64::Engine;
use hyper::body::Body;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// An agent's base URL, checked: `http://host:port` or `https://host:port`, with an optional
/// path prefix (an agent behind a reverse proxy), no credentials, no query.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentUrl {
    /// As given (credentials are refused, so this is safe to print).
    pub text: String,
    https: bool,
    /// Host as in the URL (an IPv6 address in brackets) and port, for the `Host` header.
    authority: String,
    /// Host to connect to and verify the certificate of (no brackets).
    host: String,
    port: u16,
    /// The path before `/api/report`, without a trailing `/`.
    prefix: String,
}

impl std::str::FromStr for AgentUrl {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<AgentUrl, ReportError> {
        let bad = |why: &str| ReportError::AgentUrl {
            url: if s.contains('@') {
                "[a URL with credentials]".to_string()
            } else {
                s.to_string()
            },
            why: why.to_string(),
        };
        let uri: Uri = s.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials do not go in the URL: use --agent.user with --agent.password-file or --agent.password-env",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("no query string: the report asks for its own"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(AgentUrl {
            text: s.to_string(),
            https,
            authority: authority.as_str().to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }
}

/// How every agent is asked.
#[derive(Clone)]
pub struct FetchOptions {
    /// For the whole exchange with one agent: connect, TLS, request, body.
    pub timeout: Duration,
    /// A larger body is refused.
    pub max_body: usize,
    /// Basic auth: user and password.
    pub auth: Option<(String, Secret)>,
    /// For `https://` agents.
    pub tls: TlsContext,
}

/// The agent's report for `since` → `until` (unix seconds), or why there is none.
pub async fn fetch(
    agent: &AgentUrl,
    since: f64,
    until: f64,
    opts: &FetchOptions,
) -> Result<AgentReport, String> {
    let t = opts.timeout;
    match tokio::time::timeout(t, exchange(agent, since, until, opts)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no complete answer within {} (--agent.timeout)",
            humantime::format_duration(t)
        )),
    }
}

async fn exchange(
    agent: &AgentUrl,
    since: f64,
    until: f64,
    opts: &FetchOptions,
) -> Result<AgentReport, String> {
    let tcp = TcpStream::connect((agent.host.as_str(), agent.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let body = if agent.https {
        let (tls, _) = (opts.tls.handshake(tcp, &agent.host).await)
            .map_err(|(reason, detail)| format!("TLS: {} ({detail})", reason.as_str()))?;
        get(tls, agent, since, until, opts).await?
    } else {
        get(tcp, agent, since, until, opts).await?
    };
    let answer: AgentReport =
        serde_json::from_slice(&body).map_err(|e| format!("not a report: {e}"))?;
    // Within a millisecond: serde_json's float parsing may be one unit in the last place off.
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-3;
    let period = (answer.report.since, answer.report.until);
    if !(near(period.0, since) && period.1.is_some_and(|u| near(u, until))) {
        return Err(format!(
            "answered for another period ({} to {:?}) than asked ({since} to {until})",
            period.0, period.1
        ));
    }
    Ok(answer)
}

/// Aborts the connection's task when the exchange ends, however it ends.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One GET over `io`; the body of a 200 answer, at most `max_body` bytes.
async fn get<I>(
    io: I,
    agent: &AgentUrl,
    since: f64,
    until: f64,
    opts: &FetchOptions,
) -> Result<Vec<u8>, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let _driver = Driver(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let path = format!("{}/api/report?since={since}&until={until}", agent.prefix);
    let mut req = hyper::Request::get(path)
        .header(HOST, agent.authority.as_str())
        .header(ACCEPT, "application/json");
    if let Some((user, password)) = &opts.auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        req = req.header(AUTHORIZATION, format!("Basic {token}"));
    }
    let req = req
        .body(String::new())
        .map_err(|_| "cannot build the request".to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 => ": check --agent.user and its password",
            404 => ": is this a mailcanary agent of this version?",
            _ => "",
        };
        return Err(format!("answered HTTP {status}{hint}"));
    }
    let announced = (resp.headers().get(CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = u64::try_from(opts.max_body).unwrap_or(u64::MAX);
    if announced.is_some_and(|n| n > max) {
        return Err(format!("report larger than {} bytes", opts.max_body));
    }
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| format!("reading the report: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > opts.max_body {
                return Err(format!("report larger than {} bytes", opts.max_body));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::AgentUrl;

    #[test]
    fn agent_urls() {
        let u: AgentUrl = "http://127.0.0.1:9797".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("127.0.0.1", 9797, "")
        );
        let u: AgentUrl = "https://[::1]/canary/".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("::1", 443, "/canary")
        );
        assert_eq!(u.authority, "[::1]");
        for bad in ["ftp://x", "x:9797", "http://x/?a=b", ""] {
            assert!(bad.parse::<AgentUrl>().is_err(), "{bad}");
        }
        let e = "http://bob:hunter2@x:1".parse::<AgentUrl>().unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
