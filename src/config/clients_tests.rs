//! Unit tests of `[clients.*]` tables: a table named like a preset overrides it, and a profile
//! reads over POP3 when its own keys or its preset say so.

use crate::config::{AuthMech, Config, TlsMode, Watch};
use std::time::Duration;

fn load(clients: &str, listed: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "key\n").unwrap();
    let main = dir.path().join("m.toml");
    std::fs::write(
        &main,
        format!(
            "[agent]\nregion = \"t\"\nhmac_key_file = \"k\"\n{clients}\n\
             [[probe]]\nname = \"p\"\nclients = [{listed}]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             oauth_token_file = \"k\"\n[probe.imap]\nhost = \"h\"\npassword_file = \"k\"\n\
             oauth_token_file = \"k\"\n"
        ),
    )
    .unwrap();
    Config::load(&main).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_table_named_like_a_preset_overrides_that_preset() {
    let c = load(
        "[clients.ios_mail]\nsmtp_port = 2587\nwatch = \"poll\"\npoll_interval = \"30s\"\n",
        "\"ios_mail\"",
    );
    let p = &c.probes[0].clients[0];
    assert_eq!((p.smtp.tls, p.smtp.port), (TlsMode::StartTls, 2587));
    assert_eq!((p.imap.tls, p.imap.port), (TlsMode::Implicit, 993));
    assert_eq!(p.watch, Watch::Poll(Duration::from_secs(30)));
    assert_eq!(p.id[0], ("name".to_string(), "iPhone Mail".to_string()));
}

#[test]
fn a_preset_based_profile_keeps_what_it_does_not_override() {
    let c = load(
        "[clients.tb_oauth]\npreset = \"thunderbird\"\nimap_auth = \"xoauth2\"\n\
         imap_tls = \"implicit\"\nid = { name = \"Thunderbird\", version = \"140.0\" }\n",
        "\"tb_oauth\", \"thunderbird\"",
    );
    let (p, base) = (&c.probes[0].clients[0], &c.probes[0].clients[1]);
    assert_eq!(p.name, "tb_oauth");
    assert_eq!(
        (p.imap.tls, p.imap.port),
        (TlsMode::Implicit, 993),
        "port follows TLS"
    );
    assert_eq!(p.imap.auth, AuthMech::XOAuth2);
    assert_eq!(p.smtp, base.smtp);
    assert_eq!(p.watch, Watch::Idle);
    assert_eq!(p.id[1], ("version".to_string(), "140.0".to_string()));
    assert_eq!((base.imap.tls, base.imap.port), (TlsMode::StartTls, 143));
}

fn load_pop3(clients: &str, listed: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "key\n").unwrap();
    let main = dir.path().join("m.toml");
    std::fs::write(
        &main,
        format!(
            "[agent]\nregion = \"t\"\nhmac_key_file = \"k\"\n{clients}\n\
             [[probe]]\nname = \"p\"\nclients = [{listed}]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             [probe.pop3]\nhost = \"h\"\npassword_file = \"k\"\noauth_token_file = \"k\"\nstarttls_port = 1110\n"
        ),
    )
    .unwrap();
    Config::load(&main).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_pop3_profile_of_its_own_or_moved_from_a_preset_reads_over_pop3() {
    let c = load_pop3(
        "[clients.isp]\npop3_tls = \"starttls\"\npop3_auth = \"user\"\n\
         smtp_tls = \"starttls\"\nsmtp_auth = \"plain\"\npoll_interval = \"2s\"\n\
         [clients.tb]\npreset = \"thunderbird\"\npop3_tls = \"implicit\"\n\
         pop3_auth = \"oauthbearer\"\n",
        "\"isp\", \"tb\", \"outlook_pop3\"",
    );
    let p = &c.probes[0];
    assert!(p.imap.is_none());
    let isp = &p.clients[0];
    let pop3 = isp.pop3.as_ref().unwrap();
    assert_eq!(
        (pop3.tls, pop3.port, pop3.auth),
        (TlsMode::StartTls, 110, AuthMech::Login)
    );
    assert_eq!(isp.watch, Watch::Poll(Duration::from_secs(2)));
    let (ep, side) = p.reader(isp).unwrap();
    assert_eq!(
        ep.port(side.tls, side.port),
        1110,
        "the endpoint's port for the mode"
    );
    let tb = &p.clients[1];
    let pop3 = tb.pop3.as_ref().unwrap();
    assert_eq!((pop3.port, pop3.auth), (995, AuthMech::OAuthBearer));
    assert!(
        matches!(tb.watch, Watch::Poll(_)),
        "POP3 polls even from an IDLE preset"
    );
    assert!(tb.id.is_empty(), "no IMAP ID over POP3");
    assert_eq!(p.clients[2].pop3.as_ref().unwrap().auth, AuthMech::Login);
}
