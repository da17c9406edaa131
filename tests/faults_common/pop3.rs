//! The POP3 rows of the fault-server table as code. The demo's config writer gives a profile
//! that reads over POP3 a `[pop3]` endpoint on the server's POP3 listeners.

use super::demo::{endless, s, Scenario};
use mailcanary::demo::{Action, Fault, Flood, Pop3Step};

fn pop3(step: Pop3Step, action: Action) -> Vec<Fault> {
    vec![Fault::Pop3(step, action)]
}

fn no(text: &str) -> Action {
    Action::No(text.to_string())
}

/// The POP3 rows: profiles that read over POP3 against the server's POP3 misbehaviours.
pub fn scenarios() -> Vec<Scenario> {
    use Pop3Step as P;
    vec![
        s("pop3-refused", pop3(P::Greeting, Action::Refuse)),
        s("pop3-stall-before-tls", pop3(P::Greeting, Action::Stall)),
        s("pop3-garbage-greeting", pop3(P::Greeting, Action::Garbage)),
        s(
            "pop3-err-greeting",
            pop3(P::Greeting, no("[SYS/TEMP] Maintenance, try later")),
        ),
        s("pop3-err-user", pop3(P::User, no("Unknown user"))),
        s("pop3-err-auth", pop3(P::Auth, no("Authentication failed"))),
        s(
            "pop3-auth-in-use",
            pop3(P::Auth, no("[IN-USE] Mailbox locked by another session")),
        ),
        s("pop3-stall-uidl", pop3(P::Uidl, Action::Stall)),
        s("pop3-err-uidl", pop3(P::Uidl, no("UIDL not supported"))),
        s("pop3-endless-uidl", pop3(P::Uidl, endless())),
        s("pop3-err-retr", pop3(P::Retr, no("No such message"))),
        s("pop3-reset-retr", pop3(P::Retr, Action::Reset)),
        s(
            "pop3-huge-retr",
            pop3(P::Retr, Action::Flood(Flood::Literal(500_000_000))),
        ),
        s("pop3-err-dele", pop3(P::Dele, no("Cannot delete"))),
        s(
            "pop3-err-quit",
            pop3(P::Quit, no("[SYS/TEMP] Deletions not committed")),
        ),
    ]
}
