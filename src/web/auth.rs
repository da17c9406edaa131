//! HTTP basic auth on every endpoint but `/healthz`: against bcrypt hashes from the web config
//! file, or the deprecated `[web]` section's one user and password.
//!
//! A bcrypt check costs tens of milliseconds by design: it runs off the async threads, a few
//! at a time, and a success is remembered (as a digest of user, password and hash) so a
//! scraper's every request does not pay it again. An unknown user costs a check all the same,
//! so the time taken does not tell which users exist.

use super::security::{Auth, Security};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// bcrypt checks running at once.
static CHECKS: Semaphore = Semaphore::const_new(2);

/// Remembered successes; past this the memory is cleared.
const REMEMBERED: usize = 256;

/// A hash checked against when the user is unknown (cost 10, as `htpasswd -nBC 10` makes).
static DECOY: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("mailcanary decoy", 10).unwrap_or_default());

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// Compares in constant time (over fixed-length digests).
fn same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (digest(&[a]), digest(&[b]));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `user:password` from an `Authorization: Basic` header.
fn credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = value.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The middleware: passes the request on with valid credentials (or none needed), else 401.
pub async fn require(State(security): State<Arc<Security>>, req: Request, next: Next) -> Response {
    let Some(active) = security.active() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "web config unavailable\n",
        )
            .into_response();
    };
    let ok = match &active.auth {
        Auth::Open => true,
        Auth::Password { user, password } => credentials(&req).is_some_and(|(u, p)| {
            // Both compared, always, so the timing does not tell which one was wrong.
            let user_ok = same(u.as_bytes(), user.as_bytes());
            let pass_ok = same(p.as_bytes(), password.expose().as_bytes());
            user_ok & pass_ok
        }),
        Auth::Bcrypt(users) => match credentials(&req) {
            None => false,
            Some((u, p)) => {
                let hash = users.get(&u).cloned();
                check(&security, &u, &p, hash).await
            }
        },
    };
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"mailcanary\"")],
            "unauthorized\n",
        )
            .into_response()
    }
}

/// Whether `password` matches `hash` (a decoy when the user is unknown, failing all the same).
async fn check(security: &Security, user: &str, password: &str, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DECOY.clone());
    let key = digest(&[user.as_bytes(), password.as_bytes(), hash.as_bytes()]);
    if known && security.verified.lock().is_ok_and(|v| v.contains(&key)) {
        return true;
    }
    let Ok(_permit) = CHECKS.acquire().await else {
        return false;
    };
    let password = password.to_string();
    let matched = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .is_ok_and(|r| r.unwrap_or(false));
    if known && matched {
        if let Ok(mut v) = security.verified.lock() {
            if v.len() >= REMEMBERED {
                v.clear();
            }
            v.insert(key);
        }
    }
    known && matched
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
