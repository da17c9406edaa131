//! XOAUTH2 and OAUTHBEARER against Dovecot's oauth2 passdb, its token-introspection endpoint
//! served by the test (tests/support/oauth.rs): a valid token logs in over IMAP and SMTP
//! submission; an expired or a revoked one fails with `imap_login`/`auth_rejected` or
//! `auth`/`auth_rejected`; a token command is run again after its token's lifetime and the
//! probe stays green across the refreshes.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::agent::{sum, AgentProcess, Sample};
use support::oauth::{self, Introspection};
use support::profiles::{cycles, failures, labels, success, watch};
use support::stack::{self, DOMAIN, STATE};

/// One profile per OAuth mechanism and side; the other side logs in with the password.
const OAUTH_CLIENTS: &str = r#"
[clients.x_imap]
preset = "ios_mail"
imap_auth = "xoauth2"

[clients.b_imap]
preset = "gmail_android"
imap_auth = "oauthbearer"

[clients.x_smtp]
preset = "outlook"
smtp_auth = "xoauth2"

[clients.b_smtp]
preset = "outlook"
smtp_auth = "oauthbearer"
smtp_tls = "implicit"

[clients.both]
preset = "ios_mail"
imap_auth = "xoauth2"
smtp_auth = "xoauth2"
"#;

/// A probe file for grace whose endpoints log in with `token_line` (and the password). The
/// step timeout is 20 s: after failed logins Dovecot delays every login from 127.0.0.1 by up
/// to 15 s (its auth penalty), and this test fails logins on purpose.
fn oauth_probe(dir: &Path, name: &str, clients: &[&str], token_line: &str) {
    let user = format!("grace@{DOMAIN}");
    let pw = format!("{STATE}/secrets/grace.password");
    let list: Vec<String> = clients.iter().map(|c| format!("\"{c}\"")).collect();
    let endpoint = format!(
        "host = \"127.0.0.1\"\ntls_server_name = \"mail.{DOMAIN}\"\npassword_file = \"{pw}\"\n{token_line}\n"
    );
    std::fs::write(
        dir.join(format!("probes/{name}.toml")),
        format!(
            "clients = [{}]\ninterval = \"5s\"\njitter = \"1s\"\ntimeout = \"20s\"\n\
             deadline = \"10s\"\nfrom = \"{user}\"\nto = \"{user}\"\n\n[smtp]\n{endpoint}\n\
             [imap]\n{endpoint}",
            list.join(", ")
        ),
    )
    .unwrap();
}

/// Which stage a rejected token fails at for a profile of [`OAUTH_CLIENTS`].
fn login_stage(client: &str) -> &'static str {
    if client.ends_with("imap") {
        "imap_login"
    } else {
        "auth"
    }
}

