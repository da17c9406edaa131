//! Unit tests of the token command: caching, refresh before expiry, timeouts, and error
//! messages that never carry the token or the arguments.

use super::*;
use std::path::Path;

/// A `sh -c` script that appends a line to `dir/runs` each time it runs, then does `body`.
fn script(dir: &Path, body: &str) -> Vec<String> {
    let runs = dir.join("runs");
    vec![
        "sh".into(),
        "-c".into(),
        format!("echo run >> '{}'; {body}", runs.display()),
    ]
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_plain_token_is_cached_and_not_re_run_every_load() {
    let dir = tempfile::tempdir().unwrap();
    let c = TokenCommand::new(script(dir.path(), "echo tok-1"), Duration::from_secs(5)).unwrap();
    assert_eq!(c.load().unwrap().expose(), "tok-1");
    assert_eq!(c.clone().load().unwrap().expose(), "tok-1");
    assert_eq!(runs(dir.path()), 1, "clones share one cache");
    assert_eq!(c.runs(), 1);
}

#[test]
fn json_expires_in_makes_it_run_again_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"echo "{\"access_token\": \"tok-$(wc -l < runs)\", \"expires_in\": 1, \"token_type\": \"Bearer\"}""#;
    let argv = script(
        dir.path(),
        &format!("cd '{}'; {body}", dir.path().display()),
    );
    let c = TokenCommand::new(argv, Duration::from_secs(5)).unwrap();
    assert_eq!(c.load().unwrap().expose(), "tok-1");
    assert_eq!(c.load().unwrap().expose(), "tok-1", "fresh: cached");
    // Refreshed at 3/4 of its 1 s lifetime, i.e. before it expires.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.load().unwrap().expose(), "tok-2");
    assert_eq!(runs(dir.path()), 2);
}

#[test]
fn schedule_refreshes_a_margin_before_expiry() {
    let s = |secs| schedule(Some(Duration::from_secs(secs)));
    assert_eq!(
        s(3600),
        (Duration::from_secs(3540), Duration::from_secs(3600))
    );
    assert_eq!(s(8), (Duration::from_secs(6), Duration::from_secs(8)));
    assert_eq!(s(0), (Duration::ZERO, Duration::ZERO));
    assert_eq!(schedule(None), (PLAIN_LIFETIME, PLAIN_LIFETIME));
}

#[test]
fn a_failed_refresh_keeps_a_token_that_has_not_expired_yet() {
    let dir = tempfile::tempdir().unwrap();
    // First run succeeds with a 2 s token, later runs fail.
    let body = r#"if [ "$(wc -l < runs)" -gt 1 ]; then exit 3; fi; echo '{"access_token":"tok","expires_in":2}'"#;
    let argv = script(
        dir.path(),
        &format!("cd '{}'; {body}", dir.path().display()),
    );
    let c = TokenCommand::new(argv, Duration::from_secs(5)).unwrap();
    assert_eq!(c.load().unwrap().expose(), "tok");
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(
        c.load().unwrap().expose(),
        "tok",
        "inside the margin: old token"
    );
    std::thread::sleep(Duration::from_millis(600));
    let err = c.load().unwrap_err().to_string();
    assert!(err.contains("exit status: 3"), "{err}");
}

#[test]
fn a_hanging_command_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let c = TokenCommand::new(
        script(dir.path(), "exec sleep 30"),
        Duration::from_millis(300),
    )
    .unwrap();
    let t = Instant::now();
    let err = c.load().unwrap_err().to_string();
    assert!(err.contains("timed out after 300ms"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn errors_name_the_program_but_never_its_output_or_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("echo leaked-token; exit 2", "exit status: 2"),
        (
            "echo '{\"access_token\": 5, \"x\": \"leaked-token\"}'",
            "without a string",
        ),
        ("echo '{leaked-token'", "invalid JSON"),
        ("echo 'leaked-token and more'", "whitespace"),
        ("true", "printed no token"),
        (
            "echo '{\"access_token\":\"leaked-token\",\"expires_in\":\"soon\"}'",
            "not a number",
        ),
    ];
    for (body, want) in cases {
        let mut argv = script(dir.path(), body);
        argv.push("--client-secret=hunter2".into());
        let c = TokenCommand::new(argv, Duration::from_secs(5)).unwrap();
        let err = c.load().unwrap_err().to_string();
        assert!(err.contains(want), "{body}: {err}");
        assert!(err.starts_with("token command sh: "), "{err}");
        assert!(!err.contains("leaked") && !err.contains("hunter2"), "{err}");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
    let missing = TokenCommand::new(vec!["/nonexistent/helper".into()], Duration::from_secs(1));
    let err = missing.unwrap().load().unwrap_err().to_string();
    assert!(err.contains("/nonexistent/helper: cannot start"), "{err}");
    assert!(TokenCommand::new(Vec::new(), Duration::from_secs(1)).is_err());
}

#[test]
fn json_string_expires_in_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"echo '{"access_token":"tok","expires_in":"3600"}'"#;
    let c = TokenCommand::new(script(dir.path(), body), Duration::from_secs(5)).unwrap();
    assert_eq!(c.load().unwrap().expose(), "tok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn inside_a_multi_thread_runtime_other_tasks_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let c = TokenCommand::new(
        script(dir.path(), "sleep 0.5; echo tok"),
        Duration::from_secs(5),
    )
    .unwrap();
    // One worker thread: without block_in_place the ticker would stall for the 0.5 s run.
    let ticker = tokio::spawn(async {
        let mut worst = Duration::ZERO;
        for _ in 0..30 {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            worst = worst.max(t.elapsed());
        }
        worst
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let token = tokio::spawn(async move { c.load().map(|s| s.expose().to_string()) });
    assert_eq!(token.await.unwrap().unwrap(), "tok");
    let worst = ticker.await.unwrap();
    assert!(worst < Duration::from_millis(300), "a tick took {worst:?}");
}

#[test]
fn the_command_sees_only_the_allowed_and_the_named_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let body = format!("env > '{}'; echo tok", out.display());
    let names = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
            .collect()
    };
    // A variable of this process that is not on the allow-list (cargo and the shell set many).
    let (other, _) = std::env::vars()
        .find(|(k, _)| !PASSED_ENV.contains(&k.as_str()))
        .expect("a variable outside the allow-list in the test's environment");
    let c = TokenCommand::new(script(dir.path(), &body), Duration::from_secs(5)).unwrap();
    assert_eq!(c.load().unwrap().expose(), "tok");
    let seen = names(&out);
    // `sh` adds PWD (and sometimes SHLVL, _) of its own.
    let own = ["PWD", "SHLVL", "_", "OLDPWD"];
    for n in &seen {
        assert!(
            PASSED_ENV.contains(&n.as_str()) || own.contains(&n.as_str()),
            "{n} reached the command: {seen:?}"
        );
    }
    assert!(!seen.contains(&other), "{other} reached the command");
    if std::env::var_os("PATH").is_some() {
        assert!(seen.iter().any(|n| n == "PATH"), "PATH passed: {seen:?}");
    }
    let named = TokenCommand::new(script(dir.path(), &body), Duration::from_secs(5))
        .unwrap()
        .with_env(vec![other.clone()]);
    assert_eq!(named.load().unwrap().expose(), "tok");
    assert!(names(&out).contains(&other), "a named variable is passed");
}

#[test]
fn a_timeout_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The helper's child inherits its stdout and sleeps for ever.
    let body = format!("sleep 1000 & echo $! > '{}'; wait", pid_file.display());
    let c = TokenCommand::new(script(dir.path(), &body), Duration::from_millis(500)).unwrap();
    let err = c.load().unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed: gone, or a zombie until init reaps it.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    let t = Instant::now();
    while alive() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "the helper's child {pid} survived the timeout");
}

#[test]
fn expires_in_is_clamped_to_a_day_and_never_negative() {
    let c = TokenCommand::new(vec!["true".into()], Duration::from_secs(1)).unwrap();
    let lifetime = |json: &str| c.parse(json.as_bytes()).unwrap().1;
    for huge in ["1e12", "1e300", "\"1e300\"", "86401"] {
        let json = format!("{{\"access_token\": \"t\", \"expires_in\": {huge}}}");
        assert_eq!(lifetime(&json), Some(MAX_LIFETIME), "{huge}");
    }
    assert_eq!(
        lifetime(r#"{"access_token": "t", "expires_in": -5}"#),
        Some(Duration::ZERO)
    );
    assert_eq!(
        lifetime(r#"{"access_token": "t", "expires_in": 3599}"#),
        Some(Duration::from_secs(3599))
    );
}
