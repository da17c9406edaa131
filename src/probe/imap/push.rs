//! Which untagged responses pushed during IDLE wake the watch: the ones that may announce a
//! new message.

/// Whether an untagged response pushed during IDLE may announce a new message. Only the
/// updates that never do (another session expunging or flagging messages, `RECENT` beside the
/// `EXISTS` it follows) are passed over: on a mailbox shared by several client profiles, each
/// instance's cleanup would otherwise end every other instance's IDLE for a search that finds
/// nothing. Anything else (`EXISTS`, `BYE`, what we do not know) ends the wait.
pub(super) fn announces_mail(r: &async_imap::imap_proto::Response<'_>) -> bool {
    use async_imap::imap_proto::{MailboxDatum, Response};
    !matches!(
        r,
        Response::Expunge(_)
            | Response::Vanished { .. }
            | Response::Fetch(..)
            | Response::MailboxData(MailboxDatum::Recent(_) | MailboxDatum::Flags(_))
    )
}

#[cfg(test)]
mod tests {
    use super::announces_mail;
    use async_imap::imap_proto::Response;

    fn wakes(line: &str) -> bool {
        let (_, r) = Response::parse(line.as_bytes()).expect("parses");
        announces_mail(&r)
    }

    #[test]
    fn new_mail_and_the_unknown_end_the_wait() {
        assert!(wakes("* 7 EXISTS\r\n"));
        assert!(wakes("* BYE shutting down\r\n"));
        assert!(wakes("* NO [ALERT] mailbox over quota\r\n"));
    }

    #[test]
    fn other_sessions_cleanup_does_not() {
        assert!(!wakes("* 3 EXPUNGE\r\n"));
        assert!(!wakes("* 4 FETCH (FLAGS (\\Deleted))\r\n"));
        assert!(!wakes("* 1 RECENT\r\n"));
        assert!(!wakes(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        ));
        assert!(!wakes("* VANISHED 41,43:116\r\n"));
    }
}
