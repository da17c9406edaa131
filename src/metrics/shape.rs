//! What an instance's series look like: its common labels, the phases a successful cycle goes
//! through (the `phase` series created up front), and the endpoints whose certificates it sees.

use crate::config::{Instance, TlsMode};
use crate::vocab::Stage;

/// `[probe, client, region]` of an instance.
pub fn common(i: &Instance) -> [&str; 3] {
    [&i.probe.name, &i.client.name, &i.region]
}

/// The phases a successful cycle of this instance goes through.
pub fn phases(i: &Instance) -> Vec<Stage> {
    let mut v = vec![Stage::Connect];
    if i.client.smtp.tls != TlsMode::None {
        v.push(Stage::Tls);
    }
    v.extend([Stage::Greeting, Stage::Ehlo]);
    if i.client.smtp.auth != crate::config::AuthMech::None {
        v.push(Stage::Auth);
    }
    v.extend([
        Stage::MailFrom,
        Stage::Rcpt,
        Stage::Data,
        Stage::ImapConnect,
    ]);
    if i.client.imap.tls != TlsMode::None {
        v.push(Stage::ImapTls);
    }
    v.extend([
        Stage::ImapGreeting,
        Stage::ImapLogin,
        Stage::ImapSelect,
        Stage::ImapSearch,
        Stage::ImapFetch,
    ]);
    if i.probe.cleanup {
        v.push(Stage::Cleanup);
    }
    v
}

/// The `host:port` endpoints an instance talks to (the `endpoint` label of certificate expiry).
pub fn endpoints(i: &Instance) -> [String; 2] {
    let (p, c) = (&i.probe, &i.client);
    [
        format!("{}:{}", p.smtp.host, p.smtp.port(c.smtp.tls, c.smtp.port)),
        format!("{}:{}", p.imap.host, p.imap.port(c.imap.tls, c.imap.port)),
    ]
}