/// The token file's profiles: valid, expired, valid again, revoked, valid again. Each rejected
/// token must turn every profile red with one more failure at its login stage, and nothing
/// else may fail.
fn token_file_rounds(
    agent: &AgentProcess,
    idp: &Introspection,
    token_file: &Path,
    clients: &[&str],
    mut check: impl FnMut(&[Sample]),
) {
    let user = format!("grace@{DOMAIN}");
    let green = |s: &[Sample]| {
        clients
            .iter()
            .all(|c| success(s, "tokfile", c) == Some(1.0))
    };
    let rejected = |s: &[Sample], base: &[Sample]| {
        clients.iter().all(|c| {
            let stage = login_stage(c);
            success(s, "tokfile", c) == Some(0.0)
                && failures(s, "tokfile", c, stage, "auth_rejected")
                    > failures(base, "tokfile", c, stage, "auth_rejected")
        })
    };
    let set = |token: &str| std::fs::write(token_file, format!("{token}\n")).unwrap();
    idp.grant("file-good-1", &user, Duration::from_secs(3600));
    set("file-good-1");
    let t = watch(
        agent,
        "logged in with a valid token",
        MINUTE,
        &mut check,
        green,
    );
    println!("valid token: green after {t:?}");

    let base = agent.scrape();
    idp.grant_expired("file-expired", &user, Duration::from_secs(60));
    set("file-expired");
    let t = watch(
        agent,
        "an expired token rejected",
        MINUTE,
        &mut check,
        |s| rejected(s, &base),
    );
    println!("expired token: red after {t:?}");

    idp.grant("file-good-2", &user, Duration::from_secs(3600));
    set("file-good-2");
    let t = watch(
        agent,
        "a new token in the file used without a reload",
        MINUTE,
        &mut check,
        green,
    );
    println!("new valid token: green after {t:?}");

    let base = agent.scrape();
    idp.revoke("file-good-2");
    let t = watch(agent, "a revoked token rejected", MINUTE, &mut check, |s| {
        rejected(s, &base)
    });
    println!("revoked token: red after {t:?}");

    // End green: a successful login also clears Dovecot's auth penalty for 127.0.0.1, which
    // would otherwise delay the next test's logins.
    idp.grant("file-good-3", &user, Duration::from_secs(3600));
    set("file-good-3");
    watch(agent, "green again", MINUTE, &mut check, green);
    let s = agent.scrape();
    for c in clients {
        let all = sum(&s, "mailcanary_probe_failures_total", &labels("tokfile", c));
        let stage = login_stage(c);
        let expected = failures(&s, "tokfile", c, stage, "auth_rejected");
        assert!(expected >= 2.0, "{c}: {expected} rejections");
        assert_eq!(
            all, expected,
            "{c}: failures other than {stage}/auth_rejected"
        );
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn oauth_tokens_log_in_and_rejected_tokens_fail_at_imap_login() {
    oauth::require_oauth_stack();
    let idp = Introspection::start();
    // Rejected logins raise Dovecot's auth penalty for 127.0.0.1: no other stack test runs
    // meanwhile.
    let _g = stack::exclusive();
    stack::require_up();
    let dir = tempfile::tempdir().unwrap();
    let config = stack::write_config(dir.path(), &[], OAUTH_CLIENTS);
    let user = format!("grace@{DOMAIN}");
    let token_file = dir.path().join("token");
    idp.grant("file-good-1", &user, Duration::from_secs(3600));
    std::fs::write(&token_file, "file-good-1\n").unwrap();
    let file_clients = ["x_imap", "b_imap"];
    let line = format!("oauth_token_file = \"{}\"", token_file.display());
    oauth_probe(dir.path(), "tokfile", &file_clients, &line);
    let cmd = idp.token_command(dir.path(), &user, 8);
    let line = format!("oauth_token_command = [\"{}\"]", cmd.display());
    oauth_probe(dir.path(), "tokcmd", &["both"], &line);
    let agent = AgentProcess::start(&config);

    // 1. The token command (IMAP and SMTP XOAUTH2): its tokens live 8 s, so until it has run
    // three times per endpoint it has been re-run after each token's lifetime; the probe must
    // stay green throughout, and every token Dovecot saw must have been active.
    let count = || {
        std::fs::read_to_string(dir.path().join("count"))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let started = Instant::now();
    let mut cmd_green = false;
    let t = watch(
        &agent,
        "the token command run three times per endpoint",
        MINUTE,
        |s| match success(s, "tokcmd", "both") {
            Some(1.0) => cmd_green = true,
            Some(_) if cmd_green => panic!(
                "the token-command probe went red after it was green\n{}",
                agent.log_text()
            ),
            _ => {}
        },
        |s| count() >= 6 && success(s, "tokcmd", "both") == Some(1.0),
    );
    let runs = count();
    let cmd_cycles = cycles(&agent.scrape(), "tokcmd", "both");
    let asked = idp.asked();
    let cmd_tokens: Vec<&(String, bool)> = asked
        .iter()
        .filter(|(t, _)| t.starts_with("cmd-"))
        .collect();
    let distinct: BTreeSet<&str> = cmd_tokens.iter().map(|(t, _)| t.as_str()).collect();
    println!(
        "token command: {runs} runs in {t:?} ({cmd_cycles} cycles, tokens live 8 s, one cache \
         per endpoint); Dovecot introspected {} command tokens, {} distinct, all active",
        cmd_tokens.len(),
        distinct.len()
    );
    assert!(cmd_green, "the token-command probe never went green");
    assert!(
        cmd_tokens.iter().all(|(_, ok)| *ok),
        "a command token was presented after it expired: {cmd_tokens:?}"
    );
    assert!(distinct.len() >= 3, "logins used only {distinct:?}");
    assert!(
        f64::from(runs) < 2.0 * cmd_cycles,
        "cached: {runs} runs for {cmd_cycles} cycles of two endpoints"
    );
    assert!(started.elapsed() > Duration::from_secs(8));

    // 2. The token file (IMAP XOAUTH2 and OAUTHBEARER): expired and revoked tokens fail at
    // imap_login with auth_rejected. (The command probe is no longer checked: Dovecot's auth
    // penalty now delays logins by up to 15 s, longer than its tokens live.)
    token_file_rounds(&agent, &idp, &token_file, &file_clients, |_| {});

    let log = agent.log_text();
    let file_tokens = ["file-good-1", "file-good-2", "file-good-3", "file-expired"];
    for t in distinct.iter().chain(file_tokens.iter()) {
        assert!(!log.contains(t), "token {t} appears in the agent log");
    }
}

/// The SMTP side of rejected tokens, and SMTP OAUTHBEARER.
#[test]
fn smtp_oauthbearer_logs_in_and_rejected_tokens_fail_at_auth() {
    oauth::require_oauth_stack();
    let idp = Introspection::start();
    let _g = stack::exclusive();
    stack::require_up();
    let dir = tempfile::tempdir().unwrap();
    let config = stack::write_config(dir.path(), &[], OAUTH_CLIENTS);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "none-yet\n").unwrap();
    let clients = ["x_smtp", "b_smtp"];
    let line = format!("oauth_token_file = \"{}\"", token_file.display());
    oauth_probe(dir.path(), "tokfile", &clients, &line);
    let agent = AgentProcess::start(&config);
    token_file_rounds(&agent, &idp, &token_file, &clients, |_| {});
}
