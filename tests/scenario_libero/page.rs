//! What the status page must show in each phase of the libero replay, and the checks of a page
//! against it: the page the agent serves (the whole picture), and the DOM Chromium rendered
//! (what holds whatever the scenario's clock did while the browser started).

/// The demo's default client profiles (the test passes no `--clients`).
pub const CLIENTS: [&str; 5] = [
    "gmail_android",
    "ios_mail",
    "outlook",
    "outlook_pop3",
    "thunderbird",
];
/// The profile among them that reads over POP3.
const POP3_CLIENT: &str = "outlook_pop3";

/// The stage at which the storage failure stops `client`: its login, over POP3 or IMAP.
pub fn login_stage(client: &str) -> &'static str {
    if client == POP3_CLIENT {
        "pop3_login"
    } else {
        "imap_login"
    }
}

/// The page must show, for each phase, which profiles are down (all others up).
pub fn down_in(phase: u32) -> &'static [&'static str] {
    match phase {
        2 => &CLIENTS,
        3 => &["ios_mail"],
        _ => &[],
    }
}

/// The matrix cell of `client`: its `data-state` and its text.
fn cell(dom: &str, client: &str) -> (String, String) {
    let marker =
        format!("data-instance=\"libero/{client}\" data-client=\"{client}\" data-state=\"");
    let rest = dom
        .split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no matrix cell for {client} in the DOM"));
    let state = rest.split('"').next().unwrap_or_default().to_string();
    let text = rest.split("</td>").next().unwrap_or_default().to_string();
    (state, text)
}

/// The phase the page's banner shows.
fn banner_phase(dom: &str) -> u32 {
    let rest = dom
        .split("id=\"notice\" class=\"notice\" data-phase=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no scenario banner in the page"));
    rest.split('"')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no phase number in the banner"))
}

/// What Chromium's DOM, taken after the page showed `phase`, must show whatever the scenario's
/// clock did meanwhile: the page's script ran in the browser, the banner shows `phase` or a
/// later one, every profile has its cell. Still in `phase`, it must show that phase's picture.
pub fn check_browser(phase: u32, dom: &str) {
    let shown = banner_phase(dom);
    assert!(
        (phase..=4).contains(&shown),
        "the browser's banner shows phase {shown}, taken in phase {phase}"
    );
    let refresh = dom
        .split("id=\"refresh\"")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .unwrap_or_default();
    assert!(
        refresh.starts_with("live: "),
        "the page's script ran in the browser: #refresh says {refresh:?}"
    );
    for c in CLIENTS {
        let (st, _) = cell(dom, c);
        assert!(st == "up" || st == "down", "{c}: state {st:?}");
    }
    if shown == phase {
        check_page(phase, dom);
    } else {
        println!("phase {phase}: the browser's DOM came in phase {shown}");
    }
}

/// What the page must show in `phase`: the banner, and each profile up or down (and why).
pub fn check_page(phase: u32, dom: &str) {
    let banner = format!("id=\"notice\" class=\"notice\" data-phase=\"{phase}\"");
    assert!(dom.contains(&banner), "phase {phase}: the banner shows it");
    assert!(dom.contains(&format!("libero · phase {phase}/4: ")));
    for c in CLIENTS {
        let (st, text) = cell(dom, c);
        if down_in(phase).contains(&c) {
            assert_eq!(st, "down", "phase {phase}: {c} shown down:\n{text}");
            assert!(
                text.contains("✗ DOWN") && text.contains("down since "),
                "{text}"
            );
            let proto = if c == POP3_CLIENT { "POP3" } else { "IMAP" };
            assert!(
                text.contains(&format!("{proto} login failed: temporary failure")),
                "{text}"
            );
        } else {
            assert_eq!(st, "up", "phase {phase}: {c} shown up:\n{text}");
            assert!(
                text.contains("✓ UP") && text.contains("delivered in"),
                "{text}"
            );
        }
    }
    if phase >= 2 {
        assert!(dom.contains("NO [UNAVAILABLE] Mailbox storage temporarily unavailable"));
        assert!(dom.contains("-ERR [SYS/TEMP] Mailbox storage temporarily unavailable"));
    }
    if phase == 4 {
        let no_late = dom.contains("data-k=\"late\">0<");
        assert!(!no_late, "every card shows late canaries");
    }
    assert!(dom.contains("<svg class=\"spark\""), "sparklines");
}
